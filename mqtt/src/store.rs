//! Where a tracker's state is kept between runs.
//!
//! A server commits what changed in its tracker (and its rollouts) after every batch of
//! messages, and loads the state when it starts again
//! ([`dji_cloud_ota::tracker::Tracker::restore`]), so that an upgrade under way survives
//! a restart. [`Store`] is the small interface a server implements for its own
//! database; [`FileStore`] keeps the state in one file, written whole, and survives the
//! process being killed at any instant; [`crate::SqliteStore`] keeps a row per task and
//! writes the rows that changed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use dji_cloud_ota::rollout::{Changes, Rollout, RolloutPlan};
use dji_cloud_ota::tracker::{Tracker, TrackerChanges, TrackerSnapshot};
use thiserror::Error;

use crate::sqlite::SavedRollout;

/// Where a tracker's state is kept.
///
/// `save` replaces what was saved before, whole: after it returns, `load` gives the new
/// state, even after a crash; if it fails or the process dies during it, `load` gives
/// the old state or the new one, never a mix.
pub trait Store {
    /// The state saved last, or `None` when nothing was ever saved.
    ///
    /// # Errors
    /// [`StoreError`]: the state cannot be read, or what was read is not a state.
    fn load(&self) -> Result<Option<TrackerSnapshot>, StoreError>;

    /// Saves `snapshot` in place of what was saved before.
    ///
    /// # Errors
    /// [`StoreError::Io`] when it could not be written.
    fn save(&self, snapshot: &TrackerSnapshot) -> Result<(), StoreError>;

    /// Saves at once, in one transaction, what changed in the tracker and in the
    /// rollouts ([`Commit`]): after it returns, `load` and `load_rollout` give the new
    /// state; if it fails, nothing of it is saved (the driver keeps the changes and
    /// commits them again with the next ones). The default saves the tracker's whole
    /// `snapshot()` and refuses rollouts ([`StoreError::NoRollouts`]); a store that
    /// keeps a row per task ([`crate::SqliteStore`]) writes the rows that changed.
    ///
    /// # Errors
    /// As [`Store::save`].
    fn commit(&self, commit: &Commit<'_>) -> Result<(), StoreError> {
        if !commit.rollouts.is_empty() {
            return Err(StoreError::NoRollouts);
        }
        self.save(&commit.tracker.snapshot())
    }

    /// The rollout named `name` as saved, or `None`. The default keeps none.
    ///
    /// # Errors
    /// [`StoreError`]: it cannot be read.
    fn load_rollout(&self, name: &str) -> Result<Option<SavedRollout>, StoreError> {
        let _ = name;
        Ok(None)
    }

    /// Saves a new rollout: its plan's firmware and policy, and every device's row.
    /// The default refuses ([`StoreError::NoRollouts`]).
    ///
    /// # Errors
    /// [`StoreError`]: it cannot be written, or a rollout of that name exists.
    fn create_rollout(
        &self,
        name: &str,
        plan: &RolloutPlan,
        rollout: &Rollout,
    ) -> Result<(), StoreError> {
        let _ = (name, plan, rollout);
        Err(StoreError::NoRollouts)
    }
}

/// What [`Store::commit`] saves: what changed since the last commit that succeeded.
#[derive(Debug, Clone, Copy)]
pub struct Commit<'a> {
    /// The tracker as it is now.
    pub tracker: &'a Tracker,
    /// What changed in it ([`Tracker::take_changes`], merged with the changes of
    /// commits that failed).
    pub changes: &'a TrackerChanges,
    /// What changed in each rollout that changed.
    pub rollouts: &'a [RolloutCommit<'a>],
}

/// What changed in one rollout, for [`Store::commit`].
#[derive(Debug, Clone, Copy)]
pub struct RolloutCommit<'a> {
    /// The rollout's name.
    pub name: &'a str,
    /// The rollout.
    pub rollout: &'a Rollout,
    /// What changed since its last commit ([`Rollout::take_changes`]).
    pub changes: &'a Changes,
}

