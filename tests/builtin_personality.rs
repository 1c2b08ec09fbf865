//! The built-in personality (`src/script/builtin.rhai`): what the listener runs when no
//! `--script` is given and there is no `./scripts/personality.rhai`, and never compiled from
//! that file, which is the user's copy to edit (editing it must not rebuild the binary).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use retake_chat::script::{EMBEDDED_PERSONALITY, Limits, ScriptHost};

use crate::support::{DEADLINE, ROOM, expect, listener, start_fake, terminate};

/// With no script given and none in its directory, `run` decides with exactly the built-in
/// source: the decision log's script version is the built-in source's, and it says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_without_a_local_copy_decides_with_the_built_in_personality() {
    let fake = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(!dir.path().join("scripts").exists());
    let child = listener(&fake, dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    expect("the listener joins the room", || fake.room_size(ROOM) == 1).await;
    fake.emit_v1_message(ROOM, "bp1", "ivy", "gm").await;
    expect("gm answered", || fake.sent().len() == 1).await;
    assert_eq!(fake.sent()[0].body["message"], "gm ivy! ☀️");
    let decisions = dir.path().join("state/decisions.jsonl");
    expect("the decision logged", || {
        std::fs::read_to_string(&decisions).is_ok_and(|text| text.contains("\"bp1\""))
    })
    .await;
    terminate(&child);
    let output = tokio::time::timeout(DEADLINE, child.wait_with_output())
        .await
        .expect("stops after SIGTERM")
        .expect("output");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains(
            "personality: the built-in copy (no --script given and no ./scripts/personality.rhai)"
        ),
        "{err}"
    );

    let built_in = ScriptHost::new(Limits::default())
        .compile("<embedded>", EMBEDDED_PERSONALITY)
        .expect("the built-in personality compiles");
    let text = std::fs::read_to_string(&decisions).expect("decisions.jsonl");
    let record: serde_json::Value =
        serde_json::from_str(text.lines().next().expect("a line")).expect("JSON");
    assert_eq!(record["id"], "bp1", "{text}");
    assert_eq!(record["script_version"], built_in.version(), "{text}");
}

/// Every `include_str!` / `include_bytes!` under `src/`, as (file, resolved path).
fn includes(dir: &Path, out: &mut Vec<(PathBuf, PathBuf)>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            includes(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("read source");
            for macro_call in ["include_str!(\"", "include_bytes!(\""] {
                for (at, _) in text.match_indices(macro_call) {
                    let rest = &text[at + macro_call.len()..];
                    let included = &rest[..rest.find('"').unwrap_or(0)];
                    let parent = path.parent().expect("parent");
                    out.push((path.clone(), normalize(&parent.join(included))));
                }
            }
        }
    }
}

/// What the last run of the package's build script (`--version`'s commit and date) told
/// cargo to watch: its `cargo:rerun-if-changed` lines, in the newest of its output files.
fn build_script_watches() -> Vec<PathBuf> {
    let build = Path::new(env!("CARGO_BIN_EXE_retake-chat"))
        .parent()
        .expect("target/debug")
        .join("build");
    let outputs = std::fs::read_dir(&build).into_iter().flatten().flatten();
    let newest = outputs
        .filter(|dir| {
            dir.file_name()
                .to_string_lossy()
                .starts_with("retake-chat-")
        })
        .map(|dir| dir.path().join("output"))
        .filter_map(|out| Some((std::fs::metadata(&out).ok()?.modified().ok()?, out)))
        .max()
        .map(|(_, out)| std::fs::read_to_string(out).expect("read the output"));
    let output = newest.expect("the build script ran");
    assert!(output.contains("RETAKE_COMMIT="), "{output}");
    output
        .lines()
        .filter_map(|line| line.strip_prefix("cargo:rerun-if-changed="))
        .map(PathBuf::from)
        .collect()
}

/// `a/b/../c` → `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            part => out.push(part),
        }
    }
    out
}

/// Cargo rebuilds a crate when a file it compiled in changes. The files users edit (their
/// personality, the example scripts and transcripts) are read at run time only, so saving
/// one never starts a rebuild of `cargo run --release -- sandbox`.
#[test]
fn no_file_users_edit_is_compiled_into_the_binary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for watched in build_script_watches() {
        let git = watched.components().any(|c| c.as_os_str() == ".git");
        assert!(
            watched == Path::new("build.rs") || git,
            "build.rs reruns when {} changes; it may watch only itself and git's HEAD and refs",
            watched.display()
        );
    }
    let mut found = Vec::new();
    includes(&root.join("src"), &mut found);
    let builtin = root.join("src/script/builtin.rhai");
    assert!(
        found.iter().any(|(_, included)| *included == builtin),
        "{found:?}"
    );
    for (file, included) in &found {
        for editable in ["scripts", "examples"] {
            assert!(
                !included.starts_with(root.join(editable)),
                "{} compiles in {}, which users edit: every edit would rebuild the binary",
                file.display(),
                included.display()
            );
        }
    }
}
