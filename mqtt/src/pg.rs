//! A PostgreSQL database (feature `postgres`): the same rows as [`crate::SqliteStore`],
//! on a server that several processes can reach.
//!
//! [`PgStore`] is a [`Store`] for the cloud driver: a row per task (a [`TaskRecord`],
//! in flight or ended), a row per rollout and one per rollout device
//! ([`DeviceRecord`]), and the tracker's counters, each commit one transaction that
//! writes the rows that changed ([`Tracker::take_changes`],
//! [`Rollout::take_changes`]): the tasks in one statement, the devices of each rollout
//! in one more, whatever their number. Once a commit returns, PostgreSQL has made it
//! durable (its default `synchronous_commit`); one that fails leaves the rows as they
//! were before it. Ended tasks keep their rows ([`PgStore::tasks_of_gateway`],
//! [`PgStore::task`]).
//!
//! The tables are named `ota_*`, so that the database may hold others'. The schema has
//! a version (the table `ota_schema`): connecting to a database of an older version
//! brings it up to date in one transaction, under an advisory lock so that processes
//! started together migrate it once, and a database of a newer version is refused
//! rather than misread.
//!
//! The connection is one client on a thread of the store's own (the `postgres`
//! crate's, on `tokio-postgres`): the [`Store`] calls block the caller until the
//! server has answered, wherever they are made, within the driver's tokio runtime too.
//! When the connection is lost, the call that finds it lost fails (the driver commits
//! again later) and the next one connects anew. The connection is not encrypted: use
//! it on the loopback, a private network or a Unix socket (`host=/var/run/postgresql`).
//!
//! ```no_run
//! use dji_cloud_ota_mqtt::{PgStore, Store};
//!
//! // The password from the environment, never from the command line.
//! let password = std::env::var("PGPASSWORD").unwrap_or_default();
//! let store = PgStore::connect_with_password("postgres://ota@db.internal/fleet", &password)?;
//! println!("{store}"); // postgres://ota@db.internal/fleet: no password shown
//! let saved = store.load()?; // the tracker's state, if any was ever committed
//! # Ok::<(), dji_cloud_ota_mqtt::StoreError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use dji_cloud_ota::Text;
use dji_cloud_ota::rollout::{
    Changes, DeviceRecord, Firmware, Policy, Rollout, RolloutHeader, RolloutPlan, RolloutSnapshot,
};
#[cfg(doc)]
use dji_cloud_ota::tracker::Tracker;
use dji_cloud_ota::tracker::{Counters, TaskKey, TaskRecord, TrackerConfig, TrackerSnapshot};
use postgres::{Client, Config, GenericClient, NoTls, Row, Transaction};

use crate::cloud::RolloutControl;
use crate::rows::{DEVICE_COLUMNS, DeviceRow, DeviceValues, json, parse_state};
use crate::sqlite::SavedRollout;
use crate::store::{Commit, Store, StoreError};

/// The schema, one step per version: step `i` brings a database of version `i` to
/// `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: rollouts, one row per device; the tracker's tasks, one row each; its counters.
    "CREATE TABLE ota_rollouts (
        name text PRIMARY KEY,
        firmware text NOT NULL,
        policy text NOT NULL,
        state text NOT NULL,
        began_ms bigint,
        recent_starts text NOT NULL,
        threshold_ok bigint NOT NULL,
        threshold_failed bigint NOT NULL
    );
    CREATE TABLE ota_rollout_devices (
        rollout text NOT NULL REFERENCES ota_rollouts (name),
        position bigint NOT NULL,
        gateway text NOT NULL,
        sn text NOT NULL,
        model text NOT NULL,
        outcome text NOT NULL,
        result bigint,
        attempts bigint NOT NULL,
        task text,
        retry_at_ms bigint,
        started_ms bigint,
        ended_ms bigint,
        reported_version text,
        PRIMARY KEY (rollout, position)
    );
    CREATE INDEX ota_rollout_devices_by_gateway ON ota_rollout_devices (gateway, rollout);
    CREATE SEQUENCE ota_task_seq;
    CREATE TABLE ota_tasks (
        gateway text NOT NULL,
        bid text NOT NULL,
        ended boolean NOT NULL,
        ending text,
        seq bigint NOT NULL,
        record text NOT NULL,
        PRIMARY KEY (gateway, bid)
    );
    CREATE INDEX ota_tasks_by_state ON ota_tasks (ended, seq);
    CREATE TABLE ota_tracker_counters (
        id integer PRIMARY KEY CHECK (id = 1),
        counters text NOT NULL
    );",
    // 2: what several processes sharing the database need: when each task in flight
    // is next due (the tracker's deadlines, judged by one of them), one task in flight
    // per gateway whoever starts it, and the leases of the work done once.
    "ALTER TABLE ota_tasks ADD COLUMN due_ms bigint;
    CREATE INDEX ota_tasks_due ON ota_tasks (due_ms) WHERE NOT ended;
    CREATE UNIQUE INDEX ota_tasks_one_per_gateway ON ota_tasks (gateway) WHERE NOT ended;
    ALTER TABLE ota_rollouts ADD COLUMN control text;
    CREATE TABLE ota_leases (
        name text PRIMARY KEY,
        holder text NOT NULL,
        expires_at timestamptz NOT NULL
    );",
    // 3: a rollout's `control` holds every control asked and not applied yet, in the
    // order asked, separated by commas, where it held one: a process of an earlier
    // version, which would read one and drop the others, refuses the database.
    "COMMENT ON COLUMN ota_rollouts.control IS
        'the controls asked and not applied yet, in order, separated by commas';",
];

/// The key of the advisory lock held while the schema is checked and brought up to
/// date ("dji-ota" in ASCII).
const MIGRATION_LOCK: i64 = 0x0064_6a69_2d6f_7461;

