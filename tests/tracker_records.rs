//! A tracker kept one row per task: `Tracker::take_changes` gives the records of the
//! tasks that changed, a store writes them over the rows it holds, and
//! `TrackerSnapshot::from_records` of the rows read back restores the tracker exactly
//! as `snapshot` would. Driven as a server drives it, with the dock-side builders, over
//! long random runs of every kind of message, of the time and of forgetting.

mod common;

use std::collections::BTreeMap;

use common::XorShift;
use dji_cloud_ota::tracker::{
    Ending, TaskKey, TaskRecord, Tracker, TrackerChanges, TrackerConfig, TrackerSnapshot,
};
use dji_cloud_ota::{
    Data, Device, FirmwareState, FirmwareUpgradeStatus, Message, OtaProgress, ResultCode, Serial,
    StatePush, Step, TaskStatus, UpgradeType,
};

const T0: u64 = 1_700_000_000_000;

/// What a store holds: a row per task, and the order in which each ended (kept while
/// its row stays ended), as `SqliteStore` keeps them.
#[derive(Default)]
struct Rows {
    rows: BTreeMap<TaskKey, (u64, TaskRecord)>,
    next: u64,
    writes: usize,
}

impl Rows {
    fn write(&mut self, changes: &TrackerChanges) {
        for record in &changes.records {
            self.writes += 1;
            let key = record.key();
            let was_ended = self
                .rows
                .get(&key)
                .is_some_and(|(_, r)| r.ending().is_some());
            let order = match self.rows.get(&key) {
                Some((order, _)) if was_ended && record.ending().is_some() => *order,
                _ => {
                    self.next += 1;
                    self.next
                }
            };
            self.rows.insert(key, (order, record.clone()));
        }
    }

    /// The rows read back: the tasks in flight, then the ended ones the oldest first.
    fn read(&self) -> Vec<TaskRecord> {
        let mut rows: Vec<&(u64, TaskRecord)> = self.rows.values().collect();
        rows.sort_by_key(|(order, r)| (r.ending().is_some(), *order));
        rows.into_iter().map(|(_, r)| r.clone()).collect()
    }
}

fn run(config: TrackerConfig, seed: u64) {
    let mut rng = XorShift(seed);
    let mut tracker = Tracker::new(config.clone());
    let mut store = Rows::default();
    let gateways: Vec<Serial> = (0..8)
        .map(|n| Serial::new(&format!("DOCK{n}")).unwrap())
        .collect();
    let mut sent: Vec<Message> = Vec::new();
    let mut now = T0;
    let mut restores = 0;
    for step in 0..12_000 {
        now += rng.below(1_500);
        match rng.below(8) {
            0 => {
                let gateway = gateways[rng.below(8) as usize].clone();
                let devices = (0..=rng.below(2))
                    .map(|d| Device::new(format!("{gateway}UAV{d}"), "1.0.2", UpgradeType::NORMAL))
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
                let status = ["in_progress", "in_progress", "ok", "failed"][rng.below(4) as usize];
                let event = OtaProgress::new(TaskStatus::from(status))
                    .with_progress(Step::UpgradeFirmware, rng.below(101) as i64);
                let mut event = request.progress_event(event, true).unwrap();
                event.timestamp = now - rng.below(2_000);
                tracker.handle(&event, now);
                if rng.below(4) == 0 {
                    // Delivered twice.
                    tracker.handle(&event, now);
                }
            }
            4 if !sent.is_empty() => {
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
                let sn = Serial::new(device.sn.as_str()).unwrap();
                tracker.handle_state(&StatePush::new(sn, Some(request.sn.clone()), firmware), now);
            }
            5 if !sent.is_empty() && rng.below(8) == 0 => {
                let request = &sent[rng.below(sent.len() as u64) as usize];
                tracker.forget(&TaskKey::of(request));
            }
            _ => {
                tracker.poll(now);
            }
        }
        // A store commits after some messages, not after each.
        if rng.below(3) == 0 {
            store.write(&tracker.take_changes());
        }
        if step % 97 == 0 {
            store.write(&tracker.take_changes());
            let snapshot =
                TrackerSnapshot::from_records(store.read(), *tracker.counters()).unwrap();
            let restored = Tracker::restore(config.clone(), snapshot).unwrap();
            assert_eq!(
                restored.snapshot(),
                tracker.snapshot(),
                "step {step}: the rows restore the tracker"
            );
            // Carry on with the restored tracker, as a server that restarted does; its
            // first changes are every task, written again.
            tracker = restored;
            store.write(&tracker.take_changes());
            restores += 1;
        }
        if sent.len() > 40 {
            sent.drain(..20);
        }
    }
    assert!(restores > 100);
    let ended = store.rows.values().filter(|(_, r)| r.ending().is_some());
    assert!(
        ended.count() > config.recent_finished,
        "the rows keep every ended task, beyond what the tracker remembers"
    );
}

