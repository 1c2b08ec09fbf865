//! The queue on real files in a temp directory: leases, acknowledgements, compaction, the
//! archive's rotation, and what `repair` and `append` make of what a crash leaves.

use std::io::Write;

use super::item::tests::item;
use super::*;

fn ids(items: &[QueueItem]) -> Vec<&str> {
    items.iter().map(|i| i.id.as_str()).collect()
}

fn temp_queue() -> (tempfile::TempDir, Queue) {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = Queue::new(dir.path().join("queue.jsonl"));
    (dir, queue)
}

#[test]
fn taken_items_are_leased_and_come_back_when_it_ends_unless_acked() {
    let (_dir, queue) = temp_queue();
    queue
        .append(&[item("a"), item("b"), item("c")])
        .expect("append");
    let taken = queue.take(2, 1000, 10).expect("take");
    assert_eq!(ids(&taken), ["a", "b"]);
    assert_eq!(taken[0].attempts, 1);
    // Leased items are not handed out again while the lease runs...
    assert_eq!(ids(&queue.take(5, 1000, 20).expect("take")), ["c"]);
    assert!(queue.take(5, 1000, 30).expect("take").is_empty());
    // ...but come back when it ends, unless acknowledged.
    assert_eq!(
        queue.ack(&["a".into(), "zzz".into()]).expect("ack"),
        ["zzz"]
    );
    let again = queue.take(5, 1000, 2000).expect("take");
    assert_eq!(ids(&again), ["b", "c"]);
    assert_eq!(again[0].attempts, 2);
    let stats = queue.stats(2001).expect("stats");
    assert_eq!((stats.pending, stats.leased), (0, 2));
    assert_eq!(queue.stats(3020).expect("stats").pending, 2);
    assert_eq!(queue.count().expect("count"), 2);
}

#[test]
fn an_ack_of_an_item_never_taken_removes_it_and_the_rest_stays() {
    let (_dir, queue) = temp_queue();
    let items: Vec<QueueItem> = (0..6).map(|i| item(&format!("i{i}"))).collect();
    queue.append(&items).expect("append");
    assert!(queue.ack(&["i3".into()]).expect("ack").is_empty());
    assert_eq!(queue.ack(&["i3".into()]).expect("ack again"), ["i3"]);
    let (left, _) = queue.read_all().expect("read");
    assert_eq!(ids(&left), ["i0", "i1", "i2", "i4", "i5"]);
    assert_eq!(ids(&queue.take(10, 1000, 0).expect("take")), ids(&left));
    assert_eq!(queue.count().expect("count"), 5);
}

#[test]
fn compaction_keeps_leases_and_unreadable_lines_and_empties_the_ledger() {
    let (dir, queue) = temp_queue();
    queue.append(&[item("a"), item("b")]).expect("append");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(queue.path())
        .expect("open");
    file.write_all(b"written by hand\n").expect("write");
    queue.append(&[item("c"), item("d")]).expect("append");
    assert_eq!(ids(&queue.take(2, 5000, 10).expect("take")), ["a", "b"]);
    // a, c and d answered: more than half the file, so it is rewritten.
    let unknown = queue.ack(&["a".into(), "c".into(), "d".into()]);
    assert!(unknown.expect("ack").is_empty());
    let text = std::fs::read_to_string(queue.path()).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].contains("\"id\":\"b\"") && lines[0].contains("\"leased_until\":5010"));
    assert_eq!(lines[1], "written by hand");
    let leases = std::fs::read(dir.path().join("queue.leases.jsonl")).expect("ledger");
    assert!(leases.is_empty());
    // The lease written into the line still holds, and ends.
    assert!(queue.take(5, 5000, 20).expect("take").is_empty());
    let again = queue.take(5, 5000, 6000).expect("take");
    assert_eq!((ids(&again), again[0].attempts), (vec!["b"], 2));
    assert_eq!(queue.stats(6001).expect("stats").unreadable, 1);
}

#[test]
fn a_queue_replaced_in_place_is_read_afresh() {
    let (_dir, queue) = temp_queue();
    queue.append(&[item("a"), item("b")]).expect("append");
    assert_eq!(queue.take(1, 1000, 0).expect("take").len(), 1);
    // Same inode, other content (`cp` over it): the ledger's lease no longer fits.
    let other = item::encode([&item("x"), &item("y"), &item("z")]);
    std::fs::write(queue.path(), other).expect("overwrite");
    assert_eq!(
        ids(&queue.take(5, 1000, 5000).expect("take")),
        ["x", "y", "z"]
    );
}

