//! The dock side of an upgrade, without I/O, for simulators and tests: a [`Dock`]
//! answers an `ota_create` and streams plausible `ota_progress` events (the download,
//! then the upgrade, with a download rate, then a final status), and can be told to
//! misbehave ([`Fault`]).
//!
//! Like [`crate::tracker::Tracker`], it never reads a clock: the caller passes
//! `now_ms`, feeds it what arrives on the gateway's `services` and `events_reply`
//! topics, publishes what it returns, and calls [`Dock::poll`] once
//! [`Dock::next_deadline`] has passed. [`DockStats`] counts what went over the wire, so
//! a test can check that every event that asked for a reply got exactly one.
//!
//! ```
//! use dji_cloud_ota::dock::{Dock, DockConfig};
//! use dji_cloud_ota::{Data, Device, Message, Serial, TaskStatus, UpgradeType};
//!
//! let gateway = Serial::new("4TADKAQ000002J")?;
//! let mut dock = Dock::new(gateway.clone(), DockConfig::default());
//! let device = Device::new("1581F5BMD22330010X0V", "04.01.0020", UpgradeType::NORMAL);
//! let request = Message::ota_create(gateway, vec![device]);
//! let reply = dock.handle(&request, 0);
//! assert!(matches!(&reply[0].data, Data::OtaCreateReply(r) if r.result.is_success()));
//!
//! // Run the clock until the task is over: the last event is final.
//! let mut now = 0;
//! let mut last = None;
//! while let Some(at) = dock.next_deadline() {
//!     now = at;
//!     last = dock.poll(now).pop().or(last);
//! }
//! let Some(Message { data: Data::OtaProgress(end), .. }) = last else { panic!() };
//! assert_eq!(end.output.status, TaskStatus::Ok);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;

use crate::model::{
    Data, Device, FirmwareState, FirmwareUpgradeStatus, Id, Message, OtaProgress, ResultCode,
    Serial, StatePush, Step, TaskStatus, Text,
};
use crate::rules::limits::MAX_PERCENT;

/// `312014`: what a dock answers to a second task while it is upgrading.
pub const BUSY: ResultCode = ResultCode(312014);

/// `312003`: upgrade failed; the code a [`Fault::FailAt`] reports by default.
pub const UPGRADE_FAILED: ResultCode = ResultCode(312003);

/// How a simulated dock behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockConfig {
    /// Time between two events, in milliseconds.
    pub interval_ms: u64,
    /// Percent added at each event of a step (1 to 100): 10 gives 0, 10, ..., 100.
    pub percent_step: i64,
    /// Which events ask the cloud for a reply.
    pub need_reply: NeedReply,
    /// What goes wrong, if anything.
    pub fault: Fault,
    /// Sends every event twice (the same message), as an MQTT redelivery would.
    pub duplicate_events: bool,
    /// Holds back the last progress event and sends it after the final one, as a
    /// reordering on the way would.
    pub late_event: bool,
    /// Package size used for the download rate when the request gives none, in bytes.
    pub default_file_size: u64,
    /// Pushes the devices' firmware properties on their `state` topics, as a real dock
    /// does ([`Dock::take_state_pushes`]): `firmware_upgrade_status` 1 when the task
    /// starts; at its end, 0 with the new version (`ok`) or with
    /// [`DockConfig::version_before`] (failed).
    pub state_pushes: bool,
    /// The version the devices run before the upgrade.
    pub version_before: String,
    /// Never sends the final event, as if it were lost on the way; the state pushes
    /// still go.
    pub drop_final_event: bool,
}

impl Default for DockConfig {
    fn default() -> Self {
        Self {
            interval_ms: 500,
            percent_step: 10,
            need_reply: NeedReply::Final,
            fault: Fault::None,
            duplicate_events: false,
            late_event: false,
            default_file_size: 100 * 1024 * 1024,
            state_pushes: true,
            version_before: "01.00.0000".into(),
            drop_final_event: false,
        }
    }
}

/// Which `ota_progress` events carry `need_reply: 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeedReply {
    /// None.
    Never,
    /// The final event only.
    Final,
    /// Every event.
    Every,
}

