//! Gap-free chat: what viewers said while the socket could not hear it, read back from the
//! platform's chat history and handed to the personality, each message once.
//!
//! The source tells this task when the socket joins and when it is lost ([`Link`]), with the
//! newest handled message at that instant. After every join (and on the first poll of an
//! outage) it pages the history back, newest first, to that mark (less a little slack, for
//! clocks that disagree), to `[catchup] max_age_secs`, or to `max_pages`; then sends what was
//! not handled yet to the personality, oldest first, marked `late`. Live messages never wait
//! for it: it runs beside them, and [`Handled`] drops whichever copy of a message comes second.
//! While the socket has been out of reach for `poll_after_secs`, the history is polled
//! instead (every 3 s while chat is active, 10 s when it is quiet) until the socket is back.
//! A fresh state dir starts from the newest message in the history: nothing said before the
//! first start is answered.

mod handled;
pub mod history;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

pub use handled::{Handled, KEPT_ON_DISK, Mark, OpenReport};
pub use history::{History, HistoryError};

use crate::config::CatchupConfig;
use crate::event::ChatEvent;
use crate::health::{Feed, Health};
use crate::script::Decision;
use crate::time::now_ms;

/// How far before the mark a catch-up still looks: the platform's clock and the order it
/// stamps messages in need not agree with the order we handled them in. What is read twice
/// because of it is dropped by id.
const SLACK_MS: i64 = 5_000;
/// Chat counts as active (polled every `poll_active_secs`) when the newest message is this recent.
const ACTIVE_MS: i64 = 60_000;
/// First pause before a failed read is tried again; doubled up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(30);

/// What the source reports: the socket joined the room (`up`) or was lost, and the newest
/// message handled at that instant.
#[derive(Debug, Clone)]
pub struct Link {
    /// True: joined (catch up now); false: lost (poll if it lasts).
    pub up: bool,
    /// The newest handled message when it happened: what a catch-up reads back to.
    pub newest: Option<Mark>,
}

/// The listener's rule for late messages, whatever the personality: an instant reply to a
/// message caught up more than `window` after it was said is not sent (a `gm` answered
/// minutes later reads as a bot talking to itself). `Some(why)` when `decision` is held
/// back; acknowledgements and the queue are never held back.
pub fn held_back(
    decision: &Decision,
    event: &ChatEvent,
    now_ms: i64,
    window: Duration,
) -> Option<String> {
    let age_ms = now_ms.saturating_sub(event.ts);
    let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    match decision {
        Decision::Reply(text) | Decision::ReplyIn { text, .. }
            if event.late && age_ms > window_ms =>
        {
            Some(format!(
                "late: said {} s ago, past the {} s reply window ([catchup] reply_window_secs), so the reply {} is not sent",
                age_ms / 1000,
                window.as_secs(),
                crate::script::quote(text)
            ))
        }
        _ => None,
    }
}

/// Where a message read from the history comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A catch-up after a join (or the first poll of an outage): said while we could not hear.
    CatchUp,
    /// A poll while the socket is out of reach: said since the last poll.
    Poll,
}

/// Hands a message read from the history on to the personality (the daemon wraps it in the
/// decider's inbox, which this module need not know).
pub type Deliver = Box<dyn Fn(ChatEvent, Origin) + Send + Sync>;

/// The catch-up task and what it needs.
pub struct CatchUp {
    /// The settings.
    pub settings: CatchupConfig,
    /// The history endpoint.
    pub history: History,
    /// What was handled already.
    pub handled: Arc<Handled>,
    /// Where missed messages go: the personality's inbox.
    pub deliver: Deliver,
    /// Counters, where messages come from, the last history error.
    pub health: Arc<Health>,
    /// The agent's name and user id: its own messages are in the history too, and skipped.
    pub agent_name: String,
    pub user_db_id: String,
    /// Another streamer's room (`--room`) that this task catches up, with `history` reading
    /// it; `None` for the own room. Only the own room's task reports to health's `source` and
    /// `historyError`, and a restart starts another room afresh from its newest page (its
    /// backlog is theirs, not ours to answer); after every reconnect it is caught up the same.
    pub room: Option<crate::rooms::Room>,
}

