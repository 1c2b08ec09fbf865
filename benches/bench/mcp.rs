//! The MCP server, for the benchmark: the release `retake-chat mcp` driven by rmcp's client
//! over its pipes, on a state directory of its own. Measured over [`ROUNDS`] rounds (medians):
//! from a question appended to the queue (as the listener appends) to the return of a
//! `chat_wait` that was waiting for it; a `chat_take` of one item with its context; a
//! `chat_reply` with `ack` to the fake retake.tv; and the server's resident memory at rest.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use retake_chat::act::queue::{Queue, QueueItem};
use retake_chat::fake::FakeRetake;
use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

use super::{Fixture, ROOM, Row, status_kb};

/// Rounds of wait → take → reply.
pub const ROUNDS: usize = 20;

/// What the rounds took, ms each.
pub struct McpTimes {
    pub wait_ms: Vec<f64>,
    pub take_ms: Vec<f64>,
    pub reply_ms: Vec<f64>,
    pub idle_rss_kb: u64,
}

fn item(n: usize) -> QueueItem {
    QueueItem {
        id: format!("mcp-{n}"),
        author: format!("viewer{n}"),
        text: "what are you building today?".into(),
        ts: 1_769_994_070_263 + n as i64,
        kind: "message".into(),
        room: ROOM.into(),
        room_name: None,
        author_id: String::new(),
        wallet: String::new(),
        amount: None,
        queued_at: 1_769_994_070_300 + n as i64,
        leased_until: None,
        attempts: 0,
        late: false,
    }
}

async fn call(
    client: &RunningService<rmcp::RoleClient, ()>,
    tool: &'static str,
    args: Value,
) -> Result<Value> {
    let Value::Object(args) = args else {
        bail!("arguments must be an object")
    };
    let result = client
        .call_tool(CallToolRequestParams::new(tool).with_arguments(args))
        .await
        .with_context(|| format!("{tool} failed"))?;
    if result.is_error == Some(true) {
        bail!("{tool} refused: {:?}", result.content);
    }
    result
        .structured_content
        .with_context(|| format!("{tool} gave no structured result"))
}

/// Run the rounds against one `retake-chat mcp`.
pub async fn measure(fixture: &Fixture, bin: &Path, fake: &FakeRetake) -> Result<McpTimes> {
    let state = fixture.dir.path().join("mcp-state");
    std::fs::create_dir_all(&state).context("cannot create the MCP state directory")?;
    let queue = Queue::new(state.join("queue.jsonl"));
    let mut cmd = tokio::process::Command::new(bin);
    cmd.arg("mcp")
        .arg("--state-dir")
        .arg(&state)
        .env_clear()
        .env("HOME", fixture.dir.path())
        .env("RUST_LOG", "warn")
        .env("RETAKE_CREDS", &fixture.creds)
        .env("RETAKE_API_URL", &fixture.url);
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("cannot start retake-chat mcp")?;
    let pid = transport.id().context("the MCP server has no pid")?;
    let client = ().serve(transport).await.context("the MCP handshake failed")?;
    let mut times = McpTimes {
        wait_ms: Vec::new(),
        take_ms: Vec::new(),
        reply_ms: Vec::new(),
        idle_rss_kb: 0,
    };
    for n in 0..ROUNDS {
        // The wait is in flight (the server has it) before the question is appended.
        let waiting = call(&client, "chat_wait", json!({"timeout_secs": 10}));
        let append = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let queue = queue.clone();
            let appended = tokio::task::spawn_blocking(move || queue.append(&[item(n)]))
                .await
                .context("the append panicked")?;
            appended.context("cannot append to the queue")?;
            anyhow::Ok(Instant::now())
        };
        let (waited, appended) = tokio::join!(
            async {
                let result = waiting.await;
                (result, Instant::now())
            },
            append
        );
        let (waited, returned) = waited;
        if waited?["ready"] != true {
            bail!("chat_wait timed out with a question queued");
        }
        times
            .wait_ms
            .push(returned.duration_since(appended?).as_secs_f64() * 1000.0);

        let started = Instant::now();
        let taken = call(&client, "chat_take", json!({"max": 1})).await?;
        times.take_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        let id = taken["items"][0]["id"].clone();
        if id != json!(format!("mcp-{n}")) {
            bail!("chat_take gave {taken}");
        }
        let started = Instant::now();
        let text = format!("answer number {n}");
        call(&client, "chat_reply", json!({"text": text, "ack": [id]})).await?;
        times
            .reply_ms
            .push(started.elapsed().as_secs_f64() * 1000.0);
        if !fake
            .sent()
            .iter()
            .any(|r| r.body["message"] == text.as_str())
        {
            bail!("the reply did not reach the fake");
        }
    }
    times.idle_rss_kb = status_kb(pid, "VmRSS")?;
    client
        .cancel()
        .await
        .context("cannot close the MCP session")?;
    Ok(times)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The benchmark's rows.
pub fn rows(t: &McpTimes) -> Vec<Row> {
    let wait = median(&t.wait_ms);
    let max_wait = t.wait_ms.iter().copied().fold(0.0, f64::max);
    vec![
        Row {
            what: "MCP: question queued → chat_wait returns".into(),
            measured: format!("{wait:.1} ms median, {max_wait:.1} ms max of {ROUNDS}"),
            target: "≤ 1 s".into(),
            ok: Some(max_wait <= 1000.0),
            seed: "n/a (woken by a command)",
        },
        Row {
            what: "MCP: chat_take 1 (with context) / chat_reply + ack".into(),
            measured: format!(
                "{:.1} ms / {:.1} ms median",
                median(&t.take_ms),
                median(&t.reply_ms)
            ),
            target: "-".into(),
            ok: None,
            seed: "n/a (cat, curl)",
        },
        Row {
            what: "MCP server RSS after the rounds".into(),
            measured: format!("{:.1} MB", t.idle_rss_kb as f64 / 1024.0),
            target: "-".into(),
            ok: None,
            seed: "n/a",
        },
    ]
}
