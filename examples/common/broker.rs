//! The embedded MQTT broker: rumqttd, MQTT 3.1.1 on the loopback interface, no TLS, no
//! login, in threads of the calling process. `ota-demo` runs its upgrade through it,
//! `ota-broker` runs it alone, and the broker tests of both crates start it when no
//! broker is named.
//!
//! This file has no `use` of the examples' other modules, so that tests can include it
//! by path.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A port the system says is free now (a tiny race with other programs is possible).
pub fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// The broker's settings: one listener on 127.0.0.1:`port`, room for the load runs'
/// thousands of connections. Payloads up to 16 MiB pass, well over the protocol's
/// limit (`limits::MAX_PAYLOAD_BYTES`): as with Mosquitto, dropping an oversized
/// message is the cloud's and the dock agent's work, and the tests check that they do.
pub fn config(port: u16) -> rumqttd::Config {
    let connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 5_000,
        max_payload_size: 16 << 20,
        max_inflight_count: 500,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let server = rumqttd::ServerSettings {
        name: "loopback".into(),
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        tls: None,
        next_connection_delay_ms: 1,
        connections,
    };
    rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 10_010,
            max_outgoing_packet_count: 200,
            max_segment_size: 100 * 1024 * 1024,
            max_segment_count: 10,
            ..Default::default()
        },
        v4: Some(HashMap::from([("1".to_string(), server)])),
        ..Default::default()
    }
}

/// Starts the broker on 127.0.0.1:`port` in threads of its own and waits (at most
/// `within`) until it accepts connections. An error says why it did not: the port is
/// taken, or it did not listen in time.
pub fn start(port: u16, within: Duration) -> Result<JoinHandle<()>, String> {
    let config = config(port);
    let thread = std::thread::Builder::new()
        .name(format!("mqtt-broker-{port}"))
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                eprintln!("the embedded broker on 127.0.0.1:{port} stopped: {e}");
            }
        })
        .map_err(|e| format!("no thread for the broker: {e}"))?;
    let end = Instant::now() + within;
    loop {
        if thread.is_finished() {
            return Err(format!("the broker could not listen on 127.0.0.1:{port}"));
        }
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            // Another program's listener answers too: ours is the one still running a
            // moment later (a broker that could not bind has stopped by then).
            std::thread::sleep(Duration::from_millis(50));
            if !thread.is_finished() {
                return Ok(thread);
            }
        }
        if Instant::now() > end {
            return Err(format!(
                "the broker did not listen on 127.0.0.1:{port} within {within:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
