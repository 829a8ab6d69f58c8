//! `ota-fleet` as an operator runs it: files it refuses before anything starts (exit
//! 2, the file and line named), `status` on a rollout that `ota-demo --docks` ran
//! against its embedded broker, as text and as JSON, and `run --metrics` scraped over
//! HTTP while docks (this process's dock agent) upgrade through the test broker
//! (`OTA_TEST_BROKER`, or the embedded one).
//!
//! The examples are built by `cargo test` itself; run alone, this file needs
//! `cargo build --examples` first.

#[path = "support/examples.rs"]
mod examples;
#[path = "support/openmetrics.rs"]
mod openmetrics;
#[path = "support/test_broker.rs"]
mod test_broker;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use dji_cloud_ota::{Message, OtaProgress, ResultCode, Serial, TaskStatus};
use dji_cloud_ota_mqtt::{Agent, AgentConfig, AgentEvent, AgentEvents, MqttConfig};
use examples::example;
use openmetrics::Scrape;
use tokio::time::timeout;

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/fleet/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> (Option<i32>, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(example("ota-fleet"))
        .args(args)
        .env_remove("OTA_MQTT_USERNAME")
        .env_remove("OTA_MQTT_PASSWORD")
        .env_remove("OTA_POSTGRES_URL")
        .env_remove("PGPASSWORD")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&stdout).into_owned() + &String::from_utf8_lossy(&stderr);
    (status.code(), text)
}

/// A folder of its own for a test, removed at the end.
struct Folder(PathBuf);

