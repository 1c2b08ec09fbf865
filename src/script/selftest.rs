//! Script self-tests: `fn tests()` returns cases such as
//! `#{ say: "gm", from: "alice", expect: "reply", contains: "gm" }`, and every load (first
//! load, hot reload, `check`, `try`, `replay`) runs them before the script is used.
//!
//! Cases run in order against a fresh [`Session`] with a simulated clock (one second between
//! cases unless a case says `wait`), under the same limits as live calls. A case
//! `#{ quiet: 300, expect: "reply" }` lets 300 s of silence pass and calls `on_quiet`.

use std::sync::Arc;

use rhai::{AST, Array, Dynamic, Map};

use super::hooks::{Hooks, ON_QUIET, TESTS, position_of};
use super::state::{Clock, Session, Shared, SimClock};
use super::{Decision, Location, ScriptError, ScriptHost};
use crate::event::ChatEvent;

/// Where the simulated clock of a self-test run starts: 2023-11-14T22:13:20Z.
pub const TEST_EPOCH_MS: i64 = 1_700_000_000_000;
/// The room self-tests run in (`msg.room`).
pub const TEST_ROOM: &str = "test-room";
/// Most cases one `tests()` may return.
const MAX_CASES: usize = 1_000;
/// Wall-clock budget of a whole self-test run (each call also has its own budget), so a slow
/// set of cases cannot hold up a reload for long.
const TOTAL_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);
/// The fields a case may have.
const FIELDS: [&str; 11] = [
    "say", "from", "kind", "amount", "wait", "late", "room", "expect", "contains", "equals",
    "quiet",
];
/// The fields a quiet case may have.
const QUIET_FIELDS: [&str; 4] = ["quiet", "expect", "contains", "equals"];

/// One case, checked.
struct Case {
    event: ChatEvent,
    wait_ms: i64,
    /// Said this long before the clock, and caught up from the history (`late: SECONDS`).
    late_ms: Option<i64>,
    /// A quiet case: this many seconds of silence pass, then `on_quiet` is called.
    quiet_ms: Option<i64>,
    expect: &'static str,
    contains: Option<String>,
    equals: Option<String>,
}

/// Run the self-tests of `ast` if it defines `fn tests()`; the number of cases that passed.
pub(super) fn run(
    runtime: &ScriptHost,
    ast: &AST,
    hooks: &Hooks,
    name: &Arc<str>,
    source: &str,
) -> Result<usize, ScriptError> {
    if !hooks.tests {
        return Ok(0);
    }
    let clock = SimClock::new(TEST_EPOCH_MS);
    let suite = Suite {
        runtime,
        ast,
        hooks,
        name,
        session: Shared::new(
            Session::new(Clock::Simulated(clock.clone()))
                .room(TEST_ROOM)
                .seeded(0)
                .counted_authors(runtime.limits.max_counted_authors),
        ),
        clock,
        at: Location {
            name: name.to_string(),
            line_col: position_of(source, TESTS),
        },
    };
    let cases = suite.cases()?;
    let total = cases.len();
    let started = std::time::Instant::now();
    let mut failures = Vec::new();
    for (i, case) in cases.into_iter().enumerate() {
        let n = i + 1;
        if started.elapsed() > TOTAL_BUDGET {
            return Err(suite.fail(format!(
                "the cases took longer than {} s in total (stopped before case {n})",
                TOTAL_BUDGET.as_secs()
            )));
        }
        let case = parse(n, case, runtime).map_err(|e| suite.fail(format!("case {n}: {e}")))?;
        let (label, decided) = suite.decide(n, &case)?;
        match decided {
            Ok(decision) => {
                if let Err(why) = case.check(&decision) {
                    failures.push(format!("{label}: {why}"));
                }
            }
            Err(error) => {
                return Err(ScriptError::SelfTest {
                    at: error.location().clone(),
                    message: format!("{label}: {}", error.message()),
                });
            }
        }
    }
    match failures.len() {
        0 => Ok(total),
        1 => Err(suite.fail(failures.remove(0))),
        more => Err(suite.fail(format!(
            "{} (and {} more failing case{})",
            failures.remove(0),
            more - 1,
            if more == 2 { "" } else { "s" }
        ))),
    }
}

/// One self-test run: the script, and the session and simulated clock its cases share.
struct Suite<'a> {
    runtime: &'a ScriptHost,
    ast: &'a AST,
    hooks: &'a Hooks,
    name: &'a Arc<str>,
    session: Shared,
    clock: SimClock,
    /// Where `fn tests()` is, for errors about the run as a whole.
    at: Location,
}

