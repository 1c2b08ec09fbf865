//! The one Socket.IO connection to the chat: connect, join the room, forward raw payloads,
//! notice when the connection is lost, and reconnect forever with backoff and jitter.
//!
//! rust_socketio's own reconnect is turned off (it can loop, hang on a frozen server and spin
//! the CPU after a long outage); this loop owns reconnection instead, with a fresh client per
//! attempt, so there is never more than one socket. It owns liveness too ([`liveness`]): a
//! session ends on a close, an error, or a silence past the server's ping deadline, whatever
//! the library reports. Callbacks only forward into channels: they run inline in the task that
//! answers the server's pings. Normalizing is left to `event` and `live`. Besides the rooms it
//! is configured with, it joins the rooms learned while running (the live session's).

mod backoff;
mod inbound;
pub mod liveness;

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use rust_socketio::asynchronous::{Client, ClientBuilder};
use rust_socketio::{Event, Payload, TransportType};
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

pub use backoff::Backoff;
use liveness::{Activity, Loss};

use crate::decider::Inbound;
use crate::error_text::with_causes;
use crate::health::{Health, Status};

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// Socket.IO server address, e.g. `https://chat.retake.tv/`.
    pub url: String,
    /// The rooms to join on every connect: the streamer's user id (chat, tips, trades), and
    /// for the v2 API also `live_<id>` (tips, follows, going live) and, when the agent has a
    /// token, `trades_<token_address>` (its trades).
    pub rooms: Vec<String>,
    /// Rooms learned while running (v2: the live session's `<streamer_id>/<session_id>`,
    /// where pins come): joined as they change, and on every connect.
    pub learned_rooms: watch::Receiver<Vec<String>>,
    /// Give up one connection attempt after this long.
    pub connect_timeout: Duration,
    /// Delays between attempts.
    pub backoff: Backoff,
    /// Stop after this many consecutive failed attempts; `None` never gives up.
    pub max_reconnects: Option<u32>,
    /// The one other streamer's room this socket hears, whose `message`s are tagged with it
    /// (v1 names no room in its payloads, so each other room has a socket of its own); `None`
    /// for the own room's socket.
    pub tag: Option<Arc<str>>,
    /// TLS for `https://`/`wss://` when it is not the default (`SSL_CERT_FILE`).
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

/// Why the source stopped for good.
#[derive(Debug, thiserror::Error)]
#[error(
    "gave up connecting to {url} after {attempts} attempt{} (the first and {} reconnect{}): {last_error}",
    if *attempts == 1 { "" } else { "s" },
    attempts.saturating_sub(1),
    if *attempts == 2 { "" } else { "s" }
)]
pub struct GaveUp {
    url: String,
    attempts: u32,
    last_error: String,
}

/// Told when the socket has joined the room (`true`, called just before `joinRoom` is sent, so
/// nothing said after the join can be handled first) and when a joined session is lost
/// (`false`). Runs inline: it must only take a snapshot and send it on.
pub type LinkHook = Box<dyn Fn(bool) + Send + Sync>;

/// A session lasting this long counts as healthy: losing it starts a new outage, and the
/// backoff starts again from the bottom.
const HEALTHY_SESSION: Duration = Duration::from_secs(10);

/// Connect, join, forward every `message` payload to `raw_tx`, reconnect when the session ends;
/// return when `shutdown` turns true (or after `max_reconnects` consecutive failures).
pub async fn run(
    config: SourceConfig,
    raw_tx: mpsc::UnboundedSender<Inbound>,
    health: Arc<Health>,
    on_link: LinkHook,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), GaveUp> {
    let mut failures: u32 = 0;
    // Since when the chat has been out of reach (from the start: not reached yet).
    let mut outage_since = Instant::now();
    loop {
        let outcome = session(&config, &raw_tx, &health, &on_link, &mut shutdown).await;
        if *shutdown.borrow() {
            return Ok(());
        }
        let last_error = match outcome {
            Outcome::Lost { joined_for, loss } => {
                on_link(false);
                tracing::warn!(
                    cause = loss.cause().name(),
                    "lost the chat connection after {}: {loss}; reconnecting",
                    span(joined_for)
                );
                health.connection_lost(loss.cause(), format!("chat connection lost: {loss}"));
                if joined_for >= HEALTHY_SESSION {
                    failures = 0;
                    outage_since = Instant::now();
                }
                loss.to_string()
            }
            Outcome::Failed(why) => {
                tracing::warn!(attempt = failures + 1, "chat connection: {why}");
                health.set_status(Status::Disconnected);
                health.set_error(format!("chat connection: {why}"));
                why
            }
        };
        failures += 1;
        if let Some(max) = config.max_reconnects
            && failures > max
        {
            return Err(GaveUp {
                url: config.url.clone(),
                attempts: failures,
                last_error,
            });
        }
        let delay = config.backoff.delay(outage_since.elapsed());
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => return Ok(()),
        }
        health.reconnecting();
    }
}

