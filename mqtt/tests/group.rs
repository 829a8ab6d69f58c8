//! Three cloud processes in a group (`Cloud::spawn_in_group`) follow one rollout,
//! sharing a PostgreSQL database (started by the test in a temporary folder) and the
//! broker's shared subscriptions (the one named by `OTA_TEST_BROKER`, or the tests'
//! embedded one). The one holding the group's lease is stopped dead in the middle (its
//! runtime dropped: no goodbye, its lease left to expire); another takes over within
//! the lease and a fifth, and every device ends as it should. In another run the
//! database is stopped for a while in the middle: the processes wait for it, and
//! nothing is lost. A task started with `Cloud::start` whose final event is lost ends
//! as its aircraft's state push confirms it.
//!
//! Ignored by plain `cargo test` (it needs PostgreSQL); `.ci/run` runs it:
//! `cargo test -p dji-cloud-ota-mqtt --features postgres,metrics --test group -- --ignored`.

#[path = "support/fleet_sim.rs"]
mod fleet_sim;
#[path = "support/plans.rs"]
mod plans;
#[path = "../../tests/support/test_broker.rs"]
mod test_broker;
#[path = "support/postgres.rs"]
mod test_postgres;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dji_cloud_ota::rollout::{Outcome, Policy, RolloutState, Verdict};
use dji_cloud_ota::tracker::{Ending, TrackerConfig};
use dji_cloud_ota::{
    Device, FirmwareState, FirmwareUpgradeStatus, OtaProgress, ResultCode, Serial, StatePush, Step,
    TaskStatus, UpgradeType,
};
use dji_cloud_ota_mqtt::{
    Agent, AgentConfig, AgentEvent, Cloud, CloudConfig, CloudEvent, CloudEvents, GroupConfig,
    PgStore, RolloutControl, RolloutStatus, Store,
};
use fleet_sim::{Fleet, Kind, Seen, mqtt, run_docks};
use test_postgres::TestPostgres;
use tokio::time::Instant;

const LEASE: Duration = Duration::from_secs(3);
/// The aircraft's version a task outside a rollout upgrades it to.
const AIRCRAFT_TARGET: &str = "10.01.0016";

/// A process of the group, on a runtime of its own, so that it can be stopped dead.
struct Member {
    runtime: Option<tokio::runtime::Runtime>,
    cloud: Cloud,
    /// Its events, forwarded to the test's runtime.
    events: tokio::sync::mpsc::UnboundedReceiver<CloudEvent>,
}

