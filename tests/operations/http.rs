//! `/healthz` and `/metrics` over real HTTP against a listener started with a metrics
//! address of 127.0.0.1:0; the bound address is read from health.json's `metricsAddr`.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};

use super::health_status;
use crate::support::{DEADLINE, Harness, Setup, expect};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_metrics_over_http() {
    let mut h = Harness::start_with(Setup {
        tweak: |c| c.metrics_addr = Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        ..Setup::default()
    })
    .await;
    // Port 0 lets the OS pick a free port with no race; the listener reports the one it got.
    expect("health names the metrics address", || {
        h.health()["metricsAddr"].is_string() && health_status(&h) == "connected"
    })
    .await;
    let addr = h.health()["metricsAddr"]
        .as_str()
        .expect("addr")
        .to_string();
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("http://{addr}{path}")).send();

    let body = healthz_until(&client, &addr, 200).await;
    assert_eq!(body, json!({"healthy": true, "reasons": []}));

    h.say("m1", "alice", "gm").await;
    h.wait_sent(1).await;
    expect("counted", || h.health()["counters"]["repliesSent"] == 1).await;
    let metrics = get("/metrics").await.expect("GET /metrics");
    assert_eq!(metrics.status(), 200);
    let kind = metrics.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .to_string();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    let text = metrics.text().await.expect("body");
    let samples = parse_exposition(&text);
    let counters = h.health()["counters"].clone();
    for (name, _) in counters.as_object().expect("counters") {
        let metric = format!("retake_chat_{}_total", snake_case(name));
        assert!(
            text.contains(&format!("# TYPE {metric} counter\n")),
            "{metric}: {text}"
        );
        assert!(
            samples.iter().any(|(n, _)| *n == metric),
            "{metric}: {text}"
        );
    }
    let value = |name: &str| samples.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    assert_eq!(value("retake_chat_messages_in_total"), Some(1.0), "{text}");
    assert_eq!(value("retake_chat_replies_sent_total"), Some(1.0), "{text}");
    assert_eq!(value("retake_chat_connected"), Some(1.0), "{text}");
    for gauge in [
        "up",
        "reconnects",
        "uptime_seconds",
        "queue_pending",
        "queue_leased",
    ] {
        assert!(
            value(&format!("retake_chat_{gauge}")).is_some(),
            "{gauge}: {text}"
        );
    }
    assert!(
        value("retake_chat_queue_oldest_age_seconds").is_some(),
        "{text}"
    );
    assert!(value("retake_chat_script_loaded_timestamp_seconds").unwrap_or(0.0) > 1e9);

    h.fake.stop().await;
    expect("health says disconnected", || {
        health_status(&h) == "disconnected"
    })
    .await;
    let body = healthz_until(&client, &addr, 503).await;
    assert_eq!(body["reasons"][0], "disconnected from the chat server");

    h.shutdown().await.expect("clean stop");
    assert!(
        get("/healthz").await.is_err(),
        "the endpoint closes on shutdown"
    );
}

/// GET /healthz until it answers `code`; its JSON body.
async fn healthz_until(client: &reqwest::Client, addr: &str, code: u16) -> Value {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let url = format!("http://{addr}/healthz");
        let response = client.get(url).send().await.expect("GET /healthz");
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("a JSON body");
        if status == code {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/healthz still answers {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every non-comment line is `name value`; every comment is `# HELP` or `# TYPE`.
fn parse_exposition(text: &str) -> Vec<(String, f64)> {
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(
                comment.starts_with("HELP retake_chat_")
                    || comment.starts_with("TYPE retake_chat_"),
                "{line}"
            );
            continue;
        }
        let (name, value) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("not a sample: {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
        samples.push((name.to_string(), value));
    }
    samples
}

fn snake_case(camel: &str) -> String {
    camel
        .chars()
        .flat_map(|c| match c.is_ascii_uppercase() {
            true => vec!['_', c.to_ascii_lowercase()],
            false => vec![c],
        })
        .collect()
}
