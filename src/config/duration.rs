//! The config file's durations: whole seconds or milliseconds in the TOML (`timeout_secs`,
//! `min_interval_ms`), a [`Duration`] in the resolved config, converted here once.
//!
//! A `_nonzero` reader turns 0 into the smallest unit: a zero timeout would make nothing
//! possible. The others keep 0, where it means "off" or "at once".

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Whole seconds; 0 is kept.
pub(super) fn secs<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_secs)
}

/// Whole seconds, at least one.
pub(super) fn secs_nonzero<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(|s| Duration::from_secs(s.max(1)))
}

/// Milliseconds; 0 is kept.
pub(super) fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_millis)
}

/// Milliseconds, at least one.
pub(super) fn millis_nonzero<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(|ms| Duration::from_millis(ms.max(1)))
}