#[test]
fn unreadable_lines_survive_and_torn_tails_are_closed() {
    let (_dir, queue) = temp_queue();
    queue.append(&[item("a")]).expect("append");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(queue.path())
        .expect("open");
    file.write_all(b"{\"id\":\"torn\",\"auth").expect("write");
    assert!(queue.repair().expect("repair"));
    assert!(!queue.repair().expect("repair again"));
    queue.append(&[item("b")]).expect("append");
    queue.ack(&["a".into()]).expect("ack");
    let (items, problems) = queue.read_all().expect("read");
    assert_eq!(ids(&items), ["b"]);
    assert_eq!(problems.len(), 1);
    assert!(problems[0].ends_with("left in place"), "{}", problems[0]);
    let text = std::fs::read_to_string(queue.path()).expect("read");
    assert!(text.contains("{\"id\":\"torn\",\"auth\n"), "{text}");
}

#[test]
fn what_a_crash_leaves_is_mended_at_start() {
    let (dir, queue) = temp_queue();
    queue.append(&[item("a")]).expect("append");
    // A write the size reached and the data did not (NULs), then a torn line.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(queue.path())
        .expect("open");
    file.write_all(b"{\"id\":\"b\",\"au\0\0\0\0\0\0")
        .expect("write");
    let stale = dir.path().join(".queue.jsonl.Xa3b9c.tmp");
    std::fs::write(&stale, "half a rewrite").expect("temp");
    std::fs::write(dir.path().join("queue.jsonl.tmp"), "an older version's").expect("temp");
    assert!(queue.repair().expect("repair"));
    assert!(!stale.exists() && !dir.path().join("queue.jsonl.tmp").exists());
    let text = std::fs::read_to_string(queue.path()).expect("read");
    assert!(text.ends_with("{\"id\":\"b\",\"au\n"), "{text:?}");
    // Even without a repair, an append never glues onto a torn line.
    file.write_all(b"{\"id\":\"c\",").expect("write");
    queue.append(&[item("d")]).expect("append");
    let (items, problems) = queue.read_all().expect("read");
    assert_eq!((ids(&items), problems.len()), (vec!["a", "d"], 2));
}

#[test]
fn a_retry_appends_only_what_is_missing() {
    let (_dir, queue) = temp_queue();
    queue.append(&[item("a"), item("b")]).expect("append");
    let appended = queue
        .append_missing(&[item("a"), item("b"), item("c")])
        .expect("append");
    assert_eq!(appended, 1);
    let (items, _) = queue.read_all().expect("read");
    assert_eq!(ids(&items), ["a", "b", "c"]);
}

#[test]
fn the_archive_rotates_and_keeps_what_it_is_told() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = QueueConfig {
        archive_max_bytes: 300,
        archive_keep: 2,
        ..QueueConfig::default()
    };
    let queue = Queue::with_config(dir.path().join("queue.jsonl"), &config);
    let items: Vec<QueueItem> = (0..20).map(|i| item(&format!("z{i:02}"))).collect();
    queue.archive(&items).expect("archive");
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    let newest = read("queue.archive.jsonl");
    assert!(newest.contains("\"z19\""), "{newest}");
    for name in [
        "queue.archive.jsonl",
        "queue.archive.1.jsonl",
        "queue.archive.2.jsonl",
    ] {
        let text = read(name);
        assert!(!text.is_empty() && text.len() <= 300, "{name}: {text}");
    }
    assert!(!dir.path().join("queue.archive.3.jsonl").exists());
}

#[test]
fn the_writer_keeps_the_bound_and_sees_room_the_agent_made() {
    let (dir, queue) = temp_queue();
    let mut writer = Writer::new(queue.clone(), 3);
    let written = writer.write(&[item("a"), item("b")]).expect("write");
    assert_eq!(
        written,
        Written {
            queued: 2,
            archived: 0
        }
    );
    let written = writer.write(&[item("c"), item("d")]).expect("write");
    assert_eq!(
        written,
        Written {
            queued: 1,
            archived: 1
        }
    );
    assert!(queue.ack(&["a".into()]).expect("ack").is_empty());
    let written = writer.write(&[item("e"), item("f")]).expect("write");
    assert_eq!(
        written,
        Written {
            queued: 1,
            archived: 1
        }
    );
    let (items, _) = queue.read_all().expect("read");
    assert_eq!(ids(&items), ["b", "c", "e"]);
    let archive = std::fs::read_to_string(dir.path().join("queue.archive.jsonl"));
    let archive = archive.expect("archive");
    assert!(
        archive.contains("\"d\"") && archive.contains("\"f\""),
        "{archive}"
    );
}
