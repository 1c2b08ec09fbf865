//! The `msg` map a hook receives for one event.
//!
//! Built once per event, so it is kept cheap: the extra fields (`count`, `first_time`,
//! `command`, `args`, `room`, `room_name`, `own_room`, `event`) cost a counter lookup and, for non-commands, no parsing
//! at all; tips, trades, live sessions and pins add their own few (`add_details`).
//! Which hook receives it is `hooks.rs`'s business.

use rhai::{Array, Dynamic, ImmutableString, Map};

use crate::event::{ChatEvent, Details};

/// Most `args` a command gets; words past it are dropped.
const MAX_ARGS: usize = 64;

/// The `msg` object map for `event`: `count` is this author's events so far including this
/// one, `own_room` the session's room (the streamer's user id: `msg.room` unless the event
/// was said in another streamer's room), `now_ms` the session's clock (for `age_secs`).
pub(super) fn message(
    event: &ChatEvent,
    count: i64,
    own_room: ImmutableString,
    now_ms: i64,
) -> Dynamic {
    let lower = event.lower();
    let (command, args) = command(&lower, &event.text);
    let mut map = Map::new();
    map.insert("id".into(), event.id.as_str().into());
    map.insert("kind".into(), event.kind.as_str().into());
    map.insert("author".into(), event.author.as_str().into());
    map.insert("author_id".into(), event.author_id.as_str().into());
    map.insert("wallet".into(), event.wallet.as_str().into());
    map.insert("text".into(), event.text.as_str().into());
    map.insert("lower".into(), lower.into());
    map.insert("ts".into(), Dynamic::from_int(event.ts));
    let amount = event.amount.map_or(Dynamic::UNIT, Dynamic::from_float);
    map.insert("amount".into(), amount);
    map.insert("count".into(), Dynamic::from_int(count));
    map.insert("first_time".into(), Dynamic::from_bool(count == 1));
    map.insert("command".into(), command);
    map.insert("args".into(), Dynamic::from_array(args));
    let (room, room_name) = match event.room.as_deref() {
        Some(other) => (other.id.as_str().into(), other.name.as_deref()),
        None => (own_room, None),
    };
    map.insert("room".into(), room.into());
    let room_name = room_name.map_or(Dynamic::UNIT, |name| ImmutableString::from(name).into());
    map.insert("room_name".into(), room_name);
    map.insert("own_room".into(), Dynamic::from_bool(event.room.is_none()));
    map.insert("late".into(), Dynamic::from_bool(event.late));
    map.insert(
        "age_secs".into(),
        Dynamic::from_int(age_secs(event.ts, now_ms)),
    );
    map.insert("event".into(), event.via.name().into());
    if event.kind != "message" {
        // Empty strings allocate nothing: a tip said in chat without a hash costs no more.
        let none = Details::default();
        add_details(&mut map, event, event.details.as_deref().unwrap_or(&none));
    }
    Dynamic::from_map(map)
}

/// The fields of a tip, trade, live session or pin, by `kind`, `""` or `()` where the event
/// has none (a plain message and a follow have none of these).
fn add_details(map: &mut Map, event: &ChatEvent, details: &Details) {
    let text = |s: &str| Dynamic::from(ImmutableString::from(s));
    match event.kind.as_str() {
        "tip" => {
            map.insert("tx_hash".into(), text(&details.tx_hash));
        }
        "trade" => {
            let usd = details.usd.map_or(Dynamic::UNIT, Dynamic::from_float);
            map.insert("usd".into(), usd);
            map.insert("action".into(), text(&details.action));
            map.insert("ticker".into(), text(&details.ticker));
            map.insert("address".into(), text(&details.address));
            map.insert("tx_hash".into(), text(&details.tx_hash));
        }
        "live" => {
            map.insert("session_id".into(), text(&details.session_id));
            map.insert("title".into(), text(&event.text));
        }
        "pinned" => {
            // A pin unless it says otherwise (a self-test's or `try`'s pin says nothing).
            let pinned = details.pinned.unwrap_or(true);
            map.insert("pinned".into(), Dynamic::from_bool(pinned));
        }
        _ => {}
    }
}

/// Whole seconds from `ts` to `now_ms`; never negative (the platform's clock may run ahead).
fn age_secs(ts: i64, now_ms: i64) -> i64 {
    now_ms.saturating_sub(ts).max(0) / 1000
}

/// For `!cmd a b`: `("cmd", ["a", "b"])`, the command lower-cased and the arguments as typed;
/// `("", [])` for anything else. Only text starting with `!` is split at all.
fn command(lower: &str, text: &str) -> (Dynamic, Array) {
    if !lower.starts_with('!') {
        return (Dynamic::from(ImmutableString::new()), Array::new());
    }
    let mut words = text.split_whitespace();
    let name = words
        .next()
        .map(|w| w.trim_start_matches('!').to_lowercase())
        .unwrap_or_default();
    let args = words
        .take(MAX_ARGS)
        .map(|w| ImmutableString::from(w).into())
        .collect();
    (name.into(), args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> (String, Vec<String>) {
        let lower = text.trim().to_lowercase();
        let (c, a) = command(&lower, text);
        (c.to_string(), a.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn ages_are_whole_seconds_and_never_negative() {
        assert_eq!(age_secs(1_000, 91_999), 90);
        assert_eq!(age_secs(5_000, 1_000), 0);
    }

    #[test]
    fn commands_split_only_with_a_bang() {
        assert_eq!(
            fields("  !Count  a B "),
            ("count".into(), vec!["a".into(), "B".into()])
        );
        assert_eq!(fields("!help"), ("help".into(), vec![]));
        assert_eq!(fields("!"), (String::new(), vec![]));
        assert_eq!(fields("hi !help"), (String::new(), vec![]));
        let many = format!("!x {}", "w ".repeat(100));
        assert_eq!(fields(&many).1.len(), MAX_ARGS);
    }
}
