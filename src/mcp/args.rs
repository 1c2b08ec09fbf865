//! Tool arguments, checked by name: an argument of the wrong type, out of range or unknown is
//! one sentence naming it and what it takes, returned to the model as a tool error it can act
//! on (a JSON-RPC "invalid params" would say only that deserializing failed). `null` counts as
//! left out. The JSON schemas the tools advertise are built here too, from the same bounds.

use std::sync::Arc;

use rmcp::model::JsonObject;
use serde_json::{Value, json};

/// A whole-number argument: its name, what it means, its default and its bounds.
pub struct Whole {
    pub name: &'static str,
    pub about: &'static str,
    pub default: Option<u64>,
    pub min: u64,
    pub max: u64,
}

/// One call's arguments, for one tool.
pub struct Args {
    tool: &'static str,
    map: JsonObject,
}

impl Args {
    /// The arguments of a call to `tool`, which takes the arguments named `known`.
    pub fn new(tool: &'static str, map: JsonObject, known: &[&str]) -> Result<Self, String> {
        let mut unknown: Vec<&str> = map
            .keys()
            .map(String::as_str)
            .filter(|key| !known.contains(key))
            .collect();
        if !unknown.is_empty() {
            unknown.sort_unstable();
            let takes = if known.is_empty() {
                "it takes none".to_string()
            } else {
                format!("it takes {}", known.join(", "))
            };
            return Err(format!(
                "{tool} has no argument {}: {takes}",
                quoted(&unknown)
            ));
        }
        Ok(Self { tool, map })
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.map.get(name).filter(|value| !value.is_null())
    }

    /// A whole number within its bounds; its default when left out (`None` if it has none).
    pub fn whole(&self, spec: &Whole) -> Result<Option<u64>, String> {
        let Some(value) = self.get(spec.name) else {
            return Ok(spec.default);
        };
        let number = match value {
            Value::Number(n) => n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            }),
            _ => None,
        };
        match number {
            Some(n) if (spec.min..=spec.max).contains(&n) => Ok(Some(n)),
            _ => Err(format!(
                "{}: `{}` must be a whole number from {} to {}, got {}",
                self.tool,
                spec.name,
                spec.min,
                spec.max,
                shown(value)
            )),
        }
    }

    /// A string that must be there.
    pub fn text(&self, name: &str) -> Result<String, String> {
        match self.get(name) {
            Some(Value::String(text)) => Ok(text.clone()),
            Some(other) => Err(format!(
                "{}: `{name}` must be a string, got {}",
                self.tool,
                shown(other)
            )),
            None => Err(format!("{}: `{name}` is required", self.tool)),
        }
    }

    /// A string that may be left out (or `null`).
    pub fn optional_text(&self, name: &str) -> Result<Option<String>, String> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.text(name).map(Some),
        }
    }

    /// A list of non-empty strings (an id, or an array of them); empty when left out unless
    /// `required`.
    pub fn ids(&self, name: &str, required: bool) -> Result<Vec<String>, String> {
        let bad = |value: &Value| {
            format!(
                "{}: `{name}` must be an array of item ids (strings from chat_take), got {}",
                self.tool,
                shown(value)
            )
        };
        let ids: Vec<String> = match self.get(name) {
            None => Vec::new(),
            Some(Value::String(id)) => vec![id.clone()],
            Some(value @ Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| bad(value))?,
            Some(value) => return Err(bad(value)),
        };
        if ids.iter().any(|id| id.trim().is_empty()) {
            return Err(format!("{}: `{name}` holds an empty id", self.tool));
        }
        if required && ids.is_empty() {
            return Err(format!(
                "{}: `{name}` needs at least one item id (from chat_take)",
                self.tool
            ));
        }
        Ok(ids)
    }
}

/// `a`, or `a, b`.
fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value as the model sent it, cut short.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// The input schema of a tool: an object with these properties, `required` ones named.
pub fn schema(properties: Value, required: &[&str]) -> Arc<JsonObject> {
    let mut schema = json!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    match schema {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

impl Whole {
    /// Its property in a schema.
    pub fn property(&self) -> Value {
        let mut property = json!({
            "type": "integer",
            "minimum": self.min,
            "description": self.about,
        });
        // A time has no useful upper bound to show.
        if self.max < u64::from(u32::MAX) {
            property["maximum"] = json!(self.max);
        }
        if let Some(default) = self.default {
            property["default"] = json!(default);
        }
        property
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(value: Value, known: &[&str]) -> Result<Args, String> {
        let Value::Object(map) = value else {
            panic!("an object")
        };
        Args::new("chat_take", map, known)
    }

    const MAX: Whole = Whole {
        name: "max",
        about: "",
        default: Some(5),
        min: 1,
        max: 100,
    };

    #[test]
    fn numbers_are_checked_by_name() {
        let known = &["max"];
        assert_eq!(args(json!({}), known).unwrap().whole(&MAX), Ok(Some(5)));
        assert_eq!(
            args(json!({"max": null}), known).unwrap().whole(&MAX),
            Ok(Some(5))
        );
        assert_eq!(
            args(json!({"max": 7.0}), known).unwrap().whole(&MAX),
            Ok(Some(7))
        );
        assert_eq!(
            args(json!({"max": "five"}), known).unwrap().whole(&MAX),
            Err("chat_take: `max` must be a whole number from 1 to 100, got \"five\"".into())
        );
        assert!(args(json!({"max": 0}), known).unwrap().whole(&MAX).is_err());
        assert!(
            args(json!({"max": 2.5}), known)
                .unwrap()
                .whole(&MAX)
                .is_err()
        );
        assert!(
            args(json!({"max": -1}), known)
                .unwrap()
                .whole(&MAX)
                .is_err()
        );
    }

    #[test]
    fn unknown_arguments_are_named_with_what_the_tool_takes() {
        let error = args(json!({"lease": 5, "max": 1}), &["max", "lease_secs"])
            .err()
            .expect("refused");
        assert_eq!(
            error,
            "chat_take has no argument `lease`: it takes max, lease_secs"
        );
    }

    #[test]
    fn ids_take_a_string_or_an_array_of_strings() {
        let known = &["ids"];
        let ids = |value| args(value, known).unwrap().ids("ids", true);
        assert_eq!(ids(json!({"ids": "q1"})), Ok(vec!["q1".to_string()]));
        assert_eq!(ids(json!({"ids": ["q1", "q2"]})).map(|v| v.len()), Ok(2));
        assert!(ids(json!({"ids": []})).is_err());
        assert!(ids(json!({"ids": [1]})).is_err());
        assert!(ids(json!({"ids": [""]})).is_err());
        assert!(ids(json!({})).is_err());
    }
}
