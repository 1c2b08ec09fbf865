//! The reference server (tests/interop/) as a stand-in for all of retake.tv, not only its
//! Socket.IO side: the chat history kept across a close and a restart of the server, served
//! newest first and paged with `beforeId` on both generations' paths; the send endpoints
//! recorded and echoed into the room and the history; the socket refused with REST up. Here
//! with reqwest and a rust_socketio socket as the clients; in `listener` with the real
//! listener using it for both --chat-url and --api-url.

mod catchup;
mod listener;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rust_socketio::asynchronous::{Client, ClientBuilder};
use rust_socketio::{Event, Payload, TransportType};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::interop::{RefOptions, RefServer};
use crate::support::{AGENT, DEADLINE, ROOM, TOKEN, expect, wait_until};

const V1_HISTORY: &str = "api/agent/stream/comments";
const V2_HISTORY: &str = "api/v1/agent/stream/comments";

/// A reference server in a fresh temp dir (its log and history file), as [`RefServer::start`]:
/// `None` when the interop tests are skipped.
async fn start(test: &str) -> Option<(TempDir, RefServer)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = RefServer::start(test, RefOptions::default(), dir.path()).await?;
    Some((dir, server))
}

/// An HTTP client that gives up at the deadline: a server that never answers fails the test.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(DEADLINE)
        .build()
        .expect("an HTTP client")
}

