//! A tracker's state survives a restart: saved with `snapshot`, written and read back
//! with serde (JSON, as a server stores it), and given to `Tracker::restore`, the
//! tracker follows each task from where it was: no second `ota_create`, the deadlines
//! it had, events answered, duplicates and late events still recognised, counters
//! carried on. Driven as a dock agent and a server drive it, with the dock-side
//! builders (`Message::progress_event`, `reply_to_create`).

mod common;

use common::device;
use dji_cloud_ota::tracker::{
    Change, Counters, Ending, Ignored, Output, RestoreError, StartError, TaskKey, Tracker,
    TrackerConfig, TrackerSnapshot,
};
use dji_cloud_ota::{Data, Message, OtaProgress, ResultCode, Serial, Step, TaskStatus, TopicKind};

/// A plausible "now": late 2023, in Unix milliseconds.
const T0: u64 = 1_700_000_000_000;

fn gateway(sn: &str) -> Serial {
    Serial::new(sn).unwrap()
}

/// The tracker saved as a server saves it, and restored with `config`.
fn restarted(tracker: &Tracker, config: TrackerConfig) -> Tracker {
    let text = serde_json::to_string(&tracker.snapshot()).unwrap();
    let snapshot: TrackerSnapshot = serde_json::from_str(&text).unwrap();
    Tracker::restore(config, snapshot).unwrap()
}

/// The dock's event for `request` at `percent` of `step`, asking for a reply.
fn progress(request: &Message, step: Step, percent: i64, at: u64) -> Message {
    let event = OtaProgress::new(TaskStatus::InProgress).with_progress(step, percent);
    let mut message = request.progress_event(event, true).unwrap();
    message.timestamp = at;
    message
}

fn final_event(request: &Message, status: TaskStatus, at: u64) -> Message {
    let event = OtaProgress::new(status).with_progress(Step::UpgradeFirmware, 100);
    let mut message = request.progress_event(event, true).unwrap();
    message.timestamp = at;
    message
}

fn changes(out: &Output) -> Vec<&Change> {
    out.updates.iter().map(|u| &u.change).collect()
}

fn published_ota_creates(out: &Output) -> usize {
    out.publish
        .iter()
        .filter(|m| matches!(m.data, Data::OtaCreate(_)))
        .count()
}

#[test]
fn an_accepted_task_is_followed_to_its_end_after_a_restart() {
    let mut tracker = Tracker::default();
    let started = tracker
        .start(gateway("4TADKAQ000002J"), vec![device()], T0)
        .unwrap();
    let request = started.request;
    let reply = request
        .reply_to_create(ResultCode::SUCCESS, Some(TaskStatus::InProgress))
        .unwrap();
    tracker.handle(&reply, T0 + 500);
    let first = progress(&request, Step::DownloadFirmware, 10, T0 + 1_000);
    assert_eq!(tracker.handle(&first, T0 + 1_000).publish.len(), 1);

    let mut tracker = restarted(&tracker, TrackerConfig::default());

    // The state is the one saved.
    let state = tracker.task(&started.task).expect("still in flight");
    assert!(state.accepted);
    assert_eq!(
        (state.step, state.percent),
        (Some(Step::DownloadFirmware), Some(10))
    );
    assert_eq!(state.last_heard_ms, T0 + 1_000);
    // Nothing is sent again, however the time goes, short of the silence limit.
    let out = tracker.poll(T0 + 60_000);
    assert!(out.publish.is_empty() && out.updates.is_empty(), "{out:?}");
    // The event seen before the restart is still a duplicate (answered again: the dock
    // sent it again for want of an answer).
    let out = tracker.handle(&first, T0 + 60_001);
    assert_eq!(out.publish.len(), 1);
    assert!(matches!(
        changes(&out)[..],
        [Change::Ignored(Ignored::Duplicate { .. })]
    ));
    // New events are answered and applied, and the task ends ok.
    let next = progress(&request, Step::UpgradeFirmware, 50, T0 + 61_000);
    let out = tracker.handle(&next, T0 + 61_000);
    assert_eq!(out.publish.len(), 1);
    assert_eq!(out.publish[0].topic().kind, TopicKind::EventsReply);
    assert_eq!(out.publish[0].tid, next.tid);
    assert!(matches!(
        changes(&out)[..],
        [Change::Progress {
            percent: Some(50),
            ..
        }]
    ));
    let end = final_event(&request, TaskStatus::Ok, T0 + 62_000);
    let out = tracker.handle(&end, T0 + 62_000);
    assert!(matches!(
        changes(&out)[..],
        [Change::Finished {
            status: TaskStatus::Ok,
            ..
        }]
    ));
    assert!(tracker.is_empty());
}

