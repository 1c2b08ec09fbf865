//! One HTTP POST per chat message, as the agent, and what its outcome means: delivered, not
//! sent (safe to try again), rejected, or unknown (the request went out and no answer came).
//!
//! Only what cannot have reached the chat is retried: connect errors, a connection closed
//! before any answer, 5xx and 429 (honouring `Retry-After`). Redirects are never followed.
//! The token goes into the Authorization header only, marked sensitive; every text passes the
//! outbound [`Guard`] first, the last line of defence whatever the caller checked.

use std::error::Error as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue, LOCATION, RETRY_AFTER};
use serde_json::json;
use tokio::time::Instant;

use crate::act::guard::{Blocked, Guard};
use crate::config::{ApiVersion, Config};
use crate::error_text::with_causes;
use crate::health::Health;

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// Nothing reached the chat: no connection, or it closed before any answer.
    #[error("network error: {0}")]
    Network(String),
    /// The request went out and no answer came within `waited`: the message may or may not
    /// be in the chat. Never retried, so it cannot be posted twice.
    #[error(
        "no answer within {} ({detail}): the message may or may not be in the chat",
        seconds(*waited)
    )]
    Unknown {
        /// What the HTTP client reported.
        detail: String,
        /// How long the request was given.
        waited: Duration,
    },
    /// The server answered with a non-success status.
    #[error("server answered {status}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// The server's `Retry-After`, when it gave one in seconds.
        retry_after: Option<Duration>,
    },
    /// The server answered with a redirect, which is never followed: the body would be
    /// posted somewhere else.
    #[error("server answered {status} redirecting to {location}; redirects are not followed")]
    Redirect {
        /// HTTP status code (3xx).
        status: u16,
        /// The `Location` it named.
        location: String,
    },
    /// Retrying was still failing when the deadline passed.
    #[error("not delivered before its deadline (last error: {0})")]
    Deadline(Box<SendError>),
    /// The sender could not be set up (a token unfit for a header, a TLS setup error).
    #[error("{0}")]
    Setup(String),
    /// The outbound guard refused the text (a secret in it, a `[send] block` match),
    /// whoever wrote it.
    #[error("refused to post a text that {0}")]
    Blocked(Blocked),
}

impl SendError {
    /// Worth trying again: nothing was sent, or the server said 5xx or 429. Other 4xx would
    /// fail the same way again; an unknown outcome might post the message twice.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Network(_) => true,
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::Unknown { .. }
            | Self::Redirect { .. }
            | Self::Deadline(_)
            | Self::Setup(_)
            | Self::Blocked(_) => false,
        }
    }

    /// The message may be in the chat: a request went out and no answer came back.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Self::Unknown { .. })
    }
}

/// `2 s`, `1.5 s`: to the tenth, so a wait cut a microsecond short of 2 s still reads `2 s`.
pub(crate) fn seconds(duration: Duration) -> String {
    let tenths = (duration.as_secs_f64() * 10.0).round() as u64;
    if tenths.is_multiple_of(10) {
        format!("{} s", tenths / 10)
    } else {
        format!("{}.{} s", tenths / 10, tenths % 10)
    }
}

/// Posts messages to the chat as the agent.
#[derive(Debug)]
pub struct ChatPoster {
    client: reqwest::Client,
    url: String,
    api: ApiVersion,
    room: String,
    auth: HeaderValue,
    /// What no text may hold (promise 8: not even the agent's by mistake).
    guard: Guard,
    request_timeout: Duration,
    token_rejected: AtomicBool,
}

/// First pause between attempts; doubled each time up to [`MAX_RETRY_PAUSE`].
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(200);
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(2);
/// Longest `Location` quoted in an error.
const MAX_LOCATION_CHARS: usize = 300;

