//! The examples in the docs are what the program does: every `$ retake-chat try …` transcript
//! in docs/scripting.md prints exactly what it shows, every Rhai example there compiles, and
//! every MCP registration in docs/agent.md starts a working server.
//! (The README's TOML examples are checked beside the config parser, in src/config/file.rs.)

use crate::support::{bin, run};

const SCRIPTING: &str = include_str!("../docs/scripting.md");
const AGENT: &str = include_str!("../docs/agent.md");

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

/// A directory to run the docs' commands in: the checkout's `examples/`, and no
/// `scripts/personality.rhai`, so a command without `--script` uses the built-in personality
/// (the checkout's copy is the user's to edit, and their edits must not fail the docs).
fn docs_cwd() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    std::os::unix::fs::symlink(examples, dir.path().join("examples")).expect("link examples");
    dir
}

#[test]
fn the_try_transcripts_in_the_scripting_docs_are_what_try_prints() {
    let cwd = docs_cwd();
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
                .current_dir(cwd.path())
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
    let registrations: Vec<String> = blocks(AGENT, "sh")
        .into_iter()
        .flat_map(|(_, lines)| lines)
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
    let configs: Vec<serde_json::Value> = blocks(AGENT, "json")
        .into_iter()
        .map(|(_, lines)| serde_json::from_str(&lines.join("\n")).expect("the JSON parses"))
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
