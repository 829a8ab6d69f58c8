//! `ota-broker`: the embedded MQTT broker of `ota-demo` alone, as a process of its own
//! (rumqttd, MQTT 3.1.1 on 127.0.0.1, no TLS, no login, nothing kept on disk).
//!
//! ```sh
//! cargo run --example ota-broker -- --port 1883
//! ```
//!
//! Then run `ota-dock`, `ota-cloud` or `ota-load` with `--broker 127.0.0.1:1883`. It
//! prints `embedded MQTT broker on 127.0.0.1:PORT` once it accepts connections and runs
//! until it is killed, or, with `--exit-with-stdin`, until its standard input closes
//! (so that it ends with the program that started it). The broker tests start it to
//! kill it with SIGKILL and start it again, when no Mosquitto is named.
//!
//! Exit status: 4 when the broker cannot listen (the port is taken), 2 for a wrong
//! command line.

mod common;

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use common::EXIT_BROKER;

/// Runs the embedded MQTT broker on the loopback interface.
#[derive(Debug, Parser)]
#[command(name = "ota-broker")]
struct Cli {
    /// Loopback port to listen on; a free one by default.
    #[arg(long)]
    port: Option<u16>,
    /// Exit when standard input reaches its end.
    #[arg(long)]
    exit_with_stdin: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let port = match cli.port.map_or_else(common::broker::free_port, Ok) {
        Ok(port) => port,
        Err(e) => {
            eprintln!("ota-broker: no free loopback port: {e}");
            return ExitCode::from(EXIT_BROKER);
        }
    };
    let broker = match common::broker::start(port, Duration::from_secs(5)) {
        Ok(thread) => thread,
        Err(e) => {
            eprintln!("ota-broker: {e}");
            return ExitCode::from(EXIT_BROKER);
        }
    };
    println!("embedded MQTT broker on 127.0.0.1:{port}");
    if cli.exit_with_stdin {
        let mut sink = [0u8; 256];
        while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
        return ExitCode::SUCCESS;
    }
    // The broker's threads run until the process is killed.
    let _ = broker.join();
    eprintln!("ota-broker: the broker stopped");
    ExitCode::from(EXIT_BROKER)
}
