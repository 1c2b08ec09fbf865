//! Dead air: when `fn on_quiet(ev)` is due. The own room is quiet from the listener's first
//! join and from each viewer line on; once that has lasted `[script] quiet_after_secs`, the
//! hook is due, once per quiet stretch, and not again until chat resumes and falls quiet
//! again. The bot's own lines never count as chat, so its answer to the silence cannot start a
//! new stretch. Pure bookkeeping like `timers.rs`: the caller owns the clock (the system's in
//! the listener, the transcript's in `replay`) and calls [`ScriptHost::quiet`](super::ScriptHost::quiet).

use std::time::Duration;

use crate::event::ChatEvent;

/// Whether `event` (a viewer's, already told apart from the bot's own) ends a quiet stretch:
/// something said in the chat, a message, a tip or a trade. A follow is a notification, not
/// chat, so it leaves the air as dead as it was; so does anything said in another
/// streamer's room (`--room`): dead air is the own stream's.
pub fn breaks_silence(event: &ChatEvent) -> bool {
    event.room.is_none() && matches!(event.kind.as_str(), "message" | "tip" | "trade")
}

/// The `ev` that `on_quiet` is called with: `quiet_secs`, how long the room has been quiet.
pub(super) fn event(quiet_secs: i64) -> rhai::Map {
    let mut ev = rhai::Map::new();
    ev.insert("quiet_secs".into(), quiet_secs.into());
    ev
}

/// The quiet clock of one room.
#[derive(Debug, Clone)]
pub struct Silence {
    /// How long a stretch must last before `on_quiet` is due; 0 turns it off.
    after_ms: i64,
    /// Since when the room has been quiet; `None` until the listener has joined.
    since_ms: Option<i64>,
    /// `on_quiet` was due (or asked for) in this stretch already.
    spoken: bool,
}

impl Silence {
    /// A clock that is not running yet; `after` of zero never comes due.
    pub fn new(after: Duration) -> Self {
        Self {
            after_ms: i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
            since_ms: None,
            spoken: false,
        }
    }

    /// The listener has joined at `now_ms`: the room is quiet from then on, unless the clock
    /// runs already (a rejoin after an outage is not a new stretch).
    pub fn start(&mut self, now_ms: i64) {
        self.since_ms.get_or_insert(now_ms);
    }

    /// A viewer said something at `now_ms`: a new stretch starts, and may be spoken to.
    pub fn chat_seen(&mut self, now_ms: i64) {
        self.since_ms = Some(now_ms);
        self.spoken = false;
    }

    /// The moment `on_quiet` came due, if it did by `now_ms` and has not been due in this
    /// stretch yet; from then on it is not due again until [`Self::chat_seen`].
    pub fn take_due(&mut self, now_ms: i64) -> Option<i64> {
        let since = self.since_ms?;
        if self.after_ms == 0 || self.spoken {
            return None;
        }
        let due = since.saturating_add(self.after_ms);
        if due > now_ms {
            return None;
        }
        self.spoken = true;
        Some(due)
    }

    /// Take the room as quiet now, however long it has been (the sandbox's `/quiet`): this
    /// stretch counts as spoken to. Returns its length in whole seconds.
    pub fn hush(&mut self, now_ms: i64) -> i64 {
        self.start(now_ms);
        self.spoken = true;
        self.quiet_secs(now_ms)
    }

