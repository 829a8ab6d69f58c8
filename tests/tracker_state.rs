//! The tracker and the devices' state pushes: an upgrade's outcome confirmed by the
//! devices when the final event is lost, a device back at another version failing the
//! task before the silence limit, and a consistency upgrade reported.

mod common;

use common::device;
use dji_cloud_ota::tracker::{Change, Ending, Output, TaskKey, Tracker, TrackerConfig};
use dji_cloud_ota::{
    Data, Device, Message, OtaProgress, ResultCode, Serial, StatePush, Step, TaskStatus,
    UpgradeType, decode_state,
};

const T0: u64 = 1_700_000_000_000;
const DOCK: &str = "4TADKAQ000002J";
const AIRCRAFT: &str = "1581F5BMD22330010X0V";
/// What `common::device()` asks for.
const NEW: &str = "04.01.0020";
const OLD: &str = "04.01.0010";
/// `TrackerConfig::state_grace_ms` by default.
const GRACE: u64 = 5_000;

/// A state push of `sn`, behind the dock, with `data` (JSON object members).
fn push(sn: &str, data: &str) -> StatePush {
    let payload = format!(
        r#"{{"tid":"5d9e54a9-4a6c-4e39-9a0e-7c1e3b6dbb7b","bid":"8d6a7a5e-7a0d-4b8b-a0a9-4f0e8c6a2f11","timestamp":1700000000000,"gateway":"{DOCK}","data":{{{data}}}}}"#
    );
    decode_state(&format!("thing/product/{sn}/state"), payload.as_bytes()).unwrap()
}

fn changes(out: &Output) -> Vec<&Change> {
    out.updates.iter().map(|u| &u.change).collect()
}

/// A tracker with one task for the aircraft, accepted by the dock's reply; the state
/// ends a task as soon as it confirms the outcome (no grace for the final event, which
/// the grace tests below give).
fn accepted(devices: Vec<Device>) -> (Tracker, TaskKey, Message) {
    accepted_with(devices, 0)
}

fn accepted_with(devices: Vec<Device>, state_grace_ms: u64) -> (Tracker, TaskKey, Message) {
    let mut tracker = Tracker::new(TrackerConfig {
        silence_timeout_ms: Some(600_000),
        state_grace_ms,
        ..TrackerConfig::default()
    });
    let started = tracker
        .start(Serial::new(DOCK).unwrap(), devices, T0)
        .unwrap();
    let reply = started
        .request
        .reply_to_create(ResultCode::SUCCESS, Some(TaskStatus::InProgress))
        .unwrap();
    tracker.handle(&reply, T0 + 100);
    (tracker, started.task, started.request)
}

fn progress(request: &Message, percent: i64) -> Message {
    let event =
        OtaProgress::new(TaskStatus::InProgress).with_progress(Step::UpgradeFirmware, percent);
    request.progress_event(event, false).unwrap()
}

