//! A fleet rollout followed by the cloud driver through a real broker (the one named by
//! `OTA_TEST_BROKER`, or the tests' embedded one): simulated docks with faults of their
//! own (busy once, failing, already at the target version), the rollout kept in an
//! SQLite store, and the cloud closed in the middle and started again on it.

#[path = "support/plans.rs"]
mod plans;
#[path = "../../tests/support/temp_dir.rs"]
mod temp_dir;
#[path = "../../tests/support/test_broker.rs"]
mod test_broker;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dji_cloud_ota::dock::{Dock, DockConfig, Fault, NeedReply};
use dji_cloud_ota::rollout::{FleetDevice, Outcome, Policy, RolloutPlan, RolloutState, Verdict};
use dji_cloud_ota::tracker::TrackerConfig;
use dji_cloud_ota::{
    FirmwareState, FirmwareUpgradeStatus, ResultCode, Serial, StatePush, Step, now_millis,
};
use dji_cloud_ota_mqtt::{
    Agent, AgentConfig, AgentEvent, Cloud, CloudConfig, CloudEvent, CloudEvents, MqttConfig,
    RolloutControl, RolloutStatus, SqliteStore, Store,
};
use temp_dir::TempDir;
use tokio::time::{Instant, sleep_until, timeout};

use plans::{AIRCRAFT_VERSION, DOCK_VERSION, firmware};

fn mqtt(client_id: &str) -> MqttConfig {
    let (host, port) = test_broker::address();
    MqttConfig::new(&host, port, client_id)
}

/// What each simulated dock does, by its position.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Healthy,
    BusyOnce,
    Failing,
    AtTarget,
}

struct Fleet {
    gateways: Vec<Serial>,
    aircraft: Vec<Serial>,
    kinds: Vec<Kind>,
}

impl Fleet {
    fn new(prefix: &str, kinds: Vec<Kind>) -> Self {
        let gateways = (0..kinds.len())
            .map(|i| Serial::new(&format!("{prefix}G{i:03}")).unwrap())
            .collect();
        let aircraft = (0..kinds.len())
            .map(|i| Serial::new(&format!("{prefix}A{i:03}")).unwrap())
            .collect();
        Self {
            gateways,
            aircraft,
            kinds,
        }
    }

