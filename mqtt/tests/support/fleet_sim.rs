//! A simulated fleet for the runtime's rollout tests (`fleet.rs`, `group.rs`): docks
//! with their aircraft and faults of their own (busy once, failing, already at the
//! target version), run by the protocol crate's `Dock` over one `Agent` connection,
//! with what they saw shared with the test; and the waits on a cloud's events.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dji_cloud_ota::dock::{Dock, DockConfig, DockStats, Fault, NeedReply};
use dji_cloud_ota::rollout::{FleetDevice, Policy, RolloutPlan};
use dji_cloud_ota::{
    FirmwareState, FirmwareUpgradeStatus, ResultCode, Serial, StatePush, Step, now_millis,
};
use dji_cloud_ota_mqtt::{
    Agent, AgentConfig, AgentEvent, CloudEvent, CloudEvents, MqttConfig, RolloutStatus,
};
use tokio::time::{Instant, sleep_until, timeout};

use super::plans::{AIRCRAFT_VERSION, DOCK_VERSION, firmware};
use super::test_broker;

pub fn mqtt(client_id: &str) -> MqttConfig {
    let (host, port) = test_broker::address();
    MqttConfig::new(&host, port, client_id)
}

/// What each simulated dock does, by its position.
#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Healthy,
    BusyOnce,
    Failing,
    AtTarget,
}

pub struct Fleet {
    pub gateways: Vec<Serial>,
    pub aircraft: Vec<Serial>,
    pub kinds: Vec<Kind>,
}

impl Fleet {
    pub fn new(prefix: &str, kinds: Vec<Kind>) -> Self {
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

    pub fn plan(&self, policy: Policy) -> RolloutPlan {
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
pub struct Seen {
    pub requests: HashMap<Serial, Vec<String>>,
    pub while_busy: Vec<Serial>,
    /// Each dock's counts, as they last were.
    pub stats: HashMap<Serial, DockStats>,
}

/// Runs the fleet's docks over one connection until the returned task is aborted; the
/// docks at the target version push their state once `listening` fires.
pub async fn run_docks(
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
        // Again every second, as a dock pushes its state now and then: a cloud that
        // was not listening yet (its subscription on its way) hears a later one.
        let mut repush = tokio::time::interval(Duration::from_secs(1));
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
                _ = repush.tick() => {
                    for push in &at_target {
                        let _ = agent.publish_state(push.clone());
                    }
                }
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
            let mut stats = Vec::new();
            for dock in docks.values_mut() {
                for push in dock.take_state_pushes() {
                    let _ = agent.publish_state(push);
                }
                stats.push((dock.gateway().clone(), dock.stats().clone()));
            }
            seen.lock().unwrap().stats.extend(stats);
        }
    })
}

/// Takes rollout statuses until `done` holds for one; checks every one on the way.
pub async fn until_rollout(
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

pub async fn connected(events: &mut CloudEvents) {
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
