//! Chat payloads in the shapes retake.tv emits (generation 1 and 2), as the fake sends them.
//! Field names follow /work/shared/RETAKE_API.md; parsing them is `event`'s job, not this one's.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// A generation-1 `message` event payload from a viewer called `author`.
///
/// `id` becomes `_id`; the author's `fid` is `author` too and the wallet a fixed `0xviewer`.
/// The timestamp is now, in RFC 3339.
pub fn v1_message(id: &str, author: &str, text: &str) -> Value {
    v1_payload(id, author, json!(author), "0xviewer", text)
}

/// A generation-2 `message` event payload in room `streamer_id`, from `sender_user_id` named
/// `sender_username`. The timestamp is now, as epoch milliseconds in a string.
pub fn v2_message(
    streamer_id: &str,
    sender_user_id: &str,
    sender_username: &str,
    text: &str,
) -> Value {
    json!({
        "type": "message",
        "streamer_id": streamer_id,
        "sender_user_id": sender_user_id,
        "sender_username": sender_username,
        "text": text,
        "timestamp": epoch_millis(SystemTime::now()).to_string(),
    })
}

/// The generation-1 shape with every author field chosen by the caller.
pub(super) fn v1_payload(id: &str, fusername: &str, fid: Value, wallet: &str, text: &str) -> Value {
    json!({
        "_id": id,
        "type": "message",
        "text": text,
        "timestamp": rfc3339(SystemTime::now()),
        "author": { "fusername": fusername, "fid": fid, "walletAddress": wallet },
    })
}

fn epoch_millis(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()
}

/// `t` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC); written by hand to keep chrono out of the tree.
pub(super) fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_matches_known_instants() {
        let at = |ms: u64| rfc3339(UNIX_EPOCH + Duration::from_millis(ms));
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        // The two example timestamps in RETAKE_API.md are the same instant.
        assert_eq!(at(1_738_419_600_000), "2025-02-01T14:20:00.000Z");
        assert_eq!(at(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(at(4_107_542_399_000), "2100-02-28T23:59:59.000Z");
    }

    #[test]
    fn payloads_have_the_documented_fields() {
        let v1 = v1_message("c1", "viewer1", "gm");
        assert_eq!(v1["_id"], "c1");
        assert_eq!(v1["author"]["fusername"], "viewer1");
        assert_eq!(v1["text"], "gm");
        let v2 = v2_message("room", "u9", "viewer9", "hi");
        assert_eq!(v2["streamer_id"], "room");
        assert_eq!(v2["sender_username"], "viewer9");
        let ts: u128 = v2["timestamp"]
            .as_str()
            .expect("string")
            .parse()
            .expect("ms");
        assert!(ts > 1_738_419_600_000);
    }
}
