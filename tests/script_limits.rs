//! A hostile shared script cannot exhaust memory or disk: closures and currying are refused at
//! load, a call holding too much memory is stopped, `remember*` counts names and entries,
//! trims an oversized file and saves off the personality thread, the log has a budget, and
//! per-author counts stay bounded however many viewers come.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use retake_chat::event::ChatEvent;
use retake_chat::script::{Clock, Limits, ScriptError, ScriptHost, Session};

use crate::support::{Harness, Setup, expect};

fn event(author: &str, text: &str) -> ChatEvent {
    ChatEvent {
        id: format!("{author}-{text}"),
        kind: "message".into(),
        author: author.into(),
        text: text.into(),
        ..ChatEvent::default()
    }
}

/// Limits with room to spare in time and operations, so only the limit under test can bite
/// (the tests run unoptimised).
fn roomy() -> Limits {
    Limits {
        max_operations: 5_000_000,
        time_budget: Duration::from_secs(30),
        ..Limits::default()
    }
}

fn decide(runtime: &ScriptHost, source: &str, author: &str) -> Result<String, ScriptError> {
    let p = runtime.compile("hostile.rhai", source).expect("compiles");
    runtime
        .decide(&p, &event(author, "hi"))
        .map(|d| d.to_string())
}

/// Everything the `retake_chat::script` target logs at info and above while `f` runs on
/// this thread.
fn logged(f: impl FnOnce()) -> String {
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut b) = self.0.lock() {
                b.extend_from_slice(bytes);
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = buffer.0.lock().map(|b| b.clone()).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn closures_and_curried_pointers_are_refused_at_load() {
    let runtime = ScriptHost::new(Limits::default());
    // The reference cycle that leaked ~25 MB per message: a map holding a closure over itself.
    let cycle = r#"fn on_message(msg) {
        let b = "x";
        let m = #{s: b};
        let f = || m;
        m.f = f;
        reply("leaked")
    }"#;
    let err = runtime
        .compile("cycle.rhai", cycle)
        .expect_err("a closure capturing a variable is refused");
    assert!(matches!(err, ScriptError::Compile { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "cycle.rhai:4:20: syntax error: undefined variable: m; an anonymous function cannot use the variables around it (closures are off), so pass what it needs as a parameter"
    );
    let curry = r#"fn keep(s, x) { x }
    fn on_message(msg) {
        let f = Fn("keep").curry("x");
        reply("held")
    }"#;
    let err = runtime
        .compile("curry.rhai", curry)
        .expect_err("curry is refused");
    assert!(matches!(err, ScriptError::Compile { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "curry.rhai:3:28: syntax error: `curry` is not available to personalities"
    );
    let call_form = "fn keep(s, x) { x }\nfn on_message(msg) { let f = curry(Fn(\"keep\"), 1); }";
    let err = runtime
        .compile("curry.rhai", call_form)
        .expect_err("refused");
    assert_eq!(
        err.to_string(),
        "curry.rhai:2:30: syntax error: `curry` is not available to personalities"
    );
    // Anonymous functions that capture nothing still work.
    let plain = r#"fn on_message(msg) {
        let doubled = [1, 2, 3].map(|x| x * 2);
        reply(`${doubled}`)
    }"#;
    assert_eq!(
        decide(&runtime, plain, "a").expect("runs"),
        r#"reply "[2, 4, 6]""#
    );
}

#[test]
fn a_call_holding_more_than_its_memory_budget_is_stopped() {
    // Rhai's size limits see one value at a time and not what a Decision or a function
    // pointer holds: 2,000 replies of 60 KB each are 120 MB that no size limit sees.
    let hoard = r#"fn on_message(msg) {
        let s = "";
        s.pad(60000, 'x');
        let held = [];
        for i in 0..2000 { held.push(reply(s + i)); }
        reply(`survived with ${held.len()}`)
    }"#;
    let runtime = ScriptHost::new(roomy());
    let err = decide(&runtime, hoard, "a").expect_err("stopped");
    assert!(matches!(err, ScriptError::Limit { .. }), "{err:?}");
    assert_eq!(
        err.message(),
        "limit exceeded: held more than the memory budget of 16 MiB"
    );
    // The next call has its whole budget again.
    let small = "fn on_message(msg) { let s = \"\"; s.pad(60000, 'x'); reply(`${s.len()}`) }";
    assert_eq!(
        decide(&runtime, small, "a").expect("fits"),
        r#"reply "60000""#
    );
}

#[test]
fn script_logs_are_capped_per_call() {
    let runtime = ScriptHost::new(roomy());
    let noisy = r#"fn on_message(msg) {
        for i in 0..1000 { print(`line ${i}`); log("x"); }
        reply("said a lot")
    }"#;
    let p = runtime.compile("noisy.rhai", noisy).expect("compiles");
    let log = logged(|| {
        runtime.decide(&p, &event("a", "hi")).expect("decides");
    });
    let lines = log.lines().filter(|l| l.contains(" INFO ")).count();
    assert_eq!(lines, 10, "{log}");
    assert_eq!(
        log.lines().filter(|l| l.contains(" WARN ")).count(),
        1,
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppressed_log_lines_are_counted_in_health() {
    let h = Harness::start_with(Setup {
        script: Some(
            "fn on_message(msg) { for i in 0..30 { print(`${i}`); } reply(\"ok\") }".to_string(),
        ),
        ..Setup::default()
    })
    .await;
    h.say("m1", "ann", "hi").await;
    h.wait_sent(1).await;
    expect("20 suppressed lines counted", || {
        h.health()["counters"]["scriptLogSuppressed"] == 20
    })
    .await;
}

/// Bytes this thread has written with write(2) and friends, from /proc/thread-self/io.
fn written_by_this_thread() -> u64 {
    let io = std::fs::read_to_string("/proc/thread-self/io").expect("per-thread I/O accounting");
    io.lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("a wchar line")
}

fn with_memory(path: &Path, limits: Limits) -> ScriptHost {
    let session = Session::new(Clock::System)
        .with_memory_file(path.to_path_buf())
        .expect("memory opens");
    ScriptHost::with_session(limits, session)
}

#[tokio::test]
async fn memory_is_saved_off_the_deciding_thread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("memory.json");
    let runtime = with_memory(&path, Limits::default());
    let p = runtime
        .compile(
            "m.rhai",
            "fn on_message(msg) { remember_for(msg.author, \"seen\", true); reply(\"ok\") }",
        )
        .expect("compiles");
    // The deciding thread writes nothing: an fsync that takes most of a second on a busy disk
    // would otherwise hold up every reply behind it.
    let before = written_by_this_thread();
    for i in 0..20 {
        runtime
            .decide(&p, &event(&format!("viewer{i}"), "hi"))
            .expect("decides");
    }
    assert_eq!(
        written_by_this_thread() - before,
        0,
        "the decider wrote the file itself"
    );
    expect("memory.json saved in the background", || path.exists()).await;
    let saved = std::fs::read_to_string(&path).expect("readable");
    assert!(saved.contains("viewer0"), "{saved}");
}

#[test]
fn author_names_and_entries_count_against_the_memory_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("memory.json");
    let runtime = with_memory(&path, roomy());
    // 30,000 viewers with 120-byte names and a one-byte value each: with only the values
    // counted, memory.json grew past 4 MB (and 56 MB in a longer run).
    let many = r#"fn on_message(msg) {
        let name = "";
        name.pad(116, 'v');
        for i in 0..5000 { remember_for(`${name}${msg.author}${i}`, "k", 1); }
        reply("ok")
    }"#;
    let p = runtime.compile("many.rhai", many).expect("compiles");
    for round in 1000..1006 {
        runtime
            .decide(&p, &event(&round.to_string(), "hi"))
            .expect("decides");
    }
    runtime.save_memory().expect("saves");
    let size = std::fs::metadata(&path).expect("saved").len();
    assert!(size <= 1_200_000, "memory.json is {size} bytes");
    // The number of global entries is capped too, not only their bytes.
    let keys =
        r#"fn on_message(msg) { for i in 0..2000 { remember(`${i}`, 1); } reply("all kept") }"#;
    let err = decide(&runtime, keys, "a").expect_err("over the entry cap");
    assert!(
        err.to_string()
            .contains("remember(): global memory is full (1000 entries); forget something first"),
        "{err}"
    );
}

