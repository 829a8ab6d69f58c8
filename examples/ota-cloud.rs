//! `ota-cloud`: upgrades the devices of one gateway over MQTT and follows the task to its
//! end with the runtime crate's `Cloud`: retries, replies to events that ask for one,
//! live progress (a bar on a terminal, plain lines otherwise).
//!
//! ```sh
//! cargo run --example ota-cloud -- --broker 127.0.0.1:1883 --gateway 4TADKAQ000002J
//! cargo run --example ota-cloud -- --broker 127.0.0.1:1883 --gateway 4TADKAQ000002J --state ota.json
//! ```
//!
//! With `--state PATH`, the task is kept in PATH, and the MQTT session is persistent
//! under the client id `ota-cloud-<gateway>` (unless `--client-id` names another).
//! Killed in the middle of an upgrade and started again with the same arguments, it
//! takes the task up where it was: no second `ota_create`, and the events the dock sent
//! meanwhile are received and answered. Started again after the task ended, it reports
//! that ending and exits with its status, without starting a new task.
//!
//! Exit status: 0 the task ended `ok`; 1 it ended otherwise (failed, refused, ...);
//! 2 a wrong command line; 3 no reply, a silent dock or the overall time-out; 4 the
//! broker could not be reached or refused the login.

mod common;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use common::cloud::Plan;
use common::mqtt::ConnArgs;
use common::{FirmwareArgs, TrackerArgs};
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
    /// Keeps the task's state in this file, to take it up again after a restart.
    #[arg(long, value_name = "PATH")]
    state: Option<PathBuf>,
    #[command(flatten)]
    firmware: FirmwareArgs,
    #[command(flatten)]
    tracker: TrackerArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let plan = Plan {
        gateway: cli.gateway,
        devices: cli.firmware.devices(),
        state: cli.state,
    };
    ExitCode::from(common::cloud::run(&cli.conn, plan, &cli.tracker).await)
}
