//! How long to wait before the next connection attempt: a quarter of the outage so far,
//! between a floor and a cap, with jitter.
//!
//! A listener is one client per agent: waiting long gains the server nothing and costs viewers
//! their answers. Growing with the outage's age rather than the number of attempts keeps a
//! short outage short (back within about 2.5 s of the server for outages up to 10 s, within the
//! cap for any longer one) while a long outage or a server that keeps kicking us still backs
//! off to the cap.

use std::time::Duration;

use crate::config::ConnectionConfig;

/// Delays between connection attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The shortest delay (the first attempt after a loss).
    pub initial: Duration,
    /// The longest delay, however long the outage.
    pub max: Duration,
}

/// The `[connection]` defaults.
impl Default for Backoff {
    fn default() -> Self {
        Self::from(&ConnectionConfig::default())
    }
}

/// `[connection] backoff_initial_ms` and `backoff_max_ms`.
impl From<&ConnectionConfig> for Backoff {
    fn from(config: &ConnectionConfig) -> Self {
        Self {
            initial: config.backoff_initial,
            max: config.backoff_max,
        }
    }
}

impl Backoff {
    /// The delay before the next attempt when the chat has been out of reach for `outage`:
    /// a quarter of it, kept between `initial` and `max`, with a random part of up to half
    /// taken off so that many listeners cut off together do not come back in step.
    pub fn delay(&self, outage: Duration) -> Duration {
        self.step(outage).mul_f64(1.0 - rand::random::<f64>() * 0.5)
    }

    /// The delay before jitter.
    fn step(&self, outage: Duration) -> Duration {
        (outage / 4).clamp(self.initial, self.max.max(self.initial))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn secs(s: f64) -> Duration {
        Duration::from_millis((s * 1000.0) as u64)
    }

    #[test]
    fn the_step_is_a_quarter_of_the_outage_between_floor_and_cap() {
        let backoff = Backoff::default();
        assert_eq!(backoff.step(Duration::ZERO), secs(0.25));
        assert_eq!(backoff.step(secs(0.5)), secs(0.25));
        assert_eq!(backoff.step(secs(10.0)), secs(2.5));
        assert_eq!(backoff.step(secs(32.0)), secs(8.0));
        assert_eq!(backoff.step(secs(3600.0)), secs(8.0));
        // A cap below the floor (a config mistake) waits the floor, not a panic.
        let odd = Backoff {
            initial: secs(2.0),
            max: secs(1.0),
        };
        assert_eq!(odd.step(secs(100.0)), secs(2.0));
    }

    #[test]
    fn jitter_takes_off_at_most_half() {
        let backoff = Backoff::default();
        for _ in 0..200 {
            let delay = backoff.delay(secs(10.0));
            assert!(delay >= secs(1.25) && delay <= secs(2.5), "{delay:?}");
        }
    }

    /// The promise in the module header, walked through attempt by attempt: with the server
    /// back at `back`, the first attempt after it comes within `within`.
    #[test]
    fn short_outages_are_over_within_a_few_seconds_long_ones_within_the_cap() {
        let backoff = Backoff::default();
        let first_attempt_after = |back: Duration| {
            let mut at = Duration::ZERO;
            while at < back {
                at += backoff.step(at);
            }
            at - back
        };
        for tenths in 1..=100 {
            let back = secs(f64::from(tenths) / 10.0);
            assert!(first_attempt_after(back) <= secs(2.5), "{back:?}");
        }
        for secs_out in [30, 70, 300, 3600] {
            let back = Duration::from_secs(secs_out);
            assert!(first_attempt_after(back) <= secs(8.0), "{back:?}");
        }
    }
}
