//! Which hooks a script defines, checked at load: `on_message(msg)` (required), the optional
//! `on_tip(ev)`, `on_trade(ev)`, `on_follow(ev)`, `on_live(ev)`, `on_pinned(ev)`, `on_start()`,
//! `on_quiet(ev)`, `tests()` and timers (`every_30s`, `every_5m`, `every_1h`, ...), and which
//! hook an event goes to.
//!
//! A hook with the wrong number of parameters, or a timer with a bad name or period, is a
//! load error pointing at its `fn` line. Calling them is `mod.rs`'s job.

use std::time::Duration;

use rhai::AST;

use super::{Location, ScriptError};

/// The hook every personality must define.
pub const ON_MESSAGE: &str = "on_message";
/// Hooks taking one event map, by the event kind routed to them.
pub const EVENT_HOOKS: [(&str, &str); 5] = [
    ("tip", "on_tip"),
    ("trade", "on_trade"),
    ("follow", "on_follow"),
    ("live", "on_live"),
    ("pinned", "on_pinned"),
];
/// Called once when the listener starts.
pub const ON_START: &str = "on_start";
/// Called when the own room has been quiet for `[script] quiet_after_secs` (`quiet.rs`).
pub const ON_QUIET: &str = "on_quiet";
/// The self-tests.
pub const TESTS: &str = "tests";
/// Shortest timer period.
pub const MIN_TIMER: Duration = Duration::from_secs(30);
/// Longest timer period.
pub const MAX_TIMER: Duration = Duration::from_secs(24 * 60 * 60);
/// Most timers one script may declare.
const MAX_TIMERS: usize = 16;

/// A periodic hook such as `fn every_5m()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    /// The function's name, e.g. `every_5m`.
    pub name: String,
    /// How often it is due.
    pub period: Duration,
}

/// The hooks a script defines besides `on_message`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hooks {
    /// `on_tip`, `on_trade`, `on_follow`, `on_live`, `on_pinned`, in that order: whether
    /// each is defined.
    pub events: [bool; EVENT_HOOKS.len()],
    /// `fn on_start()` is defined.
    pub on_start: bool,
    /// `fn on_quiet(ev)` is defined.
    pub on_quiet: bool,
    /// `fn tests()` is defined.
    pub tests: bool,
    /// The timers, shortest period first (then by name).
    pub timers: Vec<Timer>,
}

impl Hooks {
    /// The hook an event of `kind` said in the chat goes to: its own hook when defined,
    /// else `on_message` for tips and trades, and nothing for follows, going live and pins
    /// (so they never get an "On it!").
    pub fn for_kind(&self, kind: &str) -> Option<&'static str> {
        self.route(kind, true)
    }

    /// [`for_kind`](Self::for_kind) for an event that came as chat (`in_chat`) or as a
    /// live-room event. Only a trade said in the chat falls back to `on_message`: a token's
    /// `newtrade`s are no viewer talking, and without `on_trade` they are ignored. A tip falls
    /// back either way, since its two copies are one tip.
    pub fn route(&self, kind: &str, in_chat: bool) -> Option<&'static str> {
        for (i, (k, hook)) in EVENT_HOOKS.iter().enumerate() {
            if *k == kind {
                return match (self.events[i], *k) {
                    (true, _) => Some(hook),
                    (false, "tip") => Some(ON_MESSAGE),
                    (false, "trade") if in_chat => Some(ON_MESSAGE),
                    (false, _) => None,
                };
            }
        }
        Some(ON_MESSAGE)
    }

    /// Every defined hook with its parameters, for `check` to print.
    pub fn describe(&self) -> Vec<String> {
        let mut out = vec![format!("{ON_MESSAGE}(msg)")];
        for (i, (_, hook)) in EVENT_HOOKS.iter().enumerate() {
            if self.events[i] {
                out.push(format!("{hook}(ev)"));
            }
        }
        if self.on_start {
            out.push(format!("{ON_START}()"));
        }
        if self.on_quiet {
            out.push(format!("{ON_QUIET}(ev)"));
        }
        out.extend(self.timers.iter().map(|t| format!("{}()", t.name)));
        out
    }
}

