//! `ota-fleet`: upgrades a fleet of docks in waves over MQTT, with the runtime crate's
//! `Cloud` following a rollout kept in an SQLite database.
//!
//! ```sh
//! cargo run --example ota-fleet -- run --broker 127.0.0.1:1883 \
//!     --fleet fleet.csv --firmware firmware.json --state fleet.db \
//!     --canary 5 --max-in-flight 50 --abort-failed-percent 10 --abort-min-finished 20
//! cargo run --example ota-fleet -- status --state fleet.db --json
//! ```
//!
//! `FLEET.csv` has a header line `gateway,sn,model`, then a device a line (a dock's own
//! row has `sn` equal to `gateway`; the canary is the first N gateways in file order).
//! `FIRMWARE.json` is an object keyed by model, each value `{"version", "url", "md5",
//! "size", "file_name", "upgrade_type"}`.
//!
//! Killed and started again with the same `--state`, `run` takes the rollout up where it
//! was: the files are read again and must agree with what the state holds (it says how
//! they differ otherwise, and exits 2); the policy options given replace the saved ones,
//! those not given keep them. A rollout the failure threshold stopped stays stopped
//! (exit 4 at once) until taken up with `--resume`, which starts it again (the tasks
//! finished so far no longer count toward the threshold), or `--cancel`, which cancels
//! its waiting devices (exit 1 if any). The MQTT session is persistent, under the client id
//! `ota-fleet-<name>` unless `--client-id` names another, so that what the docks sent
//! meanwhile is delivered.
//!
//! `status` reads the same database, also while `run` is going on.
//!
//! # On PostgreSQL, as a group of processes
//! `--postgres URL` keeps the rollout in PostgreSQL instead of `--state DB` (the URL
//! may also come from the environment, `OTA_POSTGRES_URL`; a password is taken from
//! `PGPASSWORD` or from `OTA_POSTGRES_URL`, never from the command line, and is never
//! printed). With `--group NAME` as well, the process joins a group: start the same
//! command on several machines (or several times on one) and they share the rollout,
//! each handling the messages the broker hands it through the shared subscriptions
//! `$share/NAME/...`, one of them (the holder of the group's lease) starting the tasks
//! and judging the deadlines; when it dies, another takes over within 12 s. Each uses
//! the client id `<client id>-<instance>` (the instance is `--instance`, by default
//! the process id) with a clean session, and each exits with the rollout's exit status
//! once it has ended.
//!
//! ```sh
//! export OTA_POSTGRES_URL=postgres://ota@db.internal/fleet PGPASSWORD=...
//! cargo run --example ota-fleet -- run --broker 127.0.0.1:1883 --group fleet-a \
//!     --fleet fleet.csv --firmware firmware.json --max-in-flight 50   # on each machine
//! cargo run --example ota-fleet -- status --json                      # reads the database
//! ```
//!
//! With `--metrics ADDR` (`127.0.0.1:9464`, say; port 0 takes a free one), `run` serves
//! the cloud driver's metrics at `http://ADDR/metrics` in the OpenMetrics text format
//! (tasks in flight by step, messages, commits and their latency, acknowledgements
//! held, the outbox, the connection, the rollout's devices by outcome: see the runtime
//! crate's `metrics` module), and prints `metrics at http://ADDR/metrics` once it
//! listens.
//!
//! Exit status of `run`: 0 every device ended ok or skipped; 1 the rollout finished with
//! failures (or was cancelled); 2 bad input (nothing started); 3 the broker could not be
//! reached or refused the login; 4 the failure threshold stopped the rollout.

mod common;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use clap::{Args, Parser, Subcommand};
use common::fleet::{status_json, status_text};
use common::mqtt::ConnArgs;
use dji_cloud_ota::rollout::{Policy, Rollout};
use dji_cloud_ota::tracker::TrackerConfig;
use dji_cloud_ota_mqtt::metrics::CONTENT_TYPE;
use dji_cloud_ota_mqtt::{
    Cloud, CloudConfig, CloudEvent, CloudMetrics, GroupConfig, PgStore, RolloutControl,
    SqliteStore, Store,
};

use common::fleet::{EXIT_BROKER, EXIT_INPUT, EXIT_OK};

