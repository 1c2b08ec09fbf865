//! `retake-chat run` (the default): resolve the config, then run the daemon until ctrl-c or
//! SIGTERM. With `--dry-run`, the same daemon decides and prints, carrying nothing out, in a
//! temporary state directory, so it can run beside the real listener and change nothing.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use crate::cli::RunArgs;
use crate::config::{self, Config, Env, ScriptChoice};
use crate::health::Health;

/// Listen until told to stop.
pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let mut config = config::resolve(&args.overrides(), &Env::from_process())?;
    match &config.script {
        ScriptChoice::File(path) => tracing::info!("personality: {}", path.display()),
        ScriptChoice::Embedded => tracing::info!(
            "personality: the built-in copy (no --script given and no ./scripts/personality.rhai)"
        ),
    }
    // Held to the end: the temporary state directory goes when the run does.
    let scratch = if args.dry_run {
        Some(dry_run(&mut config)?)
    } else {
        tracing::info!(
            "state directory: {} (queue.jsonl, health.json)",
            config.state_dir.display()
        );
        None
    };
    // One thread for all the I/O (the personality has its own, blocking file work goes to
    // tokio's pool): a listener waits on the network, and a second worker only cost memory
    // (0.5 MB idle RSS) without making the burst benchmark faster.
    // File work threads end after a second idle, not tokio's ten: each keeps glibc's cache of
    // the blocks it freed, which pins heap pages a burst is over with (`malloc.rs`).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_keep_alive(std::time::Duration::from_secs(1))
        .build()?;
    let health = Arc::new(Health::new());
    let options = crate::daemon::Options {
        health: health.clone(),
        ..Default::default()
    };
    runtime.block_on(crate::daemon::run_with(config, options, shutdown_signal()))?;
    if scratch.is_some() {
        eprintln!(
            "dry run over: {} messages decided, nothing sent, queued or woken. Without \
             --dry-run the listener answers for real.",
            health.counters.messages_in.get()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Turn `config` into a dry run: decisions printed, nothing carried out (`Config::dry_run`),
/// no wake command or URL, no metrics endpoint (the real listener may hold its port), and
/// a fresh temporary state directory, so no file of the real one is written, the real
/// listener's lock is not contended and its queue is never woken for. The script starts
/// with a copy of the real directory's `memory.json`, read only, so it behaves as it would.
fn dry_run(config: &mut Config) -> anyhow::Result<tempfile::TempDir> {
    let scratch = tempfile::Builder::new()
        .prefix("retake-chat-dry-run-")
        .tempdir()
        .context("cannot create a temporary state directory for the dry run")?;
    let memory = config.state_dir.memory();
    if memory.is_file() {
        let copy = scratch.path().join(crate::config::StateDir::MEMORY);
        if let Err(e) = std::fs::copy(&memory, &copy) {
            tracing::warn!(
                "cannot copy {} for the dry run ({e}); the script starts with no memory",
                memory.display()
            );
        }
    }
    tracing::info!(
        "dry run: each decision is printed on stdout; nothing is sent, queued or woken, and \
         {} is not touched (state in {}, removed at exit)",
        config.state_dir.display(),
        scratch.path().display()
    );
    config.state_dir = scratch.path().into();
    config.wake.command.clear();
    config.wake.url = None;
    config.metrics_addr = None;
    config.dry_run = true;
    Ok(scratch)
}

/// Completes on ctrl-c or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
