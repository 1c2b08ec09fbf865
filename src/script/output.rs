//! What scripts write to the log: `print(..)`, `log(text)` and `debug(..)` go to tracing
//! (stderr), tagged with the script, within a budget so a shared script cannot fill the disk.
//!
//! A call may write [`LINES_PER_CALL`] lines, all calls together [`LINES_PER_MINUTE`] a minute,
//! each at most [`LINE_BYTES`] long; past that lines are dropped, counted, and one warning a
//! minute says so. The engine (`engine.rs`) wires the callbacks and starts each call's count.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use rhai::{Engine, FLOAT, INT, Position};

use super::engine::CallBudget;

/// Most lines one call (one hook, or the top level at load) may write.
pub const LINES_PER_CALL: u32 = 10;
/// Most lines all calls of one runtime may write in a minute.
pub const LINES_PER_MINUTE: u32 = 60;
/// Longest line written, in bytes; the rest is cut and its length said.
pub const LINE_BYTES: usize = 1024;
/// The window [`LINES_PER_MINUTE`] counts in.
const WINDOW: Duration = Duration::from_secs(60);

thread_local! {
    /// Lines the call running on this thread has written (or tried to).
    static CALL_LINES: Cell<u32> = const { Cell::new(0) };
}

/// Start counting a new call's lines on this thread; returns the previous count to restore.
pub(super) fn start_call() -> u32 {
    CALL_LINES.with(|n| n.replace(0))
}

/// Put back the count [`start_call`] returned.
pub(super) fn end_call(previous: u32) {
    CALL_LINES.with(|n| n.set(previous));
}

/// Whoever counts suppressed lines outside the runtime (the daemon's health counters).
type Sink = Box<dyn Fn(u64) + Send + Sync>;

/// The per-minute window and the count of suppressed lines, shared by a runtime's threads.
#[derive(Default)]
pub(super) struct LogBudget {
    window: Mutex<Window>,
    suppressed: AtomicU64,
    sink: OnceLock<Sink>,
}

#[derive(Default)]
struct Window {
    started: Option<Instant>,
    lines: u32,
    warned: bool,
}

impl std::fmt::Debug for LogBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogBudget")
            .field("suppressed", &self.suppressed)
            .finish_non_exhaustive()
    }
}

impl LogBudget {
    /// Lines suppressed so far.
    pub(super) fn suppressed(&self) -> u64 {
        self.suppressed.load(Ordering::Relaxed)
    }

    /// Also report every suppressed line to `sink`; only the first sink set is kept.
    pub(super) fn report_to(&self, sink: Sink) {
        let _ = self.sink.set(sink);
    }

