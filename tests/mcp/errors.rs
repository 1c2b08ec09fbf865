//! Every way a tool call can go wrong ends in a tool error of one sentence the model can act
//! on, and the server goes on answering: bad arguments, no state directory, no credentials,
//! a refused send, an outcome unknown, and a text that holds the access token.

use std::time::Duration;

use serde_json::json;

use super::{Client, Server, enqueue, question, taken_ids};
use crate::support::{TOKEN, start_fake};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_are_named_and_the_server_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    enqueue(
        &state,
        &[question("b1", "ann", "still here?", 1_769_994_000_000)],
    );
    let client = Client::offline(&state).await;
    let cases = [
        (
            "chat_take",
            json!({"max": "five"}),
            "chat_take: `max` must be a whole number from 1 to 100, got \"five\"",
        ),
        (
            "chat_take",
            json!({"lease_secs": 0}),
            "chat_take: `lease_secs` must be a whole number from 10 to 86400, got 0",
        ),
        (
            "chat_take",
            json!({"max": 1, "lease": 60}),
            "chat_take has no argument `lease`: it takes max, lease_secs",
        ),
        ("chat_reply", json!({}), "chat_reply: `text` is required"),
        (
            "chat_reply",
            json!({"text": 42}),
            "chat_reply: `text` must be a string, got 42",
        ),
        (
            "chat_reply",
            json!({"text": "hi", "ack": [7]}),
            "chat_reply: `ack` must be an array of item ids (strings from chat_take), got [7]",
        ),
        (
            "chat_reply",
            json!({"text": "hi", "room": 5}),
            "chat_reply: `room` must be a string, got 5",
        ),
        (
            "chat_ack",
            json!({"ids": []}),
            "chat_ack: `ids` needs at least one item id (from chat_take)",
        ),
        (
            "chat_wait",
            json!({"timeout_secs": 3600}),
            "chat_wait: `timeout_secs` must be a whole number from 0 to 300, got 3600",
        ),
        (
            "chat_history",
            json!({"limit": -1}),
            "chat_history: `limit` must be a whole number from 1 to 500, got -1",
        ),
        (
            "chat_status",
            json!({"verbose": true}),
            "chat_status has no argument `verbose`: it takes none",
        ),
    ];
    for (tool, args, expected) in cases {
        assert_eq!(client.refused(tool, args).await, expected);
    }
    // None of it touched the queue, and the server still answers.
    let taken = client.ok("chat_take", json!({})).await;
    assert_eq!(taken_ids(&taken), ["b1"]);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_state_directory_each_tool_says_where_it_looked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("never-ran");
    let client = Client::offline(&state).await;
    let missing = format!(
        "there is no state directory at {} (no listener has run with it; start `retake-chat`, \
         or give `retake-chat mcp` the listener's --state-dir)",
        state.display()
    );
    for (tool, args) in [
        ("chat_take", json!({})),
        ("chat_ack", json!({"ids": ["x"]})),
        ("chat_wait", json!({"timeout_secs": 1})),
        ("chat_history", json!({})),
    ] {
        assert_eq!(
            client.refused(tool, args).await,
            format!("{tool}: {missing}")
        );
    }
    let status = client.ok("chat_status", json!({})).await;
    assert_eq!(status["healthy"], false);
    let reason = status["reasons"][0].as_str().unwrap_or_default();
    assert!(reason.contains("no readable health file at"), "{status}");
    assert!(!state.exists(), "nothing was created in its place");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_that_cannot_be_sent_acknowledge_nothing() {
    let fake = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    enqueue(
        &state,
        &[question("r1", "ann", "are you there?", 1_769_994_000_000)],
    );
    std::fs::write(
        dir.path().join("config.toml"),
        "[send]\nagent_deadline_secs = 1\n",
    )
    .expect("config");
    let config = dir.path().join("config.toml");
    let url = fake.url();

    // No credentials: the sentence names the file, and nothing was posted.
    let without = Client::start(Server {
        state: &state,
        api_url: &url,
        creds_in: None,
        config: Some(&config),
    })
    .await;
    let error = without
        .refused("chat_reply", json!({"text": "hello", "ack": ["r1"]}))
        .await;
    assert!(error.starts_with("chat_reply: cannot send: "), "{error}");
    assert!(error.contains("no-credentials-here.json"), "{error}");
    without.close().await;

    let client = Client::start(Server {
        state: &state,
        api_url: &url,
        creds_in: Some(dir.path()),
        config: Some(&config),
    })
    .await;
    assert_eq!(taken_ids(&client.ok("chat_take", json!({})).await), ["r1"]);
    // An empty text once cleaned.
    assert_eq!(
        client
            .refused("chat_reply", json!({"text": " \n\u{7} ", "ack": ["r1"]}))
            .await,
        "chat_reply: nothing to send: the text is empty once line breaks and control characters are removed. Nothing was acknowledged."
    );
    // The platform refuses.
    fake.fail_next([(403, None)]);
    assert_eq!(
        client
            .refused("chat_reply", json!({"text": "hello ann", "ack": ["r1"]}))
            .await,
        format!(
            "chat_reply: cannot send the reply: {} answered 403. Nothing was acknowledged.",
            fake.v1_send_url()
        )
    );
    // The token itself, whoever wrote it and in any case: refused before any request.
    let sent = fake.sent_count();
    for token in [TOKEN.to_string(), TOKEN.to_uppercase()] {
        let error = client
            .refused(
                "chat_reply",
                json!({"text": format!("my token is {token}"), "ack": ["r1"]}),
            )
            .await;
        assert_eq!(
            error,
            "chat_reply: cannot send the reply: refused to post a text that contains the access token. Nothing was acknowledged."
        );
    }
    assert_eq!(fake.sent_count(), sent, "nothing went out");
    // No answer within the deadline: it may be in the chat, so it is not posted again.
    fake.set_send_delay(Duration::from_secs(3));
    let error = client
        .refused("chat_reply", json!({"text": "hello again", "ack": ["r1"]}))
        .await;
    assert!(
        error.starts_with(&format!(
            "chat_reply: the reply's outcome is unknown: no answer from {} within 1 s",
            fake.v1_send_url()
        )),
        "{error}"
    );
    assert!(
        error.ends_with(
            "It was not posted again (that could say it twice) and r1 not acknowledged (back \
             when the lease ends): if your answer is in the stream's chat, chat_ack them; if it \
             is not, reply again."
        ),
        "{error}"
    );
    fake.set_send_delay(Duration::ZERO);
    // r1 was never acknowledged: it is still leased, and comes back to be answered.
    let listed = retake_chat::act::queue::Queue::new(state.join("queue.jsonl"))
        .read_all()
        .expect("queue")
        .0;
    assert_eq!(listed.len(), 1, "r1 is still in the queue: {listed:?}");
    let posts = fake
        .sent()
        .iter()
        .filter(|r| r.body["message"] == "hello again")
        .count();
    assert_eq!(posts, 1, "the unknown one was posted once");
    client.close().await;
}