/// Upgrades a fleet of docks in waves, or shows how a rollout stands.
#[derive(Debug, Parser)]
#[command(name = "ota-fleet")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the rollout (or takes it up again) until it ends.
    Run(Box<RunArgs>),
    /// Shows a rollout's devices and counts from its database.
    Status(StatusArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    conn: ConnArgs,
    /// The devices: a header line `gateway,sn,model`, then a device a line.
    #[arg(long, value_name = "FLEET.csv")]
    fleet: PathBuf,
    /// The firmware of each model, as JSON.
    #[arg(long, value_name = "FIRMWARE.json")]
    firmware: PathBuf,
    #[command(flatten)]
    db: DbArgs,
    /// Joins the group NAME of processes sharing the rollout (needs PostgreSQL).
    #[arg(long, value_name = "NAME", requires = "postgres")]
    group: Option<String>,
    /// This process's name in the group (default: its process id).
    #[arg(long, value_name = "NAME", requires = "group")]
    instance: Option<String>,
    /// The rollout's name in the database.
    #[arg(long, default_value = "fleet")]
    name: String,
    #[command(flatten)]
    policy: PolicyArgs,
    /// How long to wait for the reply to ota_create before sending it again, in ms.
    #[arg(long, default_value_t = 3_000)]
    reply_timeout_ms: u64,
    /// How long an accepted task may send no event before it fails, in ms.
    #[arg(long, default_value_t = 300_000)]
    silence_timeout_ms: u64,
    /// Messages waiting for a commit that make it due at once; keep it below the
    /// broker's limit of messages in flight to a client (Mosquitto's
    /// max_inflight_messages, 20 by default).
    #[arg(long, value_name = "N", default_value_t = 16)]
    commit_at_once: usize,
    /// Serves the metrics at http://ADDR/metrics (OpenMetrics text) while it runs.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Takes up a rollout the failure threshold stopped and starts again: the tasks
    /// finished so far no longer count toward the threshold.
    #[arg(long, conflicts_with = "cancel")]
    resume: bool,
    /// Takes up the rollout and cancels it: no new start, ever; the waiting devices end
    /// cancelled (exit status 1 if any did), the tasks in flight run to their end.
    #[arg(long)]
    cancel: bool,
}

/// The policy; an option not given keeps the saved value (or the default).
#[derive(Debug, Args)]
struct PolicyArgs {
    /// The first N gateways start first; the rest once all their tasks have ended.
    #[arg(long, value_name = "N")]
    canary: Option<usize>,
    /// At most M tasks in flight (default 50).
    #[arg(long, value_name = "M")]
    max_in_flight: Option<usize>,
    /// At most R starts, retries included, in any minute.
    #[arg(long, value_name = "R")]
    max_starts_per_minute: Option<u32>,
    /// Stops new starts when more than P % of the finished tasks failed.
    #[arg(long, value_name = "P")]
    abort_failed_percent: Option<u32>,
    /// ... once K tasks have finished (default 1).
    #[arg(long, value_name = "K")]
    abort_min_finished: Option<usize>,
    /// A dock that answered "later" (busy, battery low, ...) or never answered is tried
    /// again after this many ms (default 60000).
    #[arg(long, value_name = "MS")]
    retry_after_ms: Option<u64>,
    /// ... at most N more times (default 3).
    #[arg(long, value_name = "N")]
    retry_limit: Option<u32>,
}

impl PolicyArgs {
    /// `base` with the options given.
    fn apply(&self, base: Policy) -> Policy {
        Policy {
            canary: self.canary.unwrap_or(base.canary),
            max_in_flight: self.max_in_flight.unwrap_or(base.max_in_flight),
            max_starts_per_minute: self.max_starts_per_minute.or(base.max_starts_per_minute),
            abort_failed_percent: self.abort_failed_percent.or(base.abort_failed_percent),
            abort_min_finished: self.abort_min_finished.unwrap_or(base.abort_min_finished),
            retry_after_ms: self.retry_after_ms.unwrap_or(base.retry_after_ms),
            retry_limit: self.retry_limit.unwrap_or(base.retry_limit),
        }
    }
}

/// Where the rollout is kept: an SQLite file, or a PostgreSQL database.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct DbArgs {
    /// The SQLite database the rollout and the tasks are kept in.
    #[arg(long, value_name = "DB")]
    state: Option<PathBuf>,
    /// The PostgreSQL database instead (a postgres:// URL or libpq's key=value
    /// pairs, without a password: PGPASSWORD gives it).
    #[arg(
        long,
        value_name = "URL",
        env = "OTA_POSTGRES_URL",
        hide_env_values = true
    )]
    postgres: Option<String>,
}

