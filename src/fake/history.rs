//! The fake's chat history: every `message` kept per room under a sequence number, and the
//! two history endpoints (v1 and v2 paths) serving it newest first in the item shape a test
//! chose, paged back by `beforeId`, with scripted answers, a delay and a record of every read;
//! and the handle's methods for all of it. Turning one stored payload into an item is
//! `payload`'s job; the rest of the handle lives in `mod.rs`.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::http::{Generation, HttpState};
use super::payload::{documented_id, documented_item, flat_item};
use super::socket::query_map;
use super::{FakeRetake, lock};

/// Generation 1 history endpoint.
pub(super) const V1_HISTORY: &str = "/api/agent/stream/comments";
/// Generation 2 history endpoint.
pub(super) const V2_HISTORY: &str = "/api/v1/agent/stream/comments";
/// Items per page when the request names no `limit`, and the most it may ask for.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 100;

/// Which item shape the history endpoints serve (see RETAKE_API.md for both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HistoryShape {
    /// `{_id, streamId, text, timestamp (RFC 3339), type, author: {walletAddress, fusername,
    /// fid, favatar}}`, paged by `_id`.
    Documented,
    /// `{chat_event_id, sender_user_id, sender_username, ..., timestamp (epoch ms string)}`,
    /// paged by `chat_event_id` (the sequence number).
    Flat,
    /// Documented for odd sequence numbers and flat for even ones, side by side in one page.
    Mixed,
    /// Documented on the v1 path, flat on the v2 path. In [`super::FakeRetake::history`],
    /// which has no path, each item follows the generation of the payload it was stored from.
    #[default]
    Auto,
}

/// One GET to a history endpoint, as received.
#[derive(Debug, Clone)]
pub struct HistoryRead {
    /// Request path, e.g. `/api/v1/agent/stream/comments`.
    pub path: String,
    /// The query parameters, percent-decoded (the first value of a repeated name).
    pub query: HashMap<String, String>,
    /// The `Authorization` header verbatim (`Bearer ...`), if any: the fake does not check it.
    pub authorization: Option<String>,
    /// The status the fake answered with.
    pub status: u16,
    /// How many items the fake served from its history (0 for a scripted answer or a 400).
    pub returned: usize,
    /// When the request arrived.
    pub at: Instant,
}

/// The shape one stored entry is served in.
#[derive(Clone, Copy)]
enum Item {
    Documented,
    Flat,
}

impl HistoryShape {
    /// The item shape of `entry` when read through `path` (`None`: the handle's own view).
    fn item(self, path: Option<Generation>, entry: &Entry) -> Item {
        match (self, path) {
            (Self::Documented, _) | (Self::Auto, Some(Generation::V1)) => Item::Documented,
            (Self::Flat, _) | (Self::Auto, Some(Generation::V2)) => Item::Flat,
            (Self::Mixed, _) if entry.seq % 2 == 1 => Item::Documented,
            (Self::Mixed, _) => Item::Flat,
            (Self::Auto, None) if entry.payload.get("author").is_some_and(Value::is_object) => {
                Item::Documented
            }
            (Self::Auto, None) => Item::Flat,
        }
    }
}

/// One kept message.
struct Entry {
    /// 1, 2, 3, ... across every room of one fake, in the order messages were kept.
    seq: u64,
    /// The payload as emitted or added.
    payload: Value,
    /// When it was kept: the timestamp of a payload that has none.
    stored_at: SystemTime,
}

impl Entry {
    fn serve(&self, item: Item, room: &str) -> Value {
        match item {
            Item::Documented => documented_item(&self.payload, room, self.seq, self.stored_at),
            Item::Flat => flat_item(&self.payload, room, self.seq, self.stored_at),
        }
    }

