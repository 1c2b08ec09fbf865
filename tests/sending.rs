//! Outbound politeness end to end: retries on 5xx and 429 (with Retry-After), none on other
//! 4xx, the rate limit, no identical text twice within 30 s, and long texts split.

use retake_chat::config::Config;

use crate::support::{Harness, Setup, expect};

/// Requests the fake answered with 2xx, as texts.
fn delivered(h: &Harness) -> Vec<String> {
    h.fake
        .sent()
        .iter()
        .filter(|r| r.status < 300)
        .map(|r| r.body["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_500s_then_success_deliver_once() {
    let h = Harness::start().await;
    h.fake.fail_next([(500, None), (500, None), (500, None)]);
    h.say("r1", "kim", "gm").await;
    h.wait_sent(4).await;
    h.say("r2", "kim", "ping").await;
    h.wait_sent(5).await;
    assert_eq!(delivered(&h), ["gm kim! ☀️", "pong! 🏓"]);
    let statuses: Vec<u16> = h.fake.sent().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 500, 500, 200, 200]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_429s_honour_retry_after_then_deliver_once() {
    let h = Harness::start().await;
    let wait = Some("1".to_string());
    h.fake
        .fail_next([(429, wait.clone()), (429, wait.clone()), (429, wait)]);
    h.say("r1", "lee", "gm").await;
    let sent = h.wait_sent(4).await;
    assert_eq!(delivered(&h), ["gm lee! ☀️"]);
    for pair in sent.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(
            gap.as_millis() >= 990,
            "Retry-After: 1 honoured, got {gap:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_is_not_retried_and_shows_in_health() {
    let h = Harness::start().await;
    h.fake.fail_next([(401, None)]);
    h.say("r1", "may", "gm").await;
    h.wait_sent(1).await;
    h.say("r2", "may", "ping").await;
    h.wait_sent(2).await;
    assert_eq!(
        delivered(&h),
        ["pong! 🏓"],
        "the 401'd reply was not retried"
    );
    expect("health shows the rejection", || {
        h.health()["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("401"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_budget_replies_are_dropped_but_questions_still_queued() {
    let limited = |config: &mut Config| {
        config.send.per_30s = 1;
        config.send.burst = 2;
    };
    let h = Harness::start_with(Setup {
        tweak: limited,
        ..Setup::default()
    })
    .await;
    h.say("b1", "a1", "gm").await;
    h.say("b2", "a2", "gm").await;
    h.say("b3", "a3", "gm").await;
    h.say("b4", "a4", "why is the sky blue?").await;
    expect("the question is queued", || h.queue().len() == 1).await;
    expect("the over-budget ones are counted", || {
        h.health()["counters"]["rateLimited"] == 2
    })
    .await;
    assert_eq!(delivered(&h), ["gm a1! ☀️", "gm a2! ☀️"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_text_is_not_sent_twice_within_30s() {
    let h = Harness::start().await;
    h.say("p1", "nia", "ping").await;
    h.say("p2", "oli", "ping").await;
    h.say("p3", "oli", "gm").await;
    h.wait_sent(2).await;
    assert_eq!(delivered(&h), ["pong! 🏓", "gm oli! ☀️"]);
    expect("the repeat is counted", || {
        h.health()["counters"]["repeatsSuppressed"] == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_replies_are_split_at_a_word() {
    let h = Harness::start_with(Setup {
        script: Some(
            r#"fn on_message(msg) { let s = ""; for i in 0..150 { s += "word "; } reply(s) }"#
                .to_string(),
        ),
        ..Setup::default()
    })
    .await;
    h.say("l1", "pat", "talk").await;
    h.wait_sent(2).await;
    let texts = delivered(&h);
    assert_eq!(texts.len(), 2);
    assert!(texts.iter().all(|t| t.chars().count() <= 500), "{texts:?}");
    assert_eq!(texts.concat().matches("word").count(), 150);
}
