//! The cloud driver's metrics (feature `metrics`) as a scrape reads them: a cloud and a
//! dock agent through the test broker (`OTA_TEST_BROKER`, or the embedded one), the
//! OpenMetrics text parsed line by line at each stage of three upgrades.

#[path = "../../tests/support/openmetrics.rs"]
mod openmetrics;
#[path = "../../tests/support/temp_dir.rs"]
mod temp_dir;
#[path = "../../tests/support/test_broker.rs"]
mod test_broker;

use std::time::Duration;

use dji_cloud_ota::tracker::{Change, TaskKey, TrackerConfig};
use dji_cloud_ota::{
    Device, Message, OtaProgress, ResultCode, Serial, Step, TaskStatus, UpgradeType,
};
use dji_cloud_ota_mqtt::metrics::CONTENT_TYPE;
use dji_cloud_ota_mqtt::{
    Agent, AgentConfig, AgentEvent, AgentEvents, Cloud, CloudConfig, CloudEvent, CloudEvents,
    CloudMetrics, FileStore, MqttConfig,
};
use openmetrics::Scrape;
use temp_dir::TempDir;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);

fn scrape(metrics: &CloudMetrics) -> Scrape {
    // `encode` and `text` write the same; the driver may change a value between the
    // two reads (it connects, say), so a few tries until two reads agree.
    let mut text = String::new();
    let mut last = String::new();
    for _ in 0..20 {
        text.clear();
        metrics.encode(&mut text).unwrap();
        last = metrics.text();
        if text == last {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Compared with the read the loop made, not a third one the driver may change.
    assert_eq!(text, last, "encode and text never agreed in 20 reads");
    let scrape = Scrape::parse(text);
    scrape.check_declarations();
    scrape
}

fn in_flight(scrape: &Scrape, step: &str) -> f64 {
    scrape.get("dji_ota_tasks_in_flight", &[("step", step)])
}

fn device() -> Device {
    Device::new("1581F5BMD22330010X0V", "04.01.0020", UpgradeType::NORMAL).with_file(
        "https://firmware.example.com/wm245.zip",
        "6f1ed002ab5595859014ebf0951522d9",
        1_000_000,
        "wm245.zip",
    )
}

async fn cloud_connected(events: &mut CloudEvents) {
    loop {
        match timeout(LIMIT, events.next()).await.expect("connected") {
            Some(CloudEvent::Connected { .. }) => return,
            Some(CloudEvent::Failed { reason }) => panic!("{reason}"),
            Some(_) => {}
            None => panic!("the cloud stopped"),
        }
    }
}

async fn next_request(events: &mut AgentEvents) -> Message {
    loop {
        match timeout(LIMIT, events.next()).await.expect("a request") {
            Some(AgentEvent::Connected { .. } | AgentEvent::Answered(_)) => {}
            Some(AgentEvent::Request(request)) => return *request,
            Some(AgentEvent::Failed { reason }) => panic!("{reason}"),
            Some(other) => panic!("{other:?}"),
            None => panic!("the agent stopped"),
        }
    }
}

/// Takes the cloud's updates until `wanted` says yes to `count` of them.
async fn updates(events: &mut CloudEvents, count: usize, wanted: impl Fn(&Change) -> bool) {
    let mut seen = 0;
    while seen < count {
        match timeout(LIMIT, events.next()).await.expect("the updates") {
            Some(CloudEvent::Update(update)) if wanted(&update.change) => seen += 1,
            Some(CloudEvent::Failed { reason }) => panic!("{reason}"),
            Some(_) => {}
            None => panic!("the cloud stopped"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_follow_three_upgrades_from_their_requests_to_their_ends() {
    let (host, port) = test_broker::address();
    let dir = TempDir::new("metrics");
    let prefix = format!("M{}", std::process::id());
    let gateways: Vec<Serial> = (0..3)
        .map(|i| Serial::new(&format!("{prefix}D{i}")).unwrap())
        .collect();
    let (agent, mut agent_events) = Agent::spawn(AgentConfig::new(
        MqttConfig::new(&host, port, format!("{prefix}-dock")),
        gateways.clone(),
    ))
    .unwrap();
    loop {
        match timeout(LIMIT, agent_events.next()).await.unwrap() {
            Some(AgentEvent::Connected { .. }) => break,
            Some(AgentEvent::Failed { reason }) => panic!("{reason}"),
            _ => {}
        }
    }
    let config = CloudConfig::new(
        MqttConfig::new(&host, port, format!("{prefix}-cloud")),
        TrackerConfig::default(),
    );
    let store = FileStore::new(dir.0.join("state.json"));
    let (cloud, mut events) = Cloud::spawn(config, store).unwrap();
    let metrics = cloud.metrics();
    assert_eq!(
        CONTENT_TYPE,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );

    let before = scrape(&metrics);
    for step in [
        "awaiting_reply",
        "accepted",
        "download_firmware",
        "upgrade_firmware",
    ] {
        assert_eq!(
            before.all("dji_ota_tasks_in_flight").len(),
            4,
            "{}",
            before.text
        );
        assert_eq!(in_flight(&before, step), 0.0, "{}", before.text);
    }
    assert_eq!(
        before.types.get("dji_ota_commit_duration_seconds"),
        Some(&"histogram".to_string())
    );
    assert_eq!(
        before.units.get("dji_ota_commit_duration_seconds"),
        Some(&"seconds".to_string())
    );

    cloud_connected(&mut events).await;
    assert_eq!(scrape(&metrics).get("dji_ota_connected", &[]), 1.0);

    // Started: each saved, then sent; no reply yet.
    let mut tasks: Vec<TaskKey> = Vec::new();
    for gateway in &gateways {
        tasks.push(
            cloud
                .start(gateway.clone(), vec![device()])
                .await
                .unwrap()
                .task,
        );
    }
    let mut requests = Vec::new();
    for _ in &gateways {
        requests.push(next_request(&mut agent_events).await);
    }
    let started = scrape(&metrics);
    assert_eq!(
        in_flight(&started, "awaiting_reply"),
        3.0,
        "{}",
        started.text
    );
    assert_eq!(started.get("dji_ota_tasks_started_total", &[]), 3.0);
    assert_eq!(
        started.get("dji_ota_messages_published_total", &[("kind", "request")]),
        3.0
    );
    assert!(started.get("dji_ota_commits_total", &[]) >= 3.0);

    // Accepted, then a step of the upgrade under way.
    for request in &requests {
        agent
            .reply(request, ResultCode::SUCCESS, Some(TaskStatus::InProgress))
            .unwrap();
    }
    updates(&mut events, 3, |c| matches!(c, Change::Accepted { .. })).await;
    let accepted = scrape(&metrics);
    assert_eq!(in_flight(&accepted, "accepted"), 3.0, "{}", accepted.text);
    assert_eq!(in_flight(&accepted, "awaiting_reply"), 0.0);
    assert_eq!(
        accepted.get("dji_ota_messages_received_total", &[("kind", "reply")]),
        3.0
    );
    for request in &requests {
        let progress =
            OtaProgress::new(TaskStatus::InProgress).with_progress(Step::UpgradeFirmware, 40);
        agent.progress(request, progress, false).unwrap();
    }
    updates(&mut events, 3, |c| matches!(c, Change::Progress { .. })).await;
    let upgrading = scrape(&metrics);
    assert_eq!(
        in_flight(&upgrading, "upgrade_firmware"),
        3.0,
        "{}",
        upgrading.text
    );
    assert_eq!(in_flight(&upgrading, "accepted"), 0.0);

    // Ended: every final event answered.
    for request in &requests {
        agent
            .progress(request, OtaProgress::new(TaskStatus::Ok), true)
            .unwrap();
    }
    updates(&mut events, 3, Change::is_success).await;
    while agent.counters().await.unwrap().awaiting > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A round trip through the driver: what it did before is in the metrics.
    let status = cloud.status().await.unwrap();
    assert!(status.tasks.is_empty());
    let ended = scrape(&metrics);
    for (labels, value) in ended.all("dji_ota_tasks_in_flight") {
        assert_eq!(value, 0.0, "{labels:?}: {}", ended.text);
    }
    assert_eq!(
        ended.get("dji_ota_tasks_ended_total", &[("ending", "ok")]),
        3.0
    );
    assert_eq!(ended.all("dji_ota_tasks_ended_total").len(), 1);
    let counters = status.counters;
    assert_eq!(
        ended.get("dji_ota_messages_received_total", &[("kind", "event")]),
        counters.events as f64
    );
    assert_eq!(counters.events, 6);
    let received: f64 = ended
        .all("dji_ota_messages_received_total")
        .iter()
        .map(|(_, v)| v)
        .sum();
    assert_eq!(received, counters.received as f64, "{}", ended.text);
    let published: f64 = ended
        .all("dji_ota_messages_published_total")
        .iter()
        .map(|(_, v)| v)
        .sum();
    assert_eq!(published, counters.published as f64, "{}", ended.text);
    assert!(
        ended.get(
            "dji_ota_messages_published_total",
            &[("kind", "event_reply")]
        ) >= 3.0
    );
    // Every commit timed; the sum of their times is that of real saves.
    let commits = ended.get("dji_ota_commits_total", &[]);
    assert_eq!(commits, counters.saves as f64);
    assert!(commits >= 3.0 + 3.0, "{}", ended.text);
    assert_eq!(
        ended.get("dji_ota_commit_duration_seconds_count", &[]),
        commits
    );
    assert!(ended.get("dji_ota_commit_duration_seconds_sum", &[]) > 0.0);
    assert_eq!(
        ended.get("dji_ota_commit_duration_seconds_bucket", &[("le", "+Inf")]),
        commits
    );
    assert_eq!(ended.get("dji_ota_commit_failures_total", &[]), 0.0);
    assert_eq!(ended.get("dji_ota_acks_held", &[]), 0.0);
    assert_eq!(ended.get("dji_ota_outbox_length", &[]), 0.0);
    assert_eq!(ended.get("dji_ota_connected", &[]), 1.0);
    assert_eq!(ended.get("dji_ota_disconnections_total", &[]), 0.0);

    cloud.close().await;
    assert_eq!(scrape(&metrics).get("dji_ota_connected", &[]), 0.0);
    agent.close().await;
}