impl Member {
    fn start(url: &str, group: &str, instance: &str, tracker: TrackerConfig) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mut config = CloudConfig::new(
            mqtt(&format!("{group}-{instance}")).with_persistent_session(false),
            tracker,
        );
        config.resume_grace = Duration::from_millis(300);
        let mut settings = GroupConfig::new(group, instance);
        settings.lease = LEASE;
        settings.tick = Duration::from_millis(100);
        let store = PgStore::connect(url).unwrap();
        let (cloud, events) = {
            let _inside = runtime.enter();
            Cloud::spawn_in_group(config, store, settings).unwrap()
        };
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        runtime.spawn(forward(events, tx));
        Self {
            runtime: Some(runtime),
            cloud,
            events: rx,
        }
    }

    /// Stops it dead: its tasks dropped where they are (between two statements of a
    /// transaction, say), its connections dropped without an MQTT DISCONNECT, its lease
    /// not given up. (The broker tests kill `ota-fleet` processes with SIGKILL.)
    fn kill(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn forward(mut events: CloudEvents, tx: tokio::sync::mpsc::UnboundedSender<CloudEvent>) {
    while let Some(event) = events.next().await {
        if tx.send(event).is_err() {
            return;
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The holder of the group's lease, as the database says.
fn holder(url: &str, group: &str) -> Option<String> {
    let url = url.to_string();
    let group = group.to_string();
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client
            .query_opt(
                "SELECT holder FROM ota_leases WHERE name = $1 AND expires_at > now()",
                &[&format!("{group}/leader")],
            )
            .unwrap()
            .map(|row| row.get(0))
    })
    .join()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts PostgreSQL: needs its programs (Debian's postgresql package, as .ci/run installs)"]
async fn three_processes_share_a_rollout_and_the_leader_killed_is_taken_over() {
    let server = TestPostgres::start("group");
    let url = server.database("fleet");
    let prefix = format!("GR{}", std::process::id() % 100_000);
    let group = format!("g{prefix}");
    let mut kinds = vec![Kind::Healthy; 40];
    for busy in [1, 9, 22] {
        kinds[busy] = Kind::BusyOnce;
    }
    kinds[5] = Kind::Failing;
    kinds[30] = Kind::Failing;
    kinds[3] = Kind::AtTarget;
    kinds[17] = Kind::AtTarget;
    let fleet = Fleet::new(&prefix, kinds.clone());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (listening_tx, listening) = tokio::sync::oneshot::channel();
    let docks = run_docks(&fleet, seen.clone(), listening).await;

    let policy = Policy {
        canary: 2,
        max_in_flight: 6,
        retry_after_ms: 500,
        retry_limit: 2,
        ..Policy::default()
    };
    let tracker = TrackerConfig {
        reply_timeout_ms: 2_000,
        silence_timeout_ms: Some(20_000),
        state_grace_ms: 1_000,
        ..TrackerConfig::default()
    };
    let mut members: Vec<Member> = (0..3)
        .map(|i| Member::start(&url, &group, &format!("m{i}"), tracker.clone()))
        .collect();
    for member in &mut members {
        connected_forwarded(&mut member.events).await;
    }
    // Every process joins the same rollout; the first creates it. One that comes with
    // another policy is refused.
    let status = members[0]
        .cloud
        .rollout("release", fleet.plan(policy.clone()))
        .await
        .unwrap();
    // The docks do not answer yet: nothing has ended, but the lease holder may have
    // started the canary already.
    let none_ended = |s: &RolloutStatus| {
        let c = &s.counts;
        assert_eq!(c.waiting + c.skipped + c.in_progress, 80, "{s:?}");
    };
    none_ended(&status);
    let other = Policy {
        max_in_flight: 99,
        ..policy.clone()
    };
    let refused = members[1]
        .cloud
        .rollout("release", fleet.plan(other))
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("the policy differs"), "{refused}");
    for member in &members[1..] {
        let status = member
            .cloud
            .rollout("release", fleet.plan(policy.clone()))
            .await
            .unwrap();
        none_ended(&status);
    }
    // One of them holds the lease (it subscribes to the state pushes once it does).
    let deadline = Instant::now() + LEASE * 3;
    let first = loop {
        if let Some(holder) = holder(&url, &group) {
            break holder;
        }
        assert!(Instant::now() < deadline, "nobody took the lease");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    listening_tx.send(()).unwrap();

    // A third of the way, the holder is stopped dead.
    let leader: usize = first[1..].parse().unwrap();
    let watcher = (leader + 1) % 3;
    let limit = |s: &RolloutStatus| assert!(s.in_flight <= 6, "{s:?}");
    until(
        &mut members[watcher].events,
        Duration::from_secs(90),
        limit,
        |s| s.counts.ok + s.counts.failed + s.counts.skipped >= 26,
    )
    .await;
    members[leader].kill();
    let killed = Instant::now();
    let next = loop {
        match holder(&url, &group) {
            Some(holder) if holder != first => break holder,
            _ => {}
        }
        assert!(
            killed.elapsed() < LEASE + LEASE / 5 + Duration::from_secs(2),
            "no process took the lease over in {:?}",
            killed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let takeover = killed.elapsed();
    assert!(
        takeover <= LEASE + LEASE / 5 + Duration::from_millis(500),
        "taken over by {next} after {takeover:?}"
    );
    eprintln!("lease taken over by {next} after {takeover:?}");

    // The two left take it to its end; each reports it.
    let mut ends = Vec::new();
    for (i, member) in members.iter_mut().enumerate() {
        if i == leader {
            continue;
        }
        let end = until(&mut member.events, Duration::from_secs(120), limit, |s| {
            s.verdict.is_some()
        })
        .await;
        ends.push(end);
    }
    for end in &ends {
        assert_eq!(end.verdict, Some(Verdict::Failures), "{end:?}");
        assert_eq!(
            (end.counts.ok, end.counts.failed, end.counts.skipped),
            (72, 4, 4),
            "{end:?}"
        );
    }
    // The rows say which device ended how.
    let store = PgStore::connect(&url).unwrap();
    let saved = store.load_rollout("release").unwrap().unwrap();
    for (i, pair) in saved.snapshot.devices.chunks(2).enumerate() {
        let want = match kinds[i] {
            Kind::Healthy | Kind::BusyOnce => Outcome::Ok,
            Kind::Failing => Outcome::Failed,
            Kind::AtTarget => Outcome::Skipped,
        };
        for record in pair {
            assert_eq!(record.outcome, want, "{record:?}");
        }
        // A dock busy once refuses its first request: tried again later, a second
        // task. Unless the refusal was lost with the killed process: then the request
        // went again (the same task, the same bid) and the dock took it.
        if kinds[i] == Kind::BusyOnce {
            let requests = seen.lock().unwrap().requests[&fleet.gateways[i]].clone();
            let resent = requests.len()
                > requests
                    .iter()
                    .collect::<std::collections::BTreeSet<_>>()
                    .len();
            assert!(
                pair[0].attempts == 2 || (pair[0].attempts == 1 && resent),
                "{:?}, requests {requests:?}",
                pair[0]
            );
        }
        if kinds[i] == Kind::Failing {
            assert_eq!(pair[0].result, Some(ResultCode(312003)));
        }
    }
    // The docks: no second task while one ran, every event that asked for a reply
    // answered (the last replies may still be on their way when the rollout ends).
    let answered =
        |seen: &Seen| (seen.stats.values()).all(|s| s.replies_received == s.replies_expected);
    let wait = Instant::now() + Duration::from_secs(10);
    while !answered(&seen.lock().unwrap()) && Instant::now() < wait {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        seen.while_busy.is_empty(),
        "a second ota_create reached {:?}",
        seen.while_busy
    );
    for (i, gateway) in fleet.gateways.iter().enumerate() {
        let mut bids = seen.requests.get(gateway).cloned().unwrap_or_default();
        bids.sort();
        bids.dedup();
        let want = match kinds[i] {
            Kind::AtTarget => 0,
            Kind::BusyOnce => usize::try_from(saved.snapshot.devices[2 * i].attempts).unwrap(),
            _ => 1,
        };
        assert_eq!(
            bids.len(),
            want,
            "{gateway}: {:?}",
            seen.requests.get(gateway)
        );
        let stats = &seen.stats[gateway];
        assert_eq!(
            stats.replies_received, stats.replies_expected,
            "{gateway}: {stats:?}"
        );
    }
    let requests: u64 = seen.stats.values().map(|s| s.requests).sum();
    let bids: u64 = seen.stats.values().map(|s| s.request_bids).sum();
    eprintln!(
        "ota_create received {requests}, of {bids} tasks: {} sent again",
        requests - bids
    );

    // Any process asks a control of the rollout, which the lease's holder applies; an
    // unknown rollout is refused. A control that would change nothing is answered
    // false, as by one process alone, whether the cancel before it has been applied
    // yet or not.
    let alive = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    let control = |member: usize, control: RolloutControl| {
        let cloud = members[member].cloud.clone();
        async move { cloud.control("release", control).await.unwrap() }
    };
    // The rollout has ended, running: a pause holds it, a second changes nothing, a
    // resume starts it again, whether the holder has applied the pause yet or not.
    for (member, asked, changes) in [
        (alive, RolloutControl::Pause, true),
        (other, RolloutControl::Pause, false),
        (alive, RolloutControl::Resume, true),
        (alive, RolloutControl::Resume, false),
    ] {
        assert_eq!(control(member, asked).await, changes, "{asked:?}");
    }
    assert!(control(alive, RolloutControl::Cancel).await);
    for (member, asked) in [
        (alive, RolloutControl::Cancel),
        (other, RolloutControl::Cancel),
        (alive, RolloutControl::Resume),
        (other, RolloutControl::Pause),
    ] {
        assert!(!control(member, asked).await, "{asked:?} after a cancel");
    }
    let applied = Instant::now() + Duration::from_secs(5);
    loop {
        let state = store
            .load_rollout("release")
            .unwrap()
            .unwrap()
            .snapshot
            .header
            .state;
        if state == RolloutState::Cancelled {
            break;
        }
        assert!(
            Instant::now() < applied,
            "the cancel was not applied: {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!control(alive, RolloutControl::Cancel).await);
    assert!(
        members[alive]
            .cloud
            .control("nonesuch", RolloutControl::Pause)
            .await
            .is_err()
    );
    let status = members[alive].cloud.status().await.unwrap();
    assert!(status.tasks.is_empty(), "{:?}", status.tasks);
    assert!(
        status
            .subscriptions
            .iter()
            .any(|s| s.starts_with(&format!("$share/{group}/")))
    );
    for (i, member) in members.into_iter().enumerate() {
        if i != leader {
            member.cloud.clone().close().await;
        }
        drop(member);
    }
    docks.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts PostgreSQL: needs its programs (Debian's postgresql package, as .ci/run installs)"]
async fn the_database_down_for_a_while_stops_the_group_and_loses_nothing() {
    let server = TestPostgres::start("group-down");
    let url = server.database("fleet");
    let prefix = format!("GD{}", std::process::id() % 100_000);
    let group = format!("g{prefix}");
    let mut kinds = vec![Kind::Healthy; 20];
    kinds[4] = Kind::BusyOnce;
    kinds[11] = Kind::Failing;
    let fleet = Fleet::new(&prefix, kinds.clone());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (listening_tx, listening) = tokio::sync::oneshot::channel();
    let docks = run_docks(&fleet, seen.clone(), listening).await;
    let policy = Policy {
        max_in_flight: 5,
        retry_after_ms: 500,
        retry_limit: 2,
        ..Policy::default()
    };
    let tracker = TrackerConfig {
        reply_timeout_ms: 3_000,
        silence_timeout_ms: Some(30_000),
        ..TrackerConfig::default()
    };
    let mut members: Vec<Member> = (0..3)
        .map(|i| Member::start(&url, &group, &format!("m{i}"), tracker.clone()))
        .collect();
    for member in &mut members {
        connected_forwarded(&mut member.events).await;
    }
    for member in &members {
        member
            .cloud
            .rollout("release", fleet.plan(policy.clone()))
            .await
            .unwrap();
    }
    listening_tx.send(()).unwrap();
    let limit = |s: &RolloutStatus| assert!(s.in_flight <= 5, "{s:?}");
    let before = until(
        &mut members[0].events,
        Duration::from_secs(60),
        limit,
        |s| s.counts.ok + s.counts.failed >= 12,
    )
    .await;
    // The database goes away for 4 s (longer than the lease): the processes go on
    // reading, and neither acknowledge nor judge.
    server.stop();
    tokio::time::sleep(Duration::from_secs(4)).await;
    server.start_again();
    let end = until(
        &mut members[0].events,
        Duration::from_secs(90),
        limit,
        |s| s.verdict.is_some(),
    )
    .await;
    assert!(end.counts.ok >= before.counts.ok);
    assert_eq!(end.verdict, Some(Verdict::Failures), "{end:?}");
    assert_eq!((end.counts.ok, end.counts.failed), (38, 2), "{end:?}");
    let saved = PgStore::connect(&url)
        .unwrap()
        .load_rollout("release")
        .unwrap()
        .unwrap();
    for (i, pair) in saved.snapshot.devices.chunks(2).enumerate() {
        let want = if kinds[i] == Kind::Failing {
            Outcome::Failed
        } else {
            Outcome::Ok
        };
        assert_eq!(pair[0].outcome, want, "{:?}", pair[0]);
    }
    let answered =
        |seen: &Seen| (seen.stats.values()).all(|s| s.replies_received == s.replies_expected);
    let wait = Instant::now() + Duration::from_secs(10);
    while !answered(&seen.lock().unwrap()) && Instant::now() < wait {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(seen.while_busy.is_empty(), "{:?}", seen.while_busy);
    for (gateway, stats) in &seen.stats {
        assert_eq!(
            stats.replies_received, stats.replies_expected,
            "{gateway}: {stats:?}"
        );
    }
    for member in members {
        member.cloud.clone().close().await;
        drop(member);
    }
    docks.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts PostgreSQL: needs its programs (Debian's postgresql package, as .ci/run installs)"]
async fn the_state_confirms_a_task_started_outside_a_rollout_whose_final_event_was_lost() {
    let server = TestPostgres::start("group-state");
    let url = server.database("fleet");
    let prefix = format!("GS{}", std::process::id() % 100_000);
    let group = format!("g{prefix}");
    let gateway = Serial::new(&format!("{prefix}G000")).unwrap();
    let aircraft = Serial::new(&format!("{prefix}A000")).unwrap();
    // The final event is awaited 200 ms once the state confirms the outcome.
    let tracker = TrackerConfig {
        state_grace_ms: 200,
        ..TrackerConfig::default()
    };
    let mut members: Vec<Member> = (0..2)
        .map(|i| Member::start(&url, &group, &format!("m{i}"), tracker.clone()))
        .collect();
    for member in &mut members {
        connected_forwarded(&mut member.events).await;
    }
    let (agent, mut dock) = Agent::spawn(AgentConfig::new(
        fleet_sim::mqtt(&format!("{prefix}-dock")),
        vec![gateway.clone()],
    ))
    .unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(30), dock.next()).await {
            Ok(Some(AgentEvent::Connected { .. })) => break,
            Ok(Some(_)) => {}
            other => panic!("the dock: {other:?}"),
        }
    }
    // Started by any process, outside a rollout.
    let device = Device::new(aircraft.as_str(), AIRCRAFT_TARGET, UpgradeType::NORMAL);
    let started = members[1]
        .cloud
        .start(gateway.clone(), vec![device])
        .await
        .unwrap();
    let request = loop {
        match tokio::time::timeout(Duration::from_secs(30), dock.next()).await {
            Ok(Some(AgentEvent::Request(request))) => break request,
            Ok(Some(_)) => {}
            other => panic!("the dock: {other:?}"),
        }
    };
    agent
        .reply(&request, ResultCode::SUCCESS, Some(TaskStatus::InProgress))
        .unwrap();
    let event = OtaProgress::new(TaskStatus::InProgress).with_progress(Step::UpgradeFirmware, 100);
    agent.progress(&request, event, false).unwrap();
    // No final event: the aircraft's state says it all, pushed now and then as a device
    // does (the lease's holder may be subscribing still).
    let firmware = FirmwareState {
        firmware_version: Some(AIRCRAFT_TARGET.into()),
        firmware_upgrade_status: Some(FirmwareUpgradeStatus::NOT_UPGRADING),
        compatible_status: None,
    };
    let store = PgStore::connect(&url).unwrap();
    let (gateway_key, bid) = (
        started.task.gateway.to_string(),
        started.task.bid.to_string(),
    );
    let end = Instant::now() + Duration::from_secs(30);
    let ending = loop {
        agent
            .publish_state(StatePush::new(
                aircraft.clone(),
                Some(gateway.clone()),
                firmware.clone(),
            ))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let record = store.task(&gateway_key, &bid).unwrap().unwrap();
        if let Some(ending) = record.ending() {
            break ending.clone();
        }
        assert!(Instant::now() < end, "not confirmed: {record:?}");
    };
    assert_eq!(ending, Ending::Confirmed);
    agent.close().await;
    for member in members {
        member.cloud.clone().close().await;
        drop(member);
    }
}

async fn connected_forwarded(events: &mut tokio::sync::mpsc::UnboundedReceiver<CloudEvent>) {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), events.recv())
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

/// Takes rollout statuses until `done` holds for one; checks every one on the way.
async fn until(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<CloudEvent>,
    within: Duration,
    mut check: impl FnMut(&RolloutStatus),
    done: impl Fn(&RolloutStatus) -> bool,
) -> RolloutStatus {
    let end = Instant::now() + within;
    loop {
        match tokio::time::timeout_at(end, events.recv()).await {
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
