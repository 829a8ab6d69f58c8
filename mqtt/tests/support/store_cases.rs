//! What both stores must do with the tracker's tasks, one body per scenario, run on
//! `SqliteStore` by `sqlite.rs` and on `PgStore` by `postgres.rs`. Included with
//! `#[path]` where it is used.

#![allow(dead_code)]

use dji_cloud_ota::tracker::{Ending, TaskKey, TaskRecord, Tracker, TrackerChanges, TrackerConfig};
use dji_cloud_ota::{Device, Message, OtaProgress, Serial, Step, TaskStatus, UpgradeType};
use dji_cloud_ota_mqtt::{Commit, SqliteStore, Store, StoreError};

const T0: u64 = 1_700_000_000_000;

/// A store whose tasks stay queryable once ended: each store's own methods.
pub trait TaskRows: Store {
    fn tasks_of_gateway(&self, gateway: &str) -> Result<Vec<TaskRecord>, StoreError>;
    fn task(&self, gateway: &str, bid: &str) -> Result<Option<TaskRecord>, StoreError>;
}

impl TaskRows for SqliteStore {
    fn tasks_of_gateway(&self, gateway: &str) -> Result<Vec<TaskRecord>, StoreError> {
        SqliteStore::tasks_of_gateway(self, gateway)
    }
    fn task(&self, gateway: &str, bid: &str) -> Result<Option<TaskRecord>, StoreError> {
        SqliteStore::task(self, gateway, bid)
    }
}

#[cfg(feature = "postgres")]
impl TaskRows for dji_cloud_ota_mqtt::PgStore {
    fn tasks_of_gateway(&self, gateway: &str) -> Result<Vec<TaskRecord>, StoreError> {
        dji_cloud_ota_mqtt::PgStore::tasks_of_gateway(self, gateway)
    }
    fn task(&self, gateway: &str, bid: &str) -> Result<Option<TaskRecord>, StoreError> {
        dji_cloud_ota_mqtt::PgStore::task(self, gateway, bid)
    }
}

/// A task started on `gateway` to upgrade its aircraft; its request.
pub fn start_task(tracker: &mut Tracker, gateway: &str, now: u64) -> Message {
    let device = Device::new(format!("{gateway}UAV"), "04.01.0020", UpgradeType::NORMAL);
    let gateway = Serial::new(gateway).unwrap();
    tracker.start(gateway, vec![device], now).unwrap().request
}

/// What a cloud driver does after each batch: the tracker's changes, committed alone.
pub fn commit_tracker(store: &dyn Store, tracker: &mut Tracker) -> TrackerChanges {
    let changes = tracker.take_changes();
    store
        .commit(&Commit {
            tracker,
            changes: &changes,
            rollouts: &[],
        })
        .unwrap();
    changes
}

/// Two rounds of a task on each of ten gateways, each ended by its final event and a
/// commit, then a third task in flight: the tracker restored from the store is the one
/// that committed, and every task stays in the store, however long ago it ended and
/// the tracker forgot it. `store` is empty.
pub fn ended_tasks_stay_queryable_beyond_what_the_tracker_remembers(store: &impl TaskRows) {
    assert_eq!(store.load().unwrap(), None, "nothing committed yet");
    let config = TrackerConfig {
        recent_finished: 4,
        ..TrackerConfig::default()
    };
    let mut tracker = Tracker::new(config.clone());
    let gateways: Vec<String> = (0..10).map(|i| format!("DOCK{i:05}")).collect();
    // The second round's first task ends after the first round's last.
    let mut requests = Vec::new();
    for round in 0..2u64 {
        let now = T0 + round * 10_000;
        let started: Vec<_> = (gateways.iter())
            .map(|g| start_task(&mut tracker, g, now))
            .collect();
        assert_eq!(commit_tracker(store, &mut tracker).records.len(), 10);
        for (i, request) in started.iter().enumerate() {
            let done = OtaProgress::new(TaskStatus::Ok).with_progress(Step::UpgradeFirmware, 100);
            let event = request.progress_event(done, true).unwrap();
            tracker.handle(&event, now + 100 + i as u64);
            // One task ended, one row written.
            assert_eq!(commit_tracker(store, &mut tracker).records.len(), 1);
        }
        requests.extend(started);
    }
    // A third task in flight on the first gateway.
    let in_flight = start_task(&mut tracker, &gateways[0], T0 + 30_000);
    let event = OtaProgress::new(TaskStatus::InProgress).with_progress(Step::DownloadFirmware, 40);
    tracker.handle(&in_flight.progress_event(event, true).unwrap(), T0 + 30_100);
    commit_tracker(store, &mut tracker);

    // Read back after a restart: the task in flight where it was, the last four ended
    // tasks remembered, the counters carried on.
    let restored = Tracker::restore(config, store.load().unwrap().unwrap()).unwrap();
    assert_eq!(restored.snapshot(), tracker.snapshot());
    assert_eq!(
        restored.task(&TaskKey::of(&in_flight)).unwrap().percent,
        Some(40)
    );
    assert_eq!(restored.remembered(), 4);
    assert_eq!(restored.counters().finished_ok, 20);

    // Every task stays in the store, however long ago it ended.
    let first = store.tasks_of_gateway(&gateways[0]).unwrap();
    let keys: Vec<TaskKey> = first.iter().map(TaskRecord::key).collect();
    assert_eq!(
        keys,
        [
            TaskKey::of(&requests[0]),
            TaskKey::of(&requests[10]),
            TaskKey::of(&in_flight)
        ]
    );
    assert!(
        matches!(first[0].ending(), Some(Ending::Finished { status, .. }) if status.is_success())
    );
    assert_eq!(first[2].ending(), None);
    let oldest = TaskKey::of(&requests[5]);
    let record = store
        .task(oldest.gateway.as_str(), &oldest.bid.to_string())
        .unwrap()
        .expect("an ended task the tracker forgot long ago");
    assert!(record.ending().is_some());
    assert_eq!(store.task("DOCK99999", "nope").unwrap(), None);
}
