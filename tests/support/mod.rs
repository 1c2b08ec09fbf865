//! Test helpers: a temp state dir, the in-process fake retake.tv, a listener that shuts down
//! on drop, `wait_until` (poll with a deadline; never a fixed sleep), and the listener's
//! outcomes to await ([`Harness::outcomes`]) instead of re-reading its files.

pub mod interop;
pub mod proxy;
#[cfg(unix)]
pub mod pty;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use retake_chat::act::queue::{Queue, QueueItem};
use retake_chat::config::{
    ApiVersion, Config, ConnectionConfig, Credentials, DecisionsConfig, HealthConfig, QueueConfig,
    ScriptChoice, ScriptConfig, Secret, SendConfig, WakeConfig,
};
use retake_chat::daemon::{Options, Pace};
use retake_chat::decision_log::Record;
use retake_chat::fake::{FakeOptions, FakeRetake, SentRequest};
use retake_chat::outcome::{Outcome, Outcomes};
use retake_chat::script::{Clock, SimClock};
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The token every test uses; tests search outputs for it.
pub const TOKEN: &str = "rtk_test_SECRET_token_4242";
/// The streamer's room.
pub const ROOM: &str = "room-1";
/// The agent's name, as the fake echoes it back.
pub const AGENT: &str = "TestAgent";

/// How long any single expectation may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// Poll `condition` until it holds or `within` passes; returns whether it held (the fake's).
pub use retake_chat::fake::wait_until;

/// Like [`wait_until`], panicking with `what` when the deadline passes.
pub async fn expect(what: &str, condition: impl FnMut() -> bool) {
    assert!(
        wait_until(DEADLINE, condition).await,
        "timed out waiting for: {what}"
    );
}

/// A running listener against a fresh fake retake.tv, in its own temp dir.
pub struct Harness {
    pub fake: FakeRetake,
    /// The proxy the chat connection goes through, when [`Setup::proxy`] asked for one.
    pub proxy: Option<proxy::Proxy>,
    pub dir: TempDir,
    pub config: Config,
    /// The running listener's counters and state ([`Self::health`]); a new one each launch,
    /// as each run of the binary starts afresh.
    live: std::sync::Arc<retake_chat::health::Health>,
    /// The listener's sense of time: the script's clock ([`Harness::advance`] moves a
    /// simulated one) and how often it is looked at.
    pace: Pace,
    /// What every launch of the listener publishes ([`Self::outcomes`]).
    outcomes: Outcomes,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Options for [`Harness::start_with`].
pub struct Setup {
    pub api: ApiVersion,
    pub script: Option<String>,
    pub fake: FakeOptions,
    /// Route the chat connection through a [`proxy::Proxy`] (to freeze it).
    pub proxy: bool,
    /// Change the config before the listener starts.
    pub tweak: fn(&mut Config),
    /// Run the script on a simulated clock that stands still until [`Harness::advance`]
    /// moves it, looked at every [`SIM_TICK`]: a 30 s timer or a quiet period comes due at
    /// once, not after waiting it out.
    pub sim_clock: bool,
    /// How often the personality thread looks at the script's clock, when not the default
    /// (a second; [`SIM_TICK`] with `sim_clock`).
    pub tick: Option<Duration>,
}

/// How often a listener on a simulated clock looks at it (the default pace is a second).
pub const SIM_TICK: Duration = Duration::from_millis(20);

impl Default for Setup {
    fn default() -> Self {
        Self {
            api: ApiVersion::V1,
            script: None,
            fake: FakeOptions {
                agent_name: AGENT.into(),
                user_db_id: ROOM.into(),
                ..FakeOptions::default()
            },
            proxy: false,
            tweak: |_| {},
            sim_clock: false,
            tick: None,
        }
    }
}

impl Harness {
    /// The shipped personality, API v1.
    pub async fn start() -> Self {
        Self::start_with(Setup::default()).await
    }

