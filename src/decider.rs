//! The personality stage, on its own OS thread: everything between a raw payload and an
//! action. Normalize, drop what is not viewer chat (moderation, the agent's own echo, server
//! repeats), ask the script, log the decision, hand it to `act`. The same thread says the
//! script's `on_start` line, fires its timers and its `on_quiet` (dead air) on its own
//! tick (`decider/tick.rs`), so all script calls happen in one place, one at a time; the
//! runtime saves memory on a thread of its own, and this one only flushes it at the end. When
//! more messages wait than `[backlog] personality` (a slow script under a flood), the oldest
//! go to the queue without the script: nothing piles up in memory and nothing is lost.
//! Live-room events (tips, trades, going live, pins, follows) take the same path, with
//! `live`'s checks: their own repeat check, one `on_tip` per tip, and the live session's room
//! learned from the payloads.
//! Its inbox, [`Inbound`], is filled by the sockets (`source`), the catch-ups and the daemon.

mod tick;

use std::sync::Arc;

use serde_json::Value;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::act::Actions;
use crate::catchup::{Handled, Origin, held_back};
use crate::decision_log::{DecisionLog, Record};
use crate::event::{ChatEvent, Normalized, Via, normalize, normalize_follow};
use crate::health::{Health, Status};
use crate::live::Live;
use crate::rooms::Rooms;
use crate::script::quiet::breaks_silence;
use crate::script::{Decision, Personality, Schedule, ScriptError, ScriptHost, Silence, hooks};
use crate::time::now_ms;
use crate::transcript::Transcript;
use tick::Tick;

/// What the personality stage is handed: by the sockets, the catch-ups and the daemon.
#[derive(Debug)]
pub enum Inbound {
    /// The first argument of a `message` event, unparsed, when it was read off the socket (an
    /// instant reply's deadline counts from then), and the room of the socket it came on when
    /// that socket hears one other room only (v1's payloads name no room).
    Message(Value, Instant, Option<Arc<str>>),
    /// The first argument of a `user_followed` event (v2's `live_<id>` room), unparsed, and
    /// when it was read.
    Follow(Value, Instant),
    /// The first argument of another live-room event (`tip_received`, `newtrade`,
    /// `session_started`, `pinned`), unparsed, and when it was read.
    Live(crate::live::Kind, Value, Instant),
    /// An event nobody here handles: its name (capped) and first argument, to be counted.
    Unknown(String, Value),
    /// A message read from the chat history (already normalized): missed while the socket
    /// could not hear it, or polled while it is out of reach; and when it was read (an instant
    /// reply's deadline counts from then, as for the socket's, not from when this thread
    /// gets to it: a slow script must not stretch the deadline of what waits behind it).
    History(Box<ChatEvent>, Origin, Instant),
    /// Take the own room as quiet now: `on_quiet` runs at once, however long it has been quiet
    /// (the sandbox's `/quiet`).
    Quiet,
    /// Nothing more will come: the listener is shutting down. (A socket task the library has
    /// not yet wound down may still hold a sender, so the channel closing cannot mean this.)
    End,
}

/// The personality stage and what it needs.
pub struct Decider {
    /// The script engine and its session (counts, cooldowns, memory, clock).
    pub runtime: Arc<ScriptHost>,
    /// The running personality; hot reload swaps it.
    pub current: watch::Receiver<Arc<Personality>>,
    /// Where decisions go.
    pub actions: Actions,
    /// Counters and errors.
    pub health: Arc<Health>,
    /// The agent's display name: its own echoed messages are dropped.
    pub agent_name: String,
    /// The streamer's user id: messages from it are the agent's own too.
    pub user_db_id: String,
    /// The decision log.
    pub log: DecisionLog,
    /// Past this many messages waiting, the oldest are queued without asking the script.
    pub backlog: usize,
    /// What was handled already (socket, history, earlier runs): each id gets one decision.
    pub handled: Arc<Handled>,
    /// A late message older than this gets no instant reply.
    pub reply_window: std::time::Duration,
    /// Where every handled viewer message is written down, for the agent's context.
    pub transcript: Transcript,
    /// How long the own room must be quiet before `on_quiet` runs; zero never.
    pub quiet_after: std::time::Duration,
    /// The live-room events' state: first payloads logged, repeats, tip pairs, the session.
    pub live: Live,
    /// The rooms heard: the own room and the other streamers' (`--room`).
    pub rooms: Arc<Rooms>,
    /// How often the timers and dead air are looked at (timers come due on these ticks).
    pub tick: std::time::Duration,
}

