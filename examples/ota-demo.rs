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
    let port = match cli.port.map_or_else(common::broker::free_port, Ok) {
        Ok(port) => port,
        Err(e) => {
            eprintln!("ota-demo: no free loopback port: {e}");
            return ExitCode::from(EXIT_BROKER);
        }
    };
    if let Err(e) = common::broker::start(port, Duration::from_secs(5)) {
        eprintln!("ota-demo: {e}");
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
            common::dock::SimDock::alike(vec![gateway], &dock_config),
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
