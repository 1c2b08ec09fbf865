//! Unit tests of the script module: the shipped personality's table, return conventions,
//! positions, budgets and the sandbox. Speed is measured by the benchmark, not asserted here.

use super::*;
use std::time::Duration;

fn event(author: &str, text: &str) -> ChatEvent {
    ChatEvent {
        id: "m1".to_string(),
        kind: "message".to_string(),
        author: author.to_string(),
        author_id: "u1".to_string(),
        wallet: "0xabc".to_string(),
        text: text.to_string(),
        ts: 1_738_419_600_000,
        amount: None,
        late: false,
        ..ChatEvent::default()
    }
}

fn shipped(runtime: &ScriptHost) -> Personality {
    match runtime.compile("personality.rhai", EMBEDDED_PERSONALITY) {
        Ok(p) => p,
        Err(e) => panic!("{}", e.render(EMBEDDED_PERSONALITY)),
    }
}

/// Compile `source` with `on_message` wrapped around `body`, then decide on "hi".
fn run_body(runtime: &ScriptHost, body: &str) -> Result<Decision, ScriptError> {
    let source = format!("fn on_message(msg) {{\n{body}\n}}\n");
    let p = runtime.compile("t.rhai", &source)?;
    runtime.decide(&p, &event("viewer1", "hi"))
}

fn reply(text: &str) -> Decision {
    Decision::Reply(text.to_string())
}

#[test]
fn shipped_personality_matches_the_seed() {
    let runtime = ScriptHost::new(Limits::default());
    let p = shipped(&runtime);
    // Every row of the seed's `instant` table, with the seed's exact emoji bytes.
    let table = [
        ("hey", "Hey viewer1! \u{1f44b}"),
        ("hi", "Hi viewer1! \u{1f44b}"),
        ("hello", "Hello viewer1! \u{1f916}"),
        ("gm", "gm viewer1! \u{2600}\u{fe0f}"),
        ("gn", "gn viewer1! \u{1f319}"),
        ("ping", "pong! \u{1f3d3}"),
        ("pong", "ping! \u{1f3d3}"),
        ("\u{1f44b}", "\u{1f44b}"),
        ("\u{2764}\u{fe0f}", "\u{2764}\u{fe0f}"),
        ("\u{1f525}", "\u{1f525}"),
        // Matching is on the trimmed, lower-cased text.
        ("  GM ", "gm viewer1! \u{2600}\u{fe0f}"),
        ("Hey", "Hey viewer1! \u{1f44b}"),
        // The pattern rule.
        (
            "are you there?",
            "Yes I'm here viewer1! What's up? \u{1f916}",
        ),
        ("Anyone there", "Yes I'm here viewer1! What's up? \u{1f916}"),
        (
            "ARE YOU LIVE??",
            "Yes I'm here viewer1! What's up? \u{1f916}",
        ),
    ];
    for (text, expected) in table {
        let got = runtime.decide(&p, &event("viewer1", text));
        assert_eq!(got.ok(), Some(reply(expected)), "for {text:?}");
    }
    // Everything else is acknowledged and queued, including near misses and the
    // heart without its variation selector.
    let ack = Decision::Ack("On it viewer1! \u{1f4ad}".to_string());
    for text in [
        "what's your favourite chain?",
        "hey there",
        "gm gm",
        "\u{2764}",
        "constructor",
    ] {
        let got = runtime.decide(&p, &event("viewer1", text));
        assert_eq!(got.ok(), Some(ack.clone()), "for {text:?}");
    }
    let mut tip = event("bob", "");
    tip.kind = "tip".to_string();
    tip.amount = Some(2.5);
    let got = runtime.decide(&p, &tip);
    assert_eq!(
        got.ok(),
        Some(Decision::Ack("On it bob! \u{1f4ad}".to_string()))
    );
}

