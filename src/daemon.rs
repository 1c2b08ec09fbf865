//! The running listener: wires source → event → script → act, and health, and owns every task.
//!
//! [`run`] takes its shutdown as a future (the binary passes ctrl-c/SIGTERM, tests their own)
//! and goes through four phases: open the state (`Opened`: lock, files, rooms, queue,
//! script, metrics port; anything wrong stops the start with its reason), start the stages
//! (`Stages`, each in a function of its own), wait for the shutdown or the source giving
//! up, and shut down in order (`Running`). The personality runs on its own OS thread so a
//! slow script can never stall the socket's ping handling or the sends; everything else is
//! a tokio task (no task wakes the personality: it waits for its inbox with its tick as the
//! timeout, `decider`). On shutdown it stops receiving, lets the personality finish what
//! arrived, flushes the queue, gives in-flight sends two seconds, and writes a last health
//! with status `stopped`. The decision log, the transcript and the optional metrics endpoint
//! are tasks too: the personality thread only sends records.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::act::queue::Queue;
use crate::act::reply::ChatPoster;
use crate::act::{self, Actions, wake};
use crate::catchup::{CatchUp, Handled, History, Link};
use crate::config::{ApiVersion, Config, ScriptChoice};
use crate::decider::{Decider, Inbound};
use crate::decision_log::{self, DecisionLog};
use crate::health::{self, Health, Status};
use crate::live::Live;
use crate::outcome::{Outcome, Outcomes};
use crate::rooms::{Room, Rooms};
use crate::script::{self, Clock, Personality, ScriptHost, Session, reload};
use crate::source::{self, Backoff, GaveUp, SourceConfig};
use crate::state_lock::StateLock;
use crate::transcript::{self, Transcript};

/// How often the personality thread looks at its timers (the default [`Pace::tick`]).
const TICK: Duration = Duration::from_secs(1);
/// How long in-flight work may take once shutdown is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Run the listener until `shutdown` completes (or the source gives up for good).
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    run_with(config, Options::default(), shutdown).await
}

/// [`run`] with `options`: the listener's health, its sense of time, and a way to tell it the
/// room is quiet. The binary runs the default.
pub async fn run_with(
    config: Config,
    options: Options,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let opened = Opened::open(&config, &options).await?;
    let mut running = Running::start(config, options, opened).await?;
    let gave_up = running.wait(shutdown).await;
    running.shut_down(gave_up).await
}

