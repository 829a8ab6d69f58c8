//! The file store, as a server uses it: nothing saved yet, a state saved and loaded
//! back, a damaged file, and the process killed (SIGKILL) at any instant of a save.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dji_cloud_ota::tracker::Tracker;
use dji_cloud_ota::{Device, Serial, UpgradeType};
use dji_cloud_ota_mqtt::store::{FileStore, Store, StoreError};

/// A fresh folder of this test's own.
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ota-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A tracker with `n` tasks in flight, started at `now`.
fn tracker_with(n: usize, now: u64) -> Tracker {
    let mut tracker = Tracker::default();
    for i in 0..n {
        let gateway = Serial::new(&format!("DOCK{i:04}")).unwrap();
        let device = Device::new("1581F5BMD22330010X0V", "04.01.0020", UpgradeType::NORMAL);
        tracker.start(gateway, vec![device], now).unwrap();
    }
    tracker
}

#[test]
fn nothing_saved_loads_as_none_and_a_saved_state_loads_back() {
    let dir = folder("round-trip");
    let store = FileStore::new(dir.join("state.json"));
    assert!(store.load().unwrap().is_none());
    let snapshot = tracker_with(3, 1_700_000_000_000).snapshot();
    store.save(&snapshot).unwrap();
    assert_eq!(store.load().unwrap(), Some(snapshot.clone()));
    // A second save replaces the first whole.
    let smaller = tracker_with(1, 1_700_000_000_000).snapshot();
    store.save(&smaller).unwrap();
    assert_eq!(store.load().unwrap(), Some(smaller));
    assert!(!dir.join("state.json.tmp").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_damaged_file_is_an_error_that_names_it() {
    let dir = folder("damaged");
    let path = dir.join("state.json");
    std::fs::write(&path, b"{\"version\":1,\"tasks\":[").unwrap();
    let error = FileStore::new(&path).load().unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
    assert!(error.to_string().contains("state.json"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_folder_is_an_io_error() {
    let store = FileStore::new(folder("missing").join("no/such/folder/state.json"));
    let error = store.save(&Tracker::default().snapshot()).unwrap_err();
    assert!(matches!(error, StoreError::Io { .. }), "{error}");
}

/// Run as a child process by the kill test: saves states of 1 to 40 tasks, over and
/// over, until it is killed.
#[test]
#[ignore = "the child process of a_save_killed_at_any_instant_leaves_a_whole_state"]
fn child_saving_forever() {
    let path = std::env::var("OTA_STORE_CHILD_PATH").expect(
        "OTA_STORE_CHILD_PATH is not set: a_save_killed_at_any_instant_leaves_a_whole_state \
         runs this as its child process",
    );
    let store = FileStore::new(path);
    let states: Vec<_> = (1..=40)
        .map(|n| tracker_with(n, 1_700_000_000_000 + n as u64).snapshot())
        .collect();
    for state in states.iter().cycle() {
        store.save(state).unwrap();
    }
}

fn spawn_saver(path: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_saving_forever",
            "--ignored",
            "--nocapture",
        ])
        .env("OTA_STORE_CHILD_PATH", path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn a_save_killed_at_any_instant_leaves_a_whole_state() {
    let dir = folder("killed");
    let path = dir.join("state.json");
    let store = FileStore::new(&path);
    let mut kills = 0;
    for round in 0..30u64 {
        let mut child = spawn_saver(&path);
        // Let it save a while (the first round until it has saved once), then kill it,
        // at a different moment each round.
        let started = Instant::now();
        while round == 0 && !path.exists() && started.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(5 + (round * 7) % 40));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        let state = store
            .load()
            .unwrap_or_else(|e| panic!("round {round}: {e}"))
            .expect("a state was saved");
        // Whole: one of the states the child saves, 1 to 40 tasks, restorable.
        let n = state.tasks_in_flight();
        assert!((1..=40).contains(&n), "round {round}: {n} tasks");
        let tracker = Tracker::restore(Default::default(), state).unwrap();
        assert_eq!(tracker.len(), n);
    }
    assert_eq!(kills, 30);
    std::fs::remove_dir_all(&dir).unwrap();
}
