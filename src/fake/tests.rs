//! End-to-end tests of the fake with the real client stack: rust_socketio over websocket and
//! reqwest, all on loopback. Every wait polls a condition against a deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rust_socketio::asynchronous::{Client, ClientBuilder};
use rust_socketio::{Event, Payload, TransportType};
use serde_json::{Value, json};

use super::*;

pub(super) const DEADLINE: Duration = Duration::from_secs(10);

/// What a test client saw: every `message` payload, `joinedRoom`, close and error events.
#[derive(Default)]
pub(super) struct Seen {
    pub(super) messages: Vec<Value>,
    joined: Vec<Value>,
    connected: usize,
    pub(super) closed_or_errored: usize,
}

/// A rust_socketio callback that applies `f` to the shared [`Seen`] with the event's values.
fn record<F>(
    seen: &Arc<Mutex<Seen>>,
    f: F,
) -> impl FnMut(Payload, Client) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync + 'static
where
    F: Fn(&mut Seen, Vec<Value>) + Send + Sync + Copy + 'static,
{
    let seen = Arc::clone(seen);
    move |payload: Payload, _client: Client| {
        let values = match payload {
            Payload::Text(values) => values,
            _ => Vec::new(),
        };
        f(&mut lock(&seen), values);
        Box::pin(async {})
    }
}

/// Connects a streamer client with `client_id` and joins `room`; returns it once joined.
pub(super) async fn connect(
    fake: &FakeRetake,
    client_id: &str,
    room: &str,
) -> (Client, Arc<Mutex<Seen>>) {
    let (client, seen, _) = connect_counted(fake, client_id, room).await;
    (client, seen)
}

/// How long a connect waits for the namespace acknowledgement before trying again.
const ACK_WAIT: Duration = Duration::from_secs(3);

/// [`connect`], also saying how many connections it took. rust_socketio 0.6 now and then
/// (about one connect in twenty on loopback, with the server's namespace connected) never
/// calls the Connect callback and goes deaf and mute on that connection; the listener gets
/// over it by reconnecting after its connect timeout, and so does this, up to three times.
/// Every attempt counts as a connection at the fake.
async fn connect_counted(
    fake: &FakeRetake,
    client_id: &str,
    room: &str,
) -> (Client, Arc<Mutex<Seen>>, usize) {
    for attempt in 1..=3 {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let url = format!("{}?Client-ID={client_id}&Client-Type=streamer", fake.url());
        let client = ClientBuilder::new(url)
            .transport_type(TransportType::Websocket)
            .reconnect(false)
            .on("message", record(&seen, |s, v| s.messages.extend(v)))
            .on("joinedRoom", record(&seen, |s, v| s.joined.extend(v)))
            .on(Event::Connect, record(&seen, |s, _| s.connected += 1))
            .on(Event::Close, record(&seen, |s, _| s.closed_or_errored += 1))
            .on(Event::Error, record(&seen, |s, _| s.closed_or_errored += 1))
            .connect()
            .await
            .expect("connect to the fake");
        // rust_socketio's connect() returns before the server acknowledged the namespace, and
        // an event that beats socketioxide's (spawned) namespace join closes the transport. A
        // real client joins from its Connect callback, which also covers reconnects.
        if !wait_until(ACK_WAIT, || lock(&seen).connected > 0).await {
            // Such a client does not even send its own disconnect: the fake cuts it (these
            // tests connect one client at a time).
            drop(client);
            fake.disconnect_all().await;
            let gone = wait_until(DEADLINE, || fake.connections().is_empty()).await;
            assert!(
                gone,
                "a connection without acknowledgement stayed at the fake"
            );
            continue;
        }
        client
            .emit("joinRoom", json!({ "roomId": room }))
            .await
            .expect("emit joinRoom");
        let joined = wait_until(DEADLINE, || !lock(&seen).joined.is_empty()).await;
        assert!(joined, "no joinedRoom within the deadline");
        assert_eq!(lock(&seen).joined[0], json!({ "roomId": room }));
        return (client, seen, attempt);
    }
    panic!("no Socket.IO connect acknowledgement in three connections");
}