/// How a session ended.
#[derive(Debug)]
enum Outcome {
    /// It never got as far as the room: the attempt failed, and why.
    Failed(String),
    /// It was in the room for `joined_for`, then the connection was lost.
    Lost { joined_for: Duration, loss: Loss },
}

/// What the socket's callbacks tell the session.
#[derive(Debug)]
enum Signal {
    /// The Socket.IO namespace is connected: the room can be joined now.
    Connected,
    /// The library reports an error; the fatal ones are followed by [`Signal::Ended`].
    Error(String),
    /// The connection is over, and why.
    Ended(Loss),
}

/// One connection from connect to its end. Once a client exists it is always disconnected
/// before returning, whatever ended the session (the server, a timeout, silence, shutdown):
/// a dropped client would keep its socket open in the background.
async fn session(
    config: &SourceConfig,
    raw_tx: &mpsc::UnboundedSender<Inbound>,
    health: &Health,
    on_link: &LinkHook,
    shutdown: &mut watch::Receiver<bool>,
) -> Outcome {
    let (signal_tx, mut signal_rx) = mpsc::unbounded_channel::<Signal>();
    let activity = Activity::default();
    let builder = client_builder(config, raw_tx.clone(), signal_tx, activity.clone());
    let connecting = tokio::time::timeout(config.connect_timeout, builder.connect());
    let client = tokio::select! {
        result = connecting => match result {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return Outcome::Failed(format!("cannot connect to {}: {}", config.url, with_causes(&e))),
            Err(_) => return Outcome::Failed(format!("cannot connect to {}: no answer within {:?}", config.url, config.connect_timeout)),
        },
        _ = shutdown.changed() => return Outcome::Failed("shutting down".to_string()),
    };
    let ended = tokio::select! {
        ended = serve(&client, config, &mut signal_rx, health, &activity, on_link) => ended,
        _ = shutdown.changed() => Outcome::Failed("shutting down".to_string()),
    };
    disconnect(&client).await;
    ended
}

/// Wait for the namespace to connect, join the room, then wait for the end: a close, or
/// nothing at all arriving within the server's ping deadline.
async fn serve(
    client: &Client,
    config: &SourceConfig,
    signal_rx: &mut mpsc::UnboundedReceiver<Signal>,
    health: &Health,
    activity: &Activity,
    on_link: &LinkHook,
) -> Outcome {
    let (ping_interval, ping_timeout) = client.ping_timing().await;
    let deadline = liveness::ping_deadline(ping_interval, ping_timeout);
    let url = &config.url;
    // `connect()` returns once the Engine.IO transport is open; the namespace CONNECT comes
    // after, and a joinRoom sent before it is silently dropped by the server.
    let connecting = tokio::time::timeout(config.connect_timeout, signal_rx.recv());
    let connected = tokio::select! {
        signal = connecting => signal,
        silence = activity.silent_for(deadline) => {
            return Outcome::Failed(format!("{url}: {}", Loss::PingTimeout(silence)));
        }
    };
    match connected {
        Ok(Some(Signal::Connected)) => {}
        Ok(Some(Signal::Error(why))) => return Outcome::Failed(format!("{url}: {why}")),
        Ok(Some(Signal::Ended(loss))) => return Outcome::Failed(format!("{url}: {loss}")),
        Ok(None) => return Outcome::Failed(format!("{url}: {}", Loss::ServerClosed)),
        Err(_) => {
            return Outcome::Failed(format!(
                "{url} opened but never connected the namespace within {:?}",
                config.connect_timeout
            ));
        }
    }
    on_link(true);
    let mut learned_rx = config.learned_rooms.clone();
    let mut learned = learned_rx.borrow_and_update().clone();
    for room in config.rooms.iter().chain(&learned) {
        if let Err(e) = join(client, room).await {
            on_link(false);
            return Outcome::Failed(e);
        }
    }
    // v1 has nothing to learn: its sender is gone, and `changed` would fail at once.
    let mut learning = learned_rx.has_changed().is_ok();
    tracing::info!(rooms = ?config.rooms, ?learned, "connected to {url} and joined the room");
    health.set_status(Status::Connected);
    let joined = Instant::now();
    let lost = |loss| Outcome::Lost {
        joined_for: joined.elapsed(),
        loss,
    };
    loop {
        tokio::select! {
            signal = signal_rx.recv() => match signal {
                Some(Signal::Connected) => continue,
                // Not fatal by itself (a packet the library could not parse); a fatal one
                // ends the transport, and that comes as `Ended`.
                Some(Signal::Error(why)) => tracing::debug!("chat connection: {why}"),
                // The library's own ping check fired: say how long it was silent.
                Some(Signal::Ended(Loss::PingTimeout(_))) => {
                    return lost(Loss::PingTimeout(activity.silence()));
                }
                Some(Signal::Ended(loss)) => return lost(loss),
                None => return lost(Loss::ServerClosed),
            },
            silence = activity.silent_for(deadline) => return lost(Loss::PingTimeout(silence)),
            changed = learned_rx.changed(), if learning => match changed {
                Ok(()) => {
                    let now = learned_rx.borrow_and_update().clone();
                    rejoin(client, &learned, &now).await;
                    learned = now;
                }
                Err(_) => learning = false,
            },
        }
    }
}

