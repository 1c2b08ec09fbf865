//! The agent's own answer, for `retake-chat reply` and the MCP server's `chat_reply`: the text
//! cleaned and split as the listener's are, refused whole if the outbound guard blocks it or
//! any part, each part posted through [`ChatPoster::deliver`]
//! (retrying only what cannot have reached the chat, waiting up to the agent's deadline),
//! what was delivered written to the transcript, and the queue items acknowledged only once
//! every part is in the chat.

use crate::act::budget::{MAX_MESSAGE_CHARS, fit, split};
use crate::act::guard::Blocked;
use crate::act::queue::{Queue, QueueError};
use crate::config::Config;
use crate::health::Health;

use super::poster::seconds;
use super::{ChatPoster, SendError, describe};

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
    /// Characters cut off the end to fit two messages: the chat never saw them.
    pub cut_chars: usize,
}

impl Replied {
    /// When the text did not go out as one message: how it went out, for the agent to know
    /// (split in two, or cut to the length limit). `None` for a text sent whole.
    pub fn fitted_note(&self) -> Option<String> {
        match (self.sent.len(), self.cut_chars) {
            (0 | 1, _) => None,
            (n, 0) => Some(format!(
                "sent as {n} messages: the text is longer than {MAX_MESSAGE_CHARS} characters, \
                 so it was split at a word"
            )),
            (n, cut) => Some(format!(
                "sent as {n} messages, cut to the length limit: the last {cut} characters were \
                 not sent (at most {} characters go out, in two messages)",
                2 * MAX_MESSAGE_CHARS
            )),
        }
    }
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
    /// The room to answer in cannot be told (nothing was posted).
    #[error("cannot send the reply: {0}")]
    Room(String),
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
    #[error("cannot send the reply: {}{}", first_part(*posted), describe(error, url))]
    Failed {
        /// Parts delivered before the failure.
        posted: usize,
        /// Why the next part was not.
        error: SendError,
        /// Where it was posted.
        url: String,
    },
    /// A part went out and no answer came: it may be in the chat. Never posted again.
    #[error("the reply's outcome is unknown: {}{}", first_part(*posted), describe(error, url))]
    Unknown {
        /// Parts delivered before it.
        posted: usize,
        /// The send error, which says how long it waited.
        error: SendError,
        /// Where it was posted.
        url: String,
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

/// Post `text` as the agent in `room` (another streamer's id or name as given to the
/// listener; `None`: the room the items in `ack` were said in, else the own room), then
/// acknowledge `ack`. One request may take the whole `[send] agent_deadline_secs`: the agent
/// would rather wait than not know. At the first failure that is retried, `progress` gets a
/// sentence saying so ("cannot reach URL: ...; retrying for up to 59 s"), so the wait is
/// never silent.
pub async fn reply(
    config: &Config,
    room: Option<&str>,
    text: &str,
    ack: &[String],
    progress: impl Fn(String),
) -> Result<Replied, ReplyError> {
    if split(text).is_empty() {
        return Err(ReplyError::Empty);
    }
    let room = match room {
        Some(room) => room_id(config, room)?,
        None => room_of(config, ack).await?,
    };
    let room = room.as_str();
    let deadline = config.send.agent_deadline;
    let sender = ChatPoster::new(config)
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
    let deadline = tokio::time::Instant::now() + deadline;
    let (posted, failure) = post(&sender, room, &parts, deadline, progress).await;
    // What reached the chat is in the conversation, even when its second part did not.
    let sent: Vec<String> = parts.into_iter().take(posted).collect();
    let transcript_error = write_transcript(config, room, &sent).await;
    if let Some(error) = failure {
        let url = sender.url().to_string();
        return Err(if error.is_unknown() {
            ReplyError::Unknown { posted, error, url }
        } else {
            ReplyError::Failed { posted, error, url }
        });
    }
    let not_in_queue = acknowledge(config, ack, &sent).await?;
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
        cut_chars: fit(text).cut_chars,
    })
}

