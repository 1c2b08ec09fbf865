//! `retake-chat run` (the default): resolve the config, then run the daemon until ctrl-c or SIGTERM.

use std::process::ExitCode;

use crate::cli::RunArgs;
use crate::config::{self, Env, ScriptChoice};

/// Listen until told to stop.
pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let config = config::resolve(&args.overrides(), &Env::from_process())?;
    match &config.script {
        ScriptChoice::File(path) => tracing::info!("personality: {}", path.display()),
        ScriptChoice::Embedded => tracing::info!(
            "personality: the built-in copy (no --script given and no ./scripts/personality.rhai)"
        ),
    }
    tracing::info!(
        "state directory: {} (queue.jsonl, health.json)",
        config.state_dir.display()
    );
    // One thread for all the I/O (the personality has its own, blocking file work goes to
    // tokio's pool): a listener waits on the network, and a second worker only cost memory
    // (0.5 MB idle RSS) without making the burst benchmark faster.
    // File work threads end after a second idle, not tokio's ten: each keeps glibc's cache of
    // the blocks it freed, which pins heap pages a burst is over with (`malloc.rs`).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_keep_alive(std::time::Duration::from_secs(1))
        .build()?;
    runtime.block_on(crate::daemon::run(config, shutdown_signal()))?;
    Ok(ExitCode::SUCCESS)
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
