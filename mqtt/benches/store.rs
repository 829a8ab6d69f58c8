//! What a commit of a fleet rollout's changed rows costs in the SQLite store, for 1, 64
//! and 1,024 changed device rows of a 10,000-device rollout (5,000 docks and their
//! aircraft), side by side: the cost should follow the rows that changed, not the
//! rollout's size. Each commit is one transaction, synced to the disk
//! (`synchronous = FULL`), in a file under the system's temporary folder.
//!
//! `cargo bench -p dji-cloud-ota-mqtt --bench store`

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use dji_cloud_ota::rollout::{Changes, Firmware, FleetDevice, Policy, Rollout, RolloutPlan};
use dji_cloud_ota::{Serial, UpgradeType};
use dji_cloud_ota_mqtt::SqliteStore;

fn plan(gateways: usize) -> RolloutPlan {
    let firmware = |version: &str| Firmware {
        version: version.into(),
        url: "https://firmware.example.com/package.zip".into(),
        md5: "6f1ed002ab5595859014ebf0951522d9".into(),
        size: 300_000_000,
        file_name: "package.zip".into(),
        upgrade_type: UpgradeType::NORMAL,
    };
    let mut devices = Vec::new();
    for i in 0..gateways {
        let dock = Serial::new(&format!("DOCK{i:05}")).unwrap();
        let aircraft = Serial::new(&format!("AIR{i:05}")).unwrap();
        devices.push(FleetDevice::new(dock.clone(), dock.clone(), "dock2"));
        devices.push(FleetDevice::new(dock, aircraft, "m3d"));
    }
    RolloutPlan {
        devices,
        firmware: BTreeMap::from([
            ("dock2".into(), firmware("10.01.0003")),
            ("m3d".into(), firmware("10.01.0016")),
        ]),
        policy: Policy {
            max_in_flight: 1_000,
            ..Policy::default()
        },
    }
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

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = commits
}
criterion_main!(benches);
