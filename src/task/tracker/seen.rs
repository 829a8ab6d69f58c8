//! The ids of the last events seen of a task, to recognise a duplicate: each with a
//! 16-bit fingerprint beside it, so that telling a new event from a duplicate reads
//! the fingerprints (2 bytes an id: two cache lines for the default 64 ids) rather than
//! every id, and compares an id only where its fingerprint matches (one in 65,536 for
//! an id not seen).

use std::collections::VecDeque;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::Id;

/// The last event ids of a task, the oldest first. In serde, the ids alone, as a
/// sequence: the fingerprints are made again when read.
#[derive(Clone, Default)]
pub(super) struct Seen {
    ids: VecDeque<Id>,
    /// `fingerprint(ids[i])` at `i`.
    prints: VecDeque<u16>,
}

impl Seen {
    /// True when `id` is among the ids kept.
    pub(super) fn contains(&self, id: &Id) -> bool {
        let print = fingerprint(id);
        self.prints
            .iter()
            .enumerate()
            .any(|(i, p)| *p == print && self.ids[i] == *id)
    }

    /// Keeps `id`, and at most `window` ids: the oldest go first. With 0, none.
    pub(super) fn remember(&mut self, id: Id, window: usize) {
        if window == 0 {
            return;
        }
        while self.ids.len() >= window {
            self.ids.pop_front();
            self.prints.pop_front();
        }
        self.prints.push_back(fingerprint(&id));
        self.ids.push_back(id);
    }
}

impl From<VecDeque<Id>> for Seen {
    fn from(ids: VecDeque<Id>) -> Self {
        let prints = ids.iter().map(fingerprint).collect();
        Self { ids, prints }
    }
}

/// Equal ids have equal fingerprints: both come from how an id is compared. The top
/// 16 bits of its hash.
fn fingerprint(id: &Id) -> u16 {
    let mut hasher = DefaultHasher::new();
    id.hash(&mut hasher);
    (hasher.finish() >> 48) as u16
}

impl PartialEq for Seen {
    fn eq(&self, other: &Self) -> bool {
        self.ids == other.ids
    }
}

impl Eq for Seen {}

impl fmt::Debug for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.ids).finish()
    }
}

impl Serialize for Seen {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.ids.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Seen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        VecDeque::<Id>::deserialize(deserializer).map(Seen::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_keeps_the_last_ids_finds_them_by_fingerprint_and_saves_the_ids_alone() {
        let ids: Vec<Id> = (1..=5).map(Id::from_u128).collect();
        let mut seen = Seen::default();
        for id in &ids {
            seen.remember(id.clone(), 3);
        }
        assert!(!seen.contains(&ids[1]), "the oldest went first");
        assert!(ids[2..].iter().all(|id| seen.contains(id)));
        // The same UUID written in capitals is the same id.
        let upper: Id = ids[4].to_string().to_uppercase().parse().unwrap();
        assert!(seen.contains(&upper));
        let text: Id = "not-a-uuid".parse().unwrap();
        assert!(!seen.contains(&text));
        seen.remember(text.clone(), 3);
        assert!(seen.contains(&text));

        let json = serde_json::to_value(&seen).unwrap();
        let plain: VecDeque<Id> = [ids[3].clone(), ids[4].clone(), text.clone()].into();
        assert_eq!(json, serde_json::to_value(&plain).unwrap());
        let back: Seen = serde_json::from_value(json).unwrap();
        assert_eq!(back, seen);
        assert!(back.contains(&ids[3]) && back.contains(&text));
        let mut none = Seen::default();
        none.remember(ids[0].clone(), 0);
        assert!(!none.contains(&ids[0]));
    }

    #[test]
    fn an_id_whose_fingerprint_matches_another_is_told_apart_by_the_id() {
        // Among a few thousand ids, two share a 16-bit fingerprint.
        let mut by_print = std::collections::HashMap::new();
        let (first, second) = (1..100_000u128)
            .map(Id::from_u128)
            .find_map(|id| {
                let other = by_print.insert(fingerprint(&id), id.clone());
                other.map(|other| (other, id))
            })
            .expect("a shared fingerprint");
        assert_ne!(first, second);
        let mut seen = Seen::default();
        seen.remember(first.clone(), 64);
        assert!(seen.contains(&first));
        assert!(!seen.contains(&second));
        seen.remember(second.clone(), 64);
        assert!(seen.contains(&second));
    }
}