/// Why a [`Store`] could not load or save.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// This store keeps no rollouts: [`crate::SqliteStore`] does.
    #[error("this store keeps no rollouts (SqliteStore does)")]
    NoRollouts,
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The database refused or failed an operation, or holds what is not this
    /// crate's ([`crate::SqliteStore`]).
    #[error("{path}: {reason}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// What the database said, or what in it could not be read.
        reason: String,
    },
    /// A database server (`PgStore`, with the feature `postgres`) cannot be
    /// reached, refused or failed an operation, or holds what is not this crate's.
    #[error("{server}: {reason}")]
    Server {
        /// Where the store connects, without the password.
        server: String,
        /// What the server or its client said.
        reason: String,
    },
    /// The database was written by a newer version of this crate, with a schema it
    /// does not know: it is not read, rather than misread.
    #[error("{path} has schema version {found}; this version knows up to {known}")]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// Its schema version.
        found: u32,
        /// The newest this crate knows.
        known: u32,
    },
    /// What was read is not a tracker state: written by something else, or damaged.
    #[error("{path} does not hold a tracker state: {source}")]
    Corrupt {
        /// The file concerned.
        path: PathBuf,
        /// What the JSON reader said.
        source: serde_json::Error,
    },
}

impl StoreError {
    /// The same error again, for a second caller it concerns (the starts that shared
    /// a failed commit): the system's and the JSON reader's errors are made again
    /// from their kind and message.
    pub(crate) fn again(&self) -> Self {
        match self {
            StoreError::NoRollouts => StoreError::NoRollouts,
            StoreError::Io { path, source } => StoreError::Io {
                path: path.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
            StoreError::Database { path, reason } => StoreError::Database {
                path: path.clone(),
                reason: reason.clone(),
            },
            StoreError::Server { server, reason } => StoreError::Server {
                server: server.clone(),
                reason: reason.clone(),
            },
            StoreError::NewerSchema { path, found, known } => StoreError::NewerSchema {
                path: path.clone(),
                found: *found,
                known: *known,
            },
            StoreError::Corrupt { path, source } => StoreError::Corrupt {
                path: path.clone(),
                source: serde::de::Error::custom(source.to_string()),
            },
        }
    }
}

/// A tracker's state in one JSON file, replaced atomically.
///
/// `save` writes the new state to a temporary file beside it (`PATH.tmp`), syncs it to
/// the disk, renames it over `PATH` and syncs the folder: a rename within one folder
/// either happens whole or not at all, so `PATH` always holds a whole state, the old or
/// the new one, whenever the process is killed. The folder must exist; nothing else
/// should write `PATH.tmp`.
///
/// ```
/// use dji_cloud_ota::tracker::Tracker;
/// use dji_cloud_ota_mqtt::store::{FileStore, Store};
///
/// let dir = std::env::temp_dir().join(format!("store-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let store = FileStore::new(dir.join("ota-state.json"));
/// assert!(store.load()?.is_none());
/// store.save(&Tracker::default().snapshot())?;
/// assert_eq!(store.load()?, Some(Tracker::default().snapshot()));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStore {
    path: PathBuf,
    temporary: PathBuf,
}

impl FileStore {
    /// A store in the file `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let mut temporary = path.clone().into_os_string();
        temporary.push(".tmp");
        Self {
            path,
            temporary: temporary.into(),
        }
    }

    /// The file the state is kept in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

impl Store for FileStore {
    fn load(&self) -> Result<Option<TrackerSnapshot>, StoreError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| StoreError::Corrupt {
                path: self.path.clone(),
                source,
            })
    }

    fn save(&self, snapshot: &TrackerSnapshot) -> Result<(), StoreError> {
        let text = serde_json::to_vec(snapshot).map_err(|e| self.io(e.into()))?;
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&self.temporary)
            .map_err(|e| self.io(e))?;
        file.write_all(&text).map_err(|e| self.io(e))?;
        file.sync_all().map_err(|e| self.io(e))?;
        drop(file);
        fs::rename(&self.temporary, &self.path).map_err(|e| self.io(e))?;
        // The rename itself is durable once the folder is synced.
        let folder = match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        File::open(folder)
            .and_then(|folder| folder.sync_all())
            .map_err(|e| self.io(e))
    }
}
