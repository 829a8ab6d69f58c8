//! A fleet rollout, without I/O: which gateways to upgrade next, in waves and within
//! limits, and what became of every device.
//!
//! A [`Rollout`] takes a [`RolloutPlan`]: the devices of the fleet (a dock and, behind
//! it, its aircraft: [`FleetDevice`]), the [`Firmware`] of each model, and a
//! [`Policy`]. Like the [`Tracker`](crate::tracker::Tracker), it never reads a clock
//! and never touches the network: the caller passes the time in, starts on its tracker
//! what [`Rollout::poll`] returns ([`Start`]: an `ota_create` per gateway, for
//! [`Tracker::start_request`](crate::tracker::Tracker::start_request)), and hands back
//! the tracker's final [`Change`] of each task ([`Rollout::task_ended`]) and the
//! devices' state pushes ([`Rollout::handle_state`]).
//!
//! # The policy
//! - **One task per gateway.** A gateway's devices (at most two: the dock and its
//!   aircraft) go in one `ota_create`; a gateway has at most one task in flight.
//! - **Canary.** The first [`Policy::canary`] gateways, in the plan's order, start
//!   first; the others wait until every canary task has ended, and start only if the
//!   canary's failures do not exceed [`Policy::abort_failed_percent`].
//! - **Limits.** At most [`Policy::max_in_flight`] tasks in flight, at most
//!   [`Policy::max_starts_per_minute`] starts (retries included) in any 60 s.
//! - **Failure threshold.** Once [`Policy::abort_min_finished`] tasks have finished
//!   (ended `ok` or failed for good), a share of failed ones above
//!   [`Policy::abort_failed_percent`] aborts the rollout: nothing new starts, the tasks
//!   in flight run to their end (the protocol has no cancel). It stays aborted until
//!   [`Rollout::resume`]; from then on, only the tasks that finish after the resumption
//!   count.
//! - **Retries.** A refusal that means "later" ([`ResultCode::is_transient`]: already
//!   updating, dock busy, aircraft off or not in the dock, restarting, battery low) and
//!   a dock that never answered ([`Change::NoReply`]) are tried again after
//!   [`Policy::retry_after_ms`], at most [`Policy::retry_limit`] times. Any other ending
//!   is final.
//! - **Already there.** A device whose state push, seen during the rollout, reports the
//!   target `firmware_version` before its task starts is [`Outcome::Skipped`]; a gateway
//!   with no device left to upgrade gets no `ota_create`.
//! - **Pause, resume, cancel.** [`Rollout::pause`] stops new starts until
//!   [`Rollout::resume`]; [`Rollout::cancel`] stops them for good, the waiting devices
//!   [`Outcome::Cancelled`].
//!
//! # Durability
//! The state is one [`DeviceRecord`] per device and a small header
//! ([`RolloutHeader`]). [`Rollout::take_changes`] tells which records changed since
//! it was last called, so that a store writes those rows only, and
//! [`Rollout::restore`] rebuilds the rollout from the rows.
//!
//! # Cost
//! Each call costs what it changes: the gateways waiting for their first start are a
//! queue in the plan's order, those waiting for a retry a queue by time, and devices,
//! gateways and tasks are found through indexes.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::tracker::{Change, Ending as TaskEnding, TaskKey};
use crate::model::{Device, Id, Message, ResultCode, Serial, StatePush, Text, UpgradeType};
use crate::rules::check::ValidationErrors;

/// One device of the fleet: the gateway (dock) it is reached through, its own serial,
/// and its model, which picks its [`Firmware`]. A dock's own row has `sn` equal to
/// `gateway`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FleetDevice {
    /// The gateway (dock) serial: the topic the `ota_create` goes to.
    pub gateway: Serial,
    /// The device's serial.
    pub sn: Serial,
    /// The device's model: a key of [`RolloutPlan::firmware`].
    pub model: Text,
}

impl FleetDevice {
    /// A device behind `gateway`.
    pub fn new(gateway: Serial, sn: Serial, model: impl Into<Text>) -> Self {
        Self {
            gateway,
            sn,
            model: model.into(),
        }
    }
}

/// The firmware a model is upgraded to: the fields of its `ota_create` device entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Firmware {
    /// The version to install (`product_version`).
    pub version: Text,
    /// Where the device downloads the package (`file_url`).
    pub url: Text,
    /// MD5 of the package: 32 hex digits.
    pub md5: Text,
    /// Size of the package in bytes.
    pub size: u64,
    /// The package's file name.
    pub file_name: Text,
    /// How the device upgrades (`firmware_upgrade_type`).
    pub upgrade_type: UpgradeType,
}

impl Firmware {
    /// The `ota_create` entry that upgrades device `sn` to this firmware.
    pub fn device(&self, sn: &Serial) -> Device {
        Device::new(sn.as_str(), self.version.clone(), self.upgrade_type).with_file(
            self.url.clone(),
            self.md5.clone(),
            self.size,
            self.file_name.clone(),
        )
    }
}

