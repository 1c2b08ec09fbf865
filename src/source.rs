//! The one Socket.IO connection to the chat: connect, join the room, forward raw payloads,
//! and reconnect forever with exponential backoff and jitter.
//!
//! rust_socketio's own reconnect is turned off (it can loop, hang on a frozen server and spin
//! the CPU after a long outage); this loop owns reconnection instead, with a fresh client per
//! attempt, so there is never more than one socket. Callbacks only forward into channels:
//! they run inline in the task that answers the server's pings. Normalizing is left to `event`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use rust_socketio::asynchronous::{Client, ClientBuilder};
use rust_socketio::{Event, Payload, TransportType};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use crate::error_text::with_causes;
use crate::health::{Health, Status};

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// Socket.IO server address, e.g. `https://chat.retake.tv/`.
    pub url: String,
    /// The rooms to join on every connect: the streamer's user id (chat, tips, trades), and
    /// for the v2 API also `live_<id>` (follows).
    pub rooms: Vec<String>,
    /// Give up one connection attempt after this long.
    pub connect_timeout: Duration,
    /// Delays between attempts.
    pub backoff: Backoff,
    /// Stop after this many consecutive failed attempts; `None` never gives up.
    pub max_reconnects: Option<u32>,
    /// TLS for `https://`/`wss://` when it is not the default (`SSL_CERT_FILE`).
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

/// Exponential backoff with full jitter between `initial` and `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Delay after the first failure.
    pub initial: Duration,
    /// Ceiling for the delay.
    pub max: Duration,
}

impl Backoff {
    /// The delay before attempt number `failures` (1 = after the first failure): the capped
    /// exponential step, with a random half of it taken off so many clients do not stampede.
    pub fn delay(&self, failures: u32) -> Duration {
        let step = self
            .initial
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
            .min(self.max);
        step.mul_f64(1.0 - rand::random::<f64>() * 0.5)
    }
}

/// A session lasting this long counts as healthy: the next failure starts backoff from the bottom.
const HEALTHY_SESSION: Duration = Duration::from_secs(10);

/// What the source hands to the personality stage.
#[derive(Debug)]
pub enum Inbound {
    /// The first argument of a `message` event, unparsed.
    Message(Value),
    /// The first argument of a `user_followed` event (v2's `live_<id>` room), unparsed.
    Follow(Value),
    /// Time passed: timers may be due (sent by the daemon every second).
    Tick,
    /// Nothing more will come: the listener is shutting down. (A socket task the library has
    /// not yet wound down may still hold a sender, so the channel closing cannot mean this.)
    End,
}

/// Why the source stopped for good.
#[derive(Debug, thiserror::Error)]
#[error(
    "gave up connecting to {url} after {attempts} attempt{}: {last_error}",
    if *attempts == 1 { "" } else { "s" }
)]
pub struct GaveUp {
    url: String,
    attempts: u32,
    last_error: String,
}

/// Connect, join, forward every `message` payload to `raw_tx`, reconnect when the session ends;
/// return when `shutdown` turns true (or after `max_reconnects` consecutive failures).
pub async fn run(
    config: SourceConfig,
    raw_tx: mpsc::UnboundedSender<Inbound>,
    health: Arc<Health>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), GaveUp> {
    let mut failures: u32 = 0;
    loop {
        let started = Instant::now();
        let outcome = session(&config, &raw_tx, &health, &mut shutdown).await;
        if *shutdown.borrow() {
            return Ok(());
        }
        health.set_status(Status::Disconnected);
        if started.elapsed() >= HEALTHY_SESSION {
            failures = 0;
        }
        failures += 1;
        tracing::warn!(attempt = failures, "chat connection: {outcome}");
        health.set_error(format!("chat connection: {outcome}"));
        if let Some(max) = config.max_reconnects
            && failures > max
        {
            return Err(GaveUp {
                url: config.url.clone(),
                attempts: failures,
                last_error: outcome,
            });
        }
        let delay = config.backoff.delay(failures);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => return Ok(()),
        }
        health.reconnecting();
    }
}

/// What the socket's callbacks tell the session.
#[derive(Debug)]
enum Signal {
    /// The Socket.IO namespace is connected: the room can be joined now.
    Connected,
    /// The connection is over, and why.
    Ended(String),
}