/// What the loop keeps between inbounds for the script's own hooks.
struct Timers {
    /// The personality the timers were built from: a reload is noticed on the next tick.
    personality: Arc<Personality>,
    /// The script's timers.
    schedule: Schedule,
    /// How long the own room has been quiet.
    silence: Silence,
}

impl Timers {
    /// Say the personality's `on_start` line and set up its timers.
    fn start(decider: &Decider) -> Self {
        let personality = decider.current.borrow().clone();
        decider.speak("on_start", decider.runtime.start(&personality));
        Self {
            schedule: Schedule::new(&personality, decider.runtime.now_ms()),
            silence: Silence::new(decider.quiet_after),
            personality,
        }
    }
}

/// What waiting for the inbox gave.
enum Next {
    Inbound(Inbound),
    /// `until` came first.
    Due,
    /// Every sender is gone.
    Closed,
}

/// The next inbound, waiting for it until `until` at the latest. What already waits is taken
/// without the runtime (a flood costs no timer); only an empty inbox waits on `tokio`'s timer.
fn next(raw_rx: &mut mpsc::UnboundedReceiver<Inbound>, tokio: &Handle, until: Instant) -> Next {
    match raw_rx.try_recv() {
        Ok(inbound) => return Next::Inbound(inbound),
        Err(mpsc::error::TryRecvError::Disconnected) => return Next::Closed,
        Err(mpsc::error::TryRecvError::Empty) => {}
    }
    // Made inside `block_on`: the timer needs the runtime's context.
    let waited = tokio.block_on(async { tokio::time::timeout_at(until, raw_rx.recv()).await });
    match waited {
        Ok(Some(inbound)) => Next::Inbound(inbound),
        Ok(None) => Next::Closed,
        Err(_) => Next::Due,
    }
}

impl Decider {
    /// Handle everything from `raw_rx` until [`Inbound::End`]; blocks the calling thread.
    /// Waiting for the next inbound is bounded by the next [`tick`](Self::tick), the
    /// runtime's timer (`tokio`) keeping the time; the tick is looked at after every inbound
    /// too, so a flood does not hold timers back.
    pub fn run(self, mut raw_rx: mpsc::UnboundedReceiver<Inbound>, tokio: Handle) {
        let mut timers = Timers::start(&self);
        let (handled, health) = (self.handled.clone(), self.health.clone());
        let mut tick = Tick::new(self.tick, handled, health, tokio.clone());
        loop {
            match next(&mut raw_rx, &tokio, tick.at()) {
                Next::Inbound(inbound) => {
                    if !self.take(inbound, raw_rx.len(), &mut timers) {
                        break;
                    }
                }
                Next::Due => {}
                Next::Closed => break,
            }
            if tick.take_due() {
                self.on_tick(&mut timers);
                tick.upkeep();
            }
        }
        self.save_memory();
    }

    /// One inbound, with `waiting` more behind it: an event is handled (and timers and dead
    /// air learn of viewer chat), `/quiet` runs `on_quiet`, an unknown event is counted.
    /// False on [`Inbound::End`].
    fn take(&self, inbound: Inbound, waiting: usize, timers: &mut Timers) -> bool {
        let (normalized, arrived, origin) = match inbound {
            Inbound::Message(raw, at, socket_room) => {
                self.live.learn_session(&raw);
                let normalized = normalize(&raw, now_ms());
                (self.place(normalized, socket_room), at, None)
            }
            Inbound::Follow(raw, at) => {
                self.live.first_of("user_followed", &raw);
                (normalize_follow(&raw, now_ms()), at, None)
            }
            Inbound::Live(kind, raw, at) => (self.live.normalize(kind, &raw, now_ms()), at, None),
            Inbound::Unknown(name, raw) => {
                self.live.first_of(&name, &raw);
                self.health.unknown_event(&name);
                return true;
            }
            Inbound::History(event, origin, read_at) => {
                let normalized = self.place(Normalized::Chat(*event), None);
                (normalized, read_at, Some(origin))
            }
            Inbound::Quiet => {
                let latest = self.current.borrow().clone();
                self.dead_air(&latest, &mut timers.silence, true);
                return true;
            }
            Inbound::End => return false,
        };
        let ask_script = waiting < self.backlog;
        let chat = matches!(&normalized, Normalized::Chat(e) if breaks_silence(e));
        if self.handle(normalized, arrived, origin, ask_script) {
            timers.schedule.chat_seen();
            if chat {
                timers.silence.chat_seen(self.runtime.now_ms());
            }
        }
        true
    }

