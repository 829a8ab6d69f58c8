//! The cloud driver and the dock agent driver, in this process, through a real broker:
//! the one named by `OTA_TEST_BROKER` (HOST:PORT; `.ci/run` starts Mosquitto and sets
//! it), or else the embedded broker (rumqttd) that the tests start in this process on a
//! free loopback port (`tests/support/test_broker.rs`).

#[path = "../../tests/support/temp_dir.rs"]
mod temp_dir;
#[path = "../../tests/support/test_broker.rs"]
mod test_broker;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use dji_cloud_ota::rollout::{Firmware, FleetDevice, Policy, Rollout, RolloutPlan, Verdict};
use dji_cloud_ota::tracker::{Change, Ending, StartError, TaskKey, Tracker, TrackerConfig};
use dji_cloud_ota::{
    Data, Device, Message, OtaProgress, ResultCode, Serial, Step, TaskStatus, UpgradeType,
    now_millis,
};
use dji_cloud_ota_mqtt::{
    Agent, AgentConfig, AgentEvent, AgentEvents, Cloud, CloudConfig, CloudError, CloudEvent,
    CloudEvents, Commit, ConfigError, FileStore, MqttConfig, SavedRollout, SqliteStore, Store,
    StoreError, Tls,
};
use temp_dir::TempDir;
use tokio::sync::{RwLock, RwLockReadGuard};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);

fn broker() -> (String, u16) {
    test_broker::address()
}

/// Names of this test run's own, so that runs and tests share the broker.
fn name(test: &str) -> String {
    format!("R{}{}", test.to_uppercase(), std::process::id())
}

fn mqtt(broker: &(String, u16), client_id: &str) -> MqttConfig {
    MqttConfig::new(&broker.0, broker.1, client_id)
}

fn device() -> Device {
    Device::new("1581F5BMD22330010X0V", "04.01.0020", UpgradeType::NORMAL).with_file(
        "https://firmware.example.com/wm245.zip",
        "6f1ed002ab5595859014ebf0951522d9",
        1_000_000,
        "wm245.zip",
    )
}

/// Waits until connected; whether the broker kept the session. What a resumed session
/// delivers can come before, and is kept in `early`.
async fn cloud_connected_after(events: &mut CloudEvents, early: &mut Vec<CloudEvent>) -> bool {
    loop {
        match timeout(LIMIT, events.next())
            .await
            .expect("connected in time")
        {
            Some(CloudEvent::Connected { session_present }) => return session_present,
            Some(CloudEvent::Failed { reason }) => panic!("{reason}"),
            Some(event) => early.push(event),
            None => panic!("the cloud stopped"),
        }
    }
}

async fn cloud_connected(events: &mut CloudEvents) -> bool {
    cloud_connected_after(events, &mut Vec::new()).await
}

async fn agent_connected(events: &mut AgentEvents) {
    loop {
        match timeout(LIMIT, events.next())
            .await
            .expect("connected in time")
        {
            Some(AgentEvent::Connected { .. }) => return,
            Some(AgentEvent::Failed { reason }) => panic!("{reason}"),
            Some(_) => {}
            None => panic!("the agent stopped"),
        }
    }
}

/// Held by the tests with a cloud that answers every gateway's events, and taken alone
/// by the test whose events nobody may answer.
static ANSWERS_EVERY_GATEWAY: RwLock<()> = RwLock::const_new(());

/// A cloud without a store or a session, watching every gateway, connected (its client
/// id from `gateway`); it answers any test's events while the guard is held.
async fn cloud_watching_every_gateway(
    broker: &(String, u16),
    gateway: &Serial,
) -> (Cloud, CloudEvents, RwLockReadGuard<'static, ()>) {
    let guard = ANSWERS_EVERY_GATEWAY.read().await;
    let mut config = CloudConfig::new(
        mqtt(broker, &format!("{gateway}-cloud")),
        TrackerConfig::default(),
    );
    config.watch = dji_cloud_ota_mqtt::Watch::AllGateways;
    config.mqtt.persistent_session = false;
    let (cloud, mut events) = Cloud::spawn_without_store(config).unwrap();
    cloud_connected(&mut events).await;
    (cloud, events, guard)
}

/// An agent for `gateways` (its client id from the first), connected.
async fn connected_agent(broker: &(String, u16), gateways: Vec<Serial>) -> (Agent, AgentEvents) {
    let id = format!("{}-dock", gateways[0]);
    let (agent, mut events) = Agent::spawn(AgentConfig::new(mqtt(broker, &id), gateways)).unwrap();
    agent_connected(&mut events).await;
    (agent, events)
}

/// The next reply to one of the agent's events; no request may come before it.
async fn next_answer(events: &mut AgentEvents) -> Message {
    loop {
        match timeout(LIMIT, events.next())
            .await
            .expect("an answer in time")
        {
            Some(AgentEvent::Answered(reply)) => return *reply,
            Some(AgentEvent::Request(request)) => panic!("a request: {request:?}"),
            Some(_) => {}
            None => panic!("the agent stopped"),
        }
    }
}

async fn next_request(events: &mut AgentEvents) -> Message {
    loop {
        match timeout(LIMIT, events.next())
            .await
            .expect("a request in time")
        {
            Some(AgentEvent::Request(request)) => return *request,
            Some(_) => {}
            None => panic!("the agent stopped"),
        }
    }
}

/// The final change of `task`.
async fn end_of(events: &mut CloudEvents, task: &TaskKey) -> Change {
    loop {
        match timeout(LIMIT, events.next()).await.expect("an end in time") {
            Some(CloudEvent::Update(update)) if &update.task == task => {
                if update.change.is_final() {
                    return update.change;
                }
            }
            Some(_) => {}
            None => panic!("the cloud stopped"),
        }
    }
}

/// A gateway with its aircraft, an agent for it and a cloud watching it, both connected:
/// what the tests of the devices' state start from.
struct Upgrade {
    gateway: Serial,
    aircraft: Serial,
    cloud: Cloud,
    events: CloudEvents,
    agent: Agent,
    agent_events: AgentEvents,
}

async fn upgrade_pair(
    broker: &(String, u16),
    test: &str,
    tracker: TrackerConfig,
    store: Option<FileStore>,
) -> Upgrade {
    let gateway = Serial::new(&name(test)).unwrap();
    let aircraft = Serial::new(&format!("{gateway}UAV")).unwrap();
    let (agent, agent_events) = connected_agent(broker, vec![gateway.clone()]).await;
    let config = CloudConfig::new(mqtt(broker, &format!("{gateway}-cloud")), tracker);
    let (cloud, mut events) = match store {
        Some(store) => Cloud::spawn(config, store),
        None => Cloud::spawn_without_store(config),
    }
    .unwrap();
    cloud_connected(&mut events).await;
    Upgrade {
        gateway,
        aircraft,
        cloud,
        events,
        agent,
        agent_events,
    }
}