    /// Whether the call on this thread may write one more line now; counts it either way.
    fn admit(&self, script: &str) -> bool {
        let call_lines = CALL_LINES.with(|n| {
            let lines = n.get();
            n.set(lines.saturating_add(1));
            lines
        });
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if window
            .started
            .is_none_or(|at| now.duration_since(at) >= WINDOW)
        {
            *window = Window {
                started: Some(now),
                ..Window::default()
            };
        }
        if call_lines < LINES_PER_CALL && window.lines < LINES_PER_MINUTE {
            window.lines += 1;
            return true;
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        if let Some(sink) = self.sink.get() {
            sink(1);
        }
        if !std::mem::replace(&mut window.warned, true) {
            tracing::warn!(target: "retake_chat::script", script,
                "script log over its budget ({LINES_PER_CALL} lines per call, {LINES_PER_MINUTE} a minute): \
                 further lines are dropped for up to a minute and counted as scriptLogSuppressed");
        }
        false
    }
}

/// Route `print`, `debug` and `log(text)` of `engine` through `budget`; `call` names the
/// script being evaluated on the calling thread.
pub(super) fn register(engine: &mut Engine, budget: &Arc<LogBudget>, call: CallBudget) {
    let b = Arc::clone(budget);
    engine.on_print(move |text| info(&b, call, text));
    let b = Arc::clone(budget);
    engine.on_debug(move |text, source, pos: Position| {
        // Only lines that would be written count against the budget.
        if !tracing::enabled!(target: "retake_chat::script", tracing::Level::DEBUG) {
            return;
        }
        let script = call.script();
        let script = source.or(script.as_deref()).unwrap_or("?");
        if b.admit(script) {
            let text = cut(text);
            tracing::debug!(target: "retake_chat::script", script, line = pos.line(), "{text}");
        }
    });
    // `log(text)`: the same as print, for scripts that prefer the name. Strings only: Rhai's
    // math `log(number)` keeps its meaning, the base-10 logarithm. Rhai defines that for
    // floats only; `log(100)` is 2.0 as the docs say, not "function not found: log (i64)".
    let b = Arc::clone(budget);
    engine.register_fn("log", move |text: &str| info(&b, call, text));
    engine.register_fn("log", |x: INT| (x as FLOAT).log10());
    // Floats in text read as people write numbers: a 5 tip is "5", not Rhai's "5.0". Every
    // way a value becomes text (`${..}`, `+` on a string, `print`, `.to_string()`) calls
    // `to_string` (`print` has its own overload for floats), and the engine's own functions
    // shadow the standard library's.
    engine.register_fn("to_string", float_text);
    engine.register_fn("print", float_text);
}

/// `x` as text: a whole number without `.0` (`5`, `-3`, `0`), anything else as Rhai
/// writes it (`2.5`, `1e20`, `NaN`). `to_debug` keeps Rhai's exact form.
fn float_text(x: FLOAT) -> String {
    // 1e13 is where Rhai switches to exponents; below it every whole float is an exact i64.
    if x.fract() == 0.0 && x.abs() < 1e13 {
        format!("{}", x as INT)
    } else {
        rhai::Dynamic::from_float(x).to_string()
    }
}

fn info(budget: &LogBudget, call: CallBudget, text: &str) {
    let script = call.script();
    let script = script.as_deref().unwrap_or("?");
    if budget.admit(script) {
        let text = cut(text);
        tracing::info!(target: "retake_chat::script", script, "{text}");
    }
}

/// `text` cut to [`LINE_BYTES`] at a character boundary, saying how much was cut.
fn cut(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= LINE_BYTES {
        return text.into();
    }
    let mut end = LINE_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &text[..end], text.len() - end).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_at_a_character() {
        assert_eq!(cut("short"), "short");
        let long = "é".repeat(LINE_BYTES);
        let cut = cut(&long);
        assert!(
            cut.ends_with(&format!("… ({} more bytes)", LINE_BYTES)),
            "{cut}"
        );
        assert!(cut.len() < LINE_BYTES + 32);
    }

    #[test]
    fn lines_are_budgeted_per_call_and_per_minute() {
        let budget = LogBudget::default();
        let counted = Arc::new(AtomicU64::new(0));
        let c = Arc::clone(&counted);
        budget.report_to(Box::new(move |n| {
            c.fetch_add(n, Ordering::Relaxed);
        }));
        let previous = start_call();
        let written = (0..LINES_PER_CALL + 5)
            .filter(|_| budget.admit("a.rhai"))
            .count();
        assert_eq!(written, LINES_PER_CALL as usize);
        let mut total = written;
        for _ in 0..LINES_PER_MINUTE {
            start_call();
            total += usize::from(budget.admit("a.rhai"));
        }
        end_call(previous);
        assert_eq!(
            total, LINES_PER_MINUTE as usize,
            "the minute's budget holds across calls"
        );
        let dropped = u64::from(LINES_PER_CALL + 5 + LINES_PER_MINUTE) - total as u64;
        assert_eq!(budget.suppressed(), dropped);
        assert_eq!(counted.load(Ordering::Relaxed), dropped);
    }
}
