//! The embedded database: SQLite in one file, compiled in (nothing to install).
//!
//! [`SqliteStore`] is a [`Store`] for the cloud driver: the tracker's tasks and fleet
//! rollouts, committed together. It keeps a row per task (a [`TaskRecord`], in flight
//! or ended, keyed by gateway and `bid`), a rollout one row per device
//! ([`DeviceRecord`]) beside a row per rollout, and the tracker's counters, so that a
//! commit writes the rows that changed ([`Tracker::take_changes`],
//! [`Rollout::take_changes`]) and never the whole state: its cost follows what
//! changed. Ended tasks keep their rows ([`SqliteStore::tasks_of_gateway`],
//! [`SqliteStore::task`]); [`Store::load`] reads the tasks in flight and the latest
//! ended ones. Each commit is one transaction, in WAL mode with `synchronous = FULL`:
//! once it returns, the rows survive the process being killed at any instant and the
//! machine losing power; a commit cut short leaves the rows as they were before it.
//! Other processes may read the same file meanwhile ([`SqliteStore::open_read_only`]:
//! `ota-fleet status` does, while `ota-fleet run` writes).
//!
//! The schema has a version ([`SqliteStore::SCHEMA_VERSION`], SQLite's
//! `user_version`): opening a file of an older version brings it up to date in one
//! transaction, and a file of a newer version is refused rather than misread.
//!
//! ```
//! use std::collections::BTreeMap;
//! use dji_cloud_ota::rollout::{Firmware, FleetDevice, Policy, Rollout, RolloutPlan};
//! use dji_cloud_ota::{Serial, UpgradeType};
//! use dji_cloud_ota_mqtt::SqliteStore;
//!
//! let dock = Serial::new("4TADKAQ000002J")?;
//! let plan = RolloutPlan {
//!     devices: vec![FleetDevice::new(dock.clone(), dock, "dock2")],
//!     firmware: BTreeMap::from([("dock2".into(), Firmware {
//!         version: "10.01.0003".into(),
//!         url: "https://firmware.example.com/dock2.zip".into(),
//!         md5: "6f1ed002ab5595859014ebf0951522d9".into(),
//!         size: 300_000_000,
//!         file_name: "dock2.zip".into(),
//!         upgrade_type: UpgradeType::NORMAL,
//!     })]),
//!     policy: Policy::default(),
//! };
//! let dir = std::env::temp_dir().join(format!("sqlite-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let store = SqliteStore::open(dir.join("fleet.db"))?;
//! let mut rollout = Rollout::new(plan.clone())?;
//! store.create_rollout("release-10.01", &plan, &rollout)?;
//! rollout.poll(1_700_000_000_000); // one start: one row changed
//! let changes = rollout.take_changes();
//! assert_eq!(store.commit_rollout("release-10.01", &rollout, &changes)?, 2); // header + 1 row
//!
//! // After a restart: the plan and the rows, as they were.
//! let saved = store.load_rollout("release-10.01")?.expect("created above");
//! let restored = Rollout::restore(plan, saved.snapshot)?;
//! assert_eq!(restored.counts(), rollout.counts());
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use dji_cloud_ota::Text;
use dji_cloud_ota::rollout::{
    Changes, DeviceRecord, Firmware, Policy, Rollout, RolloutHeader, RolloutPlan, RolloutSnapshot,
};
use dji_cloud_ota::tracker::{Counters, TaskRecord, TrackerSnapshot};
#[cfg(doc)]
use dji_cloud_ota::tracker::{Tracker, TrackerConfig};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};

use crate::rows::{DEVICE_COLUMNS, DeviceRow, DeviceValues, json, parse_state};
use crate::store::{Commit, Store, StoreError};

