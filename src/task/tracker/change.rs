//! What the tracker reports: each task's [`Change`] in an [`Update`], how a task
//! [`Ending`] is remembered, and the [`Output`] of every call (updates and messages to
//! publish).

use serde::{Deserialize, Serialize};

use crate::model::{Device, Id, Message, ResultCode, Serial, Step, TaskStatus, Text, UpgradeType};

use super::TaskKey;
#[cfg(doc)]
use super::{Tracker, TrackerConfig};
#[cfg(doc)]
use crate::model::StatePush;

/// What happened to a task, as reported by [`Tracker::handle`], [`Tracker::poll`] and
/// [`Tracker::handle_state`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The task concerned (for [`Ignored::Unknown`], the gateway and `bid` of the
    /// message; for [`Change::ConsistencyNeeded`] of a device of no task, the push's).
    pub task: TaskKey,
    /// What changed.
    pub change: Change,
}

impl Update {
    /// For [`Change::ConsistencyNeeded`], the `ota_create` that fixes it: a consistency
    /// upgrade (`firmware_upgrade_type` 2) of the device to `product_version`, sent to
    /// the update's gateway. `None` for any other change.
    pub fn consistency_upgrade(&self, product_version: impl Into<Text>) -> Option<Message> {
        let Change::ConsistencyNeeded { device } = &self.change else {
            return None;
        };
        let device = Device::new(device.as_str(), product_version, UpgradeType::CONSISTENCY);
        Some(Message::ota_create(self.task.gateway.clone(), vec![device]))
    }
}

/// A change in a task's life. [`Change::is_final`] tells the ones that end it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// No reply came in time: the request was sent again (in the update's `publish`),
    /// with a new `tid` and the same `bid`.
    Retried {
        /// Which attempt this is: 2 for the first retry.
        attempt: u32,
        /// The new attempt's `tid`.
        tid: Id,
    },
    /// The dock took the task.
    Accepted {
        /// The status the dock gave, usually `in_progress`.
        status: Option<TaskStatus>,
        /// True when an event showed it before (or without) a reply.
        by_event: bool,
    },
    /// A progress event was applied.
    Progress {
        /// The task's status (not final).
        status: TaskStatus,
        /// The event's `result`: usually 0.
        result: ResultCode,
        /// The step, when the event named one.
        step: Option<Step>,
        /// Percent of the step done, when the event carried it.
        percent: Option<i64>,
        /// Download rate in bytes per second, when the event carried it.
        rate: Option<u64>,
    },
    /// The task ended with a final `ota_progress` status (`ok`, `failed`, ...).
    Finished {
        /// The final status; only `ok` is a success.
        status: TaskStatus,
        /// The event's `result`; `failed` can come with 0.
        result: ResultCode,
    },
    /// The dock refused the task in its reply: a non-zero `result`, or a final status
    /// other than `ok`.
    Refused {
        /// The reply's `result`.
        result: ResultCode,
        /// The reply's status, if it gave one.
        status: Option<TaskStatus>,
    },
    /// No reply came to any attempt: the task failed.
    NoReply {
        /// How many times the request was sent.
        attempts: u32,
    },
    /// The dock took the task but then sent nothing for
    /// [`TrackerConfig::silence_timeout_ms`]: the task failed.
    Silent {
        /// When the last sign of the task arrived (`now_ms` of its handling).
        last_heard_ms: u64,
    },
    /// No final event came, but every device of the task reported, in its state
    /// pushes, that it is not upgrading and runs the version the task asked for: the
    /// task ended `ok`, as confirmed by the devices' state ([`Tracker::handle_state`]).
    Confirmed {
        /// Each device and the version it reported.
        versions: Vec<(Text, Text)>,
    },
    /// A device of the accepted task reported, in a state push, that it is not
    /// upgrading and runs another version than the task asked for: the task failed,
    /// without waiting for the silence limit.
    Reverted {
        /// The device.
        device: Text,
        /// The version it reported.
        version: Text,
        /// The version the task asked for.
        wanted: Text,
    },
    /// A device reported `compatible_status` 1: it needs a consistency upgrade.
    /// [`StatePush::consistency_upgrade`] builds the `ota_create` that fixes it. The
    /// update's task is the device's task in flight, if any, else the push's gateway
    /// and `bid`.
    ConsistencyNeeded {
        /// The device.
        device: Serial,
    },
    /// A message was set aside; the task, if any, is unchanged.
    Ignored(Ignored),
}

