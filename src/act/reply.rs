//! Sending chat messages as the agent: one keep-alive HTTP client, one message at a time in
//! order, retried on network errors, 5xx and 429 (honouring `Retry-After`) until a deadline,
//! never on other 4xx.
//!
//! The token goes into exactly one place, the Authorization header, marked sensitive so
//! that not even a debug print of the request shows it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use serde_json::json;
use tokio::time::Instant;

use super::budget::{RecentTexts, TokenBucket, split};
use crate::config::{ApiVersion, Config, SendConfig};
use crate::error_text::with_causes;
use crate::health::Health;

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// The request did not complete (connection refused, reset, timed out).
    #[error("network error: {0}")]
    Network(String),
    /// The server answered with a non-success status.
    #[error("server answered {status}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// The server's `Retry-After`, when it gave one in seconds.
        retry_after: Option<Duration>,
    },
    /// Retrying was still failing when the deadline passed.
    #[error("not delivered before its deadline (last error: {0})")]
    Deadline(Box<SendError>),
}

impl SendError {
    /// Worth trying again: network errors, 5xx and 429. Other 4xx will fail the same way again.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Network(_) => true,
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::Deadline(_) => false,
        }
    }
}

/// Posts messages to the chat as the agent.
#[derive(Debug)]
pub struct Sender {
    client: reqwest::Client,
    url: String,
    api: ApiVersion,
    room: String,
    auth: HeaderValue,
    token_rejected: AtomicBool,
}

/// First pause between attempts; doubled each time up to [`MAX_RETRY_PAUSE`].
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(200);
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(2);

impl Sender {
    /// A sender for the configured API generation and credentials.
    pub fn new(config: &Config) -> Result<Self, SendError> {
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", config.creds.access_token.expose()))
                .map_err(|_| {
                    SendError::Network(
                        "the access token contains characters not allowed in an HTTP header".into(),
                    )
                })?;
        auth.set_sensitive(true);
        let client = config
            .tls
            .http(reqwest::Client::builder())
            .user_agent(concat!("retake-chat/", env!("CARGO_PKG_VERSION")))
            .timeout(crate::config::secs(config.send.request_timeout_secs))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| SendError::Network(e.to_string()))?;
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
            token_rejected: AtomicBool::new(false),
        })
    }

    /// One attempt to post `text`.
    pub async fn post(&self, text: &str) -> Result<(), SendError> {
        let body = match self.api {
            ApiVersion::V1 => json!({ "userDbId": self.room, "message": text }),
            ApiVersion::V2 => json!({ "message": text, "destination_user_id": self.room }),
        };
        let response = self
            .client
            .post(&self.url)
            .header(AUTHORIZATION, self.auth.clone())
            .json(&body)
            .send()
            .await
            // without_url: the address is in our config already; keep errors short.
            .map_err(|e| SendError::Network(with_causes(&e.without_url())))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
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

    /// Post `text`, retrying what is worth retrying until `deadline`.
    pub async fn deliver(
        &self,
        text: &str,
        deadline: Instant,
        health: &Health,
    ) -> Result<(), SendError> {
        let mut pause = FIRST_RETRY_PAUSE;
        loop {
            let error = match tokio::time::timeout_at(deadline, self.post(text)).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(error)) => error,
                Err(_) => SendError::Network("request still running at the deadline".into()),
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
            tracing::debug!("send failed ({error}); retrying in {wait:?}");
            tokio::time::sleep(wait).await;
            pause = (pause * 2).min(MAX_RETRY_PAUSE);
        }
    }
}

/// What a message is, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// An instant reply decided by the personality.
    Reply,
    /// An acknowledgement of a queued message.
    Ack,
}

/// A message waiting to be sent.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The text to post.
    pub text: String,
    /// Reply or acknowledgement.
    pub purpose: Purpose,
    /// Dropped rather than sent after this.
    pub deadline: Instant,
    /// The viewer message it answers, for logs.
    pub in_reply_to: String,
}

/// Send everything from `rx` in order, each within its deadline, under the rate limit
/// (`per_30s`/`burst`, 0 = unlimited), never the same text twice within 30 s, until every
/// sender is gone.
pub async fn run(
    mut rx: super::outbox::OutboxRx,
    sender: Sender,
    limits: &SendConfig,
    health: Arc<Health>,
) {
    let mut bucket = TokenBucket::new(limits.per_30s, limits.burst);
    let mut recent = RecentTexts::default();
    let counters = &health.counters;
    while let Some(out) = rx.recv().await {
        for text in split(&out.text) {
            let now = Instant::now();
            if now >= out.deadline {
                counters.send_dropped.inc();
                tracing::warn!(id = %out.in_reply_to, "reply dropped: its deadline passed before it could be sent");
                continue;
            }
            if recent.contains(&text, now) {
                counters.repeats_suppressed.inc();
                tracing::debug!(id = %out.in_reply_to, "not sending {text:?} again within 30 s");
                continue;
            }
            if !bucket.try_take(now) {
                counters.rate_limited.inc();
                tracing::info!(id = %out.in_reply_to, "reply dropped: over the send budget ([send] per_30s = {})", limits.per_30s);
                continue;
            }
            recent.record(&text, now);
            match sender.deliver(&text, out.deadline, &health).await {
                Ok(()) => {
                    tracing::debug!(id = %out.in_reply_to, "sent {text:?}");
                    match out.purpose {
                        Purpose::Reply => counters.replies_sent.inc(),
                        Purpose::Ack => counters.acks_sent.inc(),
                    }
                }
                Err(error) => {
                    counters.send_dropped.inc();
                    health.set_error(format!("send: {error}"));
                    tracing::warn!(id = %out.in_reply_to, "reply dropped: {error}");
                }
            }
        }
    }
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
    }
}
