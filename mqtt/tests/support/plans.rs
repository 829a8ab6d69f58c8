//! Rollout plans for the runtime's tests and benches: docks and their aircraft, with
//! the firmware of each model. Included with `#[path]` where it is used.

#![allow(dead_code)]

use std::collections::BTreeMap;

use dji_cloud_ota::rollout::{Firmware, FleetDevice, Policy, RolloutPlan};
use dji_cloud_ota::{Serial, UpgradeType};

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