/// Find and check the hooks of `ast` (compiled from `source`, named `name`).
pub fn discover(name: &str, source: &str, ast: &AST) -> Result<Hooks, ScriptError> {
    let script = Script { name, source };
    let mut hooks = Hooks::default();
    let mut has_message = false;
    for f in ast.iter_functions() {
        let got = f.params.len();
        if f.name == ON_MESSAGE {
            // Overloads are allowed; the one with one parameter is the hook.
            has_message |= got == 1;
        } else {
            script.add(&mut hooks, f.name, got)?;
        }
    }
    if !has_message {
        return Err(script.no_message_hook(ast));
    }
    hooks
        .timers
        .sort_by(|a, b| (a.period, &a.name).cmp(&(b.period, &b.name)));
    Ok(hooks)
}

/// The script being checked, for errors that point at a function's line.
struct Script<'a> {
    name: &'a str,
    source: &'a str,
}

impl Script<'_> {
    /// Where `fn function` is.
    fn at(&self, function: &str) -> Location {
        Location {
            name: self.name.to_string(),
            line_col: position_of(self.source, function),
        }
    }

    /// An error at `fn function` unless it takes `want` parameters (`params`).
    fn expect(
        &self,
        function: &str,
        want: usize,
        params: &str,
        got: usize,
    ) -> Result<(), ScriptError> {
        if got == want {
            return Ok(());
        }
        Err(ScriptError::MissingHook {
            at: self.at(function),
            message: format!(
                "`fn {function}` must take exactly {want} parameter{} ({params}), found one taking {got}",
                if want == 1 { "" } else { "s" }
            ),
        })
    }

    /// Record `fn function` (taking `got` parameters) in `hooks` if it is a hook besides
    /// `on_message`, checked; any other function is the script's own.
    fn add(&self, hooks: &mut Hooks, function: &str, got: usize) -> Result<(), ScriptError> {
        match function {
            ON_START => {
                self.expect(function, 0, "none", got)?;
                hooks.on_start = true;
            }
            ON_QUIET => {
                self.expect(function, 1, "ev", got)?;
                hooks.on_quiet = true;
            }
            TESTS => {
                self.expect(function, 0, "none", got)?;
                hooks.tests = true;
            }
            timer if timer.starts_with("every_") => {
                self.expect(function, 0, "none", got)?;
                self.add_timer(hooks, timer)?;
            }
            other => {
                if let Some(i) = EVENT_HOOKS.iter().position(|(_, h)| *h == other) {
                    self.expect(function, 1, "ev", got)?;
                    hooks.events[i] = true;
                }
            }
        }
        Ok(())
    }

    /// Add the timer `fn name` (`every_...`) to `hooks`, if its name is a period and there
    /// is room for it.
    fn add_timer(&self, hooks: &mut Hooks, name: &str) -> Result<(), ScriptError> {
        let period = timer_period(name).ok_or_else(|| ScriptError::MissingHook {
            at: self.at(name),
            message: format!(
                "`fn {name}` is not a timer name: write every_<N>s, every_<N>m or \
                 every_<N>h with a period from 30 s to 24 h, e.g. every_5m"
            ),
        })?;
        if hooks.timers.len() == MAX_TIMERS {
            return Err(ScriptError::MissingHook {
                at: self.at(name),
                message: format!("at most {MAX_TIMERS} timers are allowed"),
            });
        }
        hooks.timers.push(Timer {
            name: name.to_string(),
            period,
        });
        Ok(())
    }

    /// The error for a script without `fn on_message(msg)`: none at all, or only with the
    /// wrong number of parameters.
    fn no_message_hook(&self, ast: &AST) -> ScriptError {
        let found: Vec<String> = ast
            .iter_functions()
            .filter(|f| f.name == ON_MESSAGE)
            .map(|f| f.params.len().to_string())
            .collect();
        if found.is_empty() {
            return ScriptError::MissingHook {
                at: Location::script(self.name),
                message: format!("no `fn {ON_MESSAGE}(msg)` defined; every personality needs one"),
            };
        }
        ScriptError::MissingHook {
            at: self.at(ON_MESSAGE),
            message: format!(
                "`fn {ON_MESSAGE}` must take exactly 1 parameter (msg), found one taking {}",
                found.join(", ")
            ),
        }
    }
}