impl DbArgs {
    /// Opens the database, for reading and writing or only reading.
    fn open(&self, write: bool) -> Result<Db, String> {
        match (&self.state, &self.postgres) {
            (Some(path), _) => {
                let store = if write {
                    SqliteStore::open(path)
                } else {
                    SqliteStore::open_read_only(path)
                };
                store.map(Db::Sqlite).map_err(|e| e.to_string())
            }
            (None, Some(params)) => {
                if from_command_line("postgres") && has_password(params) {
                    return Err(
                        "--postgres: no password on the command line (anyone on the \
                        machine can read it): give it in PGPASSWORD, or the whole URL in \
                        OTA_POSTGRES_URL"
                            .into(),
                    );
                }
                let password = std::env::var("PGPASSWORD").unwrap_or_default();
                PgStore::connect_with_password(params, &password)
                    .map(Db::Postgres)
                    .map_err(|e| e.to_string())
            }
            (None, None) => Err("--state DB or --postgres URL is needed".into()),
        }
    }
}

/// True when the option `--name` was given on the command line (not taken from the
/// environment).
fn from_command_line(name: &str) -> bool {
    let flag = format!("--{name}");
    std::env::args().any(|a| a == flag || a.starts_with(&format!("{flag}=")))
}

/// True when the connection parameters hold a password.
fn has_password(params: &str) -> bool {
    params
        .parse::<postgres::Config>()
        .is_ok_and(|c| c.get_password().is_some())
}

/// The rollout's database.
enum Db {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Db {
    fn store(&self) -> &dyn Store {
        match self {
            Db::Sqlite(store) => store,
            Db::Postgres(store) => store,
        }
    }

    fn describe(&self) -> String {
        match self {
            Db::Sqlite(store) => store.path().display().to_string(),
            Db::Postgres(store) => store.to_string(),
        }
    }
}

#[derive(Debug, Args)]
struct StatusArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The rollout's name in the database.
    #[arg(long, default_value = "fleet")]
    name: String,
    /// One JSON document: `rollout` (its name), `state` (running, paused, aborted,
    /// cancelled), `verdict` (null until it ended, then success, failures or aborted),
    /// `counts` by outcome, and `devices` (gateway, sn, model, outcome, result,
    /// attempts, started_ms, ended_ms).
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Status(args) => status(&args),
        Command::Run(args) => tokio::runtime::Runtime::new()
            .map_err(|e| e.to_string())
            .map_or_else(
                |e| {
                    eprintln!("ota-fleet: {e}");
                    EXIT_INPUT
                },
                |runtime| runtime.block_on(run(*args)),
            ),
    };
    ExitCode::from(code)
}

fn status(args: &StatusArgs) -> u8 {
    let db = match args.db.open(false) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("ota-fleet: {e}");
            return EXIT_INPUT;
        }
    };
    match db.store().load_rollout(&args.name) {
        Ok(Some(saved)) => {
            // How it ended, if it did: the rollout's own reckoning of its rows.
            let verdict = Rollout::restore(saved.plan(), saved.snapshot.clone())
                .ok()
                .and_then(|rollout| rollout.verdict());
            let text = if args.json {
                format!("{}\n", status_json(&args.name, &saved.snapshot, verdict))
            } else {
                status_text(&args.name, &saved.snapshot, verdict)
            };
            // A reader that stops early (`| head`) is not an error.
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            EXIT_OK
        }
        Ok(None) => {
            eprintln!(
                "ota-fleet: {} holds no rollout named {:?}",
                db.describe(),
                args.name
            );
            EXIT_INPUT
        }
        Err(e) => {
            eprintln!("ota-fleet: {e}");
            EXIT_INPUT
        }
    }
}