/// Fleet rollouts and the tracker's tasks in PostgreSQL. See the
/// [module documentation](self).
pub struct PgStore {
    /// Where it connects, without the password: for messages.
    target: String,
    jobs: Mutex<Sender<Job>>,
    worker: Option<JoinHandle<()>>,
}

/// What the store's thread runs: with the client, or the error of connecting.
type Job = Box<dyn FnOnce(Result<&mut Client, &postgres::Error>) + Send>;

impl PgStore {
    /// The schema version this crate writes.
    pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

    /// How many ended tasks [`Store::load`] reads back, the latest, as
    /// [`crate::SqliteStore::ENDED_READ_BACK`].
    pub const ENDED_READ_BACK: usize = crate::SqliteStore::ENDED_READ_BACK;

    /// Connects to the database that `params` names (a `postgres://` URL or libpq's
    /// `key=value` pairs), and brings its schema up to date.
    ///
    /// # Errors
    /// [`StoreError::Server`] when `params` cannot be read, the server cannot be
    /// reached or refuses; [`StoreError::NewerSchema`] when a newer version of this
    /// crate wrote the database.
    pub fn connect(params: &str) -> Result<Self, StoreError> {
        let config: Config = params.parse().map_err(|e| StoreError::Server {
            server: "postgres".into(),
            reason: format!("cannot read the connection parameters: {e}"),
        })?;
        Self::start(config)
    }

    /// As [`PgStore::connect`], with the password given apart from `params` (from the
    /// environment or a secret file, rather than a command line); an empty password
    /// leaves `params`' own, if any.
    ///
    /// # Errors
    /// As [`PgStore::connect`].
    pub fn connect_with_password(params: &str, password: &str) -> Result<Self, StoreError> {
        let mut config: Config = params.parse().map_err(|e| StoreError::Server {
            server: "postgres".into(),
            reason: format!("cannot read the connection parameters: {e}"),
        })?;
        if !password.is_empty() {
            config.password(password);
        }
        Self::start(config)
    }

    fn start(config: Config) -> Result<Self, StoreError> {
        let target = describe(&config);
        let (jobs, queue) = mpsc::channel::<Job>();
        let worker = std::thread::Builder::new()
            .name("ota-postgres".into())
            .spawn(move || serve(config, queue))
            .map_err(|e| StoreError::Server {
                server: target.clone(),
                reason: format!("cannot start the store's thread: {e}"),
            })?;
        let store = Self {
            target,
            jobs: Mutex::new(jobs),
            worker: Some(worker),
        };
        store.run(migrate)?;
        Ok(store)
    }

    /// Runs `f` with the client on the store's thread, and waits for it.
    fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<R, Failure> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let outcome = match self.submit(f, move |result| {
            let _ = reply.send(result);
        }) {
            Ok(()) => answer.recv().unwrap_or_else(|_| Err(stopped())),
            Err(failure) => Err(failure),
        };
        outcome.map_err(|failure| failure.into_error(&self.target))
    }

    /// Runs `f` in one transaction on the store's thread, committed once it returns
    /// `Ok` (rolled back otherwise), and waits for it without blocking the caller's
    /// thread: for the drivers of a group.
    pub(crate) async fn transaction<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<R, Failure> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let in_transaction = move |client: &mut Client| {
            let mut tx = client.transaction()?;
            let out = f(&mut tx)?;
            tx.commit()?;
            Ok(out)
        };
        let outcome = match self.submit(in_transaction, move |result| {
            let _ = reply.send(result);
        }) {
            Ok(()) => answer.await.unwrap_or_else(|_| Err(stopped())),
            Err(failure) => Err(failure),
        };
        outcome.map_err(|failure| failure.into_error(&self.target))
    }

    /// Hands `f` to the store's thread, which gives `answer` what it returned (or why
    /// it could not run it).
    fn submit<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<R, Failure> + Send + 'static,
        answer: impl FnOnce(Result<R, Failure>) + Send + 'static,
    ) -> Result<(), Failure> {
        let job: Job = Box::new(move |client| {
            answer(match client {
                Ok(client) => f(client),
                Err(e) => Err(Failure::Connect(e.to_string())),
            });
        });
        self.jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .send(job)
            .map_err(|_| stopped())
    }

    /// The task of `gateway` with business id `bid`, in flight or ended, as last
    /// committed.
    ///
    /// # Errors
    /// [`StoreError::Server`].
    pub fn task(&self, gateway: &str, bid: &str) -> Result<Option<TaskRecord>, StoreError> {
        let (gateway, bid) = (gateway.to_owned(), bid.to_owned());
        self.run(move |client| {
            let rows = client.query(
                "SELECT gateway, bid, record FROM ota_tasks WHERE gateway = $1 AND bid = $2",
                &[&gateway, &bid],
            )?;
            Ok(task_records(&rows)?.pop())
        })
    }

    /// Every task of `gateway` the database holds, in flight or ended, in the order
    /// they were last started or ended: the oldest first.
    ///
    /// # Errors
    /// [`StoreError::Server`].
    pub fn tasks_of_gateway(&self, gateway: &str) -> Result<Vec<TaskRecord>, StoreError> {
        let gateway = gateway.to_owned();
        self.run(move |client| {
            let rows = client.query(
                "SELECT gateway, bid, record FROM ota_tasks WHERE gateway = $1 ORDER BY seq",
                &[&gateway],
            )?;
            task_records(&rows)
        })
    }

    /// The names of the rollouts held, sorted.
    ///
    /// # Errors
    /// [`StoreError::Server`].
    pub fn rollouts(&self) -> Result<Vec<String>, StoreError> {
        self.run(|client| {
            let rows = client.query("SELECT name FROM ota_rollouts ORDER BY name", &[])?;
            Ok(rows.iter().map(|row| row.get(0)).collect())
        })
    }

    /// The rows of the devices behind `gateway`, in every rollout: `(rollout, row)`,
    /// by rollout name then position.
    ///
    /// # Errors
    /// [`StoreError::Server`].
    pub fn devices_of_gateway(
        &self,
        gateway: &str,
    ) -> Result<Vec<(String, DeviceRecord)>, StoreError> {
        let gateway = gateway.to_owned();
        self.run(move |client| {
            let rows = client.query(
                &format!(
                    "SELECT rollout, {DEVICE_COLUMNS} FROM ota_rollout_devices
                     WHERE gateway = $1 ORDER BY rollout, position"
                ),
                &[&gateway],
            )?;
            rows.iter()
                .map(|row| Ok((row.get(0), device_row(row, 1)?)))
                .collect()
        })
    }
}

