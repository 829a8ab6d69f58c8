//! The PostgreSQL store against a real server, started by each test in a temporary
//! folder (`support/postgres.rs`): a rollout and the tracker's tasks committed batch
//! after batch and read back by another connection, a commit that fails writing
//! nothing, processes started together migrating the schema once, a newer schema
//! refused, the server restarted under the store, the password never shown, and the
//! committing process killed (SIGKILL) at many instants.
//!
//! Ignored by plain `cargo test`, which may run where PostgreSQL is not installed;
//! `.ci/run` installs it and runs them:
//! `cargo test -p dji-cloud-ota-mqtt --features postgres,metrics --test postgres -- --ignored --skip child_`.

#[path = "support/plans.rs"]
mod plans;
#[path = "support/store_cases.rs"]
mod store_cases;
#[path = "support/postgres.rs"]
mod test_postgres;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dji_cloud_ota::rollout::{Changes, Outcome, Policy, Rollout, RolloutPlan};
use dji_cloud_ota::tracker::{TaskKey, Tracker, TrackerChanges, TrackerConfig};
use dji_cloud_ota_mqtt::{Commit, PgStore, RolloutCommit, Store, StoreError};

use test_postgres::TestPostgres;

use store_cases::{commit_tracker, start_task};

const T0: u64 = 1_700_000_000_000;

/// `gateways` docks with their aircraft.
fn plan(gateways: usize, policy: Policy) -> RolloutPlan {
    plans::docks_with_aircraft(gateways, policy)
}

use plans::step;

/// What the cloud driver commits after a batch: the tracker's changes and the
/// rollout's, together.
fn commit(
    store: &PgStore,
    tracker: &mut Tracker,
    name: &str,
    rollout: &mut Rollout,
) -> Result<(TrackerChanges, Changes), StoreError> {
    let changes = tracker.take_changes();
    let rollout_changes = rollout.take_changes();
    store.commit(&Commit {
        tracker,
        changes: &changes,
        rollouts: &[RolloutCommit {
            name,
            rollout,
            changes: &rollout_changes,
        }],
    })?;
    Ok((changes, rollout_changes))
}

/// One batch of the driver: the rollout's ended tasks forgotten by the tracker, its
/// new starts started in it.
fn batch(tracker: &mut Tracker, rollout: &mut Rollout, now: u64) {
    for task in rollout.tasks_in_flight().cloned().collect::<Vec<_>>() {
        tracker.forget(&task);
    }
    for start in step(rollout, now) {
        tracker.start_request(start.request, now).unwrap();
    }
}

#[test]
#[ignore = "starts PostgreSQL: needs its programs (Debian's postgresql package, as .ci/run installs)"]
fn a_rollout_and_its_tasks_committed_batch_after_batch_read_back_as_they_were() {
    let server = TestPostgres::start("round-trip");
    let url = server.database("fleet");
    let policy = Policy {
        max_in_flight: 7,
        retry_after_ms: 1_000,
        ..Policy::default()
    };
    let store = PgStore::connect(&url).unwrap();
    assert_eq!(store.load().unwrap(), None, "nothing committed yet");
    assert!(store.load_rollout("r1").unwrap().is_none());
    let mut rollout = Rollout::new(plan(40, policy.clone())).unwrap();
    store
        .create_rollout("r1", &plan(40, policy.clone()), &rollout)
        .unwrap();
    let config = TrackerConfig {
        max_tasks: 100,
        ..TrackerConfig::default()
    };
    let mut tracker = Tracker::new(config.clone());
    // A second connection, as another process or a restart reads it.
    let reader = PgStore::connect(&url).unwrap();
    let mut now = T0;
    while !rollout.is_done() {
        batch(&mut tracker, &mut rollout, now);
        commit(&store, &mut tracker, "r1", &mut rollout).unwrap();
        let saved = reader.load_rollout("r1").unwrap().unwrap();
        assert_eq!(saved.snapshot, rollout.snapshot());
        assert_eq!(saved.plan(), plan(40, policy.clone()));
        let restored = Tracker::restore(config.clone(), reader.load().unwrap().unwrap()).unwrap();
        assert_eq!(restored.snapshot(), tracker.snapshot());
        now += 500;
    }
    let counts = rollout.counts();
    assert_eq!(counts.ok + counts.failed, 80);
    assert!(counts.failed > 0 && counts.ok > 0, "{counts:?}");
    // Taken up with a new policy, committed with its header: the new policy is kept.
    let saved = reader.load_rollout("r1").unwrap().unwrap();
    let wider = Policy {
        max_in_flight: 30,
        ..policy
    };
    let retaken = Rollout::restore(plan(40, wider.clone()), saved.snapshot).unwrap();
    let header_only = Changes {
        header: true,
        devices: Vec::new(),
    };
    let nothing = tracker.take_changes();
    store
        .commit(&Commit {
            tracker: &tracker,
            changes: &nothing,
            rollouts: &[RolloutCommit {
                name: "r1",
                rollout: &retaken,
                changes: &header_only,
            }],
        })
        .unwrap();
    assert_eq!(reader.load_rollout("r1").unwrap().unwrap().policy, wider);
    assert_eq!(reader.rollouts().unwrap(), vec!["r1".to_string()]);
    let rows = reader.devices_of_gateway("DOCK00003").unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|(name, r)| name == "r1" && r.attempts >= 1));
    assert!(reader.devices_of_gateway("NOSUCHDOCK").unwrap().is_empty());
}

