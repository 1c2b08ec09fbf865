//! The docs are what the program does. Every fenced block of README.md and docs/*.md says
//! what it is, and is checked where it can be:
//!
//! - ```` ```rhai ````: passes `check`, and replays a chat of every kind of event without an
//!   error. A whole script (one with `fn on_message(`) as it is; a fragment wrapped as
//!   docs/scripting.md says: hooks other than `on_message` get
//!   `fn on_message(msg) { ignore() }` beside them, and bare lines go inside
//!   `fn on_message(msg) { … }`.
//! - ```` ```text ````: shown output. A `$ retake-chat try|check|replay …` line and the lines
//!   after it are a transcript: the command's stdout must be exactly those lines. A script's
//!   error (`file.rhai:LINE:COL: …`) must be what `check` prints for the script behind it
//!   ([`erroneous_scripts`]). Other text (a live listener's status, the state directory's
//!   errors, diagrams) is shown as it is.
//! - ```` ```sh ````: commands. Those running `retake-chat try|check|replay` must succeed;
//!   the rest need a live stream, an agent runtime or systemd (tests/skill.rs runs SKILL.md's).
//! - ```` ```json ````: parses, as one value or as JSON lines; docs/agent.md's MCP
//!   registrations start a server that lists its tools.
//! - ```` ```toml ````: the listener's config parser takes it (the README's are also held
//!   against the defaults, in src/config/file.rs).
//!
//! Commands run in a directory laid out like a fresh clone: the checkout's `examples/`, and
//! `scripts/personality.rhai` as shipped (the built-in copy), never the checkout's own, which
//! is the user's to edit. A fence without a language, or with another one, fails the test:
//! nothing is skipped silently.

use std::path::Path;

use crate::support::{bin, run};

/// Every document with examples, by path. A new file under docs/ must be added here.
const DOCS: [(&str, &str); 3] = [
    ("README.md", include_str!("../README.md")),
    ("docs/scripting.md", include_str!("../docs/scripting.md")),
    ("docs/agent.md", include_str!("../docs/agent.md")),
];
const AGENT: &str = DOCS[2].1;

/// The languages a fence may have, as the module header describes them.
const LANGUAGES: [&str; 5] = ["rhai", "text", "sh", "json", "toml"];

/// The subcommands whose transcripts and commands are run: they need no network, no listener
/// and no credentials.
const RUNNABLE: [&str; 3] = ["try", "check", "replay"];

/// One fenced block: its language, the line its fence opens on, its lines (indentation of an
/// indented fence removed).
struct Fence<'a> {
    doc: &'a str,
    lang: &'a str,
    start: usize,
    lines: Vec<&'a str>,
}

impl Fence<'_> {
    fn text(&self) -> String {
        self.lines.join("\n") + "\n"
    }

    fn at(&self) -> String {
        format!("{}, the block at line {}", self.doc, self.start)
    }
}

/// Every fenced block of `doc` (named `name`).
fn fences<'a>(name: &'a str, doc: &'a str) -> Vec<Fence<'a>> {
    let mut out = Vec::new();
    let mut current: Option<(usize, Fence<'a>)> = None;
    for (n, line) in doc.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match &mut current {
            None => {
                if let Some(lang) = trimmed.strip_prefix("```") {
                    let fence = Fence {
                        doc: name,
                        lang: lang.trim_end(),
                        start: n + 1,
                        lines: Vec::new(),
                    };
                    current = Some((indent, fence));
                }
            }
            Some(_) if trimmed.trim_end() == "```" => {
                out.extend(current.take().map(|(_, fence)| fence));
            }
            Some((indent, fence)) => fence.lines.push(line.get(*indent..).unwrap_or("")),
        }
    }
    assert!(current.is_none(), "{name}: a fence is never closed");
    out
}

/// Every fenced block of every document.
fn all_fences() -> Vec<Fence<'static>> {
    DOCS.iter()
        .flat_map(|(name, doc)| fences(name, doc))
        .collect()
}

