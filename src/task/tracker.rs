//! The cloud side of an upgrade, without I/O: which `ota_create` to publish, when to
//! send it again, which reply and events belong to which task, which event to answer,
//! and when a task is over.
//!
//! A [`Tracker`] never reads a clock and never touches the network. The caller passes
//! the time in (`now_ms`, milliseconds on the caller's clock; Unix time from
//! [`crate::now_millis`] is the natural choice, since it is also written as the
//! `timestamp` of what the tracker asks to publish), feeds it every decoded message
//! that arrives, publishes what it returns, and calls [`Tracker::poll`] once
//! [`Tracker::next_deadline`] has passed.
//!
//! # Matching
//! A task is known by its gateway serial and the `bid` of its `ota_create`
//! ([`TaskKey`]): the reply and every `ota_progress` event of the task carry that `bid`,
//! each event with a `tid` of its own. A gateway runs one task at a time: while one is
//! in flight there, [`Tracker::start`] refuses another ([`StartError::GatewayBusy`]).
//!
//! - **Replies.** A `services_reply` counts when its `bid` is the task's and its `tid`
//!   is that of *any* attempt of the task, not only the latest. DJI's reference server
//!   accepts the latest attempt only; but a retry is sent because a reply was slow, and
//!   a slow reply to the first attempt proves the dock took the task, while the dock may
//!   well answer the retry with `312014` (already updating). A reply with a `tid` of no
//!   attempt is [`Ignored::UnmatchedReply`]; a second reply after the task was accepted
//!   is [`Ignored::ExtraReply`].
//! - **Events before the reply.** An event of a task still waiting for its reply means
//!   the dock took it (the reply was lost or is late): the task is accepted
//!   ([`Change::Accepted`] with `by_event`), and no more retries are sent.
//! - **Duplicates.** An event whose `tid` was already seen for its task (MQTT QoS 1
//!   delivers twice, a dock resends) is [`Ignored::Duplicate`]: it changes nothing, but
//!   when it asks for a reply it is answered again, since the first answer may be what
//!   was lost (a dock sends an event again when no reply came; a server killed after
//!   saving its state but before publishing the reply gets the event again from the
//!   broker). The last [`TrackerConfig::seen_events_per_task`] event ids of each task
//!   are kept.
//! - **Order.** An event older than the last one applied (an earlier dock `timestamp`,
//!   or the same timestamp with a lower percent in the same step) is
//!   [`Ignored::OutOfOrder`]: progress never goes backwards. A final status is never set
//!   aside for being out of order: it ends the task.
//! - **Late events.** An event or reply of a task that has ended is [`Ignored::Late`].
//!   The last [`TrackerConfig::recent_finished`] ended tasks are remembered for this;
//!   past them, a late message is [`Ignored::Unknown`], like one of a task this tracker
//!   never started.
//!
//! # Replies to events
//! Every `ota_progress` event with `need_reply` 1 is answered on `events_reply` with
//! result 0, the event's `tid`, `bid` and method, and `now_ms` as timestamp, as DJI's
//! server does, whether its task is in flight, ended or unknown (with shared
//! subscriptions, another server instance may have started it), and each time it
//! arrives: a duplicate is answered again.
//!
//! # Memory
//! The tracker holds the tasks in flight (at most [`TrackerConfig::max_tasks`]) and the
//! [`TrackerConfig::recent_finished`] last ended ones, each with at most
//! [`TrackerConfig::seen_events_per_task`] event ids and its request's attempt ids.
//! Nothing else grows.

use std::collections::{HashMap, VecDeque};
use std::fmt;

use thiserror::Error;

use serde::{Deserialize, Serialize};

use crate::model::{
    Data, Device, FirmwareUpgradeStatus, Id, Message, OtaCreateReply, OtaProgress, ResultCode,
    Serial, StatePush, Step, TaskStatus, Text, UpgradeType,
};
use crate::rules::check::ValidationErrors;

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

/// Which task: the gateway it runs on and the `bid` of its `ota_create`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskKey {
    /// The gateway (dock) serial.
    pub gateway: Serial,
    /// The task's business id, shared by its request, reply and events.
    pub bid: Id,
}

impl TaskKey {
    /// The task a message belongs to: its gateway and `bid`.
    pub fn of(message: &Message) -> Self {
        Self {
            gateway: message.sn.clone(),
            bid: message.bid.clone(),
        }
    }
}

