//! When each task in flight next needs [`Tracker::poll`](super::Tracker::poll): one
//! entry per task, ordered by time, so that the next deadline is read and the tasks due
//! are taken out without looking at the others.

use std::collections::{BTreeSet, HashMap};

use super::TaskKey;

/// The deadlines of the tasks in flight: at most one per task, the earliest of its
/// retry, reply window, silence limit and state grace (see `Task::due`).
#[derive(Debug, Clone, Default)]
pub(super) struct Deadlines {
    /// Every deadline with its task, earliest first (ties in the order of the keys).
    queue: BTreeSet<(u64, TaskKey)>,
    /// Each task's entry in `queue`.
    at: HashMap<TaskKey, u64>,
}

impl Deadlines {
    /// Sets the deadline of `key`, or clears it (`None`). O(log n).
    pub(super) fn set(&mut self, key: &TaskKey, due: Option<u64>) {
        let old = self.at.get(key).copied();
        if old == due {
            return;
        }
        if let Some(old) = old {
            self.queue.remove(&(old, key.clone()));
        }
        match due {
            Some(due) => {
                self.queue.insert((due, key.clone()));
                self.at.insert(key.clone(), due);
            }
            None => {
                self.at.remove(key);
            }
        }
    }

    /// The earliest deadline, if any.
    pub(super) fn next(&self) -> Option<u64> {
        self.queue.first().map(|(due, _)| *due)
    }

    /// Takes out the tasks whose deadline is `now_ms` or before, earliest first: each
    /// is then without a deadline until it is set again.
    pub(super) fn take_due(&mut self, now_ms: u64) -> Vec<TaskKey> {
        let mut due = Vec::new();
        while self.queue.first().is_some_and(|(at, _)| *at <= now_ms) {
            if let Some((_, key)) = self.queue.pop_first() {
                self.at.remove(&key);
                due.push(key);
            }
        }
        due
    }

    /// How many tasks have a deadline.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }
}