    /// Whole seconds the room had been quiet at `at_ms` (`ev.quiet_secs`).
    pub fn quiet_secs(&self, at_ms: i64) -> i64 {
        self.since_ms
            .map_or(0, |since| at_ms.saturating_sub(since).max(0) / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = 1000;

    fn silence(secs: u64) -> Silence {
        Silence::new(Duration::from_secs(secs))
    }

    #[test]
    fn due_once_per_stretch_from_the_first_join() {
        let mut quiet = silence(120);
        assert_eq!(quiet.take_due(1_000 * SEC), None, "not joined yet");
        quiet.start(10 * SEC);
        assert_eq!(quiet.take_due(129 * SEC), None, "not quiet long enough");
        assert_eq!(quiet.take_due(131 * SEC), Some(130 * SEC));
        assert_eq!(quiet.quiet_secs(131 * SEC + 999), 121);
        assert_eq!(quiet.take_due(10_000 * SEC), None, "still the same stretch");
        quiet.start(10_000 * SEC);
        assert_eq!(
            quiet.take_due(20_000 * SEC),
            None,
            "a rejoin is no new stretch"
        );
        quiet.chat_seen(20_000 * SEC);
        assert_eq!(quiet.take_due(20_119 * SEC), None);
        assert_eq!(quiet.take_due(20_500 * SEC), Some(20_120 * SEC));
    }

    #[test]
    fn zero_is_off_and_hush_speaks_at_once() {
        let mut off = silence(0);
        off.start(0);
        assert_eq!(off.take_due(i64::MAX), None);
        assert_eq!(off.hush(5 * SEC), 5, "the sandbox may still ask");
        let mut quiet = silence(60);
        quiet.chat_seen(100 * SEC);
        assert_eq!(quiet.hush(103 * SEC), 3);
        assert_eq!(
            quiet.take_due(1_000 * SEC),
            None,
            "hushed: already spoken to"
        );
        let mut unjoined = silence(60);
        assert_eq!(unjoined.hush(7 * SEC), 0, "quiet from now");
    }

    #[test]
    fn only_chat_breaks_the_silence() {
        let event = |kind: &str| ChatEvent {
            kind: kind.to_string(),
            ..ChatEvent::default()
        };
        for kind in ["message", "tip", "trade"] {
            assert!(breaks_silence(&event(kind)), "{kind}");
        }
        assert!(!breaks_silence(&event("follow")));
        // Another streamer's chat is theirs: the own stream stays as quiet as it was.
        let elsewhere = ChatEvent {
            room: Some(Box::new(crate::rooms::Room::id("rival".into()))),
            ..event("message")
        };
        assert!(!breaks_silence(&elsewhere));
    }

    fn runtime() -> crate::script::ScriptHost {
        crate::script::ScriptHost::new(crate::script::Limits::default())
    }

    const LIVELY: &str = r#"fn on_message(msg) {}
fn on_quiet(ev) {
    if ev.quiet_secs < 60 { return ignore(); }
    if cooldown("dead air", 600) { return `quiet for ${ev.quiet_secs} s`; }
}
fn tests() {
    [
        #{ quiet: 30, expect: "ignore" },
        #{ quiet: 120, expect: "reply", equals: "quiet for 120 s" },
        #{ quiet: 300, expect: "ignore" },
        #{ say: "gm", expect: "ignore" },
        #{ quiet: 600, expect: "reply", contains: "600" },
    ]
}"#;

    #[test]
    fn on_quiet_gets_the_quiet_secs_and_says_its_line() {
        let runtime = runtime();
        let p = runtime.compile("t.rhai", LIVELY).expect("compiles");
        assert_eq!(p.tests_passed(), 5);
        assert!(p.hooks().describe().contains(&"on_quiet(ev)".to_string()));
        assert_eq!(runtime.quiet(&p, 10).ok(), Some(None));
        assert_eq!(
            runtime.quiet(&p, 125).ok(),
            Some(Some("quiet for 125 s".to_string()))
        );
        let without = runtime
            .compile("t.rhai", "fn on_message(msg) {}")
            .expect("compiles");
        assert_eq!(runtime.quiet(&without, 500).ok(), Some(None));
        let acking = runtime
            .compile(
                "t.rhai",
                "fn on_message(msg) {}\nfn on_quiet(ev) { ack(\"x\") }",
            )
            .expect("compiles");
        assert_eq!(
            runtime
                .quiet(&acking, 1)
                .expect_err("bad return")
                .to_string(),
            "t.rhai: on_quiet returned ack(text); expected reply(text), a string, ignore() or ()"
        );
        let err = runtime
            .compile("t.rhai", "fn on_message(msg) {}\n\nfn on_quiet() {}")
            .expect_err("refused");
        assert_eq!(
            err.to_string(),
            "t.rhai:3:1: `fn on_quiet` must take exactly 1 parameter (ev), found one taking 0"
        );
    }

    #[test]
    fn quiet_cases_are_checked() {
        let runtime = runtime();
        let failing = LIVELY.replace(
            "quiet: 300, expect: \"ignore\"",
            "quiet: 300, expect: \"reply\"",
        );
        let err = runtime.compile("t.rhai", &failing).expect_err("refused");
        assert_eq!(
            err.to_string(),
            "t.rhai:6:1: self-test failed: case 3 (quiet 300 s): expected reply, got ignore"
        );
        for (tests, message) in [
            (
                "[#{ quiet: 60, say: \"x\", expect: \"reply\" }]",
                "case 1: a quiet case takes only quiet, expect, contains, equals, not `say`",
            ),
            (
                "[#{ quiet: 60, expect: \"queue\" }]",
                "case 1: a quiet case expects reply or ignore (on_quiet posts a line or nothing), not queue",
            ),
            (
                "[#{ quiet: -1, expect: \"ignore\" }]",
                "case 1: `quiet` must be seconds from 0 to a year, got -1",
            ),
            (
                "[#{ quiet: \"long\", expect: \"ignore\" }]",
                "case 1: `quiet` must be a number, got string",
            ),
        ] {
            let source =
                format!("fn on_message(msg) {{}}\nfn tests() {{ {tests} }}\nfn on_quiet(ev) {{}}");
            let err = runtime.compile("t.rhai", &source).expect_err(tests);
            assert_eq!(
                err.to_string(),
                format!("t.rhai:2:1: self-test failed: {message}")
            );
        }
        let err = runtime
            .compile(
                "t.rhai",
                "fn on_message(msg) {}\nfn tests() { [#{ quiet: 60, expect: \"ignore\" }] }",
            )
            .expect_err("no hook");
        assert_eq!(
            err.to_string(),
            "t.rhai:2:1: self-test failed: case 1: a quiet case needs `fn on_quiet(ev)`"
        );
    }
}
