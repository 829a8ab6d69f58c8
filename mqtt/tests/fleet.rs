//! A fleet rollout followed by the cloud driver through a real broker (the one named by
//! `OTA_TEST_BROKER`, or the tests' embedded one): simulated docks with faults of their
//! own (busy once, failing, already at the target version), the rollout kept in an
//! SQLite store, and the cloud closed in the middle and started again on it.

#[path = "support/fleet_sim.rs"]
mod fleet_sim;
#[path = "support/plans.rs"]
mod plans;
#[path = "../../tests/support/temp_dir.rs"]
mod temp_dir;
#[path = "../../tests/support/test_broker.rs"]
mod test_broker;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dji_cloud_ota::ResultCode;
use dji_cloud_ota::rollout::{Outcome, Policy, RolloutState, Verdict};
use dji_cloud_ota::tracker::TrackerConfig;
use dji_cloud_ota_mqtt::{Cloud, CloudConfig, RolloutControl, RolloutStatus, SqliteStore, Store};
use fleet_sim::{Fleet, Kind, Seen, connected, mqtt, run_docks, until_rollout};
use temp_dir::TempDir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_survives_a_restart_and_every_device_ends_as_it_should() {
    let dir = TempDir::new("fleet-rollout");
    let prefix = format!("F{}", std::process::id());
    let mut kinds = vec![Kind::Healthy; 24];
    kinds[1] = Kind::BusyOnce;
    kinds[7] = Kind::BusyOnce;
    kinds[5] = Kind::Failing;
    kinds[3] = Kind::AtTarget;
    kinds[15] = Kind::AtTarget;
    let fleet = Fleet::new(&prefix, kinds.clone());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (listening_tx, listening) = tokio::sync::oneshot::channel();
    let docks = run_docks(&fleet, seen.clone(), listening).await;

    let policy = Policy {
        canary: 2,
        max_in_flight: 4,
        retry_after_ms: 1_000,
        retry_limit: 2,
        ..Policy::default()
    };
    let tracker = TrackerConfig {
        silence_timeout_ms: Some(20_000),
        state_grace_ms: 1_000,
        ..TrackerConfig::default()
    };
    let mut config = CloudConfig::new(mqtt(&format!("{prefix}-cloud")), tracker);
    config.resume_grace = Duration::from_millis(500);
    let db = dir.0.join("fleet.db");

    let (cloud, mut events) =
        Cloud::spawn(config.clone(), SqliteStore::open(&db).unwrap()).unwrap();
    connected(&mut events).await;
    let status = cloud
        .rollout("release", fleet.plan(policy.clone()))
        .await
        .unwrap();
    assert_eq!(status.state, RolloutState::Running);
    // The rollout reads every device's state pushes from now on (once the broker has
    // the subscription, asked for before `rollout` returned).
    tokio::time::sleep(Duration::from_millis(200)).await;
    listening_tx.send(()).unwrap();
    let limit = |s: &RolloutStatus| assert!(s.in_flight <= 4, "{s:?}");
    // Half of it, then the cloud goes away.
    until_rollout(&mut events, Duration::from_secs(60), limit, |s| {
        s.counts.ok + s.counts.failed + s.counts.skipped >= 20
    })
    .await;
    cloud.close().await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Started again on the same database: the rollout is taken up where it was.
    let (cloud, mut events) = Cloud::spawn(config, SqliteStore::open(&db).unwrap()).unwrap();
    connected(&mut events).await;
    let taken_up = cloud.rollout("release", fleet.plan(policy)).await.unwrap();
    assert!(taken_up.counts.ok + taken_up.counts.failed + taken_up.counts.skipped >= 20);
    let end = if taken_up.verdict.is_some() {
        taken_up
    } else {
        until_rollout(&mut events, Duration::from_secs(60), limit, |s| {
            s.verdict.is_some()
        })
        .await
    };
    assert_eq!(end.verdict, Some(Verdict::Failures));
    assert_eq!(
        (end.counts.ok, end.counts.failed, end.counts.skipped),
        (42, 2, 4),
        "{end:?}"
    );
    // The rows say which device ended how.
    let saved = SqliteStore::open_read_only(&db)
        .unwrap()
        .load_rollout("release")
        .unwrap()
        .unwrap();
    for (i, pair) in saved.snapshot.devices.chunks(2).enumerate() {
        let want = match kinds[i] {
            Kind::Healthy | Kind::BusyOnce => Outcome::Ok,
            Kind::Failing => Outcome::Failed,
            Kind::AtTarget => Outcome::Skipped,
        };
        for record in pair {
            assert_eq!(record.outcome, want, "{record:?}");
        }
        if kinds[i] == Kind::BusyOnce {
            assert_eq!(pair[0].attempts, 2, "{:?}", pair[0]);
        }
        if kinds[i] == Kind::Failing {
            assert_eq!(pair[0].result, Some(ResultCode(312003)));
        }
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        seen.while_busy.is_empty(),
        "a second ota_create reached {:?}",
        seen.while_busy
    );
    for (i, gateway) in fleet.gateways.iter().enumerate() {
        let bids = seen.requests.get(gateway).map_or(0, |b| {
            let mut b = b.clone();
            b.dedup();
            b.len()
        });
        let want = match kinds[i] {
            Kind::AtTarget => 0,
            Kind::BusyOnce => 2,
            _ => 1,
        };
        assert_eq!(bids, want, "{gateway}: {:?}", seen.requests.get(gateway));
    }
    // A store that keeps no rollouts says so.
    let file = dji_cloud_ota_mqtt::FileStore::new(dir.0.join("state.json"));
    assert!(file.load_rollout("release").unwrap().is_none());
    assert!(
        cloud
            .control("nonesuch", RolloutControl::Pause)
            .await
            .is_err()
    );
    cloud.close().await;
    docks.abort();
}
