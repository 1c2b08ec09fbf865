//! The sandbox's conversation: typed lines read one at a time, each said (as a viewer, a
//! live-room event, `/late`, `/quiet` …) and its outcome shown on the screen before the next
//! is read; at the end of the input, what is still coming is let through. Starting and
//! stopping the listener is `sandbox.rs`'s.

use std::time::Duration;

use tokio::io::AsyncBufReadExt;
use tokio::task::JoinHandle;

use super::leave::Leave;
use super::screen::Screen;
use super::viewer::{self, Command, Viewer};
use super::{HELP, OUTCOME_WITHIN, POLL, ROOM, SETTLE, live};
use crate::fake::FakeRetake;
use crate::fake::wait_until;
use crate::health::Health;

/// How the typed lines ended.
pub(super) enum End {
    /// The input ended, or `/quit`.
    Input,
    /// The listener stopped by itself.
    Listener(Result<anyhow::Result<()>, tokio::task::JoinError>),
    /// Ctrl-C, SIGTERM or SIGHUP.
    Told,
}

/// The running sandbox: the fake, the listener's health (what the screen's waits look at),
/// and its `/quiet`.
pub(super) struct Sandbox<'a> {
    pub(super) fake: &'a FakeRetake,
    pub(super) health: &'a Health,
    pub(super) quiet_tx: tokio::sync::mpsc::UnboundedSender<()>,
}

impl Sandbox<'_> {
    /// Read typed lines until the input ends: each is said, and its outcome shown, before the
    /// next is read, so piped input is shown in its own order.
    pub(super) async fn converse(
        &self,
        screen: &mut Screen,
        daemon: &mut JoinHandle<anyhow::Result<()>>,
        leave: &mut Leave,
    ) -> End {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        let mut viewer = Viewer::new();
        let mut poll = tokio::time::interval(POLL);
        loop {
            let line = tokio::select! {
                line = lines.next_line() => line,
                _ = poll.tick() => {
                    screen.update(self.fake, self.health);
                    continue;
                }
                ended = &mut *daemon => return End::Listener(ended),
                () = leave.recv() => return End::Told,
            };
            let Ok(Some(line)) = line else {
                return End::Input;
            };
            let handled = self.handled();
            let Some(expected) = self.perform(&mut viewer, screen, &line).await else {
                return End::Input;
            };
            tokio::select! {
                _ = wait_until(OUTCOME_WITHIN, || {
                    screen.update(self.fake, self.health);
                    self.handled() >= handled + expected && self.shown(screen)
                }) => {}
                ended = &mut *daemon => return End::Listener(ended),
                () = leave.recv() => return End::Told,
            }
        }
    }

    /// Do what one typed line says: how many events the listener will take in for it, or
    /// `None` for `/quit`.
    async fn perform(&self, viewer: &mut Viewer, screen: &mut Screen, line: &str) -> Option<u64> {
        let fake = self.fake;
        let expected = match viewer.command(line) {
            Command::Say(events) => {
                let expected = viewer::decided(&events);
                for (room, event, payload) in events {
                    fake.emit(&room, event, payload).await;
                }
                expected
            }
            Command::Pin((room, event, payload)) => {
                // Pins come in the live session's room, which the listener joins once a chat
                // line (or /live) has named the session.
                if viewer.named_session
                    && wait_until(Duration::from_secs(5), || fake.room_size(&room) >= 1).await
                {
                    fake.emit(&room, event, payload).await;
                    1
                } else {
                    viewer.said -= 1;
                    eprintln!(
                        "(not pinned: pins come in the live session's room, which the listener joins once it has heard of the session; say something or /live first)"
                    );
                    0
                }
            }
            Command::Late(payload) => {
                eprintln!(
                    "(said while the listener could not hear: the socket drops now, and the listener catches it up from the history when it is back)"
                );
                fake.add_history(ROOM, payload);
                screen.dropping();
                fake.disconnect_all().await;
                1
            }
            Command::Quiet => {
                eprintln!(
                    "(the room counts as quiet now: on_quiet runs, if the personality has one)"
                );
                let _ = self.quiet_tx.send(());
                0
            }
            Command::Help => {
                eprintln!("{HELP}\n{}", live::HELP);
                0
            }
            Command::Quit => return None,
            Command::Nothing => 0,
            Command::Bad(why) => {
                eprintln!("{why}");
                0
            }
        };
        Some(expected)
    }

    /// Events the listener has taken in: decided, or dropped as a repeat, moderation, a
    /// payload it cannot read or a tip's second copy (not the bot's own echoes, which the
    /// agent's replies cause at any time; a line the bot says itself is not counted).
    fn handled(&self) -> u64 {
        let c = &self.health.counters;
        c.messages_in.get()
            + c.duplicates.get()
            + c.moderation.get()
            + c.malformed.get()
            + c.tip_duplicates.get()
    }

    /// Whether the screen shows every decision made so far (each one is published, also
    /// when the decision log falls behind), and its texts' fates.
    fn shown(&self, screen: &Screen) -> bool {
        screen.records >= self.health.counters.messages_in.get() && screen.settled()
    }
}

/// Let everything still coming be shown: output is complete after [`SETTLE`] without news.
pub(super) async fn settle(screen: &mut Screen, sandbox: &Sandbox<'_>) {
    let mut quiet_since = tokio::time::Instant::now();
    let mut seen = screen.printed;
    while quiet_since.elapsed() < SETTLE || !sandbox.shown(screen) {
        if quiet_since.elapsed() > OUTCOME_WITHIN {
            return;
        }
        tokio::time::sleep(POLL).await;
        screen.update(sandbox.fake, sandbox.health);
        if screen.printed != seen {
            seen = screen.printed;
            quiet_since = tokio::time::Instant::now();
        }
    }
}
