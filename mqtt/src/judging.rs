//! When a cloud's driver may judge deadlines as its connection comes and goes, and what
//! each report of the connection means to it: one place for the single driver
//! ([`crate::cloud`]) and a group's ([`crate::group`]).

use std::time::Duration;

use tokio::time::Instant;

use crate::cloud::{CloudCounters, CloudEvent};
use crate::link::{Arrival, LinkEvent};
use crate::probe::Probe;

/// From when deadlines are judged: never while disconnected, and not for the grace
/// after a reconnection (or a first connection that follows a restore), so that what
/// the broker kept for the session is read before any dock is taken for silent.
pub(crate) struct Judging {
    from: Option<Instant>,
    grace: Duration,
    grace_at_next_up: bool,
}

/// What a report of the connection leaves the driver to do.
pub(crate) enum Took {
    /// A message to handle.
    Arrived(Arrival),
    /// An event to report, and on.
    Report(CloudEvent),
    /// An event to report, and stop: the connection is gone for good.
    Stop(CloudEvent),
}

impl Judging {
    /// Judging nothing until connected; after the first connection too when
    /// `grace_at_first_up` (the driver restored tasks).
    pub(crate) fn new(grace: Duration, grace_at_first_up: bool) -> Self {
        Self {
            from: None,
            grace,
            grace_at_next_up: grace_at_first_up,
        }
    }

    /// From when deadlines are judged; `None` while disconnected.
    pub(crate) fn from(&self) -> Option<Instant> {
        self.from
    }

    /// True when deadlines are judged now.
    pub(crate) fn now(&self) -> bool {
        self.from.is_some_and(|from| from <= Instant::now())
    }

    /// Judges nothing from now on for `at_least`, or for the grace after a connection
    /// if that is longer, if connected.
    #[cfg(feature = "postgres")]
    pub(crate) fn hold(&mut self, at_least: Duration) {
        let grace = self.grace.max(at_least);
        if let Some(from) = &mut self.from {
            *from = (*from).max(Instant::now() + grace);
        }
    }

    /// Takes what the connection reported (`None`: it closed), counting disconnections
    /// in `counters` and telling `probe` of the connection's state.
    pub(crate) fn take(
        &mut self,
        event: Option<LinkEvent>,
        counters: &mut CloudCounters,
        probe: &Probe,
    ) -> Took {
        match event {
            Some(LinkEvent::Arrived(arrival)) => Took::Arrived(arrival),
            Some(LinkEvent::Up { session_present }) => {
                let grace = if self.grace_at_next_up {
                    self.grace
                } else {
                    Duration::ZERO
                };
                self.from = Some(Instant::now() + grace);
                self.grace_at_next_up = true;
                probe.connected(true);
                Took::Report(CloudEvent::Connected { session_present })
            }
            Some(LinkEvent::Down {
                reason,
                fatal: false,
            }) => {
                self.from = None;
                counters.disconnections += 1;
                probe.connected(false);
                probe.disconnected();
                Took::Report(CloudEvent::Disconnected { reason })
            }
            Some(LinkEvent::Down {
                reason,
                fatal: true,
            }) => {
                probe.connected(false);
                Took::Stop(CloudEvent::Failed { reason })
            }
            None => {
                probe.connected(false);
                Took::Stop(CloudEvent::Failed {
                    reason: "the connection closed".into(),
                })
            }
        }
    }
}