/// A directory laid out like a fresh clone, to run the docs' commands in: the checkout's
/// `examples/` and the shipped (built-in) `scripts/personality.rhai`.
fn fresh_clone() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    std::os::unix::fs::symlink(examples, dir.path().join("examples")).expect("link examples");
    std::fs::create_dir(dir.path().join("scripts")).expect("mkdir scripts");
    let personality = dir.path().join("scripts/personality.rhai");
    std::fs::write(personality, retake_chat::script::EMBEDDED_PERSONALITY).expect("write");
    dir
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
fn words_split_like_a_shell() {
    assert_eq!(
        words(r#"--author alice gm "what are you building?" """#),
        ["--author", "alice", "gm", "what are you building?", ""]
    );
}

#[test]
fn every_block_in_the_docs_says_what_it_is() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut listed: Vec<String> = std::fs::read_dir(&docs)
        .expect("read docs/")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    listed.sort();
    let mut known: Vec<String> = DOCS.iter().map(|(name, _)| name.to_string()).collect();
    known.retain(|name| name.starts_with("docs/"));
    known.sort();
    assert_eq!(
        listed, known,
        "every file in docs/ is in tests/docs.rs's DOCS"
    );
    let fences = all_fences();
    for fence in &fences {
        assert!(
            LANGUAGES.contains(&fence.lang),
            "{}: a fence marked {:?}; mark it one of {LANGUAGES:?} (see tests/docs.rs)",
            fence.at(),
            fence.lang
        );
    }
    assert!(fences.len() >= 50, "only {} blocks found", fences.len());
}

/// How a Rhai block of the docs is checked: as it is, or wrapped into a whole script.
#[derive(Debug, PartialEq)]
enum Example {
    /// It has `fn on_message(`: a whole script.
    Whole,
    /// Other hooks or functions: `on_message` added beside them.
    Hooks,
    /// Lines of a hook: put inside `on_message`.
    Lines,
}

/// The whole script an example is checked as, and what kind of example it is.
fn wrap(source: &str) -> (String, Example) {
    if source.contains("fn on_message(") {
        (source.to_string(), Example::Whole)
    } else if source.lines().any(|line| line.starts_with("fn ")) {
        let script = format!("{source}\nfn on_message(msg) {{ ignore() }}\n");
        (script, Example::Hooks)
    } else {
        let script = format!("fn on_message(msg) {{\n{source}\n}}\n");
        (script, Example::Lines)
    }
}

#[test]
fn fragments_are_wrapped_as_the_docs_say() {
    assert_eq!(wrap("fn on_message(msg) { queue() }").1, Example::Whole);
    let (script, kind) = wrap("fn on_start() { \"hi\" }");
    assert_eq!(kind, Example::Hooks);
    assert!(
        script.ends_with("fn on_message(msg) { ignore() }\n"),
        "{script}"
    );
    let (script, kind) = wrap("if msg.lower == \"gm\" { return reply(\"gm!\"); }");
    assert_eq!(kind, Example::Lines);
    assert_eq!(
        script,
        "fn on_message(msg) {\nif msg.lower == \"gm\" { return reply(\"gm!\"); }\n}\n"
    );
}

/// A chat with every kind of event, commands, a late line and a 20-minute gap (so timers up
/// to `every_15m` and `on_quiet` run): what every example must decide without an error.
const EVERY_KIND: &str = r#"{"ts": 1767200000000, "author": "ann", "text": "gm"}
{"ts": 1767200001000, "author": "ann", "text": "what are you building?"}
{"ts": 1767200002000, "author": "bo", "kind": "tip", "amount": 5}
{"ts": 1767200003000, "author": "bo", "kind": "tip", "amount": 2.5, "text": "gg"}
{"ts": 1767200004000, "author": "bo", "kind": "follow"}
{"ts": 1767200005000, "author": "cy", "text": "!roll 6"}
{"ts": 1767200006000, "author": "cy", "text": "!count"}
{"ts": 1767200007000, "author": "cy", "text": "!socials"}
{"ts": 1767200008000, "author": "dee", "text": "gm", "late": 90}
{"ts": 1767200009000, "author": "eve", "kind": "trade", "amount": 150}
{"ts": 1767200010000, "author": "fay", "kind": "live", "text": "Building a bot"}
{"ts": 1767200011000, "author": "mod", "kind": "pinned", "text": "read the docs"}
{"ts": 1767201200000, "author": "ann", "text": "still here?"}
"#;

