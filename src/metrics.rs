//! The optional HTTP endpoint (`--metrics-addr`): `/healthz` answers 200 or 503 with the same
//! [`verdict`] as `retake-chat status`, `/metrics` the counters and gauges in Prometheus' text
//! format.
//!
//! Both are rendered from the live [`Health`] snapshot (the same JSON health.json holds) and,
//! for the queue gauges, a fresh read of the queue file. It binds exactly the address given;
//! the daemon owns the task and its shutdown.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::act::queue::{Queue, QueueStats};
use crate::health::{Health, now_ms, verdict};

/// Prometheus' text exposition format, version 0.0.4.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the handlers read.
#[derive(Debug)]
struct Sources {
    health: Arc<Health>,
    queue: Queue,
}

/// Listen on `addr` (port 0 picks a free one); warns when other machines can reach it.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for --metrics-addr on {addr}"))?;
    let bound = listener.local_addr().unwrap_or(addr);
    if addr.ip().is_loopback() {
        tracing::info!("metrics: http://{bound}/metrics and /healthz");
    } else {
        tracing::warn!(
            "metrics: http://{bound}/metrics is reachable from other machines (message counts, script path); use 127.0.0.1 unless that is intended"
        );
    }
    Ok(listener)
}

/// Serve `/healthz` and `/metrics` on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    health: Arc<Health>,
    queue: Queue,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(Arc::new(Sources { health, queue }));
    let stop = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::warn!("metrics endpoint stopped: {e}");
    }
}

/// The live snapshot as health.json would hold it now, except that `updatedAt` is when the
/// file was last written: a stuck writer (a full disk) makes `/healthz` fail as `status` would.
fn snapshot(health: &Health) -> Value {
    let mut snapshot = serde_json::from_str(&health.to_json()).unwrap_or(Value::Null);
    if let Some(at) = health.written_at() {
        snapshot["updatedAt"] = at.into();
    }
    snapshot
}

async fn healthz(State(sources): State<Arc<Sources>>) -> Response {
    let verdict = verdict(&snapshot(&sources.health), now_ms());
    let code = if verdict.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(verdict)).into_response()
}

async fn metrics(State(sources): State<Arc<Sources>>) -> Response {
    let now = now_ms();
    let snapshot = snapshot(&sources.health);
    let queue = sources.queue.clone();
    // The file is read off the async threads; the last numbers the listener saw stand in if
    // it cannot be read.
    let stats = match tokio::task::spawn_blocking(move || queue.stats(now)).await {
        Ok(Ok(stats)) => stats,
        _ => crate::health::queue_stats(&snapshot),
    };
    let body = render(&snapshot, &stats, now);
    ([(header::CONTENT_TYPE, TEXT_FORMAT)], body).into_response()
}

/// The exposition: every health counter as `retake_chat_<name>_total`, then the gauges.
pub fn render(snapshot: &Value, queue: &QueueStats, now: i64) -> String {
    let mut out = String::new();
    if let Some(counters) = snapshot["counters"].as_object() {
        for (name, value) in counters {
            let metric = format!("retake_chat_{}_total", snake_case(name));
            let _ = writeln!(out, "# HELP {metric} {}", counter_help(name));
            let _ = writeln!(out, "# TYPE {metric} counter");
            let _ = writeln!(out, "{metric} {}", value.as_u64().unwrap_or(0));
        }
    }
    if let Some(causes) = snapshot["disconnects"].as_object() {
        let metric = "retake_chat_disconnects_total";
        let _ = writeln!(
            out,
            "# HELP {metric} Established chat connections lost, by cause."
        );
        let _ = writeln!(out, "# TYPE {metric} counter");
        for (cause, value) in causes {
            let (cause, value) = (snake_case(cause), value.as_u64().unwrap_or(0));
            let _ = writeln!(out, "{metric}{{cause=\"{cause}\"}} {value}");
        }
    }
    let seconds = |ms: i64| ms as f64 / 1000.0;
    let connected = snapshot["status"] == "connected";
    let healthy = verdict(snapshot, now).healthy;
    let oldest_age = queue
        .oldest_queued
        .map_or(0.0, |t| seconds(now - t).max(0.0));
    let mut gauges = vec![
        ("up", "1 while the listener runs.", 1.0),
        (
            "healthy",
            "1 when /healthz answers 200.",
            f64::from(u8::from(healthy)),
        ),
        (
            "connected",
            "1 while connected and joined to the room.",
            f64::from(u8::from(connected)),
        ),
        (
            "reconnects",
            "Connection attempts after the first.",
            snapshot["reconnects"].as_f64().unwrap_or(0.0),
        ),
        (
            "uptime_seconds",
            "Seconds since the listener started.",
            snapshot["uptime"].as_f64().unwrap_or(0.0) / 1000.0,
        ),
        (
            "queue_pending",
            "Queued messages waiting for the agent.",
            queue.pending as f64,
        ),
        (
            "queue_leased",
            "Queued messages taken by the agent, not yet acknowledged.",
            queue.leased as f64,
        ),
        (
            "queue_oldest_age_seconds",
            "How long the oldest pending message has waited (0: none).",
            oldest_age,
        ),
    ];
    if let Some(at) = snapshot["script"]["loadedAt"].as_i64() {
        gauges.push((
            "script_loaded_timestamp_seconds",
            "When the running personality was loaded, Unix time.",
            seconds(at),
        ));
    }
    if let Some(at) = snapshot["lastMessage"].as_i64() {
        gauges.push((
            "last_message_timestamp_seconds",
            "When the last viewer message arrived, Unix time.",
            seconds(at),
        ));
    }
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP retake_chat_{name} {help}");
        let _ = writeln!(out, "# TYPE retake_chat_{name} gauge");
        let _ = writeln!(out, "retake_chat_{name} {value}");
    }
    out
}

