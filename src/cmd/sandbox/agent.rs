//! Playing the agent against the sandbox: the environment a second terminal needs so that
//! `retake-chat queue take`, `reply --ack ID TEXT`, `status` and `mcp` find the sandbox's
//! state directory and send to its fake (the settings `config` reads, as variables). The agent
//! sends with its own made-up token, which is how the screen tells its replies from the bot's.

use std::path::Path;

use super::{BOT, ROOM};

/// The made-up token the agent's commands send with (the listener's is `sandbox-token`).
pub(super) const AGENT_TOKEN: &str = "sandbox-agent-token";

/// The `Authorization` header the agent's sends carry.
pub(super) fn authorization() -> String {
    format!("Bearer {AGENT_TOKEN}")
}

/// The variables, in the order printed.
pub(super) fn environment(state_dir: &Path, api_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("RETAKE_STATE_DIR", state_dir.display().to_string()),
        ("RETAKE_API", "v2".into()),
        ("RETAKE_API_URL", api_url.into()),
        ("RETAKE_ACCESS_TOKEN", AGENT_TOKEN.into()),
        ("RETAKE_USER_DB_ID", ROOM.into()),
        ("RETAKE_AGENT_NAME", BOT.into()),
    ]
}

/// The lines on stderr: where the state is, and how to be the agent.
pub(super) fn guide(state_dir: &Path, kept: bool, api_url: &str) -> String {
    let exports: Vec<String> = environment(state_dir, api_url)
        .into_iter()
        .map(|(name, value)| format!("{name}={}", shell_quote(&value)))
        .collect();
    let fate = if kept {
        "kept after the sandbox ends"
    } else {
        "removed when the sandbox ends"
    };
    format!(
        "sandbox: state directory {} ({fate})\n\
         sandbox: to play the agent, in a second terminal:\n  \
         export {}\n  \
         retake-chat queue take    # then: retake-chat reply --ack ID \"text\", retake-chat status",
        state_dir.display(),
        exports.join(" ")
    )
}

/// `value` as one POSIX shell word: bare when it is plain, else in single quotes.
fn shell_quote(value: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-:@%+=,".contains(c);
    if !value.is_empty() && value.chars().all(plain) {
        return value.to_string();
    }
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_only_when_a_shell_needs_it() {
        assert_eq!(
            shell_quote("/tmp/retake-chat-sandbox-x1"),
            "/tmp/retake-chat-sandbox-x1"
        );
        assert_eq!(
            shell_quote("http://127.0.0.1:4242"),
            "http://127.0.0.1:4242"
        );
        assert_eq!(shell_quote("/tmp/my state"), "'/tmp/my state'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