    /// The id `beforeId` names this entry by: `_id` for documented items, `chat_event_id` for
    /// flat ones (as [`Entry::serve`] writes them).
    fn page_id(&self, item: Item) -> String {
        match (item, documented_id(&self.payload)) {
            (Item::Documented, Some(Value::String(id))) => id.clone(),
            (Item::Documented, Some(id)) => id.to_string(),
            (Item::Documented, None) => format!("h{}", self.seq),
            (Item::Flat, _) => self.seq.to_string(),
        }
    }
}

/// Every room's messages, oldest first, each room trimmed to its newest `capacity`.
#[derive(Default)]
pub(super) struct History {
    last_seq: u64,
    capacity: usize,
    rooms: HashMap<String, VecDeque<Entry>>,
}

impl History {
    /// An empty history keeping at most `capacity` messages per room.
    pub(super) fn new(capacity: usize) -> Self {
        History {
            capacity,
            ..History::default()
        }
    }

    /// Keeps `payload` as the newest message of `room`, forgetting the oldest one past the
    /// capacity (a benchmark's flood of a million messages must not fill the memory).
    pub(super) fn append(&mut self, room: &str, payload: Value) {
        self.last_seq += 1;
        let entry = Entry {
            seq: self.last_seq,
            payload,
            stored_at: SystemTime::now(),
        };
        let entries = self.rooms.entry(room.to_owned()).or_default();
        entries.push_back(entry);
        while entries.len() > self.capacity {
            entries.pop_front();
        }
    }

    /// Every message of `room`, newest first, each in the shape `shape` gives it.
    pub(super) fn items(&self, room: &str, shape: HistoryShape) -> Vec<Value> {
        self.room(room)
            .iter()
            .rev()
            .map(|entry| entry.serve(shape.item(None, entry), room))
            .collect()
    }

    fn room(&self, room: &str) -> &VecDeque<Entry> {
        const NONE: &VecDeque<Entry> = &VecDeque::new();
        self.rooms.get(room).unwrap_or(NONE)
    }
}

/// The handle's history side: what the endpoints serve and what they were asked.
impl FakeRetake {
    /// URL of the generation-1 history endpoint (add `?userDbId=...`).
    pub fn v1_history_url(&self) -> String {
        format!("{}{}", self.url(), V1_HISTORY)
    }

    /// URL of the generation-2 history endpoint (add `?userDbId=...`).
    pub fn v2_history_url(&self) -> String {
        format!("{}{}", self.url(), V2_HISTORY)
    }

    /// Keeps `payload` as the newest message of `room`'s history without emitting it (what
    /// was said before a listener started); its own timestamp is served as it is.
    pub fn add_history(&self, room: &str, payload: Value) {
        lock(&self.shared.history).append(room, payload);
    }

    /// `room`'s history, newest first, in the configured shape (with [`HistoryShape::Auto`],
    /// each item in the shape of the generation it was emitted in).
    pub fn history(&self, room: &str) -> Vec<Value> {
        lock(&self.shared.history).items(room, self.options.history_shape)
    }

    /// Every GET to a history endpoint so far, in arrival order, failed ones included.
    pub fn history_reads(&self) -> Vec<HistoryRead> {
        lock(&self.shared.history_reads).clone()
    }

    /// How many GETs to a history endpoint so far (cheap: nothing is copied).
    pub fn history_read_count(&self) -> usize {
        lock(&self.shared.history_reads).len()
    }

    /// Queues `(status, raw body)` answers, served one per history read (either generation)
    /// before the real history again: 401s, 500s, invalid JSON, huge or hand-made pages.
    pub fn fail_history_next(&self, answers: impl IntoIterator<Item = (u16, String)>) {
        lock(&self.shared.history_scripted).extend(answers);
    }

    /// A slow platform: every history read from now on is answered only after `delay` (zero:
    /// at once), with the page as it is then; the record keeps when it arrived.
    pub fn set_history_delay(&self, delay: Duration) {
        *lock(&self.shared.history_delay) = delay;
    }
}