#[test]
fn every_rhai_example_in_the_docs_passes_check_and_replays_a_chat() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chat = dir.path().join("every-kind.jsonl");
    std::fs::write(&chat, EVERY_KIND).expect("write the chat");
    let mut checked = Vec::new();
    for fence in all_fences().into_iter().filter(|f| f.lang == "rhai") {
        let (script, kind) = wrap(&fence.text());
        let name = format!("{}-{}.rhai", fence.doc.replace('/', "-"), fence.start);
        let path = dir.path().join(name);
        std::fs::write(&path, &script).expect("write the example");
        let (code, stdout, stderr) = run(bin().arg("check").arg(&path));
        assert_eq!(
            code,
            0,
            "{} does not pass `check` (as {kind:?}):\n{script}\n{stdout}{stderr}",
            fence.at()
        );
        let (code, stdout, stderr) = run(bin().arg("replay").arg("--script").arg(&path).arg(&chat));
        assert_eq!(
            code,
            0,
            "{}: replaying a chat of every kind fails:\n{script}\n{stdout}{stderr}",
            fence.at()
        );
        checked.push((fence.doc, kind));
    }
    for (doc, kind) in [
        ("README.md", Example::Whole),
        ("docs/scripting.md", Example::Whole),
        ("docs/scripting.md", Example::Hooks),
        ("docs/scripting.md", Example::Lines),
    ] {
        assert!(
            checked.iter().any(|c| c.0 == doc && c.1 == kind),
            "no {kind:?} example checked in {doc}: {checked:?}"
        );
    }
}

/// The personalities the docs point to (`examples/*.rhai` and the built-in one) decide a chat
/// of every kind without an error, as the docs' own examples must.
#[test]
fn every_shipped_personality_replays_a_chat_of_every_kind() {
    let clone = fresh_clone();
    std::fs::write(clone.path().join("every-kind.jsonl"), EVERY_KIND).expect("write the chat");
    let mut scripts = vec!["scripts/personality.rhai".to_string()];
    for entry in std::fs::read_dir(clone.path().join("examples")).expect("read examples") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".rhai") {
            scripts.push(format!("examples/{name}"));
        }
    }
    assert!(scripts.len() >= 5, "{scripts:?}");
    for script in scripts {
        let (code, stdout, stderr) = run(bin().current_dir(clone.path()).args([
            "replay",
            "--script",
            &script,
            "every-kind.jsonl",
        ]));
        assert_eq!(code, 0, "{script}:\n{stdout}{stderr}");
    }
}

/// Every `$ retake-chat …` line of a text block, with the lines shown after it.
fn transcripts<'a>(fence: &Fence<'a>) -> Vec<(&'a str, Vec<&'a str>)> {
    let mut out = Vec::new();
    let mut lines = fence.lines.iter().copied().peekable();
    while let Some(line) = lines.next() {
        let Some(command) = line.strip_prefix("$ retake-chat ") else {
            assert!(
                !line.starts_with("$ ") && out.is_empty(),
                "{}: output before any `$ retake-chat` line, or another program: {line}",
                fence.at()
            );
            continue;
        };
        let mut shown = Vec::new();
        while let Some(output) = lines.next_if(|l| !l.starts_with("$ ")) {
            shown.push(output);
        }
        out.push((command, shown));
    }
    out
}

