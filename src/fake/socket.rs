//! The fake's Socket.IO side on namespace "/": records each connection with its handshake
//! query, answers `joinRoom` with `joinedRoom`, handles `leaveRoom`, forgets sockets on
//! disconnect. Rooms themselves are socketioxide's; emitting into them is the handle's job.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::handler::ConnectHandler;

use super::{Connection, Shared, lock};

/// Installs the connection set-up on the default namespace.
///
/// It runs as a connect *middleware*, not as the connect handler: socketioxide spawns the
/// handler after sending the CONNECT acknowledgement, so a client that emits `joinRoom` as
/// soon as it is acknowledged could beat the `on("joinRoom")` registration and be ignored.
/// Middlewares are awaited before the acknowledgement goes out.
pub(super) fn register(io: &SocketIo, shared: Arc<Shared>) {
    let counted = Arc::clone(&shared);
    // Runs once the namespace has acknowledged the socket, so only real connections count.
    let connected = move |_socket: SocketRef| {
        counted.total_connections.fetch_add(1, Ordering::SeqCst);
        async {}
    };
    let set_up = move |socket: SocketRef| {
        let shared = Arc::clone(&shared);
        async move {
            set_up(socket, shared);
            Ok::<(), Infallible>(())
        }
    };
    io.ns("/", connected.with(set_up));
}

fn set_up(socket: SocketRef, shared: Arc<Shared>) {
    let query = socket.req_parts().uri.query().unwrap_or_default();
    let connection = Connection {
        socket_id: socket.id.to_string(),
        client_id: query_param(query, "Client-ID"),
        client_type: query_param(query, "Client-Type"),
    };
    tracing::debug!(?connection, "fake retake: socket connected");
    lock(&shared.connections).push(connection);

    let on_join = Arc::clone(&shared);
    socket.on(
        "joinRoom",
        move |socket: SocketRef, TryData(data): TryData<Value>| {
            let shared = Arc::clone(&on_join);
            async move {
                let Some(room) = data.ok().as_ref().and_then(room_id) else {
                    tracing::warn!(socket = %socket.id, "fake retake: joinRoom without a roomId");
                    return;
                };
                socket.join(room.clone());
                *lock(&shared.joins).entry(room.clone()).or_default() += 1;
                if let Err(e) = socket.emit("joinedRoom", &json!({ "roomId": room })) {
                    tracing::debug!(error = %e, "fake retake: joinedRoom not sent");
                }
            }
        },
    );
    socket.on(
        "leaveRoom",
        |socket: SocketRef, TryData(data): TryData<Value>| async move {
            if let Some(room) = data.ok().as_ref().and_then(room_id) {
                socket.leave(room);
            }
        },
    );
    socket.on_disconnect(move |socket: SocketRef| {
        let shared = Arc::clone(&shared);
        async move {
            let id = socket.id.to_string();
            lock(&shared.connections).retain(|c| c.socket_id != id);
        }
    });
}

/// The room named by a `joinRoom`/`leaveRoom` payload: `{ "roomId": "x" }` as documented,
/// also a bare string or a numeric id, since a sloppy client should not be what a test trips on.
fn room_id(data: &Value) -> Option<String> {
    let id = match data {
        Value::Object(map) => map.get("roomId")?,
        other => other,
    };
    match id {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The first value of `name` in a URL query string, percent-decoded.
fn query_param(query: &str, name: &str) -> Option<String> {
    query_map(query).remove(name)
}

/// Every name of a URL query string with its first value, percent-decoded.
pub(super) fn query_map(query: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        map.entry(percent_decode(key))
            .or_insert_with(|| percent_decode(value));
    }
    map
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_param_finds_and_decodes() {
        let q = "Client-ID=abc%2D1&Client-Type=streamer&EIO=4&transport=websocket&flag";
        assert_eq!(query_param(q, "Client-ID").as_deref(), Some("abc-1"));
        assert_eq!(query_param(q, "Client-Type").as_deref(), Some("streamer"));
        assert_eq!(query_param(q, "flag").as_deref(), Some(""));
        assert_eq!(query_param(q, "missing"), None);
        let map = query_map("a=1&a=2&&b=%20x&c");
        assert_eq!(map.len(), 3);
        assert_eq!(
            (map["a"].as_str(), map["b"].as_str(), map["c"].as_str()),
            ("1", " x", "")
        );
        assert_eq!(percent_decode("a+b%zz%4"), "a b%zz%4");
    }

    #[test]
    fn room_id_accepts_documented_and_sloppy_payloads() {
        assert_eq!(room_id(&json!({ "roomId": "r1" })).as_deref(), Some("r1"));
        assert_eq!(room_id(&json!({ "roomId": 7 })).as_deref(), Some("7"));
        assert_eq!(room_id(&json!("r2")).as_deref(), Some("r2"));
        assert_eq!(room_id(&json!({ "room": "r1" })), None);
        assert_eq!(room_id(&json!({ "roomId": ["x"] })), None);
        assert_eq!(room_id(&Value::Null), None);
    }
}
