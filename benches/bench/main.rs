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
//! This file holds the run's order and its flags; the listener as a child process is
//! `child.rs`'s, the whole run's measurements `measure.rs`'s, the table and JSON `report.rs`'s.
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

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use retake_chat::fake::{FakeOptions, FakeRetake};

mod catchup;
mod child;
mod flood;
mod mcp;
mod measure;
mod queue;
mod report;

use child::{Fixture, Running, clock_ticks, cpu_ticks, joins, spawn_and_join, status_kb, wait_for};
use measure::{
    Burst, Latency, ack_reply, by_text, count_lines, gm_reply, measure_burst, measure_latency,
    measure_script, measure_starts,
};
use report::{Cpu, Report, Row, machine, queue_note, queue_row, table};

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
    let bin = match &args.bin {
        Some(bin) => bin.clone(),
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
    if let Some(out) = only(&args, &fixture, &bin, &fake).await? {
        println!("{}", out.join("\n"));
        return Ok(());
    }
    let report = whole_run(&fixture, &bin, &fake).await?;
    println!("{}", report.table());
    println!("{}", machine());
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report.json())?;
        fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// The rows `--only catchup|mcp|flood` asks for, measured, as the lines to print; `None`
/// for the whole run.
async fn only(
    args: &Args,
    fixture: &Fixture,
    bin: &Path,
    fake: &FakeRetake,
) -> Result<Option<Vec<String>>> {
    if args.catchup_only {
        eprintln!("catch-up of {} missed…", catchup::MISSED);
        let caught = catchup::measure(fixture, bin, fake).await?;
        let mut out = table(&[catchup::row(&caught)]);
        out.extend([String::new(), machine()]);
        return Ok(Some(out));
    }
    if args.mcp_only {
        eprintln!("MCP server, {} rounds…", mcp::ROUNDS);
        let times = mcp::measure(fixture, bin, fake).await?;
        let mut out = table(&mcp::rows(&times));
        out.extend([String::new(), machine()]);
        return Ok(Some(out));
    }
    if args.flood_only {
        eprintln!("flood of {}…", flood::FLOOD_MESSAGES);
        let flood = flood::measure_flood(fixture, bin, fake).await?;
        eprintln!("soak of {}…", flood::SOAK_MESSAGES);
        let soak = flood::measure_soak(fixture, bin, fake).await?;
        let mut out = table(&flood::rows(&flood, &soak));
        out.extend([String::new(), flood::note(&flood), machine()]);
        return Ok(Some(out));
    }
    Ok(None)
}

/// Every measurement, in order: the starts, one listener for the latency and the burst, the
/// in-process rows, then a fresh listener for each of catch-up, MCP, flood and soak.
async fn whole_run(fixture: &Fixture, bin: &Path, fake: &FakeRetake) -> Result<Report> {
    let clk_tck = clock_ticks();
    eprintln!("start → joined, {STARTS} starts…");
    let start_ms = measure_starts(fixture, bin, fake).await?;

    eprintln!("one listener for the load runs…");
    let mut child = Running::spawn(fixture, bin, fake)?;
    thread::sleep(Duration::from_millis(500));
    let idle_rss_kb = status_kb(child.pid, "VmRSS")?;

    eprintln!("'gm' at {LATENCY_RATE_PER_S}/s, {LATENCY_MESSAGES} messages…");
    let latency = measure_latency(fake).await?;

    eprintln!("burst of {BURST_MESSAGES}…");
    let self_before = cpu_ticks("self")?;
    let before = cpu_ticks(&child.pid.to_string())?;
    let burst = measure_burst(fake, fixture).await?;
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
    let caught_up = catchup::measure(fixture, bin, fake).await?;

    eprintln!("MCP server, {} rounds…", mcp::ROUNDS);
    let mcp = mcp::measure(fixture, bin, fake).await?;

    eprintln!("flood of {}…", flood::FLOOD_MESSAGES);
    let flood = flood::measure_flood(fixture, bin, fake).await?;
    eprintln!("soak of {}…", flood::SOAK_MESSAGES);
    let soak = flood::measure_soak(fixture, bin, fake).await?;

    Ok(Report {
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
    })
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