impl ChatPoster {
    /// A sender for the configured API generation and credentials; one request may take
    /// `[send] request_timeout_secs`.
    pub fn new(config: &Config) -> Result<Self, SendError> {
        let auth = crate::platform::bearer(&config.creds.access_token)
            .map_err(|why| SendError::Setup(why.into()))?;
        let request_timeout = config.send.request_timeout;
        // A connection not made in time is a connect error, retried since nothing was sent;
        // only a request already on its way can end as "unknown".
        let client = crate::platform::client(config, request_timeout / 2)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| SendError::Setup(with_causes(&e)))?;
        let path = match config.api {
            ApiVersion::V1 => "/api/agent/chat/send",
            ApiVersion::V2 => "/api/v1/agent/stream/chat/send",
        };
        Ok(Self {
            client,
            url: format!("{}{path}", config.api_url.trim_end_matches('/')),
            api: config.api,
            room: config.creds.user_db_id.clone(),
            auth,
            guard: Guard::new(config).map_err(SendError::Setup)?,
            request_timeout,
            token_rejected: AtomicBool::new(false),
        })
    }

    /// Let one request take up to `timeout` (within each message's deadline): for a caller
    /// that would rather wait for a slow platform than not know.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The outbound guard this sender posts nothing past.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// One attempt to post `text` in `room` (another streamer's id; empty: the own room),
    /// given `timeout` for an answer.
    pub async fn post(&self, room: &str, text: &str, timeout: Duration) -> Result<(), SendError> {
        self.guard.check(text).map_err(SendError::Blocked)?;
        let room = if room.is_empty() { &self.room } else { room };
        let body = match self.api {
            ApiVersion::V1 => json!({ "userDbId": room, "message": text }),
            ApiVersion::V2 => json!({ "message": text, "destination_user_id": room }),
        };
        let response = self
            .client
            .post(&self.url)
            .header(AUTHORIZATION, self.auth.clone())
            .timeout(timeout)
            .json(&body)
            .send()
            .await
            .map_err(|e| classify(e, timeout))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        if status.is_redirection() {
            // to_str() admits visible ASCII only: nothing in it can drive a terminal.
            let location = header(LOCATION).map_or_else(
                || "nowhere (no Location header)".to_string(),
                |l| l.chars().take(MAX_LOCATION_CHARS).collect(),
            );
            return Err(SendError::Redirect {
                status: status.as_u16(),
                location,
            });
        }
        let retry_after = header(RETRY_AFTER)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if status.as_u16() == 401 && !self.token_rejected.swap(true, Ordering::Relaxed) {
            tracing::error!(
                "access token rejected (401 from {}): check access_token in the credentials file or RETAKE_ACCESS_TOKEN",
                self.url
            );
        }
        Err(SendError::Status {
            status: status.as_u16(),
            retry_after,
        })
    }

    /// The address messages are posted to (the API generation's path on the API host).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Post `text` in `room` (empty: the own room), retrying what cannot have reached the
    /// chat, until `deadline`. Each request gets the request timeout or what is left of the
    /// deadline, whichever is less.
    pub async fn deliver(
        &self,
        room: &str,
        text: &str,
        deadline: Instant,
        health: &Health,
    ) -> Result<(), SendError> {
        self.deliver_noting(room, text, deadline, health, |_, _| {})
            .await
    }

    /// [`deliver`](Self::deliver), calling `on_retry` once, at the first failure that will be
    /// retried, with that error and the time left: a caller someone waits on can say what is
    /// going on instead of falling silent for the whole deadline.
    pub async fn deliver_noting(
        &self,
        room: &str,
        text: &str,
        deadline: Instant,
        health: &Health,
        on_retry: impl FnOnce(&SendError, Duration),
    ) -> Result<(), SendError> {
        let mut on_retry = Some(on_retry);
        let mut pause = FIRST_RETRY_PAUSE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let error = match self.post(room, text, self.request_timeout.min(left)).await {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            health.counters.send_errors.inc();
            if !error.is_retryable() {
                return Err(error);
            }
            let wait = match &error {
                SendError::Status {
                    retry_after: Some(after),
                    ..
                } => *after,
                _ => pause,
            };
            if Instant::now() + wait >= deadline {
                return Err(SendError::Deadline(Box::new(error)));
            }
            if let Some(note) = on_retry.take() {
                note(&error, deadline.saturating_duration_since(Instant::now()));
            }
            tracing::debug!("send failed ({error}); retrying in {wait:?}");
            tokio::time::sleep(wait).await;
            pause = (pause * 2).min(MAX_RETRY_PAUSE);
        }
    }
}