/// A failure to inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The upgrade runs to `ok`.
    None,
    /// Refuses every `ota_create` with this result code.
    Reject(ResultCode),
    /// Refuses the first `times` `ota_create` requests with `result` (`312015`, dock
    /// busy, say), then takes the next as a dock without fault does.
    RejectFirst {
        /// The refusal's result code.
        result: ResultCode,
        /// How many requests are refused.
        times: u32,
    },
    /// Fails at `percent` of `step`: a final `failed` event with `result`.
    FailAt {
        /// The step that fails.
        step: Step,
        /// Where in the step.
        percent: i64,
        /// The event's result code.
        result: ResultCode,
    },
    /// Never answers: no reply, no event.
    NoReply,
    /// Accepts, then stops sending events at `percent` of `step` (a dock that lost
    /// power, say).
    SilentAt {
        /// The step that stops.
        step: Step,
        /// Where in the step.
        percent: i64,
    },
}

/// What went over the wire, as a dock saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockStats {
    /// `ota_create` requests received, retries included.
    pub requests: u64,
    /// Distinct `tid`s among them.
    pub request_tids: u64,
    /// Distinct `bid`s among them.
    pub request_bids: u64,
    /// Requests of another task than the one running, which the dock refused as busy
    /// (`312014`): a cloud that sent them started a second task on a busy dock.
    pub requests_while_busy: u64,
    /// Replies sent to requests.
    pub replies_sent: u64,
    /// Tasks begun.
    pub tasks_started: u64,
    /// Tasks that ended: their final event sent (or dropped, with
    /// [`DockConfig::drop_final_event`]), or refused.
    pub tasks_ended: u64,
    /// Events sent, duplicates included.
    pub events_sent: u64,
    /// Distinct events that asked for a reply.
    pub replies_expected: u64,
    /// Of those, how many were answered.
    pub replies_received: u64,
    /// Answers to an event already answered.
    pub replies_duplicated: u64,
    /// Answers to no event of this dock that asked for one.
    pub replies_unexpected: u64,
}

/// One simulated dock. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Dock {
    gateway: Serial,
    config: DockConfig,
    task: Option<Run>,
    stats: DockStats,
    seen_tids: Vec<Id>,
    seen_bids: Vec<Id>,
    /// Events of the current task that asked for a reply, and whether one came.
    awaiting: HashMap<Id, bool>,
    /// State pushes to publish.
    state: Vec<StatePush>,
    /// Requests refused by [`Fault::RejectFirst`] so far.
    refused: u32,
}

#[derive(Debug, Clone)]
struct Run {
    /// The `ota_create` that started the task: its events carry its gateway and `bid`.
    request: Message,
    file_size: u64,
    step: Step,
    percent: i64,
    next_ms: Option<u64>,
    held_back: Option<Message>,
}

impl Dock {
    /// A dock for the gateway `gateway`.
    pub fn new(gateway: Serial, config: DockConfig) -> Self {
        Self {
            gateway,
            config,
            task: None,
            stats: DockStats::default(),
            seen_tids: Vec::new(),
            seen_bids: Vec::new(),
            awaiting: HashMap::new(),
            state: Vec::new(),
            refused: 0,
        }
    }

    /// The state pushes to publish since the last call (see
    /// [`DockConfig::state_pushes`]), each on its device's `state` topic
    /// ([`StatePush::encode`]). Take them after each [`Dock::handle`] and
    /// [`Dock::poll`], and publish them after the messages those return.
    pub fn take_state_pushes(&mut self) -> Vec<StatePush> {
        std::mem::take(&mut self.state)
    }

    /// Queues a state push of every device of `request` with `firmware`.
    fn push_state(&mut self, request: &Message, firmware: impl Fn(&Device) -> FirmwareState) {
        if !self.config.state_pushes {
            return;
        }
        let Data::OtaCreate(create) = &request.data else {
            return;
        };
        for device in &create.devices {
            // A device whose serial cannot stand in a topic gets no push.
            if let Ok(sn) = Serial::new(device.sn.as_str()) {
                let push = StatePush::new(sn, Some(self.gateway.clone()), firmware(device));
                self.state.push(push);
            }
        }
    }

    /// The dock's gateway serial.
    pub fn gateway(&self) -> &Serial {
        &self.gateway
    }

    /// What went over the wire so far.
    pub fn stats(&self) -> &DockStats {
        &self.stats
    }

