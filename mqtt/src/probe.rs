//! What the cloud driver tells its metrics: the kinds of messages and endings it
//! counts, and, without the feature `metrics`, a probe that does nothing.

use dji_cloud_ota::Data;
use dji_cloud_ota::tracker::Change;

#[cfg(feature = "metrics")]
pub(crate) use crate::metrics::Probe;

/// The kind of a message read or published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Received {
    /// A reply to `ota_create`.
    Reply,
    /// An `ota_progress` event.
    Event,
    /// A device's state push.
    State,
    /// An `ota_create`.
    Request,
    /// A reply to an event.
    EventReply,
    /// A message of another method on the same topics (an `hms` event, ...).
    OtherMethod,
    /// A message that did not decode.
    Undecodable,
}

impl Received {
    pub(crate) fn of(data: &Data) -> Self {
        match data {
            Data::OtaCreate(_) => Received::Request,
            Data::OtaCreateReply(_) => Received::Reply,
            Data::OtaProgress(_) => Received::Event,
            Data::OtaProgressReply(_) => Received::EventReply,
        }
    }

    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Received::Reply => "reply",
            Received::Event => "event",
            Received::State => "state",
            Received::Request => "request",
            Received::EventReply => "event_reply",
            Received::OtherMethod => "other_method",
            Received::Undecodable => "undecodable",
        }
    }
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) enum Ending {
    Ok,
    Confirmed,
    Failed,
    Refused,
    NoReply,
    Silent,
    Reverted,
}

#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
impl Ending {
    /// How `change` ends its task; `None` when it does not.
    pub(crate) fn of(change: &Change) -> Option<Self> {
        Some(match change {
            Change::Finished { status, .. } if status.is_success() => Ending::Ok,
            Change::Finished { .. } => Ending::Failed,
            Change::Confirmed { .. } => Ending::Confirmed,
            Change::Refused { .. } => Ending::Refused,
            Change::NoReply { .. } => Ending::NoReply,
            Change::Silent { .. } => Ending::Silent,
            Change::Reverted { .. } => Ending::Reverted,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Ending::Ok => "ok",
            Ending::Confirmed => "confirmed",
            Ending::Failed => "failed",
            Ending::Refused => "refused",
            Ending::NoReply => "no_reply",
            Ending::Silent => "silent",
            Ending::Reverted => "reverted",
        }
    }
}

/// Without the feature `metrics`: nothing is counted, and nothing costs.
#[cfg(not(feature = "metrics"))]
pub(crate) use disabled::Probe;

#[cfg(not(feature = "metrics"))]
mod disabled {
    use std::time::Duration;

    use dji_cloud_ota::Message;
    use dji_cloud_ota::tracker::{Change, TaskKey, Tracker};

    use super::Received;
    use crate::cloud::RolloutStatus;

    pub(crate) struct Probe;

    impl Probe {
        pub(crate) fn new() -> Self {
            Probe
        }
        pub(crate) fn restored(&mut self, _: &Tracker) {}
        pub(crate) fn started(&mut self, _: &Tracker, _: &TaskKey) {}
        pub(crate) fn task(&mut self, _: &Tracker, _: &TaskKey) {}
        pub(crate) fn ended(&self, _: &Change) {}
        pub(crate) fn received(&self, _: Received) {}
        pub(crate) fn published(&self, _: &Message) {}
        pub(crate) fn committed(&self, _: Duration) {}
        pub(crate) fn commit_failed(&self) {}
        pub(crate) fn connected(&self, _: bool) {}
        pub(crate) fn disconnected(&self) {}
        pub(crate) fn queues(&self, _: usize, _: usize) {}
        pub(crate) fn rollout(&self, _: &RolloutStatus) {}
    }
}