/// Post `parts` in order until one fails: how many were posted, and the failure. The first
/// failure that is retried is said through `progress`.
async fn post(
    sender: &ChatPoster,
    room: &str,
    parts: &[String],
    deadline: tokio::time::Instant,
    progress: impl Fn(String),
) -> (usize, Option<SendError>) {
    let health = Health::new();
    let mut posted = 0;
    for part in parts {
        let retrying = |error: &SendError, left| {
            progress(format!(
                "{}; retrying for up to {}",
                describe(error, sender.url()),
                seconds(left)
            ))
        };
        match sender
            .deliver_noting(room, part, deadline, &health, retrying)
            .await
        {
            Ok(()) => posted += 1,
            Err(error) => return (posted, Some(error)),
        }
    }
    (posted, None)
}

/// Write what was delivered to the transcript; why it could not be, if it could not.
async fn write_transcript(config: &Config, room: &str, sent: &[String]) -> Option<String> {
    let (config, sent, room) = (config.clone(), sent.to_vec(), room.to_string());
    blocking(move || crate::transcript::append_said(&config, &room, &sent))
        .await
        .err()
        .map(|e| format!("{e:#}"))
}

/// Acknowledge `ack` once `sent` is in the chat: the ids that were not in the queue.
async fn acknowledge(
    config: &Config,
    ack: &[String],
    sent: &[String],
) -> Result<Vec<String>, ReplyError> {
    if ack.is_empty() {
        return Ok(Vec::new());
    }
    let queue = Queue::with_config(config.state_dir.queue(), &config.queue);
    let ids = ack.to_vec();
    blocking(move || queue.ack(&ids).map_err(anyhow::Error::from))
        .await
        .map_err(|error| match error.downcast::<QueueError>() {
            Ok(error) => ReplyError::Ack {
                sent: sent.to_vec(),
                error,
            },
            Err(other) => ReplyError::State(other),
        })
}

/// The id of `given` (an id, or a name an earlier `--room` resolved, from `rooms.json`);
/// empty for the own room.
fn room_id(config: &Config, given: &str) -> Result<String, ReplyError> {
    let given = given.trim();
    if given.is_empty() || given == config.creds.user_db_id {
        return Ok(String::new());
    }
    let id = crate::rooms::cached_id(&config.state_dir, given).unwrap_or_else(|| given.to_string());
    if id
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        Ok(id)
    } else {
        Err(ReplyError::Room(format!(
            "--room: expected a streamer's id or name, got {given:?}"
        )))
    }
}

/// The room the queue items `ack` were said in (empty: the own room); items said in
/// different rooms cannot share one answer.
async fn room_of(config: &Config, ack: &[String]) -> Result<String, ReplyError> {
    if ack.is_empty() || !config.state_dir.queue().exists() {
        return Ok(String::new());
    }
    let queue = Queue::with_config(config.state_dir.queue(), &config.queue);
    let (items, _) = blocking(move || queue.read_all().map_err(anyhow::Error::from))
        .await
        .map_err(ReplyError::State)?;
    let own = &config.creds.user_db_id;
    let mut rooms: Vec<&str> = items
        .iter()
        .filter(|item| ack.contains(&item.id))
        .map(|item| {
            if item.room == *own {
                ""
            } else {
                item.room.as_str()
            }
        })
        .collect();
    rooms.sort_unstable();
    rooms.dedup();
    match rooms.as_slice() {
        [] => Ok(String::new()),
        [room] => Ok((*room).to_string()),
        _ => Err(ReplyError::Room(format!(
            "the items were said in different rooms ({}): answer each room in a reply of its own",
            rooms
                .iter()
                .map(|r| if r.is_empty() { own.as_str() } else { r })
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Run file work off the async threads; a panic in it is an error, not a crash.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| anyhow::anyhow!("a file operation failed: {e}"))?
}
