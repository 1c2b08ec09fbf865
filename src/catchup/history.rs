//! Reading the platform's chat history: one page at a time, newest first, paging back with
//! `beforeId` (there is no "after" cursor). Both item shapes in circulation go through the
//! socket's normalizer, so one message has one id whichever way it reached us; anything else
//! on a page is skipped and counted, never a crash.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde_json::Value;

use crate::config::{ApiVersion, Config};
use crate::error_text::with_causes;
use crate::event::{ChatEvent, Normalized, normalize};

/// Largest page body read; past it the page is an error (100 messages of 2,000 characters fit).
const MAX_PAGE_BYTES: usize = 4 << 20;

/// The history endpoint of one room.
#[derive(Debug, Clone)]
pub struct History {
    client: reqwest::Client,
    url: String,
    room: String,
    auth: HeaderValue,
    page_size: u32,
    timeout: Duration,
}

/// One page as read: the messages on it (newest first) and what could not be used.
#[derive(Debug, Default)]
pub struct Page {
    /// The viewer (and agent) messages, newest first.
    pub events: Vec<ChatEvent>,
    /// Items on the page, usable or not: fewer than asked for means the history ends here.
    pub len: usize,
    /// Items that were not a message we understand (no timestamp, no text, not an object).
    pub skipped: usize,
    /// The paging id of the page's oldest item, to ask for the page before it.
    pub oldest: Option<String>,
}

/// Why a page could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The token was refused (401, 403): catching up stops until the listener restarts.
    #[error("the history endpoint refused the access token ({0})")]
    Refused(u16),
    /// 404 or 409: the stream is not live, so there is nothing to catch up.
    #[error("the stream is not live ({0} from the history endpoint)")]
    NotLive(u16),
    /// Anything worth trying again later: a network error, 429, 5xx, a body we cannot read.
    #[error("{0}")]
    Retry(String),
}

impl History {
    /// The endpoint for the configured API generation, room and token.
    pub fn new(config: &Config) -> Result<Self, String> {
        let auth = crate::platform::bearer(&config.creds.access_token)?;
        let timeout = config.catchup.request_timeout;
        let client = crate::platform::client(config, timeout)
            .build()
            .map_err(|e| with_causes(&e))?;
        let path = match config.api {
            ApiVersion::V1 => "/api/agent/stream/comments",
            ApiVersion::V2 => "/api/v1/agent/stream/comments",
        };
        Ok(Self {
            client,
            url: format!("{}{path}", config.api_url.trim_end_matches('/')),
            room: config.creds.user_db_id.clone(),
            auth,
            page_size: config.catchup.page_size.clamp(1, 100),
            timeout,
        })
    }

    /// The same endpoint for another streamer's room.
    pub fn for_room(mut self, room: &str) -> Self {
        self.room = room.to_string();
        self
    }

    /// How many messages a full page has.
    pub fn page_size(&self) -> usize {
        self.page_size as usize
    }

    /// The newest page, or the one just before the item with paging id `before`.
    pub async fn page(&self, before: Option<&str>) -> Result<Page, HistoryError> {
        let limit = self.page_size.to_string();
        let mut query = vec![("userDbId", self.room.as_str()), ("limit", limit.as_str())];
        if let Some(before) = before {
            query.push(("beforeId", before));
        }
        let mut response = self
            .client
            .get(&self.url)
            .header(AUTHORIZATION, self.auth.clone())
            .query(&query)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| HistoryError::Retry(format!("history: {}", with_causes(&e))))?;
        let status = response.status().as_u16();
        match status {
            200..=299 => {}
            401 | 403 => return Err(HistoryError::Refused(status)),
            404 | 409 => return Err(HistoryError::NotLive(status)),
            _ => {
                return Err(HistoryError::Retry(format!(
                    "history: the server answered {status}"
                )));
            }
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| HistoryError::Retry(format!("history: {}", with_causes(&e))))?
        {
            if body.len() + chunk.len() > MAX_PAGE_BYTES {
                return Err(HistoryError::Retry(format!(
                    "history: a page larger than {} MiB",
                    MAX_PAGE_BYTES >> 20
                )));
            }
            body.extend_from_slice(&chunk);
        }
        parse(&body, crate::time::now_ms())
    }
}