#[test]
fn rows_written_from_the_changes_restore_the_tracker_exactly() {
    run(
        TrackerConfig {
            silence_timeout_ms: Some(6_000),
            recent_finished: 16,
            ..TrackerConfig::default()
        },
        0x9E37_79B9_7F4A_7C15,
    );
    run(
        TrackerConfig {
            silence_timeout_ms: None,
            state_grace_ms: 0,
            reply_timeout_ms: 0,
            retries: 5,
            recent_finished: 0,
            ..TrackerConfig::default()
        },
        0x2545_F491_4F6C_DD1D,
    );
}

fn started(tracker: &mut Tracker, gateway: &str) -> Message {
    let device = Device::new(format!("{gateway}UAV"), "04.01.0020", UpgradeType::NORMAL);
    let gateway = Serial::new(gateway).unwrap();
    tracker.start(gateway, vec![device], T0).unwrap().request
}

fn keys(changes: &TrackerChanges) -> Vec<TaskKey> {
    changes.records.iter().map(TaskRecord::key).collect()
}

#[test]
fn the_changes_name_the_tasks_that_changed_and_no_other() {
    let mut tracker = Tracker::default();
    let first = started(&mut tracker, "DOCKA");
    let second = started(&mut tracker, "DOCKB");
    // The first call: every task.
    let all = tracker.take_changes();
    assert_eq!(keys(&all), {
        let mut k = vec![TaskKey::of(&first), TaskKey::of(&second)];
        k.sort();
        k
    });
    assert!(tracker.take_changes().is_empty());

    let event = OtaProgress::new(TaskStatus::InProgress).with_progress(Step::DownloadFirmware, 10);
    let event = first.progress_event(event, true).unwrap();
    tracker.handle(&event, T0 + 100);
    let changes = tracker.take_changes();
    assert_eq!(keys(&changes), [TaskKey::of(&first)]);
    assert_eq!(changes.records[0].state().unwrap().percent, Some(10));
    assert_eq!(changes.counters.progress, 1);

    // A duplicate, an event of no task: no record changes, the counters do.
    tracker.handle(&event, T0 + 200);
    let unknown = started(&mut Tracker::default(), "DOCKC");
    let stray = OtaProgress::new(TaskStatus::InProgress).with_progress(Step::DownloadFirmware, 5);
    tracker.handle(&unknown.progress_event(stray, true).unwrap(), T0 + 300);
    let changes = tracker.take_changes();
    assert!(changes.is_empty());
    assert_eq!(changes.counters.duplicates, 1);

    // An ending: the record says how.
    let done = OtaProgress::new(TaskStatus::Ok).with_progress(Step::UpgradeFirmware, 100);
    tracker.handle(&second.progress_event(done, true).unwrap(), T0 + 400);
    let changes = tracker.take_changes();
    assert_eq!(keys(&changes), [TaskKey::of(&second)]);
    assert!(matches!(
        changes.records[0].ending(),
        Some(Ending::Finished { status, .. }) if status.is_success()
    ));
    assert_eq!(changes.records[0].state(), None);
}

