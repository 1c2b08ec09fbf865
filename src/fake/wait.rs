//! Waiting on the fake: [`wait_until`], the one deadline-bounded poll that tests, the sandbox
//! and the benchmark use to wait for what the fake records (a join, a POST, a closed socket).
//! Nothing here touches the fake itself; callers pass the condition.

use std::time::Duration;

/// How often [`wait_until`] looks again: fine enough not to add latency a test would notice,
/// coarse enough that a condition cloning the fake's records does not load the machine.
const POLL: Duration = Duration::from_millis(10);

/// Polls `condition` every 10 ms until it holds or `within` has passed; returns whether it
/// held. The condition is checked once more at the deadline, so a slow machine that slept past
/// it still sees the latest state. Tokio's clock: under `tokio::time::pause()` the deadline
/// is in paused time.
pub async fn wait_until(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_true_as_soon_as_the_condition_holds() {
        let mut calls = 0;
        let held = wait_until(Duration::from_secs(10), || {
            calls += 1;
            calls == 3
        })
        .await;
        assert!(held);
        assert_eq!(calls, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn returns_false_once_the_deadline_passes_checking_at_the_deadline() {
        let start = tokio::time::Instant::now();
        let mut last_check = start;
        let held = wait_until(Duration::from_millis(95), || {
            last_check = tokio::time::Instant::now();
            false
        })
        .await;
        assert!(!held);
        assert!(last_check - start >= Duration::from_millis(95));
    }
}
