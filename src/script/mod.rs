//! The personality: a sandboxed, budgeted Rhai script that decides what to do with each event.
//!
//! Owns compiling a script into a [`Personality`] (header, hooks, top level, self-tests) and
//! [`ScriptHost::decide`], which only returns a [`Decision`]; carrying it out is `act`'s job.
//! The engine and its limits are in `engine.rs` (with the allocator that counts a call's
//! memory in `alloc.rs` and the log budget in `output.rs`), the `Decision` in `decision.rs`,
//! the script API in `api.rs` and `helpers.rs`, per-runtime state in `state.rs` and
//! `memory*.rs`, errors in `diagnostic.rs`, loading a script file or the built-in copy in
//! `load.rs`, hot reload in `reload.rs`.

mod alloc;
pub mod api;
mod decision;
mod diagnostic;
pub mod engine;
pub mod header;
mod helpers;
pub mod hooks;
mod load;
mod lru;
pub mod memory;
mod memory_file;
mod msg;
mod output;
pub mod quiet;
pub mod reload;
mod saver;
pub mod selftest;
pub mod state;
pub mod timers;

use std::fmt;
use std::hash::{DefaultHasher, Hasher};
use std::sync::Arc;

use rhai::{AST, CallFnOptions, Dynamic, Engine, FuncArgs, Scope};

use crate::event::ChatEvent;
use crate::time::now_ms;
pub use decision::{Decision, quote};
pub use diagnostic::{Location, ScriptError};
pub use engine::{CallBudget, Limits};
pub use header::{Header, SCRIPT_API_VERSION};
pub use hooks::{Hooks, Timer};
pub use load::{EMBEDDED_NAME, LoadError, load};
pub use memory::MemoryError;
use output::LogBudget;
pub use quiet::Silence;
use saver::Saver;
use state::Shared;
pub use state::{Clock, Session, SimClock};
pub use timers::Schedule;

/// Bytes this thread holds by the process's counting allocator, for memory tests elsewhere in
/// the crate: compare two readings on one thread.
#[cfg(test)]
pub(crate) fn held_bytes() -> isize {
    alloc::held()
}

/// The personality built into the binary: the seed listener's behaviour, used when no script
/// is given and there is no `./scripts/personality.rhai`.
///
/// It lives under `src/` on purpose: `scripts/personality.rhai` is the user's copy, read at
/// run time and edited while the listener runs, so it must never be compiled in (editing it
/// would rebuild the binary, under fat LTO for a minute and more). The two start equal; CI
/// (`.ci/run`) compares their committed versions, never the working copy a user edits.
pub const EMBEDDED_PERSONALITY: &str = include_str!("builtin.rhai");

/// Largest script source accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 1024 * 1024;

/// A compiled personality whose header is valid, whose hooks are well formed, whose top level
/// has run once and whose self-tests pass. Cheap to share (`Arc<Personality>`); immutable.
pub struct Personality {
    ast: AST,
    name: Arc<str>,
    source: Arc<str>,
    version: String,
    loaded_at_ms: i64,
    header: Header,
    hooks: Hooks,
    tests_passed: usize,
}

impl Personality {
    /// The display name, usually the script's path.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The source it was compiled from, for rendering diagnostics.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// A short hash of the source (16 hex digits); equal sources have equal versions.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// When it was compiled, epoch milliseconds.
    pub fn loaded_at_ms(&self) -> i64 {
        self.loaded_at_ms
    }

    /// What the script says about itself (`//! key: value` lines).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The hooks it defines besides `on_message`.
    pub fn hooks(&self) -> &Hooks {
        &self.hooks
    }

    /// Its timers (`fn every_5m()`, ...), each with its period.
    pub fn timers(&self) -> &[Timer] {
        &self.hooks.timers
    }

    /// How many self-test cases passed at load (0 without `fn tests()`).
    pub fn tests_passed(&self) -> usize {
        self.tests_passed
    }
}

impl fmt::Debug for Personality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Personality")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("loaded_at_ms", &self.loaded_at_ms)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

/// The one engine, its budgets and its [`Session`] (clock, counts, cooldowns, memory); shared
/// (`Arc<ScriptHost>`) by everything that runs scripts in one process role. The session outlives
/// reloads: a new version of the script keeps the counts, cooldowns and memory.
#[derive(Debug)]
pub struct ScriptHost {
    engine: Engine,
    limits: Limits,
    budget: CallBudget,
    log: Arc<LogBudget>,
    session: Shared,
    /// Writes the session's memory file in the background; `None` for in-process memory.
    saver: Option<Saver>,
}