impl fmt::Display for PgStore {
    /// Where it connects, without the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.target)
    }
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Closing the queue ends the thread, which closes the connection.
        let (closed, _) = mpsc::channel();
        drop(std::mem::replace(
            self.jobs
                .get_mut()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
            closed,
        ));
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// The tracker's state and the rollouts, committed together.
impl Store for PgStore {
    /// The tasks in flight and the last [`PgStore::ENDED_READ_BACK`] ended ones, with
    /// the counters; `None` when no tracker state was ever committed.
    fn load(&self) -> Result<Option<TrackerSnapshot>, StoreError> {
        self.run(|client| {
            let mut tx = client.transaction()?;
            let Some(counters) = tx.query_opt(
                "SELECT counters FROM ota_tracker_counters WHERE id = 1",
                &[],
            )?
            else {
                return Ok(None);
            };
            let counters: &str = counters.get(0);
            let counters: Counters = serde_json::from_str(counters)
                .map_err(|x| Failure::Reason(format!("the tracker's counters: {x}")))?;
            let (in_flight, ended) = tasks_now(&mut tx, Self::ENDED_READ_BACK)?;
            tx.commit()?;
            let records = in_flight.into_iter().chain(ended);
            TrackerSnapshot::from_records(records, counters)
                .map(Some)
                .map_err(|x| Failure::Reason(format!("the tracker's tasks: {x}")))
        })
    }

    /// Replaces the tasks in flight with those of `snapshot`, and writes its ended
    /// tasks and counters; the ended tasks saved before are kept.
    fn save(&self, snapshot: &TrackerSnapshot) -> Result<(), StoreError> {
        // No tracker here to say when each task is due: the one judging the deadlines
        // of a group works it out ([`TaskRows`]).
        let tasks = TaskRows::of(&snapshot.records(), Some(snapshot.counters()), None);
        self.run(move |client| {
            let mut tx = client.transaction()?;
            tx.execute("DELETE FROM ota_tasks WHERE NOT ended", &[])?;
            tasks.write(&mut tx)?;
            Ok(tx.commit()?)
        })
    }

    /// Writes the rows of the tasks that changed, the counters, and the rows of the
    /// rollouts that changed, in one transaction.
    fn commit(&self, commit: &Commit<'_>) -> Result<(), StoreError> {
        let tasks = TaskRows::of(
            &commit.changes.records,
            Some(&commit.changes.counters),
            Some(commit.tracker.config()),
        );
        let rollouts: Vec<RolloutRows> = commit
            .rollouts
            .iter()
            .filter(|r| !r.changes.is_empty())
            .map(|r| RolloutRows::of(r.name, r.rollout, r.changes))
            .collect();
        self.run(move |client| {
            let mut tx = client.transaction()?;
            tasks.write(&mut tx)?;
            for rollout in &rollouts {
                rollout.write(&mut tx)?;
            }
            Ok(tx.commit()?)
        })
    }

    fn load_rollout(&self, name: &str) -> Result<Option<SavedRollout>, StoreError> {
        let name = name.to_owned();
        self.run(move |client| {
            let mut tx = client.transaction()?;
            let saved = load_rollout_in(&mut tx, &name)?;
            tx.commit()?;
            Ok(saved)
        })
    }

    fn create_rollout(
        &self,
        name: &str,
        plan: &RolloutPlan,
        rollout: &Rollout,
    ) -> Result<(), StoreError> {
        let new = NewRollout::of(name, plan, rollout);
        self.run(move |client| {
            let mut tx = client.transaction()?;
            if !new.create(&mut tx)? {
                return Err(Failure::Reason(format!(
                    "a rollout named {:?} exists already",
                    new.name
                )));
            }
            Ok(tx.commit()?)
        })
    }
}

/// A rollout to create, ready to be written.
pub(crate) struct NewRollout {
    name: String,
    firmware: String,
    policy: String,
    /// Each device's gateway, serial and model, in the plan's order.
    keys: Vec<[String; 3]>,
    rows: RolloutRows,
}

impl NewRollout {
    pub(crate) fn of(name: &str, plan: &RolloutPlan, rollout: &Rollout) -> Self {
        let keys = rollout
            .devices()
            .iter()
            .map(|r| {
                let d = &r.device;
                [d.gateway.to_string(), d.sn.to_string(), d.model.to_string()]
            })
            .collect();
        let everything = Changes {
            header: true,
            devices: (0..rollout.devices().len()).collect(),
        };
        Self {
            name: name.to_owned(),
            firmware: json(&plan.firmware),
            policy: json(&plan.policy),
            keys,
            rows: RolloutRows::of(name, rollout, &everything),
        }
    }

    /// Writes the rollout and its devices' rows, unless a rollout of its name exists:
    /// false then, and nothing written.
    pub(crate) fn create(&self, tx: &mut Transaction<'_>) -> Result<bool, Failure> {
        let created = tx.execute(
            "INSERT INTO ota_rollouts (name, firmware, policy, state, began_ms,
                recent_starts, threshold_ok, threshold_failed)
             VALUES ($1, $2, $3, '', NULL, '[]', 0, 0) ON CONFLICT (name) DO NOTHING",
            &[&self.name, &self.firmware, &self.policy],
        )?;
        if created == 0 {
            return Ok(false);
        }
        let column = |i: usize| self.keys.iter().map(|k| k[i].as_str()).collect::<Vec<_>>();
        let positions: Vec<i64> = (0..self.keys.len() as i64).collect();
        tx.execute(
            "INSERT INTO ota_rollout_devices (rollout, position, gateway, sn, model,
                outcome, attempts)
             SELECT $1, position, gateway, sn, model, '', 0
             FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[])
                AS d (position, gateway, sn, model)",
            &[&self.name, &positions, &column(0), &column(1), &column(2)],
        )?;
        self.rows.write(tx)?;
        Ok(true)
    }
}

