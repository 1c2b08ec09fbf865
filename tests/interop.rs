//! The listener (the real binary) against the reference Socket.IO server: the official Node.js
//! `socket.io` that retake.tv's chat runs, not our fake. Each scenario breaks the connection
//! the way real servers do (a restart, a crash, a freeze, kicks, a namespace that never
//! connects, a second listener) and must end with exactly one socket in the room, every `gm`
//! answered exactly once, and `status` telling the truth during and after.
//!
//! Replies go to the in-process fake's HTTP endpoint. The waits are deadline-bounded, and the
//! default ping deadline (46 s) is longer than any of them: a close is noticed as a close,
//! not by a ping timeout. Figures (how fast a loss is noticed, how fast the listener is back)
//! are printed: run with `-- --nocapture interop` to see them.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use retake_chat::fake::FakeRetake;
use serde_json::Value;
use tempfile::TempDir;
use tokio::process::Child;

use crate::support::interop::{RefOptions, RefServer};
use crate::support::{DEADLINE, ROOM, bin, listener, read_json, run, start_fake, wait_until};

/// Settings every scenario shares: no wake command, no send limit, health written each second.
pub(crate) const BASE_CONFIG: &str =
    "[wake]\ncommand = []\n[send]\nper_30s = 0\n[health]\ninterval_secs = 1\n";

/// The reference server, the fake's HTTP side for replies, and the listener between them.
struct Live {
    /// When the listener was started.
    started: Instant,
    server: RefServer,
    fake: FakeRetake,
    dir: TempDir,
    listener: Child,
}

impl Live {
    /// Start the server and a listener (with `connection`, a `[connection]` table or nothing);
    /// `None` when the interop tests are skipped (no Node.js, outside CI).
    async fn start(test: &str, options: RefOptions, connection: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = RefServer::start(test, options, dir.path()).await?;
        let fake = start_fake().await;
        std::fs::write(
            dir.path().join("config.toml"),
            format!("{BASE_CONFIG}{connection}"),
        )
        .expect("write config");
        let started = Instant::now();
        let listener = Self::spawn_listener(&fake, &server, &dir);
        Some(Self {
            started,
            server,
            fake,
            dir,
            listener,
        })
    }

    /// [`start`](Self::start), then wait until the listener is in the room and healthy.
    async fn start_joined(test: &str, options: RefOptions, connection: &str) -> Option<Self> {
        let live = Self::start(test, options, connection).await?;
        live.joined_after(live.started).await;
        live.connected().await;
        Some(live)
    }