/// How a rollout goes: waves, limits, threshold and retries. See the [module
/// documentation](self).
///
/// In serde, an object of these fields, each optional, an absent one taking its
/// default.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// The first `canary` gateways of the plan start first; the rest wait until every
    /// canary task has ended. 0: no canary.
    pub canary: usize,
    /// Most tasks in flight at once (each dock downloads its package meanwhile). At
    /// least 1.
    pub max_in_flight: usize,
    /// Most starts, retries included, in any 60 s; `None`: no limit.
    pub max_starts_per_minute: Option<u32>,
    /// The rollout aborts when more than this percent (0 to 100) of the finished tasks
    /// failed; `None`: never. With 0, the first failure aborts.
    pub abort_failed_percent: Option<u32>,
    /// How many tasks must have finished before the threshold is judged (the canary is
    /// judged once it has ended, whatever its size).
    pub abort_min_finished: usize,
    /// How long after a transient refusal or a missing reply the gateway is tried
    /// again, in milliseconds.
    pub retry_after_ms: u64,
    /// How many times a gateway is tried again after its first attempt.
    pub retry_limit: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            canary: 0,
            max_in_flight: 50,
            max_starts_per_minute: None,
            abort_failed_percent: None,
            abort_min_finished: 1,
            retry_after_ms: 60_000,
            retry_limit: 3,
        }
    }
}

/// What a rollout upgrades, to what, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutPlan {
    /// The devices, in the order their gateways start (the canary is the first
    /// gateways).
    pub devices: Vec<FleetDevice>,
    /// The firmware of each model.
    pub firmware: BTreeMap<Text, Firmware>,
    /// The policy.
    #[serde(default)]
    pub policy: Policy,
}

/// Why a [`RolloutPlan`] cannot run. Device positions are indexes into
/// [`RolloutPlan::devices`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    /// The plan has no device.
    #[error("the rollout has no device")]
    NoDevices,
    /// A device serial appears twice.
    #[error("device {sn} is listed twice (devices {first} and {second})")]
    DuplicateDevice {
        /// The serial.
        sn: Serial,
        /// Its first position.
        first: usize,
        /// Its second position.
        second: usize,
    },
    /// A device's model has no firmware in the plan.
    #[error("device {index} ({sn}) is a {model}, and the plan has no firmware for it")]
    NoFirmware {
        /// The device's position.
        index: usize,
        /// Its serial.
        sn: Serial,
        /// Its model.
        model: Text,
    },
    /// A gateway has more devices than one `ota_create` takes (two).
    #[error("gateway {gateway} has {count} devices; one ota_create upgrades at most 2")]
    TooManyDevices {
        /// The gateway.
        gateway: Serial,
        /// Its devices.
        count: usize,
        /// The position of the device over the limit.
        index: usize,
    },
    /// The `ota_create` of a gateway would break a rule of the protocol.
    #[error("the ota_create of gateway {gateway} would not be valid: {errors}")]
    Invalid {
        /// The gateway.
        gateway: Serial,
        /// Every violation, with its path in the `ota_create`.
        errors: ValidationErrors,
    },
    /// A policy value is out of its range.
    #[error("policy: {field} {rule}")]
    Policy {
        /// The [`Policy`] field, as named in serde (`max_in_flight`).
        field: &'static str,
        /// What it must be (`must be at least 1`).
        rule: &'static str,
    },
}

/// What became of a device in a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Not started yet, or waiting for a retry.
    Waiting,
    /// Its gateway's task is in flight.
    InProgress,
    /// Upgraded.
    Ok,
    /// Not upgraded: the task failed for good.
    Failed,
    /// Already at the target version: nothing sent.
    Skipped,
    /// The rollout was cancelled before its upgrade started.
    Cancelled,
}

impl Outcome {
    /// Every outcome, in the order of its counts.
    pub const ALL: [Outcome; 6] = [
        Outcome::Ok,
        Outcome::Failed,
        Outcome::Skipped,
        Outcome::Cancelled,
        Outcome::Waiting,
        Outcome::InProgress,
    ];

    /// The name: `ok`, `failed`, `skipped`, `cancelled`, `waiting`, `in_progress`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Waiting => "waiting",
            Outcome::InProgress => "in_progress",
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// True when the device is done with: ok, failed, skipped or cancelled.
    pub const fn is_final(self) -> bool {
        !matches!(self, Outcome::Waiting | Outcome::InProgress)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An outcome name that is none of [`Outcome`]'s.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("not an outcome: {0:?} (ok, failed, skipped, cancelled, waiting, in_progress)")]
pub struct UnknownOutcome(pub String);

impl FromStr for Outcome {
    type Err = UnknownOutcome;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| UnknownOutcome(s.to_string()))
    }
}

/// A device's record in a rollout: what a status display shows and a store keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// The device.
    #[serde(flatten)]
    pub device: FleetDevice,
    /// What became of it so far.
    pub outcome: Outcome,
    /// The result code of its last task's ending, when it had one (`0` for ok, the
    /// refusal's or the failure's code otherwise).
    pub result: Option<ResultCode>,
    /// How many `ota_create` tasks were started for it.
    pub attempts: u32,
    /// The `bid` of its current or last task.
    pub task: Option<Id>,
    /// Waiting for a retry: not before this time.
    pub retry_at_ms: Option<u64>,
    /// When its first task started.
    pub started_ms: Option<u64>,
    /// When it reached a final outcome.
    pub ended_ms: Option<u64>,
    /// The `firmware_version` it last reported during the rollout.
    pub reported_version: Option<Text>,
}

impl DeviceRecord {
    fn new(device: FleetDevice) -> Self {
        Self {
            device,
            outcome: Outcome::Waiting,
            result: None,
            attempts: 0,
            task: None,
            retry_at_ms: None,
            started_ms: None,
            ended_ms: None,
            reported_version: None,
        }
    }
}

/// Whether new tasks start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutState {
    /// Starting tasks within the policy's limits.
    Running,
    /// Paused by [`Rollout::pause`]: no new start until [`Rollout::resume`].
    Paused,
    /// The failure threshold was crossed: no new start until [`Rollout::resume`].
    Aborted,
    /// Cancelled by [`Rollout::cancel`]: no new start, ever.
    Cancelled,
}

