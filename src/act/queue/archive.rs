//! `queue.archive.jsonl`: messages the `max_items` bound kept out of the queue, never handed
//! to the agent. Capped in size: before a line would take it past `max_bytes` it is rotated
//! to `queue.archive.1.jsonl` (the older ones move up, beyond `keep` they are dropped), as
//! the decision log is. Appended durably, like the queue.

use std::path::Path;

use super::QueueError;
use super::file::{self, Mode};
use super::item::{self, QueueItem};

/// Append `items` to the archive at `path`, rotating whenever the next line would pass
/// `max_bytes` (a line longer than that gets a file of its own).
pub(super) fn write(
    path: &Path,
    items: &[QueueItem],
    max_bytes: u64,
    keep: usize,
) -> Result<(), QueueError> {
    let mut size = match file::open(path, Mode::Read)? {
        Some(archive) => archive.metadata().map_err(file::io("inspect", path))?.len(),
        None => 0,
    };
    let mut pending = Vec::new();
    for item in items {
        let line = item::encode([item]);
        if size + (pending.len() + line.len()) as u64 > max_bytes && size + pending.len() as u64 > 0
        {
            flush(path, &mut pending)?;
            rotate(path, keep)?;
            size = 0;
        }
        pending.extend_from_slice(&line);
    }
    flush(path, &mut pending)
}

fn flush(path: &Path, pending: &mut Vec<u8>) -> Result<(), QueueError> {
    if pending.is_empty() {
        return Ok(());
    }
    let mut archive = file::open(path, Mode::Create)?
        .ok_or_else(|| file::io("open", path)(std::io::ErrorKind::NotFound.into()))?;
    let len = archive.metadata().map_err(file::io("inspect", path))?.len();
    file::append_at(&mut archive, len, pending, path)?;
    pending.clear();
    Ok(())
}

/// `queue.archive.jsonl` → `.1` → … → `.<keep>` (which is dropped next time).
fn rotate(path: &Path, keep: usize) -> Result<(), QueueError> {
    crate::rotating::rotate_files(path, keep).map_err(file::io("rotate", path))
}
