//! Simulated docks over MQTT: the crate's sans-IO `Dock`, any number of them behind one
//! runtime `Agent` (one connection), each on its own gateway's topics.

use std::collections::HashMap;
use std::time::Duration;

use dji_cloud_ota::dock::{Dock, DockConfig, DockStats, Fault};
use dji_cloud_ota::{FirmwareState, FirmwareUpgradeStatus, Serial, StatePush, now_millis};
use dji_cloud_ota_mqtt::{Agent, AgentConfig, AgentEvent, MqttConfig};
use tokio::time::{Instant, sleep_until};

/// How long docks that have all their replies wait for one sent twice.
const GRACE: Duration = Duration::from_millis(500);

/// How often the devices' first state pushes are sent again.
const REPUSH: Duration = Duration::from_secs(2);

/// When the docks stop.
#[derive(Debug, Clone, Copy)]
pub struct Until {
    /// Once every dock has ended one task and has the replies its events asked for (a
    /// moment later, to catch a reply sent twice), or `linger` after the end at most.
    pub once: bool,
    /// In any case after this long.
    pub at_most: Option<Duration>,
    /// How long to wait for the last replies after the last task ended, at most.
    pub linger: Duration,
}

/// How the agent under the docks sends again an event whose reply does not come.
#[derive(Debug, Clone, Copy)]
pub struct Resend {
    pub after: Duration,
    pub limit: u32,
}

/// One simulated dock: its gateway serial, how it behaves, and the devices whose
/// firmware version it pushes once connected, as a dock does when it comes online
/// (none: it pushes only when a task starts and ends).
#[derive(Debug, Clone)]
pub struct SimDock {
    pub gateway: Serial,
    pub config: DockConfig,
    /// Pushed once connected, then every 2 s, as a dock online keeps reporting.
    pub devices: Vec<(Serial, String)>,
    /// False for a dock that should get no task (already at the target version): it
    /// does not hold up `Until::once`.
    pub expects_task: bool,
}

impl SimDock {
    /// Docks for `gateways`, all behaving as `config` says, pushing nothing at first.
    pub fn alike(gateways: Vec<Serial>, config: &DockConfig) -> Vec<SimDock> {
        gateways
            .into_iter()
            .map(|gateway| SimDock {
                gateway,
                config: config.clone(),
                devices: Vec::new(),
                expects_task: true,
            })
            .collect()
    }
}

