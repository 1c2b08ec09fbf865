//! The outbound guard: the last look at every text before it goes to the chat, whoever wrote
//! it (the personality, a timer, the agent through `retake-chat reply` or `chat_reply`).
//!
//! A text is blocked when it holds the access token, the wake token or another secret-looking
//! credential field, in any case and with anything but letters and digits inserted around or
//! inside it, or when it matches one of the `[send] block` patterns. The callers decide what a
//! block means (not sent, counted, nothing acknowledged); nothing here logs, and a [`Blocked`]
//! names the rule, never the secret.

use std::borrow::Cow;

use regex::Regex;

use super::budget::{clean, split};
use crate::config::{Config, Secret, compile_block};

/// Secrets with fewer letters and digits than this are never looked for: they would match
/// ordinary words.
const MIN_SECRET_CHARS: usize = 8;

/// Why a text was not sent: which rule it broke, never what it held.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Blocked {
    /// The access token.
    #[error("contains the access token")]
    AccessToken,
    /// `RETAKE_WAKE_TOKEN`.
    #[error("contains the wake token")]
    WakeToken,
    /// Another secret-looking field of the credentials file, by name.
    #[error("contains a credential field (`{0}`)")]
    CredentialField(String),
    /// A `[send] block` pattern, numbered from 1.
    #[error("matches `[send] block` pattern {0}")]
    Pattern(usize),
}

/// What no outgoing text may hold, built once from the config.
#[derive(Debug)]
pub struct Guard {
    /// Each secret's [`skeleton`], with the rule that names it. Kept as [`Secret`]s: the
    /// skeleton is as good as the secret.
    secrets: Vec<(Blocked, Secret)>,
    /// `[send] block`, in order.
    patterns: Vec<Regex>,
}

impl Guard {
    /// The guard for `config`'s credentials, wake token and `[send] block` patterns. A bad
    /// pattern is the sentence [`compile_block`] gives (config loading has already said it).
    pub fn new(config: &Config) -> Result<Self, String> {
        let fields = config
            .creds
            .secret_fields
            .iter()
            .map(|(name, value)| (Blocked::CredentialField(name.clone()), value));
        let secrets = [(Blocked::AccessToken, &config.creds.access_token)]
            .into_iter()
            .chain(config.wake.token.iter().map(|t| (Blocked::WakeToken, t)))
            .chain(fields);
        Self::with(secrets, &config.send.block)
    }

    /// The guard for these secrets, each with the rule that names it, and these patterns.
    fn with<'a>(
        secrets: impl IntoIterator<Item = (Blocked, &'a Secret)>,
        patterns: &[String],
    ) -> Result<Self, String> {
        let secrets = secrets
            .into_iter()
            .filter_map(|(rule, secret)| {
                let skeleton = skeleton(secret.expose());
                let long_enough = skeleton.chars().count() >= MIN_SECRET_CHARS;
                long_enough.then(|| (rule, Secret::new(skeleton)))
            })
            .collect();
        Ok(Self {
            secrets,
            patterns: compile_block(patterns)?,
        })
    }

    /// Whether `text` may be posted as one chat message.
    pub fn check(&self, text: &str) -> Result<(), Blocked> {
        if !self.secrets.is_empty() {
            let skeleton = skeleton(text);
            if let Some((rule, _)) = self
                .secrets
                .iter()
                .find(|(_, secret)| skeleton.contains(secret.expose()))
            {
                return Err(rule.clone());
            }
        }
        if !self.patterns.is_empty() {
            // Also without invisible characters, so a zero-width space cannot hide a match.
            let visible = without_invisible(text);
            if let Some(n) = self
                .patterns
                .iter()
                .position(|p| p.is_match(text) || p.is_match(&visible))
            {
                return Err(Blocked::Pattern(n + 1));
            }
        }
        Ok(())
    }

    /// `text` as the chat messages it becomes ([`split`]), when neither the whole text nor any
    /// part is blocked: a secret cut in two by the split is still found in the whole.
    pub fn parts(&self, text: &str) -> Result<Vec<String>, Blocked> {
        self.check(&clean(text))?;
        let parts = split(text);
        parts.iter().try_for_each(|part| self.check(part))?;
        Ok(parts)
    }
}