/// `messagesIn` → `messages_in`.
fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            out.push('_');
        }
    }
    out
}

/// HELP text of a health.json counter (a new counter still gets one).
fn counter_help(name: &str) -> String {
    let known = match name {
        "eventsIn" => "Raw message payloads received from the socket.",
        "messagesIn" => "Viewer messages handed to the personality.",
        "repliesSent" => "Instant replies delivered.",
        "acksSent" => "Acknowledgements delivered.",
        "queued" => "Messages written to the queue for the agent.",
        "ignored" => "Messages the personality chose to ignore.",
        "moderation" => "Moderation events skipped.",
        "own" => "The agent's own echoed messages skipped.",
        "duplicates" => "Repeated message ids skipped.",
        "malformed" => "Payloads of an unknown shape skipped.",
        "unknownEvents" => "Socket.IO events nobody handles, counted and skipped.",
        "tipDuplicates" => "Second copies of a tip (chat message and tip_received) dropped.",
        "scriptErrors" => "Personality calls that failed, overran a budget or returned nonsense.",
        "sendErrors" => "HTTP send attempts that failed (each retry counts).",
        "sendDropped" => "Replies and acknowledgements that never reached the chat.",
        "rateLimited" => "Replies not sent because the send budget was spent.",
        "blocked" => "Texts not sent because they held a secret or matched [send] block.",
        "wakes" => "Agent wakes started.",
        "wakeFailures" => "Agent wakes that failed or timed out.",
        "decisionsDropped" => "Decision-log records dropped because the writer fell behind.",
        "transcriptDropped" => "Transcript lines dropped because the writer fell behind.",
        "shed" => {
            "Instant texts dropped, oldest first, because too many were waiting to be posted."
        }
        "unscripted" => {
            "Messages queued without the personality because too many were waiting for it."
        }
        "repliesDropped" => "Replies and timer lines that never reached the chat.",
        "repliesUnknown" => {
            "Replies and timer lines posted without an answer in time: maybe in the chat."
        }
        "acksDropped" => "Acknowledgements that never reached the chat.",
        "acksUnknown" => "Acknowledgements posted without an answer in time: maybe in the chat.",
        "archived" => "Messages kept out of the full queue, written to its archive.",
        "queueErrors" => "Queue writes that failed (the messages are kept and retried).",
        "scriptLogSuppressed" => {
            "Script log lines dropped over the log budget (10 a call, 60 a minute)."
        }
        _ => return format!("The {name} counter of health.json."),
    };
    known.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_become_snake_case_totals() {
        assert_eq!(snake_case("messagesIn"), "messages_in");
        let snapshot = serde_json::json!({
            "status": "connected", "reconnects": 2, "uptime": 1500,
            "updatedAt": 1000, "writeIntervalMs": 1000,
            "counters": {"messagesIn": 3, "sendErrors": 1},
            "disconnects": {"serverClosed": 2, "pingTimeout": 1},
            "script": {"loadedAt": 500},
        });
        let text = render(&snapshot, &QueueStats::default(), 1000);
        assert!(
            text.contains(
                "# TYPE retake_chat_messages_in_total counter\nretake_chat_messages_in_total 3\n"
            ),
            "{text}"
        );
        assert!(text.contains("retake_chat_send_errors_total 1\n"), "{text}");
        assert!(
            text.contains("retake_chat_disconnects_total{cause=\"server_closed\"} 2\n")
                && text.contains("retake_chat_disconnects_total{cause=\"ping_timeout\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("retake_chat_connected 1\n"), "{text}");
        assert!(text.contains("retake_chat_uptime_seconds 1.5\n"), "{text}");
        assert!(
            text.contains("retake_chat_script_loaded_timestamp_seconds 0.5\n"),
            "{text}"
        );
    }
}
