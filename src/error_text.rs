//! One line for an error and everything that caused it.
//!
//! The network crates' errors say little at the top ("EngineIO Error", "error sending
//! request"); the reason a user can act on (connection refused, an untrusted certificate, a
//! name that does not resolve) is further down the `source()` chain.

use std::error::Error;

/// `top: cause: root cause`, each cause once: a message that already repeats its cause's text
/// (thiserror's `"{0}"` style) does not get it twice.
pub fn with_causes(error: &dyn Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let text = e.to_string();
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = e.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn Error + 'static))
        }
    }

    #[test]
    fn causes_are_appended_once_each() {
        let root = Layer("connection refused", None);
        let io = Layer("io error: connection refused", Some(Box::new(root)));
        let top = Layer("EngineIO Error", Some(Box::new(io)));
        assert_eq!(
            with_causes(&top),
            "EngineIO Error: io error: connection refused"
        );
        assert_eq!(with_causes(&Layer("alone", None)), "alone");
    }
}