/// What a caller may give the listener besides its config (the sandbox and the tests);
/// [`Options::default`] is what the binary runs with.
#[derive(Debug, Default)]
pub struct Options {
    /// Where the listener reports its counters and state (the sandbox and tests watch it).
    pub health: Arc<Health>,
    /// The listener's sense of time.
    pub pace: Pace,
    /// Each `()` makes the listener take its own room as quiet now: `on_quiet` runs at once
    /// (the sandbox's `/quiet`). `None`: the room is only ever quiet by the clock.
    pub quiet: Option<mpsc::UnboundedReceiver<()>>,
    /// Where what happens is published (the sandbox's screen and the tests subscribe);
    /// [`Outcomes::off`] by default.
    pub outcomes: Outcomes,
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

/// Phase one, the state opened before anything runs: whatever is wrong here stops the start
/// with its reason, and nothing has connected yet.
struct Opened {
    lock: StateLock,
    handled: Arc<Handled>,
    rooms: Arc<Rooms>,
    queue: Queue,
    runtime: Arc<ScriptHost>,
    first: Personality,
    metrics: Option<TcpListener>,
}

impl Opened {
    /// Open the state directory and what the listener needs from it before it connects.
    async fn open(config: &Config, options: &Options) -> anyhow::Result<Self> {
        // Ours alone (0700), and refused if others could plant links where our files go.
        crate::files::prepare_state_dir(&config.state_dir)?;
        // Before anything touches the state: a second listener here would answer everything twice.
        let lock = StateLock::acquire(&config.state_dir).await?;
        // Holding the lock, nobody else writes these: a temp file left is from a killed run.
        crate::files::remove_stale_temps(&[
            config.state_dir.health(),
            config.state_dir.memory(),
            config.state_dir.handled(),
        ]);
        let handled = Arc::new(open_handled(config)?);
        // Before connecting: a room that does not resolve stops the start, naming it.
        let rooms = Arc::new(crate::rooms::resolve(config).await?);
        let queue = open_queue(config)?;
        let health = &options.health;
        let (runtime, first) = open_script(config, health, options.pace.clock.clone())?;
        // Bound before anything starts, so a taken port stops the start with its reason.
        let metrics = match config.metrics_addr {
            Some(addr) => {
                let listener = crate::metrics::bind(addr).await?;
                health.set_metrics_addr(listener.local_addr().unwrap_or(addr));
                Some(listener)
            }
            None => None,
        };
        Ok(Self {
            lock,
            handled,
            rooms,
            queue,
            runtime,
            first,
            metrics,
        })
    }
}

/// The queue, a last line a crash cut short ended (never truncated).
fn open_queue(config: &Config) -> anyhow::Result<Queue> {
    let queue = Queue::with_config(config.state_dir.queue(), &config.queue);
    if queue.repair()? {
        tracing::warn!(
            "{}: the last line was cut short by a crash; ended it so new items stay whole",
            queue.path().display()
        );
    }
    Ok(queue)
}

/// The script's session (its memory loaded), the runtime hosting it, and the first
/// personality, loaded and self-tested.
fn open_script(
    config: &Config,
    health: &Arc<Health>,
    clock: Clock,
) -> anyhow::Result<(Arc<ScriptHost>, Personality)> {
    let session = Session::new(clock)
        .room(&config.creds.user_db_id)
        .with_memory_file(config.state_dir.memory())
        .with_context(|| {
            format!(
                "cannot load the script memory {}",
                config.state_dir.memory().display()
            )
        })?;
    let runtime = Arc::new(ScriptHost::with_session(
        (&config.script_limits).into(),
        session,
    ));
    let counted = health.clone();
    runtime.count_suppressed_logs(move |n| counted.counters.script_log_suppressed.add(n));
    // A script that does not load stops the start, with the offending line and a caret.
    let first = script::load(&runtime, &config.script).map_err(|e| anyhow::anyhow!(e.rendered))?;
    health.script_loaded(first.name(), first.loaded_at_ms());
    Ok((runtime, first))
}

/// Phases two to four: the stages started, then waited on, then shut down in order.
struct Running {
    stages: Stages,
    shutdown_tx: watch::Sender<bool>,
    /// The own room's socket, while it runs: when it gives up for good, the listener stops.
    source: Option<JoinHandle<Result<(), GaveUp>>>,
    health_task: JoinHandle<()>,
    /// Told when the personality thread has handled its last inbound.
    personality_done: oneshot::Receiver<()>,
    _lock: StateLock,
}

impl Running {
    /// Phase two: start every stage, the socket first (it connects while the rest is built).
    async fn start(config: Config, options: Options, opened: Opened) -> anyhow::Result<Self> {
        let Options {
            health,
            pace,
            quiet,
            outcomes,
        } = options;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (raw_tx, raw_rx) = mpsc::unbounded_channel();
        let mut stages = Stages {
            config,
            health,
            outcomes,
            handled: opened.handled,
            rooms: opened.rooms,
            shutdown_rx,
            raw_tx,
            tasks: Vec::new(),
        };
        let health_task = stages.health();
        let (source, links, live) = stages.sockets();
        // Built while the source connects: an HTTP client loads the TLS root certificates,
        // which takes longer (50-90 ms) than connecting and joining.
        let (sender, history) = match stages.clients() {
            Ok(clients) => clients,
            Err(error) => {
                let _ = shutdown_tx.send(true);
                let _ = source.await;
                return Err(error);
            }
        };
        stages.catch_ups(history, links);
        let (current_tx, current) = watch::channel(Arc::new(opened.first));
        stages.reload(&opened.runtime, current_tx);
        stages.metrics(opened.metrics);
        let log = stages.decision_log().publishing(stages.outcomes.clone());
        let transcript = stages.transcript();
        let actions = stages.act(opened.queue, sender, &transcript);
        stages.quiet(quiet);
        let decider = Decider {
            runtime: opened.runtime,
            current,
            actions,
            health: stages.health.clone(),
            agent_name: stages.config.creds.agent_name.clone(),
            user_db_id: stages.config.creds.user_db_id.clone(),
            log,
            backlog: stages.config.backlog.personality,
            handled: stages.handled.clone(),
            reply_window: stages.config.catchup.reply_window,
            transcript,
            quiet_after: stages.config.script_limits.quiet_after,
            live,
            rooms: stages.rooms.clone(),
            tick: pace.tick,
        };
        let personality_done = start_personality(decider, raw_rx)?;
        Ok(Self {
            stages,
            shutdown_tx,
            source: Some(source),
            health_task,
            personality_done,
            _lock: opened.lock,
        })
    }

