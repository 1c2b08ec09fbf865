//! `retake-chat reply [--ack ID]... TEXT`: the agent answers through the listener's send path
//! (same endpoint, same cleaning of the text, same retries), and only once it is delivered
//! are the items acknowledged.

use std::process::ExitCode;

use crate::act::budget::split;
use crate::act::queue::Queue;
use crate::act::reply::Sender;
use crate::cli::ReplyArgs;
use crate::config::{self, Env};
use crate::health::Health;

/// Send, then acknowledge; on a failed send nothing is acknowledged and the exit code is 2.
pub fn reply(args: &ReplyArgs) -> anyhow::Result<ExitCode> {
    let config = config::resolve(&args.run.overrides(), &Env::from_process())?;
    let parts = split(&args.text);
    if parts.is_empty() {
        anyhow::bail!(
            "nothing to send: the text is empty once line breaks and control characters are removed"
        );
    }
    let sender = Sender::new(&config)?;
    let health = Health::new();
    let deadline = config::secs(config.send.agent_deadline_secs);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let deadline = tokio::time::Instant::now() + deadline;
        for part in &parts {
            sender
                .deliver(part, deadline, &health)
                .await
                .map_err(|e| anyhow::anyhow!("cannot send the reply: {e}"))?;
        }
        anyhow::Ok(())
    })?;
    if !args.ack.is_empty() {
        let unknown = Queue::new(config.queue_path()).ack(&args.ack)?;
        if !unknown.is_empty() {
            eprintln!(
                "sent; not in the queue (already acknowledged?): {}",
                unknown.join(" ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
