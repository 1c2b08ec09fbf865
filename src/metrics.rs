//! The optional HTTP endpoint (`--metrics-addr`): `/healthz` answers 200 or 503 with the same
//! [`verdict`] as `retake-chat status`, `/metrics` the counters and gauges in Prometheus' text
//! format.
//!
//! Both are rendered from the live [`Health`]'s typed [`Snapshot`] (what health.json holds)
//! and, for the queue gauges, a fresh read of the queue file. Each counter's HELP is its doc
//! in health's one table of counters ([`Counters::each`]). It binds exactly the address given;
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
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::act::queue::Queue;
use crate::health::{Cause, Counters, Disconnects, Health, QueueStats, Snapshot, Status, verdict};
use crate::time::now_ms;

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
fn snapshot(health: &Health) -> Snapshot {
    let mut snapshot = health.snapshot();
    if let Some(at) = health.written_at() {
        snapshot.updated_at = Some(at);
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
        _ => snapshot.queue,
    };
    let body = render(&snapshot, &stats, now);
    ([(header::CONTENT_TYPE, TEXT_FORMAT)], body).into_response()
}

/// The exposition: every health counter as `retake_chat_<name>_total`, the disconnects by
/// cause, then the gauges.
pub fn render(snapshot: &Snapshot, queue: &QueueStats, now: i64) -> String {
    let mut out = String::new();
    counters(&mut out, &snapshot.counters);
    disconnects(&mut out, &snapshot.disconnects);
    for (name, help, value) in gauges(snapshot, queue, now) {
        let metric = format!("retake_chat_{name}");
        family(&mut out, &metric, help, "gauge");
        let _ = writeln!(out, "{metric} {value}");
    }
    out
}

/// The `# HELP` and `# TYPE` lines of a metric.
fn family(out: &mut String, metric: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {metric} {help}");
    let _ = writeln!(out, "# TYPE {metric} {kind}");
}

fn counters(out: &mut String, counters: &Counters) {
    for (name, help, value) in counters.each() {
        let metric = format!("retake_chat_{name}_total");
        family(out, &metric, help, "counter");
        let _ = writeln!(out, "{metric} {value}");
    }
}

fn disconnects(out: &mut String, disconnects: &Disconnects) {
    let metric = "retake_chat_disconnects_total";
    family(out, metric, Disconnects::HELP, "counter");
    for cause in Cause::ALL {
        let (label, value) = (cause.label(), disconnects.get(cause));
        let _ = writeln!(out, "{metric}{{cause=\"{label}\"}} {value}");
    }
}

/// Every gauge as (name after `retake_chat_`, HELP, value); the timestamps only when known.
fn gauges(
    snapshot: &Snapshot,
    queue: &QueueStats,
    now: i64,
) -> Vec<(&'static str, &'static str, f64)> {
    let seconds = |ms: i64| ms as f64 / 1000.0;
    let flag = |on: bool| f64::from(u8::from(on));
    let connected = snapshot.status.known() == Some(Status::Connected);
    let healthy = verdict(snapshot, now).healthy;
    let oldest_age = queue
        .oldest_queued
        .map_or(0.0, |t| seconds(now - t).max(0.0));
    let mut gauges = vec![
        ("up", "1 while the listener runs.", 1.0),
        ("healthy", "1 when /healthz answers 200.", flag(healthy)),
        (
            "connected",
            "1 while connected and joined to the room.",
            flag(connected),
        ),
        (
            "reconnects",
            "Connection attempts after the first.",
            snapshot.reconnects as f64,
        ),
        (
            "uptime_seconds",
            "Seconds since the listener started.",
            snapshot.uptime as f64 / 1000.0,
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
    if let Some(at) = snapshot.script.loaded_at {
        gauges.push((
            "script_loaded_timestamp_seconds",
            "When the running personality was loaded, Unix time.",
            seconds(at),
        ));
    }
    if let Some(at) = snapshot.last_message {
        gauges.push((
            "last_message_timestamp_seconds",
            "When the last viewer message arrived, Unix time.",
            seconds(at),
        ));
    }
    gauges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_become_snake_case_totals() {
        let snapshot: Snapshot = serde_json::from_value(serde_json::json!({
            "status": "connected", "reconnects": 2, "uptime": 1500,
            "updatedAt": 1000, "writeIntervalMs": 1000,
            "counters": {"messagesIn": 3, "sendErrors": 1},
            "disconnects": {"serverClosed": 2, "pingTimeout": 1},
            "script": {"loadedAt": 500},
        }))
        .expect("a snapshot");
        let text = render(&snapshot, &QueueStats::default(), 1000);
        assert!(
            text.contains(
                "# TYPE retake_chat_messages_in_total counter\nretake_chat_messages_in_total 3\n"
            ),
            "{text}"
        );
        assert!(text.contains("retake_chat_send_errors_total 1\n"), "{text}");
        // The HELP is the counter's doc in health's table.
        assert!(
            text.contains(
                "# HELP retake_chat_messages_in_total Viewer messages handed to the personality.\n"
            ),
            "{text}"
        );
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
