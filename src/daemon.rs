//! The running listener: wires source → event → script → act, and health, and owns every task.
//!
//! [`run`] takes its shutdown as a future (the binary passes ctrl-c/SIGTERM, tests their own).
//! The personality runs on its own OS thread so a slow script can never stall the socket's
//! ping handling or the sends; everything else is a tokio task. On shutdown it stops
//! receiving, lets the personality finish what arrived, flushes the queue, gives in-flight
//! sends two seconds, and writes a last health with status `stopped`. No task wakes the
//! personality: it waits for its inbox with its tick as the timeout (`decider`). The decision log, the
//! transcript and the optional metrics endpoint are tasks too: the personality thread only
//! sends records.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use crate::act::queue::Queue;
use crate::act::reply::Sender;
use crate::act::{self, Actions, wake};
use crate::catchup::{CatchUp, Handled, History, Link};
use crate::config::{ApiVersion, Config, ScriptChoice};
use crate::decider::{Decider, Inbound};
use crate::decisions::{self, DecisionLog};
use crate::health::{self, Health, Status};
use crate::live::Live;
use crate::outcome::{Outcome, Outcomes};
use crate::rooms::Rooms;
use crate::script::{self, Clock, Personality, Runtime, Session, reload};
use crate::source::{self, Backoff, SourceConfig};
use crate::state_lock::StateLock;
use crate::transcript::{self, Transcript};

/// How often the personality thread looks at its timers (the default [`Pace::tick`]).
const TICK: Duration = Duration::from_secs(1);
/// How long in-flight work may take once shutdown is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Run the listener until `shutdown` completes (or the source gives up for good).
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    run_with(config, Arc::new(Health::new()), shutdown).await
}

/// [`run`], reporting into `health` (the sandbox watches it to show what happens).
pub async fn run_with(
    config: Config,
    health: Arc<Health>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    // Nobody can send: the room is only ever quiet by the clock.
    let (_, quiet_rx) = mpsc::unbounded_channel();
    run_with_quiet(config, health, quiet_rx, shutdown).await
}

/// [`run_with`], and each `()` on `quiet_rx` makes the listener take its own room as quiet
/// now: `on_quiet` runs at once (the sandbox's `/quiet`).
pub async fn run_with_quiet(
    config: Config,
    health: Arc<Health>,
    quiet_rx: mpsc::UnboundedReceiver<()>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let outcomes = Outcomes::off();
    run_paced(
        config,
        health,
        quiet_rx,
        Pace::default(),
        outcomes,
        shutdown,
    )
    .await
}

/// The listener's sense of time. Users never set it (the binary and the sandbox run the
/// default: the system clock, looked at every second); tests move a simulated clock instead
/// of waiting out a 30 s timer or two minutes of dead air.
#[derive(Debug, Clone)]
pub struct Pace {
    /// The clock the script sees: its timers, dead air, `now()` and cooldowns.
    pub clock: Clock,
    /// How often the personality thread looks at that clock (timers and dead air come due
    /// on these ticks).
    pub tick: Duration,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            clock: Clock::System,
            tick: TICK,
        }
    }
}