impl RolloutState {
    /// The name: `running`, `paused`, `aborted`, `cancelled`.
    pub const fn as_str(self) -> &'static str {
        match self {
            RolloutState::Running => "running",
            RolloutState::Paused => "paused",
            RolloutState::Aborted => "aborted",
            RolloutState::Cancelled => "cancelled",
        }
    }

    /// The state [`Rollout::pause`] leads to from this one: `paused` from `running`,
    /// `None` (nothing changes) from any other.
    pub const fn paused(self) -> Option<RolloutState> {
        match self {
            RolloutState::Running => Some(RolloutState::Paused),
            _ => None,
        }
    }

    /// The state [`Rollout::resume`] leads to from this one: `running` from `paused`
    /// or `aborted`, `None` (nothing changes) from `running` or `cancelled`.
    pub const fn resumed(self) -> Option<RolloutState> {
        match self {
            RolloutState::Paused | RolloutState::Aborted => Some(RolloutState::Running),
            _ => None,
        }
    }

    /// The state [`Rollout::cancel`] leads to from this one: `cancelled`, or `None`
    /// when it is cancelled already.
    pub const fn cancelled(self) -> Option<RolloutState> {
        match self {
            RolloutState::Cancelled => None,
            _ => Some(RolloutState::Cancelled),
        }
    }
}

impl fmt::Display for RolloutState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many devices have each [`Outcome`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Counts {
    /// Upgraded.
    pub ok: usize,
    /// Failed for good.
    pub failed: usize,
    /// Already at the target version.
    pub skipped: usize,
    /// Cancelled before their upgrade started.
    pub cancelled: usize,
    /// Not started yet, or waiting for a retry.
    pub waiting: usize,
    /// In a task in flight.
    pub in_progress: usize,
}

impl Counts {
    /// The count of one outcome.
    pub fn of(&self, outcome: Outcome) -> usize {
        match outcome {
            Outcome::Ok => self.ok,
            Outcome::Failed => self.failed,
            Outcome::Skipped => self.skipped,
            Outcome::Cancelled => self.cancelled,
            Outcome::Waiting => self.waiting,
            Outcome::InProgress => self.in_progress,
        }
    }

    /// The counts of the outcomes of `records` (a store's rows, say).
    pub fn of_records<'a>(records: impl IntoIterator<Item = &'a DeviceRecord>) -> Self {
        let mut counts = Counts::default();
        for record in records {
            *counts.slot(record.outcome) += 1;
        }
        counts
    }

    fn slot(&mut self, outcome: Outcome) -> &mut usize {
        match outcome {
            Outcome::Ok => &mut self.ok,
            Outcome::Failed => &mut self.failed,
            Outcome::Skipped => &mut self.skipped,
            Outcome::Cancelled => &mut self.cancelled,
            Outcome::Waiting => &mut self.waiting,
            Outcome::InProgress => &mut self.in_progress,
        }
    }
}

/// How a rollout ended, once [`Rollout::is_done`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every device ended ok or skipped.
    Success,
    /// The rollout went through, with failed or cancelled devices.
    Failures,
    /// The failure threshold stopped it: some devices were never tried.
    Aborted,
}

/// A task to start now: hand `request` to
/// [`Tracker::start_request`](crate::tracker::Tracker::start_request), which stamps
/// and validates it, and publish what it returns. If the tracker refuses it, tell
/// [`Rollout::start_failed`].
#[derive(Debug, Clone, PartialEq)]
pub struct Start {
    /// The task's key: its gateway and the `bid` of `request`.
    pub task: TaskKey,
    /// The `ota_create` of the gateway's devices still to upgrade.
    pub request: Message,
    /// Which attempt this is for the gateway: 1 for the first.
    pub attempt: u32,
}

/// Which parts of a rollout's state changed since [`Rollout::take_changes`] was last
/// called: what a store writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// The header ([`Rollout::header`]) changed.
    pub header: bool,
    /// The positions of the devices whose records changed, in ascending order.
    pub devices: Vec<usize>,
}

impl Changes {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        !self.header && self.devices.is_empty()
    }

    /// Adds what `later` names: what a store writes when an earlier commit failed.
    pub fn merge(&mut self, later: Changes) {
        self.header |= later.header;
        self.devices.extend(later.devices);
        self.devices.sort_unstable();
        self.devices.dedup();
    }
}

/// A rollout's whole state, for a store: the header and one record per device, in the
/// plan's order. The firmware and the policy are the plan's, kept by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutSnapshot {
    /// What is not a device's.
    #[serde(flatten)]
    pub header: RolloutHeader,
    /// One record per device, in the plan's order.
    pub devices: Vec<DeviceRecord>,
}

/// The part of a rollout's state that is no device's: a store's one row per rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutHeader {
    /// Whether new tasks start.
    pub state: RolloutState,
    /// When the rollout's first [`Rollout::poll`] came.
    pub began_ms: Option<u64>,
    /// The starts of the last 60 s, for [`Policy::max_starts_per_minute`].
    pub recent_starts: Vec<u64>,
    /// Tasks finished ok and failed before the last resumption after an abort, which
    /// the threshold no longer counts.
    pub threshold_base: (usize, usize),
}