#[test]
#[ignore = "starts PostgreSQL: needs its programs (Debian's postgresql package, as .ci/run installs)"]
fn ended_tasks_stay_queryable_beyond_what_the_tracker_remembers() {
    let server = TestPostgres::start("tasks");
    let store = PgStore::connect(&server.database("fleet")).unwrap();
    store_cases::ended_tasks_stay_queryable_beyond_what_the_tracker_remembers(&store);
}

#[test]
#[ignore = "starts PostgreSQL: needs its programs (Debian's postgresql package, as .ci/run installs)"]
fn a_commit_that_fails_writes_nothing_and_its_changes_commit_later() {
    let server = TestPostgres::start("failed");
    let store = PgStore::connect(&server.database("fleet")).unwrap();
    let mut tracker = Tracker::default();
    let mut rollout = Rollout::new(plan(3, Policy::default())).unwrap();
    store
        .create_rollout("r", &plan(3, Policy::default()), &rollout)
        .unwrap();
    batch(&mut tracker, &mut rollout, T0);
    let (tracker_changes, rollout_changes) = (tracker.take_changes(), rollout.take_changes());
    // The tracker's rows and a rollout that does not exist, in one commit: refused
    // whole, the tracker's rows with it.
    let error = store
        .commit(&Commit {
            tracker: &tracker,
            changes: &tracker_changes,
            rollouts: &[RolloutCommit {
                name: "no-such",
                rollout: &rollout,
                changes: &rollout_changes,
            }],
        })
        .unwrap_err();
    assert!(matches!(error, StoreError::Server { .. }), "{error}");
    assert!(
        error.to_string().contains("no rollout named \"no-such\""),
        "{error}"
    );
    assert_eq!(store.load().unwrap(), None, "nothing of the commit written");
    // Kept by the caller, committed with the next ones.
    batch(&mut tracker, &mut rollout, T0 + 1);
    let (mut tracker_all, mut rollout_all) = (tracker_changes, rollout_changes);
    tracker_all.merge(tracker.take_changes());
    rollout_all.merge(rollout.take_changes());
    store
        .commit(&Commit {
            tracker: &tracker,
            changes: &tracker_all,
            rollouts: &[RolloutCommit {
                name: "r",
                rollout: &rollout,
                changes: &rollout_all,
            }],
        })
        .unwrap();
    assert_eq!(
        store.load_rollout("r").unwrap().unwrap().snapshot,
        rollout.snapshot()
    );
    assert_eq!(store.load().unwrap().unwrap(), tracker.snapshot());
    let created_twice = store.create_rollout("r", &plan(3, Policy::default()), &rollout);
    assert!(matches!(created_twice, Err(StoreError::Server { .. })));
}

#[test]
#[ignore = "starts PostgreSQL: needs its programs (Debian's postgresql package, as .ci/run installs)"]
fn processes_started_together_migrate_once_and_a_newer_schema_is_refused() {
    let server = TestPostgres::start("schema");
    let url = server.database("fleet");
    // Eight at once on an empty database: one migrates, the others wait and find it
    // done.
    let connected: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PgStore::connect(&url).map(drop))
        })
        .collect();
    for store in connected {
        store.join().unwrap().unwrap();
    }
    let store = PgStore::connect(&url).unwrap();
    assert_eq!(store.rollouts().unwrap(), Vec::<String>::new());
    drop(store);
    // What a newer version would have written.
    let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    client
        .execute(
            "UPDATE ota_schema SET version = $1",
            &[&(PgStore::SCHEMA_VERSION as i32 + 1)],
        )
        .unwrap();
    let error = PgStore::connect(&url).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(&format!(
            "schema version {}; this version knows up to {}",
            PgStore::SCHEMA_VERSION + 1,
            PgStore::SCHEMA_VERSION
        )),
        "{text}"
    );
}

#[test]
#[ignore = "starts PostgreSQL: needs its programs (Debian's postgresql package, as .ci/run installs)"]
fn a_server_restarted_under_the_store_fails_one_commit_and_the_next_connects_again() {
    let server = TestPostgres::start("restart");
    let store = PgStore::connect(&server.database("fleet")).unwrap();
    let mut tracker = Tracker::default();
    start_task(&mut tracker, "DOCK00001", T0);
    commit_tracker(&store, &mut tracker);
    server.stop();
    start_task(&mut tracker, "DOCK00002", T0 + 1);
    let pending = tracker.take_changes();
    let failed = store.commit(&Commit {
        tracker: &tracker,
        changes: &pending,
        rollouts: &[],
    });
    assert!(
        matches!(failed, Err(StoreError::Server { .. })),
        "{failed:?}"
    );
    // While it is down, every call fails, with the server named.
    let down = store.load().unwrap_err().to_string();
    assert!(down.starts_with("postgres://postgres@127.0.0.1:"), "{down}");
    server.start_again();
    store
        .commit(&Commit {
            tracker: &tracker,
            changes: &pending,
            rollouts: &[],
        })
        .unwrap();
    assert_eq!(store.load().unwrap().unwrap(), tracker.snapshot());
}