/// The schema, one step per version: step `i` brings a file of version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: rollouts, one row per device.
    "CREATE TABLE rollouts (
        name TEXT PRIMARY KEY,
        firmware TEXT NOT NULL,
        policy TEXT NOT NULL,
        state TEXT NOT NULL,
        began_ms INTEGER,
        recent_starts TEXT NOT NULL,
        threshold_ok INTEGER NOT NULL,
        threshold_failed INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE rollout_devices (
        rollout TEXT NOT NULL REFERENCES rollouts (name),
        position INTEGER NOT NULL,
        gateway TEXT NOT NULL,
        sn TEXT NOT NULL,
        model TEXT NOT NULL,
        outcome TEXT NOT NULL,
        result INTEGER,
        attempts INTEGER NOT NULL,
        task TEXT,
        retry_at_ms INTEGER,
        started_ms INTEGER,
        ended_ms INTEGER,
        reported_version TEXT,
        PRIMARY KEY (rollout, position)
    ) STRICT;
    CREATE INDEX rollout_devices_by_gateway ON rollout_devices (gateway, rollout);",
    // 2: the tracker's state, whole (moved into the rows of version 3, then dropped).
    "CREATE TABLE tracker (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        snapshot TEXT NOT NULL
    ) STRICT;",
    // 3: the tracker's tasks, one row each, in flight or ended; its counters.
    "CREATE TABLE tasks (
        gateway TEXT NOT NULL,
        bid TEXT NOT NULL,
        ended INTEGER NOT NULL,
        ending TEXT,
        seq INTEGER NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (gateway, bid)
    ) STRICT;
    CREATE INDEX tasks_by_state ON tasks (ended, seq);
    CREATE INDEX tasks_by_seq ON tasks (seq);
    CREATE TABLE tracker_counters (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        counters TEXT NOT NULL
    ) STRICT;",
];

/// The schema version from which the tracker's tasks are rows (`tasks`).
const TASK_ROWS: u32 = 3;

/// A rollout as a store holds it: its firmware and policy, and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedRollout {
    /// The firmware of each model, as the rollout was created with.
    pub firmware: BTreeMap<Text, Firmware>,
    /// The policy.
    pub policy: Policy,
    /// The header and every device's row, in the plan's order.
    pub snapshot: RolloutSnapshot,
}

impl SavedRollout {
    /// The plan the rollout was created with: its devices, firmware and policy.
    pub fn plan(&self) -> RolloutPlan {
        RolloutPlan {
            devices: self
                .snapshot
                .devices
                .iter()
                .map(|r| r.device.clone())
                .collect(),
            firmware: self.firmware.clone(),
            policy: self.policy.clone(),
        }
    }
}

/// Fleet rollouts in an SQLite file. See the [module documentation](self).
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    connection: Mutex<Connection>,
}

impl SqliteStore {
    /// The schema version this crate writes.
    pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

