//! Unit tests of the scripting API added on top of `on_message`: the extra `msg` fields, the
//! helpers and their per-runtime state, memory, the header, hooks, timers and self-tests.

use super::*;
use crate::script::selftest::TEST_EPOCH_MS;

fn event(author: &str, text: &str) -> ChatEvent {
    ChatEvent {
        id: "m1".to_string(),
        kind: "message".to_string(),
        author: author.to_string(),
        text: text.to_string(),
        ts: 1_738_419_600_000,
        ..ChatEvent::default()
    }
}

/// A runtime on a simulated clock at `TEST_EPOCH_MS`, in room `r1`, seeded.
fn simulated() -> (ScriptHost, SimClock) {
    let clock = SimClock::new(TEST_EPOCH_MS);
    let session = Session::new(Clock::Simulated(clock.clone()))
        .room("r1")
        .seeded(7);
    (ScriptHost::with_session(Limits::default(), session), clock)
}

fn compile(runtime: &ScriptHost, source: &str) -> Personality {
    match runtime.compile("t.rhai", source) {
        Ok(p) => p,
        Err(e) => panic!("{}", e.render(source)),
    }
}

/// The reply text of `on_message` for `author: text`, or the error's one-line message.
fn say(runtime: &ScriptHost, p: &Personality, author: &str, text: &str) -> String {
    match runtime.decide(p, &event(author, text)) {
        Ok(Decision::Reply(text)) => text,
        Ok(other) => format!("{other}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn msg_has_counts_commands_and_room() {
    let (runtime, _) = simulated();
    let p = compile(
        &runtime,
        r#"fn on_message(msg) { `${msg.count}|${msg.first_time}|${msg.command}|${msg.args}|${msg.room}` }"#,
    );
    assert_eq!(say(&runtime, &p, "a", "hi"), "1|true||[]|r1");
    assert_eq!(
        say(&runtime, &p, "a", "!Roll 2 D6"),
        r#"2|false|roll|["2", "D6"]|r1"#
    );
    assert_eq!(say(&runtime, &p, "b", "yo"), "1|true||[]|r1");
    // Counts belong to the runtime, not the script version: a reload keeps them.
    let p2 = compile(&runtime, "fn on_message(msg) { `${msg.count}` }");
    assert_eq!(say(&runtime, &p2, "a", "x"), "3");
    // And another runtime starts from nothing.
    let (other, _) = simulated();
    let p3 = compile(&other, "fn on_message(msg) { `${msg.count}` }");
    assert_eq!(say(&other, &p3, "a", "x"), "1");
}

#[test]
fn msg_says_which_room_it_was_said_in() {
    let (runtime, _) = simulated();
    let p = compile(
        &runtime,
        r#"fn on_message(msg) { `${msg.room}|${msg.room_name}|${msg.own_room}|${type_of(msg.room_name)}` }"#,
    );
    assert_eq!(say(&runtime, &p, "a", "hi"), "r1||true|()");
    let mut elsewhere = event("a", "hi");
    elsewhere.room = Some(Box::new(crate::rooms::Room {
        id: "u7".into(),
        name: Some("rival".into()),
    }));
    let decided = runtime.decide(&p, &elsewhere).expect("decides");
    assert_eq!(decided, Decision::Reply("u7|rival|false|string".into()));
}

#[test]
fn a_self_test_case_can_be_said_in_another_room() {
    let (runtime, _) = simulated();
    let source = r#"fn on_message(msg) { if msg.own_room { "here" } else { `there: ${msg.room}` } }
fn tests() { [
    #{ say: "x", expect: "reply", equals: "here" },
    #{ say: "x", room: "rival", expect: "reply", equals: "there: rival" },
] }"#;
    runtime.compile("t.rhai", source).expect("passes its tests");
    let bad = source.replace("room: \"rival\"", "room: \" \"");
    let error = runtime.compile("t.rhai", &bad).expect_err("refused");
    assert!(
        error
            .to_string()
            .contains("`room` must name another streamer's room"),
        "{error}"
    );
}

#[test]
fn cooldowns_and_now_follow_the_simulated_clock() {
    let (runtime, clock) = simulated();
    let p = compile(
        &runtime,
        r#"fn on_message(msg) {
            if cooldown("gm:" + msg.author, 30) { `ok ${now()}` } else { "cooling" }
        }"#,
    );
    assert_eq!(say(&runtime, &p, "a", "gm"), format!("ok {TEST_EPOCH_MS}"));
    clock.advance_ms(10_000);
    assert_eq!(say(&runtime, &p, "a", "gm"), "cooling");
    assert_eq!(
        say(&runtime, &p, "b", "gm"),
        format!("ok {}", TEST_EPOCH_MS + 10_000)
    );
    clock.advance_ms(30_000);
    assert_eq!(
        say(&runtime, &p, "a", "gm"),
        format!("ok {}", TEST_EPOCH_MS + 40_000)
    );
    let p = compile(&runtime, "fn on_message(msg) { cooldown(\"k\", -1) }");
    let err = say(&runtime, &p, "a", "x");
    assert!(
        err.contains("cooldown() needs a number of seconds from 0, got -1"),
        "{err}"
    );
}

#[test]
fn pick_chance_and_matches_work_as_documented_and_seeded_picks_repeat() {
    let (runtime, _) = simulated();
    let p = compile(
        &runtime,
        r#"fn on_message(msg) {
            let a = pick(["only"]);
            let b = type_of(pick([]));
            let c = chance(1.0) && !chance(0) && chance(1);
            let d = matches(msg.text, "^(?i)g+m+$") && !matches("gn", "^gm$");
            `${a}|${b}|${c}|${d}`
        }"#,
    );
    assert_eq!(say(&runtime, &p, "a", "GMmm"), "only|()|true|true");
    let p = compile(&runtime, "fn on_message(msg) { matches(msg.text, \"(\") }");
    let err = say(&runtime, &p, "a", "x");
    assert!(
        err.contains("runtime error: matches(): bad pattern: regex parse error"),
        "{err}"
    );
    // Seeded sessions pick the same way every time.
    let picks = || {
        let (runtime, _) = simulated();
        let p = compile(
            &runtime,
            "fn on_message(msg) { `${pick([1,2,3,4,5,6,7,8,9])}` }",
        );
        (0..10)
            .map(|_| say(&runtime, &p, "a", "x"))
            .collect::<Vec<_>>()
    };
    assert_eq!(picks(), picks());
}

