//! How the sandbox is told to leave at once: Ctrl-C, SIGTERM and SIGHUP, listened for from
//! before its state directory exists, so every way out removes it.

use anyhow::Context;

/// Ctrl-C, SIGTERM and SIGHUP (the terminal went away): each means "leave now". Registered
/// when made, not when first awaited, so none is missed in between.
pub(super) struct Leave {
    #[cfg(unix)]
    signals: [tokio::signal::unix::Signal; 3],
}

impl Leave {
    pub(super) fn listen() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind| signal(kind).context("cannot listen for signals");
            Ok(Self {
                signals: [
                    listen(SignalKind::interrupt())?,
                    listen(SignalKind::terminate())?,
                    listen(SignalKind::hangup())?,
                ],
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Completes when told to leave.
    pub(super) async fn recv(&mut self) {
        #[cfg(unix)]
        {
            let [int, term, hup] = &mut self.signals;
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
