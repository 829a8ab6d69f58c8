//! `ota-load`: many docks upgrading at once through one broker, against one cloud
//! process that follows every task with a single `Tracker`.
//!
//! Two processes, started in this order against the same broker:
//!
//! ```sh
//! cargo run --release --example ota-load -- --role docks --broker 127.0.0.1:1883 --docks 1000
//! cargo run --release --example ota-load -- --role cloud --broker 127.0.0.1:1883 --docks 1000
//! ```
//!
//! The docks process simulates `--docks` gateways (`LOAD00000`, `LOAD00001`, ...), many
//! per MQTT connection (`--connections`), each publishing on its own gateway's topics;
//! it prints `ready` once subscribed, and a `summary` line once every dock has ended its
//! task. The cloud process subscribes to every gateway's `services_reply` and `events`
//! (`thing/product/+/...`), starts one task per gateway, answers every event (the docks
//! ask for a reply on each), and prints a `summary` with the end states, the message
//! rate and its peak memory. It exits 0 when every task ended `ok`.
//!
//! The docks process also plays the fleet that `ota-fleet run` upgrades: `--busy-once`,
//! `--failing` and `--at-target` (lists of dock numbers) give docks a fault of their
//! own, and its `summary` counts `requests_while_busy`, the requests of a second task
//! that reached a dock while one of it was running (a cloud that should never send
//! them).

mod common;

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant as StdInstant};

use clap::{Parser, ValueEnum};
use common::dock::Until;
use common::mqtt::ConnArgs;
use common::{
    DockArgs, EXIT_BROKER, EXIT_OK, EXIT_TASK_FAILED, EXIT_TIMED_OUT, EXIT_USAGE, FirmwareArgs,
    TrackerArgs,
};
use dji_cloud_ota::Serial;
use dji_cloud_ota::dock::{DockConfig, DockStats, Fault, NeedReply};
use dji_cloud_ota::tracker::Change;
use dji_cloud_ota::{ResultCode, Step};
use dji_cloud_ota_mqtt::{Cloud, CloudConfig, CloudEvent, SqliteStore, Watch};
use tokio::time::{Instant, sleep_until};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Role {
    /// The simulated docks.
    Docks,
    /// The cloud, with one tracker for every task.
    Cloud,
}