#[tokio::test]
async fn an_oversized_memory_file_is_trimmed_at_load_with_a_warning() {
    // What a version without the limits left behind: 30,000 authors with long names.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("memory.json");
    let authors: Vec<serde_json::Value> = (0..30_000)
        .map(|i| serde_json::json!({"author": format!("{i:0>120}"), "memory": {"visits": i}}))
        .collect();
    let old = serde_json::json!({"version": 1, "global": {"streak": 3}, "authors": authors});
    std::fs::write(&path, old.to_string()).expect("write");
    let mut session = None;
    let log = logged(|| session = Some(Session::new(Clock::System).with_memory_file(path.clone())));
    let session = session
        .expect("ran")
        .expect("an oversized file is not refused");
    assert!(
        log.contains("WARN")
            && log.contains(&path.display().to_string())
            && log.contains("trimmed"),
        "{log}"
    );
    let runtime = ScriptHost::with_session(Limits::default(), session);
    let recall = r#"fn on_message(msg) { reply(`${recall("streak")} ${recall_for(msg.author, "visits")}`) }"#;
    let newest = format!("{:0>120}", 29_999);
    assert_eq!(
        decide(&runtime, recall, &newest).expect("runs"),
        r#"reply "3 29999""#
    );
    let oldest = format!("{:0>120}", 0);
    assert_eq!(
        decide(&runtime, recall, &oldest).expect("runs"),
        r#"reply "3 ""#
    );
    // The trimmed memory replaces the file without waiting for a change.
    expect("memory.json rewritten trimmed", || {
        std::fs::metadata(&path).is_ok_and(|m| m.len() < 1_200_000)
    })
    .await;
}

#[test]
fn per_author_counts_stay_bounded_however_many_viewers() {
    let runtime = ScriptHost::new(Limits::default());
    let source = "fn on_message(msg) { `${msg.count} ${msg.first_time}` }";
    let p = runtime.compile("count.rhai", source).expect("compiles");
    let say = |author: &str| {
        runtime
            .decide(&p, &event(author, "hi"))
            .map(|d| d.to_string())
            .expect("decides")
    };
    assert_eq!(say("regular"), r#"reply "1 true""#);
    assert_eq!(say("regular"), r#"reply "2 false""#);
    // As many new viewers as are counted: the one seen longest ago is forgotten, one at a
    // time, rather than everyone at once past a bound.
    for i in 0..9_999 {
        say(&format!("passer-by {i}"));
    }
    assert_eq!(say("regular"), r#"reply "3 false""#, "still counted");
    for i in 0..10_000 {
        say(&format!("another {i}"));
    }
    assert_eq!(
        say("regular"),
        r#"reply "1 true""#,
        "forgotten, a first time again"
    );
}
