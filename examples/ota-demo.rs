//! `ota-demo`: a whole firmware upgrade on one machine with nothing installed. It starts
//! an MQTT broker (rumqttd) on the loopback interface, a simulated dock and the cloud
//! side, each with its own MQTT connection, and runs one upgrade to its end.
//!
//! ```sh
//! cargo run --example ota-demo
//! cargo run --example ota-demo -- --fail-at 40       # a failing upgrade
//! cargo run --example ota-demo -- --docks 20         # a fleet rollout
//! ```
//!
//! With `--docks N`, it runs a fleet rollout instead, as `ota-fleet run` does: N
//! simulated docks, each with its aircraft (the third dock busy once, the sixth failing
//! its upgrade), a canary of the first 2, at most 5 upgrades in flight, the rollout kept
//! in a temporary SQLite database (`ota-fleet status --state PATH` reads it, also
//! meanwhile). Its exit status is `ota-fleet`'s. The firmware and tracker options do
//! not apply there; the dock options do, but for the third and the sixth docks' faults,
//! and with events at most 300 ms apart, in steps of at least 20 %.
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
    /// Runs a fleet rollout of this many simulated docks instead of one upgrade, with
    /// the demo's own firmware, policy and tracker settings (the firmware and tracker
    /// options do not apply). The dock options apply to every dock, but for the fault
    /// of the third (busy once) and the sixth (failing), and with events at most 300 ms
    /// apart, in steps of at least 20 %.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=5000))]
    docks: Option<u16>,
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
    if let Some(docks) = cli.docks {
        return ExitCode::from(fleet(&conn, usize::from(docks), &cli.dock).await);
    }
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

/// A rollout of `count` simulated docks and their aircraft; the exit status.
async fn fleet(conn: &ConnArgs, count: usize, dock: &DockArgs) -> u8 {
    use common::fleet::{EXIT_BROKER, EXIT_INPUT};
    use dji_cloud_ota::ResultCode;
    use dji_cloud_ota::dock::Fault;
    use dji_cloud_ota::rollout::{Firmware, FleetDevice, Policy, RolloutPlan};
    use dji_cloud_ota::{Step, UpgradeType};
    use dji_cloud_ota_mqtt::{Cloud, CloudConfig, CloudEvent, SqliteStore};

    let gateway = |i: usize| Serial::new(&format!("DEMO{i:04}")).expect("topic-safe");
    let aircraft = |i: usize| Serial::new(&format!("DEMO{i:04}UAV")).expect("topic-safe");
    let firmware = |model: &str, version: &str| Firmware {
        version: version.into(),
        url: format!("https://firmware.example.com/{model}_{version}.zip").into(),
        md5: "6f1ed002ab5595859014ebf0951522d9".into(),
        size: 300_000_000,
        file_name: format!("{model}_{version}.zip").into(),
        upgrade_type: UpgradeType::NORMAL,
    };
    let mut devices = Vec::new();
    let mut sims = Vec::new();
    let base = dock.config();
    for i in 0..count {
        devices.push(FleetDevice::new(gateway(i), gateway(i), "dock2"));
        devices.push(FleetDevice::new(gateway(i), aircraft(i), "m3d"));
        let mut config = base.clone();
        config.interval_ms = config.interval_ms.min(300);
        config.percent_step = config.percent_step.max(20);
        config.fault = match i {
            2 => Fault::RejectFirst {
                result: ResultCode(312015),
                times: 1,
            },
            5 => Fault::FailAt {
                step: Step::UpgradeFirmware,
                percent: 60,
                result: ResultCode(312003),
            },
            _ => config.fault,
        };
        sims.push(common::dock::SimDock {
            gateway: gateway(i),
            config,
            devices: Vec::new(),
            expects_task: true,
        });
    }
    let plan = RolloutPlan {
        devices,
        firmware: [
            ("dock2".into(), firmware("dock2", "10.01.0003")),
            ("m3d".into(), firmware("m3d", "10.01.0016")),
        ]
        .into(),
        policy: Policy {
            canary: 2,
            max_in_flight: 5,
            retry_after_ms: 2_000,
            retry_limit: 3,
            ..Policy::default()
        },
    };
    let Ok(dock_mqtt) = conn.config("ota-demo-docks", None) else {
        return EXIT_INPUT;
    };
    let until = Until {
        once: false,
        at_most: None,
        linger: Duration::ZERO,
    };
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    let resend = dock.resend();
    let docks = tokio::spawn(async move {
        let ready = move || {
            let _ = ready_tx.send(());
        };
        common::dock::run(dock_mqtt, sims, resend, until, false, ready).await
    });
    if ready.await.is_err() {
        eprintln!("ota-demo: the docks cannot connect");
        return EXIT_BROKER;
    }
    let folder = std::env::temp_dir().join(format!("ota-demo-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&folder) {
        eprintln!("ota-demo: {}: {e}", folder.display());
        return EXIT_INPUT;
    }
    let db = folder.join("fleet.db");
    let store = match SqliteStore::open(&db) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("ota-demo: {e}");
            return EXIT_INPUT;
        }
    };
    println!(
        "the rollout is kept in {} (cargo run --example ota-fleet -- status --state {} --name demo)",
        db.display(),
        db.display()
    );
    let Ok(mqtt) = conn.config("ota-demo-cloud", None) else {
        return EXIT_INPUT;
    };
    let config = CloudConfig::new(mqtt, Default::default());
    let Ok((cloud, mut events)) = Cloud::spawn(config, store) else {
        return EXIT_INPUT;
    };
    loop {
        match events.next().await {
            Some(CloudEvent::Connected { .. }) => break,
            Some(CloudEvent::Failed { reason }) => {
                eprintln!("ota-demo: {reason}");
                return EXIT_BROKER;
            }
            Some(_) => {}
            None => return EXIT_BROKER,
        }
    }
    let code = common::fleet::follow(cloud, events, "demo", plan, false, None).await;
    docks.abort();
    code
}