    /// A listener as `setup` says, connected and joined before this returns.
    pub async fn start_with(setup: Setup) -> Self {
        let fake = FakeRetake::start(setup.fake.clone())
            .await
            .expect("fake starts");
        Self::start_with_fake(fake, setup).await
    }

    /// [`start_with`](Self::start_with) against a fake the test prepared (`setup.fake` is
    /// then unused).
    pub async fn start_with_fake(fake: FakeRetake, setup: Setup) -> Self {
        // Logs show with --nocapture and RUST_LOG; a second init in the same binary is a no-op.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_max_level(LevelFilter::TRACE)
            .finish()
            .with(
                std::env::var("RUST_LOG")
                    .ok()
                    .and_then(|text| text.parse::<Targets>().ok())
                    .unwrap_or_else(|| Targets::new().with_default(LevelFilter::ERROR)),
            )
            .try_init();
        let dir = tempfile::tempdir().expect("temp dir");
        let script = match setup.script {
            Some(source) => {
                let path = dir.path().join("scripts").join("personality.rhai");
                std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                std::fs::write(&path, source).expect("write script");
                ScriptChoice::File(path)
            }
            None => ScriptChoice::Embedded,
        };
        let mut config = test_config(&fake, dir.path(), setup.api, script);
        let proxy = if setup.proxy {
            let proxy = proxy::Proxy::start(fake.addr()).await;
            config.chat_url = proxy.url();
            Some(proxy)
        } else {
            None
        };
        (setup.tweak)(&mut config);
        let mut pace = Pace::default();
        if setup.sim_clock {
            let start = retake_chat::time::now_ms();
            pace.clock = Clock::Simulated(SimClock::new(start));
            pace.tick = SIM_TICK;
        }
        if let Some(tick) = setup.tick {
            pace.tick = tick;
        }
        let mut harness = Self {
            fake,
            proxy,
            dir,
            config,
            pace,
            live: std::sync::Arc::default(),
            outcomes: Outcomes::broadcast(),
            stop: None,
            task: None,
        };
        harness.launch().await;
        harness
    }

    /// Start the listener (again) with the current config and wait until it joined the room.
    pub async fn launch(&mut self) {
        let joins_before = self.fake.joins().get(ROOM).copied().unwrap_or(0);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let config = self.config.clone();
        self.live = std::sync::Arc::default();
        let options = Options {
            health: self.live.clone(),
            pace: self.pace.clone(),
            outcomes: self.outcomes.clone(),
            ..Options::default()
        };
        self.task = Some(tokio::spawn(retake_chat::daemon::run_with(
            config,
            options,
            async {
                let _ = stop_rx.await;
            },
        )));
        self.stop = Some(stop_tx);
        let fake = &self.fake;
        // A new join, not a socket of an earlier run that the fake has yet to clean up.
        expect("the listener joins the room", || {
            fake.joins().get(ROOM).copied().unwrap_or(0) > joins_before && fake.room_size(ROOM) == 1
        })
        .await;
    }

    /// Ask the listener to stop and wait for it; returns its result.
    pub async fn shutdown(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => tokio::time::timeout(DEADLINE, task)
                .await
                .expect("listener stops in time")
                .expect("listener task did not panic"),
            None => Ok(()),
        }
    }

    /// Move the script's simulated clock forward by `by` (panics without [`Setup::sim_clock`]).
    pub fn advance(&self, by: Duration) {
        let Clock::Simulated(clock) = &self.pace.clock else {
            panic!("this harness runs on the system clock");
        };
        clock.advance_ms(i64::try_from(by.as_millis()).expect("a sane duration"));
    }

    /// A v1 viewer message into the room.
    pub async fn say(&self, id: &str, author: &str, text: &str) {
        self.fake.emit_v1_message(ROOM, id, author, text).await;
    }

    /// Any payload as a `message` event into the room.
    pub async fn emit(&self, payload: Value) {
        self.fake.emit(ROOM, "message", payload).await;
    }

    /// Wait until the fake has received `n` send requests, then return them all.
    pub async fn wait_sent(&self, n: usize) -> Vec<SentRequest> {
        let fake = &self.fake;
        expect(&format!("{n} messages sent"), || fake.sent().len() >= n).await;
        fake.sent()
    }

