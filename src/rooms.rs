//! Other streamers' rooms: which rooms the listener hears besides its own, and what each is
//! called. The rooms given (`--room`, `rooms = [...]`) are ids or names; with the v2 API each
//! is resolved once through the platform's public lookup
//! (`GET /api/v1/users/streamer/<name>` → `streamer_id`) and remembered in `rooms.json` in
//! the state directory, so a restart needs no lookup and survives the platform being down.
//! v1 has no lookup: its rooms are ids, taken as given. A room that does not resolve stops the
//! start with one sentence naming it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{ApiVersion, Config};
use crate::error_text::with_causes;

/// How long one lookup may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest lookup answer read.
const MAX_LOOKUP_BYTES: usize = 256 * 1024;
/// Largest `rooms.json` read.
const MAX_CACHE_BYTES: u64 = 1024 * 1024;

/// One room the listener hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    /// The streamer's user id: what is joined, and where replies go.
    pub id: String,
    /// The name it was given by (or the platform's username for it), when known.
    pub name: Option<String>,
}

impl Room {
    /// A room known by its id only.
    pub fn id(id: String) -> Self {
        Self { id, name: None }
    }
}

/// Every room the listener hears: its own first, then the others as given.
#[derive(Debug, Clone, Default)]
pub struct Rooms {
    own: String,
    others: Vec<Room>,
}

impl Rooms {
    /// Only the own room.
    pub fn own_only(own: &str) -> Self {
        Self {
            own: own.to_string(),
            others: Vec::new(),
        }
    }

    /// The own room and `others` (the own room among them is dropped: it is heard anyway).
    pub fn new(own: &str, others: Vec<Room>) -> Self {
        let mut rooms = Self::own_only(own);
        for room in others {
            if room.id != own && !rooms.others.iter().any(|r| r.id == room.id) {
                rooms.others.push(room);
            }
        }
        rooms
    }

    /// The other rooms, as given.
    pub fn others(&self) -> &[Room] {
        &self.others
    }

    /// The room a script names (`reply_in`): the own room's id gives `""`, another room's id
    /// or the name it was given by gives its id; `None` for a room the listener does not hear.
    pub fn find(&self, given: &str) -> Option<&str> {
        if given == self.own {
            return Some("");
        }
        self.others
            .iter()
            .find(|r| r.id == given || r.name.as_deref() == Some(given))
            .map(|r| r.id.as_str())
    }
}

/// Why the rooms given cannot be heard.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    /// The platform says there is no such streamer.
    #[error("room {given:?} (--room / rooms): no streamer of that name or id at {url} ({status})")]
    Unknown {
        /// The name as given.
        given: String,
        /// The lookup address.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The lookup could not be done, and no earlier run resolved the name.
    #[error("room {given:?} (--room / rooms): cannot look it up at {url}: {why}")]
    Lookup {
        /// The name as given.
        given: String,
        /// The lookup address.
        url: String,
        /// What went wrong.
        why: String,
    },
}

/// `rooms.json`: the names earlier runs resolved, and their ids.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Cache {
    #[serde(default)]
    resolved: BTreeMap<String, String>,
}

/// The id an earlier start resolved `name` to, from `rooms.json` (what `reply --room NAME`
/// and the MCP tools use: they never look a name up themselves).
pub fn cached_id(state_dir: &Path, name: &str) -> Option<String> {
    let (text, _) = crate::files::read_small(&cache_path(state_dir), MAX_CACHE_BYTES).ok()?;
    let cache: Cache = serde_json::from_str(&text).ok()?;
    cache.resolved.get(name).cloned()
}

/// `rooms.json` in `state_dir`.
pub fn cache_path(state_dir: &Path) -> PathBuf {
    state_dir.join(crate::config::StateDir::ROOMS)
}

/// The rooms `config` names, resolved: ids from `rooms.json` when an earlier run resolved
/// them, else from the lookup (v2), else as given (v1). New resolutions are written back; a
/// cache that cannot be read or written is said and worked around, never fatal.
pub async fn resolve(config: &Config) -> Result<Rooms, RoomError> {
    let own = &config.creds.user_db_id;
    if config.rooms.is_empty() {
        return Ok(Rooms::own_only(own));
    }
    let path = cache_path(&config.state_dir);
    let mut cache = read_cache(&path);
    let mut changed = false;
    let mut others = Vec::new();
    for given in &config.rooms {
        let id = match (config.api, cache.resolved.get(given)) {
            (ApiVersion::V1, _) => given.clone(),
            (ApiVersion::V2, Some(id)) => id.clone(),
            (ApiVersion::V2, None) => {
                let id = lookup(config, given).await?;
                cache.resolved.insert(given.clone(), id.clone());
                changed = true;
                id
            }
        };
        if id != *given {
            tracing::info!(room = %id, "room {given:?} is streamer {id}");
        }
        others.push(Room {
            name: Some(given.clone()).filter(|name| *name != id),
            id,
        });
    }
    if changed {
        write_cache(&path, &cache);
    }
    Ok(Rooms::new(own, others))
}