    /// Opens (or creates) the database in the file `path` for reading and writing, and
    /// brings its schema up to date.
    ///
    /// # Errors
    /// [`StoreError::Database`] when the file cannot be opened or is not an SQLite
    /// database; [`StoreError::NewerSchema`] when a newer version wrote it.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let path = path.into();
        let connection = Connection::open(&path).map_err(|e| database(&path, e))?;
        let store = Self {
            path,
            connection: Mutex::new(connection),
        };
        store.setup(true)?;
        Ok(store)
    }

    /// Opens the database in the file `path` to read it, while another process may be
    /// writing it.
    ///
    /// # Errors
    /// As [`SqliteStore::open`]; a file whose schema is older than this crate's is
    /// [`StoreError::NewerSchema`]'s counterpart, [`StoreError::Database`], since it
    /// cannot be brought up to date read-only.
    pub fn open_read_only(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let path = path.into();
        let connection = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| database(&path, e))?;
        let store = Self {
            path,
            connection: Mutex::new(connection),
        };
        store.setup(false)?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding it left no transaction open (rusqlite rolls back on
        // drop): the connection is still usable.
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn setup(&self, write: bool) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let e = |e| database(&self.path, e);
        connection
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(e)?;
        let version: u32 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(e)?;
        if version > Self::SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: self.path.clone(),
                found: version,
                known: Self::SCHEMA_VERSION,
            });
        }
        if !write {
            if version < Self::SCHEMA_VERSION {
                return Err(StoreError::Database {
                    path: self.path.clone(),
                    reason: format!(
                        "schema version {version}, not {}: open it for writing once to bring it up to date",
                        Self::SCHEMA_VERSION
                    ),
                });
            }
            return Ok(());
        }
        // WAL: readers in other processes never block the writer, nor it them.
        connection
            .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .map_err(e)?;
        connection
            .execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(e)?;
        if version < Self::SCHEMA_VERSION {
            let tx = connection.transaction().map_err(e)?;
            for step in &MIGRATIONS[version as usize..] {
                tx.execute_batch(step).map_err(e)?;
            }
            if version < TASK_ROWS {
                self.tracker_into_rows(&tx)?;
            }
            tx.pragma_update(None, "user_version", Self::SCHEMA_VERSION)
                .map_err(e)?;
            tx.commit().map_err(e)?;
        }
        Ok(())
    }

    /// How many ended tasks [`Store::load`] reads back, the latest: a tracker
    /// remembers [`TrackerConfig::recent_finished`] of them (1,024 by default), to
    /// recognise their late messages. The others stay in the database
    /// ([`SqliteStore::tasks_of_gateway`]).
    pub const ENDED_READ_BACK: usize = 16_384;

    /// The task of `gateway` with business id `bid`, in flight or ended, as last
    /// committed: for a rollout's device, its row's `task` names it.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub fn task(&self, gateway: &str, bid: &str) -> Result<Option<TaskRecord>, StoreError> {
        let connection = self.connection();
        let mut found = self.records(
            &connection,
            "WHERE gateway = ?1 AND bid = ?2",
            &[&gateway, &bid],
        )?;
        Ok(found.pop())
    }

    /// Every task of `gateway` the database holds, in flight or ended (however long
    /// ago), in the order they were last written: the oldest first.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub fn tasks_of_gateway(&self, gateway: &str) -> Result<Vec<TaskRecord>, StoreError> {
        let connection = self.connection();
        self.records(&connection, "WHERE gateway = ?1 ORDER BY seq", &[&gateway])
    }

    fn records(
        &self,
        connection: &Connection,
        filter: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<TaskRecord>, StoreError> {
        let e = |e| database(&self.path, e);
        let mut statement = connection
            .prepare_cached(&format!("SELECT gateway, bid, record FROM tasks {filter}"))
            .map_err(e)?;
        let rows = statement
            .query_map(args, |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .map_err(e)?;
        let mut out = Vec::new();
        for row in rows {
            let (gateway, bid, text) = row.map_err(e)?;
            let record = serde_json::from_str(&text)
                .map_err(|x| self.bad_row(format!("task {gateway} bid {bid}: {x}")))?;
            out.push(record);
        }
        Ok(out)
    }

    /// Moves the tracker's state of a database of version 2 (one row, whole) into the
    /// rows of version 3, and drops its table.
    fn tracker_into_rows(&self, tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
        let e = |e| database(&self.path, e);
        let text: Option<String> = tx
            .query_row("SELECT snapshot FROM tracker WHERE id = 1", [], |row| {
                row.get(0)
            })
            .optional()
            .map_err(e)?;
        if let Some(text) = text {
            let snapshot: TrackerSnapshot = serde_json::from_str(&text)
                .map_err(|x| self.bad_row(format!("the tracker's state: {x}")))?;
            write_tasks(tx, &snapshot.records(), snapshot.counters()).map_err(e)?;
        }
        tx.execute_batch("DROP TABLE tracker").map_err(e)
    }

    /// The names of the rollouts held, sorted.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub fn rollouts(&self) -> Result<Vec<String>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare("SELECT name FROM rollouts ORDER BY name")
            .map_err(|e| database(&self.path, e))?;
        let names = statement
            .query_map([], |row| row.get(0))
            .and_then(Iterator::collect)
            .map_err(|e| database(&self.path, e))?;
        Ok(names)
    }

    /// Writes a new rollout named `name`: its plan's firmware and policy, its header
    /// and every device's row.
    ///
    /// # Errors
    /// [`StoreError::Database`], also when a rollout of that name exists.
    pub fn create_rollout(
        &self,
        name: &str,
        plan: &RolloutPlan,
        rollout: &Rollout,
    ) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let e = |e| database(&self.path, e);
        let tx = connection.transaction().map_err(e)?;
        tx.execute(
            "INSERT INTO rollouts (name, firmware, policy, state, began_ms, recent_starts,
                threshold_ok, threshold_failed) VALUES (?1, ?2, ?3, '', NULL, '[]', 0, 0)",
            params![name, json(&plan.firmware), json(&plan.policy)],
        )
        .map_err(e)?;
        write_header(&tx, name, rollout).map_err(e)?;
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO rollout_devices (rollout, position, gateway, sn, model, outcome,
                        result, attempts, task, retry_at_ms, started_ms, ended_ms,
                        reported_version)
                     VALUES (?1, ?2, ?3, ?4, ?5, '', NULL, 0, NULL, NULL, NULL, NULL, NULL)",
                )
                .map_err(e)?;
            for (position, record) in rollout.devices().iter().enumerate() {
                let d = &record.device;
                insert
                    .execute(params![
                        name,
                        position as i64,
                        d.gateway.as_str(),
                        d.sn.as_str(),
                        d.model.as_str()
                    ])
                    .map_err(e)?;
            }
        }
        write_devices(&tx, name, rollout.devices(), 0..rollout.devices().len()).map_err(e)?;
        tx.commit().map_err(e)
    }

    /// Writes what `changes` names of `rollout` (from [`Rollout::take_changes`]) in one
    /// transaction: the header if it changed, and the rows of the changed devices.
    /// Returns how many rows it wrote. On an error nothing is written: keep the
    /// changes, and commit them again with the next ones.
    ///
    /// # Errors
    /// [`StoreError::Database`], also when no rollout of that name exists.
    pub fn commit_rollout(
        &self,
        name: &str,
        rollout: &Rollout,
        changes: &Changes,
    ) -> Result<usize, StoreError> {
        if changes.is_empty() {
            return Ok(0);
        }
        let mut connection = self.connection();
        let e = |e| database(&self.path, e);
        let tx = connection.transaction().map_err(e)?;
        let written = self.write_changes(&tx, name, rollout, changes)?;
        tx.commit().map_err(e)?;
        Ok(written)
    }

    fn write_changes(
        &self,
        tx: &rusqlite::Transaction<'_>,
        name: &str,
        rollout: &Rollout,
        changes: &Changes,
    ) -> Result<usize, StoreError> {
        let e = |e| database(&self.path, e);
        let mut written = 0;
        if changes.header {
            if write_header(tx, name, rollout).map_err(e)? == 0 {
                return Err(StoreError::Database {
                    path: self.path.clone(),
                    reason: format!("no rollout named {name:?}"),
                });
            }
            written += 1;
        }
        written += write_devices(tx, name, rollout.devices(), changes.devices.iter().copied())
            .map_err(e)?;
        Ok(written)
    }

    /// The rollout named `name`, or `None`.
    ///
    /// # Errors
    /// [`StoreError::Database`]; [`StoreError::Corrupt`]-like errors are reported as
    /// [`StoreError::Database`] with the row that could not be read.
    pub fn load_rollout(&self, name: &str) -> Result<Option<SavedRollout>, StoreError> {
        let connection = self.connection();
        let e = |e| database(&self.path, e);
        let header = connection
            .query_row(
                "SELECT firmware, policy, state, began_ms, recent_starts, threshold_ok,
                    threshold_failed FROM rollouts WHERE name = ?1",
                [name],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, Option<i64>>(3)?,
                        row.get::<_, String>(4)?,
                        row.get::<_, i64>(5)?,
                        row.get::<_, i64>(6)?,
                    ))
                },
            )
            .optional()
            .map_err(e)?;
        let Some((firmware, policy, state, began_ms, recent, ok, failed)) = header else {
            return Ok(None);
        };
        let bad = |what: &str, detail: String| StoreError::Database {
            path: self.path.clone(),
            reason: format!("rollout {name:?}: {what}: {detail}"),
        };
        let firmware =
            serde_json::from_str(&firmware).map_err(|x| bad("firmware", x.to_string()))?;
        let policy = serde_json::from_str(&policy).map_err(|x| bad("policy", x.to_string()))?;
        let recent_starts =
            serde_json::from_str(&recent).map_err(|x| bad("recent starts", x.to_string()))?;
        let state = parse_state(&state).ok_or_else(|| bad("state", state.clone()))?;
        let devices = self.query_devices(
            &connection,
            "WHERE rollout = ?1 ORDER BY position",
            &[&name],
        )?;
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

    /// The rows of the devices behind `gateway`, in every rollout: `(rollout, row)`,
    /// by rollout name then position.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub fn devices_of_gateway(
        &self,
        gateway: &str,
    ) -> Result<Vec<(String, DeviceRecord)>, StoreError> {
        let connection = self.connection();
        let e = |e| database(&self.path, e);
        let mut statement = connection
            .prepare(&format!(
                "SELECT rollout, {DEVICE_COLUMNS} FROM rollout_devices WHERE gateway = ?1
                 ORDER BY rollout, position"
            ))
            .map_err(e)?;
        let rows = statement
            .query_map([gateway], |row| {
                Ok((row.get::<_, String>(0)?, device_row(row, 1)?))
            })
            .map_err(e)?;
        let mut out = Vec::new();
        for row in rows {
            let (rollout, record) = row.map_err(e)?;
            out.push((rollout, record.map_err(|reason| self.bad_row(reason))?));
        }
        Ok(out)
    }

    fn query_devices(
        &self,
        connection: &Connection,
        filter: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<DeviceRecord>, StoreError> {
        let e = |e| database(&self.path, e);
        let mut statement = connection
            .prepare(&format!(
                "SELECT {DEVICE_COLUMNS} FROM rollout_devices {filter}"
            ))
            .map_err(e)?;
        let rows = statement
            .query_map(args, |row| device_row(row, 0))
            .map_err(e)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.map_err(e)?.map_err(|reason| self.bad_row(reason))?);
        }
        Ok(out)
    }

    fn bad_row(&self, reason: String) -> StoreError {
        StoreError::Database {
            path: self.path.clone(),
            reason,
        }
    }
}