fn step(percent: i64) -> OtaProgress {
    OtaProgress::new(TaskStatus::InProgress).with_progress(Step::UpgradeFirmware, percent)
}

/// Publishes each `(topic, payload)` at QoS 1 from a client of the test's own (which
/// sends packets of up to 4 MiB), and waits until the broker has taken them all.
async fn publish_from_outside(
    broker: &(String, u16),
    client_id: &str,
    messages: Vec<(String, Vec<u8>)>,
) {
    let mut options = rumqttc::MqttOptions::new(client_id, &broker.0, broker.1);
    options.set_max_packet_size(4 << 20, 4 << 20);
    let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 10);
    let count = messages.len();
    let pump = tokio::spawn(async move {
        let mut acks = 0;
        while acks < count {
            match eventloop.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => acks += 1,
                Ok(_) => {}
                Err(e) => panic!("the test's publisher failed: {e}"),
            }
        }
    });
    for (topic, payload) in messages {
        client
            .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }
    timeout(LIMIT, pump).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_cloud_and_an_agent_run_an_upgrade_to_its_end_and_the_state_is_saved() {
    let broker = broker();
    let gateway = Serial::new(&name("whole")).unwrap();
    let dir = TempDir::new("whole");
    let store = FileStore::new(dir.0.join("state.json"));

    let (agent, mut agent_events) = connected_agent(&broker, vec![gateway.clone()]).await;
    let config = CloudConfig::new(
        mqtt(&broker, &format!("{gateway}-cloud")),
        TrackerConfig::default(),
    );
    let (cloud, mut events) = Cloud::spawn(config, store.clone()).unwrap();
    cloud_connected(&mut events).await;
    let started = cloud.start(gateway.clone(), vec![device()]).await.unwrap();

    let request = next_request(&mut agent_events).await;
    assert_eq!(
        (request.tid.clone(), request.bid.clone()),
        (started.request.tid.clone(), started.request.bid.clone())
    );
    agent
        .reply(&request, ResultCode::SUCCESS, Some(TaskStatus::InProgress))
        .unwrap();
    for percent in [0, 50, 100] {
        let event = agent.progress(&request, step(percent), false).unwrap();
        assert_eq!((&event.sn, &event.bid), (&gateway, &request.bid));
    }
    let last = agent
        .progress(&request, OtaProgress::new(TaskStatus::Ok), true)
        .unwrap();
    assert!(
        agent.reply(&last, ResultCode::SUCCESS, None).is_err(),
        "an event is not a request"
    );

    let end = end_of(&mut events, &started.task).await;
    assert!(end.is_success(), "{end:?}");
    // The final event asked for a reply: it came, and it was not sent again.
    assert_eq!(next_answer(&mut agent_events).await.tid, last.tid);
    let counters = agent.counters().await.unwrap();
    assert_eq!(
        (counters.published, counters.resent, counters.awaiting),
        (5, 0, 0)
    );

    let status = cloud.status().await.unwrap();
    assert!(status.tasks.is_empty());
    let ok = Ending::Finished {
        status: TaskStatus::Ok,
        result: ResultCode::SUCCESS,
    };
    assert_eq!(status.ended, vec![(started.task.clone(), ok.clone())]);
    assert_eq!(status.counters.events, 4);
    assert_eq!(status.counters.tracker.events_answered, 1);
    // The start, then the messages in batches: one save per batch, not per message.
    let saves = status.counters.saves;
    assert!(
        (2..=status.counters.received + 1).contains(&saves),
        "{:?}",
        status.counters
    );
    // What was saved last is what the tracker knows.
    let saved = store.load().unwrap().expect("saved");
    assert_eq!(saved.tasks_in_flight(), 0);
    cloud.close().await;
    agent.close().await;
}

#[tokio::test]
async fn a_cloud_closed_mid_upgrade_and_spawned_again_on_its_store_follows_the_task_to_its_end() {
    let broker = broker();
    let gateway = Serial::new(&name("again")).unwrap();
    let dir = TempDir::new("again");
    let store = FileStore::new(dir.0.join("state.json"));
    let cloud_id = format!("{gateway}-cloud");

    let (agent, mut agent_events) = connected_agent(&broker, vec![gateway.clone()]).await;
    let config = CloudConfig::new(mqtt(&broker, &cloud_id), TrackerConfig::default());
    let (cloud, mut events) = Cloud::spawn(config.clone(), store.clone()).unwrap();
    cloud_connected(&mut events).await;
    let started = cloud.start(gateway.clone(), vec![device()]).await.unwrap();
    let request = next_request(&mut agent_events).await;
    agent
        .reply(&request, ResultCode::SUCCESS, Some(TaskStatus::InProgress))
        .unwrap();
    agent.progress(&request, step(10), false).unwrap();
    // Accepted and saved: then the cloud goes away.
    loop {
        match timeout(LIMIT, events.next()).await.unwrap() {
            Some(CloudEvent::Update(u)) if matches!(u.change, Change::Progress { .. }) => break,
            Some(_) => {}
            None => panic!("the cloud stopped"),
        }
    }
    cloud.close().await;

    // Meanwhile the dock goes on; the broker keeps the events for the cloud's session.
    agent.progress(&request, step(60), false).unwrap();
    let last = agent
        .progress(&request, OtaProgress::new(TaskStatus::Ok), true)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (cloud, mut events) = Cloud::spawn(config, store.clone()).unwrap();
    let mut early = Vec::new();
    assert!(
        cloud_connected_after(&mut events, &mut early).await,
        "the broker kept the session"
    );
    let ended_early = early.iter().find_map(|event| match event {
        CloudEvent::Update(u) if u.task == started.task && u.change.is_final() => {
            Some(u.change.clone())
        }
        _ => None,
    });
    let end = match ended_early {
        Some(end) => end,
        None => end_of(&mut events, &started.task).await,
    };
    assert!(end.is_success(), "{end:?}");
    let status = cloud.status().await.unwrap();
    assert!(status.tasks.is_empty());
    assert_eq!(status.ended.len(), 1);
    // Both events that came while it was away, and only those.
    assert_eq!(status.counters.events, 2);
    // No second request reached the dock: the next thing it hears is the reply.
    assert_eq!(next_answer(&mut agent_events).await.tid, last.tid);
    cloud.close().await;
    agent.close().await;
}