    fn spawn_listener(fake: &FakeRetake, server: &RefServer, dir: &TempDir) -> Child {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(dir.path().join("listener.log"))
            .expect("open the listener log");
        Self::listener_command(fake, server, dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the listener starts")
    }

    fn listener_command(
        fake: &FakeRetake,
        server: &RefServer,
        dir: &TempDir,
    ) -> tokio::process::Command {
        let mut cmd = listener(fake, dir.path());
        cmd.env("RETAKE_CHAT_URL", server.url())
            .env("RETAKE_CHAT_CONFIG", dir.path().join("config.toml"))
            .env("RUST_LOG", "info");
        cmd
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn health(&self) -> Value {
        read_json(&self.state().join("health.json"))
    }

    /// `retake-chat status`'s exit code.
    fn status(&self) -> i32 {
        run(bin().arg("status").arg("--state-dir").arg(self.state())).0
    }

    /// The failure message's context: both processes' logs.
    fn logs(&self) -> String {
        let listener =
            std::fs::read_to_string(self.dir.path().join("listener.log")).unwrap_or_default();
        format!(
            "listener log:\n{listener}\nserver log:\n{}",
            self.server.log()
        )
    }

    /// Poll until `condition` holds; panic with `what` and the logs after [`DEADLINE`].
    /// Returns how long it took.
    async fn until(&self, what: &str, mut condition: impl FnMut(&Self) -> bool) -> Duration {
        let started = Instant::now();
        if !wait_until(DEADLINE, || condition(self)).await {
            panic!("timed out waiting for: {what}\n{}", self.logs());
        }
        started.elapsed()
    }

    /// Wait for the first `joinRoom` after `since`; returns how long after `since` it came.
    async fn joined_after(&self, since: Instant) -> Duration {
        self.until("the listener joins the room", |live| {
            live.server.joined_after(ROOM, since).is_some()
        })
        .await;
        let at = self.server.joined_after(ROOM, since).expect("joined");
        at.duration_since(since)
    }

    /// Wait until health.json (and so `status`) says connected.
    async fn connected(&self) {
        self.until("health says connected", |live| {
            live.health()["status"] == "connected"
        })
        .await;
        assert_eq!(self.status(), 0, "status says healthy\n{}", self.logs());
    }

    /// Wait until health.json says disconnected; returns how long after `since` that was.
    async fn disconnected(&self, since: Instant) -> Duration {
        self.until("health says disconnected", |live| {
            live.health()["status"] == "disconnected"
        })
        .await;
        let took = since.elapsed();
        assert_eq!(self.status(), 1, "status says unhealthy\n{}", self.logs());
        took
    }

    /// How many connections health.json says were lost for `cause`.
    fn lost(&self, cause: &str) -> u64 {
        self.health()["disconnects"][cause].as_u64().unwrap_or(0)
    }

    /// Exactly one socket, in the room; `gm` and a probe answered once each (the probe after
    /// the gm proves that no second socket answered the gm too); still one socket after.
    async fn answers_once(&mut self, tag: &str) {
        self.one_socket().await;
        self.connected().await;
        let before = self.fake.sent().len();
        let (gm, probe) = (format!("{tag}-gm"), format!("{tag}-probe"));
        self.server.say(ROOM, &gm, tag, "gm").await;
        self.server.say(ROOM, &probe, tag, "ping").await;
        let fake = &self.fake;
        self.until("gm and the probe answered", |_| {
            fake.sent().len() >= before + 2
        })
        .await;
        let texts: Vec<String> = fake.sent()[before..]
            .iter()
            .map(|r| r.body["message"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(texts, [format!("gm {tag}! ☀️"), "pong! 🏓".to_string()]);
        assert_eq!(self.server.room(ROOM).await, (1, 1), "one socket after");
    }

    /// Exactly one socket in the room and one Engine.IO connection in all, within the deadline
    /// (attempts the listener gave up on may take the server a moment to drop).
    async fn one_socket(&mut self) {
        let end = Instant::now() + DEADLINE;
        loop {
            let counts = self.server.room(ROOM).await;
            if counts == (1, 1) {
                return;
            }
            assert!(
                Instant::now() < end,
                "(sockets in the room, connections) is {counts:?}, not (1, 1)\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Ask the listener to stop with SIGTERM and check it did, cleanly.
    async fn stop(self) {
        crate::support::terminate(&self.listener);
        let status = tokio::time::timeout(DEADLINE, self.listener.wait_with_output())
            .await
            .expect("stops in time")
            .expect("exit status");
        assert_eq!(status.status.code(), Some(0));
    }
}

/// A figure for the closing note and the README, not an assertion.
fn figure(tag: &str, noticed: Duration, back: Duration) {
    eprintln!(
        "interop {tag}: loss noticed after {} ms, back in the room {} ms after the server",
        noticed.as_millis(),
        back.as_millis()
    );
}

/// Scenario 1: `io.close()` (every restart of the chat service), then the server back on the
/// same port after `outage`.
async fn closed_then_back_after(outage: Duration, connection: &str, tag: &str) {
    let Some(mut live) = Live::start_joined(tag, RefOptions::default(), connection).await else {
        return;
    };
    let closed = Instant::now();
    live.server.close().await;
    let noticed = live.disconnected(closed).await;
    assert_eq!(live.lost("serverClosed"), 1, "{}", live.health());
    // The outage itself (its length is the scenario): status stays honest all along.
    tokio::time::sleep_until((closed + outage).into()).await;
    assert_eq!(live.status(), 1, "still unhealthy during the outage");
    let back = Instant::now();
    live.server.listen().await;
    let rejoined = live.joined_after(back).await;
    figure(tag, noticed, rejoined);
    live.answers_once(tag).await;
    live.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_server_closed_back_after_3s() {
    closed_then_back_after(Duration::from_secs(3), "", "closed-3s").await;
}

/// With the default backoff, 10 s out: the delay is a quarter of the outage (about 2.5 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full-length default timings; run by .ci/run"]
async fn interop_server_closed_back_after_10s() {
    closed_then_back_after(Duration::from_secs(10), "", "closed-10s").await;
}

/// A 70 s outage at a twentieth of the timings: backoff from 12 ms to a 0.4 s cap, 3.5 s
/// out. The outage is long enough that the delay sits at its cap, as 70 s does with the
/// defaults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_server_closed_back_after_70s_scaled() {
    let scaled = "[connection]\nbackoff_initial_ms = 12\nbackoff_max_ms = 400\n";
    closed_then_back_after(Duration::from_millis(3500), scaled, "closed-70s/20").await;
}

/// The same at full scale with the default backoff (70 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full-length default timings; run by .ci/run"]
async fn interop_server_closed_back_after_70s() {
    closed_then_back_after(Duration::from_secs(70), "", "closed-70s").await;
}

/// Scenario 2: the server process killed (SIGKILL: the kernel ends its connections), and a
/// new one started on the same port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_server_killed_and_restarted() {
    let tag = "killed";
    let Some(mut live) = Live::start_joined(tag, RefOptions::default(), "").await else {
        return;
    };
    let killed = Instant::now();
    live.server.kill().await;
    let noticed = live.disconnected(killed).await;
    let lost = live.lost("serverClosed") + live.lost("transportError");
    assert_eq!(lost, 1, "{}", live.health());
    assert_eq!(live.status(), 1);
    let back = Instant::now();
    live.server.respawn().await;
    let rejoined = live.joined_after(back).await;
    figure(tag, noticed, rejoined);
    live.answers_once(tag).await;
    live.stop().await;
}

/// Scenario 3: the server frozen (SIGSTOP: TCP open, nothing answers) for longer than its
/// ping deadline, then thawed. Only the silence can tell; attempts made meanwhile must not
/// linger as extra sockets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_server_frozen_then_thawed() {
    let tag = "frozen";
    let quick_pings = RefOptions {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(300),
        hold: false,
    };
    let connection = "[connection]\nconnect_timeout_secs = 1\n";
    let Some(mut live) = Live::start_joined(tag, quick_pings, connection).await else {
        return;
    };
    let frozen = Instant::now();
    live.server.signal("STOP");
    let noticed = live.disconnected(frozen).await;
    assert_eq!(live.lost("pingTimeout"), 1, "{}", live.health());
    // Frozen a while longer: attempts against it time out, and status says so throughout.
    let attempts = live.health()["reconnects"].as_u64().unwrap_or(0);
    live.until("another attempt timed out", |live| {
        live.health()["reconnects"].as_u64().unwrap_or(0) >= attempts + 2
    })
    .await;
    assert_eq!(live.status(), 1);
    let back = Instant::now();
    live.server.signal("CONT");
    let rejoined = live.joined_after(back).await;
    figure(tag, noticed, rejoined);
    live.answers_once(tag).await;
    live.stop().await;
}

/// Scenario 1b: an Engine.IO close packet while the websocket stays open: the session is
/// over by protocol, at once, not at the next ping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_engine_close_packet() {
    let tag = "engine-close";
    let Some(mut live) = Live::start_joined(tag, RefOptions::default(), "").await else {
        return;
    };
    let sent = Instant::now();
    live.server.engine_close().await;
    let noticed = live.disconnected(sent).await;
    assert_eq!(live.lost("serverClosed"), 1, "{}", live.health());
    let rejoined = live.joined_after(sent).await;
    figure(tag, noticed, rejoined);
    live.answers_once(tag).await;
    live.stop().await;
}

/// Scenario 4: `io.disconnectSockets(true)` ten times in a row, each as soon as the listener is
/// back in the room; with the default backoff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_kicked_ten_times() {
    let tag = "kicked";
    let Some(mut live) = Live::start_joined(tag, RefOptions::default(), "").await else {
        return;
    };
    let started = Instant::now();
    for _ in 0..10 {
        live.one_socket().await;
        let kicked = Instant::now();
        live.server.kick().await;
        live.joined_after(kicked).await;
    }
    eprintln!(
        "interop {tag}: ten kicks and rejoins in {} ms",
        started.elapsed().as_millis()
    );
    live.answers_once(tag).await;
    assert_eq!(live.lost("kicked"), 10, "{}", live.health());
    live.stop().await;
}

/// Scenario 5: a server that completes the Engine.IO handshake but never connects the
/// namespace. Each attempt gives up after the connect timeout, closes its connection, and
/// says why; once the server connects namespaces again, the listener gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_namespace_never_connected() {
    let tag = "held";
    let held = RefOptions {
        hold: true,
        ..RefOptions::default()
    };
    let connection = "[connection]\nconnect_timeout_secs = 1\n";
    let Some(mut live) = Live::start(tag, held, connection).await else {
        return;
    };
    let noticed = live
        .until("health names the namespace that never connected", |live| {
            live.health()["lastError"]
                .as_str()
                .is_some_and(|e| e.contains("opened but never connected the namespace"))
        })
        .await;
    assert_eq!(live.health()["status"], "disconnected");
    assert_eq!(live.status(), 1);
    // Given-up attempts are closed: at most the one in progress is open.
    let (in_room, connections) = live.server.room(ROOM).await;
    assert_eq!(in_room, 0);
    assert!(connections <= 1, "{connections} connections left open");
    let back = Instant::now();
    live.server.hold(false).await;
    let rejoined = live.joined_after(back).await;
    figure(tag, noticed, rejoined);
    live.answers_once(tag).await;
    live.stop().await;
}

/// Scenario 6: a second listener on the same state directory refuses to start, naming the
/// first; the first alone answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_second_listener_on_one_state_dir() {
    let tag = "second";
    let Some(mut live) = Live::start_joined(tag, RefOptions::default(), "").await else {
        return;
    };
    let pid = live.listener.id().expect("running");
    let second = Live::listener_command(&live.fake, &live.server, &live.dir)
        .output()
        .await
        .expect("the second runs");
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("another retake-chat listener (pid {pid}) is already running with the state directory {}", live.state().display())),
        "{err}"
    );
    live.answers_once(tag).await;
    assert_eq!(
        live.server.room(ROOM).await,
        (1, 1),
        "the second never connected"
    );
    live.stop().await;
}
