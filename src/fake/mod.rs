//! An in-process fake of retake.tv on loopback, for tests and the sandbox: a real Socket.IO v5
//! server (socketioxide) plus both generations' HTTP send and history endpoints, recording
//! everything. This file owns the handle (`FakeRetake`): start, outages, emit, inspect.
//! `socket` answers Socket.IO events, `http` the sends, `history` the chat history (its
//! endpoints and the handle's history methods), `listener` the TCP accept/kill side, `live`
//! the live-room payloads (tips, trades, going live, pins) to emit into their rooms, `wait`
//! the deadline-bounded poll ([`wait_until`]) everyone waiting on the fake uses.

mod history;
mod http;
mod listener;
mod live;
mod payload;
mod socket;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_history;
mod wait;

pub use history::{HistoryRead, HistoryShape};
pub use live::{chat_tip, newtrade, pinned, session_room, session_started, tip_received};
pub use payload::{v1_message, v2_message};
pub use wait::wait_until;

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use socketioxide::SocketIo;
use tokio::task::JoinHandle;

use history::History;
use listener::{ConnId, Conns, KillableListener};

/// How the fake behaves; [`Default`] mirrors the platform and socket.io's own timings.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// Display name of the agent, used as the author of echoed messages.
    pub agent_name: String,
    /// The agent's userDbId, used as the author id of echoed messages.
    pub user_db_id: String,
    /// Whether a successful send is echoed into the destination room as a `message` event.
    pub echo: bool,
    /// Engine.IO ping interval; shorten it so tests notice dead peers quickly.
    pub ping_interval: Duration,
    /// Engine.IO ping timeout: how long the server waits for a pong.
    pub ping_timeout: Duration,
    /// The item shape the history endpoints serve.
    pub history_shape: HistoryShape,
    /// Whether a history read is answered with a bare JSON array instead of `{"comments"}`.
    pub history_bare_array: bool,
    /// Messages kept per room; the oldest are forgotten past it (a benchmark's flood of a
    /// million messages would otherwise fill the memory). Far above any catch-up's reach.
    pub history_capacity: usize,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            agent_name: "Agent".to_owned(),
            user_db_id: "room-1".to_owned(),
            echo: true,
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            history_shape: HistoryShape::Auto,
            history_bare_array: false,
            history_capacity: 10_000,
        }
    }
}

/// One POST to a send endpoint, as received.
#[derive(Debug, Clone)]
pub struct SentRequest {
    /// Request path, e.g. `/api/agent/chat/send`.
    pub path: String,
    /// The `Authorization` header verbatim (`Bearer ...`), if any.
    pub authorization: Option<String>,
    /// The JSON body, or the raw text as a JSON string when it was not JSON.
    pub body: Value,
    /// The status the fake answered with.
    pub status: u16,
    /// When the request was handled.
    pub at: Instant,
}

/// One Socket.IO connection to the default namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// socketioxide's socket id.
    pub socket_id: String,
    /// The `Client-ID` query parameter of the handshake.
    pub client_id: Option<String>,
    /// The `Client-Type` query parameter of the handshake.
    pub client_type: Option<String>,
}

/// A response the test asked for, served instead of the usual 200.
struct Scripted {
    status: u16,
    /// The `Retry-After` value, if any.
    retry_after: Option<String>,
    /// The `Location` value, if any (a redirect).
    location: Option<String>,
}

/// What the HTTP and Socket.IO handlers record, read by the handle.
#[derive(Default)]
struct Shared {
    sent: Mutex<Vec<SentRequest>>,
    failures: Mutex<VecDeque<Scripted>>,
    /// How long each send waits before answering (after it is recorded).
    send_delay: Mutex<Duration>,
    connections: Mutex<Vec<Connection>>,
    total_connections: AtomicUsize,
    joins: Mutex<HashMap<String, usize>>,
    /// Every `message` emitted or sent, per room, whether or not anyone heard it.
    history: Mutex<History>,
    history_reads: Mutex<Vec<HistoryRead>>,
    /// `(status, raw body)` answers served one per history read before the real history.
    history_scripted: Mutex<VecDeque<(u16, String)>>,
    history_delay: Mutex<Duration>,
    /// While set, every `/socket.io` request is answered 503.
    socket_refused: AtomicBool,
    /// The streamers the public lookup knows: `(username, streamer_id)`.
    streamers: Mutex<Vec<(String, String)>>,
    /// Lookups answered, found or not.
    lookups: AtomicUsize,
}

