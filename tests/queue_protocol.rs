//! The agent's side of the queue with real processes: take/ack/list, leases that expire,
//! `reply --ack`, many takers racing a flood of messages, a kill -9 mid-burst, and a queue
//! file written by the seed listener and by an older version.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::support::{
    DEADLINE, Harness, ROOM, acknowledged, bin, expect, listener, run, start_fake, write_creds,
};

/// `retake-chat queue ARGS --state-dir DIR`
fn queue_cmd(dir: &Path, args: &[&str]) -> (i32, Vec<Value>, String) {
    let (code, out, err) = run(bin().arg("queue").args(args).arg("--state-dir").arg(dir));
    let items = out
        .lines()
        .map(|line| serde_json::from_str(line).expect("stdout is JSON lines"))
        .collect();
    (code, items, err)
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn an_old_queue_file_loads_and_works() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/queue-seed-and-v0.1.jsonl");
    std::fs::copy(&fixture, dir.path().join("queue.jsonl")).expect("copy fixture");

    let (code, all, err) = queue_cmd(dir.path(), &["list", "--all"]);
    assert_eq!(code, 0);
    assert_eq!(all.len(), 4, "{all:?}");
    assert!(err.contains("queue.jsonl:6: not a queue item"), "{err}");
    // Seed lines get stable ids derived from their content.
    let (_, again, _) = queue_cmd(dir.path(), &["list", "--all"]);
    assert_eq!(ids(&all), ids(&again));

    // The old lease (long expired) no longer holds: all four are pending.
    let (code, taken, _) = queue_cmd(dir.path(), &["take", "--max", "10"]);
    assert_eq!(code, 0);
    assert_eq!(taken.len(), 4);
    assert_eq!(taken[0]["author"], "viewer1");
    assert_eq!(taken[3]["attempts"], 2);
    let taken_ids = ids(&taken);
    let mut ack = vec!["ack"];
    ack.extend(taken_ids.iter().map(String::as_str));
    let (code, _, _) = queue_cmd(dir.path(), &ack);
    assert_eq!(code, 0);
    let (code, taken, _) = queue_cmd(dir.path(), &["take"]);
    assert_eq!((code, taken.len()), (1, 0), "nothing left: exit 1");
    // The line we could not read is still there, untouched.
    let text = std::fs::read_to_string(dir.path().join("queue.jsonl")).expect("read");
    assert_eq!(text, "this line was written by hand and is not JSON\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_that_ends_hands_the_item_out_again() {
    let h = Harness::start().await;
    h.say("q1", "ada", "why?").await;
    expect("queued", || h.queue().len() == 1).await;
    let state = h.config.state_dir.clone();
    let (code, taken, _) = queue_cmd(&state, &["take", "--lease", "1"]);
    assert_eq!((code, ids(&taken)), (0, vec!["q1".to_string()]));
    // While leased, nobody else gets it.
    let (code, _, _) = queue_cmd(&state, &["take"]);
    assert_eq!(code, 1);
    let mut again = Vec::new();
    let came_back = crate::support::wait_until(DEADLINE, || {
        let (_, items, _) = queue_cmd(&state, &["take", "--lease", "60"]);
        again = items;
        !again.is_empty()
    })
    .await;
    assert!(came_back, "the item came back after its lease");
    assert_eq!(ids(&again), ["q1"]);
    assert_eq!(again[0]["attempts"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_sends_then_acks_and_acks_nothing_on_failure() {
    let h = Harness::start().await;
    h.say("q1", "bea", "a question?").await;
    h.say("q2", "bea", "another one?").await;
    expect("both queued", || h.queue().len() == 2).await;
    let dir = h.dir.path();
    let creds = write_creds(dir);
    let reply = |ack: &str, text: &str| {
        let mut cmd = bin();
        cmd.args(["reply", "--ack", ack, text])
            .arg("--creds")
            .arg(&creds)
            .args(["--api-url", &h.fake.url()])
            .arg("--state-dir")
            .arg(&h.config.state_dir)
            .env("HOME", dir);
        run(&mut cmd)
    };
    let (code, _, err) = reply("q1", "Because Rust.");
    assert_eq!(code, 0, "{err}");
    assert!(h.sent_texts().contains(&"Because Rust.".to_string()));
    assert_eq!(ids_of(&h), ["q2"]);

    // A 400 is not retried; the item stays for another try.
    h.fake.fail_next([(400, None)]);
    let (code, _, err) = reply("q2", "This one fails.");
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!(
            "cannot send the reply: {} answered 400",
            h.fake.v1_send_url()
        )),
        "{err}"
    );
    assert_eq!(ids_of(&h), ["q2"]);
}

fn ids_of(h: &Harness) -> Vec<String> {
    h.queue().into_iter().map(|i| i.id).collect()
}

/// Two takers race 1,000 arriving messages; each id is handed out exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_takers_get_each_id_exactly_once() {
    const MESSAGES: usize = 1000;
    let h = Harness::start().await;
    let handed_out = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let taker = || {
        let (state, handed_out, stop) =
            (h.config.state_dir.clone(), handed_out.clone(), stop.clone());
        tokio::task::spawn_blocking(move || {
            while !stop.load(Ordering::Relaxed) {
                let (_, items, _) = queue_cmd(&state, &["take", "--max", "7", "--lease", "600"]);
                let batch = ids(&items);
                if batch.is_empty() {
                    // Pacing only: nothing waits on this.
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                let mut ack = vec!["ack"];
                ack.extend(batch.iter().map(String::as_str));
                let (code, _, err) = queue_cmd(&state, &ack);
                assert_eq!(code, 0, "{err}");
                handed_out.lock().expect("lock").extend(batch);
            }
        })
    };
    let takers = [taker(), taker()];
    for i in 0..MESSAGES {
        h.say(&format!("c{i}"), &format!("viewer{i}"), "what about this?")
            .await;
    }
    let all_handed_out = crate::support::wait_until(Duration::from_secs(120), || {
        handed_out.lock().expect("lock").len() >= MESSAGES
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for taker in takers {
        taker.await.expect("taker did not panic");
    }
    let handed_out = handed_out.lock().expect("lock").clone();
    assert!(
        all_handed_out,
        "only {} of {MESSAGES} handed out",
        handed_out.len()
    );
    let unique: HashSet<&String> = handed_out.iter().collect();
    assert_eq!(unique.len(), handed_out.len(), "an id was handed out twice");
    let expected: HashSet<String> = (0..MESSAGES).map(|i| format!("c{i}")).collect();
    assert_eq!(
        unique.into_iter().cloned().collect::<HashSet<_>>(),
        expected
    );
    assert!(h.queue().is_empty());
}

/// kill -9 in the middle of a burst: every message whose "On it!" reached the chat has its
/// line on disk, and the listener starts again on the same queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_burst_loses_no_acknowledged_line() {
    let fake = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[send]\nper_30s = 0\n[wake]\ncommand = []\n").expect("config");
    let spawn = || {
        listener(&fake, dir.path())
            .env("RETAKE_CHAT_CONFIG", &config)
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("spawn listener")
    };
    let joins = || fake.joins().get(ROOM).copied().unwrap_or(0);
    let mut child = spawn();
    expect("joined", || joins() == 1 && fake.room_size(ROOM) == 1).await;
    for i in 0..400 {
        fake.emit_v1_message(ROOM, &format!("k{i}"), &format!("v{i}"), "tell me more?")
            .await;
        if i == 150 {
            expect("some acknowledgements out", || fake.sent().len() >= 20).await;
            child.start_kill().expect("kill -9");
        }
    }
    child.wait().await.expect("reaped");
    let acked: HashSet<String> = acknowledged(&fake).into_iter().collect();
    assert!(acked.len() >= 20);
    let queue = retake_chat::act::queue::Queue::new(state.join("queue.jsonl"));
    let (items, _) = queue.read_all().expect("queue readable after kill -9");
    let on_disk: HashSet<String> = items.iter().map(|i| i.author.clone()).collect();
    eprintln!(
        "kill -9: {} acknowledged in chat, {} lines on disk, {} unreadable",
        acked.len(),
        items.len(),
        queue.read_all().map(|(_, p)| p.len()).unwrap_or(0)
    );
    let missing: Vec<&String> = acked.difference(&on_disk).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not on disk: {missing:?}"
    );

    // Restart on the same state: nothing truncated, and it works.
    let mut child = spawn();
    expect("joined again", || joins() == 2 && fake.room_size(ROOM) == 1).await;
    fake.emit_v1_message(ROOM, "after", "zed", "gm").await;
    expect("answered after restart", || {
        fake.sent()
            .iter()
            .any(|r| r.body["message"] == "gm zed! ☀️")
    })
    .await;
    let (after, _) = queue.read_all().expect("readable");
    assert!(after.len() >= items.len(), "queue kept across restart");
    child.start_kill().expect("kill");
}

/// A state directory no listener has used is a mistake to name, not an empty queue forever.
#[test]
fn queue_commands_on_a_state_dir_no_listener_used_say_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("never-ran");
    for args in [&["take"][..], &["list"], &["ack", "q1"]] {
        let (code, items, err) = queue_cmd(&missing, args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(items.is_empty());
        assert!(
            err.contains(&format!(
                "error: there is no state directory at {} (no listener has run with it;",
                missing.display()
            )),
            "{args:?}: {err}"
        );
    }
    assert!(!missing.exists(), "nothing was created in its place");
}