impl ScriptHost {
    /// Build the engine with these limits, the system clock and in-process memory.
    pub fn new(limits: Limits) -> Self {
        Self::with_session(limits, Session::new(Clock::System))
    }

    /// Build the engine with these limits and `session` (its clock, room, seed and memory).
    /// A session with a memory file gets a thread that saves it.
    pub fn with_session(limits: Limits, session: Session) -> Self {
        let budget = CallBudget::new();
        let log = Arc::new(LogBudget::default());
        let session = Shared::new(session.counted_authors(limits.max_counted_authors));
        Self {
            engine: engine::build(&limits, budget, &log),
            saver: Saver::new(&session),
            limits,
            budget,
            log,
            session,
        }
    }

    /// Report every script log line dropped over the log budget to `count` (the daemon's
    /// health counter); only the first call has an effect.
    pub fn count_suppressed_logs(&self, count: impl Fn(u64) + Send + Sync + 'static) {
        self.log.report_to(Box::new(count));
    }

    /// Script log lines dropped over the log budget so far.
    pub fn suppressed_logs(&self) -> u64 {
        self.log.suppressed()
    }

    /// The limits this runtime enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Epoch milliseconds by the session's clock (simulated in `replay`).
    pub fn now_ms(&self) -> i64 {
        self.session.lock().now_ms()
    }

    /// Compile `source`: validate its header, check its hooks, run its top level once and then
    /// its self-tests, all under the budgets, so every one of those failures is a load error
    /// and a failing script is never swapped in. `name` labels errors and logs.
    pub fn compile(&self, name: &str, source: &str) -> Result<Personality, ScriptError> {
        if source.len() > MAX_SOURCE_BYTES {
            return Err(ScriptError::TooLarge {
                at: Location::script(name),
                size: source.len() as u64,
                max: MAX_SOURCE_BYTES as u64,
            });
        }
        let header = header::parse(name, source)?;
        let mut ast = self
            .engine
            .compile(source)
            .map_err(|e| diagnostic::from_parse(name, source, &e))?;
        ast.set_source(name);
        let hooks = hooks::discover(name, source, &ast)?;
        let name: Arc<str> = Arc::from(name);
        {
            let _armed = self.budget.arm(&name, &self.limits);
            self.engine
                .run_ast(&ast)
                .map_err(|e| diagnostic::from_eval(&name, *e, &self.limits))?;
        }
        let tests_passed = selftest::run(self, &ast, &hooks, &name, source)?;
        Ok(Personality {
            ast,
            version: version_of(source),
            source: Arc::from(source),
            name,
            loaded_at_ms: now_ms(),
            header,
            hooks,
            tests_passed,
        })
    }

    /// Ask `personality` what to do with `event`: call the hook for its kind (`on_tip`,
    /// `on_trade`, `on_follow`, `on_live`, `on_pinned` when defined, else `on_message` for
    /// tips and trades said in chat; anything else without its hook is ignored) under the
    /// operation and time budgets. The top level is not run again.
    pub fn decide(&self, p: &Personality, event: &ChatEvent) -> Result<Decision, ScriptError> {
        let decided = self.decide_in(&p.ast, &p.hooks, &p.name, &self.session, event);
        self.changed();
        decided
    }

    /// Call `fn on_start()` if the script has one: the text to post, if it returns any.
    pub fn start(&self, p: &Personality) -> Result<Option<String>, ScriptError> {
        if !p.hooks.on_start {
            return Ok(None);
        }
        self.say(p, hooks::ON_START, ())
    }

    /// Call `fn on_quiet(ev)` if the script has one, with `ev.quiet_secs` (how long the room
    /// has been quiet, whole seconds): the text to post, if it returns any.
    pub fn quiet(&self, p: &Personality, quiet_secs: i64) -> Result<Option<String>, ScriptError> {
        if !p.hooks.on_quiet {
            return Ok(None);
        }
        self.say(p, hooks::ON_QUIET, (quiet::event(quiet_secs),))
    }

    /// Call the timer `name` (one of [`Personality::timers`]): the text to post, if any.
    pub fn fire_timer(&self, p: &Personality, name: &str) -> Result<Option<String>, ScriptError> {
        if !p.hooks.timers.iter().any(|t| t.name == name) {
            return Err(ScriptError::MissingHook {
                at: Location::script(&p.name),
                message: format!("no timer `fn {name}()` defined"),
            });
        }
        self.say(p, name, ())
    }