    /// The texts the agent has sent, in order.
    pub fn sent_texts(&self) -> Vec<String> {
        self.fake
            .sent()
            .iter()
            .map(|r| r.body["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Items in queue.jsonl now.
    pub fn queue(&self) -> Vec<QueueItem> {
        Queue::new(self.config.state_dir.queue())
            .read_all()
            .expect("queue readable")
            .0
    }

    /// What health.json says, but now: the running listener's own snapshot, which the file
    /// gets at its next write (state changes at once, counters every second). Waiting on a
    /// counter costs no second this way; [`Self::health_file`] is the file.
    pub fn health(&self) -> Value {
        serde_json::from_str(&self.live.to_json()).expect("health serializes")
    }

    /// What the listener does from now on (across relaunches), to await: its decisions, the
    /// fates of its texts, its reloads. Subscribe before causing what is awaited.
    pub fn outcomes(&self) -> OutcomeWatch {
        OutcomeWatch {
            rx: self.outcomes.subscribe(),
            seen: Vec::new(),
        }
    }

    /// health.json as JSON (`Null` when it does not exist yet).
    pub fn health_file(&self) -> Value {
        read_json(&self.config.state_dir.health())
    }

    /// The personality script's path (panics for the embedded one).
    pub fn script_path(&self) -> PathBuf {
        match &self.config.script {
            ScriptChoice::File(path) => path.clone(),
            ScriptChoice::Embedded => panic!("this harness runs the embedded script"),
        }
    }

    /// Replace the script the way editors do: write a temp file, then rename it over.
    pub fn edit_script(&self, source: &str) {
        let path = self.script_path();
        let tmp = path.with_extension("rhai.swp");
        std::fs::write(&tmp, source).expect("write temp");
        std::fs::rename(&tmp, &path).expect("rename over");
    }

    /// How many times the wake command ran.
    pub fn wakes(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("wakes"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The listener's outcomes since [`Harness::outcomes`] subscribed, taken in order.
pub struct OutcomeWatch {
    rx: broadcast::Receiver<Outcome>,
    /// One line per outcome taken so far, for the failure message (never a text: a blocked
    /// or echoed one could hold the token).
    seen: Vec<String>,
}

impl OutcomeWatch {
    /// The first outcome from here on that `pick` picks, within [`DEADLINE`]; panics naming
    /// `what` and what came instead. Falling behind the listener fails the test too: what
    /// was lost cannot be looked at.
    pub async fn wait_for<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&Outcome) -> Option<T>,
    ) -> T {
        let end = tokio::time::Instant::now() + DEADLINE;
        loop {
            let next = tokio::time::timeout_at(end, self.rx.recv()).await;
            let outcome = match next {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(broadcast::error::RecvError::Lagged(n))) => {
                    panic!("waiting for {what}: fell behind the listener by {n} outcomes")
                }
                Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => panic!(
                    "timed out waiting for: {what}; came instead: {:#?}",
                    self.seen
                ),
            };
            if let Some(picked) = pick(&outcome) {
                return picked;
            }
            self.seen.push(summary(&outcome));
        }
    }

    /// The decision on the message `id`.
    pub async fn decision(&mut self, id: &str) -> Arc<Record> {
        self.wait_for(&format!("the decision on {id}"), |outcome| match outcome {
            Outcome::Decided(record) if record.id == id => Some(record.clone()),
            _ => None,
        })
        .await
    }
}

/// An outcome in a line, without its texts.
fn summary(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Decided(record) => format!("decided {}: {}", record.id, record.decision),
        Outcome::Sent(text) => format!("sent, in reply to {:?}", text.in_reply_to),
        Outcome::Unconfirmed(text) => format!("unconfirmed, in reply to {:?}", text.in_reply_to),
        Outcome::Held(why, text) => format!("held ({why:?}), in reply to {:?}", text.in_reply_to),
        Outcome::Reloaded { .. } => "reloaded".into(),
        Outcome::ReloadFailed { .. } => "reload failed".into(),
    }
}

/// A listener config pointing at `fake`, with state and wake marks under `dir`.
pub fn test_config(fake: &FakeRetake, dir: &Path, api: ApiVersion, script: ScriptChoice) -> Config {
    let wakes = dir.join("wakes");
    Config {
        creds: Credentials {
            access_token: Secret::new(TOKEN),
            user_db_id: ROOM.into(),
            agent_name: AGENT.into(),
            secret_fields: Vec::new(),
            token_address: String::new(),
            token_ticker: String::new(),
        },
        api,
        chat_url: fake.url(),
        api_url: fake.url(),
        state_dir: dir.join("state").into(),
        rooms: Vec::new(),
        script,
        script_limits: ScriptConfig::default(),
        wake: WakeConfig {
            command: vec![
                "sh".into(),
                "-c".into(),
                format!("echo woke >> '{}'", wakes.display()),
            ],
            timeout: Duration::from_secs(5),
            min_interval: Duration::from_millis(0),
            ..WakeConfig::default()
        },
        // Tests send bursts; the rate limit has tests of its own.
        send: SendConfig {
            per_30s: 0,
            ..SendConfig::default()
        },
        queue: QueueConfig::default(),
        connection: ConnectionConfig {
            connect_timeout: Duration::from_secs(2),
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_millis(500),
        },
        health: HealthConfig {
            interval: Duration::from_secs(1),
        },
        max_reconnects: None,
        metrics_addr: None,
        decisions: DecisionsConfig::default(),
        backlog: Default::default(),
        catchup: Default::default(),
        transcript: Default::default(),
        mcp: Default::default(),
        tls: Default::default(),
        dry_run: false,
    }
}

/// A JSON file's content, or `Null` when missing or unreadable.
pub fn read_json(path: &Path) -> Value {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null)
}

/// An empty directory for the binary to run in, instead of the checkout: there,
/// `./scripts/personality.rhai` is the user's copy (what `run`, `try` and `replay` use
/// without `--script`), and editing it must fail no test.
pub fn empty_cwd() -> PathBuf {
    let cwd = Path::new(env!("CARGO_TARGET_TMPDIR")).join("empty-cwd");
    std::fs::create_dir_all(&cwd).expect("create the tests' working directory");
    cwd
}

/// The real binary, with only the environment we set (no credentials or settings leak in
/// from the developer's), logging everything so tests can search the output. It runs in
/// [`empty_cwd`].
pub fn bin() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_retake-chat"));
    cmd.current_dir(empty_cwd())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "debug")
        .stdin(std::process::Stdio::null());
    cmd
}

