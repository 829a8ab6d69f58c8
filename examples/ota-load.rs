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

mod common;

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant as StdInstant};

use clap::{Parser, ValueEnum};
use common::dock::Until;
use common::mqtt::{ConnArgs, Connection, Incoming};
use common::{
    DockArgs, EXIT_BROKER, EXIT_OK, EXIT_TASK_FAILED, EXIT_TIMED_OUT, EXIT_USAGE, FirmwareArgs,
    TrackerArgs,
};
use dji_cloud_ota::dock::{DockStats, NeedReply};
use dji_cloud_ota::tracker::{Change, Tracker};
use dji_cloud_ota::{Serial, TopicKind, now_millis};
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
    let mut connections = Vec::new();
    for (n, group) in gateways.chunks(per_connection).enumerate() {
        let options = match cli.conn.options(&format!("ota-load-docks{n}")) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("ota-load: {e}");
                return EXIT_USAGE;
            }
        };
        let mut conn = Connection::open(options, common::dock::filters(group), 1_024);
        if let Err(e) = conn.ready().await {
            eprintln!("ota-load: {e}");
            return EXIT_BROKER;
        }
        connections.push((conn, group.to_vec()));
    }
    println!(
        "ready docks={} connections={}",
        gateways.len(),
        connections.len()
    );
    let until = Until {
        once: true,
        at_most: Some(cli.tracker.timeout()),
        linger: Duration::from_secs(60),
    };
    let runs: Vec<_> = connections
        .into_iter()
        .map(|(conn, group)| {
            let config = config.clone();
            tokio::spawn(async move { common::dock::run(conn, group, &config, until, false).await })
        })
        .collect();
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

/// What the cloud counted.
#[derive(Debug, Default)]
struct Counts {
    messages_in: u64,
    messages_out: u64,
    events: u64,
    set_aside: common::SetAside,
    retries: u64,
    ended: HashMap<&'static str, u64>,
    max_in_flight: usize,
}

async fn cloud(cli: &Cli, gateways: Vec<Serial>) -> u8 {
    let options = match cli.conn.options("ota-load-cloud") {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ota-load: {e}");
            return EXIT_USAGE;
        }
    };
    let filters = [TopicKind::ServicesReply, TopicKind::Events].map(TopicKind::wildcard_filter);
    let mut conn = Connection::open(options, filters.to_vec(), 4_096);
    if let Err(e) = conn.ready().await {
        eprintln!("ota-load: {e}");
        return EXIT_BROKER;
    }
    let mut tracker = Tracker::new(cli.tracker.config());
    let mut counts = Counts::default();
    let began = StdInstant::now();
    for gateway in &gateways {
        let started = match tracker.start(gateway.clone(), cli.firmware.devices(), now_millis()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("ota-load: {e}");
                return EXIT_USAGE;
            }
        };
        counts.messages_out += 1;
        if !conn.publish(&started.request).await {
            return EXIT_BROKER;
        }
    }
    counts.max_in_flight = tracker.len();
    println!("started tasks={}", gateways.len());
    let give_up = Instant::now() + cli.tracker.timeout();
    let mut report_at = Instant::now() + Duration::from_secs(5);
    let mut all_ended: Option<(Instant, Duration)> = None;
    loop {
        let stop = all_ended.map_or(give_up, |(at, _)| {
            at + Duration::from_millis(cli.tracker.linger_ms)
        });
        let next_poll = tracker.next_deadline().map(common::instant_at);
        let output = tokio::select! {
            item = conn.incoming.recv() => match item {
                Some(Incoming::Message(message)) => {
                    counts.messages_in += 1;
                    if message.topic().kind == TopicKind::Events {
                        counts.events += 1;
                    }
                    tracker.handle(&message, now_millis())
                }
                Some(Incoming::Lost { reason, fatal }) => {
                    eprintln!("connection lost: {reason}");
                    if fatal {
                        return EXIT_BROKER;
                    }
                    continue;
                }
                Some(Incoming::Ready | Incoming::Undecodable(..)) => continue,
                None => return EXIT_BROKER,
            },
            () = sleep_until(next_poll.unwrap_or(stop)), if next_poll.is_some() => tracker.poll(now_millis()),
            () = sleep_until(report_at) => {
                report_at += Duration::from_secs(5);
                println!("in flight {} ended {}", tracker.len(), counts.ended.values().sum::<u64>());
                continue;
            }
            () = sleep_until(stop) => break,
        };
        for message in &output.publish {
            counts.messages_out += 1;
            if !conn.publish(message).await {
                return EXIT_BROKER;
            }
        }
        for update in output.updates {
            count(&update.change, &mut counts);
        }
        if tracker.is_empty() && all_ended.is_none() {
            all_ended = Some((Instant::now(), began.elapsed()));
        }
    }
    let elapsed = all_ended.map_or(began.elapsed(), |(_, e)| e);
    let ended: u64 = counts.ended.values().sum();
    let ok = counts.ended.get("ok").copied().unwrap_or(0);
    let messages = counts.messages_in + counts.messages_out;
    let rate = messages as f64 / elapsed.as_secs_f64().max(1e-3);
    let mut ends: Vec<_> = counts
        .ended
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect();
    ends.sort();
    let mut pairs = vec![
        ("tasks", gateways.len().to_string()),
        ("ended", ended.to_string()),
        ("ok", ok.to_string()),
        ("ends", ends.join(",")),
        ("events", counts.events.to_string()),
        ("retries", counts.retries.to_string()),
        ("messages_in", counts.messages_in.to_string()),
        ("messages_out", counts.messages_out.to_string()),
        ("seconds", format!("{:.2}", elapsed.as_secs_f64())),
        ("msgs_per_s", format!("{rate:.0}")),
        ("max_in_flight", counts.max_in_flight.to_string()),
        ("remembered", tracker.remembered().to_string()),
        (
            "peak_rss_kib",
            common::peak_rss_kib().map_or("unknown".into(), |k| k.to_string()),
        ),
    ];
    pairs.extend(counts.set_aside.pairs());
    println!("{}", common::summary(&pairs));
    conn.close().await;
    if ok == gateways.len() as u64 {
        EXIT_OK
    } else if ended < gateways.len() as u64 {
        EXIT_TIMED_OUT
    } else {
        EXIT_TASK_FAILED
    }
}

fn count(change: &Change, counts: &mut Counts) {
    let end = match change {
        Change::Finished { status, .. } if status.is_success() => "ok",
        Change::Finished { .. } => "failed",
        Change::Refused { .. } => "refused",
        Change::NoReply { .. } => "no_reply",
        Change::Silent { .. } => "silent",
        Change::Retried { .. } => {
            counts.retries += 1;
            return;
        }
        Change::Ignored(why) => {
            counts.set_aside.count(why);
            return;
        }
        Change::Accepted { .. } | Change::Progress { .. } => return,
    };
    *counts.ended.entry(end).or_default() += 1;
}
