//! The devices' state pushes: a second witness of an upgrade's outcome, routed to the
//! tasks of the pushing device through the index by device.

use crate::model::{Data, FirmwareUpgradeStatus, StatePush, Text};

#[cfg(doc)]
use super::TrackerConfig;
use super::task::{Confirming, Observed, Phase};
use super::{Change, Ending, Output, TaskKey, Tracker, Update};

impl Tracker {
    /// Takes a device's state push ([`crate::decode_state`]) received at `now_ms`: the
    /// devices' second witness of an upgrade's outcome, besides the final event.
    ///
    /// For each task in flight that upgrades the pushing device (by its serial, on the
    /// gateway the push's `gateway` names, if it names one):
    /// - the push is a sign of life of the task (see
    ///   [`TrackerConfig::silence_timeout_ms`]);
    /// - a device that reports upgrading (1) shows the dock took the task: a task still
    ///   waiting for its reply is accepted ([`Change::Accepted`] with `by_event`), and
    ///   no more retries are sent. The version a device reports while it upgrades is
    ///   the one it had, and is not taken as the outcome;
    /// - once every device of the task has reported `firmware_upgrade_status` 0 and
    ///   the `product_version` the task asked for, if the task was accepted or a device
    ///   reported upgrading, the outcome is confirmed: unless the final event comes
    ///   within [`TrackerConfig::state_grace_ms`] (a dock may push its state just
    ///   before it), the task then ends `ok` ([`Change::Confirmed`], at the next
    ///   [`Tracker::poll`]): the outcome stands even when the final event was lost;
    /// - a device of an accepted task that reported upgrading (1) during the task, then
    ///   reports 0 with another version than asked, ends the task as failed
    ///   ([`Change::Reverted`]), before the silence limit. The version is the push's
    ///   own, or the last one the device reported since the task started; without
    ///   one, nothing is concluded. A device that reports 0 before it ever reported
    ///   upgrading has not started (a dock downloads first), and fails nothing.
    ///
    /// Each property is taken as it comes: a push holds only what changed, so a
    /// device's version and status are remembered across pushes. Any push with
    /// `compatible_status` 1 is reported ([`Change::ConsistencyNeeded`]). A push of a
    /// device of no task changes nothing else.
    pub fn handle_state(&mut self, push: &StatePush, now_ms: u64) -> Output {
        let mut out = Output::default();
        self.counters.state_pushes += 1;
        let device = push.sn.as_str();
        let firmware = &push.firmware;
        let upgrading = match firmware.firmware_upgrade_status {
            Some(FirmwareUpgradeStatus::UPGRADING) => Some(true),
            Some(FirmwareUpgradeStatus::NOT_UPGRADING) => Some(false),
            // An unknown value says nothing the rules can use.
            _ => None,
        };
        let mut concerned = Vec::new();
        let mut ends = Vec::new();
        // A push names its dock in `gateway` (an aircraft's) or is the dock's own; one
        // without `gateway` is matched by the device alone.
        let behind = push.gateway.as_deref();
        let mut accepted_now = Vec::new();
        // The tasks that upgrade the device, from the index: the others are not looked
        // at.
        for key in self.index.of_device(device) {
            if behind.is_some_and(|g| g != key.gateway.as_str()) {
                continue;
            }
            let Some(task) = self.tasks.get_mut(key).map(|t| &mut t.task) else {
                continue;
            };
            let Data::OtaCreate(create) = &task.request.data else {
                continue;
            };
            let Some(wanted) = create
                .devices
                .iter()
                .find(|d| d.sn.as_str() == device)
                .map(|d| d.product_version.clone())
            else {
                continue;
            };
            concerned.push(key.clone());
            task.last_heard_ms = now_ms;
            let slot = match task.firmware.iter().position(|o| o.sn.as_str() == device) {
                Some(i) => &mut task.firmware[i],
                None => {
                    task.firmware.push(Observed {
                        sn: Text::new(device),
                        version: None,
                        upgrading: None,
                        was_upgrading: false,
                    });
                    task.firmware.last_mut().expect("just pushed")
                }
            };
            if upgrading == Some(true) {
                // While it upgrades, a device runs (and reports) the version it had:
                // that is not the outcome. Its version counts again once it is done.
                slot.version = None;
            } else if let Some(version) = &firmware.firmware_version {
                slot.version = Some(version.clone());
            }
            if upgrading.is_some() {
                slot.upgrading = upgrading;
            }
            slot.was_upgrading |= upgrading == Some(true);
            if upgrading == Some(true) && task.phase != Phase::Accepted {
                // The device upgrades: the dock took the task, whatever became of its
                // reply. No more retries.
                task.phase = Phase::Accepted;
                accepted_now.push(key.clone());
            }
            let accepted = task.phase == Phase::Accepted;
            // Back from upgrading at another version: a device that says it is not
            // upgrading before it ever said it was has not started yet. What it said
            // is taken as remembered, since a push holds only what changed.
            let back = slot.was_upgrading && slot.upgrading == Some(false);
            let other_version = slot.version.clone().filter(|v| *v != wanted);
            if let (true, true, Some(version)) = (accepted, back, other_version) {
                let change = Change::Reverted {
                    device: Text::new(device),
                    version: version.clone(),
                    wanted,
                };
                let ending = Ending::Reverted {
                    device: Text::new(device),
                    version,
                };
                ends.push((key.clone(), change, ending));
                continue;
            }
            let started = accepted || task.firmware.iter().any(|o| o.was_upgrading);
            let versions: Option<Vec<(Text, Text)>> = create
                .devices
                .iter()
                .map(|d| {
                    let seen = task.firmware.iter().find(|o| o.sn == d.sn)?;
                    let version = seen.version.clone()?;
                    (seen.upgrading == Some(false) && version == d.product_version)
                        .then(|| (d.sn.clone(), version))
                })
                .collect();
            match versions.filter(|_| started) {
                Some(versions) if self.config.state_grace_ms == 0 => {
                    ends.push((
                        key.clone(),
                        Change::Confirmed { versions },
                        Ending::Confirmed,
                    ));
                }
                Some(versions) => {
                    let deadline_ms = now_ms.saturating_add(self.config.state_grace_ms);
                    task.confirming.get_or_insert(Confirming {
                        deadline_ms,
                        versions,
                    });
                }
                // A device upgrading again, or at another version: not confirmed.
                None => task.confirming = None,
            }
        }
        for key in &concerned {
            // What the devices said, a sign of life, perhaps a confirmation.
            self.changed.touch(key);
            self.reschedule(key);
        }
        accepted_now.sort();
        for task in accepted_now {
            out.updates.push(Update {
                task,
                change: Change::Accepted {
                    status: None,
                    by_event: true,
                },
            });
        }
        for (key, change, ending) in ends {
            self.conclude(key, change, ending, &mut out);
        }
        if push.needs_consistency_upgrade() {
            concerned.sort();
            let task = concerned.into_iter().next().unwrap_or_else(|| TaskKey {
                gateway: push.gateway_serial(),
                bid: push.bid.clone(),
            });
            out.updates.push(Update {
                task,
                change: Change::ConsistencyNeeded {
                    device: push.sn.clone(),
                },
            });
        }
        self.counters.tally(&out);
        out
    }
}