    /// True while a task is running (events still to send, or silent after
    /// [`Fault::SilentAt`]).
    pub fn is_busy(&self) -> bool {
        self.task.is_some()
    }

    /// Takes a message that arrived at `now_ms` on one of the gateway's topics; returns
    /// what to publish. An `ota_create` is answered; an `events_reply` is counted;
    /// anything else, or a message for another gateway, is ignored.
    pub fn handle(&mut self, message: &Message, now_ms: u64) -> Vec<Message> {
        if message.sn != self.gateway {
            return Vec::new();
        }
        match &message.data {
            Data::OtaCreate(create) => {
                self.count_request(message);
                let file_size = create
                    .devices
                    .iter()
                    .find_map(|d| d.file_size)
                    .unwrap_or(self.config.default_file_size);
                self.on_request(message, file_size, now_ms)
            }
            Data::OtaProgressReply(_) => {
                match self.awaiting.get_mut(&message.tid) {
                    Some(answered @ false) => {
                        *answered = true;
                        self.stats.replies_received += 1;
                    }
                    Some(true) => self.stats.replies_duplicated += 1,
                    None => self.stats.replies_unexpected += 1,
                }
                Vec::new()
            }
            Data::OtaCreateReply(_) | Data::OtaProgress(_) => Vec::new(),
        }
    }

    /// Sends the events due at `now_ms`.
    pub fn poll(&mut self, now_ms: u64) -> Vec<Message> {
        let mut out = Vec::new();
        // Bounded: one event per step of percent, two steps, plus the final one.
        while let Some(run) = self.task.as_mut() {
            match run.next_ms {
                Some(at) if at <= now_ms => {}
                _ => break,
            }
            self.emit(now_ms, &mut out);
        }
        out
    }

    /// When [`Dock::poll`] next has an event to send, if ever.
    pub fn next_deadline(&self) -> Option<u64> {
        self.task.as_ref().and_then(|run| run.next_ms)
    }

    fn count_request(&mut self, message: &Message) {
        self.stats.requests += 1;
        if !self.seen_tids.contains(&message.tid) {
            self.seen_tids.push(message.tid.clone());
            self.stats.request_tids += 1;
        }
        if !self.seen_bids.contains(&message.bid) {
            self.seen_bids.push(message.bid.clone());
            self.stats.request_bids += 1;
        }
    }

    fn on_request(&mut self, request: &Message, file_size: u64, now_ms: u64) -> Vec<Message> {
        let refuse_first = match self.config.fault {
            Fault::RejectFirst { result, times } if self.refused < times => Some(result),
            _ => None,
        };
        let (result, status) = match (&self.config.fault, &self.task, refuse_first) {
            (Fault::NoReply, _, _) => return Vec::new(),
            (Fault::Reject(code), _, _) => (*code, None),
            // A retry of the task under way: the same answer again.
            (_, Some(run), _) if run.request.bid == request.bid => {
                (ResultCode::SUCCESS, Some(TaskStatus::InProgress))
            }
            (_, Some(_), _) => {
                self.stats.requests_while_busy += 1;
                (BUSY, None)
            }
            (_, None, Some(code)) => {
                self.refused += 1;
                self.stats.tasks_ended += 1;
                (code, None)
            }
            (_, None, None) => {
                self.task = Some(Run {
                    request: request.clone(),
                    file_size,
                    step: Step::DownloadFirmware,
                    percent: 0,
                    next_ms: Some(now_ms),
                    held_back: None,
                });
                self.awaiting.clear();
                self.stats.tasks_started += 1;
                self.push_state(request, |_| FirmwareState {
                    firmware_upgrade_status: Some(FirmwareUpgradeStatus::UPGRADING),
                    ..FirmwareState::default()
                });
                (ResultCode::SUCCESS, Some(TaskStatus::InProgress))
            }
        };
        if matches!(self.config.fault, Fault::Reject(_)) {
            self.stats.tasks_ended += 1;
        }
        let Some(mut reply) = request.reply_to_create(result, status) else {
            return Vec::new();
        };
        reply.timestamp = now_ms;
        self.stats.replies_sent += 1;
        vec![reply]
    }

