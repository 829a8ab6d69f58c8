//! `ota-cloud`: upgrades the devices of one gateway over MQTT and follows the task to its
//! end with the crate's tracker: retries, replies to events that ask for one, live
//! progress.
//!
//! ```sh
//! cargo run --example ota-cloud -- --broker 127.0.0.1:1883 --gateway 4TADKAQ000002J
//! ```
//!
//! Exit status: 0 the task ended `ok`; 1 it ended otherwise (failed, refused, ...);
//! 2 a wrong command line; 3 no reply, a silent dock or the overall time-out; 4 the
//! broker could not be reached or refused the login.

mod common;

use std::process::ExitCode;

use clap::Parser;
use common::mqtt::{ConnArgs, Connection};
use common::{EXIT_USAGE, FirmwareArgs, TrackerArgs};
use dji_cloud_ota::Serial;

/// Upgrades a gateway's devices over MQTT and follows the task to its end.
#[derive(Debug, Parser)]
#[command(name = "ota-cloud")]
struct Cli {
    #[command(flatten)]
    conn: ConnArgs,
    /// The gateway (dock) serial: topic-safe, no '/', '+', '#'.
    #[arg(long, value_parser = common::gateway)]
    gateway: Serial,
    #[command(flatten)]
    firmware: FirmwareArgs,
    #[command(flatten)]
    tracker: TrackerArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let options = match cli.conn.options("ota-cloud") {
        Ok(options) => options,
        Err(e) => {
            eprintln!("ota-cloud: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    println!("connecting to {}", cli.conn.describe());
    let filters = common::cloud::filters(&cli.gateway);
    let conn = Connection::open(options, filters, 64);
    let devices = cli.firmware.devices();
    ExitCode::from(common::cloud::run(conn, cli.gateway, devices, &cli.tracker).await)
}
