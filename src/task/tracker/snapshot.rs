//! A tracker's state as plain serde data, to save and to take up after a restart.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::model::Data;
#[cfg(doc)]
use crate::model::Message;

use super::seen::Seen;
use super::task::Task;
use super::{Counters, Ending, TaskKey, Tracker, TrackerConfig};

/// A [`Tracker`]'s state, from [`Tracker::snapshot`], for [`Tracker::restore`].
///
/// In serde (JSON, say) it is an object, the format of [`TrackerSnapshot::VERSION`]:
/// - `version`: the format's version, `1`;
/// - `tasks`: the tasks in flight, in the order of their keys, each an object with
///   `request` (the `ota_create`, in [`Message`]'s serde form: its topic names the
///   gateway, its `bid` the task), `attempts` (the `tid` of every attempt sent),
///   `phase` (`{"awaiting_reply": {"deadline_ms": T}}` or `"accepted"`),
///   `last_heard_ms`, `status` (the last status heard, or `null`), `last_event` (the
///   `timestamp`, `step` and `percent` of the last event applied, or `null`), `seen`
///   (the `tid`s of the last events seen) and, when the devices' state pushes said
///   something ([`Tracker::handle_state`]), `firmware` (per device: `sn`, `version`,
///   `upgrading`, `was_upgrading`) and `confirming` (`deadline_ms` and `versions`, an
///   outcome the state confirmed, waiting for the final event); both are left out when
///   empty, so a snapshot written before them reads as it did;
/// - `ended`: the recently ended tasks, oldest first, each `task` (its [`TaskKey`]),
///   `ending` (an [`Ending`]) and `seen`;
/// - `counters`: the [`Counters`].
///
/// Times are the caller's `now_ms`, as given to the tracker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackerSnapshot {
    version: u32,
    tasks: Vec<Task>,
    ended: Vec<SavedEnding>,
    counters: Counters,
}

impl TrackerSnapshot {
    /// The version of the format this crate writes and reads.
    pub const VERSION: u32 = 1;

    /// The version of the format this snapshot was written in.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// How many tasks were in flight.
    pub fn tasks_in_flight(&self) -> usize {
        self.tasks.len()
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub(super) fn of_parts(tasks: Vec<Task>, ended: Vec<SavedEnding>, counters: Counters) -> Self {
        Self {
            version: Self::VERSION,
            tasks,
            ended,
            counters,
        }
    }

    pub(super) fn parts(&self) -> (&[Task], &[SavedEnding]) {
        (&self.tasks, &self.ended)
    }
}

/// An ended task as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SavedEnding {
    pub(super) task: TaskKey,
    pub(super) ending: Ending,
    pub(super) seen: Seen,
}

/// Why [`Tracker::restore`] refused a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The snapshot was written in another version of the format.
    #[error("a tracker snapshot of format version {found}; this crate reads version {supported}")]
    Version {
        /// The snapshot's version.
        found: u32,
        /// The version this crate reads.
        supported: u32,
    },
    /// A task's request is not an `ota_create`.
    #[error("task {task}: its request is not an ota_create")]
    NotARequest {
        /// The task.
        task: TaskKey,
    },
}

impl Tracker {
    /// The tracker's state, to save (with serde) and give to [`Tracker::restore`] after
    /// a restart: the tasks in flight (their requests, attempts, deadlines, the events
    /// seen), the recently ended ones and the counters. The configuration is not part
    /// of it. The format is described at [`TrackerSnapshot`].
    pub fn snapshot(&self) -> TrackerSnapshot {
        let mut tasks: Vec<(&TaskKey, &Task)> =
            self.tasks.iter().map(|(k, t)| (k, &t.task)).collect();
        tasks.sort_by(|a, b| a.0.cmp(b.0));
        TrackerSnapshot {
            version: TrackerSnapshot::VERSION,
            tasks: tasks.into_iter().map(|(_, task)| task.clone()).collect(),
            ended: self
                .ended_order
                .iter()
                .filter_map(|key| {
                    let ended = self.ended.get(key)?;
                    Some(SavedEnding {
                        task: key.clone(),
                        ending: ended.ending.clone(),
                        seen: ended.seen.clone(),
                    })
                })
                .collect(),
            counters: self.counters,
        }
    }

    /// A tracker with `config` that takes up where the one that made `snapshot` left
    /// off: each task in flight is followed from where it was, with the deadlines it
    /// had (they are times on the caller's clock, so a task whose deadline passed while
    /// the server was down is retried or ended at the next [`Tracker::poll`]); nothing
    /// is sent again that was sent before. Ended tasks beyond
    /// [`TrackerConfig::recent_finished`] are forgotten, the oldest first; tasks in
    /// flight are all kept, even beyond [`TrackerConfig::max_tasks`], and even two on
    /// one gateway (a snapshot written before a gateway ran one task at a time): its
    /// gateway then takes a new task once both have ended.
    ///
    /// # Errors
    /// [`RestoreError::Version`] for a snapshot of another format version;
    /// [`RestoreError::NotARequest`] for a task whose request is not an `ota_create`.
    pub fn restore(config: TrackerConfig, snapshot: TrackerSnapshot) -> Result<Self, RestoreError> {
        if snapshot.version != TrackerSnapshot::VERSION {
            return Err(RestoreError::Version {
                found: snapshot.version,
                supported: TrackerSnapshot::VERSION,
            });
        }
        let mut tracker = Tracker::new(config);
        tracker.counters = snapshot.counters;
        for task in snapshot.tasks {
            if !matches!(task.request.data, Data::OtaCreate(_)) {
                return Err(RestoreError::NotARequest {
                    task: TaskKey::of(&task.request),
                });
            }
            tracker.insert(TaskKey::of(&task.request), task);
        }
        for saved in snapshot.ended {
            tracker.remember_ended(saved.task, saved.ending, saved.seen);
        }
        Ok(tracker)
    }
}
