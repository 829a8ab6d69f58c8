//! `ota-fleet` as an operator runs it: files it refuses before anything starts (exit
//! 2, the file and line named), and `status` on a rollout that `ota-demo --docks` ran
//! against its embedded broker, as text and as JSON.
//!
//! The examples are built by `cargo test` itself; run alone, this file needs
//! `cargo build --examples` first.

#[path = "support/examples.rs"]
mod examples;

use std::path::PathBuf;
use std::process::{Command, Output};

use examples::example;

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
/// before any connection.
fn refused(fleet: &str, firmware: &str) -> String {
    let dir = Folder::new("refused");
    let db = dir.0.join("fleet.db");
    let (code, out) = run(&[
        "run",
        "--broker",
        "127.0.0.1:9",
        "--fleet",
        &fixture(fleet),
        "--firmware",
        &fixture(firmware),
        "--state",
        db.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{out}");
    assert!(!out.contains("connecting to"), "nothing connects: {out}");
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
        text.starts_with("rollout demo: running — ok 14, failed 2, skipped 0"),
        "{text}"
    );
    assert!(
        text.contains("DEMO0005 DEMO0005 dock2: failed, result 312003 (upgrade failed; retry)"),
        "{text}"
    );

    let (code, json) = run(&["status", "--state", &db, "--name", "demo", "--json"]);
    assert_eq!(code, Some(0), "{json}");
    let status: serde_json::Value = serde_json::from_str(&json).unwrap();
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

    let (code, text) = run(&["status", "--state", &db, "--name", "other"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("holds no rollout named \"other\""), "{text}");
    let _ = std::fs::remove_dir_all(PathBuf::from(db).parent().unwrap());
}