/// A page body: `{"comments": [...]}` or a bare array, newest first.
pub fn parse(body: &[u8], now_ms: i64) -> Result<Page, HistoryError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        let what = if body.iter().all(u8::is_ascii_whitespace) {
            "an empty body".to_string()
        } else {
            format!("not JSON ({e})")
        };
        HistoryError::Retry(format!("history: the server answered {what}"))
    })?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut map) => match map.remove("comments") {
            Some(Value::Array(items)) => items,
            _ => {
                return Err(HistoryError::Retry(
                    "history: the answer has no `comments` list".to_string(),
                ));
            }
        },
        _ => {
            return Err(HistoryError::Retry(
                "history: the answer is neither a list nor an object with `comments`".to_string(),
            ));
        }
    };
    let mut page = Page {
        len: items.len(),
        oldest: items.last().and_then(paging_id),
        ..Page::default()
    };
    for item in &items {
        // Without its own time a message cannot be placed: it would look new at every read.
        let timed = item.get("timestamp").is_some_and(|t| !t.is_null());
        match normalize(item, now_ms) {
            Normalized::Chat(mut event) if timed => {
                event.late = true;
                page.events.push(event);
            }
            Normalized::Moderation(_) => {}
            _ => page.skipped += 1,
        }
    }
    Ok(page)
}

/// The id the endpoint pages by: `_id` for documented items, `chat_event_id` for the flat ones.
fn paging_id(item: &Value) -> Option<String> {
    ["_id", "chat_event_id", "id"]
        .iter()
        .find_map(|key| match item.get(*key)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page(body: Value) -> Page {
        parse(body.to_string().as_bytes(), 0).expect("a page")
    }

    #[test]
    fn both_shapes_and_both_envelopes() {
        let documented = json!({"_id": "c2", "streamId": "s", "text": "gm", "type": "message",
            "timestamp": "2025-02-01T14:20:00Z",
            "author": {"walletAddress": "0xabc", "fusername": "ann", "fid": 7, "favatar": ""}});
        let flat = json!({"chat_event_id": "1234", "sender_user_id": "u9",
            "sender_username": "bo", "sender_display_name": "Bo", "sender_pfp": "",
            "sender_wallet_address": "0x1", "streamer_id": "r", "session_id": "s",
            "text": "hi", "type": "message", "timestamp": "1738419600000"});
        let p = page(json!({"comments": [documented, flat]}));
        assert_eq!((p.len, p.skipped), (2, 0));
        assert_eq!(p.events[0].id, "c2");
        assert_eq!(p.events[1].author, "bo");
        assert!(p.events.iter().all(|e| e.late));
        assert_eq!(p.oldest.as_deref(), Some("1234"));
        let bare = page(json!([{"_id": 5, "text": "x", "timestamp": 1}]));
        assert_eq!((bare.events.len(), bare.oldest.as_deref()), (1, Some("5")));
    }

    #[test]
    fn a_flat_item_has_the_id_its_socket_message_has() {
        let socket = json!({"type": "message", "session_id": "s", "streamer_id": "r",
            "sender_user_id": "u9", "sender_username": "bo", "text": "hi",
            "timestamp": "1738419600000"});
        let mut item = socket.clone();
        item["chat_event_id"] = json!("77");
        let Normalized::Chat(live) = normalize(&socket, 0) else {
            panic!("chat")
        };
        assert_eq!(page(json!([item])).events[0].id, live.id);
    }

    #[test]
    fn what_is_not_a_message_is_skipped_and_counted() {
        let p = page(json!({"comments": [
            null, 5, "gm", {}, {"text": "no time"}, {"text": "", "timestamp": 1},
            {"type": "delete", "timestamp": 1},
            {"_id": "ok", "text": "fine", "timestamp": 3},
        ]}));
        assert_eq!((p.len, p.skipped, p.events.len()), (8, 6, 1));
        assert_eq!(p.oldest.as_deref(), Some("ok"));
    }

    #[test]
    fn bodies_that_are_not_pages_are_errors_that_say_why() {
        for (body, says) in [
            ("", "an empty body"),
            ("  \n", "an empty body"),
            ("<html>", "not JSON"),
            ("{\"error\": 1}", "no `comments`"),
            ("7", "neither a list"),
        ] {
            let Err(HistoryError::Retry(why)) = parse(body.as_bytes(), 0) else {
                panic!("{body:?} is not a page")
            };
            assert!(why.contains(says), "{body:?}: {why}");
        }
    }
}
