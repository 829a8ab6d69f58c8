//! The `ota-inspect` command, run as a user runs it.

mod common;

use std::io::Write;
use std::process::{Child, Command, Output, Stdio};

use common::{GATEWAY, fixtures_dir};

/// ota-inspect started with `args`, every stream piped.
fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ota-inspect"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn inspect(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = spawn(args);
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_seed_example_decodes_and_its_placeholders_are_reported() {
    let topic = format!("thing/product/{GATEWAY}/events");
    let file = fixtures_dir().join("events/seed_ota_progress.json");
    let out = inspect(&[&topic, file.to_str().unwrap()], None);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("== message (ota_progress on"), "{stdout}");
    assert!(stdout.contains("InProgress"), "{stdout}");
    assert!(
        stdout.contains(r#"payload: {"tid":"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxx""#),
        "{stdout}"
    );
    assert!(stdout.contains("2 violations"), "{stdout}");
    assert!(
        stdout.contains("tid: \"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxx\" is not a UUID"),
        "{stdout}"
    );
}

#[test]
fn a_valid_message_from_stdin_exits_zero() {
    let topic = format!("thing/product/{GATEWAY}/services");
    let payload = std::fs::read(fixtures_dir().join("services/canonical.json")).unwrap();
    let out = inspect(&[&topic, "-"], Some(&payload));
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("payload: {}", text(&payload))),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("valid"), "{stdout}");
}

#[test]
fn what_does_not_decode_exits_two_and_says_why() {
    let topic = format!("thing/product/{GATEWAY}/events");
    let out = inspect(&[&topic], Some(b"{\"tid\":"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stdout).contains("malformed JSON"),
        "{}",
        text(&out.stdout)
    );
    let out = inspect(&[&format!("thing/product/{GATEWAY}/osd")], Some(b"{}"));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).contains("not an OTA message"));
}

#[test]
fn usage_errors_exit_64() {
    let out = inspect(&[], None);
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("usage: ota-inspect TOPIC"));
    let out = inspect(&["thing/product/SN/events", "/nonexistent/file.json"], None);
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("/nonexistent/file.json"));
    let out = inspect(&["--help"], None);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_huge_input_is_refused_after_the_size_limit_without_being_read_whole() {
    // 64 MiB offered on standard input; ota-inspect reads one byte past the 2 MiB
    // limit, says the payload is too large and exits, so most of it is never taken.
    let mut child = spawn(&[&format!("thing/product/{GATEWAY}/events")]);
    let mut input = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b' '; 1 << 20];
        let mut taken = 0usize;
        for _ in 0..64 {
            if input.write_all(&chunk).is_err() {
                break;
            }
            taken += chunk.len();
        }
        taken
    });
    let output = child.wait_with_output().unwrap();
    let taken = writer.join().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("larger than the limit"));
    let limit = dji_cloud_ota::limits::MAX_PAYLOAD_BYTES;
    assert!(taken <= limit + (2 << 20), "{taken} bytes taken");
}

#[test]
fn a_state_push_shows_its_firmware_properties() {
    let path = format!(
        "{}/tests/fixtures/state/aircraft_java_booleans.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = inspect(&["thing/product/1581F5BMD22330010X0V/state", &path], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("== state push of 1581F5BMD22330010X0V"),
        "{shown}"
    );
    assert!(shown.contains(r#""compatible_status":1"#), "{shown}");
    let out = inspect(
        &["thing/product/4TADKAQ000002J/state", "-"],
        Some(b"{\"tid\":"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).starts_with("not decoded: malformed JSON"));
}
