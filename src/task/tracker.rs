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
//! [`TrackerConfig::seen_events_per_task`] event ids and its request's attempt ids,
//! and for each task in flight an entry in the indexes by gateway and by device and in
//! the queue of deadlines (see below). Nothing else grows.
//!
//! # Cost
//! What one message or one [`Tracker::poll`] costs does not grow with the tasks in
//! flight: a reply or an event finds its task by key, a state push by the index of the
//! tasks by device serial, [`Tracker::start`] the gateway's task by the index by
//! gateway, and the deadlines (reply windows, retries, silence limits, the state's
//! grace) wait in one queue ordered by time, so that [`Tracker::next_deadline`] reads
//! the earliest and [`Tracker::poll`] takes out only the tasks due. The listings
//! ([`Tracker::tasks`], [`Tracker::ended`]) and [`Tracker::snapshot`] go through every
//! task, as they must.

mod change;
mod config;
mod counters;
mod deadlines;
mod index;
mod messages;
mod records;
mod seen;
mod snapshot;
mod state;
mod task;

use std::collections::{HashMap, VecDeque};
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::model::{Data, Device, Id, Message, Serial, Step, TaskStatus};
use crate::rules::check::ValidationErrors;

pub use change::{Change, Ending, Ignored, Output, Update};
pub use config::TrackerConfig;
pub use counters::Counters;
pub use records::{TaskRecord, TrackerChanges};
pub use snapshot::{RestoreError, TrackerSnapshot};

use deadlines::Deadlines;
use index::Index;
use records::Changed;
use seen::Seen;
use task::{Ended, Phase, Task, Tracked, len_u32};

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
    /// The tasks in flight, each with its entry in the queue of deadlines.
    tasks: HashMap<TaskKey, Tracked>,
    ended: HashMap<TaskKey, Ended>,
    ended_order: VecDeque<TaskKey>,
    /// The tasks in flight by gateway and by device.
    index: Index,
    /// When each task in flight next needs [`Tracker::poll`].
    deadlines: Deadlines,
    counters: Counters,
    /// The revision, and the tasks changed since [`Tracker::take_changes`].
    changed: Changed,
}

impl Tracker {
    /// A tracker with `config`.
    pub fn new(config: TrackerConfig) -> Self {
        Self {
            config,
            tasks: HashMap::new(),
            ended: HashMap::new(),
            ended_order: VecDeque::new(),
            index: Index::default(),
            deadlines: Deadlines::default(),
            counters: Counters::default(),
            changed: Changed::default(),
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
        if let Some(busy) = self.index.on_gateway(&key.gateway) {
            let task = busy.clone();
            return Err(StartError::GatewayBusy { task });
        }
        if self.ended.remove(&key).is_some() {
            // The `bid` of an ended task, started again: the task is this one now.
            self.ended_order.retain(|k| *k != key);
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
                seen: Seen::default(),
                firmware: Vec::new(),
                confirming: None,
            },
        );
        self.changed.touch(&key);
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
        // A sign of life, a reply, a retry stopped: the task's deadline may have moved.
        self.reschedule(&TaskKey::of(message));
        self.counters.tally(&out);
        out
    }

