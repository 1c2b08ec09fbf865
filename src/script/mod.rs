//! The personality: a sandboxed, budgeted Rhai script that decides what to do with each event.
//!
//! Owns compiling a script into a [`Personality`] and [`Runtime::decide`], which only returns a
//! [`Decision`]; carrying it out is `act`'s job. The engine and its limits are in `engine.rs`,
//! the script API in `api.rs`, errors in `diagnostic.rs`, hot reload in `reload.rs`.

pub mod api;
mod diagnostic;
pub mod engine;
pub mod reload;

use std::fmt;
use std::hash::{DefaultHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rhai::{AST, CallFnOptions, Dynamic, Engine, Map, Scope};

use crate::event::ChatEvent;
pub use diagnostic::{Location, ScriptError};
pub use engine::Deadline;

/// The personality shipped with the binary: the seed listener's behaviour.
pub const EMBEDDED_PERSONALITY: &str = include_str!("../../scripts/personality.rhai");

/// Largest script source accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 1024 * 1024;

/// The function every personality must define.
const HOOK: &str = "on_message";

/// What to do with one chat event.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Send this text now; nothing else.
    Reply(String),
    /// Send this text now, queue the message for the agent and wake it.
    Ack(String),
    /// Queue the message for the agent and wake it, silently.
    Queue,
    /// Do nothing.
    Ignore,
}

/// The budgets every evaluation runs under. Rhai's own defaults are unlimited, and so is a
/// zero here (Rhai's convention), so keep every field positive.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Operations per evaluation (one `on_message` call, or the top level at load).
    pub max_operations: u64,
    /// Deepest nesting of function calls, recursion included.
    pub max_call_levels: usize,
    /// Deepest expression nesting at the top level, checked at compile time.
    pub max_expr_depth: usize,
    /// Deepest expression nesting inside functions, checked at compile time.
    pub max_function_expr_depth: usize,
    /// Longest string a script may build, in bytes.
    pub max_string_size: usize,
    /// Most elements in one array.
    pub max_array_size: usize,
    /// Most entries in one object map.
    pub max_map_size: usize,
    /// Wall-clock time per evaluation; checked every few hundred operations.
    pub time_budget: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_operations: 200_000,
            max_call_levels: 32,
            max_expr_depth: 64,
            max_function_expr_depth: 32,
            max_string_size: 64 * 1024,
            max_array_size: 10_000,
            max_map_size: 10_000,
            time_budget: Duration::from_millis(50),
        }
    }
}

/// A compiled personality whose top level has run once without error. Cheap to share
/// (`Arc<Personality>`); immutable once built.
pub struct Personality {
    ast: AST,
    name: Arc<str>,
    source: Arc<str>,
    version: String,
    loaded_at_ms: i64,
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
}

impl fmt::Debug for Personality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Personality")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("loaded_at_ms", &self.loaded_at_ms)
            .finish_non_exhaustive()
    }
}

/// The one engine and its budgets; shared (`Arc<Runtime>`) by everything that runs scripts.
#[derive(Debug)]
pub struct Runtime {
    engine: Engine,
    limits: Limits,
    deadline: Deadline,
}

impl Runtime {
    /// Build the engine with these limits.
    pub fn new(limits: Limits) -> Self {
        let deadline = Deadline::new();
        Self {
            engine: engine::build(&limits, deadline),
            limits,
            deadline,
        }
    }