/// Why [`Rollout::restore`] refused a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RestoreError {
    /// The plan does not run (see [`PlanError`]).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The plan and the snapshot list a different number of devices.
    #[error("the plan has {plan} devices, the saved rollout {saved}")]
    DeviceCount {
        /// Devices in the plan.
        plan: usize,
        /// Devices in the snapshot.
        saved: usize,
    },
    /// A device of the plan is not the snapshot's at the same position.
    #[error("device {index}: the plan has {plan:?}, the saved rollout {saved:?}")]
    DeviceDiffers {
        /// The position.
        index: usize,
        /// The plan's device.
        plan: Box<FleetDevice>,
        /// The snapshot's.
        saved: Box<FleetDevice>,
    },
    /// A device in progress has no task.
    #[error("device {index} is in progress without a task")]
    NoTask {
        /// The position.
        index: usize,
    },
}

/// One gateway: its devices, in the plan's order.
#[derive(Debug, Clone)]
struct Unit {
    gateway: Serial,
    devices: Vec<usize>,
    canary: bool,
    /// Every device has a final outcome.
    ended: bool,
}

/// A fleet rollout without I/O. See the [module documentation](self).
///
/// ```
/// use std::collections::BTreeMap;
/// use dji_cloud_ota::rollout::{FleetDevice, Firmware, Outcome, Policy, Rollout, RolloutPlan};
/// use dji_cloud_ota::tracker::Tracker;
/// use dji_cloud_ota::{Serial, UpgradeType};
///
/// let dock = Serial::new("4TADKAQ000002J")?;
/// let aircraft = Serial::new("1581F5BMD22330010X0V")?;
/// let firmware = |version: &str| Firmware {
///     version: version.into(),
///     url: "https://firmware.example.com/package.zip".into(),
///     md5: "6f1ed002ab5595859014ebf0951522d9".into(),
///     size: 1_000_000,
///     file_name: "package.zip".into(),
///     upgrade_type: UpgradeType::NORMAL,
/// };
/// let plan = RolloutPlan {
///     devices: vec![
///         FleetDevice::new(dock.clone(), dock.clone(), "dock2"),
///         FleetDevice::new(dock.clone(), aircraft, "m3d"),
///     ],
///     firmware: BTreeMap::from([
///         ("dock2".into(), firmware("10.01.0003")),
///         ("m3d".into(), firmware("10.01.0016")),
///     ]),
///     policy: Policy { max_in_flight: 10, ..Policy::default() },
/// };
/// let mut rollout = Rollout::new(plan)?;
/// let mut tracker = Tracker::default();
/// let now = 1_700_000_000_000;
/// for start in rollout.poll(now) {
///     // One ota_create for the dock and its aircraft.
///     let started = tracker.start_request(start.request, now)?;
///     let _publish_me = started.request.encode();
/// }
/// assert_eq!(rollout.counts().in_progress, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Rollout {
    firmware: BTreeMap<Text, Firmware>,
    policy: Policy,
    state: RolloutState,
    began_ms: Option<u64>,
    devices: Vec<DeviceRecord>,
    units: Vec<Unit>,
    unit_of_device: Vec<usize>,
    by_sn: HashMap<Serial, usize>,
    in_flight: HashMap<TaskKey, usize>,
    /// Units never started, in the plan's order (some may have ended meanwhile: skipped
    /// or cancelled; they are passed over).
    fresh: VecDeque<usize>,
    /// Units waiting for a retry, by time.
    retry: BTreeSet<(u64, usize)>,
    recent_starts: VecDeque<u64>,
    counts: Counts,
    canary_open: usize,
    canary_finished: (usize, usize),
    finished: (usize, usize),
    threshold_base: (usize, usize),
    changed: BTreeSet<usize>,
    header_changed: bool,
}

const MINUTE_MS: u64 = 60_000;

impl Rollout {
    /// A rollout of `plan`, nothing started yet.
    ///
    /// # Errors
    /// [`PlanError`]: no device, a device listed twice, a model without firmware, more
    /// than two devices behind one gateway, an `ota_create` that would not be valid, or
    /// a policy value out of range.
    pub fn new(plan: RolloutPlan) -> Result<Self, PlanError> {
        let devices = plan
            .devices
            .iter()
            .cloned()
            .map(DeviceRecord::new)
            .collect();
        let header = RolloutHeader {
            state: RolloutState::Running,
            began_ms: None,
            recent_starts: Vec::new(),
            threshold_base: (0, 0),
        };
        Self::build(plan, devices, header)
    }

    /// The rollout of `plan` as `snapshot` left it: the plan read again (from the
    /// operator's files, say) must list the same devices in the same order.
    ///
    /// # Errors
    /// [`RestoreError`]: the plan does not run, or it and the snapshot disagree.
    pub fn restore(plan: RolloutPlan, snapshot: RolloutSnapshot) -> Result<Self, RestoreError> {
        if plan.devices.len() != snapshot.devices.len() {
            return Err(RestoreError::DeviceCount {
                plan: plan.devices.len(),
                saved: snapshot.devices.len(),
            });
        }
        for (index, (planned, saved)) in plan.devices.iter().zip(&snapshot.devices).enumerate() {
            if *planned != saved.device {
                return Err(RestoreError::DeviceDiffers {
                    index,
                    plan: Box::new(planned.clone()),
                    saved: Box::new(saved.device.clone()),
                });
            }
            if saved.outcome == Outcome::InProgress && saved.task.is_none() {
                return Err(RestoreError::NoTask { index });
            }
        }
        Ok(Self::build(plan, snapshot.devices, snapshot.header)?)
    }

