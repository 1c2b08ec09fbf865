//! Reading a JSON-lines file from its end, in chunks: the transcript's readers want its last
//! lines, and the file can be 10 MB. Lines come newest first; a last line without its newline
//! (being written right now, or cut by a crash) is not a line yet and is skipped.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::Path;

/// Bytes read from the file at a time.
pub(super) const CHUNK: usize = 64 * 1024;
/// A longer line is no transcript line (one holds at most 2,000 characters of text): skipped
/// without being held in memory.
const MAX_LINE: usize = 1024 * 1024;

/// Hand the lines of `path` to `visit`, newest first, until it breaks or the file's start;
/// returns how many bytes were read. A missing file has no lines.
pub(super) fn read_back(
    path: &Path,
    chunk: usize,
    mut visit: impl FnMut(&[u8]) -> ControlFlow<()>,
) -> io::Result<u64> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut pos = file.metadata()?.len();
    let mut buf = vec![0u8; chunk.max(1)];
    // The end of a line whose start is in an earlier chunk.
    let mut carry: Vec<u8> = Vec::new();
    // Until the first newline from the end, bytes belong to the torn last line.
    let mut torn = true;
    // The line in `carry` passed MAX_LINE: dropped, and skipped once its start is found.
    let mut oversized = false;
    let mut read = 0u64;
    while pos > 0 {
        let start = pos.saturating_sub(buf.len() as u64);
        let size = (pos - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..size])?;
        read += size as u64;
        pos = start;
        let data = &buf[..size];
        let mut end = size;
        while let Some(newline) = data[..end].iter().rposition(|&b| b == b'\n') {
            let piece = &data[newline + 1..end];
            end = newline;
            if std::mem::take(&mut torn) | std::mem::take(&mut oversized) {
                carry.clear();
                continue;
            }
            let flow = if carry.is_empty() {
                visit(piece)
            } else {
                carry.splice(0..0, piece.iter().copied());
                let flow = visit(&carry);
                carry.clear();
                flow
            };
            if flow.is_break() {
                return Ok(read);
            }
        }
        if oversized || carry.len() + end > MAX_LINE {
            oversized = true;
            carry.clear();
        } else {
            carry.splice(0..0, data[..end].iter().copied());
        }
    }
    // The file's first line has no newline before it.
    if !torn && !oversized && !carry.is_empty() {
        let _ = visit(&carry);
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[u8], chunk: usize) -> Vec<String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.jsonl");
        std::fs::write(&path, text).expect("write");
        let mut seen = Vec::new();
        read_back(&path, chunk, |line| {
            seen.push(String::from_utf8_lossy(line).into_owned());
            ControlFlow::Continue(())
        })
        .expect("read");
        seen
    }

    #[test]
    fn lines_come_newest_first_whatever_the_chunk_size() {
        let text = b"first line\nsecond, a longer line\n\nthird\n";
        let expected = ["third", "", "second, a longer line", "first line"];
        for chunk in [1, 2, 3, 5, 7, 11, 64, CHUNK] {
            assert_eq!(lines(text, chunk), expected, "chunk {chunk}");
        }
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_a_file_without_newline_has_no_line() {
        for chunk in [1, 4, CHUNK] {
            assert_eq!(
                lines(b"one\ntwo\nthr", chunk),
                ["two", "one"],
                "chunk {chunk}"
            );
            assert!(lines(b"no newline at all", chunk).is_empty());
            assert!(lines(b"", chunk).is_empty());
        }
    }

    #[test]
    fn an_oversized_line_is_skipped_and_its_neighbours_kept() {
        let mut text = b"before\n".to_vec();
        // Past the limit by more than a chunk: the limit is checked a chunk at a time.
        text.extend(std::iter::repeat_n(b'x', MAX_LINE + 10_000));
        text.extend(b"\nafter\n");
        let seen = lines(&text, 4096);
        let sizes: Vec<usize> = seen.iter().map(String::len).collect();
        assert_eq!(sizes, [5, 6], "only `after` and `before`");
    }

    #[test]
    fn stops_when_told_and_a_missing_file_reads_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.jsonl");
        assert_eq!(
            read_back(&path, CHUNK, |_| ControlFlow::Continue(())).expect("missing"),
            0
        );
        std::fs::write(&path, "a\n".repeat(100_000)).expect("write");
        let mut count = 0;
        let read = read_back(&path, 1024, |_| {
            count += 1;
            if count == 10 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .expect("read");
        assert_eq!((count, read), (10, 1024));
    }
}
