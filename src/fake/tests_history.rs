//! End-to-end tests of the fake's chat history and of the socket-refused outage, with real
//! HTTP requests (reqwest) and a real Socket.IO client on loopback. Helpers are `tests`'.

use serde_json::{Value, json};

use super::tests::{DEADLINE, connect, http};
use super::*;
use crate::event::{Normalized, normalize};

const ROOM: &str = "room-1";

/// GETs `url` with `query`, returning the status and the body as JSON (`null` if it is not).
async fn get(url: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let response = http()
        .get(url)
        .query(query)
        .bearer_auth("rtk_test")
        .send()
        .await
        .expect("history request");
    let status = response.status().as_u16();
    let body = response.text().await.expect("history body");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// The items of a `{"comments": [...]}` answer.
fn comments(body: &Value) -> Vec<Value> {
    body["comments"]
        .as_array()
        .cloned()
        .expect("a comments array")
}

/// A generation-1 payload with a fixed instant, 2025-02-01T14:20:00Z.
fn v1_at(id: &str, text: &str) -> Value {
    json!({
        "_id": id, "type": "message", "text": text, "timestamp": "2025-02-01T14:20:00.000Z",
        "author": { "fusername": "alice", "fid": 42, "walletAddress": "0xa11ce", "favatar": "a.png" },
    })
}

/// A generation-2 payload with the same instant as [`v1_at`], in epoch milliseconds.
fn v2_at(text: &str) -> Value {
    json!({
        "type": "message", "streamer_id": ROOM, "sender_user_id": "u9",
        "sender_username": "viewer9", "sender_wallet_address": "0xb0b", "text": text,
        "timestamp": "1738419600000",
    })
}

/// A fake with `options` changed from the defaults by `tweak`.
async fn fake_with(tweak: impl FnOnce(&mut FakeOptions)) -> FakeRetake {
    let mut options = FakeOptions::default();
    tweak(&mut options);
    FakeRetake::start(options).await.expect("start")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_with_before_id_serves_every_item_once_newest_first() {
    let fake = fake_with(|_| {}).await;
    for n in 1..=250 {
        fake.add_history(ROOM, v1_at(&format!("c{n}"), &format!("m{n}")));
        fake.add_history("other-room", v1_at(&format!("o{n}"), "not ours"));
    }
    let expected: Vec<String> = (1..=250).rev().map(|n| format!("m{n}")).collect();
    // v1 path: documented items paged by `_id`; v2 path: flat items paged by `chat_event_id`.
    for (url, id_field) in [
        (fake.v1_history_url(), "_id"),
        (fake.v2_history_url(), "chat_event_id"),
    ] {
        let (mut texts, mut sizes, mut before) = (Vec::new(), Vec::new(), None::<String>);
        loop {
            let mut query = vec![("userDbId", ROOM), ("limit", "100")];
            if let Some(id) = &before {
                query.push(("beforeId", id));
            }
            let (status, body) = get(&url, &query).await;
            assert_eq!(status, 200);
            let page = comments(&body);
            if page.is_empty() {
                break;
            }
            sizes.push(page.len());
            texts.extend(
                page.iter()
                    .map(|item| item["text"].as_str().expect("text").to_owned()),
            );
            before = page
                .last()
                .map(|item| item[id_field].as_str().expect("id").to_owned());
        }
        assert_eq!(sizes, [100, 100, 50], "{url}");
        assert_eq!(texts, expected, "{url}");
    }

    let url = fake.v1_history_url();
    let (_, body) = get(&url, &[("userDbId", ROOM)]).await;
    assert_eq!(comments(&body).len(), 50, "limit defaults to 50");
    let (_, body) = get(&url, &[("userDbId", ROOM), ("limit", "1000")]).await;
    assert_eq!(comments(&body).len(), 100, "limit is clamped to 100");
    let (_, body) = get(&url, &[("userDbId", ROOM), ("limit", "0")]).await;
    assert_eq!(comments(&body).len(), 1, "limit is clamped to 1");
    let (status, body) = get(&url, &[("userDbId", ROOM), ("beforeId", "nope")]).await;
    assert_eq!(
        (status, comments(&body).len()),
        (200, 0),
        "unknown beforeId"
    );
    let (status, body) = get(&url, &[("userDbId", "nobody")]).await;
    assert_eq!((status, comments(&body).len()), (200, 0), "unknown room");
    let (status, body) = get(&url, &[("userDbId", ROOM), ("limit", "ten")]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "limit must be a whole number, got \"ten\"");
    let (status, body) = get(&fake.v2_history_url(), &[("limit", "5")]).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("userDbId"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_come_in_the_shape_the_test_chose() {
    let expect_documented = |item: &Value, id: &str, author: Value| {
        assert_eq!(item["_id"], id);
        assert_eq!(item["streamId"], ROOM);
        assert_eq!(item["timestamp"], "2025-02-01T14:20:00.000Z");
        assert_eq!(item["type"], "message");
        assert_eq!(item["author"], author);
    };
    let alice =
        json!({ "walletAddress": "0xa11ce", "fusername": "alice", "fid": 42, "favatar": "a.png" });
    let viewer9 =
        json!({ "walletAddress": "0xb0b", "fusername": "viewer9", "fid": "u9", "favatar": null });
    let expect_flat = |item: &Value, seq: &str, user: Value, name: &str, wallet: &str| {
        assert_eq!(item["chat_event_id"], seq);
        assert_eq!(item["sender_user_id"], user);
        assert_eq!(item["sender_username"], name);
        assert_eq!(item["sender_wallet_address"], wallet);
        assert_eq!(item["streamer_id"], ROOM);
        assert_eq!(item["timestamp"], "1738419600000");
        assert_eq!(item["type"], "message");
    };
    for shape in [
        HistoryShape::Documented,
        HistoryShape::Flat,
        HistoryShape::Mixed,
        HistoryShape::Auto,
    ] {
        let fake = fake_with(|o| o.history_shape = shape).await;
        fake.add_history(ROOM, v1_at("c1", "from v1"));
        fake.add_history(ROOM, v2_at("from v2"));
        for url in [fake.v1_history_url(), fake.v2_history_url()] {
            let (_, body) = get(&url, &[("userDbId", ROOM)]).await;
            let items = comments(&body);
            let texts: Vec<&Value> = items.iter().map(|item| &item["text"]).collect();
            assert_eq!(texts, [&json!("from v2"), &json!("from v1")], "{shape:?}");
            let (newer, older) = (&items[0], &items[1]);
            let v2_path = url == fake.v2_history_url();
            let (documented_v1, documented_v2) = match shape {
                HistoryShape::Documented => (true, true),
                HistoryShape::Flat => (false, false),
                HistoryShape::Mixed => (true, false),
                HistoryShape::Auto => (!v2_path, !v2_path),
            };
            if documented_v1 {
                expect_documented(older, "c1", alice.clone());
            } else {
                expect_flat(older, "1", json!(42), "alice", "0xa11ce");
            }
            if documented_v2 {
                expect_documented(newer, "h2", viewer9.clone());
            } else {
                expect_flat(newer, "2", json!("u9"), "viewer9", "0xb0b");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v2_socket_message_and_its_flat_history_copy_normalize_alike() {
    // The listener matches a v2 socket message with its flat history copy by these fields.
    let fake = fake_with(|o| o.history_shape = HistoryShape::Flat).await;
    let socket = v2_message(ROOM, "u7", "viewer7", "is it live?");
    fake.emit(ROOM, "message", socket.clone()).await;
    let (Normalized::Chat(live), Normalized::Chat(kept)) =
        (normalize(&socket, 0), normalize(&fake.history(ROOM)[0], 0))
    else {
        panic!("not chat");
    };
    let fields = |e: &crate::event::ChatEvent| {
        let strings = [&e.author_id, &e.author, &e.wallet, &e.text, &e.kind];
        (strings.map(String::clone), e.ts)
    };
    assert_eq!(fields(&live), fields(&kept));
    // With an `id` of its own (the sandbox gives one), both copies are one message by it.
    let mut named = v2_message(ROOM, "u7", "viewer7", "and now?");
    named["id"] = json!("sandbox-7");
    fake.emit(ROOM, "message", named.clone()).await;
    let (Normalized::Chat(live), Normalized::Chat(kept)) =
        (normalize(&named, 0), normalize(&fake.history(ROOM)[0], 0))
    else {
        panic!("not chat");
    };
    assert_eq!(
        (live.id.as_str(), kept.id.as_str()),
        ("sandbox-7", "sandbox-7")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_array_history_answers_with_the_items_alone() {
    let fake = fake_with(|o| o.history_bare_array = true).await;
    fake.add_history(ROOM, v1_at("c1", "bare"));
    let (status, body) = get(&fake.v1_history_url(), &[("userDbId", ROOM)]).await;
    assert_eq!(status, 200);
    assert_eq!(
        body.as_array().map(Vec::len),
        Some(1),
        "a bare array: {body}"
    );
    assert_eq!(body[0]["text"], "bare");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_nobody_heard_are_kept_and_add_history_does_not_emit() {
    let fake = fake_with(|o| o.echo = false).await;
    fake.emit_v1_message(ROOM, "c1", "viewer1", "nobody is in the room")
        .await;
    fake.stop().await;
    fake.emit_v2_message(ROOM, "u2", "viewer2", "said while the fake is down")
        .await;
    fake.emit(ROOM, "joinedRoom", json!({ "roomId": ROOM }))
        .await;
    fake.restart().await.expect("restart");
    // The agent's own send is kept too, even with the socket echo off.
    fake.fail_next([(200, None), (500, None)]);
    for (text, status) in [("the agent speaks", 200), ("failed send", 500)] {
        let response = http()
            .post(fake.v1_send_url())
            .json(&json!({ "userDbId": ROOM, "message": text }))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), status);
    }

    let texts =
        |items: Vec<Value>| -> Vec<Value> { items.iter().map(|i| i["text"].clone()).collect() };
    let expected = [
        json!("the agent speaks"),
        json!("said while the fake is down"),
        json!("nobody is in the room"),
    ];
    assert_eq!(
        texts(fake.history(ROOM)),
        expected,
        "only `message`s, only successful sends"
    );
    let (_, body) = get(&fake.v1_history_url(), &[("userDbId", ROOM)]).await;
    assert_eq!(texts(comments(&body)), expected);
    assert_eq!(fake.history(ROOM)[0]["author"]["fusername"], "Agent");

    let (_client, seen) = connect(&fake, "c", ROOM).await;
    fake.add_history(ROOM, v1_at("old", "said long ago"));
    // A marker emitted afterwards arrives after anything add_history could have emitted.
    fake.emit(ROOM, "message", json!({ "text": "marker" }))
        .await;
    assert!(wait_until(DEADLINE, || !lock(&seen).messages.is_empty()).await);
    assert_eq!(lock(&seen).messages, [json!({ "text": "marker" })]);
    let history = fake.history(ROOM);
    assert_eq!(history.len(), 5);
    assert_eq!(
        history[1]["timestamp"], "2025-02-01T14:20:00.000Z",
        "its own timestamp"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_socket_refuses_socket_io_while_history_and_send_answer() {
    let fake = fake_with(|_| {}).await;
    let polling = format!("{}/socket.io/?EIO=4&transport=polling", fake.url());
    let rest = http();
    let status = |r: reqwest::Result<reqwest::Response>| r.expect("answered").status().as_u16();
    assert_eq!(status(rest.get(&polling).send().await), 200);
    let (_client, seen) = connect(&fake, "c", ROOM).await;
    let history = format!("{}?userDbId={ROOM}", fake.v2_history_url());
    assert_eq!(status(rest.get(&history).send().await), 200);

    fake.refuse_socket(true).await;
    assert!(
        wait_until(DEADLINE, || lock(&seen).closed_or_errored > 0).await,
        "the open websocket was not cut"
    );
    assert_eq!(fake.room_size(ROOM), 0);
    assert!(fake.connections().is_empty());
    assert_eq!(status(rest.get(&polling).send().await), 503);
    let upgrade = format!("{}/socket.io/?EIO=4&transport=websocket", fake.url());
    assert_eq!(status(rest.get(&upgrade).send().await), 503);
    // The same client, maybe on its pooled connection: REST is up.
    assert_eq!(status(rest.get(&history).send().await), 200);
    let send = rest
        .post(fake.v2_send_url())
        .json(&json!({ "message": "still here", "destination_user_id": ROOM }));
    assert_eq!(status(send.send().await), 200);
    assert_eq!(fake.history(ROOM)[0]["text"], "still here");

    fake.refuse_socket(false).await;
    assert_eq!(status(rest.get(&polling).send().await), 200);
    let (_client, _seen) = connect(&fake, "c2", ROOM).await;
    assert_eq!(fake.room_size(ROOM), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_answers_are_served_in_order_and_every_read_is_recorded() {
    let fake = fake_with(|_| {}).await;
    fake.add_history(ROOM, v1_at("c1", "real"));
    let huge = format!("{{\"comments\": \"{}\"}}", "x".repeat(10 << 20));
    fake.fail_history_next([
        (401, r#"{"error":"unauthorized"}"#.to_owned()),
        (500, "oops".to_owned()),
        (200, "{not json".to_owned()),
        (200, String::new()),
        (200, huge.clone()),
    ]);
    let url = format!("{}?userDbId={ROOM}&limit=5", fake.v1_history_url());
    let mut answers = Vec::new();
    for n in 0..6 {
        let mut request = http().get(&url);
        if n == 0 {
            request = request.bearer_auth("rtk_test");
        }
        let response = request.send().await.expect("history request");
        let status = response.status().as_u16();
        answers.push((status, response.text().await.expect("body")));
    }
    let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
    assert_eq!(statuses, [401, 500, 200, 200, 200, 200]);
    assert_eq!(answers[0].1, r#"{"error":"unauthorized"}"#);
    assert_eq!(
        (answers[1].1.as_str(), answers[2].1.as_str()),
        ("oops", "{not json")
    );
    assert_eq!((answers[3].1.len(), answers[4].1.len()), (0, huge.len()));
    assert!(
        answers[5].1.contains("\"real\""),
        "then the real history: {}",
        answers[5].1
    );

    let reads = fake.history_reads();
    assert_eq!(fake.history_read_count(), 6);
    let recorded: Vec<(u16, usize)> = reads.iter().map(|r| (r.status, r.returned)).collect();
    assert_eq!(
        recorded,
        [(401, 0), (500, 0), (200, 0), (200, 0), (200, 0), (200, 1)]
    );
    assert_eq!(reads[0].authorization.as_deref(), Some("Bearer rtk_test"));
    assert_eq!(reads[1].authorization, None);
    assert_eq!(reads[5].path, "/api/agent/stream/comments");
    assert_eq!(
        reads[5].query.get("userDbId").map(String::as_str),
        Some(ROOM)
    );
    assert_eq!(reads[5].query.get("limit").map(String::as_str), Some("5"));
    assert!(reads.windows(2).all(|w| w[0].at <= w[1].at));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_history_read_answers_as_of_when_it_is_answered() {
    let fake = fake_with(|_| {}).await;
    fake.set_history_delay(Duration::from_millis(300));
    let url = format!("{}?userDbId={ROOM}", fake.v2_history_url());
    let slow = tokio::spawn(http().get(url).send());
    // Said while the read is on its way: on the page it answers.
    fake.add_history(ROOM, v2_at("meanwhile"));
    let response = slow.await.expect("joined").expect("answered");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(comments(&body).len(), 1, "{body}");
    assert_eq!(fake.history_read_count(), 1);
    assert!(fake.history_reads()[0].at.elapsed() >= Duration::from_millis(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_room_keeps_its_newest_messages_up_to_the_capacity() {
    let fake = fake_with(|o| o.history_capacity = 3).await;
    for n in 1..=5 {
        fake.add_history(ROOM, v2_at(&format!("m{n}")));
    }
    fake.add_history("other-room", v2_at("elsewhere"));
    let url = fake.v2_history_url();
    let (_, body) = get(&url, &[("userDbId", ROOM)]).await;
    let ids: Vec<Value> = comments(&body)
        .iter()
        .map(|i| i["chat_event_id"].clone())
        .collect();
    assert_eq!(ids, [json!("5"), json!("4"), json!("3")]);
    let (status, body) = get(&url, &[("userDbId", ROOM), ("beforeId", "2")]).await;
    assert_eq!(
        (status, comments(&body).len()),
        (200, 0),
        "a forgotten id is unknown"
    );
    assert_eq!(fake.history("other-room").len(), 1);
}
