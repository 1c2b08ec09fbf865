//! The outbound guard end to end (promise 8, on the way out): a personality that echoes
//! viewers never posts the access token however a viewer writes it, while its other echoes
//! still go out; a blocked "On it!" leaves its message queued; the agent's `reply` refuses
//! the token in upper case and acknowledges nothing; the real binary guards the credentials'
//! other secrets, the wake token and `[send] block`, and logs the rule, never the secret; the
//! sandbox says why the bot stayed quiet.

use std::process::Stdio;
use std::time::Duration;

use crate::delivery::{agent_dir, queued_ids, reply};
use crate::sandbox_command::piped_sandbox;
use crate::support::{
    AGENT, Harness, ROOM, Setup, TOKEN, expect, listener, read_json, start_fake, terminate,
};

/// The personality of the issue: whatever a viewer says, it says back.
const ECHO: &str = "fn on_message(msg) { reply(msg.text) }\n";

/// Whether `text` holds `secret` in any case, whatever is between its letters and digits.
fn holds(text: &str, secret: &str) -> bool {
    let skeleton = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    skeleton(text).contains(&skeleton(secret))
}

fn counter(h: &Harness, name: &str) -> u64 {
    h.health()["counters"][name].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echoing_personality_never_posts_the_access_token() {
    let h = Harness::start_with(Setup {
        script: Some(ECHO.into()),
        ..Setup::default()
    })
    .await;
    let upper = TOKEN.to_uppercase();
    let invisible: String = TOKEN.chars().map(|c| format!("{c}\u{200b}")).collect();
    // Long enough to be split, at the space inside the token: neither part holds all of it.
    let straddling = format!(
        "{}{} {} and more",
        "word ".repeat(96),
        &TOKEN[..15],
        &TOKEN[15..]
    );
    let long = format!("{}the end", "long ".repeat(110));
    let said = [
        ("t1", TOKEN.to_string()),
        ("ok1", "gm everyone".to_string()),
        ("t2", upper.clone()),
        ("t3", format!("echo {TOKEN} please")),
        ("t4", format!("what is {upper}?")),
        ("t5", format!("psst {invisible} ok")),
        ("t6", straddling),
        ("ok2", "is this thing on?".to_string()),
        ("ok3", long.clone()),
    ];
    for (id, text) in &said {
        h.say(id, "mallory", text).await;
    }
    expect("six echoes blocked, four messages sent", || {
        counter(&h, "blocked") == 6 && counter(&h, "repliesSent") == 4
    })
    .await;
    let sent = h.sent_texts();
    assert!(sent.iter().all(|t| !holds(t, TOKEN)), "{sent:?}");
    let long_parts = retake_chat::act::budget::split(&long);
    assert_eq!(
        sent,
        [
            "gm everyone",
            "is this thing on?",
            &long_parts[0],
            &long_parts[1]
        ]
    );
    assert_eq!(counter(&h, "repliesDropped"), 0, "blocked, not dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_acknowledgement_leaves_its_message_queued() {
    let h = Harness::start_with(Setup {
        script: Some("fn on_message(msg) { ack(`On it: ${msg.text}`) }\n".into()),
        ..Setup::default()
    })
    .await;
    let text = format!("is {} my token?", TOKEN.to_uppercase());
    h.say("q1", "mallory", &text).await;
    h.say("q2", "bea", "what is rust?").await;
    expect("one acknowledgement sent, one blocked", || {
        counter(&h, "blocked") == 1 && counter(&h, "acksSent") == 1
    })
    .await;
    assert_eq!(h.sent_texts(), ["On it: what is rust?"]);
    let queued: Vec<String> = h.queue().into_iter().map(|i| i.id).collect();
    assert_eq!(queued, ["q1", "q2"], "both wait for the agent");
    assert_eq!(
        h.queue()[0].text,
        text,
        "the viewer's question as they asked it"
    );
    assert_eq!(counter(&h, "acksDropped"), 0);
}

/// The agent, by mistake: the token in upper case is still the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_refuses_the_access_token_in_upper_case() {
    let fake = start_fake().await;
    let (dir, config) = agent_dir("");
    let text = format!(
        "my credentials say {}, is that right?",
        TOKEN.to_uppercase()
    );
    let (code, err) = reply(&fake, dir.path(), &config, &text).await;
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.trim(),
        "error: cannot send the reply: refused to post a text that contains the access token"
    );
    assert!(fake.sent().is_empty(), "nothing posted: {:?}", fake.sent());
    assert_eq!(queued_ids(dir.path()), ["q1"], "nothing acknowledged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_block_pattern_is_a_config_error_naming_its_number() {
    let fake = start_fake().await;
    let (dir, config) = agent_dir("block = ['rtk_[A-Za-z0-9]+', '(my-secret']");
    let (code, err) = reply(&fake, dir.path(), &config, "gm").await;
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.trim(),
        format!(
            "error: config file {}: [send] block: pattern 2 is not a valid regular expression (unclosed group)",
            config.display()
        )
    );
    assert!(fake.sent().is_empty());
}