#[tokio::test]
async fn an_event_nobody_answers_is_sent_again_then_reported() {
    // No cloud of another test may answer it.
    let _alone = ANSWERS_EVERY_GATEWAY.write().await;
    let broker = broker();
    let gateway = Serial::new(&name("unanswered")).unwrap();
    let mut config = AgentConfig::new(
        mqtt(&broker, &format!("{gateway}-dock")),
        vec![gateway.clone()],
    );
    config.resend_after = Duration::from_millis(100);
    config.resend_limit = 3;
    let (agent, mut events) = Agent::spawn(config).unwrap();
    agent_connected(&mut events).await;
    let request = Message::ota_create(gateway, vec![device()]);
    let event = agent
        .progress(&request, OtaProgress::new(TaskStatus::Ok), true)
        .unwrap();
    let given_up = loop {
        match timeout(LIMIT, events.next()).await.unwrap() {
            Some(AgentEvent::Unanswered(message)) => break message,
            Some(_) => {}
            None => panic!("the agent stopped"),
        }
    };
    // The same message, the same tid, every time.
    assert_eq!(*given_up, event);
    let counters = agent.counters().await.unwrap();
    assert_eq!(
        (
            counters.published,
            counters.resent,
            counters.unanswered,
            counters.awaiting
        ),
        (4, 3, 1, 0)
    );
    agent.close().await;
}

#[tokio::test]
async fn a_cloud_watching_every_gateway_answers_events_of_tasks_it_never_started() {
    let broker = broker();
    let gateway = Serial::new(&name("stranger")).unwrap();
    let (cloud, _events, _answering) = cloud_watching_every_gateway(&broker, &gateway).await;
    let (agent, mut agent_events) = connected_agent(&broker, vec![gateway.clone()]).await;
    let request = Message::ota_create(gateway, vec![device()]);
    let event = agent.progress(&request, step(10), true).unwrap();
    let reply = next_answer(&mut agent_events).await;
    assert_eq!(reply.tid, event.tid);
    assert!(matches!(reply.data, Data::OtaProgressReply(_)));
    assert!(cloud.status().await.unwrap().counters.tracker.unknown >= 1);
    cloud.close().await;
    agent.close().await;
}

#[tokio::test]
async fn unusable_settings_are_refused_before_anything_starts() {
    let empty = MqttConfig::new("127.0.0.1", 1883, "");
    let config = CloudConfig::new(empty.clone(), TrackerConfig::default());
    assert!(matches!(
        Cloud::spawn_without_store(config),
        Err(dji_cloud_ota_mqtt::CloudError::Config(
            ConfigError::ClientId
        ))
    ));
    let tls = MqttConfig::new("127.0.0.1", 8883, "x").with_tls(Tls::with_ca("not a PEM"));
    let agent = Agent::spawn(AgentConfig::new(tls, Vec::new()));
    assert!(matches!(
        agent,
        Err(dji_cloud_ota_mqtt::AgentError::Config(ConfigError::Tls(_)))
    ));
    // A state that is not one is reported, not replaced.
    let dir = TempDir::new("corrupt");
    let path = dir.0.join("state.json");
    std::fs::write(&path, "{\"not\": \"a state\"}").unwrap();
    let config = CloudConfig::new(
        MqttConfig::new("127.0.0.1", 1, "x"),
        TrackerConfig::default(),
    );
    assert!(matches!(
        Cloud::spawn(config, FileStore::new(&path)),
        Err(dji_cloud_ota_mqtt::CloudError::Load(_))
    ));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"not\": \"a state\"}"
    );
}