    /// Phase three: until `shutdown`, or the source giving up (its error, to return).
    async fn wait(&mut self, shutdown: impl Future<Output = ()>) -> Option<GaveUp> {
        // Running from the start; `None` only once it has ended.
        let Some(source) = &mut self.source else {
            shutdown.await;
            return None;
        };
        let ended = tokio::select! {
            () = shutdown => None,
            result = source => Some(result),
        };
        let result = ended?;
        self.source = None;
        result.ok().and_then(Result::err)
    }

    /// Phase four: stop receiving, let each stage finish what reached it within the grace,
    /// close the socket, and write the last health; `gave_up` is the listener's error.
    async fn shut_down(self, gave_up: Option<GaveUp>) -> anyhow::Result<()> {
        let Self {
            stages,
            shutdown_tx,
            source,
            health_task,
            personality_done,
            _lock,
        } = self;
        tracing::info!("shutting down");
        let _ = shutdown_tx.send(true);
        let _ = stages.raw_tx.send(Inbound::End);
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        // Each stage ends when the one before it has dropped its sender; the grace bounds it all.
        let _ = tokio::time::timeout_at(deadline, personality_done).await;
        for task in stages.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                abort.abort();
            }
        }
        // The source closes its socket on shutdown; waiting for it keeps "one socket" true even
        // across a restart in the same process.
        if let Some(source) = source {
            let abort = source.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, source).await.is_err() {
                abort.abort();
            }
        }
        stages.handled.sync();
        let _ = health_task.await;
        let (health, path) = (&stages.health, stages.config.state_dir.health());
        health.set_status(Status::Stopped);
        if let Err(e) = health.write(&path) {
            tracing::warn!("cannot write {}: {e}", path.display());
        }
        match gave_up {
            Some(gave_up) => Err(gave_up.into()),
            None => Ok(()),
        }
    }
}

