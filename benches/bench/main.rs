//! The performance benchmark: the real release `retake-chat` binary, run as a child process
//! against the in-process fake retake.tv on 127.0.0.1, with the send rate limit off
//! (`[send] per_30s = 0`) and a real wake command (`sh` appending a line to a file).
//!
//! It measures start → joined room (median of 5 starts), 'gm' → reply latency at 200/s,
//! a 5,000-message burst (half instant, half queued), memory, CPU, open file descriptors,
//! the cost of one `on_message` call of the shipped personality and of `queue take` + `ack` at
//! 10,000 items (`queue.rs`), and a 200,000-message flood and a 1,000,000-message soak
//! (`flood.rs`), and the MCP server's wait, take and reply (`mcp.rs`), then prints a table
//! with the targets and optionally writes JSON. Everything happens in a temp directory.
//!
//! A tool, not a test: a `[[bench]]` target without libtest's harness, so `cargo bench` builds
//! it with the release settings (the bench profile inherits them) and passes it `--bench`.
//!
//! ```sh
//! cargo bench --bench bench                   # builds the binary itself first
//! cargo bench --bench bench -- --json out.json
//! cargo bench --bench bench -- --bin PATH     # benchmark that binary instead
//! cargo bench --bench bench -- --only flood   # the flood and the soak alone
//! cargo bench --bench bench -- --only queue   # only the queue row (no binary)
//! cargo bench --bench bench -- --only catchup # only the catch-up row
//! cargo bench --bench bench -- --only mcp     # only the MCP server's rows
//! ```

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use retake_chat::event::ChatEvent;
use retake_chat::fake::{FakeOptions, FakeRetake, SentRequest, wait_until};
use retake_chat::script::{EMBEDDED_PERSONALITY, Limits, Runtime};
use serde_json::{Value, json};
use tempfile::TempDir;

mod catchup;
mod flood;
mod mcp;
mod queue;

const ROOM: &str = "bench-room";
const AGENT: &str = "BenchAgent";
const TOKEN: &str = "rtk_bench_token";

