//! Two MCP servers on one queue, as when two agent sessions run at once: taking concurrently,
//! each item is handed out exactly once.

use std::collections::HashSet;

use serde_json::json;

use super::{Client, enqueue, question, taken_ids};

/// Take 3 at a time until nothing is left; every id taken.
async fn drain(client: &Client) -> Vec<String> {
    let mut ids = Vec::new();
    loop {
        let taken = taken_ids(&client.ok("chat_take", json!({"max": 3})).await);
        if taken.is_empty() {
            return ids;
        }
        ids.extend(taken);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_taking_at_once_never_get_the_same_item() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let items: Vec<_> = (0..60)
        .map(|n| {
            question(
                &format!("s{n}"),
                "viewer",
                "a question?",
                1_769_994_000_000 + n,
            )
        })
        .collect();
    enqueue(&state, &items);
    let (one, two) = tokio::join!(Client::offline(&state), Client::offline(&state));
    let (first, second) = tokio::join!(drain(&one), drain(&two));
    let mut all: Vec<&String> = first.iter().chain(&second).collect();
    let unique: HashSet<&String> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "an id was handed out twice");
    all.sort_by_key(|id| id[1..].parse::<u32>().unwrap_or(u32::MAX));
    let expected: Vec<String> = (0..60).map(|n| format!("s{n}")).collect();
    assert_eq!(all, expected.iter().collect::<Vec<_>>(), "every item once");
    eprintln!(
        "mcp sharing: one client took {}, the other {}",
        first.len(),
        second.len()
    );
    one.close().await;
    two.close().await;
}
