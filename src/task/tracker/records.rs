//! The tracker's state one task at a time, for a store that keeps a row per task and
//! writes only the rows that changed.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::model::Data;

use super::seen::Seen;
use super::snapshot::SavedEnding;
use super::task::Task;
use super::{Counters, Ending, RestoreError, TaskKey, TaskState, Tracker, TrackerSnapshot};

/// One task as a store keeps it: a task in flight with everything
/// [`Tracker::restore`] needs to follow it on, or an ended task with how it ended.
///
/// [`Tracker::take_changes`] gives the records of the tasks that changed;
/// [`TrackerSnapshot::from_records`] makes a snapshot of records read back. In serde it
/// is `{"in_flight": T}` or `{"ended": E}`, with `T` a task in flight and `E` an ended
/// one exactly as in a [`TrackerSnapshot`] (see there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskRecord(Body);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Body {
    InFlight(Box<Task>),
    Ended(SavedEnding),
}

impl TaskRecord {
    pub(super) fn in_flight(task: Task) -> Self {
        Self(Body::InFlight(Box::new(task)))
    }

    pub(super) fn ended(task: TaskKey, ending: Ending, seen: Seen) -> Self {
        Self(Body::Ended(SavedEnding { task, ending, seen }))
    }

    /// The task.
    pub fn key(&self) -> TaskKey {
        match &self.0 {
            Body::InFlight(task) => TaskKey::of(&task.request),
            Body::Ended(saved) => saved.task.clone(),
        }
    }

    /// How the task ended, or `None` while it is in flight.
    pub fn ending(&self) -> Option<&Ending> {
        match &self.0 {
            Body::InFlight(_) => None,
            Body::Ended(saved) => Some(&saved.ending),
        }
    }

    /// The state of a task in flight, as [`Tracker::task`] shows it; `None` once ended.
    pub fn state(&self) -> Option<TaskState> {
        match &self.0 {
            Body::InFlight(task) => Some(task.state()),
            Body::Ended(_) => None,
        }
    }

    /// When a tracker with `config` next has something to do for this task in
    /// [`Tracker::poll`] (the end of its reply window, its silence limit, the end of its
    /// state's grace), or `None` for an ended task or one with no deadline: for a store
    /// shared by several processes, which keeps it in a column and hands the tasks that
    /// are due to the one process that judges them.
    ///
    /// ```
    /// use dji_cloud_ota::tracker::{Tracker, TrackerConfig};
    /// use dji_cloud_ota::{Device, Serial, UpgradeType};
    ///
    /// let config = TrackerConfig::default();
    /// let mut tracker = Tracker::new(config.clone());
    /// let device = Device::new("1581F5BMD22330010X0V", "04.01.0020", UpgradeType::NORMAL);
    /// let now = 1_700_000_000_000;
    /// tracker.start(Serial::new("4TADKAQ000002J")?, vec![device], now)?;
    /// let changes = tracker.take_changes();
    /// // Sent now: due when its reply window ends.
    /// assert_eq!(changes.records[0].due(&config), Some(now + config.reply_timeout_ms));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn due(&self, config: &super::TrackerConfig) -> Option<u64> {
        match &self.0 {
            Body::InFlight(task) => task.due(config),
            Body::Ended(_) => None,
        }
    }

    pub(super) fn into_parts(self) -> Result<Result<Task, SavedEnding>, RestoreError> {
        match self.0 {
            Body::InFlight(task) if !matches!(task.request.data, Data::OtaCreate(_)) => {
                Err(RestoreError::NotARequest {
                    task: TaskKey::of(&task.request),
                })
            }
            Body::InFlight(task) => Ok(Ok(*task)),
            Body::Ended(saved) => Ok(Err(saved)),
        }
    }
}

