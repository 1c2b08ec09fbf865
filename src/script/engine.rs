//! The one Rhai engine builder: every limit, the sandbox and the callbacks in one place.
//!
//! [`build`] is used by [`ScriptHost`](super::ScriptHost) and so by run, check, try, sandbox and the
//! tests alike. What scripts may call is in `api.rs`; compiling, deciding and translating
//! errors are in `mod.rs` and `diagnostic.rs`.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::module_resolvers::DummyModuleResolver;
use rhai::packages::{Package, StandardPackage};
use rhai::{Dynamic, Engine, EvalAltResult, FLOAT, INT};

use super::output::{self, LogBudget};
use super::{alloc, api, helpers};
use crate::config::ScriptConfig;

/// Read the clock only every this many operations: `Instant::now` costs more than an operation,
/// and a budget of milliseconds does not need nanosecond precision.
const CLOCK_EVERY: u64 = 256;
/// What `on_progress` stops a call with when it holds more than its memory budget; any other
/// termination is the time budget. `diagnostic` tells them apart.
pub(super) const OUT_OF_MEMORY: &str = "memory";
/// Keywords scripts may not use (see [`build`]).
pub(super) const DISABLED: [&str; 3] = ["eval", "import", "curry"];

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The [`alloc::held`] reading past which the running call is stopped.
    static MEMORY_LIMIT: Cell<isize> = const { Cell::new(isize::MAX) };
    static SCRIPT: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// Handle onto the deadline, memory budget and script name of the evaluation running on the
/// current thread.
///
/// Rhai's `on_progress` and `on_print` callbacks get no per-call context, and one
/// [`ScriptHost`](super::ScriptHost) is shared between threads (the daemon decides while a reload
/// compiles on a blocking thread). An evaluation runs start to finish on its caller's thread,
/// so a thread-local slot is exactly per call, with no lock and no cross-talk between calls.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallBudget {
    _private: (),
}

/// Guard returned by [`CallBudget::arm`]; restores the previous state when dropped.
#[must_use = "the budget is disarmed when the guard is dropped"]
#[derive(Debug)]
pub struct Armed {
    previous_deadline: Option<Instant>,
    previous_memory: isize,
    previous_script: Option<Arc<str>>,
    previous_lines: u32,
}

impl CallBudget {
    /// A handle; all handles on one thread share that thread's slot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Start one evaluation of `script` on this thread under `limits`: its time budget runs
    /// from now, its memory budget counts what it allocates from now, its log lines from 0.
    pub fn arm(&self, script: &Arc<str>, limits: &Limits) -> Armed {
        let deadline = Instant::now().checked_add(limits.time_budget);
        let budget = isize::try_from(limits.max_memory).unwrap_or(isize::MAX);
        let memory = alloc::held().saturating_add(budget);
        Armed {
            previous_deadline: DEADLINE.with(|d| d.replace(deadline)),
            previous_memory: MEMORY_LIMIT.with(|m| m.replace(memory)),
            previous_script: SCRIPT.with(|s| s.replace(Some(Arc::clone(script)))),
            previous_lines: output::start_call(),
        }
    }

    /// True when an evaluation is running on this thread and its deadline has passed.
    pub fn expired(&self) -> bool {
        DEADLINE
            .with(Cell::get)
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    /// True when the evaluation running on this thread holds more than its memory budget.
    pub fn over_memory(&self) -> bool {
        alloc::held() > MEMORY_LIMIT.with(Cell::get)
    }

    /// The name of the script being evaluated on this thread, for logs.
    pub(super) fn script(&self) -> Option<Arc<str>> {
        SCRIPT.with(|s| s.borrow().clone())
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(self.previous_deadline));
        MEMORY_LIMIT.with(|m| m.set(self.previous_memory));
        SCRIPT.with(|s| *s.borrow_mut() = self.previous_script.take());
        output::end_call(self.previous_lines);
    }
}

/// The budgets every evaluation runs under. Rhai's own defaults are unlimited, and so is a
/// zero here (Rhai's convention), so keep every field positive.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Operations per evaluation (one hook call, or the top level at load).
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
    /// Bytes one evaluation may hold at once, everything it allocated and has not freed
    /// (variables, function pointers, call frames); checked at every operation.
    pub max_memory: usize,
    /// Distinct authors whose event counts (`msg.count`, `msg.first_time`) are kept; past it
    /// the author seen longest ago is forgotten. Not an evaluation budget: the session's.
    pub max_counted_authors: usize,
}

/// The `[script]` defaults.
impl Default for Limits {
    fn default() -> Self {
        Self::from(&ScriptConfig::default())
    }
}

/// The config file's `[script]` limits; the rest are fixed here.
impl From<&ScriptConfig> for Limits {
    fn from(config: &ScriptConfig) -> Self {
        Self {
            max_operations: config.max_operations,
            max_call_levels: 32,
            max_expr_depth: 64,
            max_function_expr_depth: 32,
            max_string_size: 64 * 1024,
            max_array_size: 10_000,
            max_map_size: 10_000,
            time_budget: config.time_budget,
            max_memory: config.memory_budget_bytes(),
            max_counted_authors: config.max_counted_authors.max(1),
        }
    }
}