    fn build(
        plan: RolloutPlan,
        devices: Vec<DeviceRecord>,
        header: RolloutHeader,
    ) -> Result<Self, PlanError> {
        check_policy(&plan.policy)?;
        if plan.devices.is_empty() {
            return Err(PlanError::NoDevices);
        }
        let mut by_sn = HashMap::with_capacity(plan.devices.len());
        let mut unit_index: HashMap<Serial, usize> = HashMap::new();
        let mut units: Vec<Unit> = Vec::new();
        let mut unit_of_device = Vec::with_capacity(plan.devices.len());
        for (index, device) in plan.devices.iter().enumerate() {
            if let Some(first) = by_sn.insert(device.sn.clone(), index) {
                return Err(PlanError::DuplicateDevice {
                    sn: device.sn.clone(),
                    first,
                    second: index,
                });
            }
            if !plan.firmware.contains_key(&device.model) {
                return Err(PlanError::NoFirmware {
                    index,
                    sn: device.sn.clone(),
                    model: device.model.clone(),
                });
            }
            let u = *unit_index.entry(device.gateway.clone()).or_insert_with(|| {
                units.push(Unit {
                    gateway: device.gateway.clone(),
                    devices: Vec::new(),
                    canary: units.len() < plan.policy.canary,
                    ended: false,
                });
                units.len() - 1
            });
            units[u].devices.push(index);
            if units[u].devices.len() > 2 {
                return Err(PlanError::TooManyDevices {
                    gateway: device.gateway.clone(),
                    count: units[u].devices.len(),
                    index,
                });
            }
            unit_of_device.push(u);
        }
        for unit in &units {
            let request = Message::ota_create(
                unit.gateway.clone(),
                unit.devices
                    .iter()
                    .map(|&d| plan.firmware[&plan.devices[d].model].device(&plan.devices[d].sn))
                    .collect(),
            );
            request.validate().map_err(|errors| PlanError::Invalid {
                gateway: unit.gateway.clone(),
                errors,
            })?;
        }
        let mut rollout = Self {
            firmware: plan.firmware,
            policy: plan.policy,
            state: header.state,
            began_ms: header.began_ms,
            devices,
            units,
            unit_of_device,
            by_sn,
            in_flight: HashMap::new(),
            fresh: VecDeque::new(),
            retry: BTreeSet::new(),
            recent_starts: header.recent_starts.into(),
            counts: Counts::default(),
            canary_open: 0,
            canary_finished: (0, 0),
            finished: (0, 0),
            threshold_base: header.threshold_base,
            changed: BTreeSet::new(),
            header_changed: false,
        };
        rollout.index();
        Ok(rollout)
    }

    /// Rebuilds the queues, indexes and counts from the records.
    fn index(&mut self) {
        for record in &self.devices {
            *self.counts.slot(record.outcome) += 1;
        }
        for u in 0..self.units.len() {
            let unit = &self.units[u];
            let records: Vec<&DeviceRecord> =
                unit.devices.iter().map(|&d| &self.devices[d]).collect();
            let ended = records.iter().all(|r| r.outcome.is_final());
            if let Some(r) = records.iter().find(|r| r.outcome == Outcome::InProgress) {
                let bid = r.task.clone().expect("checked by restore");
                let key = TaskKey {
                    gateway: unit.gateway.clone(),
                    bid,
                };
                self.in_flight.insert(key, u);
            } else if let Some(at) = records
                .iter()
                .filter(|r| r.outcome == Outcome::Waiting)
                .find_map(|r| r.retry_at_ms)
            {
                self.retry.insert((at, u));
            } else if !ended {
                self.fresh.push_back(u);
            }
            let canary = unit.canary;
            let verdict = task_verdict(&records);
            self.units[u].ended = ended;
            if canary && !ended {
                self.canary_open += 1;
            }
            if let Some(ok) = verdict {
                count(&mut self.finished, ok);
                if canary {
                    count(&mut self.canary_finished, ok);
                }
            }
        }
    }

    /// The tasks to start now, within the policy: call it after every change (a task
    /// ended, a state push, a resumption) and once [`Rollout::next_deadline`] has
    /// passed. The first call marks the rollout's beginning.
    pub fn poll(&mut self, now_ms: u64) -> Vec<Start> {
        if self.began_ms.is_none() {
            self.began_ms = Some(now_ms);
            self.header_changed = true;
        }
        let mut starts = Vec::new();
        if self.state != RolloutState::Running {
            return starts;
        }
        while self.in_flight.len() < self.policy.max_in_flight && self.may_start_at(now_ms) {
            let Some(u) = self.next_unit(now_ms) else {
                break;
            };
            if let Some(start) = self.start_unit(u, now_ms) {
                starts.push(start);
            }
        }
        starts
    }

    /// True when the start rate allows a start at `now_ms`.
    fn may_start_at(&mut self, now_ms: u64) -> bool {
        let Some(limit) = self.policy.max_starts_per_minute else {
            return true;
        };
        while self
            .recent_starts
            .front()
            .is_some_and(|&at| at.saturating_add(MINUTE_MS) <= now_ms)
        {
            self.recent_starts.pop_front();
            self.header_changed = true;
        }
        self.recent_starts.len() < limit as usize
    }

    /// True when `u` may start in the current wave: a canary gateway, or any once the
    /// canary has ended.
    fn in_wave(&self, u: usize) -> bool {
        self.units[u].canary || self.canary_open == 0
    }

    /// The next gateway to start: a due retry first, then the next in the plan's order.
    fn next_unit(&mut self, now_ms: u64) -> Option<usize> {
        if let Some(&(at, u)) = self.retry.first() {
            if at <= now_ms && self.in_wave(u) {
                self.retry.pop_first();
                return Some(u);
            }
        }
        while let Some(&u) = self.fresh.front() {
            if self.units[u].ended {
                self.fresh.pop_front();
                continue;
            }
            if !self.in_wave(u) {
                return None;
            }
            self.fresh.pop_front();
            return Some(u);
        }
        None
    }

