//! When a script's timers (`fn every_5m()`, …) are due. A timer fires at most once per period
//! and only if chat was active since it last fired, so a quiet stream is not talked at; a
//! long gap is one missed stretch, not a burst. Pure bookkeeping: the caller owns the clock
//! and calls [`ScriptHost::fire_timer`](super::ScriptHost::fire_timer).

use super::Personality;

#[derive(Debug, Clone)]
struct Due {
    name: String,
    period_ms: i64,
    next_ms: i64,
    active: bool,
}

/// The schedule of one personality's timers.
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    due: Vec<Due>,
}

impl Schedule {
    /// Every timer of `p`, first due one period after `start_ms`.
    pub fn new(p: &Personality, start_ms: i64) -> Self {
        let mut schedule = Self::default();
        schedule.rebuild(p, start_ms);
        schedule
    }

    /// Follow a reload: timers with the same name and period keep their place in time; new
    /// ones are first due one period from `now_ms`; removed ones are gone.
    pub fn rebuild(&mut self, p: &Personality, now_ms: i64) {
        let old = std::mem::take(&mut self.due);
        self.due = p
            .timers()
            .iter()
            .map(|timer| {
                let period_ms = i64::try_from(timer.period.as_millis()).unwrap_or(i64::MAX);
                old.iter()
                    .find(|d| d.name == timer.name && d.period_ms == period_ms)
                    .cloned()
                    .unwrap_or_else(|| Due {
                        name: timer.name.clone(),
                        period_ms,
                        next_ms: now_ms.saturating_add(period_ms),
                        active: false,
                    })
            })
            .collect();
    }

    /// Chat happened: timers that come due may fire.
    pub fn chat_seen(&mut self) {
        for due in &mut self.due {
            due.active = true;
        }
    }

    /// The timers to fire now, each with the time it came due; advances the schedule past
    /// `now_ms` whether they fire or not.
    pub fn take_due(&mut self, now_ms: i64) -> Vec<(String, i64)> {
        let mut fire = Vec::new();
        for due in &mut self.due {
            if due.next_ms > now_ms {
                continue;
            }
            if due.active {
                fire.push((due.name.clone(), due.next_ms));
                due.active = false;
            }
            let missed = (now_ms - due.next_ms) / due.period_ms.max(1) + 1;
            due.next_ms = due
                .next_ms
                .saturating_add(missed.saturating_mul(due.period_ms));
        }
        fire
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{Limits, ScriptHost};

    fn personality(source: &str) -> Personality {
        ScriptHost::new(Limits::default())
            .compile("t.rhai", source)
            .expect("compiles")
    }

    const MIN: i64 = 60_000;

    #[test]
    fn fires_once_per_period_only_after_chat() {
        let p = personality("fn on_message(m) {} fn every_5m() { \"hi\" }");
        let mut schedule = Schedule::new(&p, 0);
        assert!(schedule.take_due(5 * MIN).is_empty(), "no chat yet");
        schedule.chat_seen();
        assert!(
            schedule.take_due(9 * MIN).is_empty(),
            "not due before 10 min"
        );
        assert_eq!(
            schedule.take_due(10 * MIN),
            [("every_5m".to_string(), 10 * MIN)]
        );
        schedule.chat_seen();
        // An hour of silence on the clock: one firing, then back on the 5-minute grid.
        assert_eq!(schedule.take_due(70 * MIN + 1).len(), 1);
        assert!(schedule.take_due(74 * MIN).is_empty());
    }

    #[test]
    fn a_reload_keeps_unchanged_timers_in_place() {
        let p = personality("fn on_message(m) {} fn every_5m() { \"a\" }");
        let mut schedule = Schedule::new(&p, 0);
        let q = personality("fn on_message(m) {} fn every_5m() { \"b\" } fn every_1m() { \"c\" }");
        schedule.rebuild(&q, 3 * MIN);
        schedule.chat_seen();
        let mut fired: Vec<(String, i64)> = schedule.take_due(5 * MIN);
        fired.sort();
        // every_5m kept its place (due at 5 min); every_1m is new: due 1 min after the reload.
        assert_eq!(
            fired,
            [
                ("every_1m".to_string(), 4 * MIN),
                ("every_5m".to_string(), 5 * MIN)
            ]
        );
    }
}
