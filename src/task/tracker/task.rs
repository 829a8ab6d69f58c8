//! One task in flight as the tracker keeps it (and as a snapshot saves it), and one
//! recently ended.

use serde::{Deserialize, Serialize};

use crate::model::{Id, Message, OtaProgress, Step, TaskStatus, Text};

use super::deadlines::Queued;
use super::seen::Seen;
use super::{Ending, TaskState, TrackerConfig};

/// A task in flight as the tracker holds it: the task, and its entry in the queue of
/// deadlines, kept beside it so that moving its deadline looks nothing else up.
#[derive(Debug, Clone)]
pub(super) struct Tracked {
    pub(super) task: Task,
    pub(super) queued: Queued,
}

impl Tracked {
    /// A task not yet in the queue of deadlines.
    pub(super) fn new(task: Task) -> Self {
        Self { task, queued: None }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Task {
    pub(super) request: Message,
    pub(super) attempts: Vec<Id>,
    pub(super) phase: Phase,
    pub(super) last_heard_ms: u64,
    pub(super) status: Option<TaskStatus>,
    pub(super) last_event: Option<Position>,
    pub(super) seen: Seen,
    /// What the task's devices said of their firmware in state pushes since it started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) firmware: Vec<Observed>,
    /// Set once the devices' state confirms the outcome: when the task ends so, unless
    /// the final event comes first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) confirming: Option<Confirming>,
}

impl Task {
    /// When [`Tracker::poll`](super::Tracker::poll) next has something to do for the
    /// task, if ever: the end of the reply window of its latest attempt, or, once
    /// accepted, the silence limit after its last sign of life; and the end of the
    /// state's grace once its devices confirmed the outcome, which lifts the silence
    /// limit.
    pub(super) fn due(&self, config: &TrackerConfig) -> Option<u64> {
        let phase = match self.phase {
            Phase::AwaitingReply { deadline_ms } => Some(deadline_ms),
            Phase::Accepted if self.confirming.is_some() => None,
            Phase::Accepted => config
                .silence_timeout_ms
                .map(|t| self.last_heard_ms.saturating_add(t)),
        };
        let confirmed = self.confirming.as_ref().map(|c| c.deadline_ms);
        phase.into_iter().chain(confirmed).min()
    }

    /// The task's state as [`Tracker::task`](super::Tracker::task) shows it.
    pub(super) fn state(&self) -> TaskState {
        let last = self.last_event.as_ref();
        TaskState {
            attempts: len_u32(&self.attempts),
            accepted: self.phase == Phase::Accepted,
            status: self.status.clone(),
            step: last.and_then(|p| p.step.clone()),
            percent: last.and_then(|p| p.percent),
            last_heard_ms: self.last_heard_ms,
        }
    }
}

/// An outcome the devices' state confirmed, waiting for the final event a moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Confirming {
    pub(super) deadline_ms: u64,
    pub(super) versions: Vec<(Text, Text)>,
}

/// What one device of a task said in its state pushes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Observed {
    pub(super) sn: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) version: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) upgrading: Option<bool>,
    /// True once the device reported upgrading during the task.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) was_upgrading: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Phase {
    AwaitingReply { deadline_ms: u64 },
    Accepted,
}

/// Where the last applied event stood: its dock timestamp, step and percent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Position {
    pub(super) timestamp: u64,
    pub(super) step: Option<Step>,
    pub(super) percent: Option<i64>,
}

impl Position {
    pub(super) fn of(message: &Message, event: &OtaProgress) -> Self {
        Self {
            timestamp: message.timestamp,
            step: event.step().cloned(),
            percent: event.percent(),
        }
    }

    /// True when `self` was sent before `last`.
    pub(super) fn is_before(&self, last: &Position) -> bool {
        if self.timestamp != last.timestamp {
            return self.timestamp < last.timestamp;
        }
        match (self.percent, last.percent) {
            (Some(mine), Some(theirs)) if self.step == last.step => mine < theirs,
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Ended {
    pub(super) ending: Ending,
    pub(super) seen: Seen,
}

pub(super) fn len_u32<T>(items: &[T]) -> u32 {
    u32::try_from(items.len()).unwrap_or(u32::MAX)
}