    /// Starts `u`'s devices still to upgrade; none when every one of them is already
    /// at its target version (they are skipped).
    fn start_unit(&mut self, u: usize, now_ms: u64) -> Option<Start> {
        let mut todo = Vec::with_capacity(2);
        for i in 0..self.units[u].devices.len() {
            let d = self.units[u].devices[i];
            if self.devices[d].outcome != Outcome::Waiting {
                continue;
            }
            if self.at_target(d) {
                self.set_outcome(d, Outcome::Skipped, now_ms);
            } else {
                todo.push(d);
            }
        }
        if todo.is_empty() {
            self.unit_maybe_ended(u);
            return None;
        }
        let gateway = self.units[u].gateway.clone();
        let entries = todo
            .iter()
            .map(|&d| {
                let device = &self.devices[d].device;
                self.firmware[&device.model].device(&device.sn)
            })
            .collect();
        let mut request = Message::ota_create(gateway, entries);
        request.timestamp = now_ms;
        let task = TaskKey::of(&request);
        let mut attempt = 0;
        for &d in &todo {
            self.set_outcome(d, Outcome::InProgress, now_ms);
            let record = &mut self.devices[d];
            record.attempts += 1;
            record.task = Some(task.bid.clone());
            record.retry_at_ms = None;
            record.started_ms.get_or_insert(now_ms);
            attempt = attempt.max(record.attempts);
        }
        self.in_flight.insert(task.clone(), u);
        if self.policy.max_starts_per_minute.is_some() {
            self.recent_starts.push_back(now_ms);
            self.header_changed = true;
        }
        Some(Start {
            task,
            request,
            attempt,
        })
    }

    /// True when device `d` reported its target version.
    fn at_target(&self, d: usize) -> bool {
        let record = &self.devices[d];
        record
            .reported_version
            .as_ref()
            .is_some_and(|v| *v == self.firmware[&record.device.model].version)
    }

    fn set_outcome(&mut self, d: usize, outcome: Outcome, now_ms: u64) {
        let record = &mut self.devices[d];
        if record.outcome == outcome {
            return;
        }
        *self.counts.slot(record.outcome) -= 1;
        *self.counts.slot(outcome) += 1;
        record.outcome = outcome;
        if outcome.is_final() {
            record.ended_ms = Some(now_ms);
            record.retry_at_ms = None;
        }
        self.changed.insert(d);
    }

    /// Marks `u` ended once every device of it has a final outcome; the canary's end
    /// is judged then.
    fn unit_maybe_ended(&mut self, u: usize) {
        let unit = &self.units[u];
        if unit.ended
            || !unit
                .devices
                .iter()
                .all(|&d| self.devices[d].outcome.is_final())
        {
            return;
        }
        self.units[u].ended = true;
        if self.units[u].canary {
            self.canary_open -= 1;
            if self.canary_open == 0 && self.crossed(self.canary_finished, (0, 0), 0) {
                self.abort();
            }
        }
    }

    /// Takes the final [`Change`] of a task (from the tracker's updates, where
    /// [`Change::is_final`]). Returns false, and changes nothing, for a task of no
    /// rollout (or one already ended) and for a change that does not end a task.
    pub fn task_ended(&mut self, task: &TaskKey, change: &Change, now_ms: u64) -> bool {
        if !change.is_final() {
            return false;
        }
        let Some(u) = self.in_flight.remove(task) else {
            return false;
        };
        let ending = match change {
            Change::Finished { status, result } if status.is_success() => Ending::Ok(Some(*result)),
            Change::Confirmed { .. } => Ending::Ok(None),
            Change::Refused { result, .. } if result.is_transient() => Ending::Later(Some(*result)),
            Change::NoReply { .. } => Ending::Later(None),
            Change::Finished { result, .. } | Change::Refused { result, .. } => {
                Ending::Failed(Some(*result))
            }
            _ => Ending::Failed(None),
        };
        self.end_task(u, ending, now_ms);
        true
    }

    /// Takes how a task ended as the tracker remembers it ([`Tracker::ending`]: after a
    /// restart, for a task whose end came before the rollout was taken up again).
    /// Returns false, and changes nothing, for a task of no rollout in flight.
    ///
    /// [`Tracker::ending`]: crate::tracker::Tracker::ending
    pub fn task_ending(&mut self, task: &TaskKey, ending: &TaskEnding, now_ms: u64) -> bool {
        let Some(u) = self.in_flight.remove(task) else {
            return false;
        };
        let ending = match ending {
            TaskEnding::Finished { status, result } if status.is_success() => {
                Ending::Ok(Some(*result))
            }
            TaskEnding::Confirmed => Ending::Ok(None),
            TaskEnding::Refused { result } if result.is_transient() => Ending::Later(Some(*result)),
            TaskEnding::NoReply => Ending::Later(None),
            TaskEnding::Finished { result, .. } | TaskEnding::Refused { result } => {
                Ending::Failed(Some(*result))
            }
            TaskEnding::Silent | TaskEnding::Forgotten | TaskEnding::Reverted { .. } => {
                Ending::Failed(None)
            }
        };
        self.end_task(u, ending, now_ms);
        true
    }

    /// The tracker refused to start a [`Start`] (the gateway has a task of another
    /// rollout or caller in flight, say): the gateway is tried again later, like a
    /// dock that answered "busy".
    pub fn start_failed(&mut self, task: &TaskKey, now_ms: u64) -> bool {
        let Some(u) = self.in_flight.remove(task) else {
            return false;
        };
        self.end_task(u, Ending::Later(None), now_ms);
        true
    }

