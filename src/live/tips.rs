//! One tip, one `on_tip`: retake.tv announces a tip twice, as a chat `message` of type `tip`
//! in the streamer's room and as `tip_received` in `live_<id>`, and [`Tips`] lets only the
//! first copy through.
//!
//! The key: the transaction hash when both copies carry one; otherwise the sender (its id,
//! else its name, else its wallet, whichever both copies have) and the amount, with the
//! second copy arriving within [`WINDOW`] of the first. Copies are paired one to one and only
//! across the two ways, so the same viewer tipping the same amount twice still counts twice,
//! and a repeat on one way is left to the id check that runs before this one.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::event::{ChatEvent, Via};

/// How long after one copy of a tip the other may arrive and still be the same tip. Both are
/// sent by the platform for one transaction; half a minute covers a slow room or a reconnect.
pub const WINDOW: Duration = Duration::from_secs(30);
/// Most tips waiting for their other copy: past this the oldest is forgotten.
const MAX_WAITING: usize = 256;

/// The tips seen in the last [`WINDOW`] whose other copy has not come yet.
#[derive(Debug, Default)]
pub struct Tips {
    waiting: VecDeque<TipCopy>,
}

/// One copy of a tip, as compared.
#[derive(Debug)]
struct TipCopy {
    at: Instant,
    in_chat: bool,
    tx_hash: String,
    author_id: String,
    author: String,
    wallet: String,
    amount: Option<f64>,
}

impl TipCopy {
    fn of(event: &ChatEvent, at: Instant) -> Self {
        let tx_hash = event
            .details
            .as_ref()
            .map(|d| d.tx_hash.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let author = match event.author.trim().to_lowercase() {
            name if name == "anon" => String::new(),
            name => name,
        };
        Self {
            at,
            in_chat: event.via == Via::Chat,
            tx_hash,
            author_id: event.author_id.trim().to_string(),
            author,
            wallet: event.wallet.trim().to_ascii_lowercase(),
            amount: event.amount,
        }
    }

    /// Whether `other`, which came the other way, is this tip.
    fn pairs_with(&self, other: &TipCopy) -> bool {
        if self.in_chat == other.in_chat {
            return false;
        }
        if !self.tx_hash.is_empty() && !other.tx_hash.is_empty() {
            return self.tx_hash == other.tx_hash;
        }
        let same_amount = match (self.amount, other.amount) {
            (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
            // A copy without an amount is told apart by its sender alone.
            _ => true,
        };
        same_amount && self.same_sender(other)
    }

    /// The first identity both copies have decides; with none in common, nothing tells
    /// them apart.
    fn same_sender(&self, other: &TipCopy) -> bool {
        [
            (&self.author_id, &other.author_id),
            (&self.author, &other.author),
            (&self.wallet, &other.wallet),
        ]
        .into_iter()
        .find(|(a, b)| !a.is_empty() && !b.is_empty())
        .is_none_or(|(a, b)| a == b)
    }
}

impl Tips {
    /// A tip arrived at `at`: true when it is the first copy (run `on_tip`), false when it is
    /// the other copy of one already handled (drop it).
    pub fn first_copy(&mut self, event: &ChatEvent, at: Instant) -> bool {
        while self
            .waiting
            .front()
            .is_some_and(|c| at.saturating_duration_since(c.at) > WINDOW)
        {
            self.waiting.pop_front();
        }
        let copy = TipCopy::of(event, at);
        if let Some(i) = self.waiting.iter().position(|c| c.pairs_with(&copy)) {
            self.waiting.remove(i);
            return false;
        }
        if self.waiting.len() == MAX_WAITING {
            self.waiting.pop_front();
        }
        self.waiting.push_back(copy);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Details;

    fn tip(via: Via, author: &str, amount: f64, tx: &str) -> ChatEvent {
        ChatEvent {
            kind: "tip".into(),
            via,
            author: author.into(),
            amount: Some(amount),
            details: Some(Box::new(Details {
                tx_hash: tx.into(),
                ..Details::default()
            })),
            ..ChatEvent::default()
        }
    }

    #[test]
    fn either_copy_first_lets_one_through() {
        let now = Instant::now();
        let (chat, live) = (
            tip(Via::Chat, "Bob", 5.0, ""),
            tip(Via::TipReceived, "bob", 5.0, ""),
        );
        let mut tips = Tips::default();
        assert!(tips.first_copy(&chat, now));
        assert!(!tips.first_copy(&live, now + Duration::from_secs(2)));
        let mut tips = Tips::default();
        assert!(tips.first_copy(&live, now));
        assert!(!tips.first_copy(&chat, now));
    }

    #[test]
    fn the_same_tip_twice_is_two_tips_and_repeats_one_way_are_not_paired() {
        let now = Instant::now();
        let mut tips = Tips::default();
        let (chat, live) = (
            tip(Via::Chat, "bob", 5.0, ""),
            tip(Via::TipReceived, "bob", 5.0, ""),
        );
        assert!(tips.first_copy(&chat, now));
        assert!(tips.first_copy(&chat, now), "a second tip, said in chat");
        assert!(!tips.first_copy(&live, now));
        assert!(!tips.first_copy(&live, now));
        assert!(
            tips.first_copy(&live, now),
            "a third tip: its chat copy is to come"
        );
    }

    #[test]
    fn hashes_decide_when_both_have_one_else_sender_and_amount() {
        let now = Instant::now();
        let mut tips = Tips::default();
        assert!(tips.first_copy(&tip(Via::Chat, "bob", 5.0, "0xAA"), now));
        assert!(tips.first_copy(&tip(Via::TipReceived, "bob", 5.0, "0xbb"), now));
        assert!(!tips.first_copy(&tip(Via::TipReceived, "someone", 1.0, "0xaa"), now));
        let mut tips = Tips::default();
        assert!(tips.first_copy(&tip(Via::Chat, "bob", 5.0, "0xaa"), now));
        assert!(tips.first_copy(&tip(Via::TipReceived, "bob", 6.0, ""), now));
        assert!(tips.first_copy(&tip(Via::TipReceived, "amy", 5.0, ""), now));
        assert!(!tips.first_copy(&tip(Via::TipReceived, "anon", 5.0, ""), now));
    }

    #[test]
    fn the_other_copy_counts_only_within_the_window() {
        let now = Instant::now();
        let mut tips = Tips::default();
        assert!(tips.first_copy(&tip(Via::Chat, "bob", 5.0, ""), now));
        let later = now + WINDOW + Duration::from_secs(1);
        assert!(tips.first_copy(&tip(Via::TipReceived, "bob", 5.0, ""), later));
    }
}