/// The tracker's state and the rollouts, committed together.
impl Store for SqliteStore {
    /// The tasks in flight and the last [`SqliteStore::ENDED_READ_BACK`] ended ones,
    /// with the counters; `None` when no tracker state was ever committed.
    fn load(&self) -> Result<Option<TrackerSnapshot>, StoreError> {
        let connection = self.connection();
        let e = |e| database(&self.path, e);
        let counters: Option<String> = connection
            .query_row(
                "SELECT counters FROM tracker_counters WHERE id = 1",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(e)?;
        let Some(counters) = counters else {
            return Ok(None);
        };
        let counters = serde_json::from_str(&counters)
            .map_err(|x| self.bad_row(format!("the tracker's counters: {x}")))?;
        let in_flight = self.records(&connection, "WHERE ended = 0 ORDER BY gateway, bid", &[])?;
        let ended = self.records(
            &connection,
            "WHERE rowid IN (SELECT rowid FROM tasks WHERE ended = 1 ORDER BY seq DESC LIMIT ?1)
             ORDER BY seq",
            &[&(Self::ENDED_READ_BACK as i64)],
        )?;
        TrackerSnapshot::from_records(in_flight.into_iter().chain(ended), counters)
            .map(Some)
            .map_err(|x| self.bad_row(format!("the tracker's tasks: {x}")))
    }

    /// Replaces the tasks in flight with those of `snapshot`, and writes its ended
    /// tasks and counters; the ended tasks saved before are kept.
    fn save(&self, snapshot: &TrackerSnapshot) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let e = |e| database(&self.path, e);
        let tx = connection.transaction().map_err(e)?;
        tx.execute("DELETE FROM tasks WHERE ended = 0", [])
            .map_err(e)?;
        write_tasks(&tx, &snapshot.records(), snapshot.counters()).map_err(e)?;
        tx.commit().map_err(e)
    }

