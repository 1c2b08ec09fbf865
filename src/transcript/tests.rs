//! The transcript's reads on files written by hand: context before an item (in the file, in
//! the rotated one, or by time when the item is not there), the history, bad lines, and a
//! 10 MB file read from its tail only.

use std::path::Path;

use super::read::search;
use super::tail::CHUNK;
use super::*;

fn viewer(ts: i64, id: &str, author: &str, text: &str) -> Line {
    Line {
        ts,
        author: author.into(),
        text: text.into(),
        id: id.into(),
        ..Line::default()
    }
}

fn bot(ts: i64, text: &str) -> Line {
    Line {
        ts,
        author: "Bot".into(),
        text: text.into(),
        bot: true,
        ..Line::default()
    }
}

fn jsonl(lines: &[Line]) -> String {
    lines
        .iter()
        .map(|line| serde_json::to_string(line).expect("json") + "\n")
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write");
}

fn texts(lines: &[Line]) -> Vec<&str> {
    lines.iter().map(|l| l.text.as_str()).collect()
}

/// A small chat: gm answered by the bot, a question acknowledged, more after it.
fn chat() -> Vec<Line> {
    vec![
        viewer(1_000, "m1", "alice", "gm"),
        bot(1_010, "gm alice! ☀️"),
        viewer(2_000, "m2", "bob", "hi all"),
        viewer(3_000, "q1", "alice", "what is this stream?"),
        bot(3_010, "On it alice! 💭"),
        viewer(4_000, "m3", "carol", "later line"),
    ]
}

#[test]
fn context_is_the_lines_before_the_item_oldest_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "transcript.jsonl", &jsonl(&chat()));
    let context = context(dir.path(), "q1", 3_000, 5);
    assert_eq!(context, chat()[..3]);
    assert_eq!(
        texts(&super::context(dir.path(), "q1", 3_000, 2)),
        ["gm alice! ☀️", "hi all"]
    );
    assert!(super::context(dir.path(), "q1", 3_000, 0).is_empty());
    assert!(super::context(dir.path(), "m1", 1_000, 3).is_empty());
}

#[test]
fn context_goes_on_into_the_newest_rotated_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lines = chat();
    write(
        dir.path(),
        "transcript.2.jsonl",
        &jsonl(&[bot(10, "too old")]),
    );
    write(dir.path(), "transcript.1.jsonl", &jsonl(&lines[..2]));
    write(dir.path(), "transcript.jsonl", &jsonl(&lines[2..]));
    assert_eq!(
        texts(&context(dir.path(), "q1", 3_000, 10)),
        ["gm", "gm alice! ☀️", "hi all"]
    );
    // The item itself rotated away: found in the older file.
    assert_eq!(
        texts(&context(dir.path(), "m1", 1_000, 10)),
        [] as [&str; 0]
    );
    assert_eq!(
        texts(&context(dir.path(), "m2", 2_000, 10)),
        ["gm", "gm alice! ☀️"]
    );
}

#[test]
fn an_item_not_in_the_transcript_gets_the_lines_said_before_its_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "transcript.jsonl", &jsonl(&chat()));
    assert_eq!(
        texts(&context(dir.path(), "gone", 2_500, 2)),
        ["gm alice! ☀️", "hi all"]
    );
    // Several items, one read, each its own answer in the order asked.
    let both = contexts(dir.path(), &[("m3", 4_000), ("gone", 1_005)], 1);
    assert_eq!(texts(&both[0]), ["On it alice! 💭"]);
    assert_eq!(texts(&both[1]), ["gm"]);
}

#[test]
fn an_items_context_is_what_was_said_in_its_room() {
    let dir = tempfile::tempdir().expect("tempdir");
    let elsewhere = |mut line: Line| {
        line.room = "rival".into();
        line
    };
    let lines = [
        viewer(1_000, "m1", "alice", "gm"),
        elsewhere(viewer(1_500, "r1", "bob", "gm over here")),
        elsewhere(bot(1_510, "gm bob")),
        viewer(2_000, "q1", "alice", "what is this stream?"),
        elsewhere(viewer(2_500, "r2", "bob", "and you?")),
    ];
    write(dir.path(), "transcript.jsonl", &jsonl(&lines));
    assert_eq!(texts(&context(dir.path(), "q1", 2_000, 5)), ["gm"]);
    assert_eq!(
        texts(&context(dir.path(), "r2", 2_500, 5)),
        ["gm over here", "gm bob"]
    );
}

