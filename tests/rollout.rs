//! Fleet rollouts (`rollout::Rollout`) driven as a server drives them: a `Tracker`
//! starts what the rollout returns, simulated docks (`dock::Dock`, each with its own
//! fault) answer, and the tracker's final changes and the devices' state pushes go back
//! to the rollout. Every message goes through its wire form. Time is simulated: the
//! loop jumps to the next deadline of the docks, the tracker and the rollout.
//!
//! The checks come from what operators ask of a rollout (waves, limits, a failure
//! threshold, retries of the refusals that mean "later", no second task on a busy
//! dock) and hold at every instant of the run, not only at its end.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use dji_cloud_ota::dock::{Dock, DockConfig, Fault, NeedReply};
use dji_cloud_ota::rollout::{
    Changes, Firmware, FleetDevice, Outcome, PlanError, Policy, RestoreError, Rollout, RolloutPlan,
    RolloutSnapshot, RolloutState, Verdict,
};
use dji_cloud_ota::tracker::{Change, TaskKey, Tracker};
use dji_cloud_ota::{
    FirmwareState, Message, ResultCode, Serial, StatePush, Step, UpgradeType, decode, decode_state,
};

const T0: u64 = 1_700_000_000_000;
const DOCK_MODEL: &str = "dock2";
const AIRCRAFT_MODEL: &str = "m3d";
const DOCK_VERSION: &str = "10.01.0003";
const AIRCRAFT_VERSION: &str = "10.01.0016";

fn serial(text: &str) -> Serial {
    Serial::new(text).unwrap()
}

fn gateway(i: usize) -> Serial {
    serial(&format!("4TADK{i:05}"))
}

fn aircraft(i: usize) -> Serial {
    serial(&format!("1581F{i:05}"))
}

fn firmware(version: &str, name: &str) -> Firmware {
    Firmware {
        version: version.into(),
        url: format!("https://firmware.example.com/{name}").into(),
        md5: "6f1ed002ab5595859014ebf0951522d9".into(),
        size: 300_000_000,
        file_name: name.into(),
        upgrade_type: UpgradeType::NORMAL,
    }
}

/// `gateways` docks, each with its aircraft behind it, in order.
fn plan(gateways: usize, policy: Policy) -> RolloutPlan {
    let mut devices = Vec::new();
    for i in 0..gateways {
        devices.push(FleetDevice::new(gateway(i), gateway(i), DOCK_MODEL));
        devices.push(FleetDevice::new(gateway(i), aircraft(i), AIRCRAFT_MODEL));
    }
    RolloutPlan {
        devices,
        firmware: BTreeMap::from([
            (DOCK_MODEL.into(), firmware(DOCK_VERSION, "dock2.zip")),
            (AIRCRAFT_MODEL.into(), firmware(AIRCRAFT_VERSION, "m3d.zip")),
        ]),
        policy,
    }
}

/// A quick dock: an event a second, 0/50/100 % of each step.
fn dock_config(fault: Fault) -> DockConfig {
    DockConfig {
        interval_ms: 1_000,
        percent_step: 50,
        need_reply: NeedReply::Final,
        fault,
        ..DockConfig::default()
    }
}

fn fails() -> Fault {
    Fault::FailAt {
        step: Step::UpgradeFirmware,
        percent: 50,
        result: ResultCode(312003),
    }
}

/// The rollout, its tracker and the docks, and what was seen along the way.
struct Fleet {
    now: u64,
    rollout: Rollout,
    tracker: Tracker,
    docks: BTreeMap<Serial, Dock>,
    /// Messages on their way to the cloud, as bytes: (topic, payload).
    to_cloud: VecDeque<(String, Vec<u8>)>,
    /// Every start: (time, gateway).
    starts: Vec<(u64, Serial)>,
    /// When each gateway's tasks ended.
    ends: Vec<(u64, Serial)>,
    most_in_flight: usize,
    /// The gateways that had a task in flight, as seen by the docks.
    busy: HashMap<Serial, TaskKey>,
    /// Passes of the loop at the same instant (a guard against a loop that would not
    /// end).
    passes_at_now: u32,
}

impl Fleet {
    fn new(plan: RolloutPlan, faults: &[(usize, Fault)]) -> Self {
        let faults: HashMap<usize, Fault> = faults.iter().cloned().collect();
        let mut docks = BTreeMap::new();
        let mut gateways: Vec<Serial> = plan.devices.iter().map(|d| d.gateway.clone()).collect();
        gateways.dedup();
        for (i, gw) in gateways.into_iter().enumerate() {
            let fault = faults.get(&i).cloned().unwrap_or(Fault::None);
            docks.insert(gw.clone(), Dock::new(gw, dock_config(fault)));
        }
        Self {
            now: T0,
            rollout: Rollout::new(plan).unwrap(),
            tracker: Tracker::default(),
            docks,
            to_cloud: VecDeque::new(),
            starts: Vec::new(),
            ends: Vec::new(),
            most_in_flight: 0,
            busy: HashMap::new(),
            passes_at_now: 0,
        }
    }

