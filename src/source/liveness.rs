//! Whether the connection is alive, decided here rather than by the Socket.IO library: why a
//! connection ends ([`Loss`]), and a watchdog ([`Activity`]) that ends it when nothing at all
//! has arrived for longer than the server's ping deadline.
//!
//! The library once kept reporting "connected" for a websocket the server had closed (vendored
//! rust_socketio, PATCHED.md). The watchdog is the backstop against any bug of that kind: the
//! server pings every `pingInterval` and a live connection is never silent for longer than
//! `pingInterval + pingTimeout`, whatever the library believes.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::health::Cause;

/// Allowance beyond the server's own deadline: a ping is late, not lost, for this long.
const MARGIN: Duration = Duration::from_secs(1);

/// Why an established connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loss {
    /// A websocket close frame, an Engine.IO close packet or EOF: the server (or something
    /// between) closed the connection, as every restart of the chat service does.
    ServerClosed,
    /// The server disconnected our Socket.IO namespace (a kick).
    Kicked,
    /// Nothing arrived, not even a ping, for this long.
    PingTimeout(Duration),
    /// The transport failed: a reset, a read or write error, a protocol error.
    TransportError(String),
}

impl Loss {
    /// The cause as health counts it (health.json's `disconnects`, `/metrics`' `cause`).
    pub fn cause(&self) -> Cause {
        match self {
            Loss::ServerClosed => Cause::ServerClosed,
            Loss::Kicked => Cause::Kicked,
            Loss::PingTimeout(_) => Cause::PingTimeout,
            Loss::TransportError(_) => Cause::TransportError,
        }
    }

    /// What the library's Close event said, in our terms: nothing for a server Disconnect
    /// packet, `transport closed` for a clean end of the transport, else the error that ended it.
    pub(super) fn from_close(reason: &str) -> Self {
        match reason {
            "" => Loss::Kicked,
            "transport closed" => Loss::ServerClosed,
            // Engine.IO's own ping check (rust_engineio `Error::PingTimeout`) got there first.
            text if text.contains("did not send a PING packet in time") => {
                Loss::PingTimeout(Duration::ZERO)
            }
            text => Loss::TransportError(text.to_string()),
        }
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loss::ServerClosed => f.write_str("the server closed the connection"),
            Loss::Kicked => f.write_str("the server disconnected us"),
            Loss::PingTimeout(silent) if silent.is_zero() => {
                f.write_str("no ping from the server within its ping timeout")
            }
            Loss::PingTimeout(silent) if silent.as_secs() < 10 => {
                write!(f, "no ping for {:.1}s", silent.as_secs_f64())
            }
            Loss::PingTimeout(silent) => write!(f, "no ping for {}s", silent.as_secs()),
            Loss::TransportError(error) => write!(f, "connection error: {error}"),
        }
    }
}

/// When something last arrived on the connection. Cloned into the library's per-packet hook
/// (which runs in the task reading the socket, so it only stores a number).
#[derive(Debug, Clone)]
pub struct Activity {
    base: Instant,
    /// Milliseconds after `base` of the last packet.
    last_ms: Arc<AtomicU64>,
}

impl Default for Activity {
    /// Activity as of now (a connection that just opened counts as live).
    fn default() -> Self {
        Self {
            base: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Activity {
    /// Something arrived.
    pub fn seen(&self) {
        let ms = self
            .base
            .elapsed()
            .as_millis()
            .try_into()
            .unwrap_or(u64::MAX);
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// How long since something last arrived.
    pub fn silence(&self) -> Duration {
        let last = self.base + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        Instant::now().saturating_duration_since(last)
    }

    /// Completes, with the length of the silence, once nothing has arrived for `deadline`.
    pub async fn silent_for(&self, deadline: Duration) -> Duration {
        loop {
            let silence = self.silence();
            if silence >= deadline {
                return silence;
            }
            tokio::time::sleep(deadline - silence).await;
        }
    }
}

/// How long a live connection can be silent: the server's ping interval and timeout from its
/// Engine.IO handshake, plus a margin.
pub fn ping_deadline(ping_interval: Duration, ping_timeout: Duration) -> Duration {
    ping_interval + ping_timeout + MARGIN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_fires_only_after_a_whole_deadline_of_silence() {
        let activity = Activity::default();
        let deadline = ping_deadline(Duration::from_secs(25), Duration::from_secs(20));
        assert_eq!(deadline, Duration::from_secs(46));
        let watchdog = activity.silent_for(deadline);
        tokio::pin!(watchdog);
        // Every packet pushes the deadline back: a ping every 25 s keeps it quiet forever.
        for _ in 0..10 {
            tokio::select! {
                _ = &mut watchdog => panic!("fired on a live connection"),
                _ = tokio::time::sleep(Duration::from_secs(25)) => activity.seen(),
            }
        }
        let started = Instant::now();
        let silent = (&mut watchdog).await;
        assert_eq!(started.elapsed(), deadline);
        assert_eq!(silent, deadline);
        assert_eq!(
            Loss::PingTimeout(silent).to_string(),
            "no ping for 46s",
            "the log line names the silence"
        );
    }

    #[test]
    fn a_short_silence_is_said_in_tenths() {
        let short = Loss::PingTimeout(Duration::from_millis(1640));
        assert_eq!(short.to_string(), "no ping for 1.6s");
    }

    #[test]
    fn the_library_close_reason_becomes_a_cause() {
        assert_eq!(Loss::from_close(""), Loss::Kicked);
        assert_eq!(Loss::from_close("transport closed"), Loss::ServerClosed);
        let timeout = "EngineIO Error: The server did not send a PING packet in time";
        assert_eq!(Loss::from_close(timeout).cause(), Cause::PingTimeout);
        let reset = "EngineIO Error: Error with websocket connection: IO error: Connection reset by peer (os error 104)";
        assert_eq!(
            Loss::from_close(reset),
            Loss::TransportError(reset.to_string())
        );
        assert_eq!(
            Loss::from_close(reset).to_string(),
            format!("connection error: {reset}")
        );
    }
}
