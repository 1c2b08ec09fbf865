//! The personality while live: hot reload, a broken edit keeping the last good script, and a
//! runaway script that costs one message its instant answer but never the message itself.

use crate::support::{Harness, Setup, expect};

const V1: &str = r#"fn on_message(msg) { if msg.lower == "gm" { reply("v1 " + msg.author) } else { ack("ack " + msg.author) } }"#;
const V2: &str = r#"fn on_message(msg) { if msg.lower == "gm" { reply("v2 " + msg.author) } else { ack("ack " + msg.author) } }"#;

async fn start(source: &str) -> Harness {
    Harness::start_with(Setup {
        script: Some(source.to_string()),
        ..Setup::default()
    })
    .await
}

/// Say gm (with a fresh id) until the reply is `expected`; reloads take effect asynchronously.
async fn wait_for_reply(h: &Harness, expected: &str) {
    let mut n = 0;
    let fake = &h.fake;
    let found = crate::support::wait_until(crate::support::DEADLINE, || {
        fake.sent().iter().any(|r| r.body["message"] == expected)
    });
    // Drive the probe from a separate loop so the condition stays a plain check.
    let probe = async {
        loop {
            n += 1;
            h.say(&format!("probe-{n}"), "zoe", "gm").await;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    tokio::select! {
        ok = found => assert!(ok, "never replied {expected:?}; sent {:?}", h.sent_texts()),
        () = probe => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_changes_the_reply_and_a_broken_edit_keeps_the_old_one() {
    let h = start(V1).await;
    wait_for_reply(&h, "v1 zoe").await;

    h.edit_script(V2);
    wait_for_reply(&h, "v2 zoe").await;
    expect("health shows the reload", || {
        h.health()["script"]["error"].is_null()
    })
    .await;

    h.edit_script("fn on_message(msg) { reply(\"oops\" }\n");
    expect("health shows the syntax error with its position", || {
        h.health()["script"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("personality.rhai:1:"))
    })
    .await;
    let before = h.fake.sent().len();
    h.say("after-broken", "yan", "gm").await;
    h.wait_sent(before + 1).await;
    assert_eq!(h.sent_texts().last().map(String::as_str), Some("v2 yan"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_loop_queues_the_message_and_the_next_is_answered() {
    let h = start(
        r#"fn on_message(msg) { if msg.text == "spin" { loop { } } reply("fine " + msg.author) }"#,
    )
    .await;
    h.say("spin1", "max", "spin").await;
    h.say("next1", "max", "hello").await;
    h.wait_sent(1).await;
    assert_eq!(h.sent_texts(), ["fine max"]);
    // The runaway message went to the agent without an acknowledgement.
    expect("the spinning message is queued", || {
        h.queue().iter().any(|i| i.id == "spin1")
    })
    .await;
    expect("health counts the script error", || {
        h.health()["counters"]["scriptErrors"] == 1
    })
    .await;
    assert_eq!(
        h.fake.sent().len(),
        1,
        "no acknowledgement for the runaway message"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_error_queues_the_message() {
    let h = start(r#"fn on_message(msg) { let x = 1 / 0; reply("never") }"#).await;
    h.say("boom", "ann", "gm").await;
    expect("the failing message is queued", || h.queue().len() == 1).await;
    assert!(h.fake.sent().is_empty());
}