/// One connection from connect to its end; returns why it ended. Once a client exists it
/// is always disconnected before returning, whatever ended the session (the server, a
/// timeout, shutdown): a dropped client would keep its socket open in the background.
async fn session(
    config: &SourceConfig,
    raw_tx: &mpsc::UnboundedSender<Inbound>,
    health: &Health,
    shutdown: &mut watch::Receiver<bool>,
) -> String {
    let (signal_tx, mut signal_rx) = mpsc::unbounded_channel::<Signal>();
    let builder = client_builder(config, raw_tx.clone(), signal_tx);
    let connecting = tokio::time::timeout(config.connect_timeout, builder.connect());
    let client = tokio::select! {
        result = connecting => match result {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return format!("cannot connect to {}: {}", config.url, with_causes(&e)),
            Err(_) => return format!("cannot connect to {}: no answer within {:?}", config.url, config.connect_timeout),
        },
        _ = shutdown.changed() => return "shutting down".to_string(),
    };
    let ended = tokio::select! {
        ended = serve(&client, config, &mut signal_rx, health) => ended,
        _ = shutdown.changed() => "shutting down".to_string(),
    };
    disconnect(&client).await;
    ended
}

/// Wait for the namespace to connect, join the room, then wait for the end.
async fn serve(
    client: &Client,
    config: &SourceConfig,
    signal_rx: &mut mpsc::UnboundedReceiver<Signal>,
    health: &Health,
) -> String {
    // `connect()` returns once the Engine.IO transport is open; the namespace CONNECT comes
    // after, and a joinRoom sent before it is silently dropped by the server.
    match tokio::time::timeout(config.connect_timeout, signal_rx.recv()).await {
        Ok(Some(Signal::Connected)) => {}
        Ok(Some(Signal::Ended(why))) => return why,
        Ok(None) => return "connection closed".to_string(),
        Err(_) => return format!("{} opened but never connected the namespace", config.url),
    }
    for room in &config.rooms {
        if let Err(e) = join(client, room).await {
            return e;
        }
    }
    tracing::info!(rooms = ?config.rooms, "connected to {} and joined the room", config.url);
    health.set_status(Status::Connected);
    loop {
        match signal_rx.recv().await {
            Some(Signal::Connected) => continue,
            Some(Signal::Ended(why)) => return why,
            None => return "connection closed".to_string(),
        }
    }
}

/// Ask the server to put this socket in the streamer's room (done on every connect).
async fn join(client: &Client, room: &str) -> Result<(), String> {
    client
        .emit("joinRoom", json!({ "roomId": room }))
        .await
        .map_err(|e| format!("cannot join room: {e}"))
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
/// that only forward.
fn client_builder(
    config: &SourceConfig,
    raw_tx: mpsc::UnboundedSender<Inbound>,
    signal_tx: mpsc::UnboundedSender<Signal>,
) -> ClientBuilder {
    let (connect_tx, close_tx, error_tx) = (signal_tx.clone(), signal_tx.clone(), signal_tx);
    let message_tx = raw_tx.clone();
    let mut builder = ClientBuilder::new(with_query(&config.url));
    if let Some(tls) = &config.tls {
        builder = builder.tls_config(tls.clone());
    }
    builder
        .transport_type(TransportType::Websocket)
        .reconnect(false)
        .on(Event::Message, move |payload, _| {
            // Unbounded so a burst never blocks the ping task nor loses a message; the
            // personality thread drains it in microseconds per message.
            let _ = message_tx.send(Inbound::Message(first_value(payload)));
            async {}.boxed()
        })
        .on("user_followed", move |payload, _| {
            let _ = raw_tx.send(Inbound::Follow(first_value(payload)));
            async {}.boxed()
        })
        .on(Event::Connect, move |_, _| {
            let _ = connect_tx.send(Signal::Connected);
            async {}.boxed()
        })
        .on(Event::Close, move |_, _| {
            let _ = close_tx.send(Signal::Ended(
                "the server closed the connection".to_string(),
            ));
            async {}.boxed()
        })
        .on(Event::Error, move |payload, _| {
            let _ = error_tx.send(Signal::Ended(format!(
                "socket error: {}",
                describe(&payload)
            )));
            async {}.boxed()
        })
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

/// The first argument of an event; anything else is passed on as `null` (and counted malformed).
fn first_value(payload: Payload) -> Value {
    match payload {
        Payload::Text(mut values) if !values.is_empty() => values.swap_remove(0),
        #[allow(deprecated)]
        Payload::String(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        _ => Value::Null,
    }
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
    fn backoff_grows_to_the_cap_with_jitter() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
        };
        for _ in 0..100 {
            let first = backoff.delay(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let fourth = backoff.delay(4);
            assert!(fourth >= Duration::from_millis(400) && fourth <= Duration::from_millis(800));
            let late = backoff.delay(1000);
            assert!(late >= Duration::from_secs(5) && late <= Duration::from_secs(10));
        }
    }

    #[test]
    fn query_is_appended() {
        let url = with_query("http://127.0.0.1:1/");
        assert!(url.starts_with("http://127.0.0.1:1/?Client-ID="));
        assert!(url.ends_with("&Client-Type=streamer"));
        assert!(with_query("http://h/?a=1").contains("?a=1&Client-ID="));
    }
}
