//! Every tool doing its job: the tool list, the agent's loop against a running listener
//! (wait, take with the conversation before the item, reply as the agent, acknowledged),
//! acknowledging without a reply, and the history paged back.

use std::time::Instant;

use retake_chat::transcript::Line;
use serde_json::{Value, json};

use super::{Client, Server, enqueue, question, taken_ids};
use crate::support::{AGENT, Harness, ROOM, TOKEN, expect};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_six_tools_are_listed_with_descriptions_and_schemas() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let client = Client::offline(&state).await;
    let tools = client.service.list_all_tools().await.expect("tools/list");
    let mut names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(names, super::TOOLS);
    for tool in &tools {
        let about = tool.description.as_deref().unwrap_or_default();
        assert!(about.len() > 80, "{} is described: {about:?}", tool.name);
        assert_eq!(tool.input_schema["type"], "object", "{}", tool.name);
    }
    let reply = tools
        .iter()
        .find(|t| t.name == "chat_reply")
        .expect("reply");
    assert_eq!(reply.input_schema["required"], json!(["text"]));
    let info = client.service.peer_info().expect("server info");
    assert!(
        info.instructions
            .as_deref()
            .is_some_and(|text| text.contains("chat_wait")),
        "{info:?}"
    );
    client.close().await;
}