#[test]
fn a_task_that_ends_before_the_changes_are_taken_is_recorded_ended_even_if_forgotten() {
    // Remembers no ended task at all: the record is all that is left of it.
    let mut tracker = Tracker::new(TrackerConfig {
        recent_finished: 0,
        ..TrackerConfig::default()
    });
    let _ = tracker.take_changes();
    let request = started(&mut tracker, "DOCKA");
    assert!(tracker.forget(&TaskKey::of(&request)));
    let changes = tracker.take_changes();
    assert_eq!(keys(&changes), [TaskKey::of(&request)]);
    assert_eq!(changes.records[0].ending(), Some(&Ending::Forgotten));
}

#[test]
fn changes_a_store_could_not_write_merge_with_the_next_ones() {
    let mut tracker = Tracker::default();
    let _ = tracker.take_changes();
    let a = started(&mut tracker, "DOCKA");
    let mut unwritten = tracker.take_changes();
    let b = started(&mut tracker, "DOCKB");
    let event = OtaProgress::new(TaskStatus::InProgress).with_progress(Step::DownloadFirmware, 30);
    tracker.handle(&a.progress_event(event, true).unwrap(), T0 + 100);
    unwritten.merge(tracker.take_changes());
    assert_eq!(keys(&unwritten), {
        let mut k = vec![TaskKey::of(&a), TaskKey::of(&b)];
        k.sort();
        k
    });
    let a_record = unwritten
        .records
        .iter()
        .find(|r| r.key() == TaskKey::of(&a))
        .unwrap();
    assert_eq!(
        a_record.state().unwrap().percent,
        Some(30),
        "the later record"
    );
    assert_eq!(unwritten.counters, *tracker.counters());
}

#[test]
fn a_record_is_documented_json() {
    let mut tracker = Tracker::default();
    let request = started(&mut tracker, "DOCKA");
    tracker.forget(&TaskKey::of(&request));
    let second = started(&mut tracker, "DOCKA");
    let records = tracker.take_changes().records;
    let texts: Vec<serde_json::Value> = records
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    let in_flight = records
        .iter()
        .position(|r| r.key() == TaskKey::of(&second))
        .unwrap();
    let ended = 1 - in_flight;
    assert!(texts[in_flight]["in_flight"]["request"]["bid"].is_string());
    assert_eq!(texts[ended]["ended"]["ending"], "forgotten");
    for (text, record) in texts.iter().zip(&records) {
        let back: TaskRecord = serde_json::from_value(text.clone()).unwrap();
        assert_eq!(&back, record);
    }
}

#[test]
fn changes_merged_after_a_failed_commit_keep_the_ended_tasks_in_the_order_they_ended() {
    let mut tracker = Tracker::default();
    let _ = tracker.take_changes();
    let a = started(&mut tracker, "DOCKA");
    let b = started(&mut tracker, "DOCKB");
    // Not written: A and B in flight.
    let mut unwritten = tracker.take_changes();
    // Then B ends, then A.
    for request in [&b, &a] {
        let done = OtaProgress::new(TaskStatus::Ok).with_progress(Step::UpgradeFirmware, 100);
        tracker.handle(&request.progress_event(done, true).unwrap(), T0 + 100);
    }
    unwritten.merge(tracker.take_changes());
    assert_eq!(keys(&unwritten), [TaskKey::of(&b), TaskKey::of(&a)]);
    assert!(unwritten.records.iter().all(|r| r.ending().is_some()));
}

#[test]
fn a_bid_started_again_after_its_task_ended_is_that_task_from_then_on() {
    let mut tracker = Tracker::default();
    let _ = tracker.take_changes();
    let request = started(&mut tracker, "DOCKA");
    let key = TaskKey::of(&request);
    tracker.forget(&key);
    let _ = tracker.take_changes();
    // The same request (its bid) started again.
    tracker.start_request(request.clone(), T0 + 1_000).unwrap();
    assert_eq!(tracker.ending(&key), None);
    assert!(tracker.ended().is_empty());
    let changes = tracker.take_changes();
    assert_eq!(keys(&changes), std::slice::from_ref(&key));
    assert_eq!(changes.records[0].ending(), None);
    // Its rows restore it in flight, and nothing else.
    let snapshot = TrackerSnapshot::from_records(changes.records, changes.counters).unwrap();
    let restored = Tracker::restore(TrackerConfig::default(), snapshot).unwrap();
    assert_eq!(restored.snapshot(), tracker.snapshot());
}