/// What a call says when the store's thread is gone.
fn stopped() -> Failure {
    Failure::Reason("the store's thread stopped".into())
}

/// Why a call on the store's thread failed, turned into a [`StoreError`] by the caller.
pub(crate) enum Failure {
    Connect(String),
    Database(postgres::Error),
    Reason(String),
}

impl From<dji_cloud_ota::tracker::RestoreError> for Failure {
    fn from(e: dji_cloud_ota::tracker::RestoreError) -> Self {
        Failure::Reason(format!("the tasks read cannot be restored: {e}"))
    }
}

impl From<postgres::Error> for Failure {
    fn from(e: postgres::Error) -> Self {
        Failure::Database(e)
    }
}

impl Failure {
    fn into_error(self, target: &str) -> StoreError {
        let reason = match self {
            Failure::Connect(e) => format!("cannot connect: {e}"),
            Failure::Database(e) => match e.as_db_error() {
                // The server's own words, with its detail.
                Some(db) => match db.detail() {
                    Some(detail) => format!("{}: {detail}", db.message()),
                    None => db.message().to_owned(),
                },
                None => e.to_string(),
            },
            Failure::Reason(reason) => reason,
        };
        StoreError::Server {
            server: target.to_owned(),
            reason,
        }
    }
}

/// Set on every connection: a transaction whose process stopped in its middle (frozen,
/// cut off from the network) is ended by the server after 5 s, which releases the rows
/// it locked; no transaction of this crate waits on its caller that long.
const SESSION: &str = "SET idle_in_transaction_session_timeout = '5s'";

/// The store's thread: runs the jobs in turn, connecting when there is no connection
/// (at the first job, and after one was lost), until the store is dropped.
fn serve(config: Config, queue: Receiver<Job>) {
    let mut client: Option<Client> = None;
    for job in queue {
        if client.as_ref().is_some_and(Client::is_closed) {
            client = None;
        }
        if client.is_none() {
            match config.connect(NoTls).and_then(|mut connected| {
                connected.batch_execute(SESSION)?;
                Ok(connected)
            }) {
                Ok(connected) => client = Some(connected),
                Err(e) => {
                    job(Err(&e));
                    continue;
                }
            }
        }
        if let Some(connected) = client.as_mut() {
            // A job that panics (a bug) fails its call, whose answer is dropped, and
            // not the calls after it: its transaction is rolled back as it unwinds, and
            // the connection is made anew.
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                job(Ok(connected));
            }));
            if ran.is_err() {
                client = None;
            }
        }
    }
}

/// Checks the schema's version, and brings it up to date.
fn migrate(client: &mut Client) -> Result<(), Failure> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS ota_schema (version integer NOT NULL)")?;
    let version: i32 = match tx.query_opt("SELECT version FROM ota_schema", &[])? {
        Some(row) => row.get(0),
        None => {
            tx.execute("INSERT INTO ota_schema (version) VALUES (0)", &[])?;
            0
        }
    };
    let known = PgStore::SCHEMA_VERSION;
    let found = u32::try_from(version).unwrap_or(u32::MAX);
    if found > known {
        return Err(Failure::Reason(format!(
            "the database has schema version {found}; this version knows up to {known}"
        )));
    }
    for step in &MIGRATIONS[found as usize..] {
        tx.batch_execute(step)?;
    }
    tx.execute("UPDATE ota_schema SET version = $1", &[&(known as i32)])?;
    Ok(tx.commit()?)
}

/// The rows of tasks and the counters, ready to be written (made on the caller's
/// thread, written on the store's).
pub(crate) struct TaskRows {
    gateways: Vec<String>,
    bids: Vec<String>,
    ended: Vec<bool>,
    endings: Vec<Option<String>>,
    /// When each task is next due ([`TaskRecord::due`]): [`NEVER`] for none, `None`
    /// when unknown (written without the tracker's configuration), which the process
    /// judging the deadlines takes as due now.
    due: Vec<Option<i64>>,
    records: Vec<String>,
    counters: Option<String>,
}

/// The `due_ms` of a task with no deadline, or an ended one.
const NEVER: i64 = i64::MAX;

impl TaskRows {
    pub(crate) fn of(
        records: &[TaskRecord],
        counters: Option<&Counters>,
        config: Option<&TrackerConfig>,
    ) -> Self {
        let mut rows = Self {
            gateways: Vec::with_capacity(records.len()),
            bids: Vec::with_capacity(records.len()),
            ended: Vec::with_capacity(records.len()),
            endings: Vec::with_capacity(records.len()),
            due: Vec::with_capacity(records.len()),
            records: Vec::with_capacity(records.len()),
            counters: counters.map(json),
        };
        for record in records {
            let key = record.key();
            let ending = record.ending();
            rows.gateways.push(key.gateway.to_string());
            rows.bids.push(key.bid.to_string());
            rows.ended.push(ending.is_some());
            rows.endings.push(ending.map(json));
            rows.due.push(config.map(|config| {
                record
                    .due(config)
                    .map_or(NEVER, |at| i64::try_from(at).unwrap_or(NEVER))
            }));
            rows.records.push(json(record));
        }
        rows
    }