/// Leave the learned rooms that are gone and join the new ones. A failed emit means the
/// transport is failing, which the session notices by itself; the next connect joins again.
async fn rejoin(client: &Client, was: &[String], now: &[String]) {
    for room in was.iter().filter(|r| !now.contains(r)) {
        if let Err(e) = client.emit("leaveRoom", json!({ "roomId": room })).await {
            tracing::debug!(room, "cannot leave room: {}", with_causes(&e));
        }
    }
    for room in now.iter().filter(|r| !was.contains(r)) {
        match join(client, room).await {
            Ok(()) => tracing::debug!(room, "joined"),
            Err(e) => tracing::debug!(room, "{e}"),
        }
    }
}

/// Ask the server to put this socket in the streamer's room (done on every connect).
async fn join(client: &Client, room: &str) -> Result<(), String> {
    client
        .emit("joinRoom", json!({ "roomId": room }))
        .await
        .map_err(|e| format!("cannot join room: {}", with_causes(&e)))
}

/// Close the socket, without waiting on a server that no longer answers.
async fn disconnect(client: &Client) {
    if tokio::time::timeout(Duration::from_secs(1), client.disconnect())
        .await
        .is_err()
    {
        tracing::debug!("disconnect did not finish within 1s; dropping the socket");
    }
}

/// A client for one attempt: our query, websocket only, no library reconnect, and callbacks
/// that only forward. Every packet the transport delivers counts as `activity`.
fn client_builder(
    config: &SourceConfig,
    raw_tx: mpsc::UnboundedSender<Inbound>,
    signal_tx: mpsc::UnboundedSender<Signal>,
    activity: Activity,
) -> ClientBuilder {
    let (connect_tx, close_tx, error_tx) = (signal_tx.clone(), signal_tx.clone(), signal_tx);
    let tag = config.tag.clone();
    let mut builder = ClientBuilder::new(with_query(&config.url));
    if let Some(tls) = &config.tls {
        builder = builder.tls_config(tls.clone());
    }
    builder
        .transport_type(TransportType::Websocket)
        .reconnect(false)
        .on_transport_packet(move || activity.seen())
        // One handler for every event, so those nobody expects are counted too; with no
        // handler of its own an event's payload is moved here, not copied.
        .on_any(move |event, payload, _| {
            // Unbounded so a burst never blocks the ping task nor loses a message; the
            // personality thread drains it in microseconds per message.
            if let Some(inbound) = inbound::of(&event, payload, &tag) {
                let _ = raw_tx.send(inbound);
            }
            async {}.boxed()
        })
        .on(Event::Connect, move |_, _| {
            let _ = connect_tx.send(Signal::Connected);
            async {}.boxed()
        })
        .on(Event::Close, move |payload, _| {
            let _ = close_tx.send(Signal::Ended(Loss::from_close(&describe(&payload))));
            async {}.boxed()
        })
        .on(Event::Error, move |payload, _| {
            let _ = error_tx.send(Signal::Error(format!(
                "socket error: {}",
                describe(&payload)
            )));
            async {}.boxed()
        })
}

/// A duration as people say it in a log line: `850ms`, `12s`, `3m 20s`.
fn span(duration: Duration) -> String {
    match duration.as_secs() {
        0 => format!("{}ms", duration.as_millis()),
        s @ 1..60 => format!("{s}s"),
        s => format!("{}m {}s", s / 60, s % 60),
    }
}

/// The URL with the query the platform expects: a fresh `Client-ID` per connection and
/// `Client-Type=streamer`.
fn with_query(url: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{separator}Client-ID={}&Client-Type=streamer",
        uuid::Uuid::new_v4()
    )
}

fn describe(payload: &Payload) -> String {
    match payload {
        Payload::Text(values) => values
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), String::from))
            .collect::<Vec<_>>()
            .join(", "),
        #[allow(deprecated)]
        Payload::String(text) => text.clone(),
        Payload::Binary(_) => "binary payload".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_appended() {
        let url = with_query("http://127.0.0.1:1/");
        assert!(url.starts_with("http://127.0.0.1:1/?Client-ID="));
        assert!(url.ends_with("&Client-Type=streamer"));
        assert!(with_query("http://h/?a=1").contains("?a=1&Client-ID="));
    }

    #[test]
    fn spans_read_naturally() {
        assert_eq!(span(Duration::from_millis(850)), "850ms");
        assert_eq!(span(Duration::from_secs(12)), "12s");
        assert_eq!(span(Duration::from_secs(200)), "3m 20s");
    }
}