    /// Writes the rows of the tasks that changed, the counters, and the rows of the
    /// rollouts that changed, in one transaction.
    fn commit(&self, commit: &Commit<'_>) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let e = |e| database(&self.path, e);
        let tx = connection.transaction().map_err(e)?;
        write_tasks(&tx, &commit.changes.records, &commit.changes.counters).map_err(e)?;
        for rollout in commit.rollouts {
            self.write_changes(&tx, rollout.name, rollout.rollout, rollout.changes)?;
        }
        tx.commit().map_err(e)
    }

    fn load_rollout(&self, name: &str) -> Result<Option<SavedRollout>, StoreError> {
        SqliteStore::load_rollout(self, name)
    }

    fn create_rollout(
        &self,
        name: &str,
        plan: &RolloutPlan,
        rollout: &Rollout,
    ) -> Result<(), StoreError> {
        SqliteStore::create_rollout(self, name, plan, rollout)
    }
}

/// Writes each task's row over the one it had, and the counters. A task that neither
/// started nor ended has its record rewritten and nothing else: its `seq` (the order of
/// the ended ones) and the indexed columns stay, so that an event rewrites one row and
/// no index.
fn write_tasks(
    tx: &rusqlite::Transaction<'_>,
    records: &[TaskRecord],
    counters: &Counters,
) -> rusqlite::Result<()> {
    let mut same_state = tx.prepare_cached(
        "UPDATE tasks SET record = ?4, ending = ?5
         WHERE gateway = ?1 AND bid = ?2 AND ended = ?3",
    )?;
    let mut upsert = tx.prepare_cached(
        "INSERT INTO tasks (gateway, bid, ended, ending, seq, record)
         VALUES (?1, ?2, ?3, ?4, COALESCE((SELECT MAX(seq) FROM tasks), 0) + 1, ?5)
         ON CONFLICT (gateway, bid) DO UPDATE SET
            ended = excluded.ended, ending = excluded.ending, seq = excluded.seq,
            record = excluded.record",
    )?;
    for record in records {
        let key = record.key();
        let (gateway, bid) = (key.gateway.as_str(), key.bid.to_string());
        let ending = record.ending();
        let (ended, ending, text) = (ending.is_some(), ending.map(json), json(record));
        if same_state.execute(params![gateway, bid, ended, text, ending])? == 0 {
            upsert.execute(params![gateway, bid, ended, ending, text])?;
        }
    }
    tx.prepare_cached(
        "INSERT INTO tracker_counters (id, counters) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET counters = excluded.counters",
    )?
    .execute([json(counters)])?;
    Ok(())
}

