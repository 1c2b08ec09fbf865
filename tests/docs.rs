//! The examples in the docs are what the program does: every `$ retake-chat try …` transcript
//! in docs/scripting.md prints exactly what it shows, and every Rhai example there compiles.
//! (The README's TOML examples are checked beside the config parser, in src/config/file.rs.)

use crate::support::{bin, run};

const SCRIPTING: &str = include_str!("../docs/scripting.md");

/// The fenced blocks of `lang` in `doc`, with the line each starts on.
fn blocks<'a>(doc: &'a str, lang: &str) -> Vec<(usize, Vec<&'a str>)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, Vec<&str>)> = None;
    for (n, line) in doc.lines().enumerate() {
        match (&mut current, line.trim_end()) {
            (None, fence) if fence == format!("```{lang}") => current = Some((n + 1, Vec::new())),
            (Some(_), "```") => out.extend(current.take()),
            (Some((_, lines)), _) => lines.push(line),
            _ => {}
        }
    }
    out
}

/// Split a command line the way a shell would for these examples: words, "double quotes".
fn words(line: &str) -> Vec<String> {
    let (mut out, mut word, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
    for c in line.chars() {
        match c {
            '"' => (quoted, any) = (!quoted, true),
            ' ' if !quoted => {
                if any {
                    out.push(std::mem::take(&mut word));
                }
                any = false;
            }
            c => (word.push(c), any = true).0,
        }
    }
    if any {
        out.push(word);
    }
    out
}

#[test]
fn the_try_transcripts_in_the_scripting_docs_are_what_try_prints() {
    let mut checked = 0;
    for (start, lines) in blocks(SCRIPTING, "text") {
        let mut lines = lines.into_iter().peekable();
        while let Some(line) = lines.next() {
            let Some(command) = line.strip_prefix("$ retake-chat try ") else {
                continue;
            };
            let mut expected = Vec::new();
            while let Some(out) = lines.next_if(|l| !l.starts_with("$ ")) {
                expected.push(out);
            }
            let (_, stdout, stderr) = run(bin()
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .arg("try")
                .args(words(command)));
            assert_eq!(
                stdout.lines().collect::<Vec<_>>(),
                expected,
                "docs/scripting.md, the block at line {start}: `retake-chat try {command}` prints otherwise (stderr: {stderr})"
            );
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} try examples found");
}

#[test]
fn every_rhai_example_in_the_scripting_docs_compiles() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut checked = 0;
    for (start, lines) in blocks(SCRIPTING, "rhai") {
        let source = lines.join("\n");
        if !source.contains("fn on_message(") {
            continue; // a fragment (other hooks, a table of cases): not a whole personality
        }
        let path = dir.path().join(format!("example-{start}.rhai"));
        std::fs::write(&path, &source).expect("write the example");
        let (code, stdout, stderr) = run(bin().arg("check").arg(&path));
        assert_eq!(
            code, 0,
            "docs/scripting.md, the example at line {start} does not pass `check`:\n{stdout}{stderr}"
        );
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} Rhai examples found");
}

#[test]
fn words_split_like_a_shell() {
    assert_eq!(
        words(r#"--author alice gm "what are you building?" """#),
        ["--author", "alice", "gm", "what are you building?", ""]
    );
}