/// As docs/scripting.md says: `log(text)` writes to the log, `log(number)` is Rhai's base-10
/// logarithm, for integers as for floats.
#[test]
fn log_of_a_number_is_the_base_10_logarithm_integers_included() {
    let (runtime, _) = simulated();
    let p = compile(
        &runtime,
        r#"fn on_message(msg) {
            log("logged, returns nothing");
            let a = log(100);
            `${type_of(a)}|${a == 2.0}|${log(100.0) == 2.0}|${log(1) == 0.0}|${type_of(log("x"))}`
        }"#,
    );
    assert_eq!(say(&runtime, &p, "a", "x"), "f64|true|true|true|()");
}

/// A tip of 5 is thanked as "5", not "5.0": whole floats read as whole numbers in text, by
/// every way a value becomes text; other floats, `to_debug` and the value itself are Rhai's.
#[test]
fn whole_amounts_and_floats_read_naturally_in_text() {
    let (runtime, _) = simulated();
    let p = compile(
        &runtime,
        r#"fn on_tip(ev) { reply(`Thanks for the ${ev.amount} tip!`) }
fn on_message(msg) {
    let x = 5.0;
    `${x}|${"" + x}|${x.to_string()}|${-0.0}|${2.5}|${-3.0}|${1e20}|${to_debug(x)}|${[x]}|${x == 5}|${type_of(x)}`
}
fn tests() {
    [
        #{ kind: "tip", amount: 5, from: "bo", expect: "reply", equals: "Thanks for the 5 tip!" },
        #{ kind: "tip", amount: 2.5, from: "bo", expect: "reply", equals: "Thanks for the 2.5 tip!" },
    ]
}"#,
    );
    assert_eq!(
        say(&runtime, &p, "a", "x"),
        "5|5|5|0|2.5|-3|1e20|5.0|[5.0]|true|f64"
    );
}

#[test]
fn helpers_are_for_hooks_not_the_top_level() {
    let (runtime, _) = simulated();
    let err = runtime
        .compile("t.rhai", "let t = now();\nfn on_message(msg) {}")
        .expect_err("refused");
    assert_eq!(
        err.to_string(),
        "t.rhai:1:9: runtime error: now() can only be called inside a function such as on_message, not at the top level"
    );
}

