//! Dead air through the daemon: `on_quiet` speaks once the own room has been quiet for
//! `[script] quiet_after_secs` (1 s here), once per quiet stretch, again only after a viewer
//! line; the bot's own lines (echoed back by the fake) never count as chat; 0 turns it off;
//! a failing `on_quiet` is reported and the listener carries on; its lines use the timers'
//! share of the send budget. The script runs on a simulated clock that the tests move, so a
//! quiet stretch takes a tick, not its length; one test runs on the system clock.

use std::time::Duration;

use retake_chat::config::Config;

use crate::support::{Harness, SIM_TICK, Setup, expect, wait_until};

/// Answers `gm`; fills dead air with a numbered line (numbered: the same text twice within
/// 30 s would not be sent).
const LIVELY: &str = r#"
fn on_message(msg) {
    if msg.lower == "gm" { return reply(`gm ${msg.author}!`); }
    ignore()
}
fn on_quiet(ev) {
    let n = (recall("n") ?? 0) + 1;
    remember("n", n);
    `dead air ${n} after ${ev.quiet_secs} s`
}
"#;

/// Ticks enough for a wrongly re-armed quiet clock to fire, once the clock has been moved
/// past any period.
const STAYS_QUIET: Duration = Duration::from_millis(SIM_TICK.as_millis() as u64 * 15);

fn quiet_after_1s(config: &mut Config) {
    config.script_limits.quiet_after = Duration::from_secs(1);
}

async fn start(script: &str, tweak: fn(&mut Config)) -> Harness {
    Harness::start_with(Setup {
        script: Some(script.to_string()),
        tweak,
        sim_clock: true,
        ..Setup::default()
    })
    .await
}

/// The bot's own messages dropped so far (its echoes from the fake).
fn own(h: &Harness) -> u64 {
    h.health()["counters"]["own"].as_u64().unwrap_or(0)
}

/// The script's clock moved on a second at a time until `done` holds: the quiet clock starts
/// at the first tick after the join, which the test cannot see, so one step may be too early.
async fn quiet_until(h: &Harness, mut done: impl FnMut() -> bool) {
    for _ in 0..5 {
        h.advance(Duration::from_secs(1));
        if wait_until(STAYS_QUIET, &mut done).await {
            return;
        }
    }
    panic!("nothing came of five quiet seconds: {:?}", h.sent_texts());
}

/// Nothing more is sent than the `n` messages there are now, however long the room stays
/// quiet: the clock jumps an hour, then [`STAYS_QUIET`] of ticks pass.
async fn no_more_than(h: &Harness, n: usize) {
    h.advance(Duration::from_secs(3600));
    let fake = &h.fake;
    let more = wait_until(STAYS_QUIET, || fake.sent().len() > n).await;
    assert!(!more, "said again while still quiet: {:?}", h.sent_texts());
}

/// On the system clock and a quick tick: a second of real quiet, then one line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_quiet_speaks_after_the_period_on_the_system_clock() {
    let h = Harness::start_with(Setup {
        script: Some(LIVELY.to_string()),
        tweak: quiet_after_1s,
        tick: Some(SIM_TICK),
        ..Setup::default()
    })
    .await;
    h.wait_sent(1).await;
    let first = &h.sent_texts()[0];
    let secs: u64 = first
        .strip_prefix("dead air 1 after ")
        .and_then(|rest| rest.strip_suffix(" s"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected line {first:?}"));
    assert!((1..=3).contains(&secs), "quiet_secs {secs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_quiet_speaks_once_after_the_period_and_not_again_while_quiet() {
    let h = start(LIVELY, quiet_after_1s).await;
    // Nobody has said anything since the join: one line after the period.
    let fake = &h.fake;
    quiet_until(&h, || !fake.sent().is_empty()).await;
    let first = &h.sent_texts()[0];
    assert!(
        ["dead air 1 after 1 s", "dead air 1 after 2 s"].contains(&first.as_str()),
        "unexpected line {first:?}"
    );
    // Its echo came back and was dropped as the bot's own: it did not start a new stretch.
    expect("the echo of the bot's line", || own(&h) >= 1).await;
    no_more_than(&h, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_line_starts_a_new_quiet_period_and_the_bots_replies_do_not() {
    let h = start(LIVELY, quiet_after_1s).await;
    let fake = &h.fake;
    quiet_until(&h, || !fake.sent().is_empty()).await;
    h.say("m1", "ann", "gm").await;
    h.wait_sent(2).await;
    // A new stretch from ann's line: a second of it is a period.
    h.advance(Duration::from_secs(1));
    h.wait_sent(3).await;
    let texts = h.sent_texts();
    assert_eq!(texts[1..], ["gm ann!", "dead air 2 after 1 s"], "{texts:?}");
    // The reply to ann and both dead-air lines echoed back: none of them is chat.
    expect("the echoes of the bot's lines", || own(&h) >= 3).await;
    no_more_than(&h, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_after_secs_zero_turns_dead_air_off() {
    let script = format!("{LIVELY}\nfn on_start() {{ \"hello\" }}\n");
    let h = start(&script, |config| {
        config.script_limits.quiet_after = Duration::from_secs(0)
    })
    .await;
    h.wait_sent(1).await;
    no_more_than(&h, 1).await;
    assert_eq!(h.sent_texts(), ["hello"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_on_quiet_is_reported_and_the_listener_carries_on() {
    let script = r#"
fn on_message(msg) { reply(`gm ${msg.author}!`) }
fn on_quiet(ev) {
    throw `no words after ${ev.quiet_secs} s`;
}
"#;
    let h = start(script, quiet_after_1s).await;
    let failed = |n: u64| {
        let health = h.health();
        health["counters"]["scriptErrors"] == n
            && health["lastError"]
                .as_str()
                .is_some_and(|e| e.contains("personality.rhai:4:") && e.contains("no words"))
    };
    quiet_until(&h, || failed(1)).await;
    h.say("m1", "bo", "gm").await;
    h.wait_sent(1).await;
    assert_eq!(h.sent_texts(), ["gm bo!"]);
    // Quiet again after bo: called (and failing) again.
    h.advance(Duration::from_secs(1));
    expect("the second failure", || failed(2)).await;
    // The file says so too.
    expect("health.json shows the failure", || {
        h.health_file()["counters"]["scriptErrors"] == 2
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_air_lines_take_the_timers_share_of_the_send_budget() {
    let h = start(LIVELY, |config| {
        config.script_limits.quiet_after = Duration::from_secs(1);
        config.send.timer_share_percent = 0;
    })
    .await;
    quiet_until(&h, || {
        h.health()["counters"]["rateLimited"].as_u64() >= Some(1)
    })
    .await;
    h.say("m1", "cy", "gm").await;
    h.wait_sent(1).await;
    assert_eq!(h.sent_texts(), ["gm cy!"], "viewers keep their share");
}