#[test]
fn a_lost_final_event_is_confirmed_by_the_new_version_and_the_end_of_the_upgrade() {
    let (mut tracker, task, request) = accepted(vec![device()]);
    tracker.handle(&progress(&request, 60), T0 + 1_000);
    // The aircraft upgrades, then reports its new version and that it is done; the
    // final ota_progress never comes.
    let out = tracker.handle_state(
        &push(AIRCRAFT, r#""firmware_upgrade_status":1"#),
        T0 + 2_000,
    );
    assert!(out.updates.is_empty(), "{out:?}");
    let out = tracker.handle_state(
        &push(
            AIRCRAFT,
            &format!(r#""firmware_version":"{NEW}","firmware_upgrade_status":0"#),
        ),
        T0 + 3_000,
    );
    assert_eq!(
        changes(&out),
        [&Change::Confirmed {
            versions: vec![(AIRCRAFT.into(), NEW.into())]
        }]
    );
    assert!(out.updates[0].change.is_success() && out.updates[0].change.is_final());
    assert_eq!(out.updates[0].task, task);
    assert_eq!(tracker.ending(&task), Some(&Ending::Confirmed));
    assert!(tracker.ending(&task).unwrap().is_success());
    assert_eq!(tracker.counters().confirmed, 1);
    // A final event that comes after all is late.
    let ok = request
        .progress_event(OtaProgress::new(TaskStatus::Ok), true)
        .unwrap();
    let out = tracker.handle(&ok, T0 + 4_000);
    assert!(matches!(changes(&out)[..], [Change::Ignored(_)]));
}

#[test]
fn the_version_and_the_status_may_come_in_separate_pushes() {
    let (mut tracker, task, _) = accepted(vec![device()]);
    let out = tracker.handle_state(
        &push(AIRCRAFT, &format!(r#""firmware_version":"{NEW}""#)),
        T0 + 1_000,
    );
    assert!(
        out.updates.is_empty(),
        "still upgrading, as far as is known"
    );
    let out = tracker.handle_state(
        &push(AIRCRAFT, r#""firmware_upgrade_status":false"#),
        T0 + 2_000,
    );
    assert!(
        matches!(changes(&out)[..], [Change::Confirmed { .. }]),
        "{out:?}"
    );
    assert_eq!(tracker.ending(&task), Some(&Ending::Confirmed));
}

#[test]
fn every_device_of_the_task_must_confirm() {
    let dock = Device::new(DOCK, "10.01.0600", UpgradeType::NORMAL);
    let (mut tracker, task, _) = accepted(vec![device(), dock]);
    let aircraft_done = format!(r#""firmware_version":"{NEW}","firmware_upgrade_status":0"#);
    let out = tracker.handle_state(&push(AIRCRAFT, &aircraft_done), T0 + 1_000);
    assert!(
        out.updates.is_empty(),
        "the dock has not confirmed: {out:?}"
    );
    assert!(tracker.task(&task).is_some());
    let out = tracker.handle_state(
        &push(
            DOCK,
            r#""firmware_version":"10.01.0600","firmware_upgrade_status":0"#,
        ),
        T0 + 2_000,
    );
    assert_eq!(
        changes(&out),
        [&Change::Confirmed {
            versions: vec![
                (AIRCRAFT.into(), NEW.into()),
                (DOCK.into(), "10.01.0600".into())
            ]
        }]
    );
}

#[test]
fn a_device_back_at_its_old_version_fails_the_task_before_the_silence_limit() {
    let (mut tracker, task, request) = accepted(vec![device()]);
    tracker.handle(&progress(&request, 30), T0 + 1_000);
    tracker.handle_state(
        &push(AIRCRAFT, r#""firmware_upgrade_status":1"#),
        T0 + 2_000,
    );
    let out = tracker.handle_state(
        &push(
            AIRCRAFT,
            &format!(r#""firmware_version":"{OLD}","firmware_upgrade_status":0"#),
        ),
        T0 + 3_000,
    );
    assert_eq!(
        changes(&out),
        [&Change::Reverted {
            device: AIRCRAFT.into(),
            version: OLD.into(),
            wanted: NEW.into()
        }]
    );
    let change = &out.updates[0].change;
    assert!(change.is_final() && !change.is_success());
    assert_eq!(
        tracker.ending(&task),
        Some(&Ending::Reverted {
            device: AIRCRAFT.into(),
            version: OLD.into()
        })
    );
    // Well before the ten minutes of silence the task was given.
    assert!(tracker.next_deadline().is_none());
}

#[test]
fn the_old_version_reported_before_the_task_was_accepted_fails_nothing() {
    let mut tracker = Tracker::default();
    let started = tracker
        .start(Serial::new(DOCK).unwrap(), vec![device()], T0)
        .unwrap();
    let before = push(
        AIRCRAFT,
        &format!(r#""firmware_version":"{OLD}","firmware_upgrade_status":0"#),
    );
    let out = tracker.handle_state(&before, T0 + 100);
    assert!(out.updates.is_empty(), "{out:?}");
    assert!(tracker.task(&started.task).is_some());
}

#[test]
fn a_push_of_another_device_changes_no_task_and_a_state_push_is_a_sign_of_life() {
    let (mut tracker, task, _) = accepted(vec![device()]);
    let other = push(
        "1581F5BMD22330099Z",
        r#""firmware_version":"9","firmware_upgrade_status":0"#,
    );
    assert!(tracker.handle_state(&other, T0 + 1_000).updates.is_empty());
    assert_eq!(tracker.task(&task).unwrap().last_heard_ms, T0 + 100);
    tracker.handle_state(&push(AIRCRAFT, r#""mode_code":0"#), T0 + 2_000);
    assert_eq!(tracker.task(&task).unwrap().last_heard_ms, T0 + 2_000);
    assert_eq!(tracker.counters().state_pushes, 2);
}

#[test]
fn a_device_that_needs_a_consistency_upgrade_is_reported_with_its_fix_one_call_away() {
    let (mut tracker, task, _) = accepted(vec![device()]);
    let asking = push(AIRCRAFT, r#""compatible_status":true"#);
    let out = tracker.handle_state(&asking, T0 + 1_000);
    assert_eq!(
        changes(&out),
        [&Change::ConsistencyNeeded {
            device: Serial::new(AIRCRAFT).unwrap()
        }]
    );
    assert_eq!(out.updates[0].task, task, "the device's task");
    assert!(!out.updates[0].change.is_final());
    // From the update alone, as the runtime hands it over.
    let from_update = out.updates[0].consistency_upgrade(NEW).unwrap();
    let Data::OtaCreate(create) = &from_update.data else {
        panic!()
    };
    assert_eq!(from_update.sn.as_str(), DOCK);
    assert_eq!(create.devices[0].sn.as_str(), AIRCRAFT);
    assert_eq!(
        create.devices[0].firmware_upgrade_type,
        UpgradeType::CONSISTENCY
    );
    let fix = asking.consistency_upgrade(NEW).unwrap();
    let Data::OtaCreate(create) = &fix.data else {
        panic!()
    };
    assert_eq!(
        create.devices[0].firmware_upgrade_type,
        UpgradeType::CONSISTENCY
    );
    // A device of no task is reported too, under the push's gateway and bid.
    let mut idle = Tracker::default();
    let out = idle.handle_state(&push(DOCK, r#""compatible_status":1"#), T0);
    assert_eq!(out.updates[0].task.gateway.as_str(), DOCK);
    assert_eq!(idle.counters().consistency_needed, 1);
}

#[test]
fn what_the_devices_said_survives_a_restart() {
    let (mut tracker, task, _) = accepted(vec![device()]);
    tracker.handle_state(
        &push(AIRCRAFT, &format!(r#""firmware_version":"{NEW}""#)),
        T0 + 1_000,
    );
    let text = serde_json::to_string(&tracker.snapshot()).unwrap();
    let mut restored = Tracker::restore(
        TrackerConfig::default(),
        serde_json::from_str(&text).unwrap(),
    )
    .unwrap();
    let out = restored.handle_state(
        &push(AIRCRAFT, r#""firmware_upgrade_status":0"#),
        T0 + 2_000,
    );
    assert!(
        out.updates.is_empty(),
        "the final event is awaited a moment"
    );
    // The confirmation waiting for its grace survives a restart too.
    let text = serde_json::to_string(&restored.snapshot()).unwrap();
    let mut restored = Tracker::restore(
        TrackerConfig::default(),
        serde_json::from_str(&text).unwrap(),
    )
    .unwrap();
    let out = restored.poll(T0 + 2_000 + GRACE);
    assert!(
        matches!(changes(&out)[..], [Change::Confirmed { .. }]),
        "{out:?}"
    );
    assert_eq!(restored.ending(&task), Some(&Ending::Confirmed));
}

#[test]
fn a_confirmed_outcome_waits_for_the_final_event_a_moment_then_ends_the_task() {
    let (mut tracker, task, _) = accepted_with(vec![device()], GRACE);
    tracker.handle_state(
        &push(AIRCRAFT, r#""firmware_upgrade_status":1"#),
        T0 + 1_000,
    );
    let done = format!(r#""firmware_version":"{NEW}","firmware_upgrade_status":0"#);
    let out = tracker.handle_state(&push(AIRCRAFT, &done), T0 + 2_000);
    assert!(out.updates.is_empty(), "{out:?}");
    assert_eq!(tracker.next_deadline(), Some(T0 + 2_000 + GRACE));
    assert!(tracker.poll(T0 + 2_000 + GRACE - 1).updates.is_empty());
    let out = tracker.poll(T0 + 2_000 + GRACE);
    assert_eq!(
        changes(&out),
        [&Change::Confirmed {
            versions: vec![(AIRCRAFT.into(), NEW.into())]
        }]
    );
    assert_eq!(tracker.ending(&task), Some(&Ending::Confirmed));
}

#[test]
fn a_final_event_within_the_grace_ends_the_task_as_usual() {
    let (mut tracker, task, request) = accepted_with(vec![device()], GRACE);
    tracker.handle_state(
        &push(AIRCRAFT, r#""firmware_upgrade_status":1"#),
        T0 + 1_000,
    );
    // The dock pushes its new state just before its final event.
    let done = format!(r#""firmware_version":"{NEW}","firmware_upgrade_status":0"#);
    assert!(
        tracker
            .handle_state(&push(AIRCRAFT, &done), T0 + 2_000)
            .updates
            .is_empty()
    );
    let ok = request
        .progress_event(OtaProgress::new(TaskStatus::Ok), true)
        .unwrap();
    let out = tracker.handle(&ok, T0 + 2_100);
    assert!(
        matches!(
            changes(&out)[..],
            [Change::Finished {
                status: TaskStatus::Ok,
                ..
            }]
        ),
        "{out:?}"
    );
    assert_eq!(out.publish.len(), 1, "the final event is answered");
    assert!(tracker.poll(T0 + 2_000 + GRACE).updates.is_empty());
    assert_eq!(tracker.counters().confirmed, 0);
    assert!(tracker.ending(&task).unwrap().is_success());
}

#[test]
fn a_confirmation_is_withdrawn_when_a_device_upgrades_again() {
    let (mut tracker, task, _) = accepted_with(vec![device()], GRACE);
    let done = format!(r#""firmware_version":"{NEW}","firmware_upgrade_status":0"#);
    tracker.handle_state(&push(AIRCRAFT, &done), T0 + 1_000);
    tracker.handle_state(
        &push(AIRCRAFT, r#""firmware_upgrade_status":1"#),
        T0 + 2_000,
    );
    assert!(tracker.poll(T0 + 1_000 + GRACE).updates.is_empty());
    assert!(tracker.task(&task).is_some());
}

#[test]
fn a_device_not_yet_upgrading_after_the_reply_fails_nothing() {
    // Right after accepting, a dock downloads: its devices still report 0 and the old
    // version, which is no sign of a failed upgrade.
    let (mut tracker, task, _) = accepted(vec![device()]);
    let idle = format!(r#""firmware_version":"{OLD}","firmware_upgrade_status":0"#);
    let out = tracker.handle_state(&push(AIRCRAFT, &idle), T0 + 1_000);
    assert!(out.updates.is_empty(), "{out:?}");
    assert!(tracker.task(&task).is_some());
}

#[test]
fn a_device_upgrading_shows_the_dock_took_the_task_and_stops_the_retries() {
    // The reply and the events are lost; the devices' state tells it all.
    let mut tracker = Tracker::new(TrackerConfig {
        state_grace_ms: 0,
        ..TrackerConfig::default()
    });
    let started = tracker
        .start(Serial::new(DOCK).unwrap(), vec![device()], T0)
        .unwrap();
    let out = tracker.handle_state(
        &push(AIRCRAFT, r#""firmware_upgrade_status":1"#),
        T0 + 1_000,
    );
    assert_eq!(
        changes(&out),
        [&Change::Accepted {
            status: None,
            by_event: true
        }]
    );
    // No retry of the ota_create, however the time goes (short of the silence limit).
    assert!(tracker.poll(T0 + 60_000).publish.is_empty());
    let done = format!(r#""firmware_version":"{NEW}","firmware_upgrade_status":0"#);
    let out = tracker.handle_state(&push(AIRCRAFT, &done), T0 + 61_000);
    assert!(
        matches!(changes(&out)[..], [Change::Confirmed { .. }]),
        "{out:?}"
    );
    assert_eq!(tracker.ending(&started.task), Some(&Ending::Confirmed));
}

#[test]
fn the_version_a_device_reports_while_it_upgrades_is_not_the_outcome() {
    let (mut tracker, task, _) = accepted(vec![device()]);
    // Starting, it reports the version it runs, the old one.
    let starting = format!(r#""firmware_version":"{OLD}","firmware_upgrade_status":1"#);
    tracker.handle_state(&push(AIRCRAFT, &starting), T0 + 1_000);
    let out = tracker.handle_state(
        &push(AIRCRAFT, r#""firmware_upgrade_status":0"#),
        T0 + 2_000,
    );
    assert!(out.updates.is_empty(), "not reverted: {out:?}");
    let out = tracker.handle_state(
        &push(AIRCRAFT, &format!(r#""firmware_version":"{NEW}""#)),
        T0 + 3_000,
    );
    assert!(
        matches!(changes(&out)[..], [Change::Confirmed { .. }]),
        "{out:?}"
    );
    assert_eq!(tracker.ending(&task), Some(&Ending::Confirmed));
}

#[test]
fn a_revert_is_seen_when_the_version_comes_in_a_later_push() {
    let (mut tracker, task, _) = accepted(vec![device()]);
    tracker.handle_state(
        &push(AIRCRAFT, r#""firmware_upgrade_status":1"#),
        T0 + 1_000,
    );
    tracker.handle_state(
        &push(AIRCRAFT, r#""firmware_upgrade_status":0"#),
        T0 + 2_000,
    );
    let out = tracker.handle_state(
        &push(AIRCRAFT, &format!(r#""firmware_version":"{OLD}""#)),
        T0 + 3_000,
    );
    assert!(
        matches!(changes(&out)[..], [Change::Reverted { .. }]),
        "{out:?}"
    );
    assert!(matches!(
        tracker.ending(&task),
        Some(Ending::Reverted { .. })
    ));
}

#[test]
fn a_push_through_another_gateway_concerns_no_task_of_this_one() {
    let (mut tracker, task, _) = accepted(vec![device()]);
    let elsewhere = |data: &str| {
        let payload = format!(
            r#"{{"tid":"5d9e54a9-4a6c-4e39-9a0e-7c1e3b6dbb7b","bid":"8d6a7a5e-7a0d-4b8b-a0a9-4f0e8c6a2f11","timestamp":1700000000000,"gateway":"5TADKAQ000003K","data":{{{data}}}}}"#
        );
        decode_state(
            &format!("thing/product/{AIRCRAFT}/state"),
            payload.as_bytes(),
        )
        .unwrap()
    };
    tracker.handle_state(&elsewhere(r#""firmware_upgrade_status":1"#), T0 + 1_000);
    let done = format!(r#""firmware_version":"{NEW}","firmware_upgrade_status":0"#);
    let out = tracker.handle_state(&elsewhere(&done), T0 + 2_000);
    assert!(out.updates.is_empty(), "{out:?}");
    assert!(tracker.task(&task).is_some());
    assert_eq!(tracker.task(&task).unwrap().last_heard_ms, T0 + 100);
}

#[test]
fn a_confirmed_task_waits_for_its_grace_whatever_the_silence_limit() {
    let mut tracker = Tracker::new(TrackerConfig {
        silence_timeout_ms: Some(3_000),
        state_grace_ms: GRACE,
        ..TrackerConfig::default()
    });
    let started = tracker
        .start(Serial::new(DOCK).unwrap(), vec![device()], T0)
        .unwrap();
    let reply = started
        .request
        .reply_to_create(ResultCode::SUCCESS, Some(TaskStatus::InProgress))
        .unwrap();
    tracker.handle(&reply, T0);
    tracker.handle_state(
        &push(AIRCRAFT, r#""firmware_upgrade_status":1"#),
        T0 + 1_000,
    );
    let done = format!(r#""firmware_version":"{NEW}","firmware_upgrade_status":0"#);
    tracker.handle_state(&push(AIRCRAFT, &done), T0 + 2_000);
    // The silence limit (3 s after the last sign) passes before the grace (5 s).
    assert_eq!(tracker.next_deadline(), Some(T0 + 2_000 + GRACE));
    assert!(tracker.poll(T0 + 5_500).updates.is_empty());
    let out = tracker.poll(T0 + 2_000 + GRACE);
    assert!(
        matches!(changes(&out)[..], [Change::Confirmed { .. }]),
        "{out:?}"
    );
}