/// [`run_with_quiet`] at `pace`, publishing what happens on `outcomes` (the sandbox's screen
/// and the tests subscribe to it).
pub async fn run_paced(
    config: Config,
    health: Arc<Health>,
    mut quiet_rx: mpsc::UnboundedReceiver<()>,
    pace: Pace,
    outcomes: Outcomes,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    // Ours alone (0700), and refused if others could plant links where our files go.
    crate::files::prepare_state_dir(&config.state_dir)?;
    // Before anything touches the state: a second listener here would answer everything twice.
    let _lock = StateLock::acquire(&config.state_dir).await?;
    // Holding the lock, nobody else writes these: a temp file left is from a killed run.
    crate::files::remove_stale_temps(&[
        config.state_dir.health(),
        config.state_dir.memory(),
        config.state_dir.handled(),
    ]);
    let handled = Arc::new(open_handled(&config)?);
    // Before connecting: a room that does not resolve stops the start, naming it.
    let rooms = Arc::new(crate::rooms::resolve(&config).await?);
    let queue = Queue::with_config(config.state_dir.queue(), &config.queue);
    if queue.repair()? {
        tracing::warn!(
            "{}: the last line was cut short by a crash; ended it so new items stay whole",
            queue.path().display()
        );
    }
    let session = Session::new(pace.clock)
        .room(&config.creds.user_db_id)
        .with_memory_file(config.state_dir.memory())
        .with_context(|| {
            format!(
                "cannot load the script memory {}",
                config.state_dir.memory().display()
            )
        })?;
    let runtime = Arc::new(Runtime::with_session(
        (&config.script_limits).into(),
        session,
    ));
    let counted = health.clone();
    runtime.count_suppressed_logs(move |n| counted.counters.script_log_suppressed.add(n));
    // A script that does not load stops the start, with the offending line and a caret.
    let first = script::load(&runtime, &config.script).map_err(|e| anyhow::anyhow!(e.rendered))?;
    health.script_loaded(first.name(), first.loaded_at_ms());
    let (current_tx, current_rx) = watch::channel(Arc::new(first));
    // Bound before anything starts, so a taken port stops the start with its reason.
    let metrics_listener = match config.metrics_addr {
        Some(addr) => {
            let listener = crate::metrics::bind(addr).await?;
            health.set_metrics_addr(listener.local_addr().unwrap_or(addr));
            Some(listener)
        }
        None => None,
    };

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (raw_tx, raw_rx) = mpsc::unbounded_channel();
    let (reply_tx, reply_rx) = act::outbox::outbox(
        config.backlog.instant_texts,
        health.clone(),
        outcomes.clone(),
    );
    let (queue_tx, queue_rx) = mpsc::unbounded_channel();
    let (waker, wake_rx) = wake::channel();

    let health_task = tokio::spawn(health::run(
        health.clone(),
        config.state_dir.health(),
        config.health.interval,
        shutdown_rx.clone(),
    ));
    // Joins and losses, for catching up: the own room's, and each other room's.
    let (link_tx, link_rx) = mpsc::unbounded_channel();
    let room_links: Vec<_> = rooms
        .others()
        .iter()
        .map(|room| (room.clone(), mpsc::unbounded_channel::<Link>()))
        .collect();
    let mut own_socket_links = vec![link_tx];
    if config.api == ApiVersion::V2 {
        // One socket hears every room: its joins and losses are theirs too.
        own_socket_links.extend(room_links.iter().map(|(_, (tx, _))| tx.clone()));
    }
    let on_link = link_hook(handled.clone(), own_socket_links);
    // The live session's room (v2): the personality thread learns it, the source joins it.
    let (session_tx, learned_rooms) = watch::channel(Vec::new());
    let live = Live::new(
        &config.creds,
        (config.api == ApiVersion::V2).then_some(session_tx),
    );
    let mut source_task = tokio::spawn(source::run(
        source_config(&config, &rooms, learned_rooms),
        raw_tx.clone(),
        health.clone(),
        on_link,
        shutdown_rx.clone(),
    ));
    let room_sockets = room_sockets(
        &config,
        &rooms,
        &room_links,
        &handled,
        &raw_tx,
        &shutdown_rx,
    );
    // Built while the source connects: an HTTP client loads the TLS root certificates, which
    // takes longer (50-90 ms) than connecting and joining.
    let sender = match Sender::new(&config) {
        Ok(sender) => sender,
        Err(error) => {
            let _ = shutdown_tx.send(true);
            let _ = source_task.await;
            return Err(anyhow::Error::new(error).context("cannot set up sending"));
        }
    };
    let history = match History::new(&config) {
        Ok(history) => history,
        Err(error) => {
            let _ = shutdown_tx.send(true);
            let _ = source_task.await;
            return Err(anyhow::anyhow!(
                "cannot set up reading the chat history: {error}"
            ));
        }
    };
    let catch_up = |history, room| CatchUp {
        settings: config.catchup.clone(),
        history,
        handled: handled.clone(),
        deliver: {
            let raw_tx = raw_tx.clone();
            Box::new(move |event, origin| {
                let _ = raw_tx.send(Inbound::History(event, origin));
            })
        },
        health: health.clone(),
        agent_name: config.creds.agent_name.clone(),
        user_db_id: config.creds.user_db_id.clone(),
        room,
    };
    let room_catchups: Vec<_> = room_links
        .into_iter()
        .map(|(room, (_, links))| {
            let span = tracing::info_span!("room", id = %room.id);
            let task = catch_up(history.clone().for_room(&room.id), Some(room));
            tokio::spawn(task.run(links, shutdown_rx.clone()).instrument(span))
        })
        .collect();
    let catchup_task = tokio::spawn(catch_up(history, None).run(link_rx, shutdown_rx.clone()));
    if let ScriptChoice::File(path) = &config.script {
        let (health, outcomes) = (health.clone(), outcomes.clone());
        let report = move |outcome| match outcome {
            reload::ReloadOutcome::Loaded { name, loaded_at_ms } => {
                health.script_loaded(&name, loaded_at_ms);
                outcomes.publish(|| Outcome::Reloaded { path: name });
            }
            reload::ReloadOutcome::Failed { error, .. } => {
                outcomes.publish(|| Outcome::ReloadFailed {
                    error: error.clone(),
                });
                health.script_failed(error);
            }
        };
        tokio::spawn(reload::run(
            runtime.clone(),
            path.clone(),
            current_tx,
            report,
            shutdown_rx.clone(),
        ));
    }
    let wake_task = tokio::spawn(wake::run(
        wake_rx,
        config.wake.clone(),
        config.tls.clone(),
        queue.clone(),
        health.clone(),
    ));
    let queue_task = tokio::spawn(act::run_queue(
        queue_rx,
        queue,
        config.queue.max_items,
        reply_tx.clone(),
        waker,
        health.clone(),
    ));
    let metrics_task = metrics_listener.map(|listener| {
        tokio::spawn(crate::metrics::serve(
            listener,
            health.clone(),
            Queue::new(config.state_dir.queue()),
            shutdown_rx.clone(),
        ))
    });
    let (decision_log, decisions_task) = if config.dry_run {
        (DecisionLog::printing(), None)
    } else if config.decisions.max_bytes > 0 {
        let (log, records_rx) = DecisionLog::channel(health.clone());
        let task = tokio::spawn(decision_log::run(
            records_rx,
            config.state_dir.decisions(),
            config.decisions.clone(),
        ));
        (log, Some(task))
    } else {
        (DecisionLog::disabled(health.clone()), None)
    };
    let decision_log = decision_log.publishing(outcomes.clone());
    let (transcript, transcript_task) = if config.transcript.max_bytes > 0 {
        let (transcript, lines_rx) = Transcript::channel(health.clone(), &config.creds.agent_name);
        let task = tokio::spawn(transcript::run(
            lines_rx,
            config.state_dir.transcript(),
            config.transcript.clone(),
        ));
        (transcript, Some(task))
    } else {
        (Transcript::disabled(), None)
    };
    let reply_task = {
        let (limits, health, said) = (config.send.clone(), health.clone(), transcript.clone());
        tokio::spawn(async move {
            act::reply::run(reply_rx, sender, &limits, health, said, outcomes).await
        })
    };
    let actions = Actions {
        reply_tx,
        queue_tx,
        instant_deadline: config.send.instant_deadline,
        health: health.clone(),
        room: config.creds.user_db_id.clone(),
        dry_run: config.dry_run,
    };
    let decider = Decider {
        runtime,
        current: current_rx,
        actions,
        health: health.clone(),
        agent_name: config.creds.agent_name.clone(),
        user_db_id: config.creds.user_db_id.clone(),
        log: decision_log,
        backlog: config.backlog.personality,
        handled: handled.clone(),
        reply_window: config.catchup.reply_window,
        transcript,
        quiet_after: config.script_limits.quiet_after,
        live,
        rooms,
        tick: pace.tick,
    };
    let quiet_task = {
        let (raw_tx, mut shutdown) = (raw_tx.clone(), shutdown_rx.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    asked = quiet_rx.recv() => match asked {
                        Some(()) if raw_tx.send(Inbound::Quiet).is_ok() => {}
                        _ => return,
                    },
                    _ = shutdown.changed() => return,
                }
            }
        })
    };
    // The thread waits for its inbox on this runtime's timer (bounded by its tick).
    let tokio = tokio::runtime::Handle::current();
    let (decider_done_tx, decider_done_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("personality".into())
        .spawn(move || {
            decider.run(raw_rx, tokio);
            let _ = decider_done_tx.send(());
        })
        .context("cannot start the personality thread")?;

    let (gave_up, source_running) = tokio::select! {
        () = shutdown => (None, true),
        result = &mut source_task => (result.ok().and_then(Result::err), false),
    };
    tracing::info!("shutting down");
    let _ = shutdown_tx.send(true);
    let _ = raw_tx.send(Inbound::End);
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    // Each stage ends when the one before it has dropped its sender; the grace bounds it all.
    let _ = tokio::time::timeout_at(deadline, decider_done_rx).await;
    let tasks = [queue_task, reply_task, wake_task, quiet_task, catchup_task]
        .into_iter()
        .chain(room_sockets)
        .chain(room_catchups)
        .chain(decisions_task)
        .chain(transcript_task)
        .chain(metrics_task);
    for task in tasks {
        let abort = task.abort_handle();
        if tokio::time::timeout_at(deadline, task).await.is_err() {
            abort.abort();
        }
    }
    // The source closes its socket on shutdown; waiting for it keeps "one socket" true even
    // across a restart in the same process.
    if source_running {
        let abort = source_task.abort_handle();
        if tokio::time::timeout(SHUTDOWN_GRACE, source_task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
    handled.sync();
    let _ = health_task.await;
    health.set_status(Status::Stopped);
    if let Err(e) = health.write(&config.state_dir.health()) {
        tracing::warn!("cannot write {}: {e}", config.state_dir.health().display());
    }
    match gave_up {
        Some(gave_up) => Err(gave_up.into()),
        None => Ok(()),
    }
}

/// The handled ids of earlier runs (a fresh start without them); what is wrong in the file
/// is said, and the rest kept.
fn open_handled(config: &Config) -> anyhow::Result<Handled> {
    let path = config.state_dir.handled();
    let (handled, report) =
        Handled::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    if let Some(why) = report.unreadable {
        tracing::warn!(
            "{}: {why}; started afresh (nothing said before now will be answered)",
            path.display()
        );
    }
    if let Some(first) = report.bad_lines.first() {
        tracing::warn!(
            "{}: line {first}{} not a handled message id; skipped",
            path.display(),
            match report.bad_lines.len() {
                1 => " is".to_string(),
                n => format!(" and {} more are", n - 1),
            }
        );
    }
    Ok(handled)
}

/// The own room's socket: v2's also hears the other streamers' rooms, whose payloads name
/// their room (`streamer_id`).
fn source_config(
    config: &Config,
    rooms: &Rooms,
    learned_rooms: watch::Receiver<Vec<String>>,
) -> SourceConfig {
    SourceConfig {
        url: config.chat_url.clone(),
        rooms: match config.api {
            ApiVersion::V1 => vec![config.creds.user_db_id.clone()],
            ApiVersion::V2 => {
                let mut joined = vec![
                    config.creds.user_db_id.clone(),
                    format!("live_{}", config.creds.user_db_id),
                ];
                joined.extend(crate::live::token_room(&config.creds));
                joined.extend(rooms.others().iter().map(|r| r.id.clone()));
                joined
            }
        },
        learned_rooms,
        connect_timeout: config.connection.connect_timeout,
        backoff: Backoff::from(&config.connection),
        max_reconnects: config.max_reconnects,
        tls: config.tls.socket_config(),
        tag: None,
    }
}

/// Tell the catch-ups in `links` of a socket's joins and losses, with the newest message
/// handled at that instant.
fn link_hook(handled: Arc<Handled>, links: Vec<mpsc::UnboundedSender<Link>>) -> source::LinkHook {
    Box::new(move |up| {
        let newest = handled.newest();
        for link in &links {
            let _ = link.send(Link {
                up,
                newest: newest.clone(),
            });
        }
    })
}

/// An other room's catch-up link: its sender and receiver.
type RoomLink = (mpsc::UnboundedSender<Link>, mpsc::UnboundedReceiver<Link>);

/// v1's payloads name no room, so each other streamer's room gets a socket of its own, whose
/// messages it tags with the room and whose joins it tells the room's catch-up; they
/// reconnect like the own one, forever, and report to a health of their own (the listener's
/// health is the own room's).
fn room_sockets(
    config: &Config,
    rooms: &Rooms,
    links: &[(crate::rooms::Room, RoomLink)],
    handled: &Arc<Handled>,
    raw_tx: &mpsc::UnboundedSender<Inbound>,
    shutdown_rx: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    if config.api != ApiVersion::V1 {
        return Vec::new();
    }
    links
        .iter()
        .map(|(room, (link, _))| {
            let (_, nothing_learned) = watch::channel(Vec::new());
            let source = SourceConfig {
                rooms: vec![room.id.clone()],
                tag: Some(room.id.as_str().into()),
                max_reconnects: None,
                ..source_config(config, rooms, nothing_learned)
            };
            let run = source::run(
                source,
                raw_tx.clone(),
                Arc::new(Health::new()),
                link_hook(handled.clone(), vec![link.clone()]),
                shutdown_rx.clone(),
            );
            let span = tracing::info_span!("room", id = %room.id);
            tokio::spawn(
                async move {
                    let _ = run.await;
                }
                .instrument(span),
            )
        })
        .collect()
}