const STARTS: usize = 5;
const LATENCY_MESSAGES: usize = 500;
const LATENCY_RATE_PER_S: u64 = 200;
const BURST_MESSAGES: usize = 5_000;
const SCRIPT_CALLS: usize = 200_000;
/// The personality's calls are made in this many rounds; the median round counts.
const SCRIPT_ROUNDS: usize = 10;
/// How long to wait after the last burst reply so a coalesced wake (1 s apart) has run.
const WAKE_SETTLE: Duration = Duration::from_millis(1_500);
/// No single wait in the benchmark lasts longer than this.
const PATIENCE: Duration = Duration::from_secs(30);

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let args = parse_args()?;
    if args.queue_only {
        eprintln!("queue take + ack at {} items…", queue::ITEMS);
        let times = queue::measure()?;
        let mut out = table(&[queue_row(&times)]);
        out.extend([String::new(), queue_note(&times), machine()]);
        println!("{}", out.join("\n"));
        return Ok(());
    }
    if cfg!(debug_assertions) {
        eprintln!("note: this benchmark was built without optimisation; the numbers of the");
        eprintln!("      in-process micro-benchmark will be meaningless");
    }
    let bin = match args.bin {
        Some(bin) => bin,
        None => build_binary()?,
    };
    eprintln!("benchmarking {}", bin.display());

    let fake = Arc::new(
        FakeRetake::start(FakeOptions {
            agent_name: AGENT.into(),
            user_db_id: ROOM.into(),
            ..FakeOptions::default()
        })
        .await
        .context("cannot start the fake retake.tv")?,
    );
    let fixture = Fixture::new(&fake)?;
    let clk_tck = clock_ticks();
    if args.catchup_only {
        eprintln!("catch-up of {} missed…", catchup::MISSED);
        let caught = catchup::measure(&fixture, &bin, &fake).await?;
        let mut out = table(&[catchup::row(&caught)]);
        out.extend([String::new(), machine()]);
        println!("{}", out.join("\n"));
        return Ok(());
    }
    if args.mcp_only {
        eprintln!("MCP server, {} rounds…", mcp::ROUNDS);
        let times = mcp::measure(&fixture, &bin, &fake).await?;
        let mut out = table(&mcp::rows(&times));
        out.extend([String::new(), machine()]);
        println!("{}", out.join("\n"));
        return Ok(());
    }
    if args.flood_only {
        eprintln!("flood of {}…", flood::FLOOD_MESSAGES);
        let flood = flood::measure_flood(&fixture, &bin, &fake).await?;
        eprintln!("soak of {}…", flood::SOAK_MESSAGES);
        let soak = flood::measure_soak(&fixture, &bin, &fake).await?;
        let mut out = table(&flood::rows(&flood, &soak));
        out.extend([String::new(), flood::note(&flood), machine()]);
        println!("{}", out.join("\n"));
        return Ok(());
    }

    eprintln!("start → joined, {STARTS} starts…");
    let start_ms = measure_starts(&fixture, &bin, &fake).await?;

    eprintln!("one listener for the load runs…");
    let mut child = Running::spawn(&fixture, &bin, &fake)?;
    thread::sleep(Duration::from_millis(500));
    let idle_rss_kb = status_kb(child.pid, "VmRSS")?;

    eprintln!("'gm' at {LATENCY_RATE_PER_S}/s, {LATENCY_MESSAGES} messages…");
    let latency = measure_latency(&fake).await?;

    eprintln!("burst of {BURST_MESSAGES}…");
    let self_before = cpu_ticks("self")?;
    let before = cpu_ticks(&child.pid.to_string())?;
    let burst = measure_burst(&fake, &fixture).await?;
    thread::sleep(WAKE_SETTLE);
    let after = cpu_ticks(&child.pid.to_string())?;
    let self_after = cpu_ticks("self")?;
    let peak_rss_kb = status_kb(child.pid, "VmHWM")?;
    let peak_fds = child.stop()?;
    let wakes = count_lines(&fixture.wake_file);
    let cpu = Cpu {
        listener_s: (after.own - before.own) as f64 / clk_tck,
        wakes_s: (after.children - before.children) as f64 / clk_tck,
        bench_s: (self_after.own - self_before.own) as f64 / clk_tck,
    };

    eprintln!("personality, {SCRIPT_CALLS} on_message calls…");
    let script_us = measure_script()?;

    eprintln!("queue take + ack at {} items…", queue::ITEMS);
    let queue = queue::measure()?;

    eprintln!("catch-up of {} missed…", catchup::MISSED);
    let caught_up = catchup::measure(&fixture, &bin, &fake).await?;

    eprintln!("MCP server, {} rounds…", mcp::ROUNDS);
    let mcp = mcp::measure(&fixture, &bin, &fake).await?;

    eprintln!("flood of {}…", flood::FLOOD_MESSAGES);
    let flood = flood::measure_flood(&fixture, &bin, &fake).await?;
    eprintln!("soak of {}…", flood::SOAK_MESSAGES);
    let soak = flood::measure_soak(&fixture, &bin, &fake).await?;

    let report = Report {
        start_ms,
        latency,
        burst,
        wakes,
        cpu,
        idle_rss_kb,
        peak_rss_kb,
        peak_fds,
        script_us,
        queue,
        caught_up,
        mcp,
        flood,
        soak,
    };
    println!("{}", report.table());
    println!("{}", machine());
    if let Some(path) = args.json {
        let text = serde_json::to_string_pretty(&report.json())?;
        fs::write(&path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

const USAGE: &str = "usage: cargo bench --bench bench [-- [--json PATH] [--bin PATH] [--only flood|queue|catchup|mcp]]";

/// The command line: where to write JSON, and which binary to run instead of building one.
struct Args {
    json: Option<PathBuf>,
    bin: Option<PathBuf>,
    /// Only the flood and the soak.
    flood_only: bool,
    /// Only the queue row (which needs no binary).
    queue_only: bool,
    /// Only the catch-up row.
    catchup_only: bool,
    /// Only the MCP server's rows.
    mcp_only: bool,
}

fn parse_args() -> Result<Args> {
    let mut args = std::env::args_os().skip(1);
    let mut parsed = Args {
        json: None,
        bin: None,
        flood_only: false,
        queue_only: false,
        catchup_only: false,
        mcp_only: false,
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().map(PathBuf::from).context(USAGE);
        match arg.to_str() {
            Some("--json") => parsed.json = Some(value()?),
            Some("--bin") => {
                // The listener runs in a scratch directory: a relative path must not move.
                let bin = value()?;
                let found = fs::canonicalize(&bin)
                    .with_context(|| format!("--bin {}: no such file", bin.display()))?;
                parsed.bin = Some(found);
            }
            Some("--only") => match value()?.to_str() {
                Some("flood") => parsed.flood_only = true,
                Some("queue") => parsed.queue_only = true,
                Some("catchup") => parsed.catchup_only = true,
                Some("mcp") => parsed.mcp_only = true,
                _ => bail!("--only takes `flood`, `queue`, `catchup` or `mcp`\n{USAGE}"),
            },
            // `cargo bench` passes it to every bench target; this one has no other mode.
            Some("--bench") => {}
            Some("-h" | "--help") => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => bail!("unknown argument {arg:?}\n{USAGE}"),
        }
    }
    Ok(parsed)
}

/// Build the release binary (a no-op when it is fresh) and return its path.
fn build_binary() -> Result<PathBuf> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(&cargo)
        // Both binaries: `retake-chat mcp` runs `retake-chat-mcp` beside it.
        .args(["build", "--release", "--quiet", "--bins"])
        .arg("--manifest-path")
        .arg(manifest_dir.join("Cargo.toml"))
        .status()
        .context("cannot run cargo to build the release binary")?;
    ensure!(status.success(), "`cargo build --release --bins` failed");
    // This benchmark lives in <target>/release/deps/; else fall back to the usual places.
    let exe = std::env::current_exe().context("cannot find this benchmark's own path")?;
    let target = match exe.parent().and_then(Path::parent) {
        Some(dir) if dir.ends_with("release") => dir.parent().map(Path::to_path_buf),
        _ => None,
    }
    .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
    .unwrap_or_else(|| manifest_dir.join("target"));
    let bin = target.join("release").join("retake-chat");
    ensure!(
        bin.is_file(),
        "{} is missing; run `cargo build --release` first",
        bin.display()
    );
    Ok(bin)
}

/// The temp directory with credentials, config and the wake command's output file.
struct Fixture {
    dir: TempDir,
    creds: PathBuf,
    config: PathBuf,
    wake_file: PathBuf,
    url: String,
}

impl Fixture {
    fn new(fake: &FakeRetake) -> Result<Self> {
        let dir = tempfile::tempdir().context("cannot create a temp directory")?;
        let creds = dir.path().join("credentials.json");
        let creds_json = json!({ "access_token": TOKEN, "userDbId": ROOM, "agent_name": AGENT });
        fs::write(&creds, creds_json.to_string()).context("cannot write the credentials")?;
        let wake_file = dir.path().join("wakes.txt");
        // A JSON string is a valid TOML basic string.
        let wake_path = serde_json::to_string(&wake_file.to_string_lossy())?;
        let config = dir.path().join("config.toml");
        let toml = format!(
            "[send]\nper_30s = 0\n\n[wake]\ncommand = [\"sh\", \"-c\", \"echo w >> \\\"$1\\\"\", \"sh\", {wake_path}]\n"
        );
        fs::write(&config, toml).context("cannot write the config file")?;
        Ok(Self {
            creds,
            config,
            wake_file,
            url: fake.url(),
            dir,
        })
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Start the binary as a user would, logging at `warn` into a file.
    fn spawn(&self, bin: &Path) -> Result<Child> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("stderr.log"))
            .context("cannot open the child's log file")?;
        Command::new(bin)
            .arg("--config")
            .arg(&self.config)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("RUST_LOG", "warn")
            .env("RETAKE_CREDS", &self.creds)
            .env("RETAKE_CHAT_URL", &self.url)
            .env("RETAKE_API_URL", &self.url)
            .env("RETAKE_STATE_DIR", self.state_dir())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))
    }

    /// The child's log, for error messages.
    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// Spawn, wait for the fake to see `joinRoom`, return the time it took.
