//! The reference Socket.IO server (`tests/interop/server.js`, the official Node.js `socket.io`
//! package pinned by `tests/interop/package-lock.json`) as a child process on 127.0.0.1,
//! driven over its stdin: stop and restart on the same port, kick, emit into a room, count
//! a room, freeze and kill it; and retake.tv's REST side on the same port (chat history and
//! sends, recorded), so a listener can use it for both its chat and its API URL.
//!
//! The first test that needs it runs `npm ci` when `node_modules` is missing (under a file
//! lock, so parallel tests and test processes install once). Without Node.js the tests fail
//! with one sentence when `CI` is set, and outside CI are skipped with the reason printed.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::oneshot;

use retake_chat::fake::{FakeRetake, v1_message, v2_message};

use super::{AGENT, DEADLINE, ROOM};

/// How the server is started.
#[derive(Debug, Clone, Copy)]
pub struct RefOptions {
    /// Engine.IO `pingInterval`.
    pub ping_interval: Duration,
    /// Engine.IO `pingTimeout`.
    pub ping_timeout: Duration,
    /// Complete the Engine.IO handshake but never connect the namespace.
    pub hold: bool,
}

impl Default for RefOptions {
    /// socket.io's own defaults.
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            hold: false,
        }
    }
}

/// Something the server reported, and when it was read.
#[derive(Debug, Clone)]
pub struct Report {
    pub at: Instant,
    pub body: Value,
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// One running reference server (or one that was killed and can be started again).
pub struct RefServer {
    options: RefOptions,
    port: u16,
    child: Child,
    stdin: ChildStdin,
    next_id: u64,
    pending: Pending,
    reports: Arc<Mutex<Vec<Report>>>,
    log: PathBuf,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The elements of a JSON array, none for anything else.
fn array(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        _ => Vec::new(),
    }
}

/// `tests/interop/`.
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Make sure node and the pinned packages are there. `Err` is the reason to skip (outside CI).
fn ensure_installed() -> Result<(), String> {
    let dir = interop_dir();
    let node = std::process::Command::new("node").arg("--version").output();
    if !node.is_ok_and(|out| out.status.success()) {
        let why = "the interop tests need Node.js 18 or later and npm on PATH (https://nodejs.org)";
        if std::env::var_os("CI").is_some() {
            panic!("{why}; CI is set, so they are not skipped");
        }
        return Err(why.to_string());
    }
    // One installer at a time, across the threads and processes of a test run.
    let guard =
        File::create(dir.join(".install.lock")).expect("create tests/interop/.install.lock");
    guard.lock().expect("lock tests/interop/.install.lock");
    if installed(&dir) {
        return Ok(());
    }
    let output = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run npm (needed once for tests/interop): {e}"));
    assert!(
        output.status.success(),
        "npm ci --prefix tests/interop failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// Whether `npm ci` has run to the end since package-lock.json last changed: npm writes
/// `node_modules/.package-lock.json` last, so an interrupted install does not count.
fn installed(dir: &Path) -> bool {
    let modified = |path: PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    match (
        modified(dir.join("node_modules/.package-lock.json")),
        modified(dir.join("package-lock.json")),
    ) {
        (Some(installed), Some(locked)) => installed >= locked,
        _ => false,
    }
}

/// Whether Node.js and the pinned packages are there for `test`; when not (outside CI), the
/// reason is printed and the test should return.
pub fn node_ready(test: &str) -> bool {
    match ensure_installed() {
        Ok(()) => true,
        Err(why) => {
            eprintln!("skipping {test}: {why}");
            false
        }
    }
}

impl RefServer {
    /// Start the server on a free port; `None` (with the reason printed) when the tests are
    /// skipped because Node.js is missing outside CI.
    pub async fn start(test: &str, options: RefOptions, log_dir: &Path) -> Option<Self> {
        if !node_ready(test) {
            return None;
        }
        Some(Self::spawn(options, 0, log_dir.join("ref-server.log")).await)
    }

    async fn spawn(options: RefOptions, port: u16, log: PathBuf) -> Self {
        let stderr = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open the server log");
        let mut child = Command::new("node")
            .arg(interop_dir().join("server.js"))
            .args(["--port", &port.to_string()])
            // Echoed sends come from the agent the listener's credentials name.
            .args(["--agent-name", AGENT, "--agent-id", ROOM])
            // The history outlives a SIGKILL and respawn, as the platform's does.
            .arg("--history-file")
            .arg(log.with_file_name("ref-history.jsonl"))
            .args([
                "--ping-interval",
                &options.ping_interval.as_millis().to_string(),
            ])
            .args([
                "--ping-timeout",
                &options.ping_timeout.as_millis().to_string(),
            ])
            .args(options.hold.then_some("--hold"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let pending: Pending = Arc::default();
        let reports: Arc<Mutex<Vec<Report>>> = Arc::default();
        let (listening_tx, listening_rx) = oneshot::channel();
        {
            let (pending, reports) = (pending.clone(), reports.clone());
            let mut listening_tx = Some(listening_tx);
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let Ok(body) = serde_json::from_str::<Value>(&line) else {
                        continue;
                    };
                    if let Some(id) = body["id"].as_u64() {
                        if let Some(reply) = lock(&pending).remove(&id) {
                            let _ = reply.send(body);
                        }
                        continue;
                    }
                    if body["event"] == "listening"
                        && let Some(tx) = listening_tx.take()
                    {
                        let _ = tx.send(body["port"].as_u64());
                    }
                    lock(&reports).push(Report {
                        at: Instant::now(),
                        body,
                    });
                }
            });
        }
        let port = tokio::time::timeout(DEADLINE, listening_rx)
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_else(|| {
                panic!(
                    "the reference server did not start: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
        Self {
            options,
            port,
            child,
            stdin,
            next_id: 1,
            pending,
            reports,
            log,
        }
    }

    /// The address a listener connects to, for chat (`--chat-url`) and the API (`--api-url`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// The real listener (as [`listener`](super::listener) makes it in `dir`) with this server
    /// as all of retake.tv, in API generation `api`, with `dir/config.toml`, its stderr in
    /// `dir/listener.log` and its stdout dropped. Not started yet.
    pub fn listener(&self, fake: &FakeRetake, dir: &Path, api: &str) -> Command {
        let log = File::create(dir.join("listener.log")).expect("listener log");
        let mut command = super::listener(fake, dir);
        command
            .env("RETAKE_CHAT_URL", self.url())
            .env("RETAKE_API_URL", self.url())
            .env("RETAKE_API", api)
            .env("RETAKE_CHAT_CONFIG", dir.join("config.toml"))
            .stdout(Stdio::null())
            .stderr(log);
        command
    }

    /// Send one command and wait for its answer; panics on an error.
    async fn command(&mut self, mut request: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        request["id"] = id.into();
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        let line = format!("{request}\n");
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("write to the server");
        let reply = tokio::time::timeout(DEADLINE, rx)
            .await
            .unwrap_or_else(|_| panic!("no answer to {request}"))
            .expect("the server answers");
        assert_eq!(reply["ok"], true, "{request} failed: {reply}");
        reply
    }

    /// `io.close()`: every connection closed, the port released (what a deploy does).
    pub async fn close(&mut self) {
        self.command(json!({"cmd": "close"})).await;
    }

    /// A fresh server on the same port, after [`close`](Self::close).
    pub async fn listen(&mut self) {
        self.command(json!({"cmd": "listen"})).await;
    }

    /// `io.disconnectSockets(true)`.
    pub async fn kick(&mut self) {
        self.command(json!({"cmd": "kick"})).await;
    }

    /// An Engine.IO close packet to every client, their websockets left open.
    pub async fn engine_close(&mut self) {
        self.command(json!({"cmd": "engine-close"})).await;
    }

    /// Stop (or resume) connecting namespaces.
    pub async fn hold(&mut self, on: bool) {
        self.command(json!({"cmd": "hold", "on": on})).await;
    }

    /// A `message` into `room`, kept in its history; whether a server was listening to
    /// deliver it (while [`close`](Self::close)d it is only kept).
    pub async fn emit_message(&mut self, room: &str, payload: Value) -> bool {
        let request = json!({"cmd": "emit", "room": room, "event": "message", "payload": payload});
        self.command(request).await["delivered"] == true
    }

    /// Any `event` with `payload` into `room` (a `message` is kept in the history too).
    pub async fn emit(&mut self, room: &str, event: &str, payload: Value) -> bool {
        let request = json!({"cmd": "emit", "room": room, "event": event, "payload": payload});
        self.command(request).await["delivered"] == true
    }

    /// A v1 viewer message into `room`, as retake.tv sends it, timestamped now (catch-up
    /// leaves out what is older than its maximum age).
    pub async fn say(&mut self, room: &str, id: &str, author: &str, text: &str) {
        self.emit_message(room, v1_message(id, author, text)).await;
    }

    /// A v2 viewer message into `room` (no id: the v2 history adds `chat_event_id`),
    /// timestamped now.
    pub async fn say_v2(&mut self, room: &str, sender_id: &str, sender_name: &str, text: &str) {
        let payload = v2_message(room, sender_id, sender_name, text);
        self.emit_message(room, payload).await;
    }

    /// A message kept in `room`'s history without being said (said before anyone listened);
    /// its own timestamp is kept. Returns its sequence number.
    pub async fn add_history(&mut self, room: &str, payload: Value) -> u64 {
        let reply = self
            .command(json!({"cmd": "add-history", "room": room, "payload": payload}))
            .await;
        reply["seq"].as_u64().unwrap_or_default()
    }

    /// Every POST to a send endpoint since the process started: `{path, authorization, body,
    /// status}`, oldest first.
    pub async fn sent(&mut self) -> Vec<Value> {
        let mut reply = self.command(json!({"cmd": "sent"})).await;
        array(reply["sent"].take())
    }

    /// Every GET of a history endpoint since the process started: `{path, query,
    /// authorization, status, returned}`, oldest first.
    pub async fn history_reads(&mut self) -> Vec<Value> {
        let mut reply = self.command(json!({"cmd": "history-reads"})).await;
        array(reply["reads"].take())
    }

    /// Refuse (or accept again) Socket.IO, polling and websocket alike, with 503; turning it
    /// on cuts every open connection. The REST endpoints keep answering.
    pub async fn refuse_socket(&mut self, on: bool) {
        self.command(json!({"cmd": "refuse", "on": on})).await;
    }

    /// Sockets in `room`, and Engine.IO connections in all (namespace or not).
    pub async fn room(&mut self, room: &str) -> (u64, u64) {
        let reply = self.command(json!({"cmd": "room", "room": room})).await;
        (
            reply["size"].as_u64().unwrap_or(u64::MAX),
            reply["clients"].as_u64().unwrap_or(u64::MAX),
        )
    }

    /// Freeze (`STOP`) or thaw (`CONT`) the server process: TCP stays open, nothing answers.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().expect("server running").to_string();
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} {pid}");
    }

    /// SIGKILL the server (the kernel resets or closes its connections) and reap it.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("kill the server");
    }

    /// A new server process on the same port, after [`kill`](Self::kill). The history is
    /// back (it is kept in a file); [`sent`](Self::sent) and the reads start afresh.
    pub async fn respawn(&mut self) {
        let (options, port, log) = (self.options, self.port, self.log.clone());
        *self = Self::spawn(options, port, log).await;
    }

    /// Everything reported since `since`.
    pub fn reports_since(&self, since: Instant) -> Vec<Report> {
        lock(&self.reports)
            .iter()
            .filter(|r| r.at >= since)
            .cloned()
            .collect()
    }

    /// When the first `joinRoom` for `room` after `since` arrived.
    pub fn joined_after(&self, room: &str, since: Instant) -> Option<Instant> {
        self.reports_since(since)
            .into_iter()
            .find(|r| r.body["event"] == "join" && r.body["room"] == room)
            .map(|r| r.at)
    }

    /// The server's own log (stderr), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
