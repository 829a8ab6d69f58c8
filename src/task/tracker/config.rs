//! How a [`Tracker`] waits, retries and remembers: its policy, plain serde data.

use serde::{Deserialize, Serialize};

#[cfg(doc)]
use super::{Change, Tracker};

/// How a [`Tracker`] waits, retries and remembers.
///
/// The default is DJI's reference behaviour: a reply is awaited 3 s, and the request is
/// sent twice more (new `tid`, same `bid`) before the task fails for lack of a reply.
///
/// In serde (a configuration file, say) it is an object of these fields, each optional,
/// an absent one taking its default: `{"reply_timeout_ms": 5000, "silence_timeout_ms":
/// null}` waits 5 s for each reply and forever for events, and keeps the other defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrackerConfig {
    /// How long to wait for the reply to one attempt of `ota_create`, in milliseconds.
    pub reply_timeout_ms: u64,
    /// How many times the request is sent again after the first attempt got no reply.
    pub retries: u32,
    /// How long an accepted task may go without any event before it ends as
    /// [`Change::Silent`], in milliseconds; `None` waits forever.
    pub silence_timeout_ms: Option<u64>,
    /// Most tasks in flight at once; [`Tracker::start`] refuses more.
    pub max_tasks: usize,
    /// How many ended tasks are remembered, to tell a late event from an unknown one.
    pub recent_finished: usize,
    /// How many event ids are remembered per task, to recognise duplicates.
    pub seen_events_per_task: usize,
    /// Once the devices' state pushes confirm a task's outcome
    /// ([`Tracker::handle_state`]), how long the final event is still awaited before the
    /// task ends as [`Change::Confirmed`], in milliseconds: a dock may push its state
    /// just before its final event, which is then what ends the task. Zero ends it at
    /// once.
    pub state_grace_ms: u64,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            reply_timeout_ms: 3_000,
            retries: 2,
            silence_timeout_ms: Some(300_000),
            max_tasks: 65_536,
            recent_finished: 1_024,
            seen_events_per_task: 64,
            state_grace_ms: 5_000,
        }
    }
}