/// The cache, or an empty one (said at warn) when it is there but unusable.
fn read_cache(path: &Path) -> Cache {
    match crate::files::read_small(path, MAX_CACHE_BYTES) {
        Ok((text, _)) => serde_json::from_str(&text).unwrap_or_else(|e| {
            tracing::warn!(
                "{}: not the rooms cache this program writes ({e}); looking the rooms up again",
                path.display()
            );
            Cache::default()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Cache::default(),
        Err(e) => {
            tracing::warn!(
                "cannot read {}: {e}; looking the rooms up again",
                path.display()
            );
            Cache::default()
        }
    }
}

fn write_cache(path: &Path, cache: &Cache) {
    let written = serde_json::to_vec_pretty(cache)
        .map_err(std::io::Error::other)
        .and_then(|bytes| crate::files::write_replacing(path, &bytes).map_err(Into::into));
    if let Err(e) = written {
        tracing::warn!(
            "cannot write {}: {e}; the rooms will be looked up again next start",
            path.display()
        );
    }
}

/// Ask the platform which streamer `given` is (a public endpoint: no token is sent).
async fn lookup(config: &Config, given: &str) -> Result<String, RoomError> {
    let url = format!(
        "{}/api/v1/users/streamer/{given}",
        config.api_url.trim_end_matches('/')
    );
    let failed = |why: String| RoomError::Lookup {
        given: given.to_string(),
        url: url.clone(),
        why,
    };
    let client = crate::platform::client(config, LOOKUP_TIMEOUT)
        .timeout(LOOKUP_TIMEOUT)
        .build()
        .map_err(|e| failed(with_causes(&e)))?;
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| failed(with_causes(&e)))?;
    let status = response.status();
    if matches!(status.as_u16(), 400 | 404) {
        return Err(RoomError::Unknown {
            given: given.to_string(),
            url,
            status: status.as_u16(),
        });
    }
    if !status.is_success() {
        return Err(failed(format!("the platform answered {status}")));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| failed(with_causes(&e)))?;
    if body.len() > MAX_LOOKUP_BYTES {
        return Err(failed(format!("an answer of {} bytes", body.len())));
    }
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| failed(format!("the answer is not JSON ({e})")))?;
    streamer_id(&value).ok_or_else(|| failed("the answer has no `streamer_id`".to_string()))
}

/// The `streamer_id` of a lookup answer: at the top, or in a `user`/`data`/`streamer` object
/// (the answer is undocumented); an id that no room could have is not taken.
fn streamer_id(answer: &Value) -> Option<String> {
    fn id(v: &Value) -> Option<&str> {
        v.get("streamer_id").and_then(Value::as_str).map(str::trim)
    }
    let found = id(answer).or_else(|| {
        ["user", "data", "streamer"]
            .iter()
            .find_map(|key| answer.get(key).and_then(id))
    })?;
    let usable = !found.is_empty()
        && found.len() <= 128
        && found
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    usable.then(|| found.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_streamer_id_is_found_where_the_answer_puts_it() {
        assert_eq!(
            streamer_id(&json!({"streamer_id": "u1", "username": "rival"})).as_deref(),
            Some("u1")
        );
        assert_eq!(
            streamer_id(&json!({"user": {"streamer_id": "u2"}})).as_deref(),
            Some("u2")
        );
        assert_eq!(streamer_id(&json!({"streamer_id": ""})), None);
        assert_eq!(streamer_id(&json!({"streamer_id": "a/b"})), None);
        assert_eq!(streamer_id(&json!({"streamer_id": 7})), None);
        assert_eq!(streamer_id(&json!(null)), None);
    }

    #[test]
    fn the_own_room_is_not_joined_twice_and_names_are_known() {
        let rooms = Rooms::new(
            "me",
            vec![
                Room {
                    id: "me".into(),
                    name: None,
                },
                Room {
                    id: "u1".into(),
                    name: Some("rival".into()),
                },
                Room {
                    id: "u1".into(),
                    name: None,
                },
            ],
        );
        assert_eq!(rooms.others().len(), 1);
        assert_eq!(rooms.find("me"), Some(""));
        assert_eq!(rooms.find("rival"), Some("u1"));
        assert_eq!(rooms.find("u1"), Some("u1"));
        assert_eq!(rooms.find("stranger"), None);
    }
}