/// `error` as a sentence naming `url`, the address it happened at: "cannot reach URL: ...",
/// "URL answered 503", and for a 404 the likely cause, the other API generation's path.
pub fn describe(error: &SendError, url: &str) -> String {
    match error {
        SendError::Network(detail) => format!("cannot reach {url}: {detail}"),
        SendError::Status { status: 404, .. } => format!(
            "404 from {url}: is --api right? (v1 posts to /api/agent/chat/send, v2 to \
             /api/v1/agent/stream/chat/send; --api-url sets the host)"
        ),
        SendError::Status { status: 401, .. } => format!(
            "401 from {url}: the access token was rejected; check access_token in the \
             credentials file or RETAKE_ACCESS_TOKEN"
        ),
        SendError::Status { status, .. } => format!("{url} answered {status}"),
        SendError::Unknown { detail, waited } => format!(
            "no answer from {url} within {} ({detail}): the message may or may not be in the chat",
            seconds(*waited)
        ),
        SendError::Redirect { status, location } => {
            format!("{url} answered {status} redirecting to {location}; redirects are not followed")
        }
        SendError::Deadline(last) => format!(
            "{} (still failing when its deadline passed)",
            describe(last, url)
        ),
        SendError::Setup(_) | SendError::Blocked(_) => error.to_string(),
    }
}

/// What a failed request means for the message. A connect error sent nothing. A connection
/// closed or reset before any answer is taken as not accepted: it is what a keep-alive
/// connection the server had just dropped looks like, and a server that took the message
/// would have said so. A timeout once connected, or anything else, is unknown: the request
/// may have been processed.
fn classify(error: reqwest::Error, waited: Duration) -> SendError {
    let not_sent = error.is_connect() || (!error.is_timeout() && closed_before_answer(&error));
    // without_url: the address is in our config already; keep errors short.
    let detail = with_causes(&error.without_url());
    if not_sent {
        SendError::Network(detail)
    } else {
        SendError::Unknown { detail, waited }
    }
}

/// The connection was closed or reset with no response byte read.
fn closed_before_answer(error: &reqwest::Error) -> bool {
    let mut cause = error.source();
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
            if matches!(io.kind(), ConnectionReset | ConnectionAborted | BrokenPipe) {
                return true;
            }
        }
        if let Some(hyper) = e.downcast_ref::<hyper::Error>()
            && (hyper.is_incomplete_message() || hyper.is_canceled())
        {
            return true;
        }
        cause = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_retried() {
        let status = |status| SendError::Status {
            status,
            retry_after: None,
        };
        assert!(SendError::Network("reset".into()).is_retryable());
        assert!(status(500).is_retryable());
        assert!(status(503).is_retryable());
        assert!(status(429).is_retryable());
        assert!(!status(400).is_retryable());
        assert!(!status(401).is_retryable());
        assert!(!status(409).is_retryable());
        let unknown = SendError::Unknown {
            detail: "operation timed out".into(),
            waited: Duration::from_millis(1500),
        };
        assert!(!unknown.is_retryable() && unknown.is_unknown());
        assert_eq!(
            unknown.to_string(),
            "no answer within 1.5 s (operation timed out): the message may or may not be in the chat"
        );
        assert_eq!(seconds(Duration::from_micros(1_999_990)), "2 s");
        assert_eq!(seconds(Duration::from_secs(60)), "60 s");
        let redirect = SendError::Redirect {
            status: 307,
            location: "http://elsewhere/".into(),
        };
        assert!(!redirect.is_retryable());
    }
}
