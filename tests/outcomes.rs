//! What the listener publishes on its outcomes broadcast (`retake_chat::outcome`), which the
//! sandbox's screen and these tests subscribe to: every decision, also with the decision log
//! off and in a dry run; each text's fate (sent, held back and why, a blocked one never
//! carried); reloads and failed reloads.

use retake_chat::outcome::{Held, Outcome};

use crate::support::{Harness, Setup, TOKEN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decision_is_published_with_the_log_off_and_in_a_dry_run() {
    let tweaks: [fn(&mut retake_chat::config::Config); 2] = [
        |config| config.decisions.max_bytes = 0,
        |config| config.dry_run = true,
    ];
    for tweak in tweaks {
        let h = Harness::start_with(Setup {
            tweak,
            ..Setup::default()
        })
        .await;
        let mut outcomes = h.outcomes();
        h.say("m1", "ann", "gm").await;
        let record = outcomes.decision("m1").await;
        assert_eq!(
            (
                record.author.as_str(),
                record.decision,
                record.text.as_deref()
            ),
            ("ann", "reply", Some("gm ann! ☀️"))
        );
        assert!(
            !h.config.state_dir.decisions().exists(),
            "no decision log is written"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_texts_fate_is_published_and_a_blocked_text_is_never_carried() {
    let script = format!(
        r#"fn on_message(msg) {{ if msg.text == "leak" {{ reply("{TOKEN}") }} else {{ reply("same") }} }}"#
    );
    let h = Harness::start_with(Setup {
        script: Some(script),
        ..Setup::default()
    })
    .await;
    let mut outcomes = h.outcomes();
    h.say("m1", "ann", "hi").await;
    let sent = outcomes
        .wait_for("m1's reply sent", |o| match o {
            Outcome::Sent(text) if text.in_reply_to == "m1" => Some(text.clone()),
            _ => None,
        })
        .await;
    assert_eq!((sent.text.as_str(), sent.room.as_str()), ("same", ""));
    h.say("m2", "bo", "hi").await;
    let repeat = outcomes
        .wait_for("m2's reply held back", |o| match o {
            Outcome::Held(why, text) if text.in_reply_to == "m2" => Some((*why, text.clone())),
            _ => None,
        })
        .await;
    assert_eq!((repeat.0, repeat.1.text.as_str()), (Held::Repeat, "same"));
    h.say("m3", "cy", "leak").await;
    let blocked = outcomes
        .wait_for("m3's reply held back", |o| match o {
            Outcome::Held(why, text) if text.in_reply_to == "m3" => Some((*why, text.clone())),
            _ => None,
        })
        .await;
    assert_eq!((blocked.0, blocked.1.text.as_str()), (Held::Blocked, ""));
    assert_eq!(h.sent_texts(), ["same"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_and_failed_reloads_are_published() {
    let h = Harness::start_with(Setup {
        script: Some("fn on_message(msg) { reply(\"one\") }\n".into()),
        ..Setup::default()
    })
    .await;
    let mut outcomes = h.outcomes();
    let path = h.script_path().display().to_string();
    h.edit_script("fn on_message(msg) { reply(\"two\") }\n");
    let reloaded = outcomes
        .wait_for("the reload", |o| match o {
            Outcome::Reloaded { path } => Some(path.clone()),
            _ => None,
        })
        .await;
    assert_eq!(reloaded, path);
    h.edit_script("fn on_message(msg) { reply( }\n");
    let error = outcomes
        .wait_for("the failed reload", |o| match o {
            Outcome::ReloadFailed { error } => Some(error.clone()),
            _ => None,
        })
        .await;
    assert!(error.starts_with(&format!("{path}:1:")), "{error}");
    h.say("m1", "ann", "hi").await;
    assert_eq!(outcomes.decision("m1").await.text.as_deref(), Some("two"));
}
