//! The agent's own answer, for `retake-chat reply` and the MCP server's `chat_reply`: the text
//! cleaned and split as the listener's are, refused whole if the outbound guard blocks it or
//! any part, each part posted through [`Sender::deliver`]
//! (retrying only what cannot have reached the chat, waiting up to the agent's deadline),
//! what was delivered written to the transcript, and the queue items acknowledged only once
//! every part is in the chat.

use crate::act::budget::split;
use crate::act::guard::Blocked;
use crate::act::queue::{Queue, QueueError};
use crate::config::{self, Config};
use crate::health::Health;

use super::{SendError, Sender};

/// A reply that reached the chat.
#[derive(Debug, Clone, PartialEq)]
pub struct Replied {
    /// The texts posted, in order: one, or two when the text was longer than a message.
    pub sent: Vec<String>,
    /// The ids acknowledged.
    pub acked: Vec<String>,
    /// The ids that were not in the queue (already acknowledged, or never queued).
    pub not_in_queue: Vec<String>,
    /// Delivered, but not written to the transcript (the next item's context lacks it).
    pub transcript_error: Option<String>,
}

/// Why a reply did not end in the chat with its items acknowledged. Nothing is acknowledged
/// in any of these.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    /// Nothing left once line breaks and control characters are removed.
    #[error(
        "nothing to send: the text is empty once line breaks and control characters are removed"
    )]
    Empty,
    /// The state directory cannot be used, so acknowledging would fail after sending.
    #[error("{0:#}")]
    State(anyhow::Error),
    /// The sender could not be set up.
    #[error("cannot send the reply: {0}")]
    Setup(SendError),
    /// The outbound guard refused the text (a secret in it, a `[send] block` match):
    /// nothing was posted.
    #[error("cannot send the reply: refused to post a text that {0}")]
    Blocked(Blocked),
    /// Not delivered: `posted` of the parts reached the chat first.
    #[error("cannot send the reply: {}{error}", first_part(*posted))]
    Failed {
        /// Parts delivered before the failure.
        posted: usize,
        /// Why the next part was not.
        error: SendError,
    },
    /// A part went out and no answer came: it may be in the chat. Never posted again.
    #[error("the reply's outcome is unknown: {}{error}", first_part(*posted))]
    Unknown {
        /// Parts delivered before it.
        posted: usize,
        /// The send error, which says how long it waited.
        error: SendError,
    },
    /// Delivered, then the acknowledgement failed: the items come back when their lease
    /// ends, and the answer is already in the chat.
    #[error("sent, but the items were not acknowledged: {error}")]
    Ack {
        /// What was delivered.
        sent: Vec<String>,
        /// Why acknowledging failed.
        error: QueueError,
    },
}

fn first_part(posted: usize) -> &'static str {
    if posted > 0 {
        "its first part was posted, the second: "
    } else {
        ""
    }
}

/// Post `text` as the agent, then acknowledge `ack`. One request may take the whole
/// `[send] agent_deadline_secs`: the agent would rather wait than not know.
pub async fn reply(config: &Config, text: &str, ack: &[String]) -> Result<Replied, ReplyError> {
    if split(text).is_empty() {
        return Err(ReplyError::Empty);
    }
    let deadline = config::secs(config.send.agent_deadline_secs);
    let sender = Sender::new(config)
        .map_err(ReplyError::Setup)?
        .with_request_timeout(deadline);
    // Whole or not at all: a first part posted before the second is found blocked would be
    // half an answer, and the secret may straddle the cut.
    let parts = sender.guard().parts(text).map_err(ReplyError::Blocked)?;
    // Refused before sending, not after: an answer sent but never acknowledged is sent twice.
    if !ack.is_empty() {
        crate::files::check_state_dir(&config.state_dir)
            .map_err(|e| ReplyError::State(e.into()))?;
    }
    let health = Health::new();
    let deadline = tokio::time::Instant::now() + deadline;
    let mut failure = None;
    let mut posted = 0;
    for part in &parts {
        match sender.deliver(part, deadline, &health).await {
            Ok(()) => posted += 1,
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    // What reached the chat is in the conversation, even when its second part did not.
    let sent: Vec<String> = parts.into_iter().take(posted).collect();
    let transcript_error = {
        let (config, sent) = (config.clone(), sent.clone());
        blocking(move || crate::transcript::append_said(&config, &sent))
            .await
            .err()
            .map(|e| format!("{e:#}"))
    };
    if let Some(error) = failure {
        return Err(if error.is_unknown() {
            ReplyError::Unknown { posted, error }
        } else {
            ReplyError::Failed { posted, error }
        });
    }
    let mut not_in_queue = Vec::new();
    if !ack.is_empty() {
        let queue = Queue::with_config(config.queue_path(), &config.queue);
        let ids = ack.to_vec();
        match blocking(move || queue.ack(&ids).map_err(anyhow::Error::from)).await {
            Ok(unknown) => not_in_queue = unknown,
            Err(error) => {
                return Err(match error.downcast::<QueueError>() {
                    Ok(error) => ReplyError::Ack { sent, error },
                    Err(other) => ReplyError::State(other),
                });
            }
        }
    }
    let acked = ack
        .iter()
        .filter(|id| !not_in_queue.contains(id))
        .cloned()
        .collect();
    Ok(Replied {
        sent,
        acked,
        not_in_queue,
        transcript_error,
    })
}

/// Run file work off the async threads; a panic in it is an error, not a crash.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| anyhow::anyhow!("a file operation failed: {e}"))?
}
