//! `ota-inspect TOPIC [FILE]`: decodes one OTA message and shows what the crate makes of
//! it: the typed message, its canonical encoding and the validation report. On a
//! device's `state` topic, it shows the firmware properties of the push instead.
//!
//! The payload is read from FILE, or from standard input when FILE is `-` or absent.
//! Exit status: 0 decoded and valid, 1 decoded but invalid, 2 not decoded, 64 usage.

use std::io::Read;
use std::process::ExitCode;

const USAGE: &str = "usage: ota-inspect TOPIC [FILE|-]
  Decodes the OTA message in FILE (or standard input) as received on TOPIC, e.g.
  ota-inspect thing/product/4TADKAQ000002J/events event.json
  On thing/product/{sn}/state, shows the firmware properties of the state push.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let (topic, file) = match args.as_slice() {
        [topic] => (topic, None),
        [topic, file] => (topic, Some(file.as_str()).filter(|f| *f != "-")),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(64);
        }
    };
    let payload = match read_payload(file) {
        Ok(payload) => payload,
        Err(e) => {
            eprintln!(
                "ota-inspect: cannot read {}: {e}",
                file.unwrap_or("standard input")
            );
            return ExitCode::from(64);
        }
    };

    if dji_cloud_ota::StateTopic::parse(topic).is_ok() {
        return state(topic, &payload);
    }
    let message = match dji_cloud_ota::decode(topic, &payload) {
        Ok(message) => message,
        Err(e) => {
            println!("not decoded: {e}");
            return ExitCode::from(2);
        }
    };
    println!("== message ({} on {})", message.method(), message.topic());
    println!("{message:#?}");
    let encoded = message.encode();
    println!("== canonical encoding");
    println!("topic:   {}", encoded.topic);
    println!("payload: {}", String::from_utf8_lossy(&encoded.payload));
    println!("== validation");
    match message.validate() {
        Ok(()) => {
            println!("valid");
            ExitCode::SUCCESS
        }
        Err(errors) => {
            println!("{errors}");
            ExitCode::from(1)
        }
    }
}

/// A state push: its firmware properties and canonical encoding. Nothing is validated
/// in a state push; exit 0 when it decodes, 2 when it does not.
fn state(topic: &str, payload: &[u8]) -> ExitCode {
    let push = match dji_cloud_ota::decode_state(topic, payload) {
        Ok(push) => push,
        Err(e) => {
            println!("not decoded: {e}");
            return ExitCode::from(2);
        }
    };
    println!("== state push of {}", push.sn);
    println!("{push:#?}");
    if push.firmware.is_empty() {
        println!("(no firmware property: nothing for an upgrade)");
    }
    let encoded = push.encode();
    println!("== canonical encoding");
    println!("topic:   {}", encoded.topic);
    println!("payload: {}", String::from_utf8_lossy(&encoded.payload));
    ExitCode::SUCCESS
}

/// The payload, read up to one byte past the size limit: enough for `decode` to say it
/// is too large, without holding more of a larger input in memory.
fn read_payload(file: Option<&str>) -> std::io::Result<Vec<u8>> {
    let limit = dji_cloud_ota::limits::MAX_PAYLOAD_BYTES as u64 + 1;
    let mut buf = Vec::new();
    match file {
        Some(path) => std::fs::File::open(path)?
            .take(limit)
            .read_to_end(&mut buf)?,
        None => std::io::stdin().lock().take(limit).read_to_end(&mut buf)?,
    };
    Ok(buf)
}
