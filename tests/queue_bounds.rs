//! The queue at scale and on a shared host: `take` and `ack` touch only their items (the file
//! is not rewritten for them), a full queue acknowledges nothing it cannot keep, the archive
//! is rotated at its size cap, a FIFO in the queue's place and a held lock are refused with a
//! sentence instead of a hang, and rewrites neither follow a planted symlink nor leave files
//! readable by others.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use retake_chat::act::queue::{Queue, QueueItem};
use serde_json::Value;

use crate::support::{DEADLINE, Harness, Setup, bin, expect, offline, run, wait_until};

fn item(id: &str) -> QueueItem {
    QueueItem {
        id: id.into(),
        author: format!("author of {id}"),
        text: "a question that waits for the agent?".into(),
        ts: 1_769_994_070_263,
        kind: "message".into(),
        room: String::new(),
        room_name: None,
        author_id: String::new(),
        wallet: String::new(),
        amount: None,
        queued_at: 1_769_994_070_270,
        leased_until: None,
        attempts: 0,
        late: false,
    }
}

fn queue_cmd(state: &Path, args: &[&str]) -> (i32, Vec<String>, String) {
    let (code, out, err) = run(bin().arg("queue").args(args).arg("--state-dir").arg(state));
    let ids = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON lines"))
        .map(|item| item["id"].as_str().unwrap_or_default().to_string())
        .collect();
    (code, ids, err)
}

/// Wait for `child` up to [`DEADLINE`]; a child still running then is killed, and `None`.
async fn finish(mut child: Child) -> Option<(i32, String)> {
    let exited = wait_until(DEADLINE, || matches!(child.try_wait(), Ok(Some(_)))).await;
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        return None;
    }
    let output = child.wait_with_output().expect("output");
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    Some((output.status.code().unwrap_or(-1), err))
}

fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