impl Suite<'_> {
    /// A failure of the run as a whole, at `fn tests()`.
    fn fail(&self, message: String) -> ScriptError {
        ScriptError::SelfTest {
            at: self.at.clone(),
            message,
        }
    }

    /// Call `tests()`: its cases, unparsed, at most [`MAX_CASES`].
    fn cases(&self) -> Result<Array, ScriptError> {
        let value = self
            .runtime
            .call(self.ast, self.name, &self.session, TESTS, ())?;
        let found = self.runtime.type_name(&value);
        let Some(cases) = value.try_cast::<Array>() else {
            return Err(self.fail(format!(
                "tests() must return an array of cases like #{{ say: \"gm\", expect: \"reply\" }}, got {found}"
            )));
        };
        let total = cases.len();
        if total > MAX_CASES {
            return Err(self.fail(format!(
                "tests() returned {total} cases; at most {MAX_CASES} are allowed"
            )));
        }
        Ok(cases)
    }

    /// Move the clock on and run case `n`: its label for messages, and what the script
    /// decided (`on_quiet`'s line or silence, for a quiet case, as a reply or an ignore).
    fn decide(
        &self,
        n: usize,
        case: &Case,
    ) -> Result<(String, Result<Decision, ScriptError>), ScriptError> {
        let (runtime, ast, name, session) = (self.runtime, self.ast, self.name, &self.session);
        let Some(quiet_ms) = case.quiet_ms else {
            self.clock.advance_ms(case.wait_ms);
            let mut event = case.event.clone();
            event.ts = self.clock.now_ms() - case.late_ms.unwrap_or(0);
            event.late = case.late_ms.is_some();
            let label = format!("case {n} ({})", label(&event));
            return Ok((
                label,
                runtime.decide_in(ast, self.hooks, name, session, &event),
            ));
        };
        if !self.hooks.on_quiet {
            return Err(self.fail(format!("case {n}: a quiet case needs `fn {ON_QUIET}(ev)`")));
        }
        self.clock.advance_ms(quiet_ms);
        let ev = super::quiet::event(quiet_ms / 1000);
        let said = runtime.say_in(ast, name, session, ON_QUIET, (ev,));
        let label = format!("case {n} (quiet {} s)", quiet_ms / 1000);
        Ok((
            label,
            said.map(|s| s.map_or(Decision::Ignore, Decision::Reply)),
        ))
    }
}

/// `"gm" from alice`, `tip 5.0 from bob`, `follow from carol`.
fn label(event: &ChatEvent) -> String {
    let mut out = String::new();
    if event.kind != "message" {
        out.push_str(&event.kind);
        if let Some(amount) = event.amount {
            out.push_str(&format!(" {amount}"));
        }
        out.push(' ');
    }
    if !event.text.is_empty() {
        out.push_str(&format!("{} ", super::quote(&event.text)));
    }
    out.push_str(&format!("from {}", event.author));
    out
}

/// The longest span a case's `quiet`, `wait` or `late` may give, in seconds.
const MAX_SECONDS: f64 = 366.0 * 86_400.0;

/// A case's map, with its fields read as the types they must be.
struct Fields<'a> {
    map: Map,
    runtime: &'a ScriptHost,
}