#[test]
fn a_task_awaiting_its_reply_keeps_its_deadline_and_attempts() {
    let mut tracker = Tracker::default();
    let started = tracker
        .start(gateway("4TADKAQ000002J"), vec![device()], T0)
        .unwrap();
    let mut tracker = restarted(&tracker, TrackerConfig::default());

    // The reply is awaited 3 s from the start, not from the restart.
    assert_eq!(tracker.next_deadline(), Some(T0 + 3_000));
    let out = tracker.poll(T0 + 2_999);
    assert_eq!(published_ota_creates(&out), 0);
    let out = tracker.poll(T0 + 3_000);
    assert_eq!(published_ota_creates(&out), 1, "the retry that was due");
    assert!(matches!(
        changes(&out)[..],
        [Change::Retried { attempt: 2, .. }]
    ));
    // A late reply to the first attempt, sent before the restart, still counts.
    let reply = started
        .request
        .reply_to_create(ResultCode::SUCCESS, Some(TaskStatus::InProgress))
        .unwrap();
    let out = tracker.handle(&reply, T0 + 3_100);
    assert!(matches!(
        changes(&out)[..],
        [Change::Accepted {
            by_event: false,
            ..
        }]
    ));
}

#[test]
fn a_deadline_that_passed_while_down_is_acted_on_at_the_first_poll() {
    let config = TrackerConfig {
        silence_timeout_ms: Some(10_000),
        ..TrackerConfig::default()
    };
    let mut tracker = Tracker::new(config.clone());
    let started = tracker
        .start(gateway("4TADKAQ000002J"), vec![device()], T0)
        .unwrap();
    let reply = started
        .request
        .reply_to_create(ResultCode::SUCCESS, None)
        .unwrap();
    tracker.handle(&reply, T0 + 100);
    let mut tracker = restarted(&tracker, config);
    let out = tracker.poll(T0 + 100 + 10_000);
    assert!(matches!(
        changes(&out)[..],
        [Change::Silent { last_heard_ms }] if *last_heard_ms == T0 + 100
    ));
}

#[test]
fn ended_tasks_and_counters_are_carried_over() {
    let mut tracker = Tracker::default();
    let done = tracker
        .start(gateway("4TADKAQ000002J"), vec![device()], T0)
        .unwrap();
    let request = done.request;
    tracker.handle(&final_event(&request, TaskStatus::Failed, T0 + 10), T0 + 10);
    let running = tracker
        .start(gateway("4TADKAQ000003K"), vec![device()], T0)
        .unwrap();
    let before = *tracker.counters();
    assert_eq!(before.started, 2);
    assert_eq!(before.finished_otherwise, 1);
    assert_eq!(before.events_answered, 1);

    let mut tracker = restarted(&tracker, TrackerConfig::default());
    assert_eq!(*tracker.counters(), before);
    assert_eq!(
        tracker.ending(&done.task),
        Some(&Ending::Finished {
            status: TaskStatus::Failed,
            result: ResultCode::SUCCESS
        })
    );
    let late = progress(&request, Step::UpgradeFirmware, 99, T0 + 20);
    let out = tracker.handle(&late, T0 + 20);
    assert!(matches!(
        changes(&out)[..],
        [Change::Ignored(Ignored::Late { .. })]
    ));
    assert_eq!(
        tracker.counters(),
        &Counters {
            late: 1,
            events_answered: 2,
            ..before
        }
    );
    // The listing shows the one task in flight.
    let tasks = tracker.tasks();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].0, running.task);
    assert_eq!(tasks[0].1.attempts, 1);
}

#[test]
fn the_snapshot_is_documented_json() {
    let mut tracker = Tracker::default();
    let started = tracker
        .start(gateway("4TADKAQ000002J"), vec![device()], T0)
        .unwrap();
    let value = serde_json::to_value(tracker.snapshot()).unwrap();
    assert_eq!(value["version"], TrackerSnapshot::VERSION);
    let task = &value["tasks"][0];
    assert_eq!(
        task["request"]["topic"],
        "thing/product/4TADKAQ000002J/services"
    );
    assert_eq!(task["request"]["bid"], started.task.bid.to_string());
    assert_eq!(task["attempts"][0], started.request.tid.to_string());
    assert_eq!(task["phase"]["awaiting_reply"]["deadline_ms"], T0 + 3_000);
    assert_eq!(value["counters"]["started"], 1);
}

#[test]
fn a_snapshot_of_another_version_is_refused() {
    let tracker = Tracker::default();
    let mut value = serde_json::to_value(tracker.snapshot()).unwrap();
    value["version"] = 2.into();
    let snapshot: TrackerSnapshot = serde_json::from_value(value).unwrap();
    assert_eq!(snapshot.version(), 2);
    assert_eq!(
        Tracker::restore(TrackerConfig::default(), snapshot).unwrap_err(),
        RestoreError::Version {
            found: 2,
            supported: 1
        }
    );
}

#[test]
fn the_configuration_comes_from_a_partial_file() {
    let config: TrackerConfig =
        serde_json::from_str(r#"{"reply_timeout_ms": 5000, "silence_timeout_ms": null}"#).unwrap();
    assert_eq!(config.reply_timeout_ms, 5_000);
    assert_eq!(config.silence_timeout_ms, None);
    assert_eq!(config.retries, TrackerConfig::default().retries);
    let back: TrackerConfig =
        serde_json::from_str(&serde_json::to_string(&config).unwrap()).unwrap();
    assert_eq!(back, config);
}

#[test]
fn task_keys_order_the_listing() {
    let mut tracker = Tracker::default();
    let b = tracker.start(gateway("DOCKB"), vec![device()], T0).unwrap();
    let a = tracker.start(gateway("DOCKA"), vec![device()], T0).unwrap();
    let keys: Vec<TaskKey> = tracker.tasks().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, [a.task, b.task]);
}