    /// A tick: the timers of a reloaded personality are rebuilt, those due fire, and dead air
    /// is looked at.
    fn on_tick(&self, timers: &mut Timers) {
        let latest = self.current.borrow().clone();
        if !Arc::ptr_eq(&latest, &timers.personality) {
            timers.schedule.rebuild(&latest, self.runtime.now_ms());
            timers.personality = latest;
        }
        for (name, _) in timers.schedule.take_due(self.runtime.now_ms()) {
            let said = self.runtime.fire_timer(&timers.personality, &name);
            self.speak(&name, said);
        }
        self.dead_air(&timers.personality, &mut timers.silence, false);
    }

    /// Which room a chat event was said in: the room its payload names (v2's `streamer_id`),
    /// else the room of the socket it came on, kept only when it is one of the other rooms
    /// joined; anything else is the own room's (an id the platform spells differently must
    /// not send replies elsewhere).
    fn place(&self, normalized: Normalized, socket_room: Option<Arc<str>>) -> Normalized {
        let Normalized::Chat(mut event) = normalized else {
            return normalized;
        };
        let id = match (&event.room, &socket_room) {
            (Some(room), _) => room.id.as_str(),
            (None, Some(room)) => room,
            (None, None) => "",
        };
        let joined = self.rooms.others().iter().find(|r| r.id == id);
        event.room = joined.map(|room| Box::new(room.clone()));
        Normalized::Chat(event)
    }

    /// One normalized payload that arrived at `arrived` (from the history when `origin`):
    /// filter, decide (with the script when `ask_script`, else straight to the queue), act.
    /// Nothing here can fail the loop. True when it was viewer chat (which lets timers fire).
    fn handle(
        &self,
        normalized: Normalized,
        arrived: Instant,
        origin: Option<Origin>,
        ask_script: bool,
    ) -> bool {
        let Some(event) = self.admit(normalized, arrived, origin) else {
            return false;
        };
        let personality = self.current.borrow().clone();
        if ask_script {
            self.decide(&event, &personality, arrived);
        } else {
            self.queue_unasked(&event, &personality, arrived);
        }
        true
    }

    /// The event in `normalized` when it is viewer chat heard for the first time, counted and
    /// written down; `None` (counted) for moderation, malformed payloads, the agent's own
    /// messages and repeats.
    fn admit(
        &self,
        normalized: Normalized,
        arrived: Instant,
        origin: Option<Origin>,
    ) -> Option<ChatEvent> {
        let counters = &self.health.counters;
        counters.events_in.inc();
        let event = match normalized {
            Normalized::Chat(event) => event,
            Normalized::Moderation(kind) => {
                counters.moderation.inc();
                tracing::debug!(kind, "moderation event skipped");
                return None;
            }
            Normalized::Malformed(why) => {
                counters.malformed.inc();
                tracing::debug!("payload skipped: {why}");
                return None;
            }
        };
        // Going live, a pin and a token trade are not someone talking: the agent's own are
        // news too (its session, its pin, its buy).
        let from_someone = matches!(event.via, Via::Chat | Via::TipReceived | Via::UserFollowed);
        if from_someone && event.is_own(&self.agent_name, &self.user_db_id) {
            counters.own.inc();
            return None;
        }
        let first_time = match event.via {
            Via::Chat => self.handled.first_time(&event),
            _ => self.live.first_time(&event),
        };
        if !first_time {
            if origin.is_none() {
                counters.duplicates.inc();
                tracing::debug!(id = %event.id, author = %event.author, "repeated message skipped");
            }
            return None;
        }
        if event.kind == "tip" && !self.live.first_copy(&event, arrived) {
            counters.tip_duplicates.inc();
            tracing::debug!(id = %event.id, author = %event.author, via = event.via.name(), "second copy of a tip skipped");
            return None;
        }
        match origin {
            Some(Origin::CatchUp) => counters.caught_up.inc(),
            Some(Origin::Poll) => counters.polled.inc(),
            None => {}
        }
        counters.messages_in.inc();
        self.health.message_seen();
        self.transcript.heard(&event);
        Some(event)
    }