#[tokio::test]
async fn no_broker_at_first_contact_is_reported_as_failed() {
    // Port 1 on the loopback interface: nothing listens.
    let config = CloudConfig::new(
        MqttConfig::new("127.0.0.1", 1, "nobody"),
        TrackerConfig::default(),
    );
    let (cloud, mut events) = Cloud::spawn_without_store(config).unwrap();
    match timeout(LIMIT, events.next()).await.unwrap() {
        Some(CloudEvent::Failed { reason }) => assert!(!reason.is_empty()),
        other => panic!("{other:?}"),
    }
    assert!(cloud.status().await.is_err(), "the driver stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_size_limit_is_dropped_and_the_connection_kept() {
    let broker = broker();
    let gateway = Serial::new(&name("oversize")).unwrap();
    let (cloud, _events, _answering) = cloud_watching_every_gateway(&broker, &gateway).await;

    // 3 MB of garbage on the gateway's events topic, from a client of the test's own.
    let topic = format!("thing/product/{gateway}/events");
    publish_from_outside(
        &broker,
        &format!("{gateway}-big"),
        vec![(topic, vec![b'x'; 3 << 20])],
    )
    .await;

    // The cloud still answers: an event asking for a reply, after the big one.
    let (agent, mut agent_events) = connected_agent(&broker, vec![gateway.clone()]).await;
    let request = Message::ota_create(gateway, vec![device()]);
    let event = agent.progress(&request, step(10), true).unwrap();
    assert_eq!(next_answer(&mut agent_events).await.tid, event.tid);
    let counters = cloud.status().await.unwrap().counters;
    assert_eq!(
        (counters.dropped, counters.disconnections),
        (1, 0),
        "{counters:?}"
    );
    cloud.close().await;
    agent.close().await;
}

#[tokio::test]
async fn the_devices_state_confirms_an_upgrade_whose_final_event_was_lost() {
    let broker = broker();
    // The final event is awaited 200 ms once the state confirms the outcome.
    let tracker = TrackerConfig {
        state_grace_ms: 200,
        ..TrackerConfig::default()
    };
    let Upgrade {
        gateway,
        aircraft,
        cloud,
        mut events,
        agent,
        mut agent_events,
    } = upgrade_pair(&broker, "confirmed", tracker, None).await;
    let device = Device::new(aircraft.as_str(), "04.01.0020", UpgradeType::NORMAL);
    let started = cloud.start(gateway.clone(), vec![device]).await.unwrap();
    let request = next_request(&mut agent_events).await;
    agent
        .reply(&request, ResultCode::SUCCESS, Some(TaskStatus::InProgress))
        .unwrap();
    agent.progress(&request, step(100), false).unwrap();
    // No final event: the aircraft's state says it all.
    let firmware = dji_cloud_ota::FirmwareState {
        firmware_version: Some("04.01.0020".into()),
        firmware_upgrade_status: Some(dji_cloud_ota::FirmwareUpgradeStatus::NOT_UPGRADING),
        compatible_status: None,
    };
    agent
        .publish_state(dji_cloud_ota::StatePush::new(
            aircraft.clone(),
            Some(gateway),
            firmware,
        ))
        .unwrap();
    let end = end_of(&mut events, &started.task).await;
    assert_eq!(
        end,
        Change::Confirmed {
            versions: vec![(aircraft.as_str().into(), "04.01.0020".into())]
        }
    );
    let status = cloud.status().await.unwrap();
    assert_eq!(status.ended, vec![(started.task, Ending::Confirmed)]);
    assert_eq!(status.counters.tracker.state_pushes, 1);
    cloud.close().await;
    agent.close().await;
}

#[tokio::test]
async fn what_the_devices_say_is_saved_before_their_pushes_are_acknowledged() {
    let broker = broker();
    let dir = TempDir::new("statesaved");
    let store = FileStore::new(dir.0.join("state.json"));
    // A long grace: the confirmation waits, and only the store holds it.
    let tracker = TrackerConfig {
        state_grace_ms: 600_000,
        ..TrackerConfig::default()
    };
    let Upgrade {
        gateway,
        aircraft,
        cloud,
        events: _events,
        agent,
        mut agent_events,
    } = upgrade_pair(&broker, "statesaved", tracker, Some(store.clone())).await;
    let device = Device::new(aircraft.as_str(), "04.01.0020", UpgradeType::NORMAL);
    cloud.start(gateway.clone(), vec![device]).await.unwrap();
    let request = next_request(&mut agent_events).await;
    agent
        .reply(&request, ResultCode::SUCCESS, Some(TaskStatus::InProgress))
        .unwrap();
    let state = |status, version: Option<&str>| dji_cloud_ota::FirmwareState {
        firmware_version: version.map(Into::into),
        firmware_upgrade_status: Some(dji_cloud_ota::FirmwareUpgradeStatus(status)),
        compatible_status: None,
    };
    for firmware in [state(1, None), state(0, Some("04.01.0020"))] {
        let push = dji_cloud_ota::StatePush::new(aircraft.clone(), Some(gateway.clone()), firmware);
        agent.publish_state(push).unwrap();
    }
    let deadline = tokio::time::Instant::now() + LIMIT;
    while cloud.status().await.unwrap().counters.tracker.state_pushes < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pushes never came"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Handled, and committed within the commit delay (10 ms) after.
    let saved = loop {
        let saved = serde_json::to_value(store.load().unwrap().unwrap()).unwrap();
        if saved["counters"]["state_pushes"] == 2 || tokio::time::Instant::now() >= deadline {
            break saved;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let task = &saved["tasks"][0];
    assert_eq!(task["firmware"][0]["version"], "04.01.0020", "{saved}");
    assert!(task["confirming"]["deadline_ms"].is_u64(), "{saved}");
    cloud.close().await;
    agent.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_of_other_kinds_are_counted_apart_and_never_reported_as_dropped() {
    let broker = broker();
    let gateway = Serial::new(&name("foreign")).unwrap();
    let (agent, mut agent_events) = connected_agent(&broker, vec![gateway.clone()]).await;
    let mut config = CloudConfig::new(
        mqtt(&broker, &format!("{gateway}-cloud")),
        TrackerConfig::default(),
    );
    config.drop_notice_every = Duration::from_millis(100);
    let (cloud, mut events) = Cloud::spawn_without_store(config).unwrap();
    cloud_connected(&mut events).await;
    cloud.start(gateway.clone(), vec![device()]).await.unwrap();
    // The request reached the dock: the cloud's subscriptions, sent before it, are in place.
    next_request(&mut agent_events).await;

    // What a dock and the cloud's other services put on the same topics, and one piece
    // of garbage, from a client of the test's own.
    let hms = r#"{"tid":"6a7bfe89-c386-4043-b600-b518e10096cc","bid":"42a19f36-5117-4520-bd13-fd61d818d52e","timestamp":1700000000000,"method":"hms","data":{"list":[]}}"#;
    let prepare_reply = r#"{"tid":"6a7bfe89-c386-4043-b600-b518e10096cc","bid":"42a19f36-5117-4520-bd13-fd61d818d52e","timestamp":1700000000000,"method":"flighttask_prepare","data":{"result":0}}"#;
    let prepare = r#"{"tid":"6a7bfe89-c386-4043-b600-b518e10096cc","bid":"42a19f36-5117-4520-bd13-fd61d818d52e","timestamp":1700000000000,"method":"flighttask_prepare","data":{"flight_id":"f"}}"#;
    let messages = [
        ("events", hms),
        ("services_reply", prepare_reply),
        ("events", "not JSON"),
        ("services", prepare),
    ]
    .map(|(kind, payload)| {
        let topic = format!("thing/product/{gateway}/{kind}");
        (topic, payload.as_bytes().to_vec())
    });
    publish_from_outside(&broker, &format!("{gateway}-other"), messages.to_vec()).await;

    // The garbage is reported; the two messages of other kinds are counted, not reported.
    let mut reported = 0;
    while reported == 0 {
        match timeout(LIMIT, events.next()).await.unwrap() {
            Some(CloudEvent::Dropped { count, reason, .. }) => {
                assert!(reason.contains("expected"), "{reason}");
                reported += count;
            }
            Some(_) => {}
            None => panic!("the cloud stopped"),
        }
    }
    let counters = cloud.status().await.unwrap().counters;
    assert_eq!((counters.dropped, counters.not_ota), (1, 2), "{counters:?}");
    // No later notice: a message of another kind is not a fault.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(Some(event)) = timeout(Duration::from_millis(10), events.next()).await {
        assert!(!matches!(event, CloudEvent::Dropped { .. }), "{event:?}");
    }
    // The dock's side: another service on `services` is passed over the same way.
    let started = tokio::time::Instant::now();
    let counters = loop {
        let counters = agent.counters().await.unwrap();
        if counters.not_ota > 0 || started.elapsed() > LIMIT {
            break counters;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!((counters.dropped, counters.not_ota), (0, 1), "{counters:?}");
    while let Ok(Some(event)) = timeout(Duration::from_millis(10), agent_events.next()).await {
        assert!(!matches!(event, AgentEvent::Dropped { .. }), "{event:?}");
    }
    cloud.close().await;
    agent.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_topics_of_a_gateway_no_task_needs_are_unsubscribed_from() {
    let broker = broker();
    let first = Serial::new(&name("unwatchA")).unwrap();
    let second = Serial::new(&name("unwatchB")).unwrap();
    let (agent, mut agent_events) =
        connected_agent(&broker, vec![first.clone(), second.clone()]).await;
    // One ended task remembered: the next one to end pushes the one before out.
    let tracker = TrackerConfig {
        recent_finished: 1,
        ..TrackerConfig::default()
    };
    let mut config = CloudConfig::new(mqtt(&broker, &format!("{first}-cloud")), tracker);
    config.mqtt.persistent_session = false;
    let (cloud, mut events) = Cloud::spawn_without_store(config).unwrap();
    cloud_connected(&mut events).await;
    let topics = |gateway: &Serial| {
        ["services_reply", "events"].map(|kind| format!("thing/product/{gateway}/{kind}"))
    };
    let state = format!("thing/product/{}/state", device().sn);

    // A task runs to its end; its gateway stays watched while the task is remembered.
    for gateway in [&first, &second] {
        let started = cloud.start(gateway.clone(), vec![device()]).await.unwrap();
        let watched = cloud.status().await.unwrap().subscriptions;
        assert!(watched.contains(&state), "{watched:?}");
        let request = next_request(&mut agent_events).await;
        agent
            .reply(&request, ResultCode::SUCCESS, Some(TaskStatus::InProgress))
            .unwrap();
        agent
            .progress(&request, OtaProgress::new(TaskStatus::Ok), false)
            .unwrap();
        assert!(end_of(&mut events, &started.task).await.is_success());
    }
    let mut expected = topics(&second).to_vec();
    expected.sort();
    // The first gateway's task is no longer remembered, and no task is in flight.
    assert_eq!(cloud.status().await.unwrap().subscriptions, expected);

    // The unsubscription went out before a request that reaches the dock.
    cloud.start(second.clone(), vec![device()]).await.unwrap();
    next_request(&mut agent_events).await;
    let hms =
        r#"{"tid":"t","bid":"b","timestamp":1700000000000,"method":"hms","data":{"list":[]}}"#;
    let messages = [&first, &second]
        .map(|gateway| (format!("thing/product/{gateway}/events"), hms.into()))
        .to_vec();
    publish_from_outside(&broker, &format!("{first}-other"), messages).await;
    let started = tokio::time::Instant::now();
    while cloud.status().await.unwrap().counters.not_ota == 0 && started.elapsed() < LIMIT {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The second gateway's event came; the first one's did not.
    assert_eq!(cloud.status().await.unwrap().counters.not_ota, 1);
    cloud.close().await;
    agent.close().await;
}

/// A store that is `inner` but for its saves and commits: each takes `delay` (a slow
/// disk, a remote database), is counted in `commits`, and fails while `failing` is
/// set. Every other method delegates to `inner`.
struct TestStore<S> {
    inner: S,
    delay: Duration,
    commits: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

impl<S: Store> TestStore<S> {
    /// `inner`, each save and commit taking `delay`.
    fn slow(inner: S, delay: Duration) -> Self {
        Self {
            inner,
            delay,
            commits: Arc::default(),
            failing: Arc::default(),
        }
    }

    fn written(&self) -> Result<(), StoreError> {
        std::thread::sleep(self.delay);
        self.commits.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Database {
                path: "test.db".into(),
                reason: "disk full".into(),
            });
        }
        Ok(())
    }
}

impl<S: Store> Store for TestStore<S> {
    fn load(&self) -> Result<Option<dji_cloud_ota::tracker::TrackerSnapshot>, StoreError> {
        self.inner.load()
    }

    fn save(&self, snapshot: &dji_cloud_ota::tracker::TrackerSnapshot) -> Result<(), StoreError> {
        self.written()?;
        self.inner.save(snapshot)
    }

    fn commit(&self, commit: &Commit<'_>) -> Result<(), StoreError> {
        self.written()?;
        self.inner.commit(commit)
    }

    fn load_rollout(&self, name: &str) -> Result<Option<SavedRollout>, StoreError> {
        self.inner.load_rollout(name)
    }

    fn create_rollout(
        &self,
        name: &str,
        plan: &RolloutPlan,
        rollout: &Rollout,
    ) -> Result<(), StoreError> {
        self.inner.create_rollout(name, plan, rollout)
    }
}

/// Takes the cloud's events until `tasks` tasks have ended; their final changes.
async fn ends(events: &mut CloudEvents, tasks: usize) -> Vec<(TaskKey, Change)> {
    let mut ended = Vec::new();
    while ended.len() < tasks {
        match timeout(LIMIT, events.next())
            .await
            .expect("the tasks' ends in time")
        {
            Some(CloudEvent::Update(u)) if u.change.is_final() => ended.push((u.task, u.change)),
            Some(_) => {}
            None => panic!("the cloud stopped"),
        }
    }
    ended
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_store_slows_the_acknowledgements_and_never_fails_a_dock_that_answered() {
    let broker = broker();
    let dir = TempDir::new("slowstore");
    let docks: Vec<Serial> = (0..40)
        .map(|i| Serial::new(&format!("{}D{i:02}", name("slow"))).unwrap())
        .collect();
    // The docks are elsewhere: a runtime of their own, which the cloud's slow saves do
    // not hold up.
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let dock_broker = broker.clone();
    let dock_serials = docks.clone();
    let dock = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let (agent, mut agent_events) = connected_agent(&dock_broker, dock_serials).await;
            ready_tx.send(()).unwrap();
            // Every request answered as soon as it comes, and the task ended at once.
            for _ in 0..40 {
                let request = next_request(&mut agent_events).await;
                agent
                    .reply(&request, ResultCode::SUCCESS, Some(TaskStatus::InProgress))
                    .unwrap();
                agent
                    .progress(&request, OtaProgress::new(TaskStatus::Ok), true)
                    .unwrap();
            }
            // Until every final event has its answer.
            while agent.counters().await.unwrap().awaiting > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            agent.close().await;
        });
    });
    ready.recv().unwrap();
    // Replies are awaited 300 ms, without a retry; every save takes 50 ms, so that 40
    // starts and their replies, saved one by one, would take 4 s.
    let tracker = TrackerConfig {
        reply_timeout_ms: 300,
        retries: 0,
        ..TrackerConfig::default()
    };
    let store = TestStore::slow(
        FileStore::new(dir.0.join("state.json")),
        Duration::from_millis(50),
    );
    let config = CloudConfig::new(mqtt(&broker, &format!("{}-cloud", docks[0])), tracker);
    let (cloud, mut events) = Cloud::spawn(config, store).unwrap();
    cloud_connected(&mut events).await;
    let starts = docks
        .iter()
        .map(|dock| cloud.start(dock.clone(), vec![device()]));
    for started in futures_join(starts).await {
        started.unwrap();
    }
    let ended = ends(&mut events, 40).await;
    let failed: Vec<_> = ended.iter().filter(|(_, c)| !c.is_success()).collect();
    assert!(
        failed.is_empty(),
        "{} false failures: {failed:?}",
        failed.len()
    );
    let status = cloud.status().await.unwrap();
    assert_eq!(status.counters.tracker.no_reply, 0);
    // Beside the 40 starts, fewer saves than messages: a reply and the event behind it
    // are saved at once when they arrive together.
    assert!(
        status.counters.saves - 40 < status.counters.received,
        "{:?}",
        status.counters
    );
    cloud.close().await;
    dock.join().unwrap();
}

/// What the docks of the 500-dock run saw and did.
#[derive(Debug, Default)]
struct DocksSaw {
    /// `ota_create`s received, by gateway.
    requests: std::collections::HashMap<Serial, u32>,
    /// Each connection's counters once every request was answered and every event had
    /// its reply.
    counters: Vec<dji_cloud_ota_mqtt::AgentCounters>,
}

/// The docks of one connection: each request answered at once, a step of the upgrade,
/// then the final event (which asks for a reply); every request counted until `stop`,
/// then every final event's answer awaited.
async fn run_docks(
    agent: Agent,
    mut events: AgentEvents,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> (
    std::collections::HashMap<Serial, u32>,
    dji_cloud_ota_mqtt::AgentCounters,
) {
    let mut requests = std::collections::HashMap::new();
    loop {
        let event = tokio::select! {
            event = events.next() => event,
            _ = stop.changed() => break,
        };
        match event {
            Some(AgentEvent::Request(request)) => {
                *requests.entry(request.sn.clone()).or_default() += 1;
                agent
                    .reply(&request, ResultCode::SUCCESS, Some(TaskStatus::InProgress))
                    .unwrap();
                agent.progress(&request, step(50), false).unwrap();
                agent
                    .progress(&request, OtaProgress::new(TaskStatus::Ok), true)
                    .unwrap();
            }
            Some(AgentEvent::Failed { reason }) => panic!("{reason}"),
            Some(_) => {}
            None => panic!("the agent stopped"),
        }
    }
    let counters = loop {
        let counters = agent.counters().await.unwrap();
        if counters.awaiting == 0 {
            break counters;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    agent.close().await;
    (requests, counters)
}

/// 500 docks, all started at once by a rollout, behind a store that takes 50 ms per
/// commit: the cloud is slowed down (each batch of messages waits for its commit before
/// it is acknowledged, and the broker holds the rest meanwhile), and no dock is failed
/// for it: every task ends ok, with no retry (no dock gets a second `ota_create`), no
/// silence, and every event answered.
///
/// Run by `.ci/run` against Mosquitto (about 2 s in debug) and, in release, against the
/// embedded broker (about 3 s). Ignored in plain `cargo test`: an unoptimized rumqttd
/// (the embedded broker of a fresh clone) forwards 1,500 messages through a thousand
/// subscriptions too slowly for the tracker's 3 s reply window, so the replies it still
/// holds are taken for missing ones and the requests sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Mosquitto or a release build: .ci/run runs it"]
async fn five_hundred_docks_behind_a_store_of_50_ms_a_commit_all_end_ok() {
    const DOCKS: usize = 500;
    let broker = broker();
    let dir = TempDir::new("slow500");
    let prefix = name("s500");
    let docks: Vec<Serial> = (0..DOCKS)
        .map(|i| Serial::new(&format!("{prefix}D{i:03}")).unwrap())
        .collect();
    // The docks are elsewhere: a runtime of their own, which the cloud's slow commits do
    // not hold up, and 20 connections of 25 docks each (as `ota-load` shares its
    // connections). Each dock answers its request at once, then sends a step of the
    // upgrade and its final event (which asks for a reply), and counts every request it
    // gets until told to stop.
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let dock_broker = broker.clone();
    let dock_serials = docks.clone();
    let dock = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let mut connections = Vec::new();
            for gateways in dock_serials.chunks(25) {
                let (agent, events) = connected_agent(&dock_broker, gateways.to_vec()).await;
                connections.push(tokio::spawn(run_docks(agent, events, stop.clone())));
            }
            ready_tx.send(()).unwrap();
            let mut saw = DocksSaw::default();
            for connection in connections {
                let (requests, counters) = connection.await.unwrap();
                saw.requests.extend(requests);
                saw.counters.push(counters);
            }
            saw
        })
    });
    ready.recv().unwrap();

    let firmware = Firmware {
        version: "10.01.0003".into(),
        url: "https://firmware.example.com/dock2.zip".into(),
        md5: "6f1ed002ab5595859014ebf0951522d9".into(),
        size: 300_000_000,
        file_name: "dock2.zip".into(),
        upgrade_type: UpgradeType::NORMAL,
    };
    let plan = RolloutPlan {
        devices: docks
            .iter()
            .map(|d| FleetDevice::new(d.clone(), d.clone(), "dock2"))
            .collect(),
        firmware: std::collections::BTreeMap::from([("dock2".into(), firmware)]),
        policy: Policy {
            max_in_flight: DOCKS,
            ..Policy::default()
        },
    };
    // The tracker's defaults: a reply is awaited 3 s, then the request is sent again
    // (which the docks would count), at most twice.
    let store = TestStore::slow(
        SqliteStore::open(dir.0.join("fleet.db")).unwrap(),
        Duration::from_millis(50),
    );
    let config = CloudConfig::new(
        mqtt(&broker, &format!("{prefix}-cloud")),
        TrackerConfig::default(),
    );
    let begun = std::time::Instant::now();
    let (cloud, mut events) = Cloud::spawn(config, store).unwrap();
    cloud_connected(&mut events).await;
    cloud.rollout("five-hundred", plan).await.unwrap();
    let mut failures = Vec::new();
    let status = loop {
        let next = timeout(LIMIT, events.next())
            .await
            .expect("the rollout's end in time");
        match next {
            Some(CloudEvent::Update(u)) if u.change.is_final() && !u.change.is_success() => {
                failures.push((u.task, u.change));
            }
            Some(CloudEvent::Rollout(status)) if status.verdict.is_some() => break status,
            Some(CloudEvent::Failed { reason }) => panic!("{reason}"),
            Some(_) => {}
            None => panic!("the cloud stopped"),
        }
    };
    let took = begun.elapsed();
    assert!(
        failures.is_empty(),
        "{} failures: {failures:?}",
        failures.len()
    );
    assert_eq!(status.verdict, Some(Verdict::Success), "{status:?}");
    assert_eq!(status.counts.ok, DOCKS, "{status:?}");
    let cloud_status = cloud.status().await.unwrap();
    let tracker = cloud_status.counters.tracker;
    assert_eq!(
        (tracker.no_reply, tracker.silent, tracker.retries),
        (0, 0, 0),
        "{tracker:?}"
    );
    assert_eq!(tracker.finished_ok, DOCKS as u64, "{tracker:?}");
    stop_tx.send(true).unwrap();
    let saw = dock.join().unwrap();
    cloud.close().await;
    // Exactly one ota_create each, and every event that asked for a reply got one.
    assert_eq!(saw.requests.len(), DOCKS);
    let twice: Vec<_> = saw.requests.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "a second ota_create: {twice:?}");
    let unanswered: u64 = saw.counters.iter().map(|c| c.unanswered).sum();
    let resent: u64 = saw.counters.iter().map(|c| c.resent).sum();
    assert_eq!(unanswered, 0, "{:?}", saw.counters);
    assert!(tracker.events_answered >= DOCKS as u64, "{tracker:?}");
    // Slowed down: fewer commits than messages, each of 50 ms.
    assert!(
        cloud_status.counters.saves < cloud_status.counters.received,
        "{:?}",
        cloud_status.counters
    );
    eprintln!(
        "500 docks: {took:?}, {} commits for {} messages received, {} events sent again",
        cloud_status.counters.saves, cloud_status.counters.received, resent
    );
}

/// Runs the futures one after the other (each is a request to the same driver).
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut out = Vec::new();
    for future in futures {
        out.push(future.await);
    }
    out
}