/// The letters and digits of `text`, lower-cased, fullwidth forms folded to ASCII: what is
/// left of a secret however it is cased, spaced, punctuated or sprinkled with invisible
/// characters.
fn skeleton(text: &str) -> String {
    text.chars()
        .map(fold_width)
        .filter(|&c| c.is_alphanumeric() && !is_invisible(c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Fullwidth ASCII (U+FF01–U+FF5E, `ｒｔｋ`) as ASCII.
fn fold_width(c: char) -> char {
    match c {
        '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
        _ => c,
    }
}

/// `text` without the characters that show nothing.
fn without_invisible(text: &str) -> Cow<'_, str> {
    if text.chars().any(is_invisible) {
        Cow::Owned(text.chars().filter(|&c| !is_invisible(c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// Unicode's default-ignorable characters (zero-width spaces and joiners, the soft hyphen,
/// bidi marks, variation selectors, tags) and the Hangul fillers, which count as letters but
/// show as blanks.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{34f}'
            | '\u{61c}'
            | '\u{115f}'..='\u{1160}'
            | '\u{17b4}'..='\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{3164}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{feff}'
            | '\u{ffa0}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e0fff}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "rtk_test_SECRET_token_4242";

    fn guard(block: &[&str]) -> Guard {
        let (token, key) = (Secret::new(TOKEN), Secret::new("5Kb8kLf9zgWQnogid"));
        let secrets = [
            (Blocked::AccessToken, &token),
            (Blocked::CredentialField("private_key".into()), &key),
        ];
        let block: Vec<String> = block.iter().map(|p| p.to_string()).collect();
        Guard::with(secrets, &block).expect("patterns compile")
    }

    #[test]
    fn the_token_is_found_however_it_is_written() {
        let guard = guard(&[]);
        let upper = TOKEN.to_uppercase();
        let spaced: String = TOKEN.chars().map(|c| format!("{c} ")).collect();
        let zero_width: String = TOKEN.chars().map(|c| format!("{c}\u{200b}")).collect();
        let fullwidth: String = TOKEN
            .chars()
            .map(|c| char::from_u32(c as u32 + 0xfee0).unwrap_or(c))
            .collect();
        for text in [
            TOKEN.to_string(),
            upper.clone(),
            "rTk_TeSt_sEcReT_tOkEn_4242".to_string(),
            format!("my token: {TOKEN}, is that right?"),
            format!("echo {upper} please"),
            format!("  {TOKEN}\u{feff} "),
            spaced,
            zero_width,
            fullwidth,
            "rtk_test_SECRET\u{ad}_token\u{3164}_4242".to_string(),
            "rtk-test-secret.token/4242".to_string(),
            "rtk\ntest\u{1b}SECRET\ttoken\u{202e}4242".to_string(),
        ] {
            assert_eq!(guard.check(&text), Err(Blocked::AccessToken), "{text:?}");
        }
        assert_eq!(
            guard.check("here: 5KB8KLF9 ZGWQNOGID"),
            Err(Blocked::CredentialField("private_key".into()))
        );
    }

    #[test]
    fn ordinary_texts_and_parts_of_the_token_pass() {
        let guard = guard(&[]);
        for text in [
            "gm alice! ☀️",
            "rtk_test_SECRET_token_424",
            "test secret token",
            "tokens are rtk_ followed by letters",
            "5Kb8kLf9zgWQnogi",
        ] {
            assert_eq!(guard.check(text), Ok(()), "{text:?}");
        }
    }

    #[test]
    fn short_secrets_are_not_looked_for() {
        let guard = |token: &str| {
            Guard::with([(Blocked::AccessToken, &Secret::new(token))], &[]).expect("guard")
        };
        let short = guard("ab-12-cd");
        assert!(short.secrets.is_empty());
        assert_eq!(short.check("ab12cd"), Ok(()));
        assert_eq!(
            guard("ab-12-cd-34").check("AB12CD34"),
            Err(Blocked::AccessToken)
        );
    }

    #[test]
    fn patterns_are_numbered_from_one_and_see_through_invisible_characters() {
        let guard = guard(&["(?i)seed phrase", r"\bwords\b", "^second"]);
        assert_eq!(guard.check("my SEED PHRASE is"), Err(Blocked::Pattern(1)));
        assert_eq!(guard.check("some wo\u{200b}rds"), Err(Blocked::Pattern(2)));
        assert_eq!(guard.check("swordsman"), Ok(()));
        // A part that starts with it after the split, though the whole text does not.
        let long = format!("{}second half", "word ".repeat(99));
        let guard = Guard::with([], &["^second".to_string()]).expect("compiles");
        assert_eq!(guard.check(&long), Ok(()));
        assert_eq!(guard.parts(&long), Err(Blocked::Pattern(1)));
    }

    #[test]
    fn a_token_cut_in_two_by_the_split_is_still_found() {
        let guard = guard(&[]);
        // The split falls on the space inside the token: neither part holds all of it.
        let text = format!("{}rtk_test_SECRET _token_4242 and more", "word ".repeat(96));
        let parts = split(&text);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| guard.check(p).is_ok()), "{parts:?}");
        assert_eq!(guard.parts(&text), Err(Blocked::AccessToken));
        assert_eq!(guard.parts("gm\nall"), Ok(vec!["gm all".to_string()]));
    }

    /// The README's starter list compiles, blocks what it says and lets chat through.
    #[test]
    fn the_readme_starter_list_blocks_what_it_says() {
        let readme = include_str!("../../README.md");
        let block = readme
            .split("```toml\n[send]\nblock = [\n")
            .nth(1)
            .and_then(|rest| rest.split("]\n```").next())
            .expect("the README has a starter list");
        let patterns: Vec<String> = block
            .lines()
            .filter_map(|line| Some(line.trim().strip_prefix('\'')?.split_once("',")?.0.into()))
            .collect();
        assert_eq!(patterns.len(), 5, "{patterns:?}");
        let guard = Guard::with([], &patterns).expect("the starter list compiles");
        let hex = "ab".repeat(32);
        let solana = "4".repeat(88);
        let blocked = [
            ("use rtk_AbC123 to log in", 1),
            ("-----BEGIN OPENSSH PRIVATE KEY----- b3Bl", 2),
            (solana.as_str(), 3),
            (&format!("key 0x{hex}"), 4),
            (
                "abandon ability able about above absent absorb abstract absurd abuse access accident",
                5,
            ),
        ];
        for (text, n) in blocked {
            assert_eq!(guard.check(text), Err(Blocked::Pattern(n)), "{text}");
        }
        for text in [
            "gm alice! ☀️",
            "my wallet is 0x52908400098527886E0F7030069857D2E4169EE7",
            "tip me at 7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV",
            "thanks for the tip, you are a legend, see you all at the next stream tonight",
            "what is a rtk token?",
        ] {
            assert_eq!(guard.check(text), Ok(()), "{text}");
        }
    }

    #[test]
    fn the_guard_never_shows_a_secret() {
        let shown = format!("{:?}", guard(&[]));
        assert!(!shown.contains("rtktestsecret"), "{shown}");
        assert_eq!(
            Blocked::CredentialField("private_key".into()).to_string(),
            "contains a credential field (`private_key`)"
        );
    }
}
