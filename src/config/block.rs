//! The `[send] block` patterns: compiled here when the config file is read, so a bad one stops
//! the start with a sentence naming it, and compiled again by the outbound guard
//! (`act::guard`), which owns what a match means.

use regex::{Regex, RegexBuilder};

/// Compiled size limit of one `[send] block` pattern, in bytes (as for scripts' `matches`).
const PATTERN_SIZE_LIMIT: usize = 256 * 1024;

/// Compile the `[send] block` patterns; a bad one is one sentence naming the key and the
/// pattern's number (from 1), not the pattern (it may spell out what it guards).
pub fn compile_block(patterns: &[String]) -> Result<Vec<Regex>, String> {
    patterns
        .iter()
        .enumerate()
        .map(|(i, pattern)| {
            RegexBuilder::new(pattern)
                .size_limit(PATTERN_SIZE_LIMIT)
                .dfa_size_limit(PATTERN_SIZE_LIMIT)
                .build()
                .map_err(|e| {
                    format!(
                        "[send] block: pattern {} is not a valid regular expression ({})",
                        i + 1,
                        reason(&e)
                    )
                })
        })
        .collect()
}

/// What is wrong with a pattern, without quoting it: the regex crate's last line.
fn reason(error: &regex::Error) -> String {
    let text = error.to_string();
    let last = text.lines().last().unwrap_or_default().trim();
    last.strip_prefix("error: ").unwrap_or(last).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_pattern_is_named_by_its_number_not_quoted() {
        let error = compile_block(&["fine".into(), "(my-secret".into()]).expect_err("rejects");
        assert_eq!(
            error,
            "[send] block: pattern 2 is not a valid regular expression (unclosed group)"
        );
        let error = compile_block(&["x{100000}{100000}".into()]).expect_err("too big");
        assert!(
            error.starts_with("[send] block: pattern 1 is not a valid regular expression ("),
            "{error}"
        );
    }
}