    /// Writes each task's row over the one it had, in one statement, and the counters.
    /// A task that neither started nor ended keeps its `seq` (the order of the ended
    /// ones).
    pub(crate) fn write(&self, tx: &mut impl GenericClient) -> Result<(), postgres::Error> {
        if !self.records.is_empty() {
            tx.execute(
                "INSERT INTO ota_tasks AS t (gateway, bid, ended, ending, seq, due_ms, record)
                 SELECT gateway, bid, ended, ending, nextval('ota_task_seq'), due_ms, record
                 FROM unnest($1::text[], $2::text[], $3::boolean[], $4::text[], $5::bigint[],
                    $6::text[]) AS r (gateway, bid, ended, ending, due_ms, record)
                 ON CONFLICT (gateway, bid) DO UPDATE SET
                    ended = excluded.ended, ending = excluded.ending, record = excluded.record,
                    due_ms = excluded.due_ms,
                    seq = CASE WHEN t.ended = excluded.ended THEN t.seq ELSE excluded.seq END",
                &[
                    &self.gateways,
                    &self.bids,
                    &self.ended,
                    &self.endings,
                    &self.due,
                    &self.records,
                ],
            )?;
        }
        if let Some(counters) = &self.counters {
            tx.execute(
                "INSERT INTO ota_tracker_counters (id, counters) VALUES (1, $1)
                 ON CONFLICT (id) DO UPDATE SET counters = excluded.counters",
                &[counters],
            )?;
        }
        Ok(())
    }

    /// Inserts the rows of tasks just started, each unless its gateway has a task in
    /// flight already (or its `bid` is taken): which ones were inserted, in order.
    pub(crate) fn insert_new(&self, tx: &mut impl GenericClient) -> Result<Vec<bool>, Failure> {
        let mut inserted = Vec::with_capacity(self.records.len());
        for i in 0..self.records.len() {
            let n = tx.execute(
                "INSERT INTO ota_tasks (gateway, bid, ended, ending, seq, due_ms, record)
                 VALUES ($1, $2, false, NULL, nextval('ota_task_seq'), $3, $4)
                 ON CONFLICT DO NOTHING",
                &[
                    &self.gateways[i],
                    &self.bids[i],
                    &self.due[i],
                    &self.records[i],
                ],
            )?;
            inserted.push(n == 1);
        }
        Ok(inserted)
    }
}

/// What changed in one rollout, ready to be written.
pub(crate) struct RolloutRows {
    name: String,
    /// The header's columns when it changed: state, began, recent starts, the
    /// threshold's base, the policy.
    header: Option<(String, Option<i64>, String, i64, i64, String)>,
    positions: Vec<i64>,
    outcomes: Vec<&'static str>,
    results: Vec<Option<i64>>,
    attempts: Vec<i64>,
    tasks: Vec<Option<String>>,
    retry_at_ms: Vec<Option<i64>>,
    started_ms: Vec<Option<i64>>,
    ended_ms: Vec<Option<i64>>,
    reported: Vec<Option<String>>,
}

impl RolloutRows {
    pub(crate) fn of(name: &str, rollout: &Rollout, changes: &Changes) -> Self {
        let header = changes.header.then(|| {
            let h = rollout.header();
            (
                h.state.as_str().to_owned(),
                h.began_ms.map(|v| v as i64),
                json(&h.recent_starts),
                h.threshold_base.0 as i64,
                h.threshold_base.1 as i64,
                json(rollout.policy()),
            )
        });
        let mut rows = Self {
            name: name.to_owned(),
            header,
            positions: Vec::new(),
            outcomes: Vec::new(),
            results: Vec::new(),
            attempts: Vec::new(),
            tasks: Vec::new(),
            retry_at_ms: Vec::new(),
            started_ms: Vec::new(),
            ended_ms: Vec::new(),
            reported: Vec::new(),
        };
        for &position in &changes.devices {
            let v = DeviceValues::of(&rollout.devices()[position]);
            rows.positions.push(position as i64);
            rows.outcomes.push(v.outcome);
            rows.results.push(v.result);
            rows.attempts.push(v.attempts);
            rows.tasks.push(v.task);
            rows.retry_at_ms.push(v.retry_at_ms);
            rows.started_ms.push(v.started_ms);
            rows.ended_ms.push(v.ended_ms);
            rows.reported.push(v.reported_version.map(str::to_owned));
        }
        rows
    }

    /// Writes the header if it changed, and the changed devices' rows in one statement.
    pub(crate) fn write(&self, tx: &mut impl GenericClient) -> Result<(), Failure> {
        if let Some((state, began, recent, ok, failed, policy)) = &self.header {
            let written = tx.execute(
                "UPDATE ota_rollouts SET state = $2, began_ms = $3, recent_starts = $4,
                    threshold_ok = $5, threshold_failed = $6, policy = $7 WHERE name = $1",
                &[&self.name, state, began, recent, ok, failed, policy],
            )?;
            if written == 0 {
                return Err(Failure::Reason(format!("no rollout named {:?}", self.name)));
            }
        }
        if !self.positions.is_empty() {
            tx.execute(
                "UPDATE ota_rollout_devices AS d SET outcome = c.outcome, result = c.result,
                    attempts = c.attempts, task = c.task, retry_at_ms = c.retry_at_ms,
                    started_ms = c.started_ms, ended_ms = c.ended_ms,
                    reported_version = c.reported_version
                 FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::text[],
                    $7::bigint[], $8::bigint[], $9::bigint[], $10::text[])
                    AS c (position, outcome, result, attempts, task, retry_at_ms, started_ms,
                        ended_ms, reported_version)
                 WHERE d.rollout = $1 AND d.position = c.position",
                &[
                    &self.name,
                    &self.positions,
                    &self.outcomes,
                    &self.results,
                    &self.attempts,
                    &self.tasks,
                    &self.retry_at_ms,
                    &self.started_ms,
                    &self.ended_ms,
                    &self.reported,
                ],
            )?;
        }
        Ok(())
    }
}

