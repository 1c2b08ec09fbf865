//! The config file init writes, read back with the listener's own parser, held against the
//! defaults and against the README's config examples.

use super::*;
use crate::config::{Config, ScriptChoice};

/// The listener's view of a config file with this text.
fn resolve(text: &str) -> Config {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).expect("write");
    let overrides = Overrides {
        config: Some(path),
        ..Overrides::default()
    };
    let creds = [
        ("RETAKE_ACCESS_TOKEN", "rtk_x"),
        ("RETAKE_USER_DB_ID", "u"),
        ("RETAKE_AGENT_NAME", "a"),
    ];
    config::resolve(&overrides, &Env::from_pairs(creds, dir.path()))
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// What init writes parses with the listener's parser, and names the personality.
#[test]
fn the_config_init_writes_is_read_with_the_personality_and_the_api() {
    let text = config_text(
        Path::new("/home/u/bots/my \"bot\".rhai"),
        Some(ApiVersion::V2),
    );
    let config = resolve(&text);
    assert_eq!(config.api, ApiVersion::V2);
    let path = PathBuf::from("/home/u/bots/my \"bot\".rhai");
    assert_eq!(config.script, ScriptChoice::File(path));
    assert_eq!(
        resolve(&config_text(Path::new("/p.rhai"), None)).api,
        ApiVersion::V1
    );
}

/// Every setting in the template is there with its true default: uncommented, the file
/// resolves to exactly what no file gives (`[wake] url`, an example, aside).
#[test]
fn every_commented_setting_in_the_template_is_its_default() {
    let uncommented: String = CONFIG_TEMPLATE
        .lines()
        .filter(|line| !line.starts_with("# url = "))
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if rest.split_once(" = ").is_some_and(|(k, _)| is_key(k)) => rest,
            _ => line,
        })
        .map(|line| format!("{line}\n"))
        .collect();
    assert!(uncommented.contains("\nper_30s = 20 "), "{uncommented}");
    let full = resolve(&uncommented);
    let none = resolve("");
    assert_eq!(
        full.script,
        ScriptChoice::File("scripts/personality.rhai".into())
    );
    assert_eq!(full.script_limits, none.script_limits);
    assert_eq!(full.wake, none.wake);
    assert_eq!(full.send, none.send);
    assert_eq!(full.queue, none.queue);
    assert_eq!(full.connection, none.connection);
    assert_eq!(full.health, none.health);
    assert_eq!(full.decisions, none.decisions);
    assert_eq!(full.backlog, none.backlog);
    assert_eq!(full.catchup, none.catchup);
    assert_eq!(full.transcript, none.transcript);
    assert_eq!(full.mcp, none.mcp);
    assert_eq!((full.api, &full.chat_url), (none.api, &none.chat_url));
}

/// The template has every key of the README's config examples, in the same table.
#[test]
fn the_template_has_every_setting_the_readme_shows() {
    let readme = include_str!("../../../README.md");
    let shown: Vec<(String, String)> = readme
        .split("```toml\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .filter(|block| !block.contains("block = [\n"))
        .flat_map(keys)
        .collect();
    assert!(shown.len() >= 40, "{shown:?}");
    let template = keys(
        &CONFIG_TEMPLATE
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    for key in shown {
        assert!(
            template.contains(&key),
            "src/cmd/init/config.toml lacks {key:?}"
        );
    }
}

fn is_key(word: &str) -> bool {
    !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit())
}

/// `(table, key)` for every `key = value` line of a TOML text.
fn keys(text: &str) -> Vec<(String, String)> {
    let mut table = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            table = name.to_string();
        } else if let Some((key, _)) = line.split_once(" = ").filter(|(k, _)| is_key(k.trim())) {
            out.push((table.clone(), key.trim().to_string()));
        }
    }
    out
}