impl Folder {
    fn new(test: &str) -> Self {
        let path = std::env::temp_dir().join(format!("ota-fleet-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `run` on `fleet` and `firmware`, against no broker (port 9): bad input is refused
/// before any connection, and before the database is created.
fn refused(fleet: &str, firmware: &str) -> String {
    refused_with(fleet, firmware, &[])
}

/// As [`refused`], with `options` too.
fn refused_with(fleet: &str, firmware: &str, options: &[&str]) -> String {
    let dir = Folder::new("refused");
    let db = dir.0.join("fleet.db");
    let (fleet, firmware) = (fixture(fleet), fixture(firmware));
    let mut args = vec![
        "run",
        "--broker",
        "127.0.0.1:9",
        "--fleet",
        &fleet,
        "--firmware",
        &firmware,
        "--state",
        db.to_str().unwrap(),
    ];
    args.extend_from_slice(options);
    let (code, out) = run(&args);
    assert_eq!(code, Some(2), "{out}");
    assert!(!out.contains("connecting to"), "nothing connects: {out}");
    assert!(!db.exists(), "no database is left behind: {out}");
    out
}

#[test]
fn bad_files_are_refused_with_the_file_and_line_before_anything_starts() {
    let out = refused("unsafe_serial.csv", "firmware.json");
    assert!(
        out.contains("unsafe_serial.csv line 3: gateway \"4TADK/Q000003K\" is not a usable serial"),
        "{out}"
    );
    let out = refused("listed_twice.csv", "firmware.json");
    assert!(
        out.contains(
            "listed_twice.csv line 4: device 1581F5BMD22330010X0V is listed twice (first on line 3)"
        ),
        "{out}"
    );
    let out = refused("unknown_model.csv", "firmware.json");
    assert!(
        out.contains("unknown_model.csv line 3: model \"m30\" has no firmware"),
        "{out}"
    );
    let out = refused("short_line.csv", "firmware.json");
    assert!(out.contains("short_line.csv line 2"), "{out}");
    let out = refused("wrong_header.csv", "firmware.json");
    assert!(
        out.contains("wrong_header.csv line 1: the header must be `gateway,sn,model`"),
        "{out}"
    );
    let out = refused("fleet.csv", "bad_firmware.json");
    assert!(
        out.contains("bad_firmware.json: invalid type: string \"big\""),
        "{out}"
    );
    assert!(out.contains("line 2 column"), "{out}");
    let out = refused("fleet.csv", "invalid_md5.json");
    assert!(
        out.contains("data.devices[0].md5"),
        "the path of the bad field: {out}"
    );
    let out = refused("fleet.csv", "no_such_file.json");
    assert!(out.contains("no_such_file.json"), "{out}");
}

#[test]
fn bad_options_are_refused_by_their_names_before_anything_starts() {
    let out = refused_with("fleet.csv", "firmware.json", &["--max-in-flight", "0"]);
    assert!(out.contains("--max-in-flight must be at least 1"), "{out}");
    let out = refused_with(
        "fleet.csv",
        "firmware.json",
        &["--abort-failed-percent", "101"],
    );
    assert!(
        out.contains("--abort-failed-percent must be 0 to 100"),
        "{out}"
    );
    // A group shares its rollout through PostgreSQL: with SQLite it is refused, rather
    // than run alone on a clean session.
    let out = refused_with("fleet.csv", "firmware.json", &["--group", "fleet-a"]);
    assert!(out.contains("--group needs --postgres"), "{out}");
    // Nothing saved to take up.
    let out = refused_with("fleet.csv", "firmware.json", &["--resume"]);
    assert!(out.contains("--resume"), "{out}");
}

#[test]
fn a_database_password_is_refused_on_the_command_line_and_never_printed() {
    // On the command line, where anyone on the machine reads it: refused before
    // anything connects, and not echoed.
    let (code, out) = run(&[
        "status",
        "--postgres",
        "postgres://ota:s3cr3t-pw@127.0.0.1:9/fleet",
    ]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("no password on the command line"), "{out}");
    assert!(!out.contains("s3cr3t"), "{out}");
    // From the environment (the URL's own, or PGPASSWORD): taken; the server that
    // cannot be reached is named without it.
    for (url, password) in [
        ("postgres://ota:s3cr3t-pw@127.0.0.1:9/fleet", None),
        ("postgres://ota@127.0.0.1:9/fleet", Some("s3cr3t-pw")),
    ] {
        let mut command = Command::new(example("ota-fleet"));
        command
            .args(["status", "--json"])
            .env("OTA_POSTGRES_URL", url);
        match password {
            Some(password) => command.env("PGPASSWORD", password),
            None => command.env_remove("PGPASSWORD"),
        };
        let output = command.output().unwrap();
        let out = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{out}");
        assert!(out.contains("postgres://ota@127.0.0.1:9/fleet"), "{out}");
        assert!(!out.contains("s3cr3t"), "{out}");
    }
    // Neither a file nor a server: said so.
    let (code, out) = run(&["status"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("--state") && out.contains("--postgres"),
        "{out}"
    );
}

#[test]
fn status_shows_a_rollout_as_text_and_as_json() {
    // ota-demo --docks runs a rollout on its embedded broker and keeps it in SQLite.
    let output = Command::new(example("ota-demo"))
        .args(["--docks", "8"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    // The sixth dock fails its upgrade: the rollout ends with failures.
    assert_eq!(
        output.status.code(),
        Some(1),
        "{out}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        out.contains("DEMO0002: refused: 312015 (the dock is busy); tried again later"),
        "{out}"
    );
    let db = out
        .lines()
        .find_map(|l| l.strip_prefix("the rollout is kept in "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the database's path")
        .to_string();

    let (code, text) = run(&["status", "--state", &db, "--name", "demo"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.starts_with("rollout demo: ended with failures — ok 14, failed 2, skipped 0"),
        "{text}"
    );
    assert!(
        text.contains("DEMO0005 DEMO0005 dock2: failed, result 312003 (upgrade failed; retry)"),
        "{text}"
    );

    let (code, json) = run(&["status", "--state", &db, "--name", "demo", "--json"]);
    assert_eq!(code, Some(0), "{json}");
    let status: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(status["rollout"], "demo");
    assert_eq!(status["state"], "running");
    assert_eq!(status["verdict"], "failures");
    assert_eq!(status["counts"]["ok"], 14);
    assert_eq!(status["counts"]["failed"], 2);
    let devices = status["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 16);
    let busy = devices.iter().find(|d| d["sn"] == "DEMO0002").unwrap();
    assert_eq!(
        (&busy["outcome"], &busy["result"], &busy["attempts"]),
        (
            &serde_json::json!("ok"),
            &serde_json::json!(0),
            &serde_json::json!(2)
        )
    );
    let failed = devices.iter().find(|d| d["sn"] == "DEMO0005UAV").unwrap();
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(failed["result"], 312003);

    // Into a pipe whose reader is gone (`| head` that stopped early): it exits as it
    // would, without a panic.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = Command::new(example("ota-fleet"))
        .args(["status", "--state", &db, "--name", "demo", "--json"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let (code, text) = run(&["status", "--state", &db, "--name", "other"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("holds no rollout named \"other\""), "{text}");
    let _ = std::fs::remove_dir_all(PathBuf::from(db).parent().unwrap());
}

const LIMIT: Duration = Duration::from_secs(30);

/// `GET /metrics` on `addr` over a plain TCP connection: the status line, the
/// `Content-Type` and the body.
fn get_metrics(addr: &str) -> (String, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let mut head = head.lines();
    let status = head.next().unwrap().to_string();
    let content_type = head
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map(|(_, value)| value.trim().to_string())
        .unwrap_or_default();
    (status, content_type, body.to_string())
}

async fn next_request(events: &mut AgentEvents) -> Message {
    loop {
        match timeout(LIMIT, events.next()).await.expect("a request") {
            Some(AgentEvent::Request(request)) => return *request,
            Some(AgentEvent::Failed { reason }) => panic!("{reason}"),
            Some(_) => {}
            None => panic!("the agent stopped"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_its_metrics_over_http_while_the_rollout_runs() {
    let (host, port) = test_broker::address();
    let dir = Folder::new("metrics");
    let pid = std::process::id();
    let gateways: Vec<Serial> = (0..2)
        .map(|i| Serial::new(&format!("FLEETM{pid}D{i}")).unwrap())
        .collect();
    let mut csv = String::from("gateway,sn,model\n");
    for gateway in &gateways {
        csv.push_str(&format!("{gateway},{gateway},dock2\n"));
    }
    let fleet = dir.0.join("fleet.csv");
    std::fs::write(&fleet, csv).unwrap();
    let db = dir.0.join("fleet.db");

    let (agent, mut agent_events) = Agent::spawn(AgentConfig::new(
        MqttConfig::new(&host, port, format!("FLEETM{pid}-docks")),
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

    let mut child = Command::new(example("ota-fleet"))
        .args([
            "run",
            "--broker",
            &format!("{host}:{port}"),
            "--client-id",
            &format!("FLEETM{pid}-cloud"),
            "--fleet",
            fleet.to_str().unwrap(),
            "--firmware",
            &fixture("firmware.json"),
            "--state",
            db.to_str().unwrap(),
            "--metrics",
            "127.0.0.1:0",
        ])
        .env_remove("OTA_MQTT_USERNAME")
        .env_remove("OTA_MQTT_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Its lines as they come.
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut output = Vec::new();
    let addr = loop {
        let line = timeout(LIMIT, lines.recv())
            .await
            .expect("the metrics' address in time")
            .unwrap_or_else(|| panic!("ota-fleet ended: {output:?}"));
        output.push(line.clone());
        if let Some(url) = line.strip_prefix("metrics at http://") {
            break url.strip_suffix("/metrics").unwrap().to_string();
        }
    };

    // Both docks asked, neither answered yet.
    let mut requests = Vec::new();
    for _ in &gateways {
        requests.push(next_request(&mut agent_events).await);
    }
    let scrape = {
        let addr = addr.clone();
        tokio::task::spawn_blocking(move || get_metrics(&addr))
    };
    let (status, content_type, body) = scrape.await.unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let during = Scrape::parse(body.clone());
    during.check_declarations();
    let get = |name: &str, labels: &[(&str, &str)]| {
        during
            .value(name, labels)
            .unwrap_or_else(|| panic!("no {name} {labels:?}: {body}"))
    };
    assert_eq!(get("dji_ota_connected", &[]), 1.0);
    assert_eq!(
        get("dji_ota_tasks_in_flight", &[("step", "awaiting_reply")]),
        2.0
    );
    assert_eq!(get("dji_ota_tasks_started_total", &[]), 2.0);
    assert_eq!(
        get("dji_ota_messages_published_total", &[("kind", "request")]),
        2.0
    );
    assert!(get("dji_ota_commits_total", &[]) >= 1.0);
    assert_eq!(
        get("dji_ota_commit_duration_seconds_count", &[]),
        get("dji_ota_commits_total", &[])
    );
    assert_eq!(
        get(
            "dji_ota_rollout_devices",
            &[("rollout", "fleet"), ("outcome", "in_progress")]
        ),
        2.0
    );

    // The docks upgrade; the rollout ends, every device ok.
    for request in &requests {
        agent
            .reply(request, ResultCode::SUCCESS, Some(TaskStatus::InProgress))
            .unwrap();
        agent
            .progress(request, OtaProgress::new(TaskStatus::Ok), true)
            .unwrap();
    }
    let code = timeout(LIMIT, tokio::task::spawn_blocking(move || child.wait()))
        .await
        .expect("ota-fleet ended in time")
        .unwrap()
        .unwrap();
    while let Some(line) = lines.recv().await {
        output.push(line);
    }
    assert_eq!(code.code(), Some(0), "{output:#?}");
    assert!(
        output
            .iter()
            .any(|l| l.starts_with("rollout fleet ended: every device ok")),
        "{output:#?}"
    );
    agent.close().await;
}