/// `every_30s` → 30 s, `every_5m` → 5 min, `every_1h` → 1 h, within the allowed range.
pub fn timer_period(name: &str) -> Option<Duration> {
    let spec = name.strip_prefix("every_")?;
    let unit = spec.chars().last()?;
    let n: u64 = spec[..spec.len() - unit.len_utf8()].parse().ok()?;
    let secs = match unit {
        's' => n,
        'm' => n.checked_mul(60)?,
        'h' => n.checked_mul(3600)?,
        _ => return None,
    };
    let period = Duration::from_secs(secs);
    (MIN_TIMER..=MAX_TIMER).contains(&period).then_some(period)
}

/// Line and column of the first `fn NAME` in `source`: Rhai does not keep function positions.
pub fn position_of(source: &str, function: &str) -> Option<(usize, usize)> {
    source.lines().enumerate().find_map(|(i, line)| {
        let mut from = 0;
        while let Some(found) = line[from..].find("fn ") {
            let start = from + found;
            let rest = line[start + 3..].trim_start();
            let before_ok = start == 0 || !line.as_bytes()[start - 1].is_ascii_alphanumeric();
            if before_ok
                && rest.starts_with(function)
                && rest[function.len()..].trim_start().starts_with('(')
            {
                return Some((i + 1, start + 1));
            }
            from = start + 3;
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_names_give_periods_from_30_s_to_24_h_and_nothing_else() {
        assert_eq!(timer_period("every_30s"), Some(Duration::from_secs(30)));
        assert_eq!(timer_period("every_5m"), Some(Duration::from_secs(300)));
        assert_eq!(timer_period("every_2h"), Some(Duration::from_secs(7200)));
        for bad in [
            "every_5s",
            "every_25h",
            "every_m",
            "every_5d",
            "every_",
            "every_x5m",
        ] {
            assert_eq!(timer_period(bad), None, "{bad}");
        }
    }

    #[test]
    fn routing_by_kind() {
        let mut hooks = Hooks::default();
        assert_eq!(hooks.for_kind("message"), Some(ON_MESSAGE));
        assert_eq!(hooks.for_kind("tip"), Some(ON_MESSAGE));
        assert_eq!(hooks.for_kind("follow"), None);
        assert_eq!(hooks.for_kind("live"), None);
        assert_eq!(hooks.for_kind("pinned"), None);
        assert_eq!(hooks.route("tip", false), Some(ON_MESSAGE));
        assert_eq!(hooks.route("trade", false), None);
        hooks.events = [true, false, true, false, true];
        assert_eq!(hooks.for_kind("tip"), Some("on_tip"));
        assert_eq!(hooks.for_kind("trade"), Some(ON_MESSAGE));
        assert_eq!(hooks.for_kind("follow"), Some("on_follow"));
        assert_eq!(hooks.for_kind("live"), None);
        assert_eq!(hooks.route("pinned", false), Some("on_pinned"));
        hooks.events[1] = true;
        assert_eq!(hooks.route("trade", false), Some("on_trade"));
    }

    #[test]
    fn position_of_finds_the_fn_line_skipping_comments_and_longer_names() {
        let src = "// fn on_message(x)\nfn helper() {}\n  fn  on_tip (ev) {}\nfn on_tipx(ev) {}";
        assert_eq!(position_of(src, "on_tip"), Some((3, 3)));
        assert_eq!(position_of(src, "on_start"), None);
    }
}
