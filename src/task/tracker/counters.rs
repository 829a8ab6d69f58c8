//! What a tracker has seen and done: one counter per kind of change and of message
//! set aside, carried across restarts in the snapshot.

use serde::{Deserialize, Serialize};

use crate::model::Data;

#[cfg(doc)]
use super::Tracker;
use super::{Change, Ignored, Output};

/// What a [`Tracker`] has seen and done, one counter per kind of [`Change`] and of
/// [`Ignored`] message, plus the tasks started and the events answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    /// Tasks started.
    pub started: u64,
    /// Requests sent again for lack of a reply.
    pub retries: u64,
    /// Tasks the dock took.
    pub accepted: u64,
    /// Progress events applied.
    pub progress: u64,
    /// Tasks that ended `ok`.
    pub finished_ok: u64,
    /// Tasks that ended with another final status (`failed`, `canceled`, ...).
    pub finished_otherwise: u64,
    /// Tasks the dock refused in its reply.
    pub refused: u64,
    /// Tasks that got no reply to any attempt.
    pub no_reply: u64,
    /// Tasks whose dock went silent.
    pub silent: u64,
    /// Events answered on `events_reply`.
    pub events_answered: u64,
    /// Tasks ended `ok` as confirmed by the devices' state, without a final event.
    #[serde(default)]
    pub confirmed: u64,
    /// Tasks failed because a device reported another version than asked.
    #[serde(default)]
    pub reverted: u64,
    /// Reports of a device that needs a consistency upgrade.
    #[serde(default)]
    pub consistency_needed: u64,
    /// State pushes handled.
    #[serde(default)]
    pub state_pushes: u64,
    /// Events set aside as duplicates.
    pub duplicates: u64,
    /// Events set aside as older than the last one applied.
    pub out_of_order: u64,
    /// Replies and events of tasks that had ended.
    pub late: u64,
    /// Replies and events of no task known to this tracker.
    pub unknown: u64,
    /// Replies with a task's `bid` and the `tid` of none of its attempts.
    pub unmatched_replies: u64,
    /// Replies to tasks already accepted.
    pub extra_replies: u64,
    /// Messages the cloud sends rather than receives, handed to the tracker.
    pub outbound: u64,
}

impl Counters {
    /// Counts what `out` reports and publishes.
    pub(super) fn tally(&mut self, out: &Output) {
        let c = self;
        c.events_answered += out
            .publish
            .iter()
            .filter(|m| matches!(m.data, Data::OtaProgressReply(_)))
            .count() as u64;
        for update in &out.updates {
            let counter = match &update.change {
                Change::Retried { .. } => &mut c.retries,
                Change::Accepted { .. } => &mut c.accepted,
                Change::Progress { .. } => &mut c.progress,
                Change::Finished { status, .. } if status.is_success() => &mut c.finished_ok,
                Change::Finished { .. } => &mut c.finished_otherwise,
                Change::Refused { .. } => &mut c.refused,
                Change::NoReply { .. } => &mut c.no_reply,
                Change::Silent { .. } => &mut c.silent,
                Change::Confirmed { .. } => &mut c.confirmed,
                Change::Reverted { .. } => &mut c.reverted,
                Change::ConsistencyNeeded { .. } => &mut c.consistency_needed,
                Change::Ignored(ignored) => match ignored {
                    Ignored::Duplicate { .. } => &mut c.duplicates,
                    Ignored::OutOfOrder { .. } => &mut c.out_of_order,
                    Ignored::Late { .. } => &mut c.late,
                    Ignored::Unknown { .. } => &mut c.unknown,
                    Ignored::UnmatchedReply { .. } => &mut c.unmatched_replies,
                    Ignored::ExtraReply { .. } => &mut c.extra_replies,
                    Ignored::Outbound => &mut c.outbound,
                },
            };
            *counter += 1;
        }
    }
}