    /// Ask the script about `event`, hold a late reply back, log the decision and act on it.
    /// A script that fails (or names a room not heard) hands the message to the agent.
    fn decide(&self, event: &ChatEvent, personality: &Personality, arrived: Instant) {
        let started = std::time::Instant::now();
        let decided = self.runtime.decide(personality, event);
        let took = started.elapsed();
        let decided = decided
            .map_err(|error| error.to_string())
            .and_then(|decision| self.route(decision));
        let now = self.runtime.now_ms();
        let (decision, failure) = match decided {
            Ok(decision) => match held_back(&decision, event, now, self.reply_window) {
                Some(why) => (Decision::Ignore, Some(why)),
                None => (decision, None),
            },
            Err(why) => {
                // Never lose the viewer: a failing script hands the message to the agent.
                self.health.counters.script_errors.inc();
                tracing::warn!(id = %event.id, author = %event.author, "personality failed, queueing the message: {why}");
                self.health.set_error(format!("script: {why}"));
                (Decision::Queue, Some(why))
            }
        };
        tracing::debug!(id = %event.id, author = %event.author, ?decision, "decided");
        self.log
            .record(|| Record::new(event, &decision, personality.version(), took, failure));
        self.actions.apply(event, decision, arrived);
    }

    /// A `reply_in` names its room by id or by the name it was given; the reply stage needs
    /// the id (empty for the own room). A room the listener does not hear is refused: a shared
    /// script must not post wherever it likes.
    fn route(&self, decision: Decision) -> Result<Decision, String> {
        let Decision::ReplyIn { room, text } = decision else {
            return Ok(decision);
        };
        match self.rooms.find(&room) {
            Some(id) => Ok(Decision::ReplyIn {
                room: id.to_string(),
                text,
            }),
            None => Err(format!(
                "reply_in: {} is not a room the listener hears (the own room, or one given with --room)",
                crate::script::quote(&room)
            )),
        }
    }

    /// The personality is too far behind: hand `event` to the agent without asking it, in
    /// microseconds, so the backlog drains whatever the script costs.
    fn queue_unasked(&self, event: &ChatEvent, personality: &Personality, arrived: Instant) {
        let counter = &self.health.counters.unscripted;
        counter.inc();
        if counter.get() % 1000 == 1 {
            tracing::warn!(
                id = %event.id,
                "more than {} messages are waiting for the personality: queueing the oldest for the agent without asking it ({} so far; [backlog] personality)",
                self.backlog,
                counter.get()
            );
        }
        let why = "not asked: the personality was too far behind ([backlog] personality)";
        self.log.record(|| {
            Record::new(
                event,
                &Decision::Queue,
                personality.version(),
                std::time::Duration::ZERO,
                Some(why.to_string()),
            )
        });
        self.actions.apply(event, Decision::Queue, arrived);
    }

    /// Dead air: once the listener has joined, call `on_quiet` when the room has been quiet
    /// long enough (or at once when `now`, the sandbox's `/quiet`).
    fn dead_air(&self, personality: &Personality, silence: &mut Silence, now: bool) {
        let now_ms = self.runtime.now_ms();
        // The health status turns connected once the room is joined: the clock starts there,
        // so a listener that needed a while to connect does not count that as quiet.
        if self.health.status() == Status::Connected {
            silence.start(now_ms);
        }
        let quiet_secs = if now {
            silence.hush(now_ms)
        } else if silence.take_due(now_ms).is_some() {
            silence.quiet_secs(now_ms)
        } else {
            return;
        };
        tracing::debug!(quiet_secs, "the room is quiet");
        let said = self.runtime.quiet(personality, quiet_secs);
        self.speak(hooks::ON_QUIET, said);
    }

    /// What `on_start`, a timer or `on_quiet` said: post it (under the send budget like any
    /// reply).
    fn speak(&self, hook: &str, said: Result<Option<String>, ScriptError>) {
        match said {
            Ok(Some(text)) => self.actions.say(text, hook),
            Ok(None) => {}
            Err(error) => {
                self.health.counters.script_errors.inc();
                tracing::warn!(hook, "personality failed: {error}");
                self.health.set_error(format!("script: {error}"));
            }
        }
    }

    fn save_memory(&self) {
        if let Err(error) = self.runtime.save_memory() {
            tracing::warn!("{error}");
        }
    }
}