/// Runs `sims` over one connection until `until`; their summed figures, or why the
/// connection failed. `ready` is called once connected and subscribed, and the
/// devices' first state pushes published.
pub async fn run(
    mqtt: MqttConfig,
    sims: Vec<SimDock>,
    resend: Resend,
    until: Until,
    verbose: bool,
    ready: impl FnOnce(),
) -> Result<DockStats, String> {
    let gateways: Vec<Serial> = sims.iter().map(|s| s.gateway.clone()).collect();
    let mut agent_config = AgentConfig::new(mqtt, gateways);
    agent_config.resend_after = resend.after;
    agent_config.resend_limit = resend.limit;
    let (agent, mut events) = Agent::spawn(agent_config).map_err(|e| e.to_string())?;
    loop {
        match events.next().await {
            Some(AgentEvent::Connected { .. }) => break,
            Some(AgentEvent::Failed { reason }) => return Err(reason),
            None => return Err("the connection closed".into()),
            Some(_) => {}
        }
    }
    let pushes: Vec<StatePush> = sims
        .iter()
        .flat_map(|sim| {
            sim.devices.iter().map(|(sn, version)| {
                let firmware = FirmwareState {
                    firmware_version: Some(version.as_str().into()),
                    firmware_upgrade_status: Some(FirmwareUpgradeStatus::NOT_UPGRADING),
                    ..FirmwareState::default()
                };
                StatePush::new(sn.clone(), Some(sim.gateway.clone()), firmware)
            })
        })
        .collect();
    for push in &pushes {
        agent
            .publish_state(push.clone())
            .map_err(|e| e.to_string())?;
    }
    let mut next_push = (!pushes.is_empty()).then(|| Instant::now() + REPUSH);
    let idle: Vec<Serial> = sims
        .iter()
        .filter(|s| !s.expects_task)
        .map(|s| s.gateway.clone())
        .collect();
    // A dock that refuses its first requests is done once a task of it ran.
    let refusing_first: Vec<Serial> = sims
        .iter()
        .filter(|s| matches!(s.config.fault, Fault::RejectFirst { .. }))
        .map(|s| s.gateway.clone())
        .collect();
    ready();
    let mut docks: HashMap<Serial, Dock> = sims
        .into_iter()
        .map(|sim| (sim.gateway.clone(), Dock::new(sim.gateway, sim.config)))
        .collect();
    if verbose {
        println!("{} dock(s) ready", docks.len());
    }
    let give_up = until.at_most.map(|d| Instant::now() + d);
    let mut all_ended: Option<Instant> = None;
    let mut all_answered: Option<Instant> = None;
    let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
    loop {
        let next = docks.values().filter_map(Dock::next_deadline).min();
        let next_poll = next.map(super::instant_at);
        let stop = [
            give_up,
            all_ended.map(|t| t + until.linger),
            all_answered.map(|t| t + GRACE),
        ]
        .into_iter()
        .flatten()
        .min();
        let mut out = Vec::new();
        tokio::select! {
            event = events.next() => match event {
                Some(AgentEvent::Request(message) | AgentEvent::Answered(message)) => {
                    if let Some(dock) = docks.get_mut(&message.sn) {
                        let before = dock.stats().requests;
                        out = dock.handle(&message, now_millis());
                        if verbose && dock.stats().requests > before {
                            println!("{}: ota_create tid {} bid {}", message.sn, message.tid, message.bid);
                        }
                    }
                }
                Some(AgentEvent::Unanswered(event)) => {
                    eprintln!("{}: no reply to event {} after every attempt", event.sn, event.tid);
                }
                Some(AgentEvent::Disconnected { reason }) => {
                    eprintln!("connection lost: {reason}; connecting again");
                }
                Some(AgentEvent::Connected { .. }) => eprintln!("connected again"),
                Some(AgentEvent::Failed { reason }) => return Err(reason),
                Some(_) => {}
                None => return Err("the connection closed".into()),
            },
            () = sleep_until(next_poll.unwrap_or(far)), if next_poll.is_some() => {
                let now = now_millis();
                for dock in docks.values_mut() {
                    if dock.next_deadline().is_some_and(|at| at <= now) {
                        out.extend(dock.poll(now));
                    }
                }
            }
            () = sleep_until(stop.unwrap_or(far)), if stop.is_some() => break,
            () = sleep_until(next_push.unwrap_or(far)), if next_push.is_some() => {
                for push in &pushes {
                    agent.publish_state(push.clone()).map_err(|e| e.to_string())?;
                }
                next_push = Some(Instant::now() + REPUSH);
            }
            _ = tokio::signal::ctrl_c() => break,
        }
        for message in out {
            agent.publish(message).map_err(|e| e.to_string())?;
        }
        // After the messages: the final event before the new version's push.
        for dock in docks.values_mut() {
            for push in dock.take_state_pushes() {
                agent.publish_state(push).map_err(|e| e.to_string())?;
            }
        }
        let done = |d: &Dock| {
            let ended = if refusing_first.contains(d.gateway()) {
                d.stats().tasks_started > 0
            } else {
                d.stats().tasks_ended > 0
            };
            (ended || idle.contains(d.gateway())) && !d.is_busy()
        };
        if until.once && all_ended.is_none() && docks.values().all(done) {
            all_ended = Some(Instant::now());
        }
        let answered = |d: &Dock| d.stats().replies_received >= d.stats().replies_expected;
        if all_ended.is_some() && all_answered.is_none() && docks.values().all(answered) {
            all_answered = Some(Instant::now());
        }
    }
    let total = docks
        .values()
        .fold(DockStats::default(), |sum, d| add(sum, d.stats()));
    agent.close().await;
    Ok(total)
}

/// `sum` plus `s`.
pub fn add(mut sum: DockStats, s: &DockStats) -> DockStats {
    sum.requests += s.requests;
    sum.request_tids += s.request_tids;
    sum.request_bids += s.request_bids;
    sum.requests_while_busy += s.requests_while_busy;
    sum.replies_sent += s.replies_sent;
    sum.tasks_started += s.tasks_started;
    sum.tasks_ended += s.tasks_ended;
    sum.events_sent += s.events_sent;
    sum.replies_expected += s.replies_expected;
    sum.replies_received += s.replies_received;
    sum.replies_duplicated += s.replies_duplicated;
    sum.replies_unexpected += s.replies_unexpected;
    sum
}

/// The figures as a `summary` line.
pub fn summary(s: &DockStats) -> String {
    super::summary(&[
        ("requests", s.requests.to_string()),
        ("request_tids", s.request_tids.to_string()),
        ("request_bids", s.request_bids.to_string()),
        ("requests_while_busy", s.requests_while_busy.to_string()),
        ("replies_sent", s.replies_sent.to_string()),
        ("tasks_started", s.tasks_started.to_string()),
        ("tasks_ended", s.tasks_ended.to_string()),
        ("events_sent", s.events_sent.to_string()),
        ("replies_expected", s.replies_expected.to_string()),
        ("replies_received", s.replies_received.to_string()),
        ("replies_duplicated", s.replies_duplicated.to_string()),
        ("replies_unexpected", s.replies_unexpected.to_string()),
    ])
}
