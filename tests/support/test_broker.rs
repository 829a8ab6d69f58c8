//! The MQTT broker a broker test talks to, shared by the broker tests of both crates
//! (included by path: `tests/broker.rs`, `mqtt/tests/runtime.rs`).
//!
//! - `OTA_TEST_BROKER` set (HOST:PORT): that broker. `.ci/run` starts Mosquitto and
//!   sets it.
//! - Not set: the embedded broker (rumqttd, `examples/common/broker.rs`), started once
//!   in this test process on a free loopback port, and gone with the process.

#![allow(dead_code)]

#[path = "../../examples/common/broker.rs"]
mod embedded;

use std::sync::OnceLock;
use std::time::Duration;

/// The broker's host and port: the named one, or the embedded one (started at the first
/// call).
pub fn address() -> (String, u16) {
    match named("OTA_TEST_BROKER") {
        Some(address) => address,
        None => (
            "127.0.0.1".to_string(),
            *EMBEDDED.get_or_init(start_embedded),
        ),
    }
}

/// The same, as HOST:PORT.
pub fn address_text() -> String {
    let (host, port) = address();
    format!("{host}:{port}")
}

/// True when the tests run against the embedded broker.
pub fn is_embedded() -> bool {
    named("OTA_TEST_BROKER").is_none()
}

/// HOST:PORT from the variable `var`, if it is set and not empty.
pub fn named(var: &str) -> Option<(String, u16)> {
    let address = std::env::var(var).ok().filter(|a| !a.is_empty())?;
    let (host, port) = address
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("{var}={address:?} is not HOST:PORT"));
    let port = port
        .parse()
        .unwrap_or_else(|_| panic!("{var}={address:?}: the port is not a number"));
    Some((host.to_string(), port))
}

static EMBEDDED: OnceLock<u16> = OnceLock::new();

fn start_embedded() -> u16 {
    // A port found free can still be taken before the broker binds it (by a parallel
    // test's broker): then another.
    let mut failures = Vec::new();
    for attempt in 0..5 {
        let port = free_port("embedded", attempt);
        match embedded::start(port, Duration::from_secs(10)) {
            Ok(_thread) => {
                eprintln!("the tests' embedded MQTT broker listens on 127.0.0.1:{port}");
                return port;
            }
            Err(e) => failures.push(e),
        }
    }
    panic!("the embedded broker could not start: {failures:?}");
}

/// A free port for a broker of a test's own, below the kernel's ephemeral range (from
/// 32768 on Linux): a port picked there can be taken, between a broker's kills, as the
/// local port of some client's connection, and a probe of it can even connect to
/// itself. Parallel tests start from different places, and a later `attempt` from
/// another.
pub fn free_port(test: &str, attempt: u32) -> u16 {
    let start = test.bytes().fold(std::process::id(), |h, b| {
        h.wrapping_mul(31).wrapping_add(b.into())
    });
    let start = start.wrapping_add(attempt.wrapping_mul(7919));
    for i in 0..2000 {
        let port = 20000 + (start.wrapping_add(i) % 12000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between 20000 and 32000");
}