/// A running fake retake.tv on `127.0.0.1`. Dropping it stops the server and cuts every
/// connection.
pub struct FakeRetake {
    addr: SocketAddr,
    io: SocketIo,
    app: axum::Router,
    shared: Arc<Shared>,
    options: Arc<FakeOptions>,
    conns: Arc<Conns>,
    /// The accept loop; `None` while stopped.
    server: Mutex<Option<JoinHandle<()>>>,
}

impl FakeRetake {
    /// Binds a free port on 127.0.0.1 and starts serving.
    pub async fn start(options: FakeOptions) -> io::Result<FakeRetake> {
        let shared = Arc::new(Shared {
            history: Mutex::new(History::new(options.history_capacity)),
            ..Shared::default()
        });
        let (layer, io) = SocketIo::builder()
            .ping_interval(options.ping_interval)
            .ping_timeout(options.ping_timeout)
            // socketioxide drops what does not fit its per-socket buffer (128 packets by
            // default); a fake used to flood a listener must never lose a message itself.
            .max_buffer_size(1 << 20)
            .build_layer();
        socket::register(&io, Arc::clone(&shared));
        let options = Arc::new(options);
        let conns = Arc::new(Conns::default());
        let gate = (Arc::clone(&shared), Arc::clone(&conns));
        let app = http::router(http::HttpState {
            shared: Arc::clone(&shared),
            options: Arc::clone(&options),
            io: io.clone(),
        })
        .layer(layer)
        // Added last, so it runs first: it sees Socket.IO requests before socketioxide does.
        .layer(axum::middleware::from_fn_with_state(
            gate,
            http::gate_socket,
        ));

        let listener = listener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let fake = FakeRetake {
            addr: listener.local_addr()?,
            io,
            app,
            shared,
            options,
            conns,
            server: Mutex::new(None),
        };
        fake.serve(listener);
        Ok(fake)
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let listener = KillableListener {
            inner: listener,
            conns: Arc::clone(&self.conns),
        };
        let app = self
            .app
            .clone()
            .into_make_service_with_connect_info::<ConnId>();
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "fake retake: server ended");
            }
        });
        if let Some(old) = lock(&self.server).replace(task) {
            old.abort();
        }
    }

    /// Let the public streamer lookup (`GET /api/v1/users/streamer/<name>`) find `username`
    /// as the streamer `id`.
    pub fn add_streamer(&self, username: &str, id: &str) {
        lock(&self.shared.streamers).push((username.to_owned(), id.to_owned()));
    }

    /// How many streamer lookups were answered.
    pub fn lookup_count(&self) -> usize {
        self.shared.lookups.load(Ordering::SeqCst)
    }

    /// The bound address; the same across [`restart`](Self::restart).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL, `http://127.0.0.1:PORT`, for both Socket.IO and the send endpoints.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// URL of the generation-1 send endpoint.
    pub fn v1_send_url(&self) -> String {
        format!("{}{}", self.url(), http::V1_SEND)
    }

    /// URL of the generation-2 send endpoint.
    pub fn v2_send_url(&self) -> String {
        format!("{}{}", self.url(), http::V2_SEND)
    }

    /// Emits `event` with `payload` to every socket in `room`; a room nobody joined is a no-op.
    /// A `message` is also kept in the room's history first, even while the fake is stopped
    /// or nobody listens, as the platform keeps what viewers say.
    pub async fn emit(&self, room: &str, event: &str, payload: Value) {
        if event == "message" {
            lock(&self.shared.history).append(room, payload.clone());
        }
        if let Err(e) = self.io.to(room.to_owned()).emit(event, &payload).await {
            tracing::warn!(room, event, error = %e, "fake retake: emit failed");
        }
    }

    /// Emits a generation-1 `message` from viewer `author` (see [`v1_message`]) into `room`.
    pub async fn emit_v1_message(&self, room: &str, id: &str, author: &str, text: &str) {
        self.emit(room, "message", v1_message(id, author, text))
            .await;
    }

    /// Emits a generation-2 `message` from `sender_user_id`/`sender_username` into `room`,
    /// with `streamer_id` set to `room` (see [`v2_message`]).
    pub async fn emit_v2_message(
        &self,
        room: &str,
        sender_user_id: &str,
        sender_username: &str,
        text: &str,
    ) {
        let payload = v2_message(room, sender_user_id, sender_username, text);
        self.emit(room, "message", payload).await;
    }

    /// The Socket.IO side down while the REST API is up (`on`), or back (`!on`). While on,
    /// every `/socket.io` request is answered 503, so neither polling nor a websocket upgrade
    /// connects, and switching on cuts the connections that carried Socket.IO without a
    /// goodbye; sends and history reads keep working, on their connections too.
    pub async fn refuse_socket(&self, on: bool) {
        self.shared.socket_refused.store(on, Ordering::SeqCst);
        if on {
            self.conns.kill_socketio();
            // A polling session has no connection of its own to cut: end it at the server so
            // `room_size` and `connections` show the outage at once.
            self.disconnect_all().await;
        }
    }

    /// Every POST to a send endpoint so far, in arrival order, failed ones included.
    pub fn sent(&self) -> Vec<SentRequest> {
        lock(&self.shared.sent).clone()
    }

    /// How many POSTs to a send endpoint so far (cheap: nothing is copied).
    pub fn sent_count(&self) -> usize {
        lock(&self.shared.sent).len()
    }

    /// The POSTs after the first `skip`, in arrival order.
    pub fn sent_since(&self, skip: usize) -> Vec<SentRequest> {
        lock(&self.shared.sent).iter().skip(skip).cloned().collect()
    }

    /// Live sockets in `room` now; a socket leaves every room when it disconnects.
    pub fn room_size(&self, room: &str) -> usize {
        self.io.within(room.to_owned()).sockets().len()
    }

    /// Live Socket.IO connections now, oldest first.
    pub fn connections(&self) -> Vec<Connection> {
        // Filtered by socketioxide's own list: a connection whose transport died before the
        // namespace accepted it was recorded but never gets a disconnect callback.
        // Not pruned here: a record is written just before socketioxide lists the socket.
        let live: HashSet<String> = self.io.sockets().iter().map(|s| s.id.to_string()).collect();
        lock(&self.shared.connections)
            .iter()
            .filter(|c| live.contains(&c.socket_id))
            .cloned()
            .collect()
    }

    /// Socket.IO connections ever accepted, across restarts.
    pub fn total_connections(&self) -> usize {
        self.shared.total_connections.load(Ordering::SeqCst)
    }

    /// How many `joinRoom` requests each room got, ever.
    pub fn joins(&self) -> HashMap<String, usize> {
        lock(&self.shared.joins).clone()
    }

    /// Queues forced responses, `(status, Retry-After value)`, served one per send request
    /// (either generation) before the fake goes back to 200. No echo for a forced failure;
    /// a forced 2xx still echoes.
    pub fn fail_next(&self, responses: impl IntoIterator<Item = (u16, Option<String>)>) {
        let scripted = responses.into_iter().map(|(status, retry_after)| Scripted {
            status,
            retry_after,
            location: None,
        });
        lock(&self.shared.failures).extend(scripted);
    }

    /// Answers the next send request with redirect `status` (301, 302, 303, 307, 308) to
    /// `location`, as a misconfigured proxy or a hijacked address would.
    pub fn redirect_next(&self, status: u16, location: &str) {
        lock(&self.shared.failures).push_back(Scripted {
            status,
            retry_after: None,
            location: Some(location.to_owned()),
        });
    }

    /// A slow platform: every send request from now on is recorded on arrival, then answered
    /// only after `delay` (zero: at once). A client that gives up earlier has still been seen.
    pub fn set_send_delay(&self, delay: Duration) {
        *lock(&self.shared.send_delay) = delay;
    }

    /// Whether the fake is accepting connections (between `start`/`restart` and `stop`).
    pub fn is_running(&self) -> bool {
        lock(&self.server).is_some()
    }

    /// Politely disconnects every socket with a Socket.IO DISCONNECT packet, as a server
    /// kicking its clients would; the HTTP side and the listener keep running.
    pub async fn disconnect_all(&self) {
        if let Err(e) = self.io.disconnect().await {
            tracing::debug!(error = %e, "fake retake: disconnect_all failed");
        }
    }

    /// Simulates an outage: closes the listener and cuts every open connection, websockets
    /// included, without a goodbye, so clients see the transport die. Idempotent.
    pub async fn stop(&self) {
        let task = lock(&self.server).take();
        if let Some(task) = task {
            task.abort();
            // Awaiting the aborted task is what guarantees the listening socket is closed.
            let _ = task.await;
        }
        self.conns.kill_all();
    }

    /// Ends an outage: stops if running, then listens again on the same port.
    pub async fn restart(&self) -> io::Result<()> {
        self.stop().await;
        let listener = listener::bind(self.addr).await?;
        self.serve(listener);
        Ok(())
    }
}

impl Drop for FakeRetake {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.server).take() {
            task.abort();
        }
        self.conns.kill_all();
    }
}

impl std::fmt::Debug for FakeRetake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeRetake")
            .field("addr", &self.addr)
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

/// Locks `mutex`, ignoring poisoning: every critical section here is a push, a pop or a clone,
/// so a panic elsewhere cannot leave the data half-updated.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