#[test]
fn take_and_ack_touch_only_their_items_and_compaction_follows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("queue.jsonl");
    let queue = Queue::new(&path);
    let items: Vec<QueueItem> = (0..2000).map(|i| item(&format!("c{i:04}"))).collect();
    queue.append(&items).expect("append");
    let before = std::fs::metadata(&path).expect("stat");

    let (code, taken, err) = queue_cmd(dir.path(), &["take", "--max", "3"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(taken, ["c0000", "c0001", "c0002"]);
    let (code, _, err) = queue_cmd(dir.path(), &["ack", "c0000", "c0001", "c1999"]);
    assert_eq!(code, 0, "{err}");
    let after = std::fs::metadata(&path).expect("stat");
    assert_eq!(
        (after.ino(), after.len()),
        (before.ino(), before.len()),
        "take and ack of 3 items out of 2,000 rewrote queue.jsonl"
    );
    // What they did holds: the next take starts after the leased one, the acked ones are gone.
    let (_, next, _) = queue_cmd(dir.path(), &["take", "--max", "2"]);
    assert_eq!(next, ["c0003", "c0004"]);
    let (_, pending, _) = queue_cmd(dir.path(), &["list"]);
    assert_eq!(pending.len(), 2000 - 3 - 2 - 1);
    assert!(!pending.contains(&"c1999".to_string()));
    let (_, all, _) = queue_cmd(dir.path(), &["list", "--all"]);
    assert_eq!(all.len(), 2000 - 3);

    // Once most of the file is answered, it is compacted: `cat` shows what is left.
    let (_, rest, _) = queue_cmd(dir.path(), &["take", "--max", "1990"]);
    let mut ack = vec!["ack"];
    ack.extend(rest.iter().map(String::as_str));
    let (code, _, err) = queue_cmd(dir.path(), &ack);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&path).expect("read");
    let left: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("whole lines")["id"].to_string())
        .collect();
    assert!(left.len() < 10, "not compacted: {} lines", left.len());
    assert!(text.contains("\"id\":\"c0002\"") && text.contains("\"leased_until\":"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_acknowledges_nothing_it_cannot_keep() {
    let h = Harness::start_with(Setup {
        tweak: |c| c.queue.max_items = 3,
        ..Setup::default()
    })
    .await;
    for i in 0..5 {
        h.say(&format!("q{i}"), &format!("viewer{i}"), "a question?")
            .await;
        expect("handled", || {
            h.queue().len() == (i + 1).min(3)
                && h.health()["counters"]["archived"] == (i.max(2) - 2)
        })
        .await;
    }
    // Replies go out in order: once this one is out, every earlier acknowledgement is too.
    h.say("g", "zed", "gm").await;
    expect("gm answered", || {
        h.sent_texts().contains(&"gm zed! ☀️".to_string())
    })
    .await;
    let acks: Vec<String> = h
        .sent_texts()
        .into_iter()
        .filter(|t| t.starts_with("On it"))
        .collect();
    assert_eq!(
        acks,
        [
            "On it viewer0! 💭",
            "On it viewer1! 💭",
            "On it viewer2! 💭"
        ]
    );
    let kept: Vec<String> = h.queue().into_iter().map(|i| i.id).collect();
    assert_eq!(
        kept,
        ["q0", "q1", "q2"],
        "the acknowledged ones stay for the agent"
    );
    let archive =
        std::fs::read_to_string(h.config.state_dir.join("queue.archive.jsonl")).expect("archive");
    let archived: Vec<String> = archive
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON")["id"].to_string())
        .collect();
    assert_eq!(archived, ["\"q3\"", "\"q4\""]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_archive_is_rotated_at_its_size_cap() {
    let h = Harness::start_with(Setup {
        tweak: |c| {
            c.queue.max_items = 1;
            c.queue.archive_max_bytes = 1500;
            c.queue.archive_keep = 2;
        },
        ..Setup::default()
    })
    .await;
    for i in 0..40 {
        h.say(
            &format!("r{i:02}"),
            &format!("viewer{i}"),
            "one more question?",
        )
        .await;
    }
    expect("39 archived", || h.health()["counters"]["archived"] == 39).await;
    let state = &h.config.state_dir;
    let files = [
        "queue.archive.jsonl",
        "queue.archive.1.jsonl",
        "queue.archive.2.jsonl",
    ];
    for name in files {
        let len = std::fs::metadata(state.join(name)).expect(name).len();
        assert!(len <= 1500, "{name} is {len} bytes");
    }
    assert!(!state.join("queue.archive.3.jsonl").exists());
    let newest = std::fs::read_to_string(state.join(files[0])).expect("archive");
    assert!(newest.contains("\"id\":\"r39\""), "{newest}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_in_place_of_the_queue_is_refused_not_waited_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).expect("mkdir");
    let fifo = state.join("queue.jsonl");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let expected = format!(
        "{} is a FIFO, not a regular file; refusing to use it for the queue",
        fifo.display()
    );
    for args in [&["take"][..], &["list"], &["ack", "x"]] {
        let child = spawn(bin().arg("queue").args(args).arg("--state-dir").arg(&state));
        let outcome = finish(child).await;
        let (code, err) = outcome.unwrap_or_else(|| panic!("queue {args:?} on a FIFO hangs"));
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(&expected), "{err}");
    }
    // The listener refuses to start on it too.
    let child = spawn(&mut offline(dir.path()));
    let (code, err) = finish(child)
        .await
        .expect("the listener on a FIFO queue hangs");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&expected), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_queue_lock_times_out_naming_the_file_and_its_holder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).expect("mkdir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = {:?}\n[queue]\nlock_timeout_secs = 1\n",
            state.display().to_string()
        ),
    )
    .expect("config");
    // Another process would hold it the same way: an exclusive lock, its pid inside.
    let lock_path = state.join("queue.lock");
    let lock = std::fs::File::create(&lock_path).expect("create lock");
    lock.lock().expect("lock");
    std::fs::write(&lock_path, format!("{}\n", std::process::id())).expect("pid");
    let child = spawn(bin().args(["queue", "take", "--config"]).arg(&config));
    let (code, err) = finish(child)
        .await
        .expect("queue take waits forever on a held lock");
    assert_eq!(code, 2, "{err}");
    let expected = format!(
        "timed out after 1s waiting for the queue lock {} (held by pid {})",
        lock_path.display(),
        std::process::id()
    );
    assert!(err.contains(&expected), "{err}");
    drop(lock);
    let (code, _, err) = queue_cmd(&state, &["take"]);
    assert_eq!(code, 1, "free again: nothing to take; {err}");
}

#[test]
fn rewrites_follow_no_planted_symlink_and_keep_the_queue_private() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).expect("mkdir");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").expect("victim");
    // Where the queue's temp file used to be: another local user pre-creates a symlink.
    std::os::unix::fs::symlink(&victim, state.join("queue.jsonl.tmp")).expect("symlink");
    let queue = Queue::new(state.join("queue.jsonl"));
    queue.append(&[item("s1"), item("s2")]).expect("append");
    let (_, taken, _) = queue_cmd(&state, &["take", "--max", "2"]);
    let mut ack = vec!["ack"];
    ack.extend(taken.iter().map(String::as_str));
    let (code, _, err) = queue_cmd(&state, &ack);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "precious\n"
    );
    let queue_file = std::fs::symlink_metadata(state.join("queue.jsonl")).expect("stat");
    assert!(
        queue_file.is_file(),
        "queue.jsonl is no longer a regular file"
    );
    for entry in std::fs::read_dir(&state).expect("list") {
        let entry = entry.expect("entry");
        let meta = entry.metadata().expect("stat");
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("queue") && meta.is_file() && !meta.file_type().is_symlink() {
            let mode = meta.permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{name} has mode {mode:o}");
        }
    }
    // And nothing was left behind by the rewrite.
    let stray: Vec<String> = std::fs::read_dir(&state)
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") && n != "queue.jsonl.tmp")
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}