    /// A device pushes its firmware version, as devices do when it changes.
    fn push_version(&mut self, sn: &Serial, gw: &Serial, version: &str) {
        let push = StatePush::new(
            sn.clone(),
            Some(gw.clone()),
            FirmwareState {
                firmware_version: Some(version.into()),
                ..FirmwareState::default()
            },
        );
        let encoded = push.encode();
        self.to_cloud.push_back((encoded.topic, encoded.payload));
        self.settle();
    }

    /// Runs until the rollout is done, or `limit_ms` of simulated time.
    fn run(&mut self, limit_ms: u64) {
        let end = self.now + limit_ms;
        self.settle();
        while !self.rollout.is_done() && self.now < end {
            let Some(next) = self.next_deadline() else {
                break;
            };
            self.advance_to(next.min(end));
        }
    }

    /// Runs until `stop` holds, or `limit_ms` of simulated time.
    fn run_until(&mut self, limit_ms: u64, mut stop: impl FnMut(&Fleet) -> bool) {
        let end = self.now + limit_ms;
        self.settle();
        while !stop(self) && self.now < end {
            let Some(next) = self.next_deadline() else {
                break;
            };
            self.advance_to(next.min(end));
        }
    }

    fn next_deadline(&self) -> Option<u64> {
        let docks = self.docks.values().filter_map(Dock::next_deadline).min();
        [
            docks,
            self.tracker.next_deadline(),
            self.rollout.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|at| at.max(self.now))
    }

    fn advance_to(&mut self, at: u64) {
        if at <= self.now {
            self.passes_at_now += 1;
            assert!(self.passes_at_now < 1_000, "no progress at {}", self.now);
        } else {
            self.passes_at_now = 0;
        }
        self.now = at.max(self.now);
        let now = self.now;
        let due: Vec<Serial> = self
            .docks
            .iter()
            .filter(|(_, d)| d.next_deadline().is_some_and(|t| t <= now))
            .map(|(gw, _)| gw.clone())
            .collect();
        for gw in due {
            let dock = self.docks.get_mut(&gw).unwrap();
            let out = dock.poll(now);
            let pushes = dock.take_state_pushes();
            self.send_to_cloud(out, pushes);
        }
        let out = self.tracker.poll(now);
        self.apply(out);
        self.settle();
    }

    fn send_to_cloud(&mut self, messages: Vec<Message>, pushes: Vec<StatePush>) {
        for m in messages {
            let e = m.encode();
            self.to_cloud.push_back((e.topic, e.payload));
        }
        for p in pushes {
            let e = p.encode();
            self.to_cloud.push_back((e.topic, e.payload));
        }
    }