/// Run to completion: exit code, stdout, stderr. Fails the test on a panic or a leaked token.
pub fn run(cmd: &mut std::process::Command) -> (i32, String, String) {
    let output = cmd.output().expect("binary runs");
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(!out.contains(TOKEN) && !err.contains(TOKEN), "token leaked");
    (output.status.code().unwrap_or(-1), out, err)
}

/// A credentials file for [`TOKEN`], [`ROOM`] and [`AGENT`] in `dir`.
pub fn write_creds(dir: &Path) -> PathBuf {
    let path = dir.join("credentials.json");
    std::fs::write(
        &path,
        format!(r#"{{"access_token": "{TOKEN}", "userDbId": "{ROOM}", "agent_name": "{AGENT}"}}"#),
    )
    .expect("write creds");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    path
}

/// The binary running `command` (nothing: `run`) with working credentials in `dir`, `dir`
/// as HOME and `dir/state` as its state directory.
pub fn with_test_creds(dir: &Path, command: &[&str]) -> std::process::Command {
    let creds = write_creds(dir);
    let mut cmd = bin();
    cmd.env("HOME", dir)
        .args(command)
        .arg("--creds")
        .arg(creds)
        .arg("--state-dir")
        .arg(dir.join("state"));
    cmd
}

/// [`with_test_creds`] pointed at a chat server that is not there.
pub fn offline(dir: &Path) -> std::process::Command {
    let mut cmd = with_test_creds(dir, &[]);
    // Port 9 (discard) on loopback: nothing listens, every attempt is refused at once.
    cmd.args(["--chat-url", "http://127.0.0.1:9/"]);
    cmd
}

/// A fake retake.tv that knows our agent and room.
pub async fn start_fake() -> FakeRetake {
    FakeRetake::start(FakeOptions {
        agent_name: AGENT.into(),
        user_db_id: ROOM.into(),
        ..FakeOptions::default()
    })
    .await
    .expect("fake starts")
}

/// The binary as a listener against `fake`: credentials written to `dir`, state in
/// `dir/state`, `dir` as HOME and working directory. Killed when dropped. Unless the caller
/// sets them, its stdout and stderr go to a file that is shown only when the test fails
/// ([`child_output`]): a passing `cargo test` prints none of its DEBUG lines.
#[track_caller]
pub fn listener(fake: &FakeRetake, dir: &Path) -> tokio::process::Command {
    let creds = write_creds(dir);
    let (stdout, stderr) = child_output("the listener");
    let mut cmd = tokio::process::Command::from(bin());
    cmd.env("HOME", dir)
        .env("RETAKE_CREDS", &creds)
        .env("RETAKE_CHAT_URL", fake.url())
        .env("RETAKE_API_URL", fake.url())
        .env("RETAKE_STATE_DIR", dir.join("state"))
        .current_dir(dir)
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true);
    cmd
}