#[tokio::test]
async fn a_restarted_cloud_reads_what_the_broker_kept_before_judging_a_deadline() {
    let broker = broker();
    let dir = TempDir::new("resume");
    let store = FileStore::new(dir.0.join("state.json"));
    let docks: Vec<Serial> = (0..10)
        .map(|i| Serial::new(&format!("{}D{i:02}", name("resume"))).unwrap())
        .collect();
    let cloud_id = format!("{}-cloud", docks[0]);
    let (agent, mut agent_events) = connected_agent(&broker, docks.clone()).await;
    // One attempt, a reply awaited 1 s: the replies come while the cloud is away, and
    // their deadlines have passed when it comes back.
    let tracker = TrackerConfig {
        reply_timeout_ms: 1_000,
        retries: 0,
        ..TrackerConfig::default()
    };
    let config = CloudConfig::new(mqtt(&broker, &cloud_id), tracker);
    let (cloud, mut events) = Cloud::spawn(config.clone(), store.clone()).unwrap();
    cloud_connected(&mut events).await;
    let mut tasks = Vec::new();
    for dock in &docks {
        tasks.push(
            cloud
                .start(dock.clone(), vec![device()])
                .await
                .unwrap()
                .task,
        );
    }
    cloud.close().await;
    for _ in 0..10 {
        let request = next_request(&mut agent_events).await;
        agent
            .reply(&request, ResultCode::SUCCESS, Some(TaskStatus::InProgress))
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let (cloud, mut events) = Cloud::spawn(config, store).unwrap();
    let mut early = Vec::new();
    assert!(cloud_connected_after(&mut events, &mut early).await);
    // Every task accepted from the kept replies; none ended for want of one.
    let mut accepted = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    while accepted < 10 {
        let event = match early.pop() {
            Some(event) => event,
            None => match tokio::time::timeout_at(deadline, events.next()).await {
                Ok(Some(event)) => event,
                _ => break,
            },
        };
        if let CloudEvent::Update(update) = event {
            assert!(!update.change.is_final(), "{update:?}");
            if matches!(update.change, Change::Accepted { .. }) {
                accepted += 1;
            }
        }
    }
    assert_eq!(accepted, 10);
    let status = cloud.status().await.unwrap();
    assert_eq!(status.tasks.len(), 10);
    assert_eq!(status.counters.tracker.no_reply, 0);
    assert_eq!(status.counters.tracker.retries, 0);
    // No second ota_create reached a dock.
    assert!(
        timeout(Duration::from_millis(500), next_request(&mut agent_events))
            .await
            .is_err()
    );
    let _ = tasks;
    cloud.close().await;
    agent.close().await;
}

#[tokio::test]
async fn a_second_task_on_a_busy_gateway_is_refused_until_the_first_has_ended() {
    let broker = broker();
    let mut pair = upgrade_pair(&broker, "busy", TrackerConfig::default(), None).await;
    let first = pair
        .cloud
        .start(pair.gateway.clone(), vec![device()])
        .await
        .unwrap();
    let refused = pair.cloud.start(pair.gateway.clone(), vec![device()]).await;
    match refused {
        Err(CloudError::Start(StartError::GatewayBusy { task })) => assert_eq!(task, first.task),
        other => panic!("{other:?}"),
    }
    // Nothing of it was tracked or sent.
    let status = pair.cloud.status().await.unwrap();
    assert_eq!(status.tasks.len(), 1);
    assert_eq!(status.counters.published, 1);
    let request = next_request(&mut pair.agent_events).await;
    assert_eq!(request.bid, first.request.bid);
    pair.agent
        .progress(&request, OtaProgress::new(TaskStatus::Ok), false)
        .unwrap();
    assert!(end_of(&mut pair.events, &first.task).await.is_success());
    // The gateway is free: the next task starts, and its request reaches the dock.
    let second = pair
        .cloud
        .start(pair.gateway.clone(), vec![device()])
        .await
        .unwrap();
    assert_ne!(second.task, first.task);
    assert_eq!(
        next_request(&mut pair.agent_events).await.bid,
        second.request.bid
    );
    pair.cloud.close().await;
    pair.agent.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_restored_with_hundreds_of_tasks_subscribes_to_all_their_topics() {
    let broker = broker();
    let prefix = name("fleet");
    let dir = TempDir::new("fleet");
    let store = FileStore::new(dir.0.join("state.json"));
    // 300 tasks saved as a server following a fleet saves them, each on its gateway,
    // upgrading its own aircraft, and waiting long for its reply.
    let tracker_config = TrackerConfig {
        reply_timeout_ms: 600_000,
        ..TrackerConfig::default()
    };
    let mut tracker = Tracker::new(tracker_config.clone());
    let requests: Vec<Message> = (0..300)
        .map(|i| {
            let gateway = Serial::new(&format!("{prefix}D{i:03}")).unwrap();
            let device = Device::new(format!("{gateway}UAV"), "04.01.0020", UpgradeType::NORMAL);
            tracker
                .start(gateway, vec![device], now_millis())
                .unwrap()
                .request
        })
        .collect();
    store.save(&tracker.snapshot()).unwrap();

    let last = requests.last().unwrap();
    let (agent, mut agent_events) = connected_agent(&broker, vec![last.sn.clone()]).await;
    let config = CloudConfig::new(mqtt(&broker, &format!("{prefix}-cloud")), tracker_config);
    let (cloud, mut events) = Cloud::spawn(config, store).unwrap();
    // Reported once every packet of the subscription is acknowledged.
    cloud_connected(&mut events).await;
    let subscriptions = cloud.status().await.unwrap().subscriptions;
    assert_eq!(subscriptions.len(), 300 * 3);
    assert!(subscriptions.contains(&format!("thing/product/{}UAV/state", last.sn)));
    // The topics of the last gateway, in the last packet, are in place: its event is
    // received, applied and answered.
    let event = agent.progress(last, step(10), true).unwrap();
    assert_eq!(next_answer(&mut agent_events).await.tid, event.tid);
    let task = TaskKey::of(last);
    loop {
        match timeout(LIMIT, events.next())
            .await
            .expect("an update in time")
        {
            Some(CloudEvent::Update(update)) if update.task == task => {
                assert!(
                    matches!(update.change, Change::Accepted { by_event: true, .. }),
                    "{update:?}"
                );
                break;
            }
            Some(_) => {}
            None => panic!("the cloud stopped"),
        }
    }
    cloud.close().await;
    agent.close().await;
}

/// A dock agent and a cloud keeping its state in a `FileStore` in `dir`, with
/// `commit_delay` and `commit_at_once`, after one task started and its request
/// received: the agent, its events, the cloud, its events, the request and the
/// commits so far.
async fn one_task_with_commits(
    dir: &TempDir,
    test: &str,
    commit_delay: Duration,
    commit_at_once: usize,
) -> (Agent, AgentEvents, Cloud, CloudEvents, Message, u64) {
    let broker = broker();
    let gateway = Serial::new(&name(test)).unwrap();
    let (agent, mut agent_events) = connected_agent(&broker, vec![gateway.clone()]).await;
    let mut config = CloudConfig::new(
        mqtt(&broker, &format!("{gateway}-cloud")),
        TrackerConfig::default(),
    );
    config.mqtt.persistent_session = false;
    config.commit_delay = commit_delay;
    config.commit_at_once = commit_at_once;
    let store = FileStore::new(dir.0.join("state.json"));
    let (cloud, mut events) = Cloud::spawn(config, store).unwrap();
    cloud_connected(&mut events).await;
    cloud.start(gateway.clone(), vec![device()]).await.unwrap();
    let request = next_request(&mut agent_events).await;
    let saves = cloud.status().await.unwrap().counters.saves;
    (agent, agent_events, cloud, events, request, saves)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_within_the_commit_delay_share_one_commit() {
    let dir = TempDir::new("commitdelay");
    let (agent, mut agent_events, cloud, _events, request, saves_before) =
        one_task_with_commits(&dir, "delay", Duration::from_millis(500), 16).await;
    // The reply and five events, 30 ms apart: within the delay, so one commit for them
    // all (each would have its own without the delay), then every event answered.
    agent
        .reply(&request, ResultCode::SUCCESS, Some(TaskStatus::InProgress))
        .unwrap();
    for percent in [10, 20, 30, 40, 50] {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let event =
            OtaProgress::new(TaskStatus::InProgress).with_progress(Step::DownloadFirmware, percent);
        agent.progress(&request, event, true).unwrap();
    }
    for _ in 0..5 {
        next_answer(&mut agent_events).await;
    }
    let status = cloud.status().await.unwrap();
    assert_eq!(status.tasks[0].1.percent, Some(50));
    assert!(
        status.counters.saves - saves_before <= 2,
        "{} commits for six messages within 150 ms",
        status.counters.saves - saves_before
    );
    cloud.close().await;
    agent.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_waiting_up_to_commit_at_once_are_committed_without_the_delay() {
    let dir = TempDir::new("commitatonce");
    // A delay nothing below waits for: an update is reported once its message is
    // committed, and each one comes because a single message waiting makes its commit
    // due at once (with the default of 16, the first would wait the 30 s).
    let (agent, _agent_events, cloud, mut events, request, saves_before) =
        one_task_with_commits(&dir, "atonce", Duration::from_secs(30), 1).await;
    for percent in [10, 20, 30] {
        let event =
            OtaProgress::new(TaskStatus::InProgress).with_progress(Step::DownloadFirmware, percent);
        agent.progress(&request, event, true).unwrap();
        loop {
            match timeout(Duration::from_secs(10), events.next())
                .await
                .expect("reported long before the commit delay")
            {
                Some(CloudEvent::Update(update)) => match update.change {
                    Change::Progress { percent: p, .. } if p == Some(percent) => break,
                    _ => {}
                },
                Some(_) => {}
                None => panic!("the cloud stopped"),
            }
        }
    }
    // A commit for each event: each was sent once the one before was reported.
    let status = cloud.status().await.unwrap();
    assert!(status.counters.saves - saves_before >= 3, "{status:?}");
    cloud.close().await;
    agent.close().await;
}

/// Starts asked at once (a server starting a fleet's tasks from many callers, say)
/// share commits, each still saved before its request is published; a commit that
/// fails sends none of the starts it held, and answers each with the error.
#[tokio::test]
async fn starts_asked_together_share_a_commit_and_one_that_fails_sends_none() {
    let broker = broker();
    let dir = TempDir::new("startsbatch");
    let docks: Vec<Serial> = (0..100)
        .map(|i| Serial::new(&format!("{}D{i:03}", name("batch"))).unwrap())
        .collect();
    let (agent, mut agent_events) = connected_agent(&broker, docks.clone()).await;
    let store = TestStore::slow(
        SqliteStore::open(dir.0.join("state.db")).unwrap(),
        Duration::ZERO,
    );
    let (commits, failing) = (store.commits.clone(), store.failing.clone());
    // No retry within the test: every request seen is a first one.
    let tracker = TrackerConfig {
        reply_timeout_ms: 600_000,
        ..TrackerConfig::default()
    };
    let config = CloudConfig::new(mqtt(&broker, &format!("{}-cloud", docks[0])), tracker);
    let (cloud, mut events) = Cloud::spawn(config, store).unwrap();
    cloud_connected(&mut events).await;
    let start_all = |gateways: &[Serial]| {
        let handles: Vec<_> = gateways
            .iter()
            .map(|gateway| {
                let (cloud, gateway) = (cloud.clone(), gateway.clone());
                tokio::spawn(async move { cloud.start(gateway, vec![device()]).await })
            })
            .collect();
        async move {
            let mut results = Vec::new();
            for handle in handles {
                results.push(handle.await.unwrap());
            }
            results
        }
    };

    // The store fails: every start is refused with its error, none is followed; a
    // second start on a gateway too, as it would be asked alone after the first one's
    // failure (not refused for a task that was never saved).
    failing.store(true, Ordering::SeqCst);
    let before = commits.load(Ordering::SeqCst);
    let mut asked = docks[..50].to_vec();
    asked.push(docks[0].clone());
    for result in start_all(&asked).await {
        match result {
            Err(CloudError::Save(e)) => assert!(e.to_string().contains("disk full"), "{e}"),
            other => panic!("{other:?}"),
        }
    }
    let used = commits.load(Ordering::SeqCst) - before;
    assert!(used <= 10, "{used} commits tried for 51 starts");
    assert!(cloud.status().await.unwrap().tasks.is_empty());

    // The store works again: 100 starts asked at once, in a few commits; a second
    // start on a gateway among them is refused for the first one's task, saved.
    failing.store(false, Ordering::SeqCst);
    let before = commits.load(Ordering::SeqCst);
    let mut asked = docks.clone();
    asked.push(docks[1].clone());
    let mut results = start_all(&asked).await;
    let second = results.pop().unwrap();
    let started: Vec<_> = results.into_iter().map(|r| r.unwrap().task).collect();
    match second {
        Err(CloudError::Start(StartError::GatewayBusy { task })) => assert_eq!(task, started[1]),
        other => panic!("{other:?}"),
    }
    let used = commits.load(Ordering::SeqCst) - before;
    assert!(used <= 10, "{used} commits for 100 starts");
    assert_eq!(cloud.status().await.unwrap().tasks.len(), 100);

    // Each dock got the request of its task, once: nothing of the refused starts.
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen.push(TaskKey::of(&next_request(&mut agent_events).await));
    }
    seen.sort();
    let mut want = started.clone();
    want.sort();
    assert_eq!(seen, want);
    assert!(
        timeout(Duration::from_millis(500), async {
            loop {
                if let Some(AgentEvent::Request(r)) = agent_events.next().await {
                    return r;
                }
            }
        })
        .await
        .is_err(),
        "a request more"
    );

    // One start alone is saved before it returns, as before.
    assert!(cloud.forget(started[0].clone()).await.unwrap());
    let before = commits.load(Ordering::SeqCst);
    let again = cloud.start(docks[0].clone(), vec![device()]).await.unwrap();
    assert!(commits.load(Ordering::SeqCst) > before);
    assert_eq!(
        TaskKey::of(&next_request(&mut agent_events).await),
        again.task
    );
    cloud.close().await;
    agent.close().await;
}