    /// Sends the next event of the running task.
    fn emit(&mut self, now_ms: u64, out: &mut Vec<Message>) {
        let Some(run) = self.task.as_mut() else {
            return;
        };
        let step_size = self.config.percent_step.clamp(1, MAX_PERCENT);
        let at = (run.step.clone(), run.percent);
        match &self.config.fault {
            Fault::SilentAt { step, percent } if reached(&at, step, *percent) => {
                run.next_ms = None;
                return;
            }
            Fault::FailAt {
                step,
                percent,
                result,
            } if reached(&at, step, *percent) => {
                let failed = event(&self.config, run, TaskStatus::Failed, *result, now_ms);
                self.finish(failed, out);
                return;
            }
            _ => {}
        }
        let done = run.step == Step::UpgradeFirmware && run.percent > MAX_PERCENT;
        if done {
            let ok = event(
                &self.config,
                run,
                TaskStatus::Ok,
                ResultCode::SUCCESS,
                now_ms,
            );
            self.finish(ok, out);
            return;
        }
        let progress = event(
            &self.config,
            run,
            TaskStatus::InProgress,
            ResultCode::SUCCESS,
            now_ms,
        );
        run.percent += step_size;
        if run.step == Step::DownloadFirmware && run.percent > MAX_PERCENT {
            run.step = Step::UpgradeFirmware;
            run.percent = 0;
        }
        run.next_ms = Some(now_ms.saturating_add(self.config.interval_ms));
        let last_before_final = run.step == Step::UpgradeFirmware && run.percent > MAX_PERCENT;
        if self.config.late_event && last_before_final {
            // Counted now, sent after the final event.
            run.held_back = Some(progress.clone());
            self.count_event(&progress);
        } else {
            self.send(progress, out);
        }
    }

    fn finish(&mut self, event: Message, out: &mut Vec<Message>) {
        let ok = matches!(&event.data, Data::OtaProgress(p) if p.status().is_success());
        if !self.config.drop_final_event {
            self.send(event, out);
        }
        if let Some(run) = self.task.take() {
            if let Some(late) = run.held_back {
                out.push(late);
            }
            let before = self.config.version_before.clone();
            self.push_state(&run.request, |device| FirmwareState {
                firmware_version: Some(if ok {
                    device.product_version.clone()
                } else {
                    Text::new(&before)
                }),
                firmware_upgrade_status: Some(FirmwareUpgradeStatus::NOT_UPGRADING),
                compatible_status: None,
            });
        }
        self.stats.tasks_ended += 1;
    }

    fn send(&mut self, event: Message, out: &mut Vec<Message>) {
        self.count_event(&event);
        if self.config.duplicate_events {
            self.stats.events_sent += 1;
            out.push(event.clone());
        }
        out.push(event);
    }

    fn count_event(&mut self, event: &Message) {
        self.stats.events_sent += 1;
        if event.wants_reply() {
            self.awaiting.insert(event.tid.clone(), false);
            self.stats.replies_expected += 1;
        }
    }
}

/// True once `at` (step, percent) has come to `percent` of `step`.
fn reached(at: &(Step, i64), step: &Step, percent: i64) -> bool {
    let rank = |s: &Step| u8::from(*s != Step::DownloadFirmware);
    (rank(&at.0), at.1) >= (rank(step), percent)
}

/// An event of `run` at its current step and percent.
fn event(
    config: &DockConfig,
    run: &Run,
    status: TaskStatus,
    result: ResultCode,
    now_ms: u64,
) -> Message {
    let downloading = run.step == Step::DownloadFirmware && status == TaskStatus::InProgress;
    let rate = downloading.then(|| {
        let per_event = run.file_size / 100 * config.percent_step.unsigned_abs();
        per_event.saturating_mul(1000) / config.interval_ms.max(1)
    });
    let wants_reply = match config.need_reply {
        NeedReply::Never => false,
        NeedReply::Final => status.is_final(),
        NeedReply::Every => true,
    };
    let mut data = OtaProgress::new(status)
        .with_result(result)
        .with_progress(run.step.clone(), run.percent.min(MAX_PERCENT));
    if let Some(rate) = rate {
        data = data.with_rate(rate);
    }
    let mut event = run
        .request
        .progress_event(data, wants_reply)
        .expect("a run is started by an ota_create");
    event.timestamp = now_ms;
    event
}