/// GET on the generation-1 history path.
pub(super) async fn read_v1(state: State<HttpState>, uri: Uri, headers: HeaderMap) -> Response {
    read(Generation::V1, state, uri, headers).await
}

/// GET on the generation-2 history path.
pub(super) async fn read_v2(state: State<HttpState>, uri: Uri, headers: HeaderMap) -> Response {
    read(Generation::V2, state, uri, headers).await
}

/// Serves a scripted answer if one is queued, else a page of the room's history; records the
/// read (the token is not checked), answered after the configured delay as of then.
async fn read(
    generation: Generation,
    State(state): State<HttpState>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let at = Instant::now();
    let query = query_map(uri.query().unwrap_or_default());
    // A slow platform: the page is read as of when it is answered, so what is said meanwhile
    // is on it.
    let delay = *lock(&state.shared.history_delay);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let scripted = lock(&state.shared.history_scripted).pop_front();
    let (status, body, returned) = match scripted {
        Some((status, body)) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
            0,
        ),
        None => match page(&state, generation, &query) {
            Ok(items) => {
                let returned = items.len();
                let body = if state.options.history_bare_array {
                    Value::Array(items)
                } else {
                    json!({ "comments": items })
                };
                (StatusCode::OK, body.to_string(), returned)
            }
            Err(error) => {
                let body = json!({ "success": false, "error": error });
                (StatusCode::BAD_REQUEST, body.to_string(), 0)
            }
        },
    };
    lock(&state.shared.history_reads).push(HistoryRead {
        path: uri.path().to_owned(),
        query,
        authorization: headers
            .get(AUTHORIZATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        status: status.as_u16(),
        returned,
        at,
    });
    (status, [(CONTENT_TYPE, "application/json")], body).into_response()
}

/// The requested page, newest first: up to `limit` items strictly older than the one named
/// `beforeId` (all of them without one; none when no item has that id).
fn page(
    state: &HttpState,
    generation: Generation,
    query: &HashMap<String, String>,
) -> Result<Vec<Value>, String> {
    let room = query
        .get("userDbId")
        .filter(|room| !room.is_empty())
        .ok_or("userDbId is missing: name the room whose history to read")?;
    let limit = limit(query.get("limit").map(String::as_str))?;
    let shape = state.options.history_shape;
    let history = lock(&state.shared.history);
    let entries = history.room(room);
    let end = match query.get("beforeId").filter(|id| !id.is_empty()) {
        None => entries.len(),
        // The oldest item with that id, so repeated ids cannot make paging go round in circles.
        Some(id) => entries
            .iter()
            .position(|e| e.page_id(shape.item(Some(generation), e)) == *id)
            .unwrap_or(0),
    };
    let page = entries.range(end.saturating_sub(limit)..end).rev();
    Ok(page
        .map(|entry| entry.serve(shape.item(Some(generation), entry), room))
        .collect())
}

/// `limit` as the platform reads it: 50 when absent, clamped to 1..=100, an error if it is
/// not a whole number.
fn limit(raw: Option<&str>) -> Result<usize, String> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("limit must be a whole number, got {raw:?}"));
    }
    if digits.len() < raw.len() {
        return Ok(1);
    }
    Ok(digits.parse().unwrap_or(MAX_LIMIT).clamp(1, MAX_LIMIT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_clamps_and_rejects_words() {
        assert_eq!(limit(None), Ok(50));
        assert_eq!(limit(Some("7")), Ok(7));
        assert_eq!(limit(Some("0")), Ok(1));
        assert_eq!(limit(Some("-3")), Ok(1));
        assert_eq!(limit(Some("1000")), Ok(100));
        assert_eq!(limit(Some("99999999999999999999999")), Ok(100));
        for bad in ["", "ten", "5x", "-", "1.5", " 5"] {
            assert!(limit(Some(bad)).is_err(), "{bad:?} accepted");
        }
    }
}