/// The rollout `name`, read in `tx`.
fn load_rollout_in(tx: &mut Transaction<'_>, name: &str) -> Result<Option<SavedRollout>, Failure> {
    let Some(header) = tx.query_opt(
        "SELECT firmware, policy, state, began_ms, recent_starts, threshold_ok,
            threshold_failed FROM ota_rollouts WHERE name = $1",
        &[&name],
    )?
    else {
        return Ok(None);
    };
    let rows = tx.query(
        &format!(
            "SELECT {DEVICE_COLUMNS} FROM ota_rollout_devices WHERE rollout = $1
             ORDER BY position"
        ),
        &[&name],
    )?;
    let bad =
        |what: &str, detail: String| Failure::Reason(format!("rollout {name:?}: {what}: {detail}"));
    let firmware: BTreeMap<Text, Firmware> =
        serde_json::from_str(header.get(0)).map_err(|x| bad("firmware", x.to_string()))?;
    let policy: Policy =
        serde_json::from_str(header.get(1)).map_err(|x| bad("policy", x.to_string()))?;
    let state: &str = header.get(2);
    let state = parse_state(state).ok_or_else(|| bad("state", state.to_owned()))?;
    let began_ms: Option<i64> = header.get(3);
    let recent_starts =
        serde_json::from_str(header.get(4)).map_err(|x| bad("recent starts", x.to_string()))?;
    let (ok, failed): (i64, i64) = (header.get(5), header.get(6));
    let devices = rows
        .iter()
        .map(|row| device_row(row, 0))
        .collect::<Result<_, _>>()?;
    Ok(Some(SavedRollout {
        firmware,
        policy,
        snapshot: RolloutSnapshot {
            header: RolloutHeader {
                state,
                began_ms: began_ms.map(|v| v as u64),
                recent_starts,
                threshold_base: (ok as usize, failed as usize),
            },
            devices,
        },
    }))
}

// ---- What the processes of a group do in their transactions ([`crate::group`]).

/// The rows of the tasks `keys`, in flight or ended, locked until the transaction
/// ends: two processes handling messages of one task take turns.
pub(crate) fn lock_tasks(
    tx: &mut Transaction<'_>,
    keys: &[TaskKey],
) -> Result<Vec<TaskRecord>, Failure> {
    tasks_with_keys(tx, keys, "ORDER BY gateway, bid FOR UPDATE")
}

/// The records of the tasks `keys` (their key columns `$1` and `$2`), with SQL `then`
/// after the condition on the keys.
fn tasks_with_keys(
    tx: &mut Transaction<'_>,
    keys: &[TaskKey],
    then: &str,
) -> Result<Vec<TaskRecord>, Failure> {
    let (gateways, bids) = key_columns(keys);
    let rows = tx.query(
        &format!("SELECT gateway, bid, record FROM ota_tasks WHERE {WITH_KEYS} {then}"),
        &[&gateways, &bids],
    )?;
    task_records(&rows)
}

/// The condition on a task's key that it is among the keys given as two arrays, the
/// gateways in `$1` and the `bid`s in `$2` ([`key_columns`]).
const WITH_KEYS: &str = "(gateway, bid) IN (SELECT * FROM unnest($1::text[], $2::text[]))";

/// The rows of the tasks `keys` that no other transaction holds, locked until this one
/// ends, and the keys of those another holds (their messages wait for a next batch,
/// rather than this process waiting for the other).
pub(crate) fn lock_free_tasks(
    tx: &mut Transaction<'_>,
    keys: &[TaskKey],
) -> Result<(Vec<TaskRecord>, Vec<TaskKey>), Failure> {
    let records = tasks_with_keys(tx, keys, "ORDER BY gateway, bid FOR UPDATE SKIP LOCKED")?;
    let mut busy = Vec::new();
    if records.len() < keys.len() {
        // Those not locked here: held by another, or no such task (handled here, as
        // unknown).
        let (gateways, bids) = key_columns(keys);
        let existing = tx.query(
            &format!("SELECT gateway, bid FROM ota_tasks WHERE {WITH_KEYS}"),
            &[&gateways, &bids],
        )?;
        let got: std::collections::HashSet<TaskKey> = records.iter().map(TaskRecord::key).collect();
        for row in &existing {
            let (gateway, bid): (&str, &str) = (row.get(0), row.get(1));
            let Ok(gateway) = dji_cloud_ota::Serial::new(gateway) else {
                continue;
            };
            let key = TaskKey {
                gateway,
                bid: dji_cloud_ota::Id::from_text(bid),
            };
            if !got.contains(&key) {
                busy.push(key);
            }
        }
    }
    Ok((records, busy))
}

/// The tasks in flight that are due at `now_ms` (or whose due time is unknown), at most
/// `limit`, the earliest first, locked; those another process holds are left for later.
pub(crate) fn lock_due(
    tx: &mut Transaction<'_>,
    now_ms: u64,
    limit: usize,
) -> Result<Vec<TaskRecord>, Failure> {
    let rows = tx.query(
        "SELECT gateway, bid, record FROM ota_tasks
         WHERE NOT ended AND (due_ms IS NULL OR due_ms <= $1)
         ORDER BY due_ms NULLS FIRST LIMIT $2 FOR UPDATE SKIP LOCKED",
        &[&(now_ms as i64), &(limit as i64)],
    )?;
    task_records(&rows)
}

/// How the tasks among `keys` that have ended ended.
pub(crate) fn endings_among(
    tx: &mut Transaction<'_>,
    keys: &[TaskKey],
) -> Result<Vec<TaskRecord>, Failure> {
    tasks_with_keys(tx, keys, "AND ended")
}

/// The tasks that ended (or changed how they ended) since `seq` (a task's `seq` is
/// drawn when it starts and when it ends), with the latest `seq` read. A transaction
/// that drew an earlier `seq` may commit after this read: a caller that reads this way
/// looks at its tasks in flight whole now and then ([`endings_among`]).
pub(crate) fn endings_since(
    tx: &mut Transaction<'_>,
    seq: i64,
) -> Result<(Vec<TaskRecord>, i64), Failure> {
    let rows = tx.query(
        "SELECT gateway, bid, record, seq FROM ota_tasks WHERE ended AND seq > $1 ORDER BY seq",
        &[&seq],
    )?;
    let last = rows.last().map_or(seq, |row| row.get(3));
    Ok((task_records(&rows)?, last))
}