/// At most this much of a child's output is shown when its test fails: the end of it.
const SHOWN_ON_FAILURE: usize = 16 * 1024;

thread_local! {
    /// What the children this test's thread started printed, each with where it was started.
    static CHILD_OUTPUTS: std::cell::RefCell<Vec<(String, tempfile::NamedTempFile)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// A child's stdout and stderr, both into one temp file that is shown (its last
/// [`SHOWN_ON_FAILURE`] bytes) if the calling test panics, and removed when its thread ends.
/// Children write to a file, not to a pipe nobody reads, so a chatty one never blocks; and
/// not to the inherited stderr, which the test harness cannot capture.
#[track_caller]
pub fn child_output(what: &str) -> (std::process::Stdio, std::process::Stdio) {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            default(info);
            // On the test's own thread, `eprintln!` goes to the output the harness shows
            // with the failure.
            let _ = CHILD_OUTPUTS.try_with(|outputs| {
                for (label, file) in outputs.borrow().iter() {
                    let text = std::fs::read(file.path()).unwrap_or_default();
                    let cut = text.len().saturating_sub(SHOWN_ON_FAILURE);
                    let shown = if cut > 0 { " (its end)" } else { "" };
                    eprintln!(
                        "--- output of {label}{shown}:\n{}\n--- end of {label}",
                        String::from_utf8_lossy(&text[cut..]).trim_end()
                    );
                }
            });
        }));
    });
    let file = tempfile::NamedTempFile::new().expect("a temp file for a child's output");
    let stdout = file.as_file().try_clone().expect("clone the output file");
    let stderr = file.as_file().try_clone().expect("clone the output file");
    let label = format!("{what} started at {}", std::panic::Location::caller());
    CHILD_OUTPUTS.with(|outputs| outputs.borrow_mut().push((label, file)));
    (stdout.into(), stderr.into())
}

/// Ask a child to stop with SIGTERM, as a service manager would.
pub fn terminate(child: &tokio::process::Child) {
    let pid = child.id().expect("child still running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -TERM {pid}");
}

/// Who the shipped personality's "On it NAME! 💭" acknowledged, in the order it was sent.
pub fn acknowledged(fake: &FakeRetake) -> Vec<String> {
    fake.sent()
        .iter()
        .filter_map(|r| {
            r.body["message"]
                .as_str()?
                .strip_prefix("On it ")?
                .strip_suffix("! 💭")
                .map(String::from)
        })
        .collect()
}