impl Fields<'_> {
    /// A map with only known fields ([`FIELDS`], [`QUIET_FIELDS`] for a quiet case).
    fn new(case: Dynamic, runtime: &ScriptHost) -> Result<Fields<'_>, String> {
        let found = runtime.type_name(&case);
        let Some(map) = case.try_cast::<Map>() else {
            return Err(format!(
                "a case is a map like #{{ say: \"gm\", expect: \"reply\" }}, got {found}"
            ));
        };
        if let Some(key) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(format!(
                "unknown field `{key}`; the fields are {}",
                FIELDS.join(", ")
            ));
        }
        let fields = Fields { map, runtime };
        if fields.quiet()
            && let Some(key) = fields
                .map
                .keys()
                .find(|k| !QUIET_FIELDS.contains(&k.as_str()))
        {
            return Err(format!(
                "a quiet case takes only {}, not `{key}`",
                QUIET_FIELDS.join(", ")
            ));
        }
        Ok(fields)
    }

    /// Whether this is a quiet case (it has `quiet`).
    fn quiet(&self) -> bool {
        self.map.contains_key("quiet")
    }

    fn text(&self, key: &str) -> Result<Option<String>, String> {
        match self.map.get(key) {
            None => Ok(None),
            Some(v) if v.is_string() => Ok(Some(v.to_string())),
            Some(v) => Err(format!(
                "`{key}` must be a string, got {}",
                self.runtime.type_name(v)
            )),
        }
    }

    fn number(&self, key: &str) -> Result<Option<f64>, String> {
        match self.map.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_float()
                .or_else(|_| v.as_int().map(|i| i as f64))
                .map(Some)
                .map_err(|_| {
                    format!(
                        "`{key}` must be a number, got {}",
                        self.runtime.type_name(v)
                    )
                }),
        }
    }

    /// A number of seconds from 0 to a year, in milliseconds.
    fn millis(&self, key: &str) -> Result<Option<i64>, String> {
        match self.number(key)? {
            Some(secs) if (0.0..=MAX_SECONDS).contains(&secs) => Ok(Some((secs * 1000.0) as i64)),
            Some(secs) => Err(format!(
                "`{key}` must be seconds from 0 to a year, got {secs}"
            )),
            None => Ok(None),
        }
    }

    /// `expect`, and the `contains` and `equals` that may go with it.
    fn expectation(&self) -> Result<(&'static str, Option<String>, Option<String>), String> {
        let expect = match self.text("expect")? {
            Some(name) => Decision::KINDS
                .into_iter()
                .find(|kind| *kind == name)
                .ok_or_else(|| {
                    format!("`expect` must be reply, reply_in, ack, queue or ignore, got `{name}`")
                })?,
            None => {
                return Err(
                    "`expect` is missing: reply, reply_in, ack, queue or ignore".to_string()
                );
            }
        };
        if self.quiet() && !matches!(expect, "reply" | "ignore") {
            return Err(format!(
                "a quiet case expects reply or ignore (on_quiet posts a line or nothing), not {expect}"
            ));
        }
        let (contains, equals) = (self.text("contains")?, self.text("equals")?);
        if (contains.is_some() || equals.is_some())
            && !matches!(expect, "reply" | "reply_in" | "ack")
        {
            return Err(format!(
                "`contains` and `equals` only go with reply, reply_in or ack, not {expect}"
            ));
        }
        Ok((expect, contains, equals))
    }

    /// Said in another streamer's room (`msg.room` it, `msg.own_room` false).
    fn room(&self) -> Result<Option<Box<crate::rooms::Room>>, String> {
        match self.text("room")? {
            Some(room) if room.trim().is_empty() => {
                Err("`room` must name another streamer's room, got an empty one".to_string())
            }
            room => Ok(room.map(|id| Box::new(crate::rooms::Room::id(id.trim().to_string())))),
        }
    }
}

/// Case `n` as a [`Case`], or what is wrong with it. Fields are checked in a fixed order, so
/// a case with several mistakes always names the same one first.
fn parse(n: usize, case: Dynamic, runtime: &ScriptHost) -> Result<Case, String> {
    let fields = Fields::new(case, runtime)?;
    let quiet_ms = fields.millis("quiet")?;
    let kind = fields
        .text("kind")?
        .unwrap_or_else(|| "message".to_string());
    crate::event::check_kind(&kind)?;
    let say = fields.text("say")?.unwrap_or_default();
    if kind == "message" && say.trim().is_empty() && !fields.quiet() {
        return Err("a message case needs `say`, the text to send".to_string());
    }
    let (expect, contains, equals) = fields.expectation()?;
    let wait_ms = fields.millis("wait")?.unwrap_or(1000);
    let late_ms = fields.millis("late")?;
    let author = fields.text("from")?.unwrap_or_else(|| "viewer".to_string());
    let room = fields.room()?;
    Ok(Case {
        event: ChatEvent {
            id: format!("test-{n}"),
            kind,
            author,
            text: say,
            amount: fields.number("amount")?,
            room,
            ..ChatEvent::default()
        },
        wait_ms,
        late_ms,
        quiet_ms,
        expect,
        contains,
        equals,
    })
}

impl Case {
    /// `Err(what was wrong)` when `decision` is not what the case expects.
    fn check(&self, decision: &Decision) -> Result<(), String> {
        let text = decision.text().unwrap_or_default();
        let mut want = self.expect.to_string();
        let mut ok = decision.kind() == self.expect;
        if let Some(part) = &self.contains {
            want.push_str(&format!(" containing {}", super::quote(part)));
            ok &= text.contains(part.as_str());
        }
        if let Some(exact) = &self.equals {
            want.push_str(&format!(" {}", super::quote(exact)));
            ok &= text == exact;
        }
        if ok {
            Ok(())
        } else {
            Err(format!("expected {want}, got {decision}"))
        }
    }
}