#[test]
fn every_transcript_in_the_docs_is_what_the_binary_prints() {
    let clone = fresh_clone();
    let mut checked = Vec::new();
    for fence in all_fences().into_iter().filter(|f| f.lang == "text") {
        for (command, shown) in transcripts(&fence) {
            let args = words(command);
            let subcommand = args.first().map_or("", String::as_str);
            assert!(
                RUNNABLE.contains(&subcommand),
                "{}: `retake-chat {command}` cannot be reproduced here (only {RUNNABLE:?}); \
                 show its output without the `$ ` line",
                fence.at()
            );
            let (_, stdout, stderr) = run(bin().current_dir(clone.path()).args(&args));
            assert_eq!(
                stdout.lines().collect::<Vec<_>>(),
                shown,
                "{}: `retake-chat {command}` prints otherwise (stderr: {stderr})",
                fence.at()
            );
            checked.push(subcommand.to_string());
        }
    }
    for subcommand in RUNNABLE {
        assert!(
            checked.iter().any(|c| c == subcommand),
            "no `{subcommand}` transcript checked: {checked:?}"
        );
    }
}

/// Whether `line` runs one of the [`RUNNABLE`] subcommands.
fn runnable(line: &str) -> bool {
    RUNNABLE
        .iter()
        .any(|sub| line.starts_with(&format!("retake-chat {sub} ")))
}

/// Run `line` with `sh` in `clone`, the built binary first on PATH: exit code and output.
pub(crate) fn shell(clone: &Path, line: &str) -> (i32, String, String) {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_retake-chat"))
        .parent()
        .expect("the binaries' directory");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    run(std::process::Command::new("sh")
        .arg("-c")
        .arg(line)
        .current_dir(clone)
        .env_clear()
        .env("PATH", &path)
        .env("HOME", clone))
}

#[test]
fn every_offline_command_in_the_docs_succeeds() {
    let clone = fresh_clone();
    let mut checked = Vec::new();
    for fence in all_fences().into_iter().filter(|f| f.lang == "sh") {
        for line in fence.lines.iter().filter(|line| runnable(line)) {
            let (code, stdout, stderr) = shell(clone.path(), line);
            assert_eq!(code, 0, "{}: `{line}` fails:\n{stdout}{stderr}", fence.at());
            checked.push(line.to_string());
        }
    }
    assert!(
        checked.iter().any(|l| l.contains("examples/chat.jsonl")),
        "the README's replay example runs: {checked:?}"
    );
}

/// `retake-chat try --help` and the others end with an example: it works as shown.
#[test]
fn the_help_examples_of_try_check_and_replay_work() {
    let clone = fresh_clone();
    for subcommand in RUNNABLE {
        let (_, help, _) = run(bin().args([subcommand, "--help"]));
        let examples: Vec<&str> = help
            .lines()
            .filter_map(|line| line.trim().strip_prefix("Example: "))
            .collect();
        assert!(
            !examples.is_empty() && examples.iter().all(|e| runnable(e)),
            "{subcommand} --help: {examples:?}"
        );
        for example in examples {
            let (code, stdout, stderr) = shell(clone.path(), example);
            assert_eq!(
                code, 0,
                "`{subcommand} --help` shows `{example}`, which fails:\n{stdout}{stderr}"
            );
        }
    }
}

#[test]
fn every_json_and_toml_block_in_the_docs_parses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    let mut checked = 0;
    for fence in all_fences() {
        let text = fence.text();
        match fence.lang {
            "json" => {
                let whole = serde_json::from_str::<serde_json::Value>(&text);
                let lines = || {
                    text.lines()
                        .filter(|l| !l.trim().is_empty())
                        .try_for_each(|l| serde_json::from_str::<serde_json::Value>(l).map(drop))
                };
                assert!(
                    whole.is_ok() || lines().is_ok(),
                    "{} is not JSON: {whole:?}",
                    fence.at()
                );
            }
            "toml" => {
                let parsed = toml::from_str::<toml::Table>(&text);
                assert!(parsed.is_ok(), "{} is not TOML: {parsed:?}", fence.at());
                // And the listener's own parser takes it: `queue list --config` reads the
                // whole file (keys, types, patterns) before it looks at the queue.
                std::fs::write(&config, &text).expect("write the config");
                let (_, _, stderr) = run(bin()
                    .args(["queue", "list", "--config"])
                    .arg(&config)
                    .env("RETAKE_STATE_DIR", dir.path().join("state")));
                assert!(
                    !stderr.contains("config file"),
                    "{} is not a valid config file: {stderr}",
                    fence.at()
                );
            }
            _ => continue,
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} JSON and TOML blocks");
}