    fn end_task(&mut self, u: usize, ending: Ending, now_ms: u64) {
        let devices = self.units[u].devices.clone();
        let in_task: Vec<usize> = devices
            .into_iter()
            .filter(|&d| self.devices[d].outcome == Outcome::InProgress)
            .collect();
        let attempts = in_task
            .iter()
            .map(|&d| self.devices[d].attempts)
            .max()
            .unwrap_or(0);
        let ending = match ending {
            Ending::Later(result) if attempts > self.policy.retry_limit => Ending::Failed(result),
            other => other,
        };
        match ending {
            Ending::Ok(result) | Ending::Failed(result) => {
                let ok = matches!(ending, Ending::Ok(_));
                for &d in &in_task {
                    self.devices[d].result = result;
                    self.set_outcome(d, if ok { Outcome::Ok } else { Outcome::Failed }, now_ms);
                }
                count(&mut self.finished, ok);
                if self.units[u].canary {
                    count(&mut self.canary_finished, ok);
                }
                self.unit_maybe_ended(u);
                if self.crossed(
                    self.finished,
                    self.threshold_base,
                    self.policy.abort_min_finished,
                ) {
                    self.abort();
                }
            }
            Ending::Later(result) => {
                let cancelled = self.state == RolloutState::Cancelled;
                let at = now_ms.saturating_add(self.policy.retry_after_ms);
                for &d in &in_task {
                    self.devices[d].result = result;
                    if cancelled {
                        self.set_outcome(d, Outcome::Cancelled, now_ms);
                    } else {
                        self.set_outcome(d, Outcome::Waiting, now_ms);
                        self.devices[d].retry_at_ms = Some(at);
                    }
                }
                if cancelled {
                    self.unit_maybe_ended(u);
                } else {
                    self.retry.insert((at, u));
                }
            }
        }
    }

    /// True when the failed share of the tasks finished since `base` exceeds the
    /// threshold, with at least `min` of them.
    fn crossed(&self, finished: (usize, usize), base: (usize, usize), min: usize) -> bool {
        let Some(percent) = self.policy.abort_failed_percent else {
            return false;
        };
        let ok = finished.0.saturating_sub(base.0);
        let failed = finished.1.saturating_sub(base.1);
        let total = ok + failed;
        total > 0 && total >= min && failed * 100 > percent as usize * total
    }

    /// The threshold is crossed: a running or paused rollout stops starting tasks
    /// until an operator resumes it.
    fn abort(&mut self) {
        if matches!(self.state, RolloutState::Running | RolloutState::Paused) {
            self.state = RolloutState::Aborted;
            self.header_changed = true;
        }
    }

    /// Takes a device's state push: its reported `firmware_version` is remembered, and
    /// a device at its target version before its task starts will be skipped. Returns
    /// true when the push is of a device of this rollout.
    pub fn handle_state(&mut self, push: &StatePush, now_ms: u64) -> bool {
        match &push.firmware.firmware_version {
            Some(version) => self.firmware_reported(push.sn.as_str(), version, now_ms),
            None => self.by_sn.contains_key(push.sn.as_str()),
        }
    }

    /// A device reported `version` as its `firmware_version` (from a state push, or
    /// from an inventory). A waiting device at its target version is skipped at once
    /// when its gateway has no task in flight. Returns false for a device of no
    /// rollout.
    pub fn firmware_reported(&mut self, sn: &str, version: &str, now_ms: u64) -> bool {
        let Some(&d) = self.by_sn.get(sn) else {
            return false;
        };
        if self.devices[d].reported_version.as_deref() != Some(version) {
            self.devices[d].reported_version = Some(version.into());
            self.changed.insert(d);
        }
        if self.devices[d].outcome == Outcome::Waiting && self.at_target(d) {
            let u = self.unit_of_device[d];
            if let Some(at) = self.devices[d].retry_at_ms {
                self.retry.remove(&(at, u));
                // The gateway's other device, if any, still waits for that retry.
                let others = self.units[u]
                    .devices
                    .iter()
                    .any(|&o| o != d && self.devices[o].outcome == Outcome::Waiting);
                if others {
                    self.retry.insert((at, u));
                }
            }
            self.set_outcome(d, Outcome::Skipped, now_ms);
            self.unit_maybe_ended(u);
        }
        true
    }

    /// No new start until [`Rollout::resume`]; the tasks in flight go on. False when
    /// the rollout was not running.
    pub fn pause(&mut self) -> bool {
        let Some(next) = self.state.paused() else {
            return false;
        };
        self.state = next;
        self.header_changed = true;
        true
    }

    /// Starts again after [`Rollout::pause`] or an abort. After an abort, the tasks
    /// finished so far no longer count toward the threshold. False when the rollout
    /// was running or cancelled.
    pub fn resume(&mut self) -> bool {
        let Some(next) = self.state.resumed() else {
            return false;
        };
        if self.state == RolloutState::Aborted {
            self.threshold_base = self.finished;
        }
        self.state = next;
        self.header_changed = true;
        true
    }