impl fmt::Display for TaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bid {}", self.gateway, self.bid)
    }
}

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

/// A task just started: publish `request`.
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    /// The task's key, for matching later updates.
    pub task: TaskKey,
    /// The `ota_create` to publish.
    pub request: Message,
}

/// Why [`Tracker::start`] refused a task.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum StartError {
    /// The request breaks a rule of the protocol; the dock never sees it.
    #[error("the ota_create is not valid: {0}")]
    Invalid(ValidationErrors),
    /// The message given to [`Tracker::start_request`] is not an `ota_create`.
    #[error("not an ota_create request")]
    NotARequest,
    /// A task with this gateway and `bid` is already in flight: the same request
    /// started twice.
    #[error("a task with this gateway and bid is already in flight")]
    AlreadyInFlight,
    /// Another task is in flight on the request's gateway. A dock runs one upgrade at
    /// a time (it answers a second `ota_create` with `312014`, already updating, or
    /// `312015`, busy), so the tracker runs one task per gateway, whoever asks: start
    /// the new one once this one has ended (or was forgotten).
    #[error("gateway {} is busy: task bid {} is in flight", task.gateway, task.bid)]
    GatewayBusy {
        /// The task in flight on the gateway.
        task: TaskKey,
    },
    /// [`TrackerConfig::max_tasks`] tasks are in flight.
    #[error("{max} tasks are already in flight")]
    Full {
        /// The limit.
        max: usize,
    },
}

/// A task's state, as [`Tracker::task`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskState {
    /// How many times the request was sent.
    pub attempts: u32,
    /// True once the dock took the task.
    pub accepted: bool,
    /// The last status heard (from the reply or an event).
    pub status: Option<TaskStatus>,
    /// The last step heard.
    pub step: Option<Step>,
    /// The last percent heard.
    pub percent: Option<i64>,
    /// When the last sign of the task arrived (`now_ms` of its handling), or when it
    /// started.
    pub last_heard_ms: u64,
}

/// The cloud side of many upgrades at once, without I/O. See the [module
/// documentation](self) for how messages are matched.
///
/// ```
/// use dji_cloud_ota::tracker::{Change, Tracker};
/// use dji_cloud_ota::{Device, Serial, UpgradeType, now_millis};
///
/// let mut tracker = Tracker::default();
/// let device = Device::new("1581F5BMD22330010X0V", "04.01.0020", UpgradeType::NORMAL);
/// let started = tracker.start(Serial::new("4TADKAQ000002J")?, vec![device], now_millis())?;
/// let _publish_me = started.request.encode();
///
/// // No reply within 3 s: the tracker sends the request again.
/// let out = tracker.poll(now_millis() + 3_000);
/// assert_eq!(out.publish.len(), 1);
/// assert!(matches!(out.updates[0].change, Change::Retried { attempt: 2, .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    config: TrackerConfig,
    tasks: HashMap<TaskKey, Task>,
    ended: HashMap<TaskKey, Ended>,
    ended_order: VecDeque<TaskKey>,
    /// The tasks in flight by gateway: one, but for a snapshot written before a
    /// gateway was limited to one task.
    by_gateway: HashMap<Serial, Vec<TaskKey>>,
    counters: Counters,
    /// Moves at every change of what a snapshot holds, but for the counters.
    revision: u64,
}

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
}

/// An ended task as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SavedEnding {
    task: TaskKey,
    ending: Ending,
    seen: VecDeque<Id>,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Task {
    request: Message,
    attempts: Vec<Id>,
    phase: Phase,
    last_heard_ms: u64,
    status: Option<TaskStatus>,
    last_event: Option<Position>,
    seen: VecDeque<Id>,
    /// What the task's devices said of their firmware in state pushes since it started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    firmware: Vec<Observed>,
    /// Set once the devices' state confirms the outcome: when the task ends so, unless
    /// the final event comes first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    confirming: Option<Confirming>,
}

/// An outcome the devices' state confirmed, waiting for the final event a moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Confirming {
    deadline_ms: u64,
    versions: Vec<(Text, Text)>,
}

