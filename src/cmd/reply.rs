//! `retake-chat reply [--ack ID]... TEXT`: the agent answers through the listener's send path
//! (same endpoint, same cleaning of the text, same retries of what cannot have reached the
//! chat), and only once it is delivered are the items acknowledged. A slow platform is waited
//! for, up to the agent's deadline, rather than asked twice; a reply that went out and got no
//! answer is reported as unknown (exit 3), never posted again by itself. What was delivered
//! goes into the listener's transcript, so the agent's answers are in the next item's context.

use std::process::ExitCode;

use crate::act::reply::agent::{self, ReplyError};
use crate::act::reply::describe;
use crate::cli::ReplyArgs;
use crate::config::{self, Env};

/// The exit code of a reply whose outcome is unknown.
pub const EXIT_UNKNOWN: u8 = 3;

/// A reply that went out and got no answer in time: it may or may not be in the chat.
/// Nothing is acknowledged: a lost answer is worse than a question seen twice, and the agent
/// is told how to settle it either way.
#[derive(Debug, thiserror::Error)]
#[error(
    "the reply's outcome is unknown: {sent}{error}. It was not posted again (that could say it \
     twice). {next}"
)]
pub struct OutcomeUnknown {
    /// What was already delivered, when the text went out in two parts.
    sent: &'static str,
    /// The send error, naming the address and how long it waited.
    error: String,
    /// What became of the `--ack` ids, and what to do.
    next: String,
}

/// Send, then acknowledge. A failed send acknowledges nothing and exits 2; an unknown
/// outcome acknowledges nothing and exits 3 ([`OutcomeUnknown`]).
pub fn reply(args: &ReplyArgs) -> anyhow::Result<ExitCode> {
    let config = config::resolve(&args.account.overrides(), &Env::from_process())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Said as it happens: the retries may take the whole deadline.
    let progress = |line: String| eprintln!("{}", crate::visible::escape(&line));
    let room = args.room.as_deref();
    match runtime.block_on(agent::reply(&config, room, &args.text, &args.ack, progress)) {
        Ok(replied) => {
            if let Some(note) = replied.fitted_note() {
                eprintln!("{note}");
            }
            if let Some(error) = replied.transcript_error {
                eprintln!("sent, but not written to the transcript: {error}");
            }
            if !replied.not_in_queue.is_empty() {
                eprintln!(
                    "sent; not in the queue (already acknowledged?): {}",
                    replied.not_in_queue.join(" ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(ReplyError::Unknown { posted, error, url }) => Err(OutcomeUnknown {
            sent: if posted > 0 {
                "its first part was posted, the second: "
            } else {
                ""
            },
            error: describe(&error, &url),
            next: next_steps(&args.ack),
        }
        .into()),
        Err(error) => Err(error.into()),
    }
}

/// After an unknown outcome: the items stay as they are (leased, back when the lease ends).
fn next_steps(ack: &[String]) -> String {
    if ack.is_empty() {
        return "Look in the chat before replying again.".to_string();
    }
    let ids = ack.join(" ");
    format!(
        "Not acknowledged: {ids} (back in the queue when the lease ends). If the answer is in \
         the chat, run `retake-chat queue ack {ids}`; if it is not, reply again."
    )
}