#[test]
fn the_revision_moves_with_what_a_snapshot_holds_and_not_otherwise() {
    let mut tracker = Tracker::new(TrackerConfig::default());
    let start = tracker.revision();
    let started = tracker
        .start(Serial::new("4TADKAQ000002J").unwrap(), vec![device()], T0)
        .unwrap();
    let request = started.request;
    let after_start = tracker.revision();
    assert_ne!(after_start, start, "a task started");
    // Nothing due: nothing changes.
    tracker.poll(T0 + 1);
    assert_eq!(tracker.revision(), after_start);
    let first = progress(&request, Step::DownloadFirmware, 10, T0 + 1_000);
    tracker.handle(&first, T0 + 1_000);
    let after_event = tracker.revision();
    assert_ne!(after_event, after_start, "an event applied");
    // A duplicate changes nothing a snapshot holds, though it is counted.
    tracker.handle(&first, T0 + 1_100);
    assert_eq!(tracker.revision(), after_event);
    // Nor does an event of a task this tracker never started.
    let mut stranger = first.clone();
    stranger.bid = dji_cloud_ota::Id::new_v4();
    stranger.tid = dji_cloud_ota::Id::new_v4();
    tracker.handle(&stranger, T0 + 1_200);
    assert_eq!(tracker.revision(), after_event);
    // A state push of one of its devices does: what the device said is remembered.
    let push = dji_cloud_ota::decode_state(
        "thing/product/1581F5BMD22330010X0V/state",
        br#"{"tid":"t","bid":"b","timestamp":1700000000000,"gateway":"4TADKAQ000002J","data":{"firmware_upgrade_status":1}}"#,
    )
    .unwrap();
    let out = tracker.handle_state(&push, T0 + 1_300);
    assert!(out.updates.is_empty());
    assert_ne!(tracker.revision(), after_event);
    let before_end = tracker.revision();
    tracker.handle(
        &final_event(&request, TaskStatus::Ok, T0 + 2_000),
        T0 + 2_000,
    );
    assert_ne!(tracker.revision(), before_end, "the task ended");
}

#[test]
fn a_restored_tracker_still_runs_one_task_per_gateway() {
    let mut tracker = Tracker::default();
    let first = tracker
        .start(gateway("4TADKAQ000002J"), vec![device()], T0)
        .unwrap();
    let mut tracker = restarted(&tracker, TrackerConfig::default());
    assert_eq!(
        tracker
            .start(gateway("4TADKAQ000002J"), vec![device()], T0 + 1)
            .unwrap_err(),
        StartError::GatewayBusy {
            task: first.task.clone()
        }
    );
    tracker
        .start(gateway("4TADKAQ000003K"), vec![device()], T0 + 1)
        .unwrap();
    // Once the task ends, even after a second restart, the gateway takes a new one.
    let end = final_event(&first.request, TaskStatus::Ok, T0 + 10);
    tracker.handle(&end, T0 + 10);
    let mut tracker = restarted(&tracker, TrackerConfig::default());
    tracker
        .start(gateway("4TADKAQ000002J"), vec![device()], T0 + 20)
        .unwrap();
}

#[test]
fn a_snapshot_with_two_tasks_on_one_gateway_keeps_both_and_the_gateway_busy_until_both_end() {
    // Written before one task per gateway: two trackers' tasks on one gateway, merged.
    let one = |at: u64| {
        let mut tracker = Tracker::default();
        let started = tracker
            .start(gateway("4TADKAQ000002J"), vec![device()], at)
            .unwrap();
        (serde_json::to_value(tracker.snapshot()).unwrap(), started)
    };
    let (mut value, a) = one(T0);
    let (other, b) = one(T0 + 1);
    let moved = other["tasks"][0].clone();
    value["tasks"].as_array_mut().unwrap().push(moved);
    let snapshot: TrackerSnapshot = serde_json::from_value(value).unwrap();
    let mut tracker = Tracker::restore(TrackerConfig::default(), snapshot).unwrap();
    assert_eq!(tracker.len(), 2);
    let (low, high) = if a.task < b.task { (a, b) } else { (b, a) };
    let busy = StartError::GatewayBusy {
        task: low.task.clone(),
    };
    let again =
        |tracker: &mut Tracker| tracker.start(gateway("4TADKAQ000002J"), vec![device()], T0 + 100);
    assert_eq!(again(&mut tracker).unwrap_err(), busy);
    let end = final_event(&low.request, TaskStatus::Ok, T0 + 10);
    tracker.handle(&end, T0 + 10);
    let busy = StartError::GatewayBusy {
        task: high.task.clone(),
    };
    assert_eq!(again(&mut tracker).unwrap_err(), busy);
    let end = final_event(&high.request, TaskStatus::Ok, T0 + 20);
    tracker.handle(&end, T0 + 20);
    again(&mut tracker).unwrap();
}