#[test]
fn bad_lines_are_skipped_and_a_missing_transcript_is_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(context(dir.path(), "q1", 3_000, 5).is_empty());
    assert!(recent(dir.path(), 5, None).is_empty());
    let lines = chat();
    let mut text = jsonl(&lines[..2]);
    text.push_str("not json\n{\"ts\":\"soon\",\"author\":1}\n\n");
    text.push_str(&jsonl(&lines[2..4]));
    text.push_str("{\"ts\":3500,\"author\":\"torn");
    let mut bytes = text.into_bytes();
    bytes.extend(b"\n\xff\xfe not utf-8\n");
    bytes.extend(jsonl(&lines[4..]).as_bytes());
    bytes.extend(b"{\"ts\":4500,\"author\":\"still being writ");
    std::fs::write(dir.path().join("transcript.jsonl"), bytes).expect("write");
    assert_eq!(context(dir.path(), "q1", 3_000, 5), lines[..3]);
    assert_eq!(recent(dir.path(), 100, None), lines);
}

#[test]
fn recent_is_the_newest_lines_before_a_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lines = chat();
    write(dir.path(), "transcript.1.jsonl", &jsonl(&lines[..3]));
    write(dir.path(), "transcript.jsonl", &jsonl(&lines[3..]));
    assert_eq!(
        texts(&recent(dir.path(), 2, None)),
        ["On it alice! 💭", "later line"]
    );
    assert_eq!(
        texts(&recent(dir.path(), 3, Some(3_010))),
        ["gm alice! ☀️", "hi all", "what is this stream?"]
    );
    assert_eq!(recent(dir.path(), 100, None), lines);
    assert!(recent(dir.path(), 0, None).is_empty());
}

#[test]
fn lines_across_chunk_boundaries_read_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "transcript.jsonl", &jsonl(&chat()));
    let whole = search(dir.path(), &[("m3", 4_000)], 4, CHUNK).0;
    for chunk in [1, 7, 13, 64, 100] {
        assert_eq!(
            search(dir.path(), &[("m3", 4_000)], 4, chunk).0,
            whole,
            "chunk {chunk}"
        );
    }
    assert_eq!(whole[0], chat()[1..5]);
}

/// 10 MB of chat (the default size before rotation): a recent item's context, an item that
/// is not in the file and the newest lines are found in the last chunks, not the whole file.
#[test]
fn a_10_mb_transcript_is_read_from_its_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut lines = Vec::new();
    let mut size = 0;
    let mut ts = 1_700_000_000_000i64;
    while size < 10 * 1024 * 1024 {
        ts += 1_000;
        let line = if lines.len() % 3 == 2 {
            bot(
                ts,
                &format!("an answer of some length, number {}", lines.len()),
            )
        } else {
            let id = format!("c{}", lines.len());
            viewer(ts, &id, "viewer", &"a question of some length ".repeat(6))
        };
        size += serde_json::to_string(&line).expect("json").len() + 1;
        lines.push(line);
    }
    write(dir.path(), "transcript.jsonl", &jsonl(&lines));
    let last_viewer = lines.iter().rev().find(|l| !l.bot).expect("a viewer line");
    let (found, read) = search(dir.path(), &[(&last_viewer.id, last_viewer.ts)], 10, CHUNK);
    assert_eq!(found[0].len(), 10);
    assert!(read <= 2 * CHUNK as u64, "read {read} bytes");
    // Not in the file: the search ends at a bot line from well before its time.
    let (found, read) = search(dir.path(), &[("gone", ts - 60_000)], 10, CHUNK);
    assert!(found[0].iter().all(|l| l.ts <= ts - 60_000) && found[0].len() == 10);
    assert!(read <= 4 * CHUNK as u64, "read {read} bytes");
    assert_eq!(recent(dir.path(), 50, None), lines[lines.len() - 50..]);
}

#[test]
fn a_line_keeps_what_a_tip_is_and_says_nothing_extra_for_a_message() {
    let gm = serde_json::to_string(&chat()[0]).expect("json");
    assert_eq!(gm, r#"{"ts":1000,"author":"alice","text":"gm","id":"m1"}"#);
    let reply = serde_json::to_string(&chat()[1]).expect("json");
    assert_eq!(
        reply,
        r#"{"ts":1010,"author":"Bot","text":"gm alice! ☀️","bot":true}"#
    );
    let tip = ChatEvent {
        id: "t1".into(),
        kind: "tip".into(),
        author: "dave".into(),
        ts: 5,
        amount: Some(2.5),
        ..ChatEvent::default()
    };
    assert_eq!(
        serde_json::to_string(&Line::heard(&tip)).expect("json"),
        r#"{"ts":5,"author":"dave","text":"","id":"t1","kind":"tip","amount":2.5}"#
    );
}
