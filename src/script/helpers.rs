//! The helper functions scripts may call: `now`, `cooldown`, `pick`, `chance`, `matches`,
//! and memory (`remember`, `recall`, `forget`, and their `_for(author, ...)` forms).
//!
//! The stateful ones work on the [`Session`] the runtime passes as the evaluation's tag, so
//! each runtime (daemon, `try`, `replay`, a self-test run) has its own. `log` and the return
//! functions are registered in `engine.rs` and `api.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use regex::{Regex, RegexBuilder};
use rhai::{Array, Dynamic, Engine, EvalAltResult, FLOAT, INT, Map, NativeCallContext};
use serde_json::Value;

use super::state::{Session, Shared};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// Longest pattern `matches` accepts, in bytes.
const MAX_PATTERN_BYTES: usize = 1024;
/// Compiled size limit of one pattern, in bytes (the regex crate's own measure).
const REGEX_SIZE_LIMIT: usize = 256 * 1024;
/// Most patterns kept compiled per runtime; when full the cache starts over.
const REGEX_CACHE: usize = 64;
/// Deepest nesting of arrays and maps in one remembered value.
const MAX_DEPTH: usize = 8;

/// Register the helpers on `engine`.
pub fn register(engine: &mut Engine) {
    register_clock_and_chance(engine);
    register_matches(engine);
    register_memory(engine);
}

/// `now`, `cooldown`, `pick` and `chance`.
fn register_clock_and_chance(engine: &mut Engine) {
    engine
        .register_fn("now", |ctx: NativeCallContext| with(&ctx, |s| s.now_ms()))
        .register_fn(
            "cooldown",
            |ctx: NativeCallContext, key: &str, secs: INT| cooldown(&ctx, key, secs as FLOAT),
        )
        .register_fn(
            "cooldown",
            |ctx: NativeCallContext, key: &str, secs: FLOAT| cooldown(&ctx, key, secs),
        )
        .register_fn("pick", pick)
        .register_fn("chance", |ctx: NativeCallContext, p: FLOAT| chance(&ctx, p))
        .register_fn("chance", |ctx: NativeCallContext, p: INT| {
            chance(&ctx, p as FLOAT)
        });
}

/// Patterns compiled so far (or why they did not compile), per runtime.
type RegexCache = Mutex<HashMap<String, std::result::Result<Regex, String>>>;

/// `matches(text, pattern)`, with its own cache of compiled patterns.
fn register_matches(engine: &mut Engine) {
    let cache: Arc<RegexCache> = Arc::default();
    engine.register_fn("matches", move |text: &str, pattern: &str| {
        matches(&cache, text, pattern)
    });
}

/// Whether `pattern` (a regex, compiled once into `cache`) matches `text`.
fn matches(cache: &RegexCache, text: &str, pattern: &str) -> Result<bool> {
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(format!("matches() patterns are at most {MAX_PATTERN_BYTES} bytes").into());
    }
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if !cache.contains_key(pattern) {
        if cache.len() >= REGEX_CACHE {
            cache.clear();
        }
        let compiled = RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| one_line(&e.to_string()));
        cache.insert(pattern.to_string(), compiled);
    }
    match cache.get(pattern) {
        Some(Ok(regex)) => Ok(regex.is_match(text)),
        Some(Err(error)) => Err(format!("matches(): bad pattern: {error}").into()),
        None => Err("matches(): pattern cache failed".into()),
    }
}

/// `remember`, `recall`, `forget` and their `_for(author, ...)` forms: one registration per
/// script function, so the list is as long as the API.
fn register_memory(engine: &mut Engine) {
    engine
        .register_fn(
            "remember",
            |ctx: NativeCallContext, key: &str, value: Dynamic| {
                let value = json(&ctx, &value)?;
                named(&ctx, with(&ctx, |s| s.memory.remember(key, value))?)
            },
        )
        .register_fn("recall", |ctx: NativeCallContext, key: &str| {
            with(&ctx, |s| {
                s.memory
                    .recall(key)
                    .map_or(Dynamic::UNIT, |v| from_json(&v))
            })
        })
        .register_fn("forget", |ctx: NativeCallContext, key: &str| {
            named(
                &ctx,
                with(&ctx, |s| s.memory.remember(key, serde_json::Value::Null))?,
            )
        })
        .register_fn(
            "remember_for",
            |ctx: NativeCallContext, author: &str, key: &str, value: Dynamic| {
                let value = json(&ctx, &value)?;
                named(
                    &ctx,
                    with(&ctx, |s| s.memory.remember_for(author, key, value))?,
                )
            },
        )
        .register_fn(
            "recall_for",
            |ctx: NativeCallContext, author: &str, key: &str| {
                with(&ctx, |s| {
                    s.memory
                        .recall_for(author, key)
                        .map_or(Dynamic::UNIT, |v| from_json(&v))
                })
            },
        )
        .register_fn(
            "forget_for",
            |ctx: NativeCallContext, author: &str, key: &str| {
                let forgot = with(&ctx, |s| {
                    s.memory.remember_for(author, key, serde_json::Value::Null)
                })?;
                named(&ctx, forgot)
            },
        );
}

