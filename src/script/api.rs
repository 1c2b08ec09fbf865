//! What a personality script can call besides the Rhai standard library.
//!
//! Scripts are shared between users, so these names and their behaviour are public API:
//! change them only deliberately and in the README too. The engine's limits and sandbox are
//! set in `engine.rs`; the [`Decision`] type is `decision.rs`'s, and what a returned one makes
//! happen is the `act` module's job.

use rhai::{Dynamic, Engine, EvalAltResult, ImmutableString, NativeCallContext};

use super::Decision;

type ApiResult = Result<Decision, Box<EvalAltResult>>;

/// Register the script API (`reply`, `reply_in`, `ack`, `queue`, `ignore` and the `Decision`
/// type).
pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<Decision>("Decision")
        .register_fn("reply", reply)
        .register_fn("reply", |ctx: NativeCallContext, text: Dynamic| {
            not_text(&ctx, "reply", &text)
        })
        .register_fn("reply_in", reply_in)
        .register_fn(
            "reply_in",
            |ctx: NativeCallContext, room: Dynamic, text: Dynamic| {
                let found = if room.is_string() { &text } else { &room };
                not_text(&ctx, "reply_in", found)
            },
        )
        .register_fn("ack", ack)
        .register_fn("ack", |ctx: NativeCallContext, text: Dynamic| {
            not_text(&ctx, "ack", &text)
        })
        .register_fn("queue", queue)
        .register_fn("ignore", ignore)
        .register_fn("to_string", |d: &mut Decision| format!("{d:?}"))
        .register_fn("to_debug", |d: &mut Decision| format!("{d:?}"))
        .register_fn("==", |a: Decision, b: Decision| a == b)
        .register_fn("!=", |a: Decision, b: Decision| a != b);
}

/// `reply(text)`: send `text` to the chat now, and do nothing else with the message.
///
/// `text` must be a non-empty string; anything else stops the script with an error.
pub fn reply(text: ImmutableString) -> ApiResult {
    non_empty("reply", text).map(Decision::Reply)
}

/// `reply_in(room, text)`: send `text` now in `room`, another streamer's room the listener
/// hears (`--room`: its id, `msg.room`, or the name it was given by), or the own one; nothing
/// else. A room the listener does not hear is an error there, and the message goes to the
/// agent as for any failing script.
pub fn reply_in(room: ImmutableString, text: ImmutableString) -> ApiResult {
    let room = non_empty("reply_in", room)?;
    let text = non_empty("reply_in", text)?;
    Ok(Decision::ReplyIn {
        room: room.trim().to_string(),
        text,
    })
}

/// `ack(text)`: send `text` to the chat now (an acknowledgement such as "On it!"), then queue
/// the message for the agent and wake it. The message is on disk before `text` is sent.
///
/// `text` must be a non-empty string; anything else stops the script with an error.
pub fn ack(text: ImmutableString) -> ApiResult {
    non_empty("ack", text).map(Decision::Ack)
}

/// `queue()`: queue the message for the agent and wake it, without saying anything.
pub fn queue() -> Decision {
    Decision::Queue
}

/// `ignore()`: do nothing with the message. Returning `()` means the same.
pub fn ignore() -> Decision {
    Decision::Ignore
}

fn non_empty(function: &str, text: ImmutableString) -> Result<String, Box<EvalAltResult>> {
    if text.trim().is_empty() {
        return Err(format!("{function}() needs some text, got an empty string").into());
    }
    Ok(text.to_string())
}

/// The overload taking any value: reached only when the argument is not a string.
fn not_text(ctx: &NativeCallContext, function: &str, value: &Dynamic) -> ApiResult {
    let found = ctx.engine().map_type_name(value.type_name());
    Err(format!("{function}() needs a string, got {found}").into())
}
