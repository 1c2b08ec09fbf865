//! A map that remembers which of its keys was touched longest ago, for bounding per-author
//! state: counts in `state.rs` (keyed by a hash of the name), per-author memory in
//! `memory.rs` (keyed by the name, which it saves).
//!
//! Entries live in one `Vec` linked into a list, newest first, with a `HashMap` from key to
//! slot: touching, inserting and evicting are O(1), and nothing is allocated per touch.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

/// No slot: the end of the list.
const NIL: usize = usize::MAX;

#[derive(Debug)]
struct Slot<K, V> {
    key: K,
    value: V,
    /// The slot touched just after this one (towards the newest), or [`NIL`].
    newer: usize,
    /// The slot touched just before this one (towards the oldest), or [`NIL`].
    older: usize,
}

/// Keys with values, in the order they were last touched. What the owner does when it is too
/// big (evict by count or by bytes) is up to the owner: see [`Lru::pop_oldest`]. Each key is
/// held twice (in its slot and in the index): make it cheap to clone (`Arc<str>`, `u64`).
#[derive(Debug)]
pub(super) struct Lru<K, V> {
    index: HashMap<K, usize>,
    slots: Vec<Slot<K, V>>,
    newest: usize,
    oldest: usize,
}

impl<K, V> Default for Lru<K, V> {
    fn default() -> Self {
        Self {
            index: HashMap::new(),
            slots: Vec::new(),
            newest: NIL,
            oldest: NIL,
        }
    }
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    /// How many keys are held.
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The value of `key` without touching it.
    pub(super) fn peek<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.index.get(key).map(|&i| &self.slots[i].value)
    }

    /// The value of `key`, which becomes the newest.
    pub(super) fn touch<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let i = *self.index.get(key)?;
        self.unlink(i);
        self.push_newest(i);
        Some(&mut self.slots[i].value)
    }

    /// Add `key` as the newest with `value`; it must not be held yet (touch it first).
    pub(super) fn insert(&mut self, key: K, value: V) -> &mut V {
        let i = self.slots.len();
        self.slots.push(Slot {
            key: key.clone(),
            value,
            newer: NIL,
            older: NIL,
        });
        self.index.insert(key, i);
        self.push_newest(i);
        &mut self.slots[i].value
    }

    /// Remove `key`, returning its value.
    pub(super) fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let i = *self.index.get(key)?;
        Some(self.take(i).1)
    }

    /// Remove the key touched longest ago.
    pub(super) fn pop_oldest(&mut self) -> Option<(K, V)> {
        (self.oldest != NIL).then(|| self.take(self.oldest))
    }

    /// Every key and value, the one touched longest ago first.
    pub(super) fn oldest_first(&self) -> impl Iterator<Item = (&K, &V)> {
        let mut at = self.oldest;
        std::iter::from_fn(move || {
            let slot = self.slots.get(at)?;
            at = slot.newer;
            Some((&slot.key, &slot.value))
        })
    }

    fn take(&mut self, i: usize) -> (K, V) {
        self.unlink(i);
        let slot = self.slots.swap_remove(i);
        self.index.remove(&slot.key);
        // The last slot moved into `i`: point its neighbours and its key at the new place.
        if i < self.slots.len() {
            let (newer, older) = (self.slots[i].newer, self.slots[i].older);
            match newer {
                NIL => self.newest = i,
                n => self.slots[n].older = i,
            }
            match older {
                NIL => self.oldest = i,
                o => self.slots[o].newer = i,
            }
            if let Some(at) = self.index.get_mut(&self.slots[i].key) {
                *at = i;
            }
        }
        (slot.key, slot.value)
    }

    fn unlink(&mut self, i: usize) {
        let (newer, older) = (self.slots[i].newer, self.slots[i].older);
        match newer {
            NIL => self.newest = older,
            n => self.slots[n].older = older,
        }
        match older {
            NIL => self.oldest = newer,
            o => self.slots[o].newer = newer,
        }
    }

    fn push_newest(&mut self, i: usize) {
        self.slots[i].older = self.newest;
        self.slots[i].newer = NIL;
        match self.newest {
            NIL => self.oldest = i,
            n => self.slots[n].newer = i,
        }
        self.newest = i;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn keys(lru: &Lru<Arc<str>, i32>) -> Vec<String> {
        lru.oldest_first().map(|(k, _)| k.to_string()).collect()
    }

    #[test]
    fn keeps_the_touch_order() {
        let mut lru = Lru::default();
        for (i, k) in ["a", "b", "c", "d"].into_iter().enumerate() {
            lru.insert(k.into(), i as i32);
        }
        assert_eq!(keys(&lru), ["a", "b", "c", "d"]);
        *lru.touch("b").expect("held") += 10;
        assert_eq!(keys(&lru), ["a", "c", "d", "b"]);
        assert_eq!(lru.peek("b"), Some(&11));
        assert_eq!(keys(&lru), ["a", "c", "d", "b"], "peek does not touch");
        assert_eq!(
            lru.pop_oldest().map(|(k, v)| (k.to_string(), v)),
            Some(("a".into(), 0))
        );
        assert_eq!(lru.remove("d"), Some(3));
        assert_eq!(keys(&lru), ["c", "b"]);
        assert_eq!(lru.len(), 2);
        lru.insert("e".into(), 5);
        assert_eq!(keys(&lru), ["c", "b", "e"]);
        assert_eq!(lru.touch("nope"), None);
        while lru.pop_oldest().is_some() {}
        assert_eq!(lru.len(), 0);
        lru.insert("f".into(), 6);
        assert_eq!(keys(&lru), ["f"]);
    }

    #[test]
    fn survives_any_mix_of_operations() {
        // Against a plain Vec kept in the same order, over a long pseudo-random run.
        let mut lru: Lru<Arc<str>, i32> = Lru::default();
        let mut model: Vec<(String, i32)> = Vec::new();
        let mut x: u32 = 7;
        for step in 0..20_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let key = format!("k{}", (x >> 8) % 50);
            match (x >> 4) % 4 {
                0 | 1 => {
                    if lru.touch(key.as_str()).is_some() {
                        let at = model.iter().position(|(k, _)| *k == key).expect("in model");
                        let entry = model.remove(at);
                        model.push(entry);
                    } else {
                        lru.insert(key.as_str().into(), step);
                        model.push((key, step));
                    }
                }
                2 => {
                    let at = model.iter().position(|(k, _)| *k == key);
                    assert_eq!(lru.remove(key.as_str()), at.map(|at| model.remove(at).1));
                }
                _ => {
                    let popped = lru.pop_oldest().map(|(k, v)| (k.to_string(), v));
                    let expected = (!model.is_empty()).then(|| model.remove(0));
                    assert_eq!(popped, expected);
                }
            }
            assert_eq!(lru.len(), model.len());
        }
        let all: Vec<(String, i32)> = lru
            .oldest_first()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        assert_eq!(all, model);
    }
}