/// Start the personality thread on `raw_rx`; the receiver is told when it is done.
fn start_personality(
    decider: Decider,
    raw_rx: mpsc::UnboundedReceiver<Inbound>,
) -> anyhow::Result<oneshot::Receiver<()>> {
    // The thread waits for its inbox on this runtime's timer (bounded by its tick).
    let tokio = tokio::runtime::Handle::current();
    let (done_tx, done_rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("personality".into())
        .spawn(move || {
            decider.run(raw_rx, tokio);
            let _ = done_tx.send(());
        })
        .context("cannot start the personality thread")?;
    Ok(done_rx)
}

/// What every stage is started with; each function below starts one.
struct Stages {
    config: Config,
    health: Arc<Health>,
    outcomes: Outcomes,
    handled: Arc<Handled>,
    rooms: Arc<Rooms>,
    shutdown_rx: watch::Receiver<bool>,
    /// The personality's inbox: the sockets, the catch-ups and `/quiet` send here.
    raw_tx: mpsc::UnboundedSender<Inbound>,
    /// The tasks shutting down waits for after the personality (within one grace).
    tasks: Vec<JoinHandle<()>>,
}

/// The catch-up links of the sockets: the own room's, and each other room's.
struct Links {
    own: mpsc::UnboundedReceiver<Link>,
    rooms: Vec<(Room, mpsc::UnboundedReceiver<Link>)>,
}

impl Stages {
    /// Health, written to `health.json` as it changes and every `[health] interval_secs`.
    fn health(&self) -> JoinHandle<()> {
        tokio::spawn(health::run(
            self.health.clone(),
            self.config.state_dir.health(),
            self.config.health.interval,
            self.shutdown_rx.clone(),
        ))
    }

    /// The own room's socket (started, and returned: its giving up ends the listener), the
    /// other rooms' sockets (v1), the links their catch-ups learn joins and losses from, and
    /// the live session's state the socket learns its room from (v2).
    fn sockets(&mut self) -> (JoinHandle<Result<(), GaveUp>>, Links, Live) {
        let config = &self.config;
        // Joins and losses, for catching up: the own room's, and each other room's.
        let (link_tx, own) = mpsc::unbounded_channel();
        let room_links: Vec<_> = self
            .rooms
            .others()
            .iter()
            .map(|room| (room.clone(), mpsc::unbounded_channel::<Link>()))
            .collect();
        let mut own_socket_links = vec![link_tx];
        if config.api == ApiVersion::V2 {
            // One socket hears every room: its joins and losses are theirs too.
            own_socket_links.extend(room_links.iter().map(|(_, (tx, _))| tx.clone()));
        }
        let on_link = link_hook(self.handled.clone(), own_socket_links);
        // The live session's room (v2): the personality thread learns it, the source joins it.
        let (session_tx, learned_rooms) = watch::channel(Vec::new());
        let live = Live::new(
            &config.creds,
            (config.api == ApiVersion::V2).then_some(session_tx),
        );
        let source = tokio::spawn(source::run(
            source_config(config, &self.rooms, learned_rooms),
            self.raw_tx.clone(),
            self.health.clone(),
            on_link,
            self.shutdown_rx.clone(),
        ));
        let room_sockets = room_sockets(
            config,
            &self.rooms,
            &room_links,
            &self.handled,
            &self.raw_tx,
            &self.shutdown_rx,
        );
        self.tasks.extend(room_sockets);
        let rooms = room_links
            .into_iter()
            .map(|(room, (_, rx))| (room, rx))
            .collect();
        (source, Links { own, rooms }, live)
    }

    /// The clients that can fail to be built: the sender (replies) and the history reader.
    fn clients(&self) -> anyhow::Result<(ChatPoster, History)> {
        let sender = ChatPoster::new(&self.config)
            .map_err(|error| anyhow::Error::new(error).context("cannot set up sending"))?;
        let history = History::new(&self.config)
            .map_err(|error| anyhow::anyhow!("cannot set up reading the chat history: {error}"))?;
        Ok((sender, history))
    }

    /// The catch-ups: the own room's, and each other room's (its history, in its span).
    fn catch_ups(&mut self, history: History, links: Links) {
        for (room, links) in links.rooms {
            let span = tracing::info_span!("room", id = %room.id);
            let task = self.catch_up(history.clone().for_room(&room.id), Some(room));
            let shutdown = self.shutdown_rx.clone();
            self.tasks
                .push(tokio::spawn(task.run(links, shutdown).instrument(span)));
        }
        let own = self
            .catch_up(history, None)
            .run(links.own, self.shutdown_rx.clone());
        self.tasks.push(tokio::spawn(own));
    }

    /// One room's catch-up (`None`: the own room's), which hands what it finds to the
    /// personality.
    fn catch_up(&self, history: History, room: Option<Room>) -> CatchUp {
        let raw_tx = self.raw_tx.clone();
        CatchUp {
            settings: self.config.catchup.clone(),
            history,
            handled: self.handled.clone(),
            deliver: Box::new(move |event, origin| {
                let _ = raw_tx.send(Inbound::History(
                    Box::new(event),
                    origin,
                    tokio::time::Instant::now(),
                ));
            }),
            health: self.health.clone(),
            agent_name: self.config.creds.agent_name.clone(),
            user_db_id: self.config.creds.user_db_id.clone(),
            room,
        }
    }

    /// Hot reload, when the script is a file: a new version goes to `current` once it
    /// compiled and passed its self-tests.
    fn reload(&self, runtime: &Arc<ScriptHost>, current: watch::Sender<Arc<Personality>>) {
        let ScriptChoice::File(path) = &self.config.script else {
            return;
        };
        let (health, outcomes) = (self.health.clone(), self.outcomes.clone());
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
        // Not waited for on shutdown: it only watches a directory.
        tokio::spawn(reload::run(
            runtime.clone(),
            path.clone(),
            current,
            report,
            self.shutdown_rx.clone(),
        ));
    }

    /// The metrics endpoint, when its port was bound.
    fn metrics(&mut self, listener: Option<TcpListener>) {
        let Some(listener) = listener else { return };
        self.tasks.push(tokio::spawn(crate::metrics::serve(
            listener,
            self.health.clone(),
            Queue::new(self.config.state_dir.queue()),
            self.shutdown_rx.clone(),
        )));
    }

    /// The decision log's writer (printing instead in a dry run, nothing when it is off).
    fn decision_log(&mut self) -> DecisionLog {
        let config = &self.config;
        if config.dry_run {
            return DecisionLog::printing();
        }
        if config.decisions.max_bytes == 0 {
            return DecisionLog::disabled(self.health.clone());
        }
        let (log, records_rx) = DecisionLog::channel(self.health.clone());
        self.tasks.push(tokio::spawn(decision_log::run(
            records_rx,
            config.state_dir.decisions(),
            config.decisions.clone(),
        )));
        log
    }

    /// The transcript's writer (nothing when it is off).
    fn transcript(&mut self) -> Transcript {
        let config = &self.config;
        if config.transcript.max_bytes == 0 {
            return Transcript::disabled();
        }
        let (transcript, lines_rx) =
            Transcript::channel(self.health.clone(), &config.creds.agent_name);
        self.tasks.push(tokio::spawn(transcript::run(
            lines_rx,
            config.state_dir.transcript(),
            config.transcript.clone(),
        )));
        transcript
    }

    /// The acting stages: the queue writer, the agent's wake and the replies (which write
    /// what they post to `transcript`); returns what the personality acts through.
    fn act(&mut self, queue: Queue, sender: ChatPoster, transcript: &Transcript) -> Actions {
        let config = &self.config;
        let health = &self.health;
        let (reply_tx, reply_rx) = act::outbox::outbox(
            config.backlog.instant_texts,
            health.clone(),
            self.outcomes.clone(),
        );
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        let (waker, wake_rx) = wake::channel();
        let wake = wake::run(
            wake_rx,
            config.wake.clone(),
            config.tls.clone(),
            queue.clone(),
            health.clone(),
        );
        let queue = act::run_queue(
            queue_rx,
            queue,
            config.queue.max_items,
            reply_tx.clone(),
            waker,
            health.clone(),
        );
        let (limits, said) = (config.send.clone(), transcript.clone());
        let replies = {
            let (health, outcomes) = (health.clone(), self.outcomes.clone());
            async move { act::reply::run(reply_rx, sender, &limits, health, said, outcomes).await }
        };
        self.tasks.extend([
            tokio::spawn(queue),
            tokio::spawn(replies),
            tokio::spawn(wake),
        ]);
        Actions {
            reply_tx,
            queue_tx,
            instant_deadline: config.send.instant_deadline,
            health: health.clone(),
            room: config.creds.user_db_id.clone(),
            dry_run: config.dry_run,
        }
    }

    /// Pass each `/quiet` on to the personality (the sandbox's; nothing else asks).
    fn quiet(&mut self, quiet: Option<mpsc::UnboundedReceiver<()>>) {
        let Some(mut quiet) = quiet else { return };
        let (raw_tx, mut shutdown) = (self.raw_tx.clone(), self.shutdown_rx.clone());
        self.tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    asked = quiet.recv() => match asked {
                        Some(()) if raw_tx.send(Inbound::Quiet).is_ok() => {}
                        _ => return,
                    },
                    _ = shutdown.changed() => return,
                }
            }
        }));
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
    links: &[(Room, RoomLink)],
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
