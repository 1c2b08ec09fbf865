//! A shared personality cannot reach the machine: no imports from disk, no eval, and no
//! function that reads files or the environment, opens connections or starts processes.
//! Each attempt fails inside the script (the message is then queued for the agent) and has
//! no effect outside it.

use retake_chat::event::ChatEvent;
use retake_chat::script::{Limits, ScriptHost};

fn event() -> ChatEvent {
    ChatEvent {
        id: "m1".into(),
        kind: "message".into(),
        author: "mallory".into(),
        text: "gm".into(),
        ..ChatEvent::default()
    }
}

/// Compile `body` inside `on_message` and run it once; the error text, if any.
fn attempt(body: &str) -> Result<(), String> {
    let runtime = ScriptHost::new(Limits::default());
    let source = format!("fn on_message(msg) {{ {body} }}");
    let personality = runtime
        .compile("mallory.rhai", &source)
        .map_err(|e| e.to_string())?;
    runtime
        .decide(&personality, &event())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn imports_from_disk_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let module = dir.path().join("evil.rhai");
    std::fs::write(&module, "export const X = 1;").expect("write module");
    let runtime = ScriptHost::new(Limits::default());
    let source = format!(
        "import \"{}\" as evil;\nfn on_message(msg) {{ reply(\"x\") }}",
        module.with_extension("").display()
    );
    let err = runtime
        .compile("mallory.rhai", &source)
        .expect_err("refused");
    assert!(err.to_string().starts_with("mallory.rhai:1:"), "{err}");
}

#[test]
fn eval_is_refused() {
    let err = attempt(r#"eval("reply(\"x\")")"#).expect_err("refused");
    assert!(err.contains("eval"), "{err}");
}

#[test]
fn no_function_reaches_files_env_network_or_processes() {
    let marker = std::env::temp_dir().join(format!("retake-sandbox-{}", std::process::id()));
    let path = marker.display().to_string();
    let calls = [
        format!(r#"open("{path}")"#),
        format!(r#"read_file("{path}")"#),
        format!(r#"write_file("{path}", "x")"#),
        format!(r#"File::create("{path}")"#),
        format!(r#"fs::write("{path}", "x")"#),
        r#"env("HOME")"#.to_string(),
        r#"getenv("HOME")"#.to_string(),
        r#"env_var("HOME")"#.to_string(),
        format!(r#"system("touch {path}")"#),
        format!(r#"exec("touch", ["{path}"])"#),
        format!(r#"spawn("touch {path}")"#),
        format!(r#"command("touch {path}")"#),
        format!(r#"shell("touch {path}")"#),
        r#"http_get("http://127.0.0.1:9/")"#.to_string(),
        r#"fetch("http://127.0.0.1:9/")"#.to_string(),
        r#"connect("127.0.0.1:9")"#.to_string(),
        "exit(1)".to_string(),
    ];
    for call in &calls {
        let result = attempt(&format!("{call}; reply(\"done\")"));
        assert!(result.is_err(), "{call} was allowed");
    }
    assert!(!marker.exists(), "a script touched the file system");
}

#[test]
fn a_sleeping_script_cannot_hold_the_thread() {
    let err = attempt("sleep(60); reply(\"late\")").expect_err("refused");
    assert!(err.contains("sleep"), "{err}");
}
