//! What a commit of changed rows costs in the SQLite store, side by side for 1, 64 and
//! 1,024 changed rows: the cost should follow the rows that changed, not the state's
//! size. Two groups:
//! - `rollout_commit`: device rows of a 10,000-device rollout (5,000 docks and their
//!   aircraft);
//! - `task_commit`: the tracker's task rows, with 10,000 tasks in flight (each row the
//!   task's request, attempts, last event and the ids of its last events, as an event
//!   leaves it).
//!
//! Each commit is one transaction, synced to the disk (`synchronous = FULL`), in a file
//! under the system's temporary folder.
//!
//! `cargo bench -p dji-cloud-ota-mqtt --bench store`

#[path = "../tests/support/plans.rs"]
mod plans;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use dji_cloud_ota::rollout::{Changes, Policy, Rollout, RolloutPlan};
use dji_cloud_ota::tracker::{Tracker, TrackerChanges, TrackerConfig};
use dji_cloud_ota::{Device, OtaProgress, Serial, Step, TaskStatus, UpgradeType};
use dji_cloud_ota_mqtt::{Commit, SqliteStore, Store};

fn plan(gateways: usize) -> RolloutPlan {
    plans::docks_with_aircraft(
        gateways,
        Policy {
            max_in_flight: 1_000,
            ..Policy::default()
        },
    )
}

fn commits(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("ota-bench-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open(dir.join("fleet.db")).unwrap();
    let plan = plan(5_000);
    let mut rollout = Rollout::new(plan.clone()).unwrap();
    store.create_rollout("bench", &plan, &rollout).unwrap();
    // 1,000 tasks started: rows that hold a task, as in a rollout under way.
    rollout.poll(1_700_000_000_000);
    let all = rollout.take_changes();
    store.commit_rollout("bench", &rollout, &all).unwrap();

    let mut group = c.benchmark_group("rollout_commit");
    for changed in [1usize, 64, 1_024] {
        let changes = Changes {
            header: true,
            devices: (0..changed)
                .map(|i| i * 9 % 10_000)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
        };
        group.bench_with_input(
            BenchmarkId::from_parameter(changed),
            &changes,
            |b, changes| {
                b.iter(|| black_box(store.commit_rollout("bench", &rollout, changes).unwrap()));
            },
        );
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

fn task_commits(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("ota-bench-tasks-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open(dir.join("fleet.db")).unwrap();
    let mut tracker = Tracker::new(TrackerConfig {
        max_tasks: 10_000,
        ..TrackerConfig::default()
    });
    const T0: u64 = 1_700_000_000_000;
    for i in 0..10_000 {
        let device = Device::new(format!("AIR{i:05}"), "10.01.0016", UpgradeType::NORMAL)
            .with_file(
                "https://firmware.example.com/package.zip",
                "6f1ed002ab5595859014ebf0951522d9",
                300_000_000,
                "package.zip",
            );
        let gateway = Serial::new(&format!("DOCK{i:05}")).unwrap();
        let request = tracker.start(gateway, vec![device], T0).unwrap().request;
        // A few events in: the row as a task under way has it.
        for percent in [10, 20, 30] {
            let event = OtaProgress::new(TaskStatus::InProgress)
                .with_progress(Step::DownloadFirmware, percent);
            let mut event = request.progress_event(event, true).unwrap();
            event.timestamp = T0 + percent as u64;
            tracker.handle(&event, T0 + percent as u64);
        }
    }
    let all = tracker.take_changes();
    fn commit<'a>(tracker: &'a Tracker, changes: &'a TrackerChanges) -> Commit<'a> {
        Commit {
            tracker,
            changes,
            rollouts: &[],
        }
    }
    store.commit(&commit(&tracker, &all)).unwrap();

    let mut group = c.benchmark_group("task_commit");
    for changed in [1usize, 64, 1_024] {
        let changes = TrackerChanges {
            records: (0..changed)
                .map(|i| i * 9 % 10_000)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .map(|i| all.records[i].clone())
                .collect(),
            counters: all.counters,
        };
        group.bench_with_input(
            BenchmarkId::from_parameter(changed),
            &changes,
            |b, changes| {
                b.iter(|| store.commit(black_box(&commit(&tracker, changes))).unwrap());
            },
        );
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = commits, task_commits
}
criterion_main!(benches);
