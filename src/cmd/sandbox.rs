//! `retake-chat sandbox`: the whole listener against the in-process fake retake.tv on
//! loopback, with made-up credentials and a throwaway state directory (a random name, 0700,
//! removed however the sandbox ends, Ctrl-C and SIGTERM included; or `--state-dir`, kept), so
//! a personality can be tried (and hot-reloaded) without going live and without touching live
//! state. A script that does not load stops it at once with `check`'s diagnostic.
//!
//! The user types viewer lines (`sandbox/viewer.rs`); each is emitted, and its outcome shown,
//! before the next (`sandbox/converse.rs`; the screen, `sandbox/screen.rs`, subscribes to the
//! listener's [`crate::outcome`]s), so piped input gets its outcomes in its own order.
//! Tips, going live, trades and pins come as the platform's live-room events
//! (`sandbox/live.rs`). A second terminal can play the agent (`sandbox/agent.rs`).

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::act::guard::Guard;
use crate::cli::SandboxArgs;
use crate::config::{self, ApiVersion, Config, Credentials, Env, ScriptChoice, Secret};
use crate::fake::{FakeOptions, FakeRetake, wait_until};
use crate::health::Health;
use crate::outcome::Outcomes;
use crate::script::{LoadError, ScriptError, ScriptHost};
use crate::time::now_ms;
use crate::visible;

mod agent;
mod converse;
mod fate;
mod leave;
mod live;
mod screen;
mod state_dir;
mod viewer;
use converse::{End, Sandbox, settle};
use leave::Leave;
use live::{TICKER, TOKEN_ADDRESS};
use screen::Screen;

const ROOM: &str = "sandbox";
const BOT: &str = "SandboxBot";
/// The other streamer's room the sandbox also hears (`--room rival`), by name and id.
const RIVAL: &str = "rival";
const RIVAL_ID: &str = "sandbox-rival";
/// How often the screen is brought up to date.
const POLL: Duration = Duration::from_millis(20);
/// Once every typed line is decided, output is complete after this long without news.
const SETTLE: Duration = Duration::from_millis(300);
/// The longest one line's outcome is waited for before the next line is read (a `/late`
/// line waits for the reconnection and the catch-up).
const OUTCOME_WITHIN: Duration = Duration::from_secs(10);

const HELP: &str = "\
type a chat line to say it as a viewer; or:
  /as NAME text    say it as someone else
  /follow [NAME]   follow the stream
  /late AGE text   say it AGE ago (90s, 5m; at most 10m) while the listener could not hear:
                   the socket drops, and the listener catches it up from the history
  /quiet           take the room as quiet now: the personality's on_quiet runs at once
                   (by itself it runs after 120 s without a viewer line)
  /in rival text   say it in another streamer's room the bot hears (--room rival):
                   msg.own_room is false there, and a reply goes there
  /help            this list
  /quit            leave (so do ctrl-d and ctrl-c)";

/// Run the sandbox until `/quit`, the end of input, Ctrl-C or SIGTERM. A script that does
/// not load exits 1 (2 when it cannot be read) with `check`'s diagnostic, before anything
/// starts.
pub fn sandbox(args: &SandboxArgs) -> anyhow::Result<ExitCode> {
    let env = Env::from_process();
    let script = config::script_choice(args.script.clone(), &env);
    if let Some(code) = precheck(&script) {
        return Ok(code);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async {
        // Listening before the directory exists: from then on, every way out removes it.
        let mut leave = Leave::listen()?;
        if let Some(dir) = &args.state_dir {
            let dir = state_dir::kept(dir, &env)?;
            return session(script, &dir, true, &mut leave).await;
        }
        let state_dir = state_dir::temp()?;
        let result = session(script, state_dir.path(), false, &mut leave).await;
        let path = state_dir.path().to_path_buf();
        if let Err(e) = state_dir.close() {
            eprintln!("sandbox: cannot remove {}: {e}", path.display());
        }
        result
    });
    // Not a plain drop: that waits for the blocking read of stdin, which nothing can cancel,
    // so leaving on a signal would hang until the next line is typed.
    runtime.shutdown_background();
    outcome.map(|()| ExitCode::SUCCESS)
}

/// The script loaded as `check` loads it: on a problem, `check`'s diagnostic on stderr and
/// its exit code (1 a script problem, 2 an unreadable file).
fn precheck(script: &ScriptChoice) -> Option<ExitCode> {
    let ScriptChoice::File(_) = script else {
        return None;
    };
    let runtime = ScriptHost::new(crate::script::Limits::default());
    let LoadError { error, rendered } = crate::script::load(&runtime, script).err()?;
    // Shared scripts are hostile too: their lines are shown, never obeyed.
    eprintln!("{}", visible::escape_lines(&rendered));
    let (why, code) = match error {
        ScriptError::Io { .. } => ("cannot be read", 2),
        _ => ("does not load", 1),
    };
    eprintln!("sandbox: not started: the personality {why}");
    Some(ExitCode::from(code))
}