/// The server command of an MCP registration line: what follows `--`, or `--command` and its
/// `--arg`s (OpenClaw's form).
fn registered_command(line: &str) -> Option<Vec<String>> {
    let words = words(line);
    if let Some(at) = words.iter().position(|w| w == "--") {
        return Some(words[at + 1..].to_vec());
    }
    let mut command = Vec::new();
    let mut words = words.iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "--command" | "--arg" => command.extend(words.next().cloned()),
            _ => {}
        }
    }
    (!command.is_empty()).then_some(command)
}

/// The `command` and `args` of every server a JSON config names (`mcpServers` or OpenClaw's
/// `mcp.servers`).
fn json_commands(config: &serde_json::Value) -> Vec<Vec<String>> {
    let servers = [&config["mcpServers"], &config["mcp"]["servers"]];
    servers
        .into_iter()
        .filter_map(|servers| servers.as_object())
        .flat_map(|servers| servers.values())
        .map(|server| {
            let mut command = vec![server["command"].as_str().unwrap_or_default().to_string()];
            let args = server["args"].as_array().into_iter().flatten();
            command.extend(args.map(|a| a.as_str().unwrap_or_default().to_string()));
            command
        })
        .collect()
}

/// Every way docs/agent.md registers the MCP server (the `openclaw`, `claude` and `codex`
/// lines, both JSON forms) starts a server that completes the MCP handshake and lists the
/// six tools.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mcp_registrations_in_the_agent_docs_start_the_server() {
    use rmcp::ServiceExt as _;
    let agent = fences("docs/agent.md", AGENT);
    let registrations: Vec<String> = agent
        .iter()
        .filter(|fence| fence.lang == "sh")
        .flat_map(|fence| fence.lines.iter().copied())
        .filter(|line| line.contains(" mcp add "))
        .map(str::to_string)
        .collect();
    let runtimes: Vec<&str> = registrations
        .iter()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert_eq!(runtimes, ["openclaw", "claude", "codex"]);
    let mut commands: Vec<Vec<String>> = registrations
        .iter()
        .map(|line| registered_command(line).unwrap_or_else(|| panic!("no command in {line}")))
        .collect();
    let configs: Vec<serde_json::Value> = agent
        .iter()
        .filter(|fence| fence.lang == "json")
        .filter_map(|fence| serde_json::from_str(&fence.text()).ok())
        .collect();
    let from_json: Vec<Vec<String>> = configs.iter().flat_map(json_commands).collect();
    assert_eq!(from_json.len(), 2, "both JSON forms: {configs:?}");
    commands.extend(from_json);
    let dir = tempfile::tempdir().expect("tempdir");
    for command in commands {
        assert_eq!(
            command,
            ["retake-chat", "mcp"],
            "registered as the docs say"
        );
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_retake-chat"));
        cmd.args(&command[1..])
            .env_clear()
            .env("HOME", dir.path())
            .env("RETAKE_STATE_DIR", dir.path().join("state"));
        let (transport, _) = rmcp::transport::TokioChildProcess::builder(cmd)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the server starts");
        let client = ().serve(transport).await.expect("the handshake succeeds");
        let tools = client.list_all_tools().await.expect("tools/list");
        assert_eq!(tools.len(), 6, "{command:?}");
        client.cancel().await.expect("the session closes");
    }
}

