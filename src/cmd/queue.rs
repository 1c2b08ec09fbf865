//! `retake-chat queue list|take|ack`: the agent's side of the queue. Results go to stdout as
//! JSON lines; notes (unreadable lines, unknown ids) to stderr. The state directory and the
//! `[queue]` settings (the lock timeout) are found as the listener finds them; `take
//! --context N` adds the chat lines before each item, from the listener's transcript.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use crate::act::queue::{Queue, QueueItem};
use crate::cli::{QueueAction, QueueArgs};
use crate::config::{self, Env};
use crate::time::now_ms;
use crate::transcript::{self, Line};
use crate::visible;

/// Run one queue action.
pub fn queue(args: &QueueArgs) -> anyhow::Result<ExitCode> {
    let local = config::resolve_local(&args.state.overrides(), &Env::from_process())?;
    let dir = local.state_dir;
    let queue = Queue::with_config(dir.queue(), &local.queue);
    let now = now_ms();
    // A directory no listener has used is a wrong --state-dir far more often than an empty
    // queue: say so, rather than "nothing" forever.
    if !dir.is_dir() {
        anyhow::bail!(
            "there is no state directory at {} (no listener has run with it; start \
             `retake-chat`, or give the listener's --state-dir or RETAKE_STATE_DIR)",
            dir.display()
        );
    }
    // Writing (take, ack) in a directory others control could go through their links.
    crate::files::check_state_dir(&dir)?;
    match &args.action {
        QueueAction::List { all } => {
            let (items, problems) = queue.read_all()?;
            for problem in problems {
                eprintln!("{}", visible::escape(&problem.to_string()));
            }
            print_items(items.iter().filter(|item| *all || item.is_pending(now)))?;
            Ok(ExitCode::SUCCESS)
        }
        QueueAction::Take {
            max,
            lease,
            context,
        } => {
            let lease_ms = i64::try_from(lease.saturating_mul(1000)).unwrap_or(i64::MAX);
            let taken = queue.take(*max, lease_ms, now)?;
            if *context == 0 {
                print_items(taken.iter())?;
            } else {
                let items: Vec<(&str, i64)> = taken
                    .iter()
                    .map(|item| (item.id.as_str(), item.ts))
                    .collect();
                let contexts = transcript::contexts(&dir, &items, usize::from(*context));
                print_items(
                    taken
                        .iter()
                        .zip(contexts)
                        .map(|(item, context)| WithContext { item, context }),
                )?;
            }
            Ok(if taken.is_empty() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        QueueAction::Ack { ids } => {
            let unknown = queue.ack(ids)?;
            if !unknown.is_empty() {
                eprintln!(
                    "not in the queue (already acknowledged?): {}",
                    unknown.join(" ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A taken item with the chat lines said before it (`take --context N`).
#[derive(Serialize)]
struct WithContext<'a> {
    #[serde(flatten)]
    item: &'a QueueItem,
    context: Vec<Line>,
}

/// One JSON object per line on stdout (viewers' text: DEL, C1 and bidi escaped, see
/// [`visible::json`], in case a person reads it on a terminal).
fn print_items(items: impl Iterator<Item = impl Serialize>) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for item in items {
        let line = serde_json::to_string(&item).context("cannot write to stdout")?;
        writeln!(out, "{}", visible::json(&line)).context("cannot write to stdout")?;
    }
    out.flush().context("cannot write to stdout")
}
