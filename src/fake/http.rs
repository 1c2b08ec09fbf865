//! The fake's HTTP side: the send endpoints of both generations (record every POST on arrival,
//! wait the configured delay, serve the scripted failures and redirects first, keep a
//! successful send in the history and echo it into the room as the platform does), the routes
//! to the history endpoints (`history`), and the gate that can refuse Socket.IO requests.
//! The Socket.IO layer and the listener are set up by the handle in `mod.rs`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::header::{AUTHORIZATION, LOCATION, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use socketioxide::SocketIo;

use super::history::{V1_HISTORY, V2_HISTORY, read_v1, read_v2};
use super::listener::{ConnId, Conns};
use super::payload::{v1_payload, v2_message};
use super::{FakeOptions, SentRequest, Shared, lock};

/// Generation 1 send endpoint.
pub(super) const V1_SEND: &str = "/api/agent/chat/send";
/// Generation 2 send endpoint.
pub(super) const V2_SEND: &str = "/api/v1/agent/stream/chat/send";

/// What the handlers need: the records, the options, and the server to echo through.
#[derive(Clone)]
pub(super) struct HttpState {
    pub(super) shared: Arc<Shared>,
    pub(super) options: Arc<FakeOptions>,
    pub(super) io: SocketIo,
}

/// Which generation's endpoint a request came to.
#[derive(Clone, Copy)]
pub(super) enum Generation {
    V1,
    V2,
}

/// The router with both send and both history endpoints; the caller adds the Socket.IO layer.
pub(super) fn router(state: HttpState) -> Router {
    Router::new()
        .route(V1_SEND, post(send_v1))
        .route(V2_SEND, post(send_v2))
        .route(V1_HISTORY, get(read_v1))
        .route(V2_HISTORY, get(read_v2))
        .route("/api/v1/users/streamer/{name}", get(find_streamer))
        .with_state(state)
}

/// What [`gate_socket`] needs: the refusal switch and the connections to mark.
pub(super) type GateState = (Arc<Shared>, Arc<Conns>);

/// Runs in front of the Socket.IO layer: marks every connection that carried a Socket.IO
/// request (so `refuse_socket` can cut exactly those) and, while the socket side is refused,
/// answers such requests 503, polling and websocket upgrade alike, as a blocking proxy would.
pub(super) async fn gate_socket(
    State((shared, conns)): State<GateState>,
    request: Request,
    next: Next,
) -> Response {
    if !request.uri().path().starts_with("/socket.io") {
        return next.run(request).await;
    }
    if let Some(ConnectInfo(ConnId(id))) = request.extensions().get::<ConnectInfo<ConnId>>() {
        conns.mark_socketio(*id);
    }
    // Read after marking: `refuse_socket` switches on before it cuts the marked connections,
    // so a request is either refused here or on a connection that gets cut.
    if shared.socket_refused.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "socket.io refused by the fake",
        )
            .into_response();
    }
    next.run(request).await
}

async fn send_v1(state: State<HttpState>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    send(Generation::V1, state, uri, headers, body).await
}

async fn send_v2(state: State<HttpState>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    send(Generation::V2, state, uri, headers, body).await
}

async fn send(
    generation: Generation,
    State(state): State<HttpState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let body = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let forced = lock(&state.shared.failures).pop_front();
    let (status, retry_after, location) = match forced {
        Some(scripted) => (
            StatusCode::from_u16(scripted.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            scripted.retry_after,
            scripted.location,
        ),
        None => (StatusCode::OK, None, None),
    };
    lock(&state.shared.sent).push(SentRequest {
        path: uri.path().to_owned(),
        authorization: headers
            .get(AUTHORIZATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        body: body.clone(),
        status: status.as_u16(),
        at,
    });
    let delay = *lock(&state.shared.send_delay);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }

    if !status.is_success() {
        let mut response = (
            status,
            Json(json!({ "success": false, "error": "scripted failure" })),
        )
            .into_response();
        if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
            response.headers_mut().insert(RETRY_AFTER, value);
        }
        if let Some(value) = location.and_then(|v| HeaderValue::from_str(&v).ok()) {
            response.headers_mut().insert(LOCATION, value);
        }
        return response;
    }
    keep_and_echo(generation, &state, &body).await;
    (StatusCode::OK, Json(json!({ "success": true }))).into_response()
}

/// The public streamer lookup: a name added with `add_streamer` (or an id added so) answers
/// `{"streamer_id", "username"}`, anything else 404 as the platform does. Counted.
async fn find_streamer(State(state): State<HttpState>, Path(name): Path<String>) -> Response {
    state.shared.lookups.fetch_add(1, Ordering::SeqCst);
    let found = lock(&state.shared.streamers)
        .iter()
        .find(|(username, id)| *username == name || *id == name)
        .cloned();
    match found {
        Some((username, id)) => (
            StatusCode::OK,
            Json(json!({ "streamer_id": id, "username": username })),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "streamer not found" })),
        )
            .into_response(),
    }
}

/// Keeps the agent's own message in the destination room's history (the platform does, echo
/// or not) and, with `echo` on, emits it into the room, before the HTTP reply, so a test that
/// saw the reply can wait for the echo without racing it.
async fn keep_and_echo(generation: Generation, state: &HttpState, body: &Value) {
    let options = &state.options;
    let text = body
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (room, payload) = match generation {
        Generation::V1 => (
            body.get("userDbId"),
            v1_payload(
                &uuid::Uuid::new_v4().to_string(),
                &options.agent_name,
                json!(options.user_db_id),
                "0xagent",
                text,
            ),
        ),
        Generation::V2 => (
            body.get("destination_user_id"),
            v2_message(
                body.get("destination_user_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
                &options.user_db_id,
                &options.agent_name,
                text,
            ),
        ),
    };
    let Some(room) = room.and_then(Value::as_str) else {
        tracing::debug!("fake retake: send without a destination, no echo");
        return;
    };
    lock(&state.shared.history).append(room, payload.clone());
    if !options.echo {
        return;
    }
    if let Err(e) = state.io.to(room.to_owned()).emit("message", &payload).await {
        tracing::debug!(error = %e, "fake retake: echo not delivered");
    }
}