/// A device's row from [`DEVICE_COLUMNS`], starting at column `at`; the inner error says
/// what in it is not a device record.
fn device_row(row: &Row<'_>, at: usize) -> rusqlite::Result<Result<DeviceRecord, String>> {
    let text = |i: usize| row.get::<_, String>(at + i);
    let number = |i: usize| row.get::<_, Option<i64>>(at + i);
    Ok(DeviceRow {
        gateway: text(0)?,
        sn: text(1)?,
        model: text(2)?,
        outcome: text(3)?,
        result: number(4)?,
        attempts: row.get(at + 5)?,
        task: row.get(at + 6)?,
        retry_at_ms: number(7)?,
        started_ms: number(8)?,
        ended_ms: number(9)?,
        reported_version: row.get(at + 10)?,
    }
    .into_record())
}

/// The rollout's own row: its header and its policy (which a rollout taken up again
/// may have been given anew).
fn write_header(
    tx: &rusqlite::Transaction<'_>,
    name: &str,
    rollout: &Rollout,
) -> rusqlite::Result<usize> {
    let header: RolloutHeader = rollout.header();
    tx.execute(
        "UPDATE rollouts SET state = ?2, began_ms = ?3, recent_starts = ?4, threshold_ok = ?5,
            threshold_failed = ?6, policy = ?7 WHERE name = ?1",
        params![
            name,
            header.state.as_str(),
            header.began_ms.map(|v| v as i64),
            json(&header.recent_starts),
            header.threshold_base.0 as i64,
            header.threshold_base.1 as i64,
            json(rollout.policy()),
        ],
    )
}

fn write_devices(
    tx: &rusqlite::Transaction<'_>,
    name: &str,
    devices: &[DeviceRecord],
    positions: impl Iterator<Item = usize>,
) -> rusqlite::Result<usize> {
    let mut update = tx.prepare_cached(
        "UPDATE rollout_devices SET outcome = ?3, result = ?4, attempts = ?5, task = ?6,
            retry_at_ms = ?7, started_ms = ?8, ended_ms = ?9, reported_version = ?10
         WHERE rollout = ?1 AND position = ?2",
    )?;
    let mut written = 0;
    for position in positions {
        let v = DeviceValues::of(&devices[position]);
        written += update.execute(params![
            name,
            position as i64,
            v.outcome,
            v.result,
            v.attempts,
            v.task,
            v.retry_at_ms,
            v.started_ms,
            v.ended_ms,
            v.reported_version,
        ])?;
    }
    Ok(written)
}

fn database(path: &Path, error: rusqlite::Error) -> StoreError {
    StoreError::Database {
        path: path.to_path_buf(),
        reason: error.to_string(),
    }
}