/// One sandbox run in `state_dir` (`kept`: the user's, left in place): the fake, the
/// listener, then the typed lines until the input ends or the user leaves.
async fn session(
    script: ScriptChoice,
    state_dir: &Path,
    kept: bool,
    leave: &mut Leave,
) -> anyhow::Result<()> {
    let fake = FakeRetake::start(FakeOptions {
        agent_name: BOT.into(),
        user_db_id: ROOM.into(),
        ..FakeOptions::default()
    })
    .await?;
    fake.add_streamer(RIVAL, RIVAL_ID);
    introduce(&script, state_dir, kept, &fake);
    let config = sandbox_config(&fake, script, state_dir);
    heard_an_hour_ago(&config)?;
    let guard = Guard::new(&config).map_err(anyhow::Error::msg)?;
    // Subscribed before the listener starts: the screen misses nothing it does.
    let outcomes = Outcomes::broadcast();
    let mut screen = Screen::new(outcomes.subscribe(), guard, agent::authorization());
    let health = Arc::new(Health::new());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (quiet_tx, quiet_rx) = tokio::sync::mpsc::unbounded_channel();
    let options = crate::daemon::Options {
        health: health.clone(),
        quiet: Some(quiet_rx),
        outcomes,
        ..Default::default()
    };
    let mut daemon = tokio::spawn(crate::daemon::run_with(config, options, async {
        let _ = stop_rx.await;
    }));
    // Whatever keeps the listener from starting is its own error, shown at once.
    tokio::select! {
        joined = wait_until(OUTCOME_WITHIN, || fake.room_size(ROOM) >= 1) => if !joined {
            anyhow::bail!("the sandbox listener did not join its room on {}", fake.url());
        },
        ended = &mut daemon => return ended_early(ended),
        () = leave.recv() => return stop(stop_tx, daemon).await,
    }
    let sandbox = Sandbox {
        fake: &fake,
        health: &health,
        quiet_tx,
    };
    match sandbox.converse(&mut screen, &mut daemon, leave).await {
        End::Input => {}
        End::Listener(ended) => return ended_early(ended),
        // Told to leave: at once, without waiting for what is still being decided.
        End::Told => return stop(stop_tx, daemon).await,
    }
    tokio::select! {
        () = settle(&mut screen, &sandbox) => {}
        () = leave.recv() => {}
    }
    stop(stop_tx, daemon).await
}

/// What the sandbox runs, where its state is and how to play the agent; the commands when a
/// person types.
fn introduce(script: &ScriptChoice, state_dir: &Path, kept: bool, fake: &FakeRetake) {
    match script {
        ScriptChoice::File(path) => eprintln!(
            "sandbox: personality {} (edit it: it reloads)",
            path.display()
        ),
        ScriptChoice::Embedded => {
            eprintln!("sandbox: the built-in personality (--script PATH to try yours)")
        }
    }
    eprintln!("{}", agent::guide(state_dir, kept, &fake.url()));
    if std::io::stdin().is_terminal() {
        eprintln!("{HELP}\n{}", live::HELP);
    }
}

/// As if the listener last heard the chat an hour ago, so what `/late` says (at most an hour
/// back) is after its cursor and gets caught up.
fn heard_an_hour_ago(config: &Config) -> anyhow::Result<()> {
    let an_hour_ago = crate::catchup::Mark {
        id: String::new(),
        ts: now_ms() - 3_600_000,
    };
    crate::catchup::Handled::open(&config.state_dir.handled())?
        .0
        .baseline(an_hour_ago);
    Ok(())
}

/// The listener stopped by itself: its error, or that it stopped.
fn ended_early(ended: Result<anyhow::Result<()>, tokio::task::JoinError>) -> anyhow::Result<()> {
    ended??;
    anyhow::bail!("the sandbox listener stopped by itself")
}

/// Stop the listener and wait for it.
async fn stop(
    stop_tx: tokio::sync::oneshot::Sender<()>,
    daemon: JoinHandle<anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let _ = stop_tx.send(());
    daemon.await?
}

fn sandbox_config(fake: &FakeRetake, script: ScriptChoice, state_dir: &Path) -> Config {
    let mut config = Config {
        creds: Credentials {
            access_token: Secret::new("sandbox-token"),
            user_db_id: ROOM.into(),
            agent_name: BOT.into(),
            secret_fields: Vec::new(),
            token_address: TOKEN_ADDRESS.into(),
            token_ticker: TICKER.into(),
        },
        // v2 so that tips, follows and the other live-room events exist.
        api: ApiVersion::V2,
        chat_url: fake.url(),
        api_url: fake.url(),
        state_dir: state_dir.into(),
        rooms: vec![RIVAL.into()],
        script,
        script_limits: Default::default(),
        wake: Default::default(),
        send: Default::default(),
        queue: Default::default(),
        connection: Default::default(),
        max_reconnects: None,
        health: Default::default(),
        metrics_addr: None,
        tls: Default::default(),
        decisions: Default::default(),
        backlog: Default::default(),
        catchup: Default::default(),
        transcript: Default::default(),
        mcp: Default::default(),
        dry_run: false,
    };
    // Nothing to wake here; the screen says when the agent would be.
    config.wake.command.clear();
    config
}