pub(super) fn http() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_client_joins_and_receives_emitted_message() {
    let fake = FakeRetake::start(FakeOptions::default())
        .await
        .expect("start");
    let client_id = uuid::Uuid::new_v4().to_string();
    let (client, seen, attempts) = connect_counted(&fake, &client_id, "room-1").await;

    assert_eq!(fake.room_size("room-1"), 1);
    assert_eq!(fake.joins().get("room-1"), Some(&1));
    assert_eq!(fake.total_connections(), attempts);
    let connections = fake.connections();
    assert_eq!(connections.len(), 1);
    assert_eq!(
        connections[0].client_id.as_deref(),
        Some(client_id.as_str())
    );
    assert_eq!(connections[0].client_type.as_deref(), Some("streamer"));

    fake.emit_v1_message("room-1", "c1", "viewer1", "gm").await;
    fake.emit("other-room", "message", json!({ "text": "not for us" }))
        .await;
    assert!(wait_until(DEADLINE, || !lock(&seen).messages.is_empty()).await);
    let message = lock(&seen).messages[0].clone();
    assert_eq!(message["_id"], "c1");
    assert_eq!(message["text"], "gm");
    assert_eq!(message["author"]["fusername"], "viewer1");

    client.disconnect().await.expect("disconnect");
    assert!(wait_until(DEADLINE, || fake.connections().is_empty()).await);
    assert_eq!(fake.room_size("room-1"), 0);
    assert_eq!(
        lock(&seen).messages.len(),
        1,
        "message from another room leaked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_join_is_ignored_and_leave_room_works() {
    let fake = FakeRetake::start(FakeOptions::default())
        .await
        .expect("start");
    let (client, _seen) = connect(&fake, "c", "room-1").await;
    for bad in [
        json!({ "room": 1 }),
        json!([1, 2]),
        Value::Null,
        json!({ "roomId": {} }),
    ] {
        client
            .emit("joinRoom", bad)
            .await
            .expect("emit bad joinRoom");
    }
    client
        .emit("leaveRoom", json!({ "roomId": "room-1" }))
        .await
        .expect("emit leaveRoom");
    assert!(wait_until(DEADLINE, || fake.room_size("room-1") == 0).await);
    assert_eq!(fake.connections().len(), 1, "the fake dropped the socket");
    assert_eq!(fake.joins().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_are_recorded_and_echoed_in_both_generations() {
    let options = FakeOptions {
        agent_name: "Bot".to_owned(),
        user_db_id: "agent-db".to_owned(),
        ..FakeOptions::default()
    };
    let fake = FakeRetake::start(options).await.expect("start");
    let (_client, seen) = connect(&fake, "c", "room-1").await;

    let response = http()
        .post(fake.v1_send_url())
        .bearer_auth("rtk_test")
        .json(&json!({ "userDbId": "room-1", "message": "hello v1" }))
        .send()
        .await
        .expect("v1 send");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({ "success": true })
    );
    let response = http()
        .post(fake.v2_send_url())
        .bearer_auth("rtk_test")
        .json(&json!({ "message": "hello v2", "destination_user_id": "room-1" }))
        .send()
        .await
        .expect("v2 send");
    assert_eq!(response.status(), 200);
    let response = http()
        .post(fake.v1_send_url())
        .body("not json")
        .send()
        .await
        .expect("raw send");
    assert_eq!(response.status(), 200);

    let sent = fake.sent();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0].path, "/api/agent/chat/send");
    assert_eq!(sent[0].authorization.as_deref(), Some("Bearer rtk_test"));
    assert_eq!(sent[0].body["message"], "hello v1");
    assert_eq!(sent[0].status, 200);
    assert_eq!(sent[1].path, "/api/v1/agent/stream/chat/send");
    assert_eq!(sent[1].body["destination_user_id"], "room-1");
    assert!(sent[0].at <= sent[1].at);
    assert_eq!(sent[2].authorization, None);
    assert_eq!(sent[2].body, json!("not json"));

    assert!(wait_until(DEADLINE, || lock(&seen).messages.len() == 2).await);
    let messages = lock(&seen).messages.clone();
    let v1 = &messages[0];
    assert_eq!(v1["type"], "message");
    assert_eq!(v1["text"], "hello v1");
    assert_eq!(
        v1["author"],
        json!({ "fusername": "Bot", "fid": "agent-db", "walletAddress": "0xagent" })
    );
    assert!(
        v1["_id"]
            .as_str()
            .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok())
    );
    assert!(v1["timestamp"].as_str().is_some_and(|ts| ts.ends_with('Z')));
    let v2 = &messages[1];
    assert_eq!(v2["streamer_id"], "room-1");
    assert_eq!(v2["sender_user_id"], "agent-db");
    assert_eq!(v2["sender_username"], "Bot");
    assert_eq!(v2["text"], "hello v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_next_serves_scripted_statuses_then_200() {
    let fake = FakeRetake::start(FakeOptions::default())
        .await
        .expect("start");
    let (_client, seen) = connect(&fake, "c", "room-1").await;
    fake.fail_next([(500, None), (429, Some("7".to_owned()))]);

    let body = json!({ "userDbId": "room-1", "message": "hi" });
    let mut statuses = Vec::new();
    let mut retry_after = Vec::new();
    for _ in 0..3 {
        let response = http()
            .post(fake.v1_send_url())
            .json(&body)
            .send()
            .await
            .expect("send");
        statuses.push(response.status().as_u16());
        retry_after.push(
            response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().expect("ascii").to_owned()),
        );
    }
    assert_eq!(statuses, [500, 429, 200]);
    assert_eq!(retry_after, [None, Some("7".to_owned()), None]);
    let recorded: Vec<u16> = fake.sent().iter().map(|s| s.status).collect();
    assert_eq!(recorded, [500, 429, 200]);
    // Only the successful send is echoed.
    assert!(wait_until(DEADLINE, || lock(&seen).messages.len() == 1).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_can_be_turned_off() {
    let options = FakeOptions {
        echo: false,
        ..FakeOptions::default()
    };
    let fake = FakeRetake::start(options).await.expect("start");
    let (_client, seen) = connect(&fake, "c", "room-1").await;
    http()
        .post(fake.v1_send_url())
        .json(&json!({ "userDbId": "room-1", "message": "quiet" }))
        .send()
        .await
        .expect("send");
    // A marker emitted after the send arrives after any echo would have: same socket, in order.
    fake.emit("room-1", "message", json!({ "text": "marker" }))
        .await;
    assert!(wait_until(DEADLINE, || !lock(&seen).messages.is_empty()).await);
    assert_eq!(lock(&seen).messages, [json!({ "text": "marker" })]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_cuts_connections_and_restart_listens_on_same_port() {
    // Default (25 s) pings: the connection must die from stop() itself, not a ping timeout.
    let fake = FakeRetake::start(FakeOptions::default())
        .await
        .expect("start");
    let addr = fake.addr();
    let (_client, seen, first) = connect_counted(&fake, "c1", "room-1").await;
    assert_eq!(fake.room_size("room-1"), 1);

    fake.stop().await;
    assert!(!fake.is_running());
    assert!(
        wait_until(DEADLINE, || lock(&seen).closed_or_errored > 0).await,
        "client did not see the connection die"
    );
    assert!(wait_until(DEADLINE, || fake.room_size("room-1") == 0).await);
    assert!(wait_until(DEADLINE, || fake.connections().is_empty()).await);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still listening"
    );

    fake.restart().await.expect("restart");
    assert_eq!(fake.addr(), addr);
    let (_client, _seen, second) = connect_counted(&fake, "c2", "room-1").await;
    assert_eq!(fake.room_size("room-1"), 1);
    assert_eq!(fake.total_connections(), first + second);
    assert_eq!(fake.connections()[0].client_id.as_deref(), Some("c2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_cuts_connections() {
    let fake = FakeRetake::start(FakeOptions::default())
        .await
        .expect("start");
    let (_client, seen) = connect(&fake, "c1", "room-1").await;
    drop(fake);
    assert!(wait_until(DEADLINE, || lock(&seen).closed_or_errored > 0).await);
}