/// What one device of a task said in its state pushes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Observed {
    sn: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    upgrading: Option<bool>,
    /// True once the device reported upgrading during the task.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    was_upgrading: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Phase {
    AwaitingReply { deadline_ms: u64 },
    Accepted,
}

/// Where the last applied event stood: its dock timestamp, step and percent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    timestamp: u64,
    step: Option<Step>,
    percent: Option<i64>,
}

impl Position {
    fn of(message: &Message, event: &OtaProgress) -> Self {
        Self {
            timestamp: message.timestamp,
            step: event.step().cloned(),
            percent: event.percent(),
        }
    }

    /// True when `self` was sent before `last`.
    fn is_before(&self, last: &Position) -> bool {
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
struct Ended {
    ending: Ending,
    seen: VecDeque<Id>,
}

impl Tracker {
    /// A tracker with `config`.
    pub fn new(config: TrackerConfig) -> Self {
        Self {
            config,
            tasks: HashMap::new(),
            ended: HashMap::new(),
            ended_order: VecDeque::new(),
            by_gateway: HashMap::new(),
            counters: Counters::default(),
            revision: 0,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// Starts a task that upgrades `devices` behind `gateway`: a fresh `ota_create`
    /// stamped `now_ms`, to publish.
    ///
    /// One task runs on a gateway at a time: while one is in flight there, another is
    /// refused ([`StartError::GatewayBusy`], naming it).
    ///
    /// # Errors
    /// See [`StartError`]: an invalid request, too many tasks in flight, or a task in
    /// flight on the gateway.
    pub fn start(
        &mut self,
        gateway: Serial,
        devices: Vec<Device>,
        now_ms: u64,
    ) -> Result<Started, StartError> {
        self.start_request(Message::ota_create(gateway, devices), now_ms)
    }

    /// Starts a task from an `ota_create` the caller built (its own `bid`, say). The
    /// request is stamped `now_ms` and validated. As with [`Tracker::start`], its
    /// gateway must have no task in flight.
    ///
    /// # Errors
    /// See [`StartError`].
    pub fn start_request(
        &mut self,
        mut request: Message,
        now_ms: u64,
    ) -> Result<Started, StartError> {
        if !matches!(request.data, Data::OtaCreate(_)) {
            return Err(StartError::NotARequest);
        }
        request.timestamp = now_ms;
        request.validate().map_err(StartError::Invalid)?;
        if self.tasks.len() >= self.config.max_tasks {
            return Err(StartError::Full {
                max: self.config.max_tasks,
            });
        }
        let key = TaskKey::of(&request);
        if self.tasks.contains_key(&key) {
            return Err(StartError::AlreadyInFlight);
        }
        if let Some(busy) = self.by_gateway.get(&key.gateway).and_then(|t| t.first()) {
            let task = busy.clone();
            return Err(StartError::GatewayBusy { task });
        }
        self.insert(
            key.clone(),
            Task {
                attempts: vec![request.tid.clone()],
                request: request.clone(),
                phase: Phase::AwaitingReply {
                    deadline_ms: now_ms.saturating_add(self.config.reply_timeout_ms),
                },
                last_heard_ms: now_ms,
                status: None,
                last_event: None,
                seen: VecDeque::new(),
                firmware: Vec::new(),
                confirming: None,
            },
        );
        self.revision += 1;
        self.counters.started += 1;
        Ok(Started { task: key, request })
    }

    /// Takes one inbound message (a `services_reply` or an `ota_progress` event of any
    /// gateway) received at `now_ms`.
    pub fn handle(&mut self, message: &Message, now_ms: u64) -> Output {
        let mut out = Output::default();
        match &message.data {
            Data::OtaCreateReply(reply) => self.on_reply(message, reply, now_ms, &mut out),
            Data::OtaProgress(event) => self.on_event(message, event, now_ms, &mut out),
            Data::OtaCreate(_) | Data::OtaProgressReply(_) => {
                out.ignore(TaskKey::of(message), Ignored::Outbound);
            }
        }
        self.tally(&out);
        out
    }

    /// Acts on the time: sends the retries that are due and ends the tasks that got no
    /// reply or went silent. Harmless to call early or often.
    pub fn poll(&mut self, now_ms: u64) -> Output {
        let mut out = Output::default();
        let mut ended = Vec::new();
        for (key, task) in &mut self.tasks {
            if let Some(confirming) = task.confirming.as_ref().filter(|c| now_ms >= c.deadline_ms) {
                let versions = confirming.versions.clone();
                let change = Change::Confirmed { versions };
                ended.push((key.clone(), change, Ending::Confirmed));
                continue;
            }
            match task.phase {
                Phase::AwaitingReply { deadline_ms } if now_ms >= deadline_ms => {
                    let attempts = len_u32(&task.attempts);
                    if attempts > self.config.retries {
                        ended.push((key.clone(), Change::NoReply { attempts }, Ending::NoReply));
                        continue;
                    }
                    let mut retry = task.request.clone();
                    retry.tid = Id::new_v4();
                    retry.timestamp = now_ms;
                    task.attempts.push(retry.tid.clone());
                    self.revision += 1;
                    task.phase = Phase::AwaitingReply {
                        deadline_ms: now_ms.saturating_add(self.config.reply_timeout_ms),
                    };
                    out.updates.push(Update {
                        task: key.clone(),
                        change: Change::Retried {
                            attempt: attempts + 1,
                            tid: retry.tid.clone(),
                        },
                    });
                    out.publish.push(retry);
                }
                // Confirmed by the devices' state: the grace decides, not the silence.
                Phase::Accepted if task.confirming.is_some() => {}
                Phase::Accepted => {
                    let silent = self
                        .config
                        .silence_timeout_ms
                        .is_some_and(|t| now_ms >= task.last_heard_ms.saturating_add(t));
                    if silent {
                        let change = Change::Silent {
                            last_heard_ms: task.last_heard_ms,
                        };
                        ended.push((key.clone(), change, Ending::Silent));
                    }
                }
                Phase::AwaitingReply { .. } => {}
            }
        }
        for (key, change, ending) in ended {
            self.conclude(key, change, ending, &mut out);
        }
        self.tally(&out);
        out
    }

    /// When [`Tracker::poll`] next has something to do, if ever: the earliest retry or
    /// time-out of the tasks in flight.
    pub fn next_deadline(&self) -> Option<u64> {
        self.tasks
            .values()
            .filter_map(|task| {
                let phase = match task.phase {
                    Phase::AwaitingReply { deadline_ms } => Some(deadline_ms),
                    Phase::Accepted if task.confirming.is_some() => None,
                    Phase::Accepted => self
                        .config
                        .silence_timeout_ms
                        .map(|t| task.last_heard_ms.saturating_add(t)),
                };
                let confirmed = task.confirming.as_ref().map(|c| c.deadline_ms);
                phase.into_iter().chain(confirmed).min()
            })
            .min()
    }

    /// How many tasks are in flight.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// True when no task is in flight.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// How many ended tasks are remembered (at most [`TrackerConfig::recent_finished`]).
    pub fn remembered(&self) -> usize {
        self.ended.len()
    }

    /// The state of a task in flight.
    pub fn task(&self, key: &TaskKey) -> Option<TaskState> {
        self.tasks.get(key).map(|task| {
            let last = task.last_event.as_ref();
            TaskState {
                attempts: len_u32(&task.attempts),
                accepted: task.phase == Phase::Accepted,
                status: task.status.clone(),
                step: last.and_then(|p| p.step.clone()),
                percent: last.and_then(|p| p.percent),
                last_heard_ms: task.last_heard_ms,
            }
        })
    }

    /// Every task in flight with its state, in the order of their keys.
    pub fn tasks(&self) -> Vec<(TaskKey, TaskState)> {
        let mut keys: Vec<&TaskKey> = self.tasks.keys().collect();
        keys.sort();
        keys.into_iter()
            .filter_map(|key| Some((key.clone(), self.task(key)?)))
            .collect()
    }

    /// What the tracker has seen and done since it started (carried over by
    /// [`Tracker::snapshot`] and [`Tracker::restore`]).
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// A number that moves whenever what [`Tracker::snapshot`] holds changes, but for
    /// the counters: a server that saves the snapshot saves when it moved since its last
    /// save. A message that changes nothing (a duplicate, one of no task) leaves it
    /// where it was; the counters go with the next save.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The tracker's state, to save (with serde) and give to [`Tracker::restore`] after
    /// a restart: the tasks in flight (their requests, attempts, deadlines, the events
    /// seen), the recently ended ones and the counters. The configuration is not part
    /// of it. The format is described at [`TrackerSnapshot`].
    pub fn snapshot(&self) -> TrackerSnapshot {
        let mut tasks: Vec<(&TaskKey, &Task)> = self.tasks.iter().collect();
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

    /// The recently ended tasks (at most [`TrackerConfig::recent_finished`]) and how each
    /// ended, the oldest first.
    pub fn ended(&self) -> Vec<(TaskKey, Ending)> {
        self.ended_order
            .iter()
            .filter_map(|key| Some((key.clone(), self.ended.get(key)?.ending.clone())))
            .collect()
    }

    /// The `ota_create` of a task in flight (its latest attempt's `tid` aside): its
    /// devices, their versions, the task's gateway.
    pub fn request(&self, key: &TaskKey) -> Option<&Message> {
        self.tasks.get(key).map(|task| &task.request)
    }

    /// How a recently ended task ended.
    pub fn ending(&self, key: &TaskKey) -> Option<&Ending> {
        self.ended.get(key).map(|e| &e.ending)
    }

    /// Stops tracking a task in flight (the caller gave up on it); its late messages are
    /// then reported as such. False if no such task was in flight.
    pub fn forget(&mut self, key: &TaskKey) -> bool {
        let known = self.tasks.contains_key(key);
        if known {
            self.end(key, Ending::Forgotten);
        }
        known
    }

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
        for (key, task) in &mut self.tasks {
            let Data::OtaCreate(create) = &task.request.data else {
                continue;
            };
            if behind.is_some_and(|g| g != key.gateway.as_str()) {
                continue;
            }
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
        if !concerned.is_empty() {
            // What the devices said, a sign of life, perhaps a confirmation.
            self.revision += 1;
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
        self.tally(&out);
        out
    }

    fn on_reply(
        &mut self,
        message: &Message,
        reply: &OtaCreateReply,
        now_ms: u64,
        out: &mut Output,
    ) {
        let key = TaskKey::of(message);
        let tid = message.tid.clone();
        let Some(task) = self.tasks.get_mut(&key) else {
            let ignored = match self.ended.get(&key) {
                Some(ended) => Ignored::Late {
                    tid,
                    ended: ended.ending.clone(),
                },
                None => Ignored::Unknown { tid },
            };
            out.ignore(key, ignored);
            return;
        };
        if !task.attempts.contains(&tid) {
            out.ignore(key, Ignored::UnmatchedReply { tid });
            return;
        }
        if task.phase == Phase::Accepted {
            let result = reply.result;
            out.ignore(key, Ignored::ExtraReply { tid, result });
            return;
        }
        task.last_heard_ms = now_ms;
        let status = reply.output.as_ref().map(|o| o.status.clone());
        let refused = !reply.result.is_success()
            || status
                .as_ref()
                .is_some_and(|s| s.is_final() && !s.is_success());
        if refused {
            let result = reply.result;
            let change = Change::Refused { result, status };
            self.conclude(key, change, Ending::Refused { result }, out);
        } else if let Some(status) = status.clone().filter(TaskStatus::is_final) {
            self.finished(key, status, reply.result, out);
        } else {
            task.phase = Phase::Accepted;
            task.status.clone_from(&status);
            self.revision += 1;
            out.updates.push(Update {
                task: key,
                change: Change::Accepted {
                    status,
                    by_event: false,
                },
            });
        }
    }

    fn on_event(&mut self, message: &Message, event: &OtaProgress, now_ms: u64, out: &mut Output) {
        let key = TaskKey::of(message);
        let tid = message.tid.clone();
        let window = self.config.seen_events_per_task;
        let Some(task) = self.tasks.get_mut(&key) else {
            let ignored = match self.ended.get_mut(&key) {
                Some(ended) if ended.seen.contains(&tid) => Ignored::Duplicate { tid },
                Some(ended) => {
                    remember(&mut ended.seen, tid.clone(), window);
                    self.revision += 1;
                    Ignored::Late {
                        tid,
                        ended: ended.ending.clone(),
                    }
                }
                None => Ignored::Unknown { tid },
            };
            out.answer(message, now_ms);
            out.ignore(key, ignored);
            return;
        };
        if task.seen.contains(&tid) {
            out.answer(message, now_ms);
            out.ignore(key, Ignored::Duplicate { tid });
            return;
        }
        remember(&mut task.seen, tid.clone(), window);
        self.revision += 1;
        out.answer(message, now_ms);
        task.last_heard_ms = now_ms;
        let status = event.status().clone();
        let result = event.result;
        if status.is_final() {
            self.finished(key, status, result, out);
            return;
        }
        if task.phase != Phase::Accepted {
            task.phase = Phase::Accepted;
            out.updates.push(Update {
                task: key.clone(),
                change: Change::Accepted {
                    status: Some(status.clone()),
                    by_event: true,
                },
            });
        }
        let position = Position::of(message, event);
        if task
            .last_event
            .as_ref()
            .is_some_and(|last| position.is_before(last))
        {
            let percent = position.percent;
            out.ignore(key, Ignored::OutOfOrder { tid, percent });
            return;
        }
        task.status = Some(status.clone());
        task.last_event = Some(position.clone());
        out.updates.push(Update {
            task: key,
            change: Change::Progress {
                status,
                result,
                step: position.step,
                percent: position.percent,
                rate: event.rate(),
            },
        });
    }

    /// Ends a task with a final status.
    fn finished(
        &mut self,
        task: TaskKey,
        status: TaskStatus,
        result: ResultCode,
        out: &mut Output,
    ) {
        let ending = Ending::Finished {
            status: status.clone(),
            result,
        };
        self.conclude(task, Change::Finished { status, result }, ending, out);
    }

    /// Ends a task and reports how.
    fn conclude(&mut self, task: TaskKey, change: Change, ending: Ending, out: &mut Output) {
        self.end(&task, ending);
        out.updates.push(Update { task, change });
    }

    /// Adds a task to the tasks in flight and to the index by gateway.
    fn insert(&mut self, key: TaskKey, task: Task) {
        let on_gateway = self.by_gateway.entry(key.gateway.clone()).or_default();
        if let Err(at) = on_gateway.binary_search(&key) {
            on_gateway.insert(at, key.clone());
        }
        self.tasks.insert(key, task);
    }

    /// Moves a task from the tasks in flight to the bounded set of ended ones.
    fn end(&mut self, key: &TaskKey, ending: Ending) {
        self.revision += 1;
        let seen = self.tasks.remove(key).map(|t| t.seen).unwrap_or_default();
        if let Some(on_gateway) = self.by_gateway.get_mut(&key.gateway) {
            on_gateway.retain(|k| k != key);
            if on_gateway.is_empty() {
                self.by_gateway.remove(&key.gateway);
            }
        }
        self.remember_ended(key.clone(), ending, seen);
    }

    /// Adds an ended task to the bounded set of ended ones, the oldest leaving first.
    fn remember_ended(&mut self, key: TaskKey, ending: Ending, seen: VecDeque<Id>) {
        if self.config.recent_finished == 0 {
            return;
        }
        if let Some(known) = self.ended.get_mut(&key) {
            // A bid reused after its task ended: keep its place in the order.
            *known = Ended { ending, seen };
            return;
        }
        while self.ended_order.len() >= self.config.recent_finished {
            if let Some(oldest) = self.ended_order.pop_front() {
                self.ended.remove(&oldest);
            }
        }
        self.ended_order.push_back(key.clone());
        self.ended.insert(key, Ended { ending, seen });
    }

    /// Counts what `out` reports and publishes.
    fn tally(&mut self, out: &Output) {
        let c = &mut self.counters;
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

impl Output {
    fn ignore(&mut self, task: TaskKey, ignored: Ignored) {
        self.updates.push(Update {
            task,
            change: Change::Ignored(ignored),
        });
    }

    fn answer(&mut self, event: &Message, now_ms: u64) {
        if let Some(mut reply) = event.reply_to_event(ResultCode::SUCCESS) {
            reply.timestamp = now_ms;
            self.publish.push(reply);
        }
    }
}

fn remember(seen: &mut VecDeque<Id>, tid: Id, window: usize) {
    if window == 0 {
        return;
    }
    while seen.len() >= window {
        seen.pop_front();
    }
    seen.push_back(tid);
}

fn len_u32<T>(items: &[T]) -> u32 {
    u32::try_from(items.len()).unwrap_or(u32::MAX)
}