#[test]
fn each_return_convention_is_its_decision_and_other_values_are_bad_returns() {
    let runtime = ScriptHost::new(Limits::default());
    let cases = [
        ("()", Decision::Ignore),
        ("", Decision::Ignore),
        ("\"hello\"", reply("hello")),
        ("reply(`hi ${msg.author}`)", reply("hi viewer1")),
        ("ack(\"on it\")", Decision::Ack("on it".to_string())),
        ("queue()", Decision::Queue),
        ("ignore()", Decision::Ignore),
        (
            "reply_in(\" rival \", \"hi\")",
            Decision::ReplyIn {
                room: "rival".to_string(),
                text: "hi".to_string(),
            },
        ),
        (
            "if msg.lower == \"hi\" { return queue(); } ignore()",
            Decision::Queue,
        ),
    ];
    for (body, expected) in cases {
        let got = run_body(&runtime, body);
        assert_eq!(got.ok(), Some(expected), "for {body:?}");
    }
    for (body, found) in [
        ("42", "i64"),
        ("[1]", "array"),
        ("\"  \"", "an empty string"),
    ] {
        match run_body(&runtime, body) {
            Err(e @ ScriptError::BadReturn { .. }) => {
                let text = e.to_string();
                assert!(text.starts_with("t.rhai: on_message returned "), "{text}");
                assert!(text.contains(found), "{text}");
            }
            other => panic!("{body}: expected BadReturn, got {other:?}"),
        }
    }
}

#[test]
fn msg_carries_every_field() {
    let runtime = ScriptHost::new(Limits::default());
    let body = r#"`${msg.id}|${msg.kind}|${msg.author}|${msg.author_id}|${msg.wallet}|${msg.text}|${msg.lower}|${msg.ts + 1}|${type_of(msg.amount)}`"#;
    let p = runtime
        .compile("t.rhai", &format!("fn on_message(msg) {{ {body} }}"))
        .ok();
    let p = p.expect("compiles");
    let got = runtime.decide(&p, &event("Viewer", " Hi There "));
    assert_eq!(
        got.ok(),
        Some(reply(
            "m1|message|Viewer|u1|0xabc| Hi There |hi there|1738419600001|()"
        ))
    );
    let mut tip = event("Viewer", "x");
    tip.amount = Some(2.5);
    let p = runtime
        .compile("t.rhai", "fn on_message(msg) { `${msg.amount * 2.0}` }")
        .expect("compiles");
    assert_eq!(runtime.decide(&p, &tip).ok(), Some(reply("5")));
}

#[test]
fn runtime_errors_have_line_and_column() {
    let runtime = ScriptHost::new(Limits::default());
    let source = "fn on_message(msg) {\n    let x = 1;\n    nope(x)\n}\n";
    let p = runtime.compile("p.rhai", source).expect("compiles");
    let err = runtime.decide(&p, &event("a", "b")).expect_err("fails");
    assert!(matches!(err, ScriptError::ScriptHost { .. }), "{err:?}");
    assert_eq!(err.position(), Some((3, 5)));
    assert!(
        err.to_string()
            .starts_with("p.rhai:3:5: runtime error: function not found: nope"),
        "{err}"
    );
    // The rendered diagnostic puts the caret under `nope`.
    let rendered = err.render(p.source());
    let lines: Vec<&str> = rendered.lines().collect();
    assert_eq!(lines[1], "   3 |     nope(x)", "{rendered}");
    assert_eq!(lines[2].find('^'), lines[1].find("nope"), "{rendered}");
}

#[test]
fn errors_inside_helpers_point_at_the_helper() {
    let runtime = ScriptHost::new(Limits::default());
    let source =
        "fn helper(x) {\n  x.len() + oops()\n}\nfn on_message(msg) {\n  helper(msg.text)\n}\n";
    let p = runtime.compile("p.rhai", source).expect("compiles");
    let err = runtime.decide(&p, &event("a", "b")).expect_err("fails");
    assert_eq!(err.position(), Some((2, 13)), "{err}");
}