async fn run(args: RunArgs) -> u8 {
    if args.group.is_some() && args.db.postgres.is_none() {
        eprintln!(
            "ota-fleet: --group needs --postgres: a group shares its rollout through PostgreSQL"
        );
        return EXIT_INPUT;
    }
    // Everything is read and checked before anything connects or starts, and before
    // the database is opened (which creates an SQLite file).
    let inputs = match common::fleet::read(&args.fleet, &args.firmware) {
        Ok(inputs) => inputs,
        Err(e) => {
            eprintln!("ota-fleet: {e}");
            return EXIT_INPUT;
        }
    };
    // The devices, firmware and options alone, whatever a saved rollout holds: the
    // options not given take their defaults here, which are valid.
    if let Err(e) = Rollout::new(inputs.plan(args.policy.apply(Policy::default()))) {
        eprintln!("ota-fleet: {}", inputs.explain(&e));
        return EXIT_INPUT;
    }
    let (control, flag) = match (args.resume, args.cancel) {
        (true, _) => (Some(RolloutControl::Resume), "--resume"),
        (_, true) => (Some(RolloutControl::Cancel), "--cancel"),
        _ => (None, ""),
    };
    if let Some(path) = args
        .db
        .state
        .as_ref()
        .filter(|p| control.is_some() && !p.exists())
    {
        eprintln!(
            "ota-fleet: {flag}: {} does not exist: no rollout to take up",
            path.display()
        );
        return EXIT_INPUT;
    }
    let db = match args.db.open(true) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("ota-fleet: {e}");
            return EXIT_INPUT;
        }
    };
    let saved = match db.store().load_rollout(&args.name) {
        Ok(saved) => saved,
        Err(e) => {
            eprintln!("ota-fleet: {e}");
            return EXIT_INPUT;
        }
    };
    if control.is_some() && saved.is_none() {
        eprintln!(
            "ota-fleet: {flag}: {} holds no rollout named {:?} to take up",
            db.describe(),
            args.name
        );
        return EXIT_INPUT;
    }
    let base = saved
        .as_ref()
        .map_or_else(Policy::default, |s| s.policy.clone());
    let plan = inputs.plan(args.policy.apply(base));
    let checked = match &saved {
        Some(saved) => Rollout::restore(plan.clone(), saved.snapshot.clone())
            .err()
            .map(|e| inputs.differences(&saved.firmware, Some(&e)))
            .unwrap_or_else(|| inputs.differences(&saved.firmware, None)),
        None => Rollout::new(plan.clone()).err().map(|e| inputs.explain(&e)),
    };
    if let Some(problem) = checked {
        eprintln!("ota-fleet: {problem}");
        return EXIT_INPUT;
    }
    let mqtt = match args
        .conn
        .config("ota-fleet", Some(format!("ota-fleet-{}", args.name)))
    {
        Ok(mqtt) => mqtt,
        Err(e) => {
            eprintln!("ota-fleet: {e}");
            return EXIT_INPUT;
        }
    };
    // In a group, a client id of each process's own, and a clean session (the
    // runtime's `group` module says why).
    let instance = args
        .instance
        .clone()
        .unwrap_or_else(|| std::process::id().to_string());
    let mqtt = match &args.group {
        Some(_) => {
            let id = format!("{}-{instance}", mqtt.client_id);
            let mut grouped = mqtt.with_persistent_session(false);
            grouped.client_id = id;
            grouped
        }
        None => mqtt,
    };
    // Bound before anything connects: an address in use is bad input.
    let listener = match args.metrics {
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => Some(listener),
            Err(e) => {
                eprintln!("ota-fleet: cannot serve the metrics on {addr}: {e}");
                return EXIT_INPUT;
            }
        },
        None => None,
    };
    println!("connecting to {}", mqtt.describe());
    println!("rollout kept in {}", db.describe());
    let tracker = TrackerConfig {
        reply_timeout_ms: args.reply_timeout_ms,
        silence_timeout_ms: Some(args.silence_timeout_ms),
        ..TrackerConfig::default()
    };
    let mut config = CloudConfig::new(mqtt, tracker);
    config.commit_at_once = args.commit_at_once;
    let spawned = match (db, &args.group) {
        (Db::Sqlite(store), _) => Cloud::spawn(config, store),
        (Db::Postgres(store), None) => Cloud::spawn(config, store),
        (Db::Postgres(store), Some(group)) => {
            println!("in group {group} as {instance}");
            Cloud::spawn_in_group(config, store, GroupConfig::new(group.clone(), instance))
        }
    };
    let (cloud, mut events) = match spawned {
        Ok(spawned) => spawned,
        Err(e) => {
            eprintln!("ota-fleet: {e}");
            return EXIT_INPUT;
        }
    };
    if let Some(listener) = listener {
        serve_metrics(listener, cloud.metrics());
    }
    // Connected first: a wrong address or login is said at once.
    loop {
        match events.next().await {
            Some(CloudEvent::Connected { .. }) => break,
            Some(CloudEvent::Failed { reason }) => {
                eprintln!("ota-fleet: {reason}");
                return EXIT_BROKER;
            }
            Some(_) => {}
            None => return EXIT_BROKER,
        }
    }
    let resumed = saved.is_some();
    common::fleet::follow(cloud, events, &args.name, plan, resumed, control).await
}

/// Serves `metrics` at `/metrics` on `listener`, in a task of its own, for as long as
/// the process runs.
fn serve_metrics(listener: tokio::net::TcpListener, metrics: CloudMetrics) {
    if let Ok(addr) = listener.local_addr() {
        println!("metrics at http://{addr}/metrics");
    }
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(metrics);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("ota-fleet: the metrics server stopped: {e}");
        }
    });
}

/// `GET /metrics`.
async fn scrape(State(metrics): State<CloudMetrics>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.text())
}