/// GET a history path of `server` with the test token; the status and the JSON body.
async fn get(server: &RefServer, path: &str, query: &str) -> (u16, Value) {
    let response = http()
        .get(format!("{}{path}?{query}", server.url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("the history answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// POST `body` to a send path of `server` with the test token; the status and the JSON body.
async fn post(server: &RefServer, path: &str, body: Value) -> (u16, Value) {
    let response = http()
        .post(format!("{}{path}", server.url()))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("the send endpoint answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The page ids of a history answer, in order: `_id` (v1) or `chat_event_id` (v2).
fn ids(page: &Value) -> Vec<String> {
    page["comments"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    let id = item.get("_id").unwrap_or(&item["chat_event_id"]);
                    id.as_str().unwrap_or("?").to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A client socket in `room`, recording every `message` payload it receives.
struct Viewer {
    client: Client,
    messages: Arc<Mutex<Vec<Value>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

type Callback =
    Box<dyn FnMut(Payload, Client) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A rust_socketio callback that appends each event's values to `into`.
fn collect(into: &Arc<Mutex<Vec<Value>>>) -> Callback {
    let into = Arc::clone(into);
    Box::new(move |payload, _| {
        if let Payload::Text(values) = payload {
            lock(&into).extend(values);
        }
        Box::pin(async {})
    })
}

impl Viewer {
    /// Connect and join `room`. rust_socketio 0.6 now and then never sees the namespace
    /// connect (src/fake/tests.rs); such a connection is kicked and the connect tried again.
    async fn join(server: &mut RefServer, room: &str) -> Self {
        for _ in 0..3 {
            let since = Instant::now();
            let messages = Arc::new(Mutex::new(Vec::new()));
            let connects = Arc::new(Mutex::new(Vec::new()));
            let client = ClientBuilder::new(format!("{}?Client-Type=viewer", server.url()))
                .transport_type(TransportType::Websocket)
                .reconnect(false)
                .on("message", collect(&messages))
                .on(Event::Connect, collect(&connects))
                .connect()
                .await
                .expect("connect to the reference server");
            if !wait_until(Duration::from_secs(3), || !lock(&connects).is_empty()).await {
                let _ = client.disconnect().await;
                server.kick().await;
                continue;
            }
            client
                .emit("joinRoom", json!({ "roomId": room }))
                .await
                .expect("emit joinRoom");
            let joined = wait_until(DEADLINE, || server.joined_after(room, since).is_some());
            assert!(joined.await, "the viewer's joinRoom never arrived");
            return Self { client, messages };
        }
        panic!("no Socket.IO connect acknowledgement in three connections");
    }

    /// The `message` payloads received so far.
    fn messages(&self) -> Vec<Value> {
        lock(&self.messages).clone()
    }
}

/// The history outlives a close of the server, and pages back newest first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_reference_history_survives_a_close_and_pages_back() {
    let Some((_dir, mut server)) =
        start("interop_reference_history_survives_a_close_and_pages_back").await
    else {
        return;
    };
    for i in 1..=3 {
        let delivered = server
            .emit_message(
                ROOM,
                retake_chat::fake::v1_message(&format!("m{i}"), "vic", "hi"),
            )
            .await;
        assert!(delivered, "m{i} went out while listening");
    }
    server.close().await;
    let m4 = retake_chat::fake::v1_message("m4", "vic", "said during the outage");
    assert!(!server.emit_message(ROOM, m4).await, "kept, not delivered");
    let v2 = retake_chat::fake::v2_message(ROOM, "u-vic", "vic", "also during it");
    assert!(!server.emit_message(ROOM, v2.clone()).await);
    server.listen().await;

    // Everything, newest first; the v2 item is as said plus its sequence number as its id.
    let (status, all) = get(&server, V1_HISTORY, &format!("userDbId={ROOM}")).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(ids(&all), ["5", "m4", "m3", "m2", "m1"]);
    let mut with_id = v2;
    with_id["chat_event_id"] = json!("5");
    assert_eq!(all["comments"][0], with_id);
    let said = all["comments"][1]["timestamp"].as_str().unwrap_or_default();
    assert!(
        said.len() == 24 && said.ends_with('Z'),
        "now, in RFC 3339 with ms: {said}"
    );

    // Paging back on the v2 path, by `chat_event_id` and by `_id`, each item once.
    let page = |query: &str| format!("userDbId={ROOM}&limit=2{query}");
    let pages = [
        ("", ["5", "m4"].as_slice()),
        ("&beforeId=m4", &["m3", "m2"]),
        ("&beforeId=m2", &["m1"]),
        ("&beforeId=m1", &[]),
    ];
    for (before, expected) in pages {
        let (status, body) = get(&server, V2_HISTORY, &page(before)).await;
        assert_eq!(status, 200, "{before}: {body}");
        assert_eq!(ids(&body), expected, "{before}");
    }
    let (_, body) = get(&server, V2_HISTORY, &page("&beforeId=5")).await;
    assert_eq!(ids(&body), ["m4", "m3"]);
    let (_, body) = get(&server, V2_HISTORY, &page("&beforeId=unknown")).await;
    assert_eq!(
        ids(&body),
        Vec::<String>::new(),
        "nothing is older than an unknown id"
    );

    // limit: clamped to 1..=100; a missing room or a limit that is not a number is a 400.
    for i in 0..100 {
        server
            .add_history(
                ROOM,
                json!({"_id": format!("old{i}"), "text": "x", "author": {}}),
            )
            .await;
    }
    let (_, body) = get(&server, V2_HISTORY, &format!("userDbId={ROOM}&limit=500")).await;
    assert_eq!(ids(&body).len(), 100);
    assert_eq!(
        ids(&body)[0],
        "old99",
        "added, not said, and in the history"
    );
    let (_, body) = get(&server, V2_HISTORY, &format!("userDbId={ROOM}&limit=0")).await;
    assert_eq!(ids(&body), ["old99"]);
    let (status, body) = get(&server, V1_HISTORY, "limit=5").await;
    assert_eq!(
        (status, &body["error"]),
        (400, &json!("userDbId is required"))
    );
    let (status, body) = get(&server, V1_HISTORY, &format!("userDbId={ROOM}&limit=ten")).await;
    assert_eq!(status, 400, "{body}");

    let reads = server.history_reads().await;
    assert_eq!(reads.len(), 11);
    assert_eq!(reads[1]["query"], json!({"userDbId": ROOM, "limit": "2"}));
    assert_eq!(reads[1]["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(
        (&reads[1]["status"], &reads[1]["returned"]),
        (&json!(200), &json!(2))
    );
    assert_eq!(reads[9]["status"], 400);
}

/// Both send endpoints: recorded, answered, echoed as the agent into the room's sockets and
/// into the history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_reference_sends_are_recorded_echoed_and_kept() {
    let Some((_dir, mut server)) =
        start("interop_reference_sends_are_recorded_echoed_and_kept").await
    else {
        return;
    };
    let viewer = Viewer::join(&mut server, ROOM).await;

    let v1 = json!({"userDbId": ROOM, "message": "hello from v1"});
    let (status, body) = post(&server, "api/agent/chat/send", v1.clone()).await;
    assert_eq!((status, body), (200, json!({"success": true})));
    expect("the v1 echo reaches the socket", || {
        viewer.messages().len() == 1
    })
    .await;
    let echo = &viewer.messages()[0];
    assert_eq!(echo["text"], "hello from v1");
    assert_eq!(
        echo["author"],
        json!({"fusername": AGENT, "fid": ROOM, "walletAddress": "0xagent"})
    );
    let (_, history) = get(&server, V1_HISTORY, &format!("userDbId={ROOM}")).await;
    assert_eq!(
        history["comments"],
        json!([echo]),
        "the echo, as said, is in the history"
    );

    let v2 = json!({"destination_user_id": ROOM, "message": "hello from v2"});
    let (status, _) = post(&server, "api/v1/agent/stream/chat/send", v2.clone()).await;
    assert_eq!(status, 200);
    expect("the v2 echo reaches the socket", || {
        viewer.messages().len() == 2
    })
    .await;
    let mut echo = viewer.messages()[1].clone();
    assert_eq!(
        (&echo["sender_user_id"], &echo["sender_username"]),
        (&json!(ROOM), &json!(AGENT))
    );
    assert_eq!(
        (&echo["text"], &echo["streamer_id"]),
        (&json!("hello from v2"), &json!(ROOM))
    );
    assert!(
        echo["timestamp"]
            .as_str()
            .is_some_and(|t| t.parse::<u64>().is_ok()),
        "{echo}"
    );
    let (_, history) = get(&server, V2_HISTORY, &format!("userDbId={ROOM}&limit=1")).await;
    echo["chat_event_id"] = json!("2");
    assert_eq!(history["comments"], json!([echo]));

    // A send without a room is refused, recorded and not echoed.
    let (status, body) = post(&server, "api/agent/chat/send", json!({"message": "lost"})).await;
    assert_eq!(
        (status, &body["error"]),
        (400, &json!("userDbId is required"))
    );
    // A viewer line said after it arrives after any echo of it would have: one socket, in order.
    server
        .say(ROOM, "marker", "vic", "after the refused send")
        .await;
    expect("the marker reaches the socket", || {
        viewer.messages().len() == 3
    })
    .await;
    assert_eq!(
        viewer.messages()[2]["_id"],
        "marker",
        "no echo for the refused send"
    );
    let sent = server.sent().await;
    let auth = format!("Bearer {TOKEN}");
    let record = |path: &str, body: Value, status: u16| {
        let mut record = json!({"path": path, "body": body, "status": status});
        record["authorization"] = json!(auth);
        record
    };
    let lost = json!({"message": "lost"});
    let expected = [
        record("/api/agent/chat/send", v1, 200),
        record("/api/v1/agent/stream/chat/send", v2, 200),
        record("/api/agent/chat/send", lost, 400),
    ];
    assert_eq!(sent, expected);
    let _ = viewer.client.disconnect().await;
}

/// The history is the platform's, not the process's: a SIGKILLed server restarted on the
/// same port serves it again and numbers on from where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_reference_history_survives_a_restart() {
    let Some((_dir, mut server)) = start("interop_reference_history_survives_a_restart").await
    else {
        return;
    };
    server.say(ROOM, "k1", "vic", "before the crash").await;
    server.say_v2(ROOM, "u-vic", "vic", "also before").await;
    server.kill().await;
    server.respawn().await;
    server.say_v2(ROOM, "u-vic", "vic", "after").await;
    let (_, history) = get(&server, V2_HISTORY, &format!("userDbId={ROOM}")).await;
    assert_eq!(ids(&history), ["3", "2", "k1"]);
    assert!(server.sent().await.is_empty(), "records start afresh");
}

/// `refuse_socket`: the Socket.IO side turned away (polling and websocket) and its open
/// connections cut, while history and sends keep answering; then let in again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_reference_refuses_the_socket_with_rest_up() {
    let Some((_dir, mut server)) = start("interop_reference_refuses_the_socket_with_rest_up").await
    else {
        return;
    };
    Viewer::join(&mut server, ROOM).await;
    assert_eq!(server.room(ROOM).await, (1, 1));
    let polling = format!("{}socket.io/?EIO=4&transport=polling", server.url());
    let handshake = || async {
        let response = http()
            .get(&polling)
            .send()
            .await
            .expect("the server answers");
        response.status().as_u16()
    };
    assert_eq!(handshake().await, 200);

    server.refuse_socket(true).await;
    let end = Instant::now() + DEADLINE;
    while server.room(ROOM).await != (0, 0) {
        assert!(Instant::now() < end, "the viewer's connection was not cut");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(handshake().await, 503);
    let send = json!({"userDbId": ROOM, "message": "still up"});
    assert_eq!(post(&server, "api/agent/chat/send", send).await.0, 200);
    let (status, history) = get(&server, V1_HISTORY, &format!("userDbId={ROOM}")).await;
    assert_eq!((status, ids(&history).len()), (200, 1), "{history}");

    server.refuse_socket(false).await;
    assert_eq!(handshake().await, 200);
    let again = Viewer::join(&mut server, ROOM).await;
    let _ = again.client.disconnect().await;
}
