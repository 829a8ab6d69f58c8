//! Rollout plans for the runtime's tests and benches: docks and their aircraft, with
//! the firmware of each model; and the steps of a rollout whose tasks end at once. Included with `#[path]` where it is used.

#![allow(dead_code)]

use std::collections::BTreeMap;

use dji_cloud_ota::rollout::{Firmware, FleetDevice, Policy, Rollout, RolloutPlan, Start};
use dji_cloud_ota::tracker::Change;
use dji_cloud_ota::{ResultCode, Serial, TaskStatus, UpgradeType};

/// The version of the docks' firmware (`dock2`) in the plans.
pub const DOCK_VERSION: &str = "10.01.0003";
/// The version of the aircraft's firmware (`m3d`) in the plans.
pub const AIRCRAFT_VERSION: &str = "10.01.0016";

/// A firmware package at `version`.
pub fn firmware(version: &str) -> Firmware {
    Firmware {
        version: version.into(),
        url: "https://firmware.example.com/package.zip".into(),
        md5: "6f1ed002ab5595859014ebf0951522d9".into(),
        size: 300_000_000,
        file_name: "package.zip".into(),
        upgrade_type: UpgradeType::NORMAL,
    }
}

/// `gateways` docks (`DOCK00000`, ...) with their aircraft (`AIR00000`, ...), each dock
/// followed by its aircraft, under `policy`.
pub fn docks_with_aircraft(gateways: usize, policy: Policy) -> RolloutPlan {
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
            ("dock2".into(), firmware(DOCK_VERSION)),
            ("m3d".into(), firmware(AIRCRAFT_VERSION)),
        ]),
        policy,
    }
}

/// A task's end: a final `ok`.
pub fn ok() -> Change {
    Change::Finished {
        status: TaskStatus::Ok,
        result: ResultCode::SUCCESS,
    }
}

/// A task's end: refused as busy (312015), which the rollout tries again later.
pub fn busy() -> Change {
    Change::Refused {
        result: ResultCode(312015),
        status: None,
    }
}

/// One step of a rollout: every task in flight ends (every third one busy, the others
/// ok), then what is due starts.
pub fn step(rollout: &mut Rollout, now: u64) -> Vec<Start> {
    let in_flight: Vec<_> = rollout.tasks_in_flight().cloned().collect();
    for (i, task) in in_flight.iter().enumerate() {
        let change = if i % 3 == 0 { busy() } else { ok() };
        rollout.task_ended(task, &change, now);
    }
    rollout.poll(now)
}