#[test]
fn api_rejects_non_strings_with_position() {
    let runtime = ScriptHost::new(Limits::default());
    for (body, name) in [
        ("  reply(42)", "reply"),
        ("  ack(#{a: 1})", "ack"),
        ("  reply(\"\")", "reply"),
        ("  reply_in(7, \"hi\")", "reply_in"),
        ("  reply_in(\"rival\", ())", "reply_in"),
        ("  reply_in(\"\", \"hi\")", "reply_in"),
    ] {
        let err = run_body(&runtime, body).expect_err("fails");
        assert!(matches!(err, ScriptError::ScriptHost { .. }), "{err:?}");
        assert_eq!(err.position(), Some((2, 3)), "{err}");
        assert!(
            err.to_string().contains(&format!("{name}() needs")),
            "{err}"
        );
    }
}

#[test]
fn endless_loop_is_stopped_and_the_runtime_survives() {
    let runtime = ScriptHost::new(Limits::default());
    let err = run_body(&runtime, "loop {}").expect_err("stopped");
    assert!(matches!(err, ScriptError::Limit { .. }), "{err:?}");
    let p = shipped(&runtime);
    let got = runtime.decide(&p, &event("viewer1", "ping"));
    assert_eq!(got.ok(), Some(reply("pong! \u{1f3d3}")));
}

#[test]
fn time_budget_stops_a_script_the_operation_limit_allows() {
    let limits = Limits {
        max_operations: u64::MAX,
        time_budget: Duration::from_millis(20),
        ..Limits::default()
    };
    let runtime = ScriptHost::new(limits);
    let err = run_body(&runtime, "loop {}").expect_err("stopped");
    assert!(err.to_string().contains("time budget of 20 ms"), "{err}");
    // The deadline is per call: the next call gets a fresh budget.
    assert_eq!(run_body(&runtime, "\"ok\"").ok(), Some(reply("ok")));
}

#[test]
fn deep_recursion_is_stopped() {
    let runtime = ScriptHost::new(Limits::default());
    let source = "fn down(n) { down(n + 1) }\nfn on_message(msg) { down(0) }";
    let p = runtime.compile("t.rhai", source).expect("compiles");
    let err = runtime.decide(&p, &event("a", "b")).expect_err("stopped");
    assert!(matches!(err, ScriptError::Limit { .. }), "{err:?}");
    assert!(err.to_string().contains("nested deeper than 32"), "{err}");
}

#[test]
fn huge_values_are_stopped() {
    let runtime = ScriptHost::new(Limits::default());
    for (body, what) in [
        ("let s = \"xxxxxxxx\"; loop { s += s; }", "length of string"),
        ("\"x\".pad(100000000, \"y\")", "length of string"),
        ("let a = [1, 2, 3, 4]; loop { a += a; }", "size of array"),
        ("[].pad(100000, 0)", "size of array"),
    ] {
        let err = run_body(&runtime, body).expect_err("stopped");
        assert!(matches!(err, ScriptError::Limit { .. }), "{body}: {err:?}");
        assert!(err.to_string().contains(what), "{body}: {err}");
    }
    // Rhai does not check map sizes on every insert; the budgets still stop the growth.
    let body = "let m = #{}; let i = 0; loop { m[`k${i}`] = i; i += 1; }";
    let err = run_body(&runtime, body).expect_err("stopped");
    assert!(matches!(err, ScriptError::Limit { .. }), "{err:?}");
}

#[test]
fn sandbox_rejects_import_eval_and_unknown_variables() {
    let runtime = ScriptHost::new(Limits::default());
    for source in [
        "import \"x\" as y;\nfn on_message(msg) {}",
        "fn on_message(msg) { eval(\"1\") }",
        "fn on_message(msg) { undeclared }",
    ] {
        let err = runtime.compile("t.rhai", source).expect_err("rejected");
        assert!(
            matches!(err, ScriptError::Compile { .. }),
            "{source}: {err:?}"
        );
        assert!(err.position().is_some(), "{err}");
    }
    let err = run_body(&runtime, "sleep(10)").expect_err("rejected");
    assert!(
        err.to_string().contains("sleep() is not available"),
        "{err}"
    );
}

