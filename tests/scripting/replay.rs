//! `replay` through the real binary: cooldowns and `now()` on the transcript's clock, bad
//! lines reported by number while the rest replays, `on_start`, timers and dead air.

use std::path::Path;

use serde_json::Value;

use super::{bin, json_lines, run, script};

/// `replay --json --script SCRIPT` over `lines` (a transcript written to `dir`): its rows.
fn replay_json(dir: &Path, script: &Path, lines: &[String]) -> Vec<Value> {
    let transcript = dir.join("chat.jsonl");
    std::fs::write(&transcript, lines.join("\n")).expect("write");
    let (code, out, err) = run(bin()
        .arg("replay")
        .arg("--json")
        .arg("--script")
        .arg(script)
        .arg(&transcript));
    assert_eq!(code, 0, "{err}");
    json_lines(&out)
}

const COOLDOWN: &str = r#"fn on_message(msg) {
    if cooldown("gm", 30) { reply(`gm at ${now()}`) } else { ignore() }
}
"#;

#[test]
fn replay_runs_cooldowns_on_the_transcripts_clock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = script(dir.path(), "cool.rhai", COOLDOWN);
    let transcript = dir.path().join("chat.jsonl");
    let t0: i64 = 1_750_000_000_000;
    let lines = [
        format!(r#"{{"author": "a", "text": "gm", "ts": {t0}}}"#),
        format!(r#"{{"author": "b", "text": "gm", "ts": {}}}"#, t0 + 10_000),
        format!(r#"{{"author": "c", "text": "gm", "ts": {}}}"#, t0 + 40_000),
    ];
    std::fs::write(&transcript, lines.join("\n")).expect("write");
    let (code, out, err) = run(bin()
        .arg("replay")
        .arg("--script")
        .arg(&path)
        .arg(&transcript)
        .arg("--json"));
    assert_eq!(code, 0, "{err}");
    let decisions = json_lines(&out);
    let got: Vec<(&str, &str)> = decisions
        .iter()
        .map(|d| {
            (
                d["decision"].as_str().unwrap_or("?"),
                d["say"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let (first, third) = (format!("gm at {t0}"), format!("gm at {}", t0 + 40_000));
    assert_eq!(
        got,
        [
            ("reply", first.as_str()),
            ("ignore", ""),
            ("reply", third.as_str())
        ]
    );
    assert_eq!(decisions[1]["line"], 2);
    assert_eq!(decisions[1]["ts"], t0 + 10_000);

    // Without timestamps the clock moves one second per line: all within 30 s.
    let plain = dir.path().join("plain.jsonl");
    std::fs::write(
        &plain,
        "{\"author\":\"a\",\"text\":\"gm\"}\n{\"author\":\"a\",\"text\":\"gm\"}\n",
    )
    .expect("write");
    let (code, out, _) = run(bin().arg("replay").arg("--script").arg(&path).arg(&plain));
    assert_eq!(code, 0);
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(
        rows[0].ends_with("→  reply \"gm at 1700000000000\""),
        "{out}"
    );
    assert!(
        rows[1].contains("+1s") && rows[1].ends_with("→  ignore"),
        "{out}"
    );
}

#[test]
fn replay_reports_bad_lines_and_replays_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let transcript = dir.path().join("chat.jsonl");
    let lines = "{\"author\":\"a\",\"text\":\"gm\"}\nnot json\n\n{\"text\":\"hi\"}\n{\"author\":\"d\",\"text\":\"ping\",\"kind\":\"nope\"}\n{\"author\":\"e\",\"text\":\"ping\"}\n";
    std::fs::write(&transcript, lines).expect("write");
    let (code, out, err) = run(bin().arg("replay").arg(&transcript));
    assert_eq!(code, 1);
    let name = transcript.display();
    assert!(
        err.contains(&format!("{name}:2: not valid JSON: ")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{name}:4: `author` is missing")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{name}:5: `kind` must be message, tip, trade, follow, live or pinned, got `nope`"
        )),
        "{err}"
    );
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(
        rows[0].starts_with("   1 ") && rows[0].ends_with("reply \"gm a! ☀️\""),
        "{out}"
    );
    assert!(
        rows[1].starts_with("   6 ") && rows[1].ends_with("reply \"pong! 🏓\""),
        "{out}"
    );
    let (code, _, err) = run(bin().arg("replay").arg(dir.path().join("missing.jsonl")));
    assert_eq!(code, 2);
    assert!(err.contains("cannot read transcript"), "{err}");
}

#[test]
fn replay_calls_on_start_and_timers_only_after_chat() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = r#"fn on_message(msg) { remember("last", msg.author); ignore() }
fn on_start() { "hello chat" }
fn every_5m() { `last was ${recall("last")} at ${now()}` }
"#;
    let path = script(dir.path(), "timers.rhai", source);
    let t0: i64 = 1_750_000_000_000;
    // Chat at 0 s; the timer is due at 300 s (fires: there was chat) and at 600 s (skipped:
    // no chat since 300 s); chat again at 700 s, so at 900 s it fires again.
    let lines: Vec<String> = [(0, "a"), (700, "c"), (1000, "d")]
        .iter()
        .map(|(s, who)| format!(r#"{{"author":"{who}","text":"x","ts":{}}}"#, t0 + s * 1000))
        .collect();
    let said: Vec<(String, String)> = replay_json(dir.path(), &path, &lines)
        .iter()
        .filter(|l| l["hook"].is_string())
        .map(|l| {
            (
                l["hook"].as_str().unwrap_or("").to_string(),
                l["say"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        said,
        [
            ("on_start".to_string(), "hello chat".to_string()),
            (
                "every_5m".to_string(),
                format!("last was a at {}", t0 + 300_000)
            ),
            (
                "every_5m".to_string(),
                format!("last was c at {}", t0 + 900_000)
            ),
        ]
    );
}

#[test]
fn replay_calls_on_quiet_when_a_gap_exceeds_the_quiet_period() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = r#"fn on_message(msg) { ignore() }
fn on_quiet(ev) { `quiet ${ev.quiet_secs} s at ${now()}` }
"#;
    let path = script(dir.path(), "lively.rhai", source);
    let t0: i64 = 1_750_000_000_000;
    // The default period is 120 s. 0 → 60 s: no; 60 → 300 s: quiet from 60 s, so on_quiet at
    // 180 s (once, though the gap is two periods long); a follow at 400 s is no chat, so the
    // stretch from 300 s is spoken to at 420 s; 600 → 610 s: no.
    let lines: Vec<String> = [
        (0, "message"),
        (60, "message"),
        (300, "message"),
        (400, "follow"),
        (600, "message"),
        (610, "message"),
    ]
    .iter()
    .map(|(s, kind)| {
        format!(
            r#"{{"author":"a","text":"x","kind":"{kind}","ts":{}}}"#,
            t0 + s * 1000
        )
    })
    .collect();
    let rows = replay_json(dir.path(), &path, &lines);
    let order: Vec<String> = rows
        .iter()
        .map(|r| match r["hook"].as_str() {
            Some(hook) => format!("{hook} {}", r["say"].as_str().unwrap_or("")),
            None => format!("line {}", r["line"]),
        })
        .collect();
    let at = |s: i64| t0 + s * 1000;
    assert_eq!(
        order,
        [
            "line 1".to_string(),
            "line 2".to_string(),
            format!("on_quiet quiet 120 s at {}", at(180)),
            "line 3".to_string(),
            "line 4".to_string(),
            format!("on_quiet quiet 120 s at {}", at(420)),
            "line 5".to_string(),
            "line 6".to_string(),
        ]
    );
    let quiet = rows
        .iter()
        .find(|r| r["hook"] == "on_quiet")
        .expect("on_quiet");
    assert_eq!(quiet["ts"], at(180));
}
