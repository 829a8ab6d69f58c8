//! `ota-demo`: a whole firmware upgrade on one machine with nothing installed. It starts
//! an MQTT broker (rumqttd) on the loopback interface, a simulated dock and the cloud
//! side, each with its own MQTT connection, and runs one upgrade to its end.
//!
//! ```sh
//! cargo run --example ota-demo
//! cargo run --example ota-demo -- --fail-at 40       # a failing upgrade
//! ```
//!
//! The exit status is the cloud's (see `ota-cloud`). To use a broker of your own, run
//! `ota-dock` and `ota-cloud` against it instead.

mod common;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use common::cloud::Plan;
use common::dock::Until;
use common::mqtt::ConnArgs;
use common::{DockArgs, EXIT_BROKER, EXIT_USAGE, FirmwareArgs, TrackerArgs};
use dji_cloud_ota::Serial;

/// Runs a whole upgrade between a simulated dock and the cloud on an embedded broker.
#[derive(Debug, Parser)]
#[command(name = "ota-demo")]
struct Cli {
    /// The simulated gateway's serial.
    #[arg(long, default_value = "4TADKAQ000002J", value_parser = common::gateway)]
    gateway: Serial,
    /// Loopback port of the embedded broker; a free one by default.
    #[arg(long)]
    port: Option<u16>,
    #[command(flatten)]
    firmware: FirmwareArgs,
    #[command(flatten)]
    tracker: TrackerArgs,
    #[command(flatten)]
    dock: DockArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let port = match cli.port.map_or_else(free_port, Ok) {
        Ok(port) => port,
        Err(e) => {
            eprintln!("ota-demo: no free loopback port: {e}");
            return ExitCode::from(EXIT_BROKER);
        }
    };
    start_broker(port);
    if !broker_listens(port).await {
        eprintln!("ota-demo: the embedded broker did not start on 127.0.0.1:{port}");
        return ExitCode::from(EXIT_BROKER);
    }
    println!("embedded MQTT broker on 127.0.0.1:{port}");
    let conn = ConnArgs::loopback(port);
    let Ok(dock_mqtt) = conn.config("ota-demo-dock", None) else {
        return ExitCode::from(EXIT_USAGE);
    };
    let until = Until {
        once: false,
        at_most: None,
        linger: Duration::ZERO,
    };
    let dock_config = cli.dock.config();
    let resend = cli.dock.resend();
    let gateway = cli.gateway.clone();
    // The dock listens before the cloud sends its request.
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    let dock = tokio::spawn(async move {
        let ready = move || {
            let _ = ready_tx.send(());
        };
        common::dock::run(
            dock_mqtt,
            vec![gateway],
            &dock_config,
            resend,
            until,
            false,
            ready,
        )
        .await
    });
    if ready.await.is_err() {
        let reason = match dock.await {
            Ok(Err(reason)) => reason,
            _ => "it stopped".into(),
        };
        eprintln!("ota-demo: the dock cannot connect: {reason}");
        return ExitCode::from(EXIT_BROKER);
    }
    let plan = Plan {
        gateway: cli.gateway,
        devices: cli.firmware.devices(),
        state: None,
    };
    let code = common::cloud::run(&conn, plan, &cli.tracker).await;
    dock.abort();
    ExitCode::from(code)
}

/// A port the system says is free now (a tiny race with other programs is possible).
fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Waits (at most 5 s) until something accepts connections on 127.0.0.1:`port`.
async fn broker_listens(port: u16) -> bool {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Starts rumqttd on 127.0.0.1:`port`, MQTT 3.1.1, no TLS, no login, in its own threads.
fn start_broker(port: u16) {
    let connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 5_000,
        max_payload_size: dji_cloud_ota::limits::MAX_PAYLOAD_BYTES,
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
    let config = rumqttd::Config {
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
    };
    std::thread::spawn(move || {
        let mut broker = rumqttd::Broker::new(config);
        if let Err(e) = broker.start() {
            eprintln!("ota-demo: the embedded broker stopped: {e}");
        }
    });
}