/// The scripts behind the errors the docs show, under the names the docs give them.
fn erroneous_scripts() -> Vec<(&'static str, String)> {
    let greeter_tests = format!(
        "fn on_message(msg) {{\n\
         \x20   if msg.first_time {{ return reply(`Welcome ${{msg.author}}! First time here? 👋`); }}\n\
         \x20   reply(`Hey again ${{msg.author}}! 👋`)\n\
         }}\n{}\
         fn tests() {{\n\
         \x20   [\n\
         \x20       #{{ say: \"gm\", from: \"ann\", expect: \"reply\", contains: \"Welcome\" }},\n\
         \x20       #{{ say: \"gm\", from: \"ann\", expect: \"reply\" }},\n\
         \x20       #{{ say: \"gm\", from: \"ann\", wait: 60, expect: \"ignore\" }},\n\
         \x20   ]\n\
         }}\n",
        "// …\n".repeat(35)
    );
    vec![
        (
            "greeter.rhai",
            "//! name: greeter\n//! version: 1.0.0\n//! author: retake-chat\n\
             //! description: Greets\n//! api: 2\n\nfn on_message(msg) { ignore() }\n"
                .to_string(),
        ),
        ("greeter.rhai", greeter_tests),
        (
            "hostile.rhai",
            "fn on_message(msg) {\n    let m = 2;\n    let xs = [1, 2];\n    xs.map(|x| x * m)\n}\n"
                .to_string(),
        ),
        (
            "hostile.rhai",
            "fn on_message(msg) {\n    let add = |a, b| a + b;\n    let plus_one = add.curry(1);\n}\n"
                .to_string(),
        ),
        (
            "scripts/personality.rhai",
            format!(
                "{}fn on_message(msg) {{\n    if msg.lower == \"x\" {{\n    return reply(\"x\" +)\n    }}\n}}\n",
                "//\n".repeat(9)
            ),
        ),
    ]
}

/// `greeter.rhai:5:5: …`: the first line of a script's diagnostic.
fn is_diagnostic(line: &str) -> bool {
    line.split_once(".rhai:").is_some_and(|(_, rest)| {
        let mut parts = rest.splitn(3, ':');
        let mut number = || {
            parts
                .next()
                .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        };
        number() && number()
    })
}

/// Every script error the docs show (a text block of `file.rhai:LINE:COL: …` lines, each
/// with the source lines after it, or without them) is what `check` prints for such a script.
#[test]
fn every_error_shown_in_the_docs_is_what_check_prints() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("scripts")).expect("mkdir scripts");
    let outputs: Vec<Vec<String>> = erroneous_scripts()
        .into_iter()
        .map(|(name, source)| {
            std::fs::write(dir.path().join(name), source).expect("write the script");
            let (code, stdout, stderr) = run(bin().current_dir(dir.path()).arg("check").arg(name));
            assert_eq!(code, 1, "{name}: {stdout}{stderr}");
            stdout.lines().map(str::to_string).collect()
        })
        .collect();
    let mut checked = 0;
    for fence in all_fences().into_iter().filter(|f| f.lang == "text") {
        if !fence.lines.first().is_some_and(|l| is_diagnostic(l)) {
            continue;
        }
        let mut groups: Vec<Vec<&str>> = Vec::new();
        for line in &fence.lines {
            match groups.last_mut() {
                Some(group) if !is_diagnostic(line) => group.push(line),
                _ => groups.push(vec![line]),
            }
        }
        for group in groups {
            assert!(
                outputs
                    .iter()
                    .any(|out| out.windows(group.len()).any(|w| w == group.as_slice())),
                "{}: no script in erroneous_scripts() makes `check` print\n{}\n(it printed {outputs:#?})",
                fence.at(),
                group.join("\n")
            );
            checked += 1;
        }
    }
    assert_eq!(checked, outputs.len(), "each script's error is shown once");
}