    fn plan(&self, policy: Policy) -> RolloutPlan {
        let mut devices = Vec::new();
        for (g, a) in self.gateways.iter().zip(&self.aircraft) {
            devices.push(FleetDevice::new(g.clone(), g.clone(), "dock2"));
            devices.push(FleetDevice::new(g.clone(), a.clone(), "m3d"));
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
}

/// What the docks saw, shared with the test: every `ota_create` by gateway, and the
/// gateways that got one while a task of theirs was in flight.
#[derive(Default)]
struct Seen {
    requests: HashMap<Serial, Vec<String>>,
    while_busy: Vec<Serial>,
}

/// Runs the fleet's docks over one connection until the returned task is aborted; the
/// docks at the target version push their state once `listening` fires.
async fn run_docks(
    fleet: &Fleet,
    seen: Arc<Mutex<Seen>>,
    listening: tokio::sync::oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<()> {
    let id = format!("{}-docks", fleet.gateways[0]);
    let (agent, mut events) =
        Agent::spawn(AgentConfig::new(mqtt(&id), fleet.gateways.clone())).unwrap();
    loop {
        match timeout(Duration::from_secs(30), events.next())
            .await
            .unwrap()
        {
            Some(AgentEvent::Connected { .. }) => break,
            Some(_) => {}
            None => panic!("the docks' agent stopped"),
        }
    }
    let mut docks = HashMap::new();
    for (i, gateway) in fleet.gateways.iter().enumerate() {
        let fault = match fleet.kinds[i] {
            Kind::BusyOnce => Fault::RejectFirst {
                result: ResultCode(312015),
                times: 1,
            },
            Kind::Failing => Fault::FailAt {
                step: Step::UpgradeFirmware,
                percent: 50,
                result: ResultCode(312003),
            },
            Kind::Healthy | Kind::AtTarget => Fault::None,
        };
        let config = DockConfig {
            interval_ms: 200,
            percent_step: 50,
            need_reply: NeedReply::Final,
            fault,
            ..DockConfig::default()
        };
        docks.insert(gateway.clone(), Dock::new(gateway.clone(), config));
    }
    // The docks already at the target version say so (as a dock does when it comes
    // online), once the cloud listens.
    let mut at_target = Vec::new();
    for (i, gateway) in fleet.gateways.iter().enumerate() {
        if fleet.kinds[i] == Kind::AtTarget {
            for (sn, version) in [
                (gateway, DOCK_VERSION),
                (&fleet.aircraft[i], AIRCRAFT_VERSION),
            ] {
                let firmware = FirmwareState {
                    firmware_version: Some(version.into()),
                    firmware_upgrade_status: Some(FirmwareUpgradeStatus::NOT_UPGRADING),
                    ..FirmwareState::default()
                };
                at_target.push(StatePush::new(sn.clone(), Some(gateway.clone()), firmware));
            }
        }
    }
    tokio::spawn(async move {
        let _ = listening.await;
        for push in at_target {
            let _ = agent.publish_state(push);
        }
        let far = Instant::now() + Duration::from_secs(3600);
        loop {
            let next = docks.values().filter_map(Dock::next_deadline).min();
            let next = next
                .map(|at| Instant::now() + Duration::from_millis(at.saturating_sub(now_millis())));
            let mut out = Vec::new();
            tokio::select! {
                event = events.next() => match event {
                    Some(AgentEvent::Request(m) | AgentEvent::Answered(m)) => {
                        if let Some(dock) = docks.get_mut(&m.sn) {
                            if matches!(m.data, dji_cloud_ota::Data::OtaCreate(_)) {
                                let mut seen = seen.lock().unwrap();
                                let seen = &mut *seen;
                                let bids = seen.requests.entry(m.sn.clone()).or_default();
                                let new_bid = !bids.contains(&m.bid.to_string());
                                if new_bid && dock.is_busy() {
                                    seen.while_busy.push(m.sn.clone());
                                }
                                bids.push(m.bid.to_string());
                            }
                            out = dock.handle(&m, now_millis());
                        }
                    }
                    Some(_) => {}
                    None => return,
                },
                () = sleep_until(next.unwrap_or(far)), if next.is_some() => {
                    let now = now_millis();
                    for dock in docks.values_mut() {
                        if dock.next_deadline().is_some_and(|at| at <= now) {
                            out.extend(dock.poll(now));
                        }
                    }
                }
            }
            for message in out {
                let _ = agent.publish(message);
            }
            for dock in docks.values_mut() {
                for push in dock.take_state_pushes() {
                    let _ = agent.publish_state(push);
                }
            }
        }
    })
}

/// Takes rollout statuses until `done` holds for one; checks every one on the way.
async fn until_rollout(
    events: &mut CloudEvents,
    within: Duration,
    mut check: impl FnMut(&RolloutStatus),
    done: impl Fn(&RolloutStatus) -> bool,
) -> RolloutStatus {
    let end = Instant::now() + within;
    loop {
        match tokio::time::timeout_at(end, events.next()).await {
            Ok(Some(CloudEvent::Rollout(status))) => {
                check(&status);
                if done(&status) {
                    return status;
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("the cloud stopped"),
            Err(_) => panic!("the rollout did not get there within {within:?}"),
        }
    }
}

async fn connected(events: &mut CloudEvents) {
    loop {
        match timeout(Duration::from_secs(30), events.next())
            .await
            .unwrap()
        {
            Some(CloudEvent::Connected { .. }) => return,
            Some(CloudEvent::Failed { reason }) => panic!("{reason}"),
            Some(_) => {}
            None => panic!("the cloud stopped"),
        }
    }
}

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