    /// No new start, ever: every waiting device is cancelled; the tasks in flight go
    /// on to their end (the protocol cannot stop an upgrade), and one that would be
    /// tried again is cancelled instead. False when already cancelled.
    pub fn cancel(&mut self, now_ms: u64) -> bool {
        let Some(next) = self.state.cancelled() else {
            return false;
        };
        self.state = next;
        self.header_changed = true;
        for d in 0..self.devices.len() {
            if self.devices[d].outcome == Outcome::Waiting {
                self.set_outcome(d, Outcome::Cancelled, now_ms);
            }
        }
        for u in 0..self.units.len() {
            self.unit_maybe_ended(u);
        }
        self.fresh.clear();
        self.retry.clear();
        true
    }

    /// When [`Rollout::poll`] may have something to start that it has not now: the
    /// earliest retry, or the end of the start rate's window (a time already passed
    /// means "now"). `None` when only a task's end, a state push or an operator can let
    /// something start, or nothing is left to start.
    pub fn next_deadline(&self) -> Option<u64> {
        if self.state != RolloutState::Running || self.in_flight.len() >= self.policy.max_in_flight
        {
            return None;
        }
        let fresh = self
            .fresh
            .iter()
            .find(|&&u| !self.units[u].ended)
            .is_some_and(|&u| self.in_wave(u));
        let wanted = if fresh {
            0
        } else {
            let &(at, u) = self.retry.first()?;
            if !self.in_wave(u) {
                return None;
            }
            at
        };
        match self.policy.max_starts_per_minute {
            Some(limit) if self.recent_starts.len() >= limit as usize => {
                let oldest = self.recent_starts[self.recent_starts.len() - limit as usize];
                Some(wanted.max(oldest.saturating_add(MINUTE_MS)))
            }
            _ => Some(wanted),
        }
    }

    /// Whether new tasks start.
    pub fn state(&self) -> RolloutState {
        self.state
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The firmware of each model.
    pub fn firmware(&self) -> &BTreeMap<Text, Firmware> {
        &self.firmware
    }

    /// How many devices have each outcome.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// How many tasks are in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The tasks in flight and their gateways.
    pub fn tasks_in_flight(&self) -> impl Iterator<Item = &TaskKey> {
        self.in_flight.keys()
    }

    /// True when `task` is one of this rollout's in flight.
    pub fn owns(&self, task: &TaskKey) -> bool {
        self.in_flight.contains_key(task)
    }

    /// Every device's record, in the plan's order.
    pub fn devices(&self) -> &[DeviceRecord] {
        &self.devices
    }

    /// The record of device `sn`.
    pub fn device(&self, sn: &str) -> Option<&DeviceRecord> {
        self.by_sn.get(sn).map(|&d| &self.devices[d])
    }

    /// True when nothing is in flight and nothing more will start without an
    /// operator: every device has a final outcome, or the rollout is aborted or
    /// cancelled. (A paused rollout is not done.)
    pub fn is_done(&self) -> bool {
        self.in_flight.is_empty()
            && (self.counts.waiting == 0
                || matches!(self.state, RolloutState::Aborted | RolloutState::Cancelled))
    }

    /// How the rollout ended, once [`Rollout::is_done`]; `None` before.
    pub fn verdict(&self) -> Option<Verdict> {
        if !self.is_done() {
            return None;
        }
        Some(if self.state == RolloutState::Aborted {
            Verdict::Aborted
        } else if self.counts.ok + self.counts.skipped == self.devices.len() {
            Verdict::Success
        } else {
            Verdict::Failures
        })
    }

    /// What changed since the last call: the rows a store writes.
    pub fn take_changes(&mut self) -> Changes {
        Changes {
            header: std::mem::take(&mut self.header_changed),
            devices: std::mem::take(&mut self.changed).into_iter().collect(),
        }
    }

    /// The whole state, for a store that writes it at once (or for a first write).
    pub fn snapshot(&self) -> RolloutSnapshot {
        RolloutSnapshot {
            header: self.header(),
            devices: self.devices.clone(),
        }
    }

    /// The part of the state that is no device's: what a store writes when
    /// [`Changes::header`] says it changed.
    pub fn header(&self) -> RolloutHeader {
        RolloutHeader {
            state: self.state,
            began_ms: self.began_ms,
            recent_starts: self.recent_starts.iter().copied().collect(),
            threshold_base: self.threshold_base,
        }
    }
}

/// How a task ended, for the rollout.
#[derive(Debug, Clone, Copy)]
enum Ending {
    Ok(Option<ResultCode>),
    Failed(Option<ResultCode>),
    /// Try again later (unless the attempts are spent).
    Later(Option<ResultCode>),
}

fn count(finished: &mut (usize, usize), ok: bool) {
    if ok {
        finished.0 += 1;
    } else {
        finished.1 += 1;
    }
}

/// Whether a gateway's task finished ok (`Some(true)`), failed (`Some(false)`), or
/// neither (not ended, or only skipped or cancelled devices).
fn task_verdict(records: &[&DeviceRecord]) -> Option<bool> {
    if !records.iter().all(|r| r.outcome.is_final()) {
        return None;
    }
    if records.iter().any(|r| r.outcome == Outcome::Failed) {
        Some(false)
    } else if records.iter().any(|r| r.outcome == Outcome::Ok) {
        Some(true)
    } else {
        None
    }
}

fn check_policy(policy: &Policy) -> Result<(), PlanError> {
    let out_of_range = |field, rule| Err(PlanError::Policy { field, rule });
    if policy.max_in_flight == 0 {
        return out_of_range("max_in_flight", "must be at least 1");
    }
    if policy.max_starts_per_minute == Some(0) {
        return out_of_range("max_starts_per_minute", "must be at least 1");
    }
    if policy.abort_failed_percent.is_some_and(|p| p > 100) {
        return out_of_range("abort_failed_percent", "must be 0 to 100");
    }
    Ok(())
}