#[test]
fn memory_global_and_per_author() {
    let (runtime, _) = simulated();
    let p = compile(
        &runtime,
        r#"fn on_message(msg) {
            let n = (recall_for(msg.author, "n") ?? 0) + 1;
            remember_for(msg.author, "n", n);
            remember("last", #{ who: msg.author, n: n });
            if msg.lower == "forget" { forget_for(msg.author, "n"); forget("last"); }
            `${n} ${recall("last")}`
        }"#,
    );
    assert_eq!(say(&runtime, &p, "a", "x"), r#"1 #{"n": 1, "who": "a"}"#);
    assert_eq!(say(&runtime, &p, "a", "x"), r#"2 #{"n": 2, "who": "a"}"#);
    assert_eq!(say(&runtime, &p, "b", "x"), r#"1 #{"n": 1, "who": "b"}"#);
    assert_eq!(say(&runtime, &p, "a", "forget"), "3 ");
    assert_eq!(say(&runtime, &p, "a", "x"), r#"1 #{"n": 1, "who": "a"}"#);
    let p = compile(
        &runtime,
        "fn on_message(msg) { remember(\"k\", reply(\"x\")) }",
    );
    let err = say(&runtime, &p, "a", "x");
    assert!(
        err.contains(
            "remember(): can remember strings, numbers, booleans, arrays and maps, not Decision"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn memory_survives_a_restart_through_its_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("memory.json");
    let open = || {
        let session = Session::new(Clock::System)
            .with_memory_file(path.clone())
            .expect("opens");
        ScriptHost::with_session(Limits::default(), session)
    };
    let source = r#"fn on_message(msg) {
        let seen = recall_for(msg.author, "seen") ?? 0;
        remember_for(msg.author, "seen", seen + 1);
        `${seen}`
    }"#;
    let runtime = open();
    let p = compile(&runtime, source);
    assert_eq!(say(&runtime, &p, "ann", "x"), "0");
    // The first change is saved at once, in the background; later ones wait for the throttle
    // or save_memory.
    let saved = crate::fake::wait_until(std::time::Duration::from_secs(10), || path.exists());
    assert!(saved.await, "saved in the background");
    assert_eq!(say(&runtime, &p, "ann", "x"), "1");
    assert_eq!(runtime.save_memory().ok(), Some(true));
    assert_eq!(runtime.save_memory().ok(), Some(false));
    drop(runtime);
    let runtime = open();
    let p = compile(&runtime, source);
    assert_eq!(say(&runtime, &p, "ann", "x"), "2");
}

#[test]
fn header_api_newer_than_the_binary_is_refused() {
    let runtime = ScriptHost::new(Limits::default());
    let err = runtime
        .compile("g.rhai", "//! name: g\n//! api: 99\nfn on_message(msg) {}")
        .expect_err("refused");
    assert!(matches!(err, ScriptError::Header { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "g.rhai:2:5: header: this script needs scripting API 99, but this retake-chat provides API 1; upgrade retake-chat to run it"
    );
    let p = compile(
        &runtime,
        "//! name: g\n//! version: 0.1.0\nfn on_message(msg) {}",
    );
    assert_eq!(p.header().name.as_deref(), Some("g"));
}

const TESTED: &str = r#"fn on_message(msg) {
    if msg.first_time { return reply(`welcome ${msg.author}`); }
    if cooldown("gm", 30) { return reply("gm"); }
    ignore()
}
fn tests() {
    [
        #{ say: "hi", from: "a", expect: "reply", equals: "welcome a" },
        #{ say: "gm", from: "a", expect: "reply", contains: "gm" },
        #{ say: "gm", from: "a", wait: 10, expect: "ignore" },
        #{ say: "gm", from: "a", wait: 40, expect: "reply" },
    ]
}
"#;

#[test]
fn self_tests_run_at_load_in_their_own_session() {
    let (runtime, _) = simulated();
    let p = compile(&runtime, TESTED);
    assert_eq!(p.tests_passed(), 4);
    // The live session saw none of it: "a" is new here, and "gm" is not cooling down.
    assert_eq!(say(&runtime, &p, "a", "hi"), "welcome a");
    assert_eq!(say(&runtime, &p, "a", "gm"), "gm");
}

#[test]
fn failing_self_tests_refuse_the_script() {
    let runtime = ScriptHost::new(Limits::default());
    let failing = TESTED.replace(
        "wait: 10, expect: \"ignore\"",
        "wait: 10, expect: \"reply\"",
    );
    let err = runtime.compile("t.rhai", &failing).expect_err("refused");
    assert!(matches!(err, ScriptError::SelfTest { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "t.rhai:6:1: self-test failed: case 3 (\"gm\" from a): expected reply, got ignore"
    );
    let two = failing.replace("equals: \"welcome a\"", "equals: \"hello a\"");
    let err = runtime.compile("t.rhai", &two).expect_err("refused");
    assert_eq!(
        err.to_string(),
        "t.rhai:6:1: self-test failed: case 1 (\"hi\" from a): expected reply \"hello a\", got reply \"welcome a\" (and 1 more failing case)"
    );
    for (tests, message) in [
        (
            "[#{ say: \"x\" }]",
            "case 1: `expect` is missing: reply, reply_in, ack, queue or ignore",
        ),
        (
            "[#{ say: \"x\", expect: \"rep\" }]",
            "case 1: `expect` must be reply, reply_in, ack, queue or ignore, got `rep`",
        ),
        (
            "[#{ sey: \"x\", expect: \"reply\" }]",
            "case 1: unknown field `sey`; the fields are say, from, kind, amount, wait, late, room, expect, contains, equals, quiet",
        ),
        (
            "[#{ say: \"x\", expect: \"queue\", contains: \"a\" }]",
            "case 1: `contains` and `equals` only go with reply, reply_in or ack, not queue",
        ),
        (
            "42",
            "tests() must return an array of cases like #{ say: \"gm\", expect: \"reply\" }, got i64",
        ),
    ] {
        let source = format!("fn on_message(msg) {{}}\nfn tests() {{ {tests} }}");
        let err = runtime.compile("t.rhai", &source).expect_err(tests);
        assert_eq!(
            err.to_string(),
            format!("t.rhai:2:1: self-test failed: {message}")
        );
    }
    // A case whose hook fails points at the failing line, not at tests().
    let source =
        "fn on_message(msg) {\n  nope()\n}\nfn tests() { [#{ say: \"x\", expect: \"ignore\" }] }";
    let err = runtime.compile("t.rhai", source).expect_err("refused");
    assert_eq!(
        err.to_string(),
        "t.rhai:2:3: self-test failed: case 1 (\"x\" from viewer): runtime error: function not found: nope ()"
    );
}

#[test]
fn event_hooks_route_by_kind() {
    let (runtime, _) = simulated();
    let source = r#"fn on_message(msg) { reply("msg") }
fn on_tip(ev) { reply(`tip ${ev.amount}`) }
fn on_follow(ev) { reply(`follow ${ev.author}`) }
fn tests() {
    [
        #{ kind: "tip", amount: 5, from: "a", expect: "reply", equals: "tip 5" },
        #{ kind: "follow", from: "b", expect: "reply", equals: "follow b" },
        #{ kind: "trade", amount: 1, from: "c", expect: "reply", equals: "msg" },
    ]
}"#;
    let p = compile(&runtime, source);
    assert_eq!(p.tests_passed(), 3);
    assert_eq!(
        p.hooks().describe(),
        ["on_message(msg)", "on_tip(ev)", "on_follow(ev)"]
    );
    let mut follow = event("z", "");
    follow.kind = "follow".to_string();
    let plain = compile(&runtime, "fn on_message(msg) { reply(\"msg\") }");
    assert_eq!(runtime.decide(&plain, &follow).ok(), Some(Decision::Ignore));
    assert_eq!(
        runtime.decide(&p, &follow).ok(),
        Some(Decision::Reply("follow z".to_string()))
    );
    let err = runtime
        .compile("t.rhai", "fn on_message(msg) {}\n\nfn on_tip() {}")
        .expect_err("refused");
    assert_eq!(
        err.to_string(),
        "t.rhai:3:1: `fn on_tip` must take exactly 1 parameter (ev), found one taking 0"
    );
}

#[test]
fn timers_run_shortest_first_and_on_start_and_timers_may_only_say_a_line() {
    let (runtime, _) = simulated();
    let source = r#"fn on_message(msg) {}
fn on_start() { remember("started", true); "hello chat" }
fn every_5m() { if recall("started") == true { reply("still here") } }
fn every_1h() { ack("no") }
fn every_30s() {}"#;
    let p = compile(&runtime, source);
    let timers: Vec<(&str, u64)> = p
        .timers()
        .iter()
        .map(|t| (t.name.as_str(), t.period.as_secs()))
        .collect();
    assert_eq!(
        timers,
        [("every_30s", 30), ("every_5m", 300), ("every_1h", 3600)]
    );
    assert_eq!(runtime.fire_timer(&p, "every_5m").ok(), Some(None));
    assert_eq!(runtime.start(&p).ok(), Some(Some("hello chat".to_string())));
    assert_eq!(
        runtime.fire_timer(&p, "every_5m").ok(),
        Some(Some("still here".to_string()))
    );
    assert_eq!(runtime.fire_timer(&p, "every_30s").ok(), Some(None));
    let err = runtime.fire_timer(&p, "every_1h").expect_err("bad return");
    assert_eq!(
        err.to_string(),
        "t.rhai: every_1h returned ack(text); expected reply(text), a string, ignore() or ()"
    );
    assert!(runtime.fire_timer(&p, "every_2h").is_err());
    let err = runtime
        .compile("t.rhai", "fn on_message(msg) {}\nfn every_10s() {}")
        .expect_err("too often");
    assert!(
        err.to_string()
            .starts_with("t.rhai:2:1: `fn every_10s` is not a timer name"),
        "{err}"
    );
}