/// What changed in a [`Tracker`] since the last [`Tracker::take_changes`]: the records
/// of the tasks that changed, each once, and the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackerChanges {
    /// The changed tasks' records as they are now: first the tasks that ended, in the
    /// order they ended, then the others in the order of their keys. A store that
    /// keeps the order of the ended tasks (for [`TrackerSnapshot::from_records`]) takes
    /// it from here.
    pub records: Vec<TaskRecord>,
    /// The counters as they are now.
    pub counters: Counters,
}

impl TrackerChanges {
    /// True when no task changed (the counters may have).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Adds `later` (taken after `self`), for a store that could not write `self` and
    /// writes both at once: a task in both has its later record, in its earlier place
    /// while it stays in flight or stays ended, and in its later place when it ended
    /// (or started again) in between, so that the ended ones stay in the order they
    /// ended.
    pub fn merge(&mut self, later: TrackerChanges) {
        let mut at: HashMap<TaskKey, usize> = (self.records.iter().enumerate())
            .map(|(i, r)| (r.key(), i))
            .collect();
        let mut moved = Vec::new();
        for record in later.records {
            let key = record.key();
            match at.get(&key).copied() {
                Some(i) if self.records[i].ending().is_some() == record.ending().is_some() => {
                    self.records[i] = record;
                }
                found => {
                    moved.extend(found);
                    at.insert(key, self.records.len());
                    self.records.push(record);
                }
            }
        }
        if !moved.is_empty() {
            moved.sort_unstable();
            let mut index = 0;
            self.records.retain(|_| {
                let keep = moved.binary_search(&index).is_err();
                index += 1;
                keep
            });
        }
        self.counters = later.counters;
    }
}

/// What a tracker notes of its changes: a revision that moves at each, and the tasks
/// changed since the last [`Tracker::take_changes`], from its first call on (a tracker
/// whose caller never asks keeps nothing for it).
#[derive(Debug, Clone, Default)]
pub(super) struct Changed {
    /// Moves at every change of what a snapshot holds, but for the counters.
    pub(super) revision: u64,
    dirty: Option<Dirty>,
}

impl Changed {
    /// `key`'s record changed.
    pub(super) fn touch(&mut self, key: &TaskKey) {
        self.revision += 1;
        if let Some(dirty) = &mut self.dirty {
            dirty.touch(key);
        }
    }

    /// `key` ended so.
    pub(super) fn ended(&mut self, key: &TaskKey, ending: &Ending, seen: &Seen) {
        self.revision += 1;
        if let Some(dirty) = &mut self.dirty {
            dirty.ended(key, ending, seen);
        }
    }
}

/// The tasks changed since the last [`Tracker::take_changes`].
#[derive(Debug, Clone, Default)]
struct Dirty {
    /// Tasks whose record changed: found in the tracker when taken.
    keys: HashSet<TaskKey>,
    /// Tasks that ended since, as they ended, in that order: the tracker may forget
    /// them before the changes are taken (it remembers a bounded number).
    ended: Vec<TaskRecord>,
    /// Where each task of `ended` is in it.
    ended_at: HashMap<TaskKey, usize>,
}

impl Dirty {
    fn touch(&mut self, key: &TaskKey) {
        if !self.keys.contains(key) {
            self.keys.insert(key.clone());
        }
    }

    fn ended(&mut self, key: &TaskKey, ending: &Ending, seen: &Seen) {
        self.keys.remove(key);
        let record = TaskRecord::ended(key.clone(), ending.clone(), seen.clone());
        self.put(key, record);
    }

    /// `record` in the place of `key`'s, or last.
    fn put(&mut self, key: &TaskKey, record: TaskRecord) {
        match self.ended_at.get(key) {
            Some(&i) => self.ended[i] = record,
            None => {
                self.ended_at.insert(key.clone(), self.ended.len());
                self.ended.push(record);
            }
        }
    }
}