/// Build the sandboxed engine every personality runs in, enforcing `limits`; `call` is the
/// handle its progress callback checks for the time and memory budgets, and `log` the budget
/// of what scripts may write to the log.
pub(super) fn build(limits: &Limits, call: CallBudget, log: &Arc<LogBudget>) -> Engine {
    // A raw engine has no functions at all; add exactly the standard library, which has no
    // file, network, environment or process access (checked against rhai 1.27's packages).
    let mut engine = Engine::new_raw();
    engine.register_global_module(StandardPackage::new().as_shared_module());

    // ---- Limits. Rhai's defaults are unlimited; scripts are shared, so nothing is. ----
    // Operations per evaluation (one top-level run, or one on_message call).
    engine.set_max_operations(limits.max_operations);
    // Nesting of function calls, recursion included.
    engine.set_max_call_levels(limits.max_call_levels);
    // Expression nesting, checked at compile time: top level, then inside functions.
    engine.set_max_expr_depths(limits.max_expr_depth, limits.max_function_expr_depth);
    // Sizes of values a script can build.
    engine.set_max_string_size(limits.max_string_size);
    engine.set_max_array_size(limits.max_array_size);
    engine.set_max_map_size(limits.max_map_size);
    // No modules: none may be loaded, and the resolver would find none anyway.
    engine.set_max_modules(0);
    engine.set_module_resolver(DummyModuleResolver::new());
    // Memory, then wall-clock time. The size limits above see one value at a time; what a
    // call holds in all its values together (and in function pointers, which they do not
    // see) is counted by the allocator and checked at every operation, which costs one
    // thread-local read. The clock is read less often. The token tells `diagnostic` which.
    engine.on_progress(move |ops| {
        if call.over_memory() {
            Some(OUT_OF_MEMORY.into())
        } else if ops % CLOCK_EVERY == 0 && call.expired() {
            Some(Dynamic::UNIT)
        } else {
            None
        }
    });

    // ---- Language. ----
    // Undeclared variables are compile errors, so typos fail at load, not mid-stream.
    engine.set_strict_variables(true);
    // No running strings as code (`eval`), no imports even by keyword, no currying: a
    // curried function pointer carries values Rhai's size limits never see. Closures (which
    // capture by currying, and whose shared captures can form reference cycles that are never
    // freed) are compiled out: rhai's `no_closure` feature.
    for symbol in DISABLED {
        engine.disable_symbol(symbol);
    }
    // `sleep` in the standard library blocks the thread out of reach of on_progress.
    // Functions registered on the engine shadow the package's, so this replaces it.
    engine.register_fn("sleep", |_: INT| -> Result<(), Box<EvalAltResult>> {
        Err("sleep() is not available to personalities".into())
    });
    engine.register_fn("sleep", |_: FLOAT| -> Result<(), Box<EvalAltResult>> {
        Err("sleep() is not available to personalities".into())
    });

    // ---- Output: print, debug and log(text) go to tracing (stderr), within a budget. ----
    output::register(&mut engine, log, call);

    api::register(&mut engine);
    helpers::register(&mut engine);
    engine
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_per_thread_and_restored() {
        let deadline = CallBudget::new();
        let name: Arc<str> = Arc::from("a.rhai");
        assert!(!deadline.expired());
        let spent = Limits {
            time_budget: Duration::ZERO,
            max_memory: 0,
            ..Limits::default()
        };
        {
            let _armed = deadline.arm(&name, &spent);
            let _held = std::hint::black_box(vec![0u8; 4096]);
            assert!(deadline.over_memory());
            assert!(deadline.expired());
            assert_eq!(deadline.script().as_deref(), Some("a.rhai"));
            // Another thread sees no deadline at all.
            let other = std::thread::spawn(move || deadline.expired()).join();
            assert!(matches!(other, Ok(false)));
        }
        assert!(!deadline.expired() && !deadline.over_memory());
        assert!(deadline.script().is_none());
    }

    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut buf) = self.0.lock() {
                buf.extend_from_slice(bytes);
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn print_and_debug_go_to_tracing_with_the_script_name() {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer({
                let captured = captured.clone();
                move || captured.clone()
            })
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .finish();
        let runtime = super::super::ScriptHost::new(Limits::default());
        let source = "print(\"loading\");\nfn on_message(msg) { debug(\"deciding\"); print(2.0); debug(2.0); }";
        tracing::subscriber::with_default(subscriber, || {
            let p = runtime.compile("greeter.rhai", source).expect("compiles");
            let event = crate::event::ChatEvent::default();
            runtime.decide(&p, &event).expect("decides");
        });
        let out = captured
            .0
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let out = out.expect("log buffer");
        let print = out
            .lines()
            .find(|l| l.contains("loading"))
            .expect("print logged");
        assert!(
            print.contains("INFO") && print.contains("greeter.rhai"),
            "{out}"
        );
        let debug = out
            .lines()
            .find(|l| l.contains("deciding"))
            .expect("debug logged");
        assert!(
            debug.contains("DEBUG") && debug.contains("greeter.rhai"),
            "{out}"
        );
        // A whole float prints as a whole number; debug keeps Rhai's exact form.
        assert!(out.contains("INFO retake_chat::script: 2 script"), "{out}");
        assert!(out.contains("retake_chat::script: 2.0 script"), "{out}");
    }

    #[test]
    fn sleep_fails_at_once_instead_of_blocking_the_thread() {
        let engine = build(&Limits::default(), CallBudget::new(), &Arc::default());
        let started = Instant::now();
        let result = engine.run("sleep(5);");
        assert!(result.is_err());
        assert!(started.elapsed() < Duration::from_secs(1));
        let result = engine.run("sleep(5.0);");
        assert!(result.is_err());
    }
}