/// The agent's loop against a live listener: a viewer's `gm` answered by the bot, then their
/// question queued; `chat_wait` returns, `chat_take` gives the question with both earlier
/// lines as its context, `chat_reply` posts as the agent with its token and acknowledges it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_waits_takes_with_context_replies_and_acknowledges() {
    let harness = Harness::start().await;
    let state = harness.config.state_dir.clone();
    let url = harness.fake.url();
    let client = Client::start(Server {
        state: &state,
        api_url: &url,
        creds_in: Some(harness.dir.path()),
        config: None,
    })
    .await;

    // Nothing yet: the wait ends at its timeout, saying so.
    let idle = client.ok("chat_wait", json!({"timeout_secs": 0})).await;
    assert_eq!(idle["ready"], false, "{idle}");

    harness.say("m1", "alice", "gm").await;
    harness.wait_sent(1).await;
    // The call goes out first; the question is said while it waits.
    let ((waited, returned), said) = tokio::join!(
        async {
            let result = client.call("chat_wait", json!({"timeout_secs": 20})).await;
            (result, Instant::now())
        },
        async {
            let said = Instant::now();
            harness
                .say("q1", "alice", "what is this stream about?")
                .await;
            said
        }
    );
    let waited = waited.structured_content.expect("structured");
    assert_eq!(waited["ready"], true, "{waited}");
    assert!(
        waited["waited_ms"].as_u64().unwrap_or(u64::MAX) < 20_000,
        "{waited}"
    );
    eprintln!(
        "mcp: chat_wait returned {} ms after the question was said",
        returned.duration_since(said).as_millis()
    );

    // The queue as it is now, whenever health.json was last written.
    expect("health.json is written", || {
        harness.health_file().is_object()
    })
    .await;
    let status = client.ok("chat_status", json!({})).await;
    assert_eq!(status["queue"]["pending"], 1, "{status}");

    let taken = client.ok("chat_take", json!({"max": 5})).await;
    assert_eq!(taken_ids(&taken), ["q1"], "{taken}");
    let item = &taken["items"][0];
    assert_eq!(item["author"], "alice");
    assert_eq!(item["text"], "what is this stream about?");
    assert_eq!(item["room"], ROOM);
    assert_eq!(item["kind"], "message");
    assert_eq!(item["attempts"], 1);
    let context: Vec<Line> =
        serde_json::from_value(item["context"].clone()).expect("context lines");
    let said: Vec<(&str, &str, bool)> = context
        .iter()
        .map(|line| (line.author.as_str(), line.text.as_str(), line.bot))
        .collect();
    assert_eq!(
        said,
        [("alice", "gm", false), (AGENT, "gm alice! ☀️", true)],
        "{context:?}"
    );

    let answer = "It's a stream about building a Rust chat bot, alice";
    let before = harness.fake.sent_count();
    let replied = client
        .ok("chat_reply", json!({"text": answer, "ack": ["q1"]}))
        .await;
    assert_eq!(replied["sent"], json!([answer]), "{replied}");
    assert_eq!(replied["split"], false);
    assert_eq!(replied["cut_chars"], 0);
    assert_eq!(replied["note"], Value::Null);
    assert_eq!(replied["acked"], json!(["q1"]));
    let posted = harness.fake.sent_since(before);
    let ours: Vec<_> = posted
        .iter()
        .filter(|r| r.body["message"] == answer)
        .collect();
    assert_eq!(ours.len(), 1, "posted once: {posted:?}");
    assert_eq!(
        ours[0].authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let again = client.ok("chat_take", json!({})).await;
    assert_eq!(
        taken_ids(&again),
        Vec::<String>::new(),
        "acknowledged: {again}"
    );
    // Another streamer's room, by `room`.
    let before = harness.fake.sent_count();
    client
        .ok(
            "chat_reply",
            json!({"text": "gm next door", "room": "room-2"}),
        )
        .await;
    let posted = harness.fake.sent_since(before);
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0].body["userDbId"], "room-2", "{posted:?}");

    // The agent's answer is in the conversation for what comes next.
    let history = client.ok("chat_history", json!({"limit": 10})).await;
    let lines = history["lines"].as_array().cloned().unwrap_or_default();
    let tail: Vec<_> = lines
        .iter()
        .rev()
        .take(2)
        .map(|l| (&l["text"], &l["bot"], &l["room"]))
        .collect();
    assert_eq!(
        tail,
        [
            (&json!("gm next door"), &json!(true), &json!("room-2")),
            (&json!(answer), &json!(true), &Value::Null),
        ],
        "{history}"
    );
    let fake = &harness.fake;
    expect("health.json is written", || {
        harness.health_file()["status"] == "connected"
    })
    .await;
    let status = client.ok("chat_status", json!({})).await;
    assert_eq!(status["healthy"], true, "{status}");
    assert_eq!(status["listener"]["running"], Value::Bool(true), "{status}");
    assert!(fake.is_running());

    // Longer than two messages: the result says it was cut, and by how much.
    let long = client
        .ok("chat_reply", json!({"text": "é".repeat(1200)}))
        .await;
    assert_eq!(long["split"], true, "{long}");
    assert_eq!(long["cut_chars"], 201, "{long}");
    assert_eq!(
        long["note"],
        "sent as 2 messages, cut to the length limit: the last 201 characters were not sent \
         (at most 1000 characters go out, in two messages)"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_ack_removes_items_without_a_reply() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    enqueue(
        &state,
        &[
            question("a1", "ann", "first?", 1_769_994_000_000),
            question("a2", "bob", "second?", 1_769_994_001_000),
        ],
    );
    let client = Client::offline(&state).await;
    let taken = client.ok("chat_take", json!({"max": 1})).await;
    assert_eq!(taken_ids(&taken), ["a1"]);
    let acked = client.ok("chat_ack", json!({"ids": ["a1", "nope"]})).await;
    assert_eq!(acked["acked"], json!(["a1"]), "{acked}");
    assert_eq!(acked["not_in_queue"], json!(["nope"]));
    let rest = client.ok("chat_take", json!({"max": 5})).await;
    assert_eq!(taken_ids(&rest), ["a2"], "a1 is gone: {rest}");
    // With a lease of 10 s the rest is not handed out again meanwhile.
    let none = client.ok("chat_take", json!({"lease_secs": 10})).await;
    assert_eq!(taken_ids(&none), Vec::<String>::new());
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_history_pages_back_through_the_transcript() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    let lines: String = (0..30)
        .map(|n| {
            let line = Line {
                ts: 1_769_994_000_000 + n * 1000,
                author: format!("viewer{n}"),
                text: format!("line {n}"),
                id: format!("m{n}"),
                ..Line::default()
            };
            serde_json::to_string(&line).expect("a line") + "\n"
        })
        .collect();
    std::fs::write(state.join("transcript.jsonl"), lines).expect("write the transcript");
    let client = Client::offline(&state).await;
    let texts = |page: &Value| -> Vec<String> {
        page["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .map(|l| l["text"].as_str().expect("text").to_string())
            .collect()
    };
    let newest = client.ok("chat_history", json!({"limit": 20})).await;
    let expected: Vec<String> = (10..30).map(|n| format!("line {n}")).collect();
    assert_eq!(texts(&newest), expected);
    let before = newest["next_before"].clone();
    assert_eq!(before, json!(1_769_994_010_000_i64));
    let older = client
        .ok("chat_history", json!({"limit": 20, "before": before}))
        .await;
    let expected: Vec<String> = (0..10).map(|n| format!("line {n}")).collect();
    assert_eq!(texts(&older), expected);
    assert_eq!(older["next_before"], Value::Null, "the start: {older}");
    client.close().await;
}