    /// Delivers every message in flight and starts what the rollout wants, until
    /// nothing moves at this instant.
    fn settle(&mut self) {
        loop {
            let mut moved = false;
            for start in self.rollout.poll(self.now) {
                moved = true;
                self.starts.push((self.now, start.task.gateway.clone()));
                match self.tracker.start_request(start.request, self.now) {
                    Ok(started) => self.send_to_dock(started.request),
                    Err(e) => {
                        panic!("the tracker refused a start of the rollout: {e}");
                    }
                }
            }
            self.most_in_flight = self.most_in_flight.max(self.rollout.in_flight());
            while let Some((topic, payload)) = self.to_cloud.pop_front() {
                moved = true;
                if topic.ends_with("/state") {
                    let push = decode_state(&topic, &payload).unwrap();
                    let out = self.tracker.handle_state(&push, self.now);
                    self.rollout.handle_state(&push, self.now);
                    self.apply(out);
                } else {
                    let message = decode(&topic, &payload).unwrap();
                    let out = self.tracker.handle(&message, self.now);
                    self.apply(out);
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// Publishes what the tracker returned and tells the rollout of every ending.
    fn apply(&mut self, out: dji_cloud_ota::tracker::Output) {
        for message in out.publish {
            self.send_to_dock(message);
        }
        for update in out.updates {
            if update.change.is_final()
                && self
                    .rollout
                    .task_ended(&update.task, &update.change, self.now)
            {
                self.ends.push((self.now, update.task.gateway.clone()));
                self.busy.remove(&update.task.gateway);
            }
        }
    }

    /// A message on its way to a dock, through its wire form.
    fn send_to_dock(&mut self, message: Message) {
        let encoded = message.encode();
        let message = decode(&encoded.topic, &encoded.payload).unwrap();
        if let dji_cloud_ota::Data::OtaCreate(_) = &message.data {
            let key = TaskKey::of(&message);
            if let Some(running) = self.busy.get(&message.sn) {
                assert_eq!(
                    running, &key,
                    "a second ota_create reached {} while a task of it was in flight",
                    message.sn
                );
            }
            self.busy.insert(message.sn.clone(), key);
        }
        let dock = self.docks.get_mut(&message.sn).unwrap();
        let out = dock.handle(&message, self.now);
        let pushes = dock.take_state_pushes();
        self.send_to_cloud(out, pushes);
    }

    fn outcome(&self, sn: &Serial) -> Outcome {
        self.rollout.device(sn.as_str()).unwrap().outcome
    }

    fn starts_of(&self, gw: &Serial) -> Vec<u64> {
        self.starts
            .iter()
            .filter(|(_, g)| g == gw)
            .map(|(t, _)| *t)
            .collect()
    }
}

#[test]
fn every_device_of_a_healthy_fleet_ends_ok_within_the_limit_in_flight() {
    let policy = Policy {
        max_in_flight: 3,
        ..Policy::default()
    };
    let mut fleet = Fleet::new(plan(20, policy), &[]);
    fleet.run(3_600_000);
    assert!(fleet.rollout.is_done());
    assert_eq!(fleet.rollout.verdict(), Some(Verdict::Success));
    let counts = fleet.rollout.counts();
    assert_eq!((counts.ok, counts.in_progress, counts.waiting), (40, 0, 0));
    assert_eq!(fleet.most_in_flight, 3);
    // One ota_create per gateway, carrying the dock and its aircraft.
    assert_eq!(fleet.starts.len(), 20);
    for dock in fleet.docks.values() {
        assert_eq!(dock.stats().tasks_started, 1);
        assert_eq!(dock.stats().replies_received, dock.stats().replies_expected);
    }
    for record in fleet.rollout.devices() {
        assert_eq!(record.attempts, 1);
        assert_eq!(record.result, Some(ResultCode::SUCCESS));
        assert!(record.started_ms.unwrap() <= record.ended_ms.unwrap());
    }
    // The gateways start in the plan's order.
    let order: Vec<Serial> = fleet.starts.iter().map(|(_, g)| g.clone()).collect();
    assert_eq!(order, (0..20).map(gateway).collect::<Vec<_>>());
}

#[test]
fn the_rest_waits_until_every_canary_task_has_ended() {
    let policy = Policy {
        canary: 3,
        max_in_flight: 10,
        abort_failed_percent: Some(50),
        ..Policy::default()
    };
    // The third canary dock is slow to take its task: busy once.
    let busy_once = Fault::RejectFirst {
        result: ResultCode(312015),
        times: 1,
    };
    let mut fleet = Fleet::new(plan(12, policy), &[(2, busy_once)]);
    fleet.run(3_600_000);
    assert_eq!(fleet.rollout.verdict(), Some(Verdict::Success));
    let last_canary_end = fleet
        .ends
        .iter()
        .filter(|(_, g)| (0..3).map(gateway).any(|c| &c == g))
        .map(|(t, _)| *t)
        .max()
        .unwrap();
    let first_other_start = fleet
        .starts
        .iter()
        .filter(|(_, g)| !(0..3).map(gateway).any(|c| &c == g))
        .map(|(t, _)| *t)
        .min()
        .unwrap();
    assert!(
        first_other_start >= last_canary_end,
        "a gateway after the canary started at {first_other_start}, before the canary's end at {last_canary_end}"
    );
    // The canary's retry came after the retry delay, and the wave was 3 at most.
    let retried = fleet.starts_of(&gateway(2));
    assert_eq!(retried.len(), 2);
    assert!(retried[1] - retried[0] >= Policy::default().retry_after_ms);
    assert_eq!(
        fleet.rollout.device(gateway(2).as_str()).unwrap().attempts,
        2
    );
}

#[test]
fn a_failing_canary_aborts_the_rollout_and_leaves_the_rest_waiting() {
    let policy = Policy {
        canary: 2,
        max_in_flight: 10,
        abort_failed_percent: Some(0),
        abort_min_finished: 50,
        ..Policy::default()
    };
    let mut fleet = Fleet::new(plan(10, policy), &[(1, fails())]);
    fleet.run(3_600_000);
    assert_eq!(fleet.rollout.state(), RolloutState::Aborted);
    assert_eq!(fleet.rollout.verdict(), Some(Verdict::Aborted));
    assert_eq!(fleet.outcome(&gateway(0)), Outcome::Ok);
    assert_eq!(fleet.outcome(&gateway(1)), Outcome::Failed);
    assert_eq!(fleet.outcome(&aircraft(1)), Outcome::Failed);
    assert_eq!(
        fleet.rollout.device(aircraft(1).as_str()).unwrap().result,
        Some(ResultCode(312003))
    );
    // Nobody after the canary was asked anything.
    assert_eq!(fleet.starts.len(), 2);
    let counts = fleet.rollout.counts();
    assert_eq!((counts.ok, counts.failed, counts.waiting), (2, 2, 16));
    for i in 2..10 {
        assert_eq!(fleet.docks[&gateway(i)].stats().requests, 0);
    }
}

#[test]
fn the_failure_threshold_stops_new_starts_and_the_tasks_in_flight_run_to_their_end() {
    let policy = Policy {
        max_in_flight: 4,
        abort_failed_percent: Some(25),
        abort_min_finished: 4,
        ..Policy::default()
    };
    // Two of the first four gateways fail: 50 % of 4 finished, over 25 %.
    let mut fleet = Fleet::new(plan(30, policy), &[(0, fails()), (3, fails())]);
    fleet.run(3_600_000);
    assert_eq!(fleet.rollout.verdict(), Some(Verdict::Aborted));
    let counts = fleet.rollout.counts();
    assert_eq!(counts.in_progress, 0, "every task in flight ran to its end");
    assert_eq!(counts.failed, 4);
    // Only the first wave and what started before the threshold was crossed.
    let started: HashSet<Serial> = fleet.starts.iter().map(|(_, g)| g.clone()).collect();
    assert_eq!(counts.ok + counts.failed, 2 * started.len());
    assert_eq!(counts.waiting, 60 - 2 * started.len());
    assert!(counts.waiting > 40, "{counts:?}");
    let aborted_at = fleet
        .ends
        .iter()
        .find(|(_, g)| g == &gateway(3))
        .map(|(t, _)| *t)
        .unwrap();
    assert!(fleet.starts.iter().all(|(t, _)| *t <= aborted_at));
}

#[test]
fn a_crossed_threshold_stays_crossed_until_an_operator_resumes() {
    let policy = Policy {
        max_in_flight: 5,
        abort_failed_percent: Some(10),
        abort_min_finished: 1,
        ..Policy::default()
    };
    // The first dock fails fast (at the download's start), the others succeed later.
    let early = Fault::FailAt {
        step: Step::DownloadFirmware,
        percent: 0,
        result: ResultCode(312016),
    };
    let mut fleet = Fleet::new(plan(20, policy), &[(0, early)]);
    fleet.run(3_600_000);
    // The four other tasks in flight ended ok: 20 % failed, still over 10 %, and even
    // had it gone under, the rollout stays aborted.
    assert_eq!(fleet.rollout.state(), RolloutState::Aborted);
    assert_eq!(fleet.starts.len(), 5);
    assert_eq!(fleet.rollout.poll(fleet.now + 3_600_000), vec![]);
    assert_eq!(fleet.rollout.next_deadline(), None);

    // The operator looked, and resumes: the past failure no longer counts.
    assert!(fleet.rollout.resume());
    assert!(
        !fleet.rollout.resume(),
        "resuming a running rollout does nothing"
    );
    fleet.run(3_600_000);
    assert_eq!(fleet.rollout.verdict(), Some(Verdict::Failures));
    let counts = fleet.rollout.counts();
    assert_eq!((counts.ok, counts.failed, counts.waiting), (38, 2, 0));
}

#[test]
fn refusals_that_mean_later_are_retried_after_the_delay_and_others_fail_at_once() {
    let policy = Policy {
        max_in_flight: 10,
        retry_after_ms: 120_000,
        retry_limit: 2,
        ..Policy::default()
    };
    let busy_twice = Fault::RejectFirst {
        result: ResultCode(312015),
        times: 2,
    };
    let low_battery = Fault::Reject(ResultCode(312704));
    let bad_parameters = Fault::Reject(ResultCode(312012));
    let mut fleet = Fleet::new(
        plan(4, policy),
        &[(0, busy_twice), (1, low_battery), (2, bad_parameters)],
    );
    fleet.run(3_600_000);
    assert_eq!(fleet.rollout.verdict(), Some(Verdict::Failures));

    // Busy twice, then taken: three attempts, each retry 120 s after the refusal.
    let busy = fleet.rollout.device(gateway(0).as_str()).unwrap();
    assert_eq!((busy.outcome, busy.attempts), (Outcome::Ok, 3));
    let starts = fleet.starts_of(&gateway(0));
    assert!(
        starts.windows(2).all(|w| w[1] - w[0] >= 120_000),
        "{starts:?}"
    );

    // Always below 20 %: the first attempt and two retries, then failed with the code.
    let low = fleet.rollout.device(aircraft(1).as_str()).unwrap();
    assert_eq!(
        (low.outcome, low.attempts, low.result),
        (Outcome::Failed, 3, Some(ResultCode(312704)))
    );
    assert_eq!(fleet.docks[&gateway(1)].stats().requests, 3);

    // Bad parameters is no "later": failed at the first attempt.
    let bad = fleet.rollout.device(gateway(2).as_str()).unwrap();
    assert_eq!(
        (bad.outcome, bad.attempts, bad.result),
        (Outcome::Failed, 1, Some(ResultCode(312012)))
    );
    assert_eq!(fleet.outcome(&gateway(3)), Outcome::Ok);
}

#[test]
fn a_dock_that_never_answers_is_tried_again_later_then_failed() {
    let policy = Policy {
        max_in_flight: 10,
        retry_after_ms: 60_000,
        retry_limit: 1,
        ..Policy::default()
    };
    let mut fleet = Fleet::new(plan(2, policy), &[(1, Fault::NoReply)]);
    fleet.run(3_600_000);
    let silent = fleet.rollout.device(aircraft(1).as_str()).unwrap();
    assert_eq!(
        (silent.outcome, silent.attempts, silent.result),
        (Outcome::Failed, 2, None)
    );
    // Each attempt is the tracker's three sends of one ota_create (one bid).
    let stats = fleet.docks[&gateway(1)].stats();
    assert_eq!((stats.requests, stats.request_bids), (6, 2));
    assert_eq!(fleet.outcome(&gateway(0)), Outcome::Ok);
}

#[test]
fn devices_already_at_the_target_version_are_skipped_and_their_dock_gets_nothing() {
    let policy = Policy {
        max_in_flight: 1,
        ..Policy::default()
    };
    let mut fleet = Fleet::new(plan(3, policy), &[]);
    // Before the rollout reaches them: gateway 1 and its aircraft are both there,
    // gateway 2's dock is there but its aircraft runs an older version.
    fleet.push_version(&gateway(1), &gateway(1), DOCK_VERSION);
    fleet.push_version(&aircraft(1), &gateway(1), AIRCRAFT_VERSION);
    fleet.push_version(&gateway(2), &gateway(2), DOCK_VERSION);
    fleet.push_version(&aircraft(2), &gateway(2), "10.00.0001");
    fleet.run(3_600_000);
    assert_eq!(fleet.rollout.verdict(), Some(Verdict::Success));
    assert_eq!(fleet.outcome(&gateway(1)), Outcome::Skipped);
    assert_eq!(fleet.outcome(&aircraft(1)), Outcome::Skipped);
    assert_eq!(fleet.docks[&gateway(1)].stats().requests, 0);
    assert_eq!(fleet.outcome(&gateway(2)), Outcome::Skipped);
    assert_eq!(fleet.outcome(&aircraft(2)), Outcome::Ok);
    let counts = fleet.rollout.counts();
    assert_eq!((counts.ok, counts.skipped), (3, 3));
    assert_eq!(
        fleet
            .rollout
            .device(aircraft(2).as_str())
            .unwrap()
            .reported_version,
        Some(AIRCRAFT_VERSION.into()),
        "the aircraft's push after its upgrade"
    );
}

#[test]
fn a_task_on_a_gateway_that_is_busy_elsewhere_is_tried_again_later() {
    let mut rollout = Rollout::new(plan(
        1,
        Policy {
            retry_after_ms: 30_000,
            ..Policy::default()
        },
    ))
    .unwrap();
    let start = rollout.poll(T0).pop().unwrap();
    // The caller's tracker refused it (another task of the dock in flight, say).
    assert!(rollout.start_failed(&start.task, T0));
    assert!(!rollout.start_failed(&start.task, T0), "only once");
    assert_eq!(rollout.counts().waiting, 2);
    assert_eq!(rollout.next_deadline(), Some(T0 + 30_000));
    assert!(rollout.poll(T0 + 29_999).is_empty());
    let again = rollout.poll(T0 + 30_000).pop().unwrap();
    assert_eq!(again.attempt, 2);
    assert_ne!(again.task.bid, start.task.bid);
}

#[test]
fn starts_keep_to_the_rate_limit_in_every_minute() {
    let policy = Policy {
        max_in_flight: 100,
        max_starts_per_minute: Some(4),
        ..Policy::default()
    };
    let mut fleet = Fleet::new(plan(13, policy), &[]);
    fleet.run(3_600_000);
    assert_eq!(fleet.rollout.verdict(), Some(Verdict::Success));
    let times: Vec<u64> = fleet.starts.iter().map(|(t, _)| *t).collect();
    for (i, &t) in times.iter().enumerate() {
        let in_window = times[i..].iter().take_while(|&&u| u < t + 60_000).count();
        assert!(
            in_window <= 4,
            "{in_window} starts within a minute from {t}"
        );
    }
    // Full speed within the limit: 13 starts take three windows.
    assert_eq!(times[4] - times[0], 60_000);
    assert_eq!(times[12] - times[0], 180_000);
}

#[test]
fn pause_holds_new_starts_and_cancel_ends_the_waiting_devices() {
    let policy = Policy {
        max_in_flight: 2,
        ..Policy::default()
    };
    let mut fleet = Fleet::new(plan(6, policy), &[]);
    fleet.settle();
    assert_eq!(fleet.rollout.in_flight(), 2);
    assert!(fleet.rollout.pause());
    assert!(!fleet.rollout.pause());
    fleet.run_until(600_000, |f| f.rollout.in_flight() == 0);
    assert_eq!(fleet.starts.len(), 2, "nothing started while paused");
    assert!(!fleet.rollout.is_done(), "a paused rollout is not done");
    assert!(fleet.rollout.resume());
    fleet.settle();
    assert_eq!(fleet.starts.len(), 4);
    assert!(fleet.rollout.cancel(fleet.now));
    fleet.run(600_000);
    assert_eq!(fleet.rollout.verdict(), Some(Verdict::Failures));
    let counts = fleet.rollout.counts();
    assert_eq!((counts.ok, counts.cancelled), (8, 4));
    assert!(
        !fleet.rollout.resume(),
        "a cancelled rollout stays cancelled"
    );
    assert!(fleet.rollout.poll(fleet.now).is_empty());
}

#[test]
fn a_cancelled_rollout_does_not_retry_a_busy_dock() {
    let busy = Fault::Reject(ResultCode(312015));
    let mut fleet = Fleet::new(plan(1, Policy::default()), &[(0, busy)]);
    fleet.settle();
    // Refused at once; waiting for its retry.
    assert_eq!(fleet.rollout.counts().waiting, 2);
    fleet.rollout.cancel(fleet.now);
    assert_eq!(fleet.rollout.counts().cancelled, 2);
    assert!(fleet.rollout.is_done());
    assert_eq!(fleet.rollout.next_deadline(), None);
}

#[test]
fn a_rollout_restored_from_its_rows_goes_on_as_if_nothing_happened() {
    let policy = Policy {
        max_in_flight: 3,
        canary: 2,
        abort_failed_percent: Some(60),
        abort_min_finished: 3,
        retry_after_ms: 30_000,
        ..Policy::default()
    };
    let faults = [
        (
            4,
            Fault::RejectFirst {
                result: ResultCode(312027),
                times: 1,
            },
        ),
        (5, fails()),
    ];
    let mut fleet = Fleet::new(plan(10, policy.clone()), &faults);
    // Halfway: some ended, some in flight, one waiting for its retry.
    fleet.run_until(3_600_000, |f| {
        f.rollout.counts().ok >= 8
            && f.rollout.device(gateway(4).as_str()).unwrap().attempts == 1
            && f.rollout.device(gateway(4).as_str()).unwrap().outcome == Outcome::Waiting
    });
    let snapshot = fleet.rollout.snapshot();
    // What a store would keep: the rows as JSON.
    let json = serde_json::to_string(&snapshot).unwrap();
    let saved: RolloutSnapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(saved, snapshot);
    let restored = Rollout::restore(plan(10, policy), saved).unwrap();
    assert_eq!(restored.counts(), fleet.rollout.counts());
    assert_eq!(restored.in_flight(), fleet.rollout.in_flight());
    assert_eq!(restored.next_deadline(), fleet.rollout.next_deadline());
    assert_eq!(restored.snapshot(), snapshot);
    fleet.rollout = restored;
    fleet.run(3_600_000);
    assert_eq!(fleet.rollout.verdict(), Some(Verdict::Failures));
    let counts = fleet.rollout.counts();
    assert_eq!((counts.ok, counts.failed), (18, 2));
    assert_eq!(
        fleet.rollout.device(gateway(4).as_str()).unwrap().attempts,
        2
    );
}

#[test]
fn a_plan_that_differs_from_the_saved_rollout_is_refused_with_the_difference() {
    let mut rollout = Rollout::new(plan(3, Policy::default())).unwrap();
    rollout.poll(T0);
    let snapshot = rollout.snapshot();
    assert_eq!(
        Rollout::restore(plan(4, Policy::default()), snapshot.clone()).unwrap_err(),
        RestoreError::DeviceCount { plan: 8, saved: 6 }
    );
    let mut other = plan(3, Policy::default());
    other.devices[3].model = DOCK_MODEL.into();
    let error = Rollout::restore(other, snapshot).unwrap_err();
    assert!(
        matches!(&error, RestoreError::DeviceDiffers { index: 3, .. }),
        "{error}"
    );
    assert!(
        error.to_string().starts_with("device 3: the plan has"),
        "{error}"
    );
}

#[test]
fn only_what_changed_is_reported_for_the_store() {
    let mut fleet = Fleet::new(
        plan(
            100,
            Policy {
                max_in_flight: 1,
                ..Policy::default()
            },
        ),
        &[],
    );
    fleet.settle();
    let first = fleet.rollout.take_changes();
    assert_eq!(
        first,
        Changes {
            header: true,
            devices: vec![0, 1]
        }
    );
    assert!(fleet.rollout.take_changes().is_empty());
    // The first task ends, the second starts: four rows of 200.
    fleet.run_until(600_000, |f| f.starts.len() == 2);
    let changes = fleet.rollout.take_changes();
    assert_eq!(changes.devices, vec![0, 1, 2, 3]);
}

#[test]
fn the_last_event_lost_but_the_devices_confirm_counts_as_ok() {
    let mut rollout = Rollout::new(plan(1, Policy::default())).unwrap();
    let start = rollout.poll(T0).pop().unwrap();
    let confirmed = Change::Confirmed {
        versions: vec![
            (gateway(0).as_str().into(), DOCK_VERSION.into()),
            (aircraft(0).as_str().into(), AIRCRAFT_VERSION.into()),
        ],
    };
    assert!(!rollout.task_ended(
        &start.task,
        &Change::Accepted {
            status: None,
            by_event: true
        },
        T0
    ));
    assert!(rollout.task_ended(&start.task, &confirmed, T0 + 1));
    assert!(
        !rollout.task_ended(&start.task, &confirmed, T0 + 2),
        "only once"
    );
    assert_eq!(rollout.verdict(), Some(Verdict::Success));
    assert_eq!(rollout.device(aircraft(0).as_str()).unwrap().result, None);
}

#[test]
fn a_plan_that_cannot_run_says_why() {
    let good = plan(2, Policy::default());

    let mut twice = good.clone();
    twice.devices.push(twice.devices[1].clone());
    assert_eq!(
        Rollout::new(twice).unwrap_err(),
        PlanError::DuplicateDevice {
            sn: aircraft(0),
            first: 1,
            second: 4
        }
    );

    let mut unknown_model = good.clone();
    unknown_model.devices[2].model = "m30".into();
    let error = Rollout::new(unknown_model).unwrap_err();
    assert!(matches!(error, PlanError::NoFirmware { index: 2, .. }));
    assert!(error.to_string().contains("m30"), "{error}");

    let mut three = good.clone();
    three.devices.push(FleetDevice::new(
        gateway(0),
        serial("1581FEXTRA"),
        AIRCRAFT_MODEL,
    ));
    assert!(matches!(
        Rollout::new(three).unwrap_err(),
        PlanError::TooManyDevices {
            count: 3,
            index: 4,
            ..
        }
    ));

    let mut bad_md5 = good.clone();
    bad_md5.firmware.get_mut(AIRCRAFT_MODEL).unwrap().md5 = "not-an-md5".into();
    let error = Rollout::new(bad_md5).unwrap_err();
    let PlanError::Invalid {
        gateway: gw,
        errors,
    } = &error
    else {
        panic!("{error}");
    };
    assert_eq!(gw, &gateway(0));
    assert!(
        errors.to_string().contains("data.devices[1].md5"),
        "the path of the bad field: {errors}"
    );

    let empty = RolloutPlan {
        devices: vec![],
        ..good.clone()
    };
    assert_eq!(Rollout::new(empty).unwrap_err(), PlanError::NoDevices);

    for policy in [
        Policy {
            max_in_flight: 0,
            ..Policy::default()
        },
        Policy {
            abort_failed_percent: Some(101),
            ..Policy::default()
        },
        Policy {
            max_starts_per_minute: Some(0),
            ..Policy::default()
        },
    ] {
        let plan = RolloutPlan {
            policy,
            ..good.clone()
        };
        assert!(matches!(
            Rollout::new(plan).unwrap_err(),
            PlanError::Policy { .. }
        ));
    }
}

#[test]
fn outcomes_read_and_write_their_names() {
    for outcome in Outcome::ALL {
        let name = outcome.to_string();
        assert_eq!(name.parse::<Outcome>(), Ok(outcome));
        assert_eq!(serde_json::to_value(outcome).unwrap(), name.as_str());
    }
    assert_eq!(Outcome::InProgress.to_string(), "in_progress");
    assert!("done".parse::<Outcome>().is_err());
    // A policy from a configuration file: absent fields take their defaults.
    let policy: Policy =
        serde_json::from_str(r#"{"canary": 5, "abort_failed_percent": 10}"#).unwrap();
    assert_eq!(
        policy,
        Policy {
            canary: 5,
            abort_failed_percent: Some(10),
            ..Policy::default()
        }
    );
}

#[test]
fn a_failed_share_at_the_threshold_goes_on_and_one_above_it_aborts() {
    let policy = Policy {
        max_in_flight: 10,
        abort_failed_percent: Some(50),
        abort_min_finished: 2,
        ..Policy::default()
    };
    let mut rollout = Rollout::new(plan(6, policy)).unwrap();
    let starts = rollout.poll(T0);
    assert_eq!(starts.len(), 6);
    let failed = Change::Finished {
        status: dji_cloud_ota::TaskStatus::Failed,
        result: ResultCode(312003),
    };
    let ok = Change::Finished {
        status: dji_cloud_ota::TaskStatus::Ok,
        result: ResultCode::SUCCESS,
    };
    // One failed of one finished: fewer than the two the threshold waits for.
    assert!(rollout.task_ended(&starts[0].task, &failed, T0 + 1));
    assert_eq!(rollout.state(), RolloutState::Running);
    // One of two: 50 %, not over 50 %.
    assert!(rollout.task_ended(&starts[1].task, &ok, T0 + 2));
    assert_eq!(rollout.state(), RolloutState::Running);
    // Two of three: over.
    assert!(rollout.task_ended(&starts[2].task, &failed, T0 + 3));
    assert_eq!(rollout.state(), RolloutState::Aborted);
    assert!(!rollout.is_done(), "three tasks are still in flight");
    for start in &starts[3..] {
        rollout.task_ended(&start.task, &ok, T0 + 4);
    }
    assert_eq!(rollout.verdict(), Some(Verdict::Aborted));
}

/// What an operator's control does from each state, as the rollout's states are
/// described: a pause holds a running rollout; a resume starts again a paused or
/// aborted one; a cancel ends any that is not cancelled already; anything else
/// changes nothing. `RolloutState`'s answers (what a store that keeps only the state
/// judges a control by) and the rollout's own agree with it.
#[test]
fn each_control_leads_where_the_state_it_is_asked_in_says() {
    use RolloutState::{Aborted, Cancelled, Paused, Running};
    // from: after pause, after resume, after cancel.
    let table = [
        (Running, Some(Paused), None, Some(Cancelled)),
        (Paused, None, Some(Running), Some(Cancelled)),
        (Aborted, None, Some(Running), Some(Cancelled)),
        (Cancelled, None, None, None),
    ];
    // A rollout in each state: running with tasks in flight, paused, aborted by a
    // failing canary, cancelled.
    let policy = Policy {
        canary: 1,
        max_in_flight: 2,
        abort_failed_percent: Some(0),
        abort_min_finished: 1,
        ..Policy::default()
    };
    let mut running = Fleet::new(plan(4, policy.clone()), &[]);
    running.settle();
    let mut paused = running.rollout.clone();
    assert!(paused.pause());
    let mut cancelled = running.rollout.clone();
    assert!(cancelled.cancel(running.now));
    let mut aborting = Fleet::new(plan(4, policy), &[(0, fails())]);
    aborting.run(3_600_000);
    let rollouts = [
        running.rollout.clone(),
        paused,
        aborting.rollout.clone(),
        cancelled,
    ];
    for ((from, pause, resume, cancel), rollout) in table.into_iter().zip(rollouts) {
        assert_eq!(rollout.state(), from);
        assert_eq!(from.paused(), pause, "pause from {from}");
        assert_eq!(from.resumed(), resume, "resume from {from}");
        assert_eq!(from.cancelled(), cancel, "cancel from {from}");
        let mut r = rollout.clone();
        assert_eq!(r.pause(), pause.is_some(), "pause from {from}");
        assert_eq!(r.state(), pause.unwrap_or(from));
        let mut r = rollout.clone();
        assert_eq!(r.resume(), resume.is_some(), "resume from {from}");
        assert_eq!(r.state(), resume.unwrap_or(from));
        let mut r = rollout.clone();
        assert_eq!(
            r.cancel(running.now),
            cancel.is_some(),
            "cancel from {from}"
        );
        assert_eq!(r.state(), cancel.unwrap_or(from));
    }
}