#[test]
fn the_hook_must_exist_with_one_parameter() {
    let runtime = ScriptHost::new(Limits::default());
    let err = runtime
        .compile("t.rhai", "fn on_msg(msg) { ignore() }")
        .err();
    let err = err.expect("rejected");
    assert!(matches!(err, ScriptError::MissingHook { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "t.rhai: no `fn on_message(msg)` defined; every personality needs one"
    );
    let err = runtime
        .compile("t.rhai", "fn on_message(a, b) { ignore() }")
        .err();
    let err = err.expect("rejected");
    assert_eq!(
        err.to_string(),
        "t.rhai:1:1: `fn on_message` must take exactly 1 parameter (msg), found one taking 2"
    );
}

#[test]
fn top_level_runs_once_at_load() {
    let limits = Limits {
        max_operations: 1_000,
        ..Limits::default()
    };
    let runtime = ScriptHost::new(limits);
    // Each of the top level and on_message fits the budget alone but not together, so
    // deciding succeeds only if the top level is not run again.
    let burn = "let i = 0; while i < 150 { i += 1; }";
    let source = format!("{burn}\nfn on_message(msg) {{ {burn} \"ok\" }}");
    let p = runtime.compile("t.rhai", &source).expect("compiles");
    assert_eq!(runtime.decide(&p, &event("a", "b")).ok(), Some(reply("ok")));
    // And an error at the top level is a load error.
    let err = runtime
        .compile("t.rhai", "let x = 1 / 0;\nfn on_message(msg) {}")
        .err();
    assert!(
        matches!(err, Some(ScriptError::ScriptHost { .. })),
        "{err:?}"
    );
}

#[test]
fn oversized_and_overdeep_sources_are_refused() {
    let runtime = ScriptHost::new(Limits::default());
    let big = format!(
        "// {}\nfn on_message(msg) {{}}",
        "x".repeat(MAX_SOURCE_BYTES)
    );
    let err = runtime.compile("big.rhai", &big).err();
    assert!(matches!(err, Some(ScriptError::TooLarge { .. })), "{err:?}");
    let deep = format!(
        "fn on_message(msg) {{ {}1{} }}",
        "(".repeat(200),
        ")".repeat(200)
    );
    let err = runtime.compile("deep.rhai", &deep).err();
    assert!(matches!(err, Some(ScriptError::Limit { .. })), "{err:?}");
}

#[test]
fn versions_follow_content() {
    let runtime = ScriptHost::new(Limits::default());
    let a = shipped(&runtime);
    let b = shipped(&runtime);
    let c = runtime
        .compile("c.rhai", "fn on_message(msg) {}")
        .expect("compiles");
    assert_eq!(a.version(), b.version());
    assert_ne!(a.version(), c.version());
    assert_eq!(a.version().len(), 16);
    assert!(a.loaded_at_ms() > 1_600_000_000_000);
}

#[test]
fn a_runtime_is_shared_across_threads_and_a_runaway_on_one_does_not_stop_another() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Personality>();
    send_sync::<ScriptHost>();
    let runtime = Arc::new(ScriptHost::new(Limits::default()));
    let p = Arc::new(shipped(&runtime));
    // A runaway script on one thread does not disturb decisions on another.
    let spinner = {
        let runtime = Arc::clone(&runtime);
        std::thread::spawn(move || run_body(&runtime, "loop {}").is_err())
    };
    for _ in 0..200 {
        let got = runtime.decide(&p, &event("v", "gn"));
        assert_eq!(got.ok(), Some(reply("gn v! \u{1f319}")));
    }
    assert!(matches!(spinner.join(), Ok(true)));
}