/// Many docks upgrading at once against one cloud process.
#[derive(Debug, Parser)]
#[command(name = "ota-load")]
struct Cli {
    /// Which side this process plays.
    #[arg(long, value_enum)]
    role: Role,
    #[command(flatten)]
    conn: ConnArgs,
    /// How many docks (gateways), each with its own serial.
    #[arg(long, default_value_t = 1_000)]
    docks: usize,
    /// Gateway serials are this prefix and a five-digit number.
    #[arg(long, default_value = "LOAD")]
    prefix: String,
    /// Docks role: how many MQTT connections the docks share.
    #[arg(long, default_value_t = 20)]
    connections: usize,
    #[command(flatten)]
    firmware: FirmwareArgs,
    #[command(flatten)]
    tracker: TrackerArgs,
    #[command(flatten)]
    dock: DockArgs,
    /// Docks role: these docks (by number) refuse their first request as busy (312015).
    #[arg(long, value_name = "N,N,...", value_delimiter = ',')]
    busy_once: Vec<usize>,
    /// Docks role: these docks fail their upgrade halfway (312003).
    #[arg(long, value_name = "N,N,...", value_delimiter = ',')]
    failing: Vec<usize>,
    /// Docks role: these docks run --target-version already, and say so in state pushes.
    #[arg(long, value_name = "N,N,...", value_delimiter = ',')]
    at_target: Vec<usize>,
    /// The version the --at-target docks run.
    #[arg(long, default_value = "04.01.0020")]
    target_version: String,
    /// Cloud role: keep the tracker's state in this SQLite database (created; a task a
    /// row, committed once per batch of messages), as `ota-fleet` does; without it the
    /// cloud keeps nothing.
    #[arg(long, value_name = "DB")]
    state: Option<std::path::PathBuf>,
    /// Cloud role, with --state: messages waiting for a commit that make it due at once
    /// (`CloudConfig::commit_at_once`); keep it below the broker's limit of messages
    /// in flight to a client.
    #[arg(long, value_name = "N", default_value_t = 16)]
    commit_at_once: usize,
    /// Cloud role: awaits each start before asking the next (a commit each, with
    /// --state), where by default every start is asked at once and the starts that
    /// wait together share a commit.
    #[arg(long)]
    one_by_one: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let gateways: Result<Vec<Serial>, _> = (0..cli.docks)
        .map(|n| common::gateway(&format!("{}{n:05}", cli.prefix)))
        .collect();
    let gateways = match gateways {
        Ok(g) => g,
        Err(e) => {
            eprintln!("ota-load: --prefix: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let code = match cli.role {
        Role::Docks => docks(&cli, gateways).await,
        Role::Cloud => cloud(&cli, gateways).await,
    };
    ExitCode::from(code)
}

async fn docks(cli: &Cli, gateways: Vec<Serial>) -> u8 {
    let mut config = cli.dock.config();
    // Every event asks for a reply, so that every answer can be counted.
    config.need_reply = NeedReply::Every;
    let per_connection = gateways.len().div_ceil(cli.connections.max(1)).max(1);
    let until = Until {
        once: true,
        at_most: Some(cli.tracker.timeout()),
        linger: Duration::from_secs(60),
    };
    let mut runs = Vec::new();
    let mut ready = Vec::new();
    for (n, group) in gateways.chunks(per_connection).enumerate() {
        let mqtt = match cli.conn.config(&format!("ota-load-docks{n}"), None) {
            Ok(mqtt) => mqtt,
            Err(e) => {
                eprintln!("ota-load: {e}");
                return EXIT_USAGE;
            }
        };
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        ready.push(ready_rx);
        let first = n * per_connection;
        let sims: Vec<common::dock::SimDock> = group
            .iter()
            .enumerate()
            .map(|(i, gateway)| sim(cli, first + i, gateway, &config))
            .collect();
        let resend = cli.dock.resend();
        runs.push(tokio::spawn(async move {
            let ready = move || {
                let _ = ready_tx.send(());
            };
            common::dock::run(mqtt, sims, resend, until, false, ready).await
        }));
    }
    for signal in ready {
        if signal.await.is_err() {
            eprintln!("ota-load: a docks connection failed");
            return EXIT_BROKER;
        }
    }
    println!("ready docks={} connections={}", gateways.len(), runs.len());
    let mut total = Vec::new();
    for run in runs {
        match run.await {
            Ok(Ok(stats)) => total.push(stats),
            Ok(Err(e)) => {
                eprintln!("ota-load: {e}");
                return EXIT_BROKER;
            }
            Err(e) => {
                eprintln!("ota-load: {e}");
                return EXIT_BROKER;
            }
        }
    }
    let all = total.iter().fold(DockStats::default(), common::dock::add);
    println!("{}", common::dock::summary(&all));
    EXIT_OK
}

async fn cloud(cli: &Cli, gateways: Vec<Serial>) -> u8 {
    let mqtt = match cli.conn.config("ota-load-cloud", None) {
        Ok(mqtt) => mqtt,
        Err(e) => {
            eprintln!("ota-load: {e}");
            return EXIT_USAGE;
        }
    };
    let mut config = CloudConfig::new(mqtt, cli.tracker.config());
    // One subscription for every gateway, and every event answered.
    config.watch = Watch::AllGateways;
    config.commit_at_once = cli.commit_at_once;
    let spawned = match &cli.state {
        Some(path) => match SqliteStore::open(path) {
            Ok(store) => Cloud::spawn(config, store),
            Err(e) => {
                eprintln!("ota-load: {e}");
                return EXIT_USAGE;
            }
        },
        None => Cloud::spawn_without_store(config),
    };
    let (cloud, mut events) = match spawned {
        Ok(spawned) => spawned,
        Err(e) => {
            eprintln!("ota-load: {e}");
            return EXIT_USAGE;
        }
    };
    loop {
        match events.next().await {
            Some(CloudEvent::Connected { .. }) => break,
            Some(CloudEvent::Failed { reason }) => {
                eprintln!("ota-load: {reason}");
                return EXIT_BROKER;
            }
            None => return EXIT_BROKER,
            Some(_) => {}
        }
    }
    let began = StdInstant::now();
    // Every task asked for at once, as a server starting a fleet's tasks would: the
    // starts that wait together share a commit. One by one, each waits for its own.
    let mut starting = tokio::task::JoinSet::new();
    for gateway in &gateways {
        // Each dock's aircraft has a serial of its own, as real ones do: a device's
        // state is pushed on its serial's topic.
        let mut firmware = cli.firmware.clone();
        firmware.device = format!("{gateway}UAV");
        let (cloud, gateway) = (cloud.clone(), gateway.clone());
        starting.spawn(async move { cloud.start(gateway, firmware.devices()).await });
        if cli.one_by_one {
            // Awaited before the next is asked.
            if let Some(started) = starting.join_next().await {
                if let Err(e) = started.expect("a start does not panic") {
                    eprintln!("ota-load: {e}");
                    return EXIT_USAGE;
                }
            }
        }
    }
    while let Some(started) = starting.join_next().await {
        if let Err(e) = started.expect("a start does not panic") {
            eprintln!("ota-load: {e}");
            return EXIT_USAGE;
        }
    }
    println!("started tasks={}", gateways.len());
    let give_up = Instant::now() + cli.tracker.timeout();
    let mut report_at = Instant::now() + Duration::from_secs(5);
    let mut all_ended: Option<(Instant, Duration)> = None;
    let mut ended: HashMap<&'static str, u64> = HashMap::new();
    loop {
        let stop = all_ended.map_or(give_up, |(at, _)| {
            at + Duration::from_millis(cli.tracker.linger_ms)
        });
        tokio::select! {
            event = events.next() => match event {
                Some(CloudEvent::Update(update)) => {
                    if let Some(end) = end_of(&update.change) {
                        *ended.entry(end).or_default() += 1;
                    }
                }
                Some(CloudEvent::Disconnected { reason }) => eprintln!("connection lost: {reason}"),
                Some(CloudEvent::Failed { reason }) => {
                    eprintln!("ota-load: {reason}");
                    return EXIT_BROKER;
                }
                Some(_) => {}
                None => return EXIT_BROKER,
            },
            () = sleep_until(report_at) => {
                report_at += Duration::from_secs(5);
                println!("ended {}", ended.values().sum::<u64>());
            }
            () = sleep_until(stop) => break,
        }
        if all_ended.is_none() && ended.values().sum::<u64>() == gateways.len() as u64 {
            all_ended = Some((Instant::now(), began.elapsed()));
        }
    }
    let Ok(status) = cloud.status().await else {
        return EXIT_BROKER;
    };
    cloud.close().await;
    let c = &status.counters;
    let elapsed = all_ended.map_or(began.elapsed(), |(_, e)| e);
    let total_ended: u64 = ended.values().sum();
    let ok = ended.get("ok").copied().unwrap_or(0);
    let messages = c.received + c.published;
    let rate = messages as f64 / elapsed.as_secs_f64().max(1e-3);
    let mut ends: Vec<_> = ended.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    ends.sort();
    let mut pairs = vec![
        ("tasks", gateways.len().to_string()),
        ("ended", total_ended.to_string()),
        ("ok", ok.to_string()),
        ("ends", ends.join(",")),
        ("messages_in", c.received.to_string()),
        ("messages_out", c.published.to_string()),
        ("seconds", format!("{:.2}", elapsed.as_secs_f64())),
        ("msgs_per_s", format!("{rate:.0}")),
        ("remembered", status.ended.len().to_string()),
        (
            "db_bytes",
            cli.state.as_ref().map_or("none".into(), |path| {
                // The database and its write-ahead log.
                let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
                let mut wal = path.clone().into_os_string();
                wal.push("-wal");
                (size(path) + size(std::path::Path::new(&wal))).to_string()
            }),
        ),
    ];
    pairs.extend(common::cloud::counter_pairs(&status));
    println!("{}", common::summary(&pairs));
    if ok == gateways.len() as u64 {
        EXIT_OK
    } else if total_ended < gateways.len() as u64 {
        EXIT_TIMED_OUT
    } else {
        EXIT_TASK_FAILED
    }
}

/// How a change ends its task, if it does.
fn end_of(change: &Change) -> Option<&'static str> {
    Some(match change {
        Change::Finished { status, .. } if status.is_success() => "ok",
        Change::Finished { .. } => "failed",
        Change::Refused { .. } => "refused",
        Change::NoReply { .. } => "no_reply",
        Change::Silent { .. } => "silent",
        _ => return None,
    })
}

/// Dock number `n`, with the fault the command line gives it.
fn sim(cli: &Cli, n: usize, gateway: &Serial, config: &DockConfig) -> common::dock::SimDock {
    let mut config = config.clone();
    if cli.busy_once.contains(&n) {
        config.fault = Fault::RejectFirst {
            result: ResultCode(312015),
            times: 1,
        };
    }
    if cli.failing.contains(&n) {
        config.fault = Fault::FailAt {
            step: Step::UpgradeFirmware,
            percent: 50,
            result: ResultCode(312003),
        };
    }
    let at_target = cli.at_target.contains(&n);
    common::dock::SimDock {
        gateway: gateway.clone(),
        config,
        devices: if at_target {
            vec![(gateway.clone(), cli.target_version.clone())]
        } else {
            Vec::new()
        },
        expects_task: !at_target,
    }
}