/// The latest `seq` drawn.
pub(crate) fn last_seq(tx: &mut Transaction<'_>) -> Result<i64, Failure> {
    let row = tx.query_one("SELECT COALESCE(MAX(seq), 0) FROM ota_tasks", &[])?;
    Ok(row.get(0))
}

/// The rollout `name`'s state and counts, from its rows, without reading them all:
/// `None` when there is no such rollout. `in_flight` counts the tasks (a gateway's
/// devices share one).
pub(crate) fn rollout_counts(
    tx: &mut Transaction<'_>,
    name: &str,
) -> Result<
    Option<(
        dji_cloud_ota::rollout::RolloutState,
        dji_cloud_ota::rollout::Counts,
        usize,
    )>,
    Failure,
> {
    use dji_cloud_ota::rollout::{Counts, Outcome};
    let rows = tx.query(
        "SELECT r.state, d.outcome, COUNT(d.outcome),
            COUNT(DISTINCT d.task) FILTER (WHERE d.outcome = 'in_progress')
         FROM ota_rollouts r LEFT JOIN ota_rollout_devices d ON d.rollout = r.name
         WHERE r.name = $1 GROUP BY r.state, d.outcome",
        &[&name],
    )?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let state: &str = first.get(0);
    let state = parse_state(state)
        .ok_or_else(|| Failure::Reason(format!("rollout {name:?}: state {state:?}")))?;
    let (mut counts, mut in_flight) = (Counts::default(), 0);
    for row in &rows {
        let Some(outcome) = row.get::<_, Option<&str>>(1) else {
            continue;
        };
        let n = usize::try_from(row.get::<_, i64>(2)).unwrap_or(0);
        match outcome.parse::<Outcome>() {
            Ok(Outcome::Ok) => counts.ok += n,
            Ok(Outcome::Failed) => counts.failed += n,
            Ok(Outcome::Skipped) => counts.skipped += n,
            Ok(Outcome::Cancelled) => counts.cancelled += n,
            Ok(Outcome::Waiting) => counts.waiting += n,
            Ok(Outcome::InProgress) => {
                counts.in_progress += n;
                in_flight += usize::try_from(row.get::<_, i64>(3)).unwrap_or(0);
            }
            _ => {
                return Err(Failure::Reason(format!(
                    "rollout {name:?}: outcome {outcome:?}"
                )));
            }
        }
    }
    Ok(Some((state, counts, in_flight)))
}

/// The task in flight on `gateway`, if any.
pub(crate) fn in_flight_on(
    tx: &mut Transaction<'_>,
    gateway: &str,
) -> Result<Option<TaskRecord>, Failure> {
    let rows = tx.query(
        "SELECT gateway, bid, record FROM ota_tasks WHERE gateway = $1 AND NOT ended",
        &[&gateway],
    )?;
    Ok(task_records(&rows)?.pop())
}

/// The keys of the tasks in flight on any of `gateways`.
pub(crate) fn in_flight_on_gateways(
    tx: &mut Transaction<'_>,
    gateways: &[&str],
) -> Result<Vec<TaskKey>, Failure> {
    if gateways.is_empty() {
        return Ok(Vec::new());
    }
    let rows = tx.query(
        "SELECT gateway, bid, record FROM ota_tasks WHERE gateway = ANY($1) AND NOT ended",
        &[&gateways],
    )?;
    Ok(task_records(&rows)?.iter().map(TaskRecord::key).collect())
}

/// The tasks in flight, by key, and the latest `ended` ended ones, the oldest first.
pub(crate) fn tasks_now(
    tx: &mut Transaction<'_>,
    ended: usize,
) -> Result<(Vec<TaskRecord>, Vec<TaskRecord>), Failure> {
    let in_flight = tx.query(
        "SELECT gateway, bid, record FROM ota_tasks WHERE NOT ended ORDER BY gateway, bid",
        &[],
    )?;
    let latest = tx.query(
        "SELECT gateway, bid, record FROM (
            SELECT gateway, bid, record, seq FROM ota_tasks WHERE ended
            ORDER BY seq DESC LIMIT $1) AS latest
         ORDER BY seq",
        &[&(ended as i64)],
    )?;
    Ok((task_records(&in_flight)?, task_records(&latest)?))
}

/// Takes or renews the lease `name` for `holder`, for `ttl` from the server's clock
/// now. Returns whether `holder` has it now (it had it, or nobody had it, or the last
/// holder let it expire), and whether it had it without a break: false when it takes
/// it anew, even back from another (whatever it kept of the work since is stale).
pub(crate) fn renew_lease(
    tx: &mut Transaction<'_>,
    name: &str,
    holder: &str,
    ttl: std::time::Duration,
) -> Result<(bool, bool), Failure> {
    // The holder's round holds the row (shared) while it works: a process that finds
    // it so does not wait for it (its messages would wait meanwhile), it tries again
    // at its next renewal.
    tx.batch_execute("SET LOCAL lock_timeout = '100ms'")?;
    let row = tx.query_one(
        "WITH before AS (
            SELECT holder = $2 AND expires_at > clock_timestamp() AS kept
            FROM ota_leases WHERE name = $1),
         won AS (
            INSERT INTO ota_leases (name, holder, expires_at)
            VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3))
            ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                expires_at = excluded.expires_at
            WHERE ota_leases.holder = excluded.holder
                OR ota_leases.expires_at < clock_timestamp()
            RETURNING 1)
         SELECT EXISTS (SELECT 1 FROM won), COALESCE((SELECT kept FROM before), false)",
        &[&name, &holder, &ttl.as_secs_f64()],
    )?;
    let (held, kept): (bool, bool) = (row.get(0), row.get(1));
    Ok((held, held && kept))
}

