//! A script's metadata header: the `//! key: value` lines at the top of the file.
//!
//! Owns parsing and validating it, and refusing scripts that ask for a newer scripting API
//! than this binary has ([`SCRIPT_API_VERSION`]). To Rhai these lines are plain comments.

use std::fmt;

use super::{Location, ScriptError};

/// The scripting API this binary provides. A script whose header says `//! api: N` with a
/// larger N is refused at load.
pub const SCRIPT_API_VERSION: u32 = 1;

/// The keys a header may set.
const KEYS: [&str; 5] = ["name", "version", "author", "description", "api"];
/// Longest header value, in characters.
const MAX_VALUE_CHARS: usize = 200;

/// What a script says about itself. Every field is optional; `api` defaults to 1.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// A short name, e.g. `greeter`.
    pub name: Option<String>,
    /// The script's own version, `MAJOR.MINOR.PATCH`.
    pub version: Option<String>,
    /// Who wrote it.
    pub author: Option<String>,
    /// One line on what it does.
    pub description: Option<String>,
    /// The scripting API it needs, when declared.
    pub api: Option<u32>,
}

impl Header {
    /// The scripting API the script needs (1 when it does not say).
    pub fn api(&self) -> u32 {
        self.api.unwrap_or(1)
    }

    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl fmt::Display for Header {
    /// `name version by author (api N)`, leaving out what is not set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        parts.extend(self.name.clone());
        parts.extend(self.version.clone());
        if let Some(author) = &self.author {
            parts.push(format!("by {author}"));
        }
        parts.push(format!("(api {})", self.api()));
        f.write_str(&parts.join(" "))
    }
}

/// Parse the header of the script `name`: the `//!` lines before the first other line
/// (blank lines between them are allowed). Errors point at the offending line.
pub fn parse(name: &str, source: &str) -> Result<Header, ScriptError> {
    let mut header = Header::default();
    for (index, line) in source.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            continue;
        }
        let Some(rest) = trimmed.strip_prefix("//!") else {
            break;
        };
        if rest.trim().is_empty() {
            continue;
        }
        let col = line.len() - trimmed.len() + 4 + (rest.len() - rest.trim_start().len());
        let err = |message: String| ScriptError::Header {
            at: Location {
                name: name.to_string(),
                line_col: Some((index + 1, col)),
            },
            message,
        };
        let Some((key, value)) = rest.split_once(':') else {
            return Err(err(
                "header lines look like `//! key: value`; use `//` for other comments".to_string(),
            ));
        };
        let (key, value) = (key.trim(), value.trim());
        if !KEYS.contains(&key) {
            return Err(err(format!(
                "unknown header key `{key}`; the keys are {}",
                KEYS.join(", ")
            )));
        }
        if value.is_empty() {
            return Err(err(format!("`{key}` has no value")));
        }
        if value.chars().count() > MAX_VALUE_CHARS || value.chars().any(char::is_control) {
            return Err(err(format!(
                "`{key}` must be one line of at most {MAX_VALUE_CHARS} characters"
            )));
        }
        let slot = match key {
            "name" => &mut header.name,
            "version" => {
                if !is_version(value) {
                    return Err(err(format!(
                        "`version` must look like 1.2.3, got `{value}`"
                    )));
                }
                &mut header.version
            }
            "author" => &mut header.author,
            "description" => &mut header.description,
            _ => {
                if header.api.is_some() {
                    return Err(err("`api` is given twice".to_string()));
                }
                let api = value.parse::<u32>().ok().filter(|n| *n >= 1);
                let Some(api) = api else {
                    return Err(err(format!(
                        "`api` must be a whole number from 1, got `{value}`"
                    )));
                };
                if api > SCRIPT_API_VERSION {
                    return Err(err(format!(
                        "this script needs scripting API {api}, but this retake-chat provides \
                         API {SCRIPT_API_VERSION}; upgrade retake-chat to run it"
                    )));
                }
                header.api = Some(api);
                continue;
            }
        };
        if slot.is_some() {
            return Err(err(format!("`{key}` is given twice")));
        }
        *slot = Some(value.to_string());
    }
    Ok(header)
}

/// `MAJOR.MINOR.PATCH`, each a number, optionally followed by `-something`.
fn is_version(value: &str) -> bool {
    let core = value.split_once('-').map_or(value, |(core, _)| core);
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_key() {
        let source = "\n//! name: greeter\n//!\n//! version: 1.2.0\n//! author: Ada <ada@example.com>\n//! description: says: hi\n//! api: 1\n// other comment\n//! not header\nfn on_message(msg) {}";
        let header = parse("g.rhai", source).expect("parses");
        assert_eq!(header.name.as_deref(), Some("greeter"));
        assert_eq!(header.version.as_deref(), Some("1.2.0"));
        assert_eq!(header.author.as_deref(), Some("Ada <ada@example.com>"));
        assert_eq!(header.description.as_deref(), Some("says: hi"));
        assert_eq!(header.api, Some(1));
        assert_eq!(
            header.to_string(),
            "greeter 1.2.0 by Ada <ada@example.com> (api 1)"
        );
        let none = parse("g.rhai", "fn on_message(msg) {}").expect("parses");
        assert!(none.is_empty());
        assert_eq!(none.api(), 1);
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let cases = [
            (
                "//! api: 99",
                "g.rhai:1:5: header: this script needs scripting API 99, but this retake-chat provides API 1; upgrade retake-chat to run it",
            ),
            (
                "//! api: 0",
                "g.rhai:1:5: header: `api` must be a whole number from 1, got `0`",
            ),
            (
                "//! name: a\n  //! nmae: b",
                "g.rhai:2:7: header: unknown header key `nmae`; the keys are name, version, author, description, api",
            ),
            (
                "//! version: 1.0",
                "g.rhai:1:5: header: `version` must look like 1.2.3, got `1.0`",
            ),
            (
                "//! name: a\n//! name: b",
                "g.rhai:2:5: header: `name` is given twice",
            ),
            ("//! name:", "g.rhai:1:5: header: `name` has no value"),
            (
                "//! just words",
                "g.rhai:1:5: header: header lines look like `//! key: value`; use `//` for other comments",
            ),
        ];
        for (source, expected) in cases {
            let err = parse("g.rhai", source).expect_err(source);
            assert_eq!(err.to_string(), expected, "for {source:?}");
        }
        assert!(is_version("1.0.0-beta.1"));
        assert!(!is_version("1.x.0"));
    }
}