/// The task's state between events.
struct State {
    socket_up: bool,
    /// Since when the socket has been out of reach.
    down_since: Instant,
    /// A catch-up owed, reading back to this mark.
    owed: Option<Mark>,
    /// When the next read may happen (a failed read waits before trying again).
    not_before: Instant,
    retry_pause: Duration,
    /// When the next poll is due, while polling.
    next_poll: Instant,
    /// The token was refused: no more reads until a restart.
    refused: bool,
    /// A fresh state dir's first history page: said before the first start, never caught up.
    before_start: HashSet<String>,
    /// When the socket last joined (epoch ms): what a catch-up finds said after it came on
    /// the socket too, and is not late, whichever copy is handled.
    joined_ms: i64,
}

impl CatchUp {
    /// Serve `links` until `shutdown`; returns at once (reporting the socket only) when
    /// `[catchup] enabled` is off.
    pub async fn run(
        self,
        mut links: mpsc::UnboundedReceiver<Link>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let now = Instant::now();
        let mut state = State {
            socket_up: false,
            down_since: now,
            owed: None,
            not_before: now,
            retry_pause: FIRST_RETRY,
            next_poll: now,
            refused: !self.settings.enabled,
            before_start: HashSet::new(),
            joined_ms: i64::MAX,
        };
        if !state.refused {
            state.owed = match (self.handled.newest(), &self.room) {
                (Some(mark), None) => Some(mark),
                _ => Some(self.baseline(&mut state).await),
            };
        }
        loop {
            let due = self.next_read(&state);
            tokio::select! {
                link = links.recv() => match link {
                    Some(link) => self.on_link(&mut state, link),
                    None => return,
                },
                () = sleep_until(due) => self.read(&mut state).await,
                _ = shutdown.changed() => return,
            }
        }
    }

    /// A fresh state dir: the newest history page is where catching up starts, and its
    /// messages are never caught up (nothing said before the first start is answered). They
    /// are not recorded as handled: the socket may still deliver one of them live, said after
    /// the join but read here first, and that copy must be answered. The cursor kept is
    /// time-only (the newest page item's time); when the page cannot be read, the time now.
    async fn baseline(&self, state: &mut State) -> Mark {
        let mut newest = Mark {
            id: String::new(),
            ts: now_ms(),
        };
        match self.history.page(None).await {
            Ok(page) => {
                self.count_page(&page);
                if let Some(ts) = page.events.iter().map(|e| e.ts).max() {
                    newest.ts = ts;
                }
                state.before_start = page.events.into_iter().map(|e| e.id).collect();
            }
            Err(error) => {
                tracing::debug!("no history to start from ({error}); starting from now");
            }
        }
        if self.room.is_some() {
            return newest;
        }
        self.handled.baseline(newest.clone());
        tracing::info!(
            "fresh state dir: nothing said before now will be answered (from {})",
            if state.before_start.is_empty() {
                "the time now"
            } else {
                "the newest message in the history"
            }
        );
        newest
    }

    fn on_link(&self, state: &mut State, link: Link) {
        state.socket_up = link.up;
        if link.up {
            state.joined_ms = now_ms();
        } else {
            state.down_since = Instant::now();
        }
        if state.refused {
            self.feed(if link.up { Feed::Socket } else { Feed::None });
            return;
        }
        // The oldest mark owed wins: an outage that ends during a catch-up still owes its start.
        if state.owed.is_none() {
            state.owed = link.newest.or_else(|| {
                Some(Mark {
                    id: String::new(),
                    ts: now_ms(),
                })
            });
        }
        if link.up {
            // The join may end a wait after a failed read: a new session, a fresh try.
            state.not_before = Instant::now();
            state.retry_pause = FIRST_RETRY;
            self.feed(Feed::CatchingUp);
        } else {
            self.feed(Feed::None);
        }
    }

    /// When the next history read is due; far away when none is.
    fn next_read(&self, state: &State) -> Instant {
        let never = Instant::now() + Duration::from_secs(86_400);
        if state.refused {
            return never;
        }
        let polling_from = state.down_since + self.settings.poll_after;
        let due = match (&state.owed, state.socket_up) {
            (Some(_), true) => Instant::now(),
            (_, false) => polling_from.max(state.next_poll),
            (None, true) => never,
        };
        due.max(state.not_before)
    }

    /// Catch up (when one is owed) or poll, then schedule the next poll.
    async fn read(&self, state: &mut State) {
        let since = state.owed.clone().or_else(|| self.handled.newest());
        if let Some(since) = since {
            self.read_since(state, since).await;
        }
        let active = self
            .handled
            .newest()
            .is_some_and(|m| now_ms() - m.ts < ACTIVE_MS);
        let every = if active {
            self.settings.poll_active
        } else {
            self.settings.poll_quiet
        };
        state.next_poll = Instant::now() + every;
    }