    /// The limits this runtime enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Compile `source`, check it defines `fn on_message(msg)`, and run its top level once
    /// under the budgets so that top-level errors are load errors. `name` labels errors and logs.
    pub fn compile(&self, name: &str, source: &str) -> Result<Personality, ScriptError> {
        if source.len() > MAX_SOURCE_BYTES {
            return Err(ScriptError::TooLarge {
                at: Location::script(name),
                size: source.len() as u64,
                max: MAX_SOURCE_BYTES as u64,
            });
        }
        let mut ast = self
            .engine
            .compile(source)
            .map_err(|e| diagnostic::from_parse(name, &e))?;
        ast.set_source(name);
        check_hook(name, &ast)?;
        let name: Arc<str> = Arc::from(name);
        {
            let _armed = self.deadline.arm(&name, self.limits.time_budget);
            self.engine
                .run_ast(&ast)
                .map_err(|e| diagnostic::from_eval(&name, *e, &self.limits))?;
        }
        Ok(Personality {
            ast,
            version: version_of(source),
            source: Arc::from(source),
            name,
            loaded_at_ms: now_ms(),
        })
    }

    /// Ask `personality` what to do with `event`: call its `on_message(msg)` (the top level is
    /// not run again) under the operation and time budgets.
    pub fn decide(&self, p: &Personality, event: &ChatEvent) -> Result<Decision, ScriptError> {
        let msg = message(event);
        // Top-level statements ran once at compile; re-running them per message would cost
        // time and repeat their side effects (prints).
        let options = CallFnOptions::new().eval_ast(false).rewind_scope(false);
        let mut scope = Scope::new();
        let result = {
            let _armed = self.deadline.arm(&p.name, self.limits.time_budget);
            self.engine
                .call_fn_with_options::<Dynamic>(options, &mut scope, &p.ast, HOOK, (msg,))
        };
        let value = result.map_err(|e| diagnostic::from_eval(&p.name, *e, &self.limits))?;
        self.to_decision(&p.name, value)
    }

    /// Apply the return conventions: a `Decision` as is, `()` ignores, a string replies.
    fn to_decision(&self, name: &str, value: Dynamic) -> Result<Decision, ScriptError> {
        let bad = |found: String| ScriptError::BadReturn {
            at: Location::script(name),
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
        let found = self.engine.map_type_name(value.type_name()).to_string();
        value.try_cast::<Decision>().ok_or_else(|| bad(found))
    }
}

/// The hook must exist with exactly one parameter; anything else is a load error naming it.
fn check_hook(name: &str, ast: &AST) -> Result<(), ScriptError> {
    let arities: Vec<usize> = ast
        .iter_functions()
        .filter(|f| f.name == HOOK)
        .map(|f| f.params.len())
        .collect();
    if arities.contains(&1) {
        return Ok(());
    }
    let message = match arities.as_slice() {
        [] => format!("no `fn {HOOK}(msg)` defined; every personality needs one"),
        found => {
            let found: Vec<String> = found.iter().map(usize::to_string).collect();
            format!(
                "`fn {HOOK}` must take exactly 1 parameter (msg), found one taking {}",
                found.join(", ")
            )
        }
    };
    Err(ScriptError::MissingHook {
        at: Location::script(name),
        message,
    })
}

/// The `msg` object map a script sees.
fn message(event: &ChatEvent) -> Dynamic {
    let mut map = Map::new();
    map.insert("id".into(), event.id.as_str().into());
    map.insert("kind".into(), event.kind.as_str().into());
    map.insert("author".into(), event.author.as_str().into());
    map.insert("author_id".into(), event.author_id.as_str().into());
    map.insert("wallet".into(), event.wallet.as_str().into());
    map.insert("text".into(), event.text.as_str().into());
    map.insert("lower".into(), event.lower().into());
    map.insert("ts".into(), Dynamic::from_int(event.ts));
    let amount = event.amount.map_or(Dynamic::UNIT, Dynamic::from_float);
    map.insert("amount".into(), amount);
    Dynamic::from_map(map)
}

/// 16 hex digits of a hash of the source. `DefaultHasher::new()` has fixed keys, so equal
/// sources give equal versions within one build, which is all reload needs.
fn version_of(source: &str) -> String {
    let mut hasher = DefaultHasher::new();
    hasher.write(source.as_bytes());
    format!("{:016x}", hasher.finish())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;