    /// Write unsaved memory to its file now, on this thread, and wait for it (the runtime also
    /// saves in the background, at most every 5 s after a change). False when there was nothing
    /// to write or the memory is in-process only.
    pub fn save_memory(&self) -> Result<bool, MemoryError> {
        self.saver.as_ref().map_or(Ok(false), Saver::save_now)
    }

    fn say(
        &self,
        p: &Personality,
        hook: &str,
        args: impl FuncArgs,
    ) -> Result<Option<String>, ScriptError> {
        let said = self.say_in(&p.ast, &p.name, &self.session, hook, args);
        self.changed();
        said
    }

    /// [`Self::say`] on any AST and session: self-tests use their own session.
    fn say_in(
        &self,
        ast: &AST,
        name: &Arc<str>,
        session: &Shared,
        hook: &str,
        args: impl FuncArgs,
    ) -> Result<Option<String>, ScriptError> {
        let value = self.call(ast, name, session, hook, args)?;
        let bad = |found: String| ScriptError::BadReturn {
            at: Location::script(name),
            hook: hook.to_string(),
            found,
        };
        match self.to_decision(name, hook, value)? {
            Decision::Reply(text) => Ok(Some(text)),
            Decision::Ignore => Ok(None),
            Decision::Ack(_) => Err(bad("ack(text)".to_string())),
            Decision::ReplyIn { .. } => Err(bad("reply_in(room, text)".to_string())),
            Decision::Queue => Err(bad("queue()".to_string())),
        }
    }

    /// After a call: if it changed the memory, tell the saver (which writes on its own
    /// thread, so a slow disk never delays the next decision).
    fn changed(&self) {
        if let Some(saver) = &self.saver
            && self.session.lock().memory.is_dirty()
        {
            saver.changed();
        }
    }

    /// [`Self::decide`] on any AST and session: self-tests use their own session.
    fn decide_in(
        &self,
        ast: &AST,
        hooks: &Hooks,
        name: &Arc<str>,
        session: &Shared,
        event: &ChatEvent,
    ) -> Result<Decision, ScriptError> {
        let Some(hook) = hooks.route(&event.kind, event.via == crate::event::Via::Chat) else {
            return Ok(Decision::Ignore);
        };
        let msg = {
            let mut session = session.lock();
            let count = session.count(&event.author);
            msg::message(event, count, session.room_name(), session.now_ms())
        };
        let value = self.call(ast, name, session, hook, (msg,))?;
        self.to_decision(name, hook, value)
    }

    /// Call `hook` with `args` under the budgets, with `session` as the helpers' state.
    fn call(
        &self,
        ast: &AST,
        name: &Arc<str>,
        session: &Shared,
        hook: &str,
        args: impl FuncArgs,
    ) -> Result<Dynamic, ScriptError> {
        // Top-level statements ran once at compile; re-running them per call would cost
        // time and repeat their side effects (prints).
        let options = CallFnOptions::new()
            .eval_ast(false)
            .rewind_scope(false)
            .with_tag(session.clone());
        let mut scope = Scope::new();
        let result = {
            let _armed = self.budget.arm(name, &self.limits);
            self.engine
                .call_fn_with_options::<Dynamic>(options, &mut scope, ast, hook, args)
        };
        result.map_err(|e| diagnostic::from_eval(name, *e, &self.limits))
    }

    /// Apply the return conventions: a `Decision` as is, `()` ignores, a string replies.
    fn to_decision(&self, name: &str, hook: &str, value: Dynamic) -> Result<Decision, ScriptError> {
        let bad = |found: String| ScriptError::BadReturn {
            at: Location::script(name),
            hook: hook.to_string(),
            found,
        };
        if value.is_unit() {
            return Ok(Decision::Ignore);
        }
        if value.is_string() {
            let text = value
                .into_immutable_string()
                .map_err(|t| bad(t.to_string()))?;
            if text.trim().is_empty() {
                return Err(bad("an empty string".to_string()));
            }
            return Ok(Decision::Reply(text.to_string()));
        }
        let found = self.type_name(&value);
        value.try_cast::<Decision>().ok_or_else(|| bad(found))
    }

    /// The Rhai type name of `value` as scripts know it (`map`, `array`, `i64`, ...).
    fn type_name(&self, value: &Dynamic) -> String {
        self.engine.map_type_name(value.type_name()).to_string()
    }
}

/// 16 hex digits of a hash of the source. `DefaultHasher::new()` has fixed keys, so equal
/// sources give equal versions within one build, which is all reload needs.
fn version_of(source: &str) -> String {
    let mut hasher = DefaultHasher::new();
    hasher.write(source.as_bytes());
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod api_tests;
#[cfg(test)]
mod tests;
