//! Flags given before the subcommand's name (`retake-chat --state-dir D queue list`): moved
//! after the name when the subcommand takes them, refused in one sentence when it does not.
//!
//! clap cannot do this itself here: the default `run` flattens its flags into the top level,
//! which must conflict with subcommands so that `queue --help` lists only what `queue` takes.
//! This looks at the words only; what they mean is still clap's to parse.

use std::ffi::{OsStr, OsString};

use clap::Command;

/// `args` (program name first) with the top-level flags that stand before the subcommand's
/// name moved right after it, or the sentence saying which of them the subcommand does not
/// take. Left as they are when there is no subcommand (the default `run`), when a word before
/// it is not a known top-level flag (clap reports it), or when help or the version is asked.
pub fn move_after_subcommand(
    args: Vec<OsString>,
    command: &Command,
) -> Result<Vec<OsString>, String> {
    let mut command = command.clone();
    // Built, subcommands see the propagated global flags and know which flags take values.
    command.build();
    let Some((at, name)) = find_subcommand(&args, &command) else {
        return Ok(args);
    };
    let Some(sub) = command.find_subcommand(&name) else {
        return Ok(args);
    };
    let leading = &args[1..at];
    let mut refused: Vec<String> = Vec::new();
    for flag in flags(leading).filter(|flag| !takes(sub, flag)) {
        let flag = format!("--{flag}");
        if !refused.contains(&flag) {
            refused.push(flag);
        }
    }
    if !refused.is_empty() {
        let path = command_path(sub, &args[at + 1..]);
        return Err(format!(
            "`{path}` does not take {}; see `retake-chat {path} --help`",
            refused.join(" or ")
        ));
    }
    let mut out = Vec::with_capacity(args.len());
    out.push(args[0].clone());
    out.push(args[at].clone());
    out.extend_from_slice(leading);
    out.extend_from_slice(&args[at + 1..]);
    Ok(out)
}

/// Where the subcommand's name is and what it is, when everything before it is a top-level
/// flag (with its value) that is not `--help` or `--version`.
fn find_subcommand(args: &[OsString], command: &Command) -> Option<(usize, String)> {
    let mut i = 1;
    while let Some(word) = args.get(i) {
        let word = word.to_str()?;
        let Some(flag) = word.strip_prefix("--") else {
            // A short flag (-h, -V) or a bare word: the subcommand, or clap's to report.
            let sub = command.find_subcommand(word)?;
            return (i > 1).then(|| (i, sub.get_name().to_string()));
        };
        let (name, inline_value) = match flag.split_once('=') {
            Some((name, _)) => (name, true),
            None => (flag, false),
        };
        let arg = command
            .get_arguments()
            .find(|a| a.get_long() == Some(name))?;
        if name.is_empty() || matches!(name, "help" | "version") {
            return None;
        }
        let takes_value = arg.get_action().takes_values();
        i += if takes_value && !inline_value { 2 } else { 1 };
    }
    None
}

/// The long names of the flags among `words` (a flag's value is not a flag: it never starts
/// with `--` here, or it would have been taken as one).
fn flags(words: &[OsString]) -> impl Iterator<Item = &str> {
    words
        .iter()
        .filter_map(|w| w.to_str()?.strip_prefix("--"))
        .map(|flag| flag.split_once('=').map_or(flag, |(name, _)| name))
}

/// Whether `sub` (or the subcommands under it, through its global flags) takes `--flag`.
fn takes(sub: &Command, flag: &str) -> bool {
    sub.get_arguments().any(|a| a.get_long() == Some(flag))
}

/// `queue list` for `queue` followed by `list …`: the subcommand as the user would name it.
fn command_path(sub: &Command, rest: &[OsString]) -> String {
    let inner = rest
        .iter()
        .filter_map(|w| w.to_str())
        .find_map(|w| sub.find_subcommand(OsStr::new(w)));
    match inner {
        Some(inner) => format!("{} {}", sub.get_name(), inner.get_name()),
        None => sub.get_name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::cli::Cli;

    fn reorder(line: &str) -> Result<String, String> {
        let args = std::iter::once("retake-chat")
            .chain(line.split_whitespace())
            .map(OsString::from)
            .collect();
        let out = move_after_subcommand(args, &Cli::command())?;
        let words: Vec<_> = out[1..].iter().map(|w| w.to_string_lossy()).collect();
        Ok(words.join(" "))
    }

    #[test]
    fn flags_before_a_subcommand_that_takes_them_move_after_its_name() {
        let cases = [
            ("--script x sandbox", "sandbox --script x"),
            ("--script=x sandbox", "sandbox --script=x"),
            ("--state-dir D queue list", "queue --state-dir D list"),
            (
                "--config c --state-dir D status --json",
                "status --config c --state-dir D --json",
            ),
            ("--log-format json status", "status --log-format json"),
            (
                "--api v2 --creds c reply --ack 1 hi",
                "reply --api v2 --creds c --ack 1 hi",
            ),
            ("--script sandbox run", "run --script sandbox"),
        ];
        for (given, expected) in cases {
            assert_eq!(reorder(given).as_deref(), Ok(expected), "{given}");
        }
    }

    #[test]
    fn anything_else_is_left_for_clap() {
        for line in [
            "--script x",
            "run --script x",
            "sandbox --script x",
            "--script x --max-reconnects 2",
            "--bogus sandbox",
            "--help sandbox",
            "-h sandbox",
            "--script x nonsense",
        ] {
            assert_eq!(reorder(line).as_deref(), Ok(line), "{line}");
        }
    }

    #[test]
    fn a_flag_the_subcommand_does_not_take_is_one_sentence() {
        assert_eq!(
            reorder("--script x queue list"),
            Err("`queue list` does not take --script; see `retake-chat queue list --help`".into())
        );
        assert_eq!(
            reorder("--script x --chat-url u --state-dir D status"),
            Err(
                "`status` does not take --script or --chat-url; see `retake-chat status --help`"
                    .into()
            )
        );
        assert_eq!(
            reorder("--room a --room b sandbox"),
            Err("`sandbox` does not take --room; see `retake-chat sandbox --help`".into())
        );
        assert_eq!(
            reorder("--script=x check a.rhai"),
            Err("`check` does not take --script; see `retake-chat check --help`".into())
        );
    }
}