/// Run `f` on the session of the evaluation `ctx` belongs to. The top level (run once at
/// load) has no session: state belongs to hooks.
fn with<T>(ctx: &NativeCallContext, f: impl FnOnce(&mut Session) -> T) -> Result<T> {
    let shared = ctx.tag().and_then(|tag| tag.read_lock::<Shared>());
    match shared {
        Some(shared) => Ok(f(&mut shared.lock())),
        None => Err(format!(
            "{}() can only be called inside a function such as on_message, not at the top level",
            ctx.fn_name()
        )
        .into()),
    }
}

fn cooldown(ctx: &NativeCallContext, key: &str, secs: FLOAT) -> Result<bool> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("cooldown() needs a number of seconds from 0, got {secs}").into());
    }
    let ms = (secs * 1000.0).min(i64::MAX as FLOAT) as i64;
    named(ctx, with(ctx, |s| s.cooldown(key, ms))?)
}

fn pick(ctx: NativeCallContext, items: &mut Array) -> Result<Dynamic> {
    if items.is_empty() {
        return Ok(Dynamic::UNIT);
    }
    let i = with(&ctx, |s| s.index(items.len()))?;
    Ok(items[i].clone())
}

fn chance(ctx: &NativeCallContext, p: FLOAT) -> Result<bool> {
    if p.is_nan() {
        return Err("chance() needs a probability from 0.0 to 1.0, got NaN".into());
    }
    with(ctx, |s| s.chance(p))
}

fn json(ctx: &NativeCallContext, value: &Dynamic) -> Result<serde_json::Value> {
    let engine = ctx.engine();
    to_json(value, |v| engine.map_type_name(v.type_name()).to_string())
        .map_err(|e| format!("{}(): {e}", ctx.fn_name()).into())
}

/// A script value as JSON: `()` is `null` (forget), and only strings, characters, numbers,
/// booleans, arrays and maps are accepted, at most [`MAX_DEPTH`] deep.
fn to_json(
    value: &Dynamic,
    type_name: impl Fn(&Dynamic) -> String,
) -> std::result::Result<Value, String> {
    fn go(
        value: &Dynamic,
        depth: usize,
        name: &dyn Fn(&Dynamic) -> String,
    ) -> std::result::Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(format!("remembered values nest at most {MAX_DEPTH} deep"));
        }
        if value.is_unit() {
            return Ok(Value::Null);
        }
        if let Ok(b) = value.as_bool() {
            return Ok(Value::Bool(b));
        }
        if let Ok(i) = value.as_int() {
            return Ok(Value::from(i));
        }
        if let Ok(f) = value.as_float() {
            return serde_json::Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(|| format!("cannot remember the number {f}"));
        }
        if let Ok(c) = value.as_char() {
            return Ok(Value::String(c.to_string()));
        }
        if value.is_string() {
            return Ok(Value::String(value.to_string()));
        }
        if let Some(array) = value.read_lock::<Array>() {
            return array
                .iter()
                .map(|v| go(v, depth + 1, name))
                .collect::<std::result::Result<_, _>>()
                .map(Value::Array);
        }
        if let Some(map) = value.read_lock::<Map>() {
            let mut out = serde_json::Map::new();
            for (k, v) in map.iter() {
                out.insert(k.to_string(), go(v, depth + 1, name)?);
            }
            return Ok(Value::Object(out));
        }
        Err(format!(
            "can remember strings, numbers, booleans, arrays and maps, not {}",
            name(value)
        ))
    }
    go(value, 0, &type_name)
}

/// A remembered JSON value back as a script value.
fn from_json(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => s.as_str().into(),
        Value::Array(items) => Dynamic::from_array(items.iter().map(from_json).collect()),
        Value::Object(map) => Dynamic::from_map(
            map.iter()
                .map(|(k, v)| (k.as_str().into(), from_json(v)))
                .collect(),
        ),
    }
}

/// A helper's own error, prefixed with the helper's name.
fn named<T>(ctx: &NativeCallContext, result: std::result::Result<T, String>) -> Result<T> {
    result.map_err(|e| format!("{}(): {e}", ctx.fn_name()).into())
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