/// The real binary, with a credentials file holding a private key, a wake token in its
/// environment and a `[send] block` pattern: each is blocked, what is public (the token's
/// address) still goes out, and the log says which rule, never the secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_guards_every_secret_and_logs_only_the_rule() {
    const PRIVATE_KEY: &str = "5Kb8kLf9zgWQnogidDA76MzPL6TsZZY36hWX";
    const WAKE_TOKEN: &str = "wake-hook-token-31337";
    const TOKEN_ADDRESS: &str = "0xTokenAddressIsPublic42";
    let fake = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let scripts = dir.path().join("scripts");
    std::fs::create_dir_all(&scripts).expect("mkdir");
    std::fs::write(scripts.join("personality.rhai"), ECHO).expect("script");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[send]\nper_30s = 0\nblock = ['(?i)\\bseed phrase\\b']\n[wake]\ncommand = []\n[health]\ninterval_secs = 1\n",
    )
    .expect("config");
    let mut command = listener(&fake, dir.path());
    // Over the file listener() wrote: the platform's fields, and one secret more.
    std::fs::write(
        dir.path().join("credentials.json"),
        format!(
            r#"{{"access_token": "{TOKEN}", "userDbId": "{ROOM}", "agent_name": "{AGENT}",
                "wallet_private_key": "{PRIVATE_KEY}", "token_address": "{TOKEN_ADDRESS}"}}"#
        ),
    )
    .expect("creds");
    let child = command
        .env("RETAKE_CHAT_CONFIG", &config)
        .env("RETAKE_WAKE_TOKEN", WAKE_TOKEN)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    expect("joined", || fake.room_size(ROOM) == 1).await;
    let said = [
        "Rtk_Test_Secret_Token_4242".to_string(),
        format!("key: {PRIVATE_KEY}"),
        format!("wake with {}", WAKE_TOKEN.to_uppercase()),
        "here is my Seed Phrase".to_string(),
        format!("our token: {TOKEN_ADDRESS}"),
        "gm".to_string(),
    ];
    for (n, text) in said.iter().enumerate() {
        fake.emit_v1_message(ROOM, &format!("m{n}"), "mallory", text)
            .await;
    }
    let health = dir.path().join("state/health.json");
    expect("four blocked, two sent", || {
        read_json(&health)["counters"]["blocked"] == 4 && fake.sent().len() >= 2
    })
    .await;
    let sent: Vec<String> = fake
        .sent()
        .iter()
        .map(|r| r.body["message"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(sent, [said[4].as_str(), "gm"]);
    terminate(&child);
    let output = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("stops within 10 s of SIGTERM")
        .expect("output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    for rule in [
        "reply not sent: it contains the access token",
        "reply not sent: it contains a credential field (`wallet_private_key`)",
        "reply not sent: it contains the wake token",
        "reply not sent: it matches `[send] block` pattern 1",
    ] {
        assert!(stderr.contains(rule), "{rule:?} not in the log:\n{stderr}");
    }
    for secret in [TOKEN, PRIVATE_KEY, WAKE_TOKEN] {
        assert!(!holds(&stderr, secret), "a secret in the log:\n{stderr}");
    }
    assert!(output.stdout.is_empty());
}

/// The sandbox says why the bot stayed quiet; its made-up token is guarded like a real one.
#[test]
fn the_sandbox_shows_a_blocked_echo() {
    let home = tempfile::tempdir().expect("tempdir");
    let script = home.path().join("echo.rhai");
    std::fs::write(&script, ECHO).expect("script");
    let output = piped_sandbox(home.path(), &script, "my SANDBOX TOKEN\ngm\n");
    let out = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.contains(
            &"bot stayed quiet: the outbound guard blocked it (a secret, or a [send] block match)"
        ),
        "{out}"
    );
    assert!(lines.contains(&"bot: gm"), "{out}");
    assert!(!holds(&out, "sandbox-token"), "{out}");
}