/// Holds the lease `name` (shared) until the transaction ends if `holder` has it and it
/// has not expired: what the holder checks before the work the lease is for, so that
/// one whose lease ran out while it was held up does nothing. Meanwhile no other
/// process can take the lease (its attempt fails after 100 ms, and it tries again at
/// its next renewal).
pub(crate) fn hold_lease(
    tx: &mut Transaction<'_>,
    name: &str,
    holder: &str,
) -> Result<bool, Failure> {
    let held = tx.query_opt(
        "SELECT 1 FROM ota_leases WHERE name = $1 AND holder = $2
            AND expires_at > clock_timestamp() FOR SHARE",
        &[&name, &holder],
    )?;
    Ok(held.is_some())
}

/// Gives the lease `name` up, if `holder` has it: the next process takes it at once.
pub(crate) fn release_lease(
    tx: &mut Transaction<'_>,
    name: &str,
    holder: &str,
) -> Result<(), Failure> {
    tx.execute(
        "DELETE FROM ota_leases WHERE name = $1 AND holder = $2",
        &[&name, &holder],
    )?;
    Ok(())
}

/// The controls asked of the rollouts `names` and not yet applied, in the order they
/// were asked, cleared.
pub(crate) fn take_controls(
    tx: &mut Transaction<'_>,
    names: &[String],
) -> Result<Vec<(String, Vec<RolloutControl>)>, Failure> {
    let rows = tx.query(
        "WITH asked AS (
            SELECT name, control FROM ota_rollouts
            WHERE name = ANY($1) AND control IS NOT NULL FOR UPDATE),
         cleared AS (
            UPDATE ota_rollouts r SET control = NULL FROM asked WHERE r.name = asked.name)
         SELECT name, control FROM asked",
        &[&names],
    )?;
    Ok(rows
        .iter()
        .map(|row| (row.get(0), controls(row.get(1))))
        .collect())
}

/// The controls of a `control` column: their names, separated by commas.
fn controls(column: &str) -> Vec<RolloutControl> {
    column
        .split(',')
        .filter_map(RolloutControl::parse)
        .collect()
}

/// Asks the rollout `name` for `control`, which the process that starts its tasks
/// applies after the controls asked before it: `None` when no rollout has that name,
/// false when the control would change nothing, judged from the rollout's state with
/// those controls applied (a resume after a pause asked and not applied yet changes
/// something; a second cancel does not), and then not kept. Controls that lead back
/// to the row's state are dropped together, so that the list stays short.
pub(crate) fn ask_control(
    tx: &mut Transaction<'_>,
    name: &str,
    control: RolloutControl,
) -> Result<Option<bool>, Failure> {
    let Some(row) = tx.query_opt(
        "SELECT state, control FROM ota_rollouts WHERE name = $1 FOR NO KEY UPDATE",
        &[&name],
    )?
    else {
        return Ok(None);
    };
    let state: &str = row.get(0);
    let state = parse_state(state)
        .ok_or_else(|| Failure::Reason(format!("rollout {name:?}: {state:?}")))?;
    let asked: Option<&str> = row.get(1);
    let now = controls(asked.unwrap_or_default())
        .into_iter()
        .fold(state, |state, c| c.from(state).unwrap_or(state));
    let Some(then) = control.from(now) else {
        return Ok(Some(false));
    };
    if then == state {
        // Back where the row is: the controls asked would change nothing, and none
        // has another effect (only a resume from `aborted` does, and no control leads
        // back there).
        tx.execute(
            "UPDATE ota_rollouts SET control = NULL WHERE name = $1",
            &[&name],
        )?;
    } else {
        tx.execute(
            "UPDATE ota_rollouts SET control = CASE WHEN control IS NULL THEN $2
                ELSE control || ',' || $2 END
             WHERE name = $1",
            &[&name, &control.as_str()],
        )?;
    }
    Ok(Some(true))
}

/// Reads the rollout `name`, as [`Store::load_rollout`] does, in `tx`.
pub(crate) fn read_rollout(
    tx: &mut Transaction<'_>,
    name: &str,
) -> Result<Option<SavedRollout>, Failure> {
    load_rollout_in(tx, name)
}

fn key_columns(keys: &[TaskKey]) -> (Vec<String>, Vec<String>) {
    keys.iter()
        .map(|k| (k.gateway.to_string(), k.bid.to_string()))
        .unzip()
}

/// The task records of rows `(gateway, bid, record)`.
fn task_records(rows: &[Row]) -> Result<Vec<TaskRecord>, Failure> {
    rows.iter()
        .map(|row| {
            let record: &str = row.get(2);
            serde_json::from_str(record).map_err(|x| {
                let (gateway, bid): (&str, &str) = (row.get(0), row.get(1));
                Failure::Reason(format!("task {gateway} bid {bid}: {x}"))
            })
        })
        .collect()
}

/// A device's row from [`DEVICE_COLUMNS`], starting at column `at`.
fn device_row(row: &Row, at: usize) -> Result<DeviceRecord, Failure> {
    DeviceRow {
        gateway: row.get(at),
        sn: row.get(at + 1),
        model: row.get(at + 2),
        outcome: row.get(at + 3),
        result: row.get(at + 4),
        attempts: row.get(at + 5),
        task: row.get(at + 6),
        retry_at_ms: row.get(at + 7),
        started_ms: row.get(at + 8),
        ended_ms: row.get(at + 9),
        reported_version: row.get(at + 10),
    }
    .into_record()
    .map_err(Failure::Reason)
}

/// Where `config` connects, as a URL without the password.
fn describe(config: &Config) -> String {
    use postgres::config::Host;
    let user = config
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config
        .get_ports()
        .first()
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    let database = config
        .get_dbname()
        .map(|d| format!("/{d}"))
        .unwrap_or_default();
    format!("postgres://{user}{host}{port}{database}")
}