    /// Acts on the time: sends the retries that are due and ends the tasks that got no
    /// reply or went silent. Harmless to call early or often: it looks at the tasks due
    /// only, taken in the order of their deadlines (then of their keys), and reports
    /// the retries before the tasks that end.
    pub fn poll(&mut self, now_ms: u64) -> Output {
        let mut out = Output::default();
        let mut ended = Vec::new();
        // Only the tasks whose deadline has passed, each once, whatever its next one.
        let due = self.deadlines.take_due(now_ms);
        for key in &due {
            let Some(tracked) = self.tasks.get_mut(key) else {
                continue;
            };
            // Taken out of the queue: its entry too.
            tracked.queued = None;
            let task = &mut tracked.task;
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
                    self.changed.touch(key);
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
        for key in &due {
            self.reschedule(key);
        }
        self.counters.tally(&out);
        out
    }

    /// When [`Tracker::poll`] next has something to do, if ever: the earliest retry or
    /// time-out of the tasks in flight.
    pub fn next_deadline(&self) -> Option<u64> {
        self.deadlines.next()
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
        self.tasks.get(key).map(|t| t.task.state())
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
        self.changed.revision
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
        self.tasks.get(key).map(|t| &t.task.request)
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

    /// Ends a task and reports how.
    fn conclude(&mut self, task: TaskKey, change: Change, ending: Ending, out: &mut Output) {
        self.end(&task, ending);
        out.updates.push(Update { task, change });
    }

    /// Adds a task to the tasks in flight, their indexes and deadlines.
    fn insert(&mut self, key: TaskKey, task: Task) {
        self.index.add(&key, &task.request);
        if let Some(mut replaced) = self.tasks.insert(key.clone(), Tracked::new(task)) {
            // The same key twice in a snapshot: the last one counts.
            self.index.remove(&key, &replaced.task.request);
            self.index.add(&key, &self.tasks[&key].task.request);
            self.deadlines.set(&mut replaced.queued, &key, None);
        }
        self.reschedule(&key);
    }

    /// Puts a task's deadline where its state says, after anything that may have moved
    /// it (a sign of life, a reply, a retry, a confirmation). A task no longer in flight
    /// has no deadline: its entry in the queue went when it ended.
    fn reschedule(&mut self, key: &TaskKey) {
        if let Some(tracked) = self.tasks.get_mut(key) {
            let due = tracked.task.due(&self.config);
            self.deadlines.set(&mut tracked.queued, key, due);
        }
    }

    /// Moves a task from the tasks in flight to the bounded set of ended ones.
    fn end(&mut self, key: &TaskKey, ending: Ending) {
        let seen = match self.tasks.remove(key) {
            Some(mut tracked) => {
                self.index.remove(key, &tracked.task.request);
                self.deadlines.set(&mut tracked.queued, key, None);
                tracked.task.seen
            }
            None => Seen::default(),
        };
        self.changed.ended(key, &ending, &seen);
        self.remember_ended(key.clone(), ending, seen);
    }

    /// Adds an ended task to the bounded set of ended ones, the oldest leaving first.
    fn remember_ended(&mut self, key: TaskKey, ending: Ending, seen: Seen) {
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
}

#[cfg(test)]
mod tests {
    //! The indexes and the deadline queue against what a scan of every task says, over
    //! long random runs of every kind of message and of the time.

    use super::*;
    use crate::model::{
        FirmwareState, FirmwareUpgradeStatus, OtaProgress, ResultCode, StatePush, UpgradeType,
    };

    const T0: u64 = 1_700_000_000_000;

    /// A small deterministic generator.
    struct XorShift(u64);

    impl XorShift {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// What a scan of every task says is due at or before `now_ms`.
    fn due_by_scan(tracker: &Tracker, now_ms: u64) -> Vec<TaskKey> {
        let mut due: Vec<TaskKey> = (tracker.tasks.iter())
            .filter(|(_, t)| t.task.due(&tracker.config).is_some_and(|at| at <= now_ms))
            .map(|(key, _)| key.clone())
            .collect();
        due.sort();
        due
    }

    fn assert_consistent(tracker: &Tracker) {
        let scanned = (tracker.tasks.values())
            .filter_map(|t| t.task.due(&tracker.config))
            .min();
        assert_eq!(tracker.next_deadline(), scanned);
        let with_deadline = (tracker.tasks.values())
            .filter(|t| t.task.due(&tracker.config).is_some())
            .count();
        for t in tracker.tasks.values() {
            // Each task's entry is its deadline.
            let due = t.task.due(&tracker.config);
            assert_eq!(t.queued.map(|(at, _)| at), due);
        }
        assert_eq!(tracker.deadlines.len(), with_deadline);
        let (gateways, devices) = tracker.index.len();
        let mut wanted_devices = 0;
        for (key, t) in &tracker.tasks {
            let task = &t.task;
            assert_eq!(tracker.index.on_gateway(&key.gateway), Some(key));
            let Data::OtaCreate(create) = &task.request.data else {
                panic!("not a request");
            };
            for device in &create.devices {
                assert!(tracker.index.of_device(&device.sn).contains(key));
                wanted_devices += 1;
            }
        }
        assert_eq!((gateways, devices), (tracker.tasks.len(), wanted_devices));
    }

    fn run(config: TrackerConfig, seed: u64) {
        let mut rng = XorShift(seed);
        let mut tracker = Tracker::new(config.clone());
        let gateways: Vec<Serial> = (0..6)
            .map(|n| Serial::new(&format!("DOCK{n}")).unwrap())
            .collect();
        let mut sent: Vec<Message> = Vec::new();
        let mut now = T0;
        let mut acted = 0;
        for _ in 0..20_000 {
            now += rng.below(1_500);
            match rng.below(8) {
                0 => {
                    let gateway = gateways[rng.below(6) as usize].clone();
                    let devices = (0..=rng.below(2))
                        .map(|d| {
                            Device::new(format!("{gateway}UAV{d}"), "1.0.2", UpgradeType::NORMAL)
                        })
                        .collect();
                    if let Ok(started) = tracker.start(gateway, devices, now) {
                        sent.push(started.request);
                    }
                }
                1 if !sent.is_empty() => {
                    let request = &sent[rng.below(sent.len() as u64) as usize];
                    let code = [0, 0, 312015][rng.below(3) as usize];
                    let reply = request
                        .reply_to_create(ResultCode(code), Some(TaskStatus::InProgress))
                        .unwrap();
                    tracker.handle(&reply, now);
                }
                2 | 3 if !sent.is_empty() => {
                    let request = &sent[rng.below(sent.len() as u64) as usize];
                    let status =
                        ["in_progress", "in_progress", "ok", "failed"][rng.below(4) as usize];
                    let event = OtaProgress::new(TaskStatus::from(status))
                        .with_progress(Step::UpgradeFirmware, rng.below(101) as i64);
                    let mut event = request.progress_event(event, true).unwrap();
                    event.timestamp = now - rng.below(2_000);
                    tracker.handle(&event, now);
                }
                4 | 5 if !sent.is_empty() => {
                    let request = &sent[rng.below(sent.len() as u64) as usize];
                    let Data::OtaCreate(create) = &request.data else {
                        unreachable!()
                    };
                    let device = &create.devices[rng.below(create.devices.len() as u64) as usize];
                    let firmware = FirmwareState {
                        firmware_version: Some(["1.0.1", "1.0.2"][rng.below(2) as usize].into()),
                        firmware_upgrade_status: Some(FirmwareUpgradeStatus(rng.below(2) as i64)),
                        compatible_status: None,
                    };
                    let behind = (rng.below(4) > 0).then(|| request.sn.clone());
                    let sn = Serial::new(device.sn.as_str()).unwrap();
                    tracker.handle_state(&StatePush::new(sn, behind, firmware), now);
                }
                6 if !sent.is_empty() && rng.below(8) == 0 => {
                    let request = &sent[rng.below(sent.len() as u64) as usize];
                    tracker.forget(&TaskKey::of(request));
                }
                _ => {
                    let due = due_by_scan(&tracker, now);
                    let out = tracker.poll(now);
                    let mut touched: Vec<TaskKey> =
                        out.updates.iter().map(|u| u.task.clone()).collect();
                    touched.sort();
                    // Each task due is acted on once, and no other.
                    assert_eq!(touched, due);
                    acted += due.len();
                }
            }
            assert_consistent(&tracker);
            if sent.len() > 32 {
                sent.drain(..16);
            }
        }
        assert!(acted > 100, "the run reached few deadlines: {acted}");
    }

    #[test]
    fn the_deadline_queue_and_the_indexes_agree_with_a_scan_of_every_task() {
        run(
            TrackerConfig {
                silence_timeout_ms: Some(6_000),
                ..TrackerConfig::default()
            },
            0x9E37_79B9_7F4A_7C15,
        );
        // No silence limit, no grace, and a retry at every poll.
        run(
            TrackerConfig {
                silence_timeout_ms: None,
                state_grace_ms: 0,
                reply_timeout_ms: 0,
                retries: 5,
                ..TrackerConfig::default()
            },
            0x2545_F491_4F6C_DD1D,
        );
    }
}
