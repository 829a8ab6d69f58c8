//! When each task in flight next needs [`Tracker::poll`](super::Tracker::poll): one
//! entry per task, ordered by time, so that the next deadline is read and the tasks due
//! are taken out without looking at the others.
//!
//! The queue orders small entries (a time and a number given to the task), not the
//! tasks' keys: an event moves its task's deadline (the silence limit starts again), and
//! with thousands of tasks, moving a small entry stays within a few cache lines. Each
//! task's own entry (its [`Queued`]) is kept beside the task, in the map of the tasks in
//! flight, not in a map of its own: moving a task's deadline reads what the event read
//! anyway (the task) and the queue, and looks up nothing else by key.

use std::collections::{BTreeSet, HashMap};

use super::TaskKey;

/// A task's entry in the queue, kept with the task: its deadline and its number, or
/// `None` while it has no deadline.
pub(super) type Queued = Option<(u64, u64)>;

/// The deadlines of the tasks in flight: at most one per task, the earliest of its
/// retry, reply window, silence limit and state grace (see `Task::due`).
#[derive(Debug, Clone, Default)]
pub(super) struct Deadlines {
    /// Every deadline with its task's number, earliest first.
    queue: BTreeSet<(u64, u64)>,
    /// The task of each number in `queue`.
    keys: HashMap<u64, TaskKey>,
    /// The number the next task gets.
    next_number: u64,
}

impl Deadlines {
    /// Sets the deadline of `key`, whose entry is `queued`, or clears it (`None`).
    /// O(log n) in the queue, and O(1) at either end of it, where a deadline moved by a
    /// sign of life goes (the latest) and where it usually comes from (the earliest).
    pub(super) fn set(&mut self, queued: &mut Queued, key: &TaskKey, due: Option<u64>) {
        match (*queued, due) {
            (Some((at, number)), Some(due)) => {
                if at != due {
                    self.queue.remove(&(at, number));
                    self.queue.insert((due, number));
                    *queued = Some((due, number));
                }
            }
            (Some((at, number)), None) => {
                self.queue.remove(&(at, number));
                self.keys.remove(&number);
                *queued = None;
            }
            (None, Some(due)) => {
                let number = self.next_number;
                self.next_number += 1;
                self.queue.insert((due, number));
                self.keys.insert(number, key.clone());
                *queued = Some((due, number));
            }
            (None, None) => {}
        }
    }

    /// The earliest deadline, if any.
    pub(super) fn next(&self) -> Option<u64> {
        self.queue.first().map(|(due, _)| *due)
    }

    /// Takes out the tasks whose deadline is `now_ms` or before, in the order of their
    /// deadlines, then of their keys: each is then without a deadline until it is set
    /// again, and the caller sets each one's entry to `None`.
    pub(super) fn take_due(&mut self, now_ms: u64) -> Vec<TaskKey> {
        let mut due = Vec::new();
        while let Some(&(at, number)) = self.queue.first().filter(|(at, _)| *at <= now_ms) {
            self.queue.remove(&(at, number));
            if let Some(key) = self.keys.remove(&number) {
                due.push((at, key));
            }
        }
        due.sort();
        due.into_iter().map(|(_, key)| key).collect()
    }

    /// How many tasks have a deadline.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        debug_assert_eq!(self.keys.len(), self.queue.len());
        self.queue.len()
    }
}