#[test]
#[ignore = "starts PostgreSQL: needs its programs (Debian's postgresql package, as .ci/run installs)"]
fn the_password_is_never_shown() {
    let server = TestPostgres::start("password");
    let url = server.database("fleet");
    let store = PgStore::connect_with_password(&url, "s3cr3t-pw").unwrap();
    let shown = format!("{store} {store:?}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(shown.contains("postgres://postgres@127.0.0.1:"), "{shown}");
    // In the URL, and refused: the error names the server, not the password.
    let port = url.rsplit(':').next().unwrap().split('/').next().unwrap();
    let wrong = format!("postgres://nobody:s3cr3t-pw@127.0.0.1:{port}/fleet");
    let error = PgStore::connect(&wrong).unwrap_err().to_string();
    assert!(!error.contains("s3cr3t"), "{error}");
    assert!(error.contains("nobody@127.0.0.1"), "{error}");
    let bad = PgStore::connect("postgres://a:s3cr3t-pw@[nonsense").unwrap_err();
    assert!(!bad.to_string().contains("s3cr3t"), "{bad}");
}

/// Run as a child process by the kill test: rollouts of 500 gateways stepped and
/// committed with the tracker after every step, one after the other, until killed.
#[test]
#[ignore = "the child process of a_commit_killed_at_any_instant_leaves_the_rows_of_whole_commits"]
fn child_committing_forever() {
    let url = std::env::var("OTA_POSTGRES_CHILD_URL").expect(
        "OTA_POSTGRES_CHILD_URL is not set: a_commit_killed_at_any_instant_leaves_the_rows_of_whole_commits \
         runs this as its child process",
    );
    let store = PgStore::connect(&url).unwrap();
    let policy = Policy {
        max_in_flight: 50,
        retry_after_ms: 0,
        ..Policy::default()
    };
    let mut tracker = Tracker::new(TrackerConfig {
        max_tasks: 1_000,
        ..TrackerConfig::default()
    });
    for round in 0.. {
        let name = format!("r{round}-{}", std::process::id());
        let mut rollout = Rollout::new(plan(500, policy.clone())).unwrap();
        store
            .create_rollout(&name, &plan(500, policy.clone()), &rollout)
            .unwrap();
        let mut now = T0;
        while !rollout.is_done() {
            batch(&mut tracker, &mut rollout, now);
            commit(&store, &mut tracker, &name, &mut rollout).unwrap();
            now += 1;
        }
    }
}

#[test]
#[ignore = "starts PostgreSQL: needs its programs (Debian's postgresql package, as .ci/run installs)"]
fn a_commit_killed_at_any_instant_leaves_the_rows_of_whole_commits() {
    let server = TestPostgres::start("killed");
    let url = server.database("fleet");
    let reader = PgStore::connect(&url).unwrap();
    let mut checked = 0;
    for round in 0..25u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_committing_forever",
                "--ignored",
                "--nocapture",
            ])
            .env("OTA_POSTGRES_CHILD_URL", &url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while round == 0
            && reader.rollouts().unwrap().is_empty()
            && started.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(20 + (round * 37) % 150));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let mut rollout_tasks = Vec::new();
        for name in reader.rollouts().unwrap() {
            let saved = reader.load_rollout(&name).unwrap().unwrap();
            for pair in saved.snapshot.devices.chunks(2) {
                let (dock, aircraft) = (&pair[0], &pair[1]);
                assert_eq!(
                    (dock.outcome, dock.attempts, &dock.task),
                    (aircraft.outcome, aircraft.attempts, &aircraft.task),
                    "round {round}, rollout {name}: a gateway's devices apart"
                );
            }
            let restored = Rollout::restore(saved.plan(), saved.snapshot.clone())
                .unwrap_or_else(|e| panic!("round {round}, rollout {name}: {e}"));
            let in_progress = (saved.snapshot.devices.iter())
                .filter(|d| d.outcome == Outcome::InProgress)
                .count();
            assert_eq!(restored.in_flight() * 2, in_progress);
            rollout_tasks.extend(restored.tasks_in_flight().cloned());
            checked += 1;
        }
        // The tracker's rows and the rollouts' were committed together.
        let mut tracker_tasks: Vec<TaskKey> = reader
            .load()
            .unwrap()
            .map(|snapshot| Tracker::restore(TrackerConfig::default(), snapshot).unwrap())
            .map(|t| t.tasks().into_iter().map(|(key, _)| key).collect())
            .unwrap_or_default();
        tracker_tasks.sort();
        rollout_tasks.sort();
        assert_eq!(tracker_tasks, rollout_tasks, "round {round}");
    }
    assert!(checked >= 25, "{checked} rollouts checked");
}