fn spawn_and_join(fixture: &Fixture, bin: &Path, fake: &FakeRetake) -> Result<(Child, Duration)> {
    let joins_before = joins(fake);
    let started = Instant::now();
    let mut child = fixture.spawn(bin)?;
    loop {
        if joins(fake) > joins_before {
            return Ok((child, started.elapsed()));
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "the listener exited ({status}) before joining:\n{}",
                fixture.log_tail()
            );
        }
        if started.elapsed() > PATIENCE {
            let _ = child.kill();
            bail!(
                "the listener did not join within {PATIENCE:?}:\n{}",
                fixture.log_tail()
            );
        }
        thread::sleep(Duration::from_micros(200));
    }
}

fn joins(fake: &FakeRetake) -> usize {
    fake.joins().get(ROOM).copied().unwrap_or(0)
}

/// Start → joined for [`STARTS`] fresh processes; returns each, in milliseconds.
async fn measure_starts(fixture: &Fixture, bin: &Path, fake: &FakeRetake) -> Result<Vec<f64>> {
    let mut times = Vec::with_capacity(STARTS);
    for _ in 0..STARTS {
        let (mut child, took) = spawn_and_join(fixture, bin, fake)?;
        times.push(took.as_secs_f64() * 1e3);
        child.kill().context("cannot kill the listener")?;
        child.wait().context("cannot wait for the listener")?;
        // The next start must find an empty room.
        wait_for(
            || fake.room_size(ROOM) == 0,
            "the killed listener leaves the room",
        )
        .await?;
    }
    Ok(times)
}

