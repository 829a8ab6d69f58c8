//! `ota-dock`: a simulated dock on a real broker. It answers `ota_create` on its
//! gateway's topics and streams `ota_progress` events (download, then upgrade, then a
//! final status), built on the crate's sans-IO `Dock`; flags make it misbehave.
//!
//! ```sh
//! cargo run --example ota-dock -- --broker 127.0.0.1:1883 --gateway 4TADKAQ000002J
//! cargo run --example ota-dock -- --broker 127.0.0.1:1883 --gateway 4TADKAQ000002J --fail-at 40
//! ```
//!
//! It runs until interrupted, or with `--once` until its first task has ended. Last, it
//! prints a `summary` line of what went over the wire.

mod common;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use common::dock::Until;
use common::mqtt::ConnArgs;
use common::{DockArgs, EXIT_BROKER, EXIT_USAGE};
use dji_cloud_ota::Serial;

/// A simulated dock that answers ota_create and streams ota_progress events.
#[derive(Debug, Parser)]
#[command(name = "ota-dock")]
struct Cli {
    #[command(flatten)]
    conn: ConnArgs,
    /// The gateway (dock) serial: topic-safe, no '/', '+', '#'.
    #[arg(long, value_parser = common::gateway)]
    gateway: Serial,
    #[command(flatten)]
    dock: DockArgs,
    /// Stops once the first task has ended (and --linger-ms has passed).
    #[arg(long)]
    once: bool,
    /// After the task ends, keeps taking replies this long, in ms.
    #[arg(long, default_value_t = 1_000)]
    linger_ms: u64,
    /// Stops after this many ms in any case.
    #[arg(long)]
    exit_after_ms: Option<u64>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let mqtt = match cli.conn.config("ota-dock", None) {
        Ok(mqtt) => mqtt,
        Err(e) => {
            eprintln!("ota-dock: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    println!("connecting to {}", mqtt.describe());
    let until = Until {
        once: cli.once,
        at_most: cli.exit_after_ms.map(Duration::from_millis),
        linger: Duration::from_millis(cli.linger_ms),
    };
    let config = cli.dock.config();
    let run = common::dock::run(
        mqtt,
        common::dock::SimDock::alike(vec![cli.gateway], &config),
        cli.dock.resend(),
        until,
        true,
        || {},
    );
    match run.await {
        Ok(stats) => {
            println!("{}", common::dock::summary(&stats));
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("ota-dock: {reason}");
            ExitCode::from(EXIT_BROKER)
        }
    }
}