    /// One catch-up or poll back to `since`, its messages sent on, its error reported.
    async fn read_since(&self, state: &mut State, since: Mark) {
        let origin = if state.owed.is_some() {
            Origin::CatchUp
        } else {
            Origin::Poll
        };
        if !state.socket_up {
            self.feed(Feed::Polling);
        }
        match self.missed(&since, &state.before_start).await {
            Ok(missed) => {
                let count = missed.len();
                for mut event in missed {
                    if let Some(room) = &self.room {
                        event.room = Some(Box::new(room.clone()));
                    }
                    // Said after the join, it was heard live too: the history copy merely
                    // came first (a slow socket), and "sorry I missed this" would be wrong.
                    event.late = origin == Origin::CatchUp && event.ts < state.joined_ms;
                    (self.deliver)(event, origin);
                }
                if count > 0 || origin == Origin::CatchUp {
                    tracing::info!(
                        count,
                        "{} from the chat history",
                        match origin {
                            Origin::CatchUp => "caught up",
                            Origin::Poll => "polled",
                        }
                    );
                }
                state.owed = None;
                state.retry_pause = FIRST_RETRY;
                self.history_error(None);
            }
            Err(HistoryError::NotLive(status)) => {
                tracing::debug!("history: not live ({status}); nothing to catch up");
                state.owed = None;
                self.history_error(None);
            }
            Err(error @ HistoryError::Refused(_)) => {
                tracing::error!(
                    "{error}; catching up is off until the listener restarts: check the access token"
                );
                self.health.counters.history_errors.inc();
                self.history_error(Some(format!("{error}; catching up is off")));
                state.refused = true;
                state.owed = None;
            }
            Err(HistoryError::Retry(why)) => {
                self.health.counters.history_errors.inc();
                tracing::warn!("{why}; trying again in {}s", state.retry_pause.as_secs());
                self.history_error(Some(why));
                state.not_before = Instant::now() + state.retry_pause;
                state.retry_pause = (state.retry_pause * 2).min(MAX_RETRY);
            }
        }
        self.feed(match (state.socket_up, state.refused) {
            (true, _) => Feed::Socket,
            (false, false) => Feed::Polling,
            (false, true) => Feed::None,
        });
    }

    /// The messages said since `since` not handled yet, oldest first: pages read back until
    /// one reaches `since` (less [`SLACK_MS`]), `max_age_secs`, or `max_pages`.
    async fn missed(
        &self,
        since: &Mark,
        before_start: &HashSet<String>,
    ) -> Result<Vec<ChatEvent>, HistoryError> {
        let max_age_ms = i64::try_from(self.settings.max_age.as_millis()).unwrap_or(i64::MAX);
        let floor = since
            .ts
            .saturating_sub(SLACK_MS)
            .max(now_ms().saturating_sub(max_age_ms));
        let mut missed = Vec::new();
        let mut before: Option<String> = None;
        for _ in 0..self.settings.max_pages.max(1) {
            let page = self.history.page(before.as_deref()).await?;
            self.count_page(&page);
            let mut reached = false;
            for event in page.events {
                if event.ts < floor || (!since.id.is_empty() && event.id == since.id) {
                    reached = true;
                    break;
                }
                let own = event.is_own(&self.agent_name, &self.user_db_id);
                let old = before_start.contains(&event.id);
                if !own && !old && !self.handled.contains(&event.id) {
                    missed.push(event);
                }
            }
            if reached || page.len < self.history.page_size() {
                break;
            }
            match page.oldest {
                Some(id) => before = Some(id),
                None => break,
            }
        }
        missed.reverse();
        Ok(missed)
    }

    /// Where messages come from now, told to health by the own room's task only.
    fn feed(&self, feed: Feed) {
        if self.room.is_none() {
            self.health.set_feed(feed);
        }
    }

    /// The last history error (`None`: reads work), told to health by the own room's task
    /// only; another room's is in the log.
    fn history_error(&self, error: Option<String>) {
        if self.room.is_none() {
            self.health.set_history_error(error);
        }
    }

    fn count_page(&self, page: &history::Page) {
        let counters = &self.health.counters;
        counters.history_reads.inc();
        if page.skipped > 0 {
            counters.history_skipped.add(page.skipped as u64);
            tracing::debug!(
                skipped = page.skipped,
                "history items that are not messages skipped"
            );
        }
    }
}

async fn sleep_until(at: Instant) {
    tokio::time::sleep_until(at).await;
}