impl Tracker {
    /// What changed since the last call: the record of every task started, changed or
    /// ended since then (an event applied, a retry sent, a state push that concerned
    /// it, an ending), and the counters; for a store that keeps one row per task and
    /// writes only the rows that changed, in one transaction (or, should it fail, merges
    /// them with the next ones: [`TrackerChanges::merge`]). A message that changed no
    /// task (a duplicate, one of an unknown task) changes no record.
    ///
    /// The first call gives every task the tracker holds (in flight and remembered as
    /// ended): a tracker records its changes from then on only, so that one whose
    /// caller never asks keeps nothing for it.
    pub fn take_changes(&mut self) -> TrackerChanges {
        let Some(dirty) = self.changed.dirty.as_mut() else {
            self.changed.dirty = Some(Dirty::default());
            // The ended ones in the order they ended, then those in flight by key.
            let mut records: Vec<TaskRecord> = self
                .ended_order
                .iter()
                .filter_map(|key| {
                    let ended = self.ended.get(key)?;
                    Some(TaskRecord::ended(
                        key.clone(),
                        ended.ending.clone(),
                        ended.seen.clone(),
                    ))
                })
                .filter(|r| !self.tasks.contains_key(&r.key()))
                .collect();
            let mut in_flight: Vec<(&TaskKey, &Task)> =
                self.tasks.iter().map(|(k, t)| (k, &t.task)).collect();
            in_flight.sort_by(|a, b| a.0.cmp(b.0));
            records.extend(
                in_flight
                    .into_iter()
                    .map(|(_, t)| TaskRecord::in_flight(t.clone())),
            );
            return TrackerChanges {
                records,
                counters: self.counters,
            };
        };
        let mut dirty = std::mem::take(dirty);
        let mut keys: Vec<TaskKey> = std::mem::take(&mut dirty.keys).into_iter().collect();
        keys.sort();
        for key in keys {
            let record = match (self.tasks.get(&key), self.ended.get(&key)) {
                (Some(tracked), _) => TaskRecord::in_flight(tracked.task.clone()),
                (None, Some(e)) => TaskRecord::ended(key.clone(), e.ending.clone(), e.seen.clone()),
                // Ended since (and in `ended`), or forgotten by the tracker.
                (None, None) => continue,
            };
            dirty.put(&key, record);
        }
        TrackerChanges {
            records: dirty.ended,
            counters: self.counters,
        }
    }
}

impl TrackerSnapshot {
    /// The snapshot of a tracker whose tasks are `records` (as [`Tracker::take_changes`]
    /// gave them, read back from a store), its ended tasks in the order given (the
    /// oldest first), and whose counters are `counters`. [`Tracker::restore`] of it
    /// follows each task in flight on and remembers the last
    /// [`TrackerConfig::recent_finished`](super::TrackerConfig::recent_finished) ended
    /// ones.
    ///
    /// # Errors
    /// [`RestoreError::NotARequest`] for a task in flight whose request is not an
    /// `ota_create`.
    pub fn from_records(
        records: impl IntoIterator<Item = TaskRecord>,
        counters: Counters,
    ) -> Result<Self, RestoreError> {
        let mut tasks = Vec::new();
        let mut ended = Vec::new();
        for record in records {
            match record.into_parts()? {
                Ok(task) => tasks.push(task),
                Err(saved) => ended.push(saved),
            }
        }
        tasks.sort_by_key(|task| TaskKey::of(&task.request));
        Ok(Self::of_parts(tasks, ended, counters))
    }

    /// Every task of the snapshot as a record: the ended ones, the oldest first, then
    /// the tasks in flight in the order of their keys. A task both in flight and
    /// remembered as ended (its `bid` started again after it ended, in a snapshot
    /// written before a tracker forgot the ended one at such a start) is in flight.
    pub fn records(&self) -> Vec<TaskRecord> {
        let (tasks, ended) = self.parts();
        let in_flight: HashSet<TaskKey> = tasks.iter().map(|t| TaskKey::of(&t.request)).collect();
        ended
            .iter()
            .filter(|s| !in_flight.contains(&s.task))
            .cloned()
            .map(|s| TaskRecord(Body::Ended(s)))
            .chain(tasks.iter().cloned().map(TaskRecord::in_flight))
            .collect()
    }
}