impl Change {
    /// True for the changes that end a task: [`Change::Finished`], [`Change::Refused`],
    /// [`Change::NoReply`], [`Change::Silent`], [`Change::Confirmed`],
    /// [`Change::Reverted`].
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Change::Finished { .. }
                | Change::Refused { .. }
                | Change::NoReply { .. }
                | Change::Silent { .. }
                | Change::Confirmed { .. }
                | Change::Reverted { .. }
        )
    }

    /// True when the change ends the task successfully: a final `ok`, or the devices'
    /// state confirming the new version ([`Change::Confirmed`]).
    pub fn is_success(&self) -> bool {
        matches!(self, Change::Finished { status, .. } if status.is_success())
            || matches!(self, Change::Confirmed { .. })
    }
}

/// Why a message did not change its task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    /// An event whose `tid` was already seen for its task.
    Duplicate {
        /// The event's `tid`.
        tid: Id,
    },
    /// An event older than the last one applied.
    OutOfOrder {
        /// The event's `tid`.
        tid: Id,
        /// Its percent, if it had one.
        percent: Option<i64>,
    },
    /// A reply or event of a task that already ended.
    Late {
        /// The message's `tid`.
        tid: Id,
        /// How the task had ended.
        ended: Ending,
    },
    /// A reply or event of no task in flight and none recently ended.
    Unknown {
        /// The message's `tid`.
        tid: Id,
    },
    /// A reply with the task's `bid` but the `tid` of none of its attempts.
    UnmatchedReply {
        /// The reply's `tid`.
        tid: Id,
    },
    /// A reply to a task that was already accepted (an answer to a retry, say).
    ExtraReply {
        /// The reply's `tid`.
        tid: Id,
        /// Its `result`.
        result: ResultCode,
    },
    /// A message the cloud sends rather than receives (`ota_create`, `events_reply`).
    Outbound,
}

/// How an ended task ended, as remembered for late messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// A final `ota_progress` status.
    Finished {
        /// The final status.
        status: TaskStatus,
        /// The event's `result`.
        result: ResultCode,
    },
    /// Refused in the reply.
    Refused {
        /// The reply's `result`.
        result: ResultCode,
    },
    /// No reply to any attempt.
    NoReply,
    /// No event for too long.
    Silent,
    /// Dropped by [`Tracker::forget`].
    Forgotten,
    /// Confirmed by the devices' state: every device at the version asked, not
    /// upgrading ([`Change::Confirmed`]).
    Confirmed,
    /// A device back at another version ([`Change::Reverted`]).
    Reverted {
        /// The device.
        device: Text,
        /// The version it reported.
        version: Text,
    },
}

impl Ending {
    /// True for the endings of a successful upgrade: a final `ok`, or confirmed by the
    /// devices' state.
    pub fn is_success(&self) -> bool {
        matches!(self, Ending::Finished { status, .. } if status.is_success())
            || matches!(self, Ending::Confirmed)
    }
}

/// What the caller does after handing the tracker a message or the time: publish
/// `publish` in order, then act on `updates`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    /// Messages to publish: retries of `ota_create`, replies to events.
    pub publish: Vec<Message>,
    /// What happened to which task.
    pub updates: Vec<Update>,
}

impl Output {
    pub(super) fn ignore(&mut self, task: TaskKey, ignored: Ignored) {
        self.updates.push(Update {
            task,
            change: Change::Ignored(ignored),
        });
    }

    pub(super) fn answer(&mut self, event: &Message, now_ms: u64) {
        if let Some(mut reply) = event.reply_to_event(ResultCode::SUCCESS) {
            reply.timestamp = now_ms;
            self.publish.push(reply);
        }
    }
}