/// The listener for the load runs, with a thread counting its open file descriptors.
struct Running {
    child: Child,
    pid: u32,
    sampling: Arc<AtomicBool>,
    peak_fds: Arc<AtomicUsize>,
    sampler: Option<thread::JoinHandle<()>>,
}

impl Running {
    fn spawn(fixture: &Fixture, bin: &Path, fake: &FakeRetake) -> Result<Self> {
        let (child, _) = spawn_and_join(fixture, bin, fake)?;
        let pid = child.id();
        let sampling = Arc::new(AtomicBool::new(true));
        let peak_fds = Arc::new(AtomicUsize::new(0));
        let sampler = {
            let (sampling, peak_fds) = (sampling.clone(), peak_fds.clone());
            let dir = PathBuf::from(format!("/proc/{pid}/fd"));
            thread::spawn(move || {
                while sampling.load(Ordering::Relaxed) {
                    if let Ok(entries) = fs::read_dir(&dir) {
                        peak_fds.fetch_max(entries.count(), Ordering::Relaxed);
                    }
                    thread::sleep(Duration::from_millis(5));
                }
            })
        };
        Ok(Self {
            child,
            pid,
            sampling,
            peak_fds,
            sampler: Some(sampler),
        })
    }

    /// SIGTERM, wait (killing after [`PATIENCE`]); returns the most fds seen open.
    fn stop(&mut self) -> Result<usize> {
        self.sampling.store(false, Ordering::Relaxed);
        if let Some(sampler) = self.sampler.take() {
            let _ = sampler.join();
        }
        let status = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .context("cannot run kill")?;
        ensure!(status.success(), "kill -TERM {} failed", self.pid);
        let asked = Instant::now();
        while self.child.try_wait()?.is_none() {
            if asked.elapsed() > PATIENCE {
                self.child.kill()?;
                bail!("the listener did not stop within {PATIENCE:?} of SIGTERM");
            }
            thread::sleep(Duration::from_millis(10));
        }
        Ok(self.peak_fds.load(Ordering::Relaxed))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.sampling.store(false, Ordering::Relaxed);
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Poll `condition` (the fake's [`wait_until`]) for at most [`PATIENCE`]; an error naming
/// `what` if it never held.
async fn wait_for(condition: impl FnMut() -> bool, what: &str) -> Result<()> {
    ensure!(
        wait_until(PATIENCE, condition).await,
        "timed out waiting until {what}"
    );
    Ok(())
}

/// Poll the fake until `expected` POSTs arrived after the first `skip`, or nothing new came
/// for ten seconds; returns every POST after `skip`.
fn collect_posts(fake: &FakeRetake, skip: usize, expected: usize) -> Vec<SentRequest> {
    let started = Instant::now();
    let (mut last_count, mut last_change) = (0, Instant::now());
    loop {
        // `sent()` clones everything, so poll gently: the timings come from `at`, not from here.
        let posts: Vec<SentRequest> = fake.sent().into_iter().skip(skip).collect();
        if posts.len() != last_count {
            (last_count, last_change) = (posts.len(), Instant::now());
        }
        let stalled = last_change.elapsed() > Duration::from_secs(10);
        if posts.len() >= expected || stalled || started.elapsed() > 2 * PATIENCE {
            return posts;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The first successful POST of each text, and when it arrived.
fn by_text(posts: &[SentRequest]) -> HashMap<String, Instant> {
    let mut map = HashMap::new();
    for post in posts.iter().filter(|p| p.status == 200) {
        if let Some(text) = post.body.get("message").and_then(Value::as_str) {
            map.entry(text.to_owned()).or_insert(post.at);
        }
    }
    map
}

/// What the shipped personality answers to 'gm' and to a question.
fn gm_reply(author: &str) -> String {
    format!("gm {author}! ☀️")
}
fn ack_reply(author: &str) -> String {
    format!("On it {author}! 💭")
}

/// Emit → POST latencies in milliseconds, sorted; messages without a reply are left out.
struct Latency {
    sorted_ms: Vec<f64>,
}

impl Latency {
    fn percentile(&self, q: f64) -> f64 {
        let n = self.sorted_ms.len();
        if n == 0 {
            return f64::NAN;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.sorted_ms[rank - 1]
    }
}

async fn measure_latency(fake: &FakeRetake) -> Result<Latency> {
    let skip = fake.sent().len();
    let period = Duration::from_nanos(1_000_000_000 / LATENCY_RATE_PER_S);
    let first = tokio::time::Instant::now() + Duration::from_millis(10);
    let mut emitted = Vec::with_capacity(LATENCY_MESSAGES);
    for i in 0..LATENCY_MESSAGES {
        // Absolute deadlines: a late tick does not push the following ones back.
        tokio::time::sleep_until(first + period * i as u32).await;
        let author = format!("lat{i}");
        let at = Instant::now();
        fake.emit_v1_message(ROOM, &format!("lat-{i}"), &author, "gm")
            .await;
        emitted.push((author, at));
    }
    let posts = collect_posts(fake, skip, LATENCY_MESSAGES);
    let replies = by_text(&posts);
    let mut sorted_ms: Vec<f64> = emitted
        .iter()
        .filter_map(|(author, at)| {
            let got = replies.get(&gm_reply(author))?;
            Some(got.saturating_duration_since(*at).as_secs_f64() * 1e3)
        })
        .collect();
    sorted_ms.sort_by(f64::total_cmp);
    ensure!(
        sorted_ms.len() == LATENCY_MESSAGES,
        "only {} of {LATENCY_MESSAGES} 'gm' got a reply",
        sorted_ms.len()
    );
    Ok(Latency { sorted_ms })
}

/// What the burst produced.
struct Burst {
    emit_ms: f64,
    last_reply_ms: f64,
    posts: usize,
    replies: usize,
    acks: usize,
    queued: usize,
    lost: usize,
}

async fn measure_burst(fake: &FakeRetake, fixture: &Fixture) -> Result<Burst> {
    let skip = fake.sent().len();
    let question = "what are you building today?";
    let started = Instant::now();
    for i in 0..BURST_MESSAGES {
        let text = if i % 2 == 0 { "gm" } else { question };
        fake.emit_v1_message(ROOM, &format!("burst-{i}"), &format!("b{i}"), text)
            .await;
    }
    let emit_ms = started.elapsed().as_secs_f64() * 1e3;
    let posts = collect_posts(fake, skip, BURST_MESSAGES);
    let last = posts.iter().map(|p| p.at).max().unwrap_or(started);
    let texts = by_text(&posts);
    let queued_ids = queue_ids(&fixture.state_dir().join("queue.jsonl"))?;
    let (mut replies, mut acks, mut queued, mut lost) = (0, 0, 0, 0);
    for i in 0..BURST_MESSAGES {
        let author = format!("b{i}");
        let replied = texts.contains_key(&gm_reply(&author));
        let acked = texts.contains_key(&ack_reply(&author));
        let in_queue = queued_ids.contains(&format!("burst-{i}"));
        replies += usize::from(replied);
        acks += usize::from(acked);
        queued += usize::from(in_queue);
        lost += usize::from(!replied && !in_queue);
    }
    Ok(Burst {
        emit_ms,
        last_reply_ms: last.saturating_duration_since(started).as_secs_f64() * 1e3,
        posts: posts.len(),
        replies,
        acks,
        queued,
        lost,
    })
}

/// Ids of the items in queue.jsonl.
fn queue_ids(path: &Path) -> Result<HashSet<String>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|item| item.get("id").and_then(Value::as_str).map(String::from))
        .collect())
}

fn count_lines(path: &Path) -> usize {
    fs::read_to_string(path).map_or(0, |text| text.lines().count())
}

/// Microseconds per `decide` of the shipped personality, half 'gm', half a question.
fn measure_script() -> Result<f64> {
    let runtime = Runtime::new(Limits::default());
    let personality = runtime
        .compile("<embedded>", EMBEDDED_PERSONALITY)
        .map_err(|e| anyhow::anyhow!("the shipped personality does not compile: {e}"))?;
    let event = |id: &str, text: &str| ChatEvent {
        id: id.into(),
        kind: "message".into(),
        author: "alice".into(),
        author_id: "alice".into(),
        wallet: "0xviewer".into(),
        text: text.into(),
        ts: 1_700_000_000_000,
        amount: None,
        late: false,
        ..ChatEvent::default()
    };
    let events = [
        event("m1", "gm"),
        event("m2", "what are you building today?"),
    ];
    for e in events.iter().cycle().take(10_000) {
        runtime
            .decide(&personality, e)
            .map_err(|e| anyhow::anyhow!("on_message failed: {e}"))?;
    }
    // The median of several rounds: a round that the scheduler or a neighbour on the host
    // interrupted does not move it, as it would move one long average.
    let per_round = SCRIPT_CALLS / SCRIPT_ROUNDS;
    let mut rounds: Vec<f64> = (0..SCRIPT_ROUNDS)
        .map(|_| {
            let started = Instant::now();
            for e in events.iter().cycle().take(per_round) {
                std::hint::black_box(
                    runtime
                        .decide(&personality, std::hint::black_box(e))
                        .is_ok(),
                );
            }
            started.elapsed().as_secs_f64() * 1e6 / per_round as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    Ok(rounds[rounds.len() / 2])
}

/// Clock ticks of a process and of its waited-for children.
struct Ticks {
    own: u64,
    children: u64,
}

/// utime+stime and cutime+cstime from `/proc/<pid>/stat` (`pid` may be `self`).
fn cpu_ticks(pid: &str) -> Result<Ticks> {
    let path = format!("/proc/{pid}/stat");
    let stat = fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    // The command name may hold spaces; every field after its closing parenthesis is numeric.
    let after_name = stat.rfind(')').map_or("", |i| &stat[i + 1..]);
    let fields: Vec<u64> = after_name
        .split_whitespace()
        .skip(11) // state … cmajflt; then utime stime cutime cstime (fields 14–17)
        .take(4)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("unexpected {path}"))?;
    ensure!(fields.len() == 4, "unexpected {path}");
    Ok(Ticks {
        own: fields[0] + fields[1],
        children: fields[2] + fields[3],
    })
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// A `kB` line of `/proc/<pid>/status`, e.g. `VmRSS` or `VmHWM`.
fn status_kb(pid: u32, key: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {key} in {path}"))
}

struct Cpu {
    listener_s: f64,
    wakes_s: f64,
    bench_s: f64,
}

struct Report {
    start_ms: Vec<f64>,
    latency: Latency,
    burst: Burst,
    wakes: usize,
    cpu: Cpu,
    idle_rss_kb: u64,
    peak_rss_kb: u64,
    peak_fds: usize,
    script_us: f64,
    queue: queue::QueueTimes,
    caught_up: catchup::CatchUp,
    mcp: mcp::McpTimes,
    flood: flood::Flood,
    soak: flood::Soak,
}

/// One row: what, measured, target (with whether it was met), the seed listener.
struct Row {
    what: String,
    measured: String,
    target: String,
    ok: Option<bool>,
    seed: &'static str,
}

impl Report {
    fn start_median_ms(&self) -> f64 {
        let mut sorted = self.start_ms.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    }

    fn cpu_total_s(&self) -> f64 {
        self.cpu.listener_s + self.cpu.wakes_s
    }

    fn rows(&self) -> Vec<Row> {
        let row = |what: &str, measured: String, target: &str, ok: Option<bool>, seed| Row {
            what: what.into(),
            measured,
            target: target.into(),
            ok,
            seed,
        };
        let lat = |q| self.latency.percentile(q);
        let mb = |kb: u64| kb as f64 / 1024.0;
        let b = &self.burst;
        vec![
            row(
                "start → joined (median of 5)",
                format!("{:.1} ms", self.start_median_ms()),
                "≤ 50 ms",
                Some(self.start_median_ms() <= 50.0),
                "~100 ms",
            ),
            row(
                "'gm' → reply p50, 200/s",
                format!("{:.2} ms", lat(0.5)),
                "",
                None,
                "0.7 ms",
            ),
            row(
                "'gm' → reply p90",
                format!("{:.2} ms", lat(0.9)),
                "",
                None,
                "",
            ),
            row(
                "'gm' → reply p99",
                format!("{:.2} ms", lat(0.99)),
                "≤ 1 ms",
                Some(lat(0.99) <= 1.0),
                "8–10 ms",
            ),
            row(
                "'gm' → reply max",
                format!("{:.2} ms", lat(1.0)),
                "",
                None,
                "",
            ),
            row(
                "burst 5,000: last reply after",
                format!("{:.0} ms", b.last_reply_ms),
                "≤ 2 s",
                Some(b.last_reply_ms <= 2000.0),
                "6.1–6.5 s",
            ),
            row(
                "burst: POSTs (replies + acks)",
                format!("{} ({} + {})", b.posts, b.replies, b.acks),
                "5,000",
                Some(b.replies + b.acks == BURST_MESSAGES),
                "",
            ),
            row(
                "burst: queue lines",
                b.queued.to_string(),
                "2,500",
                Some(b.queued == BURST_MESSAGES / 2),
                "",
            ),
            row("burst: wakes", self.wakes.to_string(), "", None, ""),
            row(
                "burst: lost",
                b.lost.to_string(),
                "0",
                Some(b.lost == 0),
                "",
            ),
            row(
                "burst: CPU, listener + wakes",
                format!(
                    "{:.2} s ({:.2} + {:.2})",
                    self.cpu_total_s(),
                    self.cpu.listener_s,
                    self.cpu.wakes_s
                ),
                "≤ 1 s",
                Some(self.cpu_total_s() <= 1.0),
                "9.2 s (3.7 + 5.5)",
            ),
            row(
                "resident memory, idle",
                format!("{:.1} MB", mb(self.idle_rss_kb)),
                "≤ 10 MB",
                Some(mb(self.idle_rss_kb) <= 10.0),
                "54 MB",
            ),
            row(
                "resident memory, peak",
                format!("{:.1} MB", mb(self.peak_rss_kb)),
                "≤ 30 MB",
                Some(mb(self.peak_rss_kb) <= 30.0),
                "170 MB",
            ),
            row(
                "open file descriptors, peak",
                self.peak_fds.to_string(),
                "≤ 64",
                Some(self.peak_fds <= 64),
                "12,000",
            ),
            row(
                "on_message, shipped personality",
                format!("{:.2} µs", self.script_us),
                "≤ 5 µs",
                Some(self.script_us <= 5.0),
                "",
            ),
            queue_row(&self.queue),
        ]
        .into_iter()
        .chain([catchup::row(&self.caught_up)])
        .chain(mcp::rows(&self.mcp))
        .chain(flood::rows(&self.flood, &self.soak))
        .collect()
    }

    fn table(&self) -> String {
        let mut out = table(&self.rows());
        out.push(String::new());
        out.push(queue_note(&self.queue));
        out.push(flood::note(&self.flood));
        out.push(format!(
            "starts: {} ms; burst emitted in {:.0} ms; the bench process (fake server) used {:.2} s CPU in the burst",
            self.start_ms
                .iter()
                .map(|ms| format!("{ms:.1}"))
                .collect::<Vec<_>>()
                .join(", "),
            self.burst.emit_ms,
            self.cpu.bench_s
        ));
        out.join("\n")
    }

    fn json(&self) -> Value {
        let b = &self.burst;
        json!({
            "start_to_joined_ms": { "median": self.start_median_ms(), "runs": self.start_ms },
            "gm_reply_latency_ms": {
                "rate_per_s": LATENCY_RATE_PER_S,
                "messages": LATENCY_MESSAGES,
                "p50": self.latency.percentile(0.5),
                "p90": self.latency.percentile(0.9),
                "p99": self.latency.percentile(0.99),
                "max": self.latency.percentile(1.0),
            },
            "burst": {
                "messages": BURST_MESSAGES,
                "emit_ms": b.emit_ms,
                "last_reply_ms": b.last_reply_ms,
                "posts": b.posts,
                "replies": b.replies,
                "acks": b.acks,
                "queue_lines": b.queued,
                "wakes": self.wakes,
                "lost": b.lost,
                "cpu_s": { "listener": self.cpu.listener_s, "wakes": self.cpu.wakes_s, "bench": self.cpu.bench_s },
            },
            "rss_mb": { "idle": self.idle_rss_kb as f64 / 1024.0, "peak": self.peak_rss_kb as f64 / 1024.0 },
            "peak_fds": self.peak_fds,
            "on_message_us": self.script_us,
            "queue_take_ack_ms": {
                "items": queue::ITEMS,
                "take_ack": self.queue.take_ack_ms,
                "take": self.queue.take_ms,
                "ack": self.queue.ack_ms,
                "max": self.queue.max_ms,
            },
            "flood": {
                "messages": flood::FLOOD_MESSAGES,
                "rss_kb": { "before": self.flood.rss_kb[0], "peak": self.flood.rss_kb[1], "handled": self.flood.rss_kb[2], "idle_after": self.flood.rss_kb[3] },
                "posted": self.flood.posted,
                "late_s": { "p50": self.flood.lateness.percentile(0.5) / 1000.0, "p99": self.flood.lateness.percentile(0.99) / 1000.0, "max": self.flood.lateness.percentile(1.0) / 1000.0 },
                "lost_questions": self.flood.lost_questions,
            },
            "catch_up": { "missed": catchup::MISSED, "rejoin_to_last_ms": self.caught_up.rejoin_to_last_ms },
            "mcp": { "rounds": mcp::ROUNDS, "wait_ms": self.mcp.wait_ms, "take_ms": self.mcp.take_ms, "reply_ms": self.mcp.reply_ms, "rss_kb": self.mcp.idle_rss_kb },
            "soak": { "messages": flood::SOAK_MESSAGES, "rss_kb": self.soak.rss_kb, "lost_questions": self.soak.lost_questions },
            "targets": self.rows().iter().filter_map(|r| {
                Some(json!({ "metric": r.what, "measured": r.measured, "target": r.target, "met": r.ok? }))
            }).collect::<Vec<_>>(),
            "machine": machine(),
        })
    }
}

/// The queue's row: the median take + ack.
fn queue_row(q: &queue::QueueTimes) -> Row {
    Row {
        what: format!("queue take 5 + ack 5, {} items", thousands(queue::ITEMS)),
        measured: format!("{:.2} ms", q.take_ack_ms),
        target: "≤ 5 ms".into(),
        ok: Some(q.take_ack_ms <= 5.0),
        seed: "",
    }
}

/// The queue's details under the table.
fn queue_note(q: &queue::QueueTimes) -> String {
    format!(
        "queue at {} items: take {:.2} ms + ack {:.2} ms (medians), slowest take + ack {:.1} ms",
        thousands(queue::ITEMS),
        q.take_ms,
        q.ack_ms,
        q.max_ms
    )
}

/// 10000 → "10,000".
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// CPU count, model and kernel, for the README.
fn machine() -> String {
    let cpus = thread::available_parallelism().map_or(0, usize::from);
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    // Other work on the machine shows up in the tails; the load average says how much there was.
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "machine: {cpus} × {model}, Linux {}, load average {}",
        kernel.trim(),
        load.join(" ")
    )
}

/// The table's lines: a header, then one line per row.
fn table(rows: &[Row]) -> Vec<String> {
    let width = |f: fn(&Row) -> &str, title: &str| {
        rows.iter()
            .map(|r| f(r).chars().count())
            .chain([title.chars().count()])
            .max()
            .unwrap_or(0)
    };
    let w = [
        width(|r| &r.what, "metric"),
        width(|r| &r.measured, "retake-chat"),
        width(|r| &r.target, "target"),
    ];
    let line = |a: &str, b: &str, c: &str, d: &str, e: &str| {
        format!(
            "| {a:<w0$} | {b:>w1$} | {c:<w2$} | {d} | {e}",
            w0 = w[0],
            w1 = w[1],
            w2 = w[2]
        )
        .trim_end()
        .to_owned()
            + " |"
    };
    let mut out = vec![
        line("metric", "retake-chat", "target", "  ", "seed (Node.js)"),
        format!(
            "| {} | {}: | {} | -- | --- |",
            "-".repeat(w[0]),
            "-".repeat(w[1] - 1),
            "-".repeat(w[2])
        ),
    ];
    for r in rows {
        let mark = match r.ok {
            Some(true) => "✓ ",
            Some(false) => "✗ ",
            None => "  ",
        };
        out.push(line(&r.what, &r.measured, &r.target, mark, r.seed));
    }
    out
}
