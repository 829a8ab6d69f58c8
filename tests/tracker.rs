//! The cloud-side tracker, transition by transition, driven as a server drives it:
//! start a task, feed it messages and the time, publish what it returns.

mod common;

use common::{XorShift, device};
use dji_cloud_ota::tracker::{
    Change, Ending, Ignored, Output, StartError, TaskKey, Tracker, TrackerConfig, Update,
};
use dji_cloud_ota::{
    Data, Id, Message, OtaProgress, Progress, ProgressExt, ProgressOutput, ResultCode, Serial,
    Step, TaskStatus, TopicKind, decode,
};

/// A plausible "now": late 2023, in Unix milliseconds.
const T0: u64 = 1_700_000_000_000;

fn gateway() -> Serial {
    Serial::new("4TADKAQ000002J").unwrap()
}

fn started(tracker: &mut Tracker) -> (TaskKey, Message) {
    let s = tracker.start(gateway(), vec![device()], T0).unwrap();
    (s.task, s.request)
}

fn reply(request: &Message, result: i64, status: Option<TaskStatus>) -> Message {
    request.reply_to_create(ResultCode(result), status).unwrap()
}

/// An `ota_progress` event of `task`, stamped `timestamp` by the dock.
fn event(task: &TaskKey, status: TaskStatus, at: (Step, i64), timestamp: u64) -> Message {
    let data = OtaProgress {
        result: ResultCode::SUCCESS,
        output: ProgressOutput {
            status,
            progress: Some(Progress {
                percent: at.1,
                step: Some(at.0),
                step_result: None,
            }),
            ext: None,
            sub_status: None,
        },
    };
    let mut message = Message::new(task.gateway.clone(), Data::OtaProgress(data));
    message.bid = task.bid.clone();
    message.timestamp = timestamp;
    message
}

/// An `in_progress` event of `task` at `percent` of `step`.
fn going(task: &TaskKey, step: Step, percent: i64, timestamp: u64) -> Message {
    event(task, TaskStatus::InProgress, (step, percent), timestamp)
}

fn asking(mut message: Message) -> Message {
    message.need_reply = Some(true);
    message
}

fn changes(out: &Output) -> Vec<&Change> {
    out.updates.iter().map(|u| &u.change).collect()
}

fn only_change(out: &Output) -> &Change {
    assert_eq!(out.updates.len(), 1, "{:?}", out.updates);
    &out.updates[0].change
}

fn fixture(kind: &str, name: &str) -> Message {
    let path = format!("tests/fixtures/{kind}/{name}.json");
    let payload = std::fs::read(&path).unwrap();
    decode(&format!("thing/product/4TADKAQ000002J/{kind}"), &payload).unwrap()
}

/// A tracker with a task accepted by its reply at `T0 + 100`.
fn accepted() -> (Tracker, TaskKey) {
    let mut tracker = Tracker::default();
    let (task, request) = started(&mut tracker);
    tracker.handle(&reply(&request, 0, Some(TaskStatus::InProgress)), T0 + 100);
    (tracker, task)
}

#[test]
fn start_yields_a_valid_ota_create_stamped_now() {
    let mut tracker = Tracker::default();
    let (task, request) = started(&mut tracker);
    assert_eq!(request.topic().kind, TopicKind::Services);
    assert_eq!(request.timestamp, T0);
    assert_eq!((&task.gateway, &task.bid), (&request.sn, &request.bid));
    request.validate().unwrap();
    let state = tracker.task(&task).unwrap();
    assert_eq!((state.attempts, state.accepted), (1, false));
    assert_eq!(tracker.len(), 1);
    assert_eq!(tracker.next_deadline(), Some(T0 + 3_000));
}

#[test]
fn start_refuses_an_invalid_request_a_reused_bid_and_too_many_tasks() {
    let mut tracker = Tracker::new(TrackerConfig {
        max_tasks: 1,
        ..TrackerConfig::default()
    });
    let mut bad = device();
    bad.md5 = Some("abcdefabcdefabcdef".into());
    let err = tracker.start(gateway(), vec![bad], T0).unwrap_err();
    assert!(
        matches!(&err, StartError::Invalid(e) if e.violations[0].path == "data.devices[0].md5")
    );

    let (_, request) = started(&mut tracker);
    let again = tracker.start_request(request.clone(), T0);
    assert_eq!(again.unwrap_err(), StartError::Full { max: 1 });
    let reply = reply(&request, 0, None);
    assert_eq!(
        tracker.start_request(reply, T0).unwrap_err(),
        StartError::NotARequest
    );

    let mut roomy = Tracker::default();
    roomy.start_request(request.clone(), T0).unwrap();
    assert_eq!(
        roomy.start_request(request, T0).unwrap_err(),
        StartError::AlreadyInFlight
    );
}

#[test]
fn a_successful_reply_accepts_the_task() {
    let mut tracker = Tracker::default();
    let (task, request) = started(&mut tracker);
    let out = tracker.handle(&reply(&request, 0, Some(TaskStatus::InProgress)), T0 + 100);
    assert!(out.publish.is_empty());
    assert_eq!(
        out.updates,
        vec![Update {
            task: task.clone(),
            change: Change::Accepted {
                status: Some(TaskStatus::InProgress),
                by_event: false
            }
        }]
    );
    assert!(tracker.task(&task).unwrap().accepted);
    // No retry any more; the next deadline is the silence time-out.
    assert!(tracker.poll(T0 + 10_000).updates.is_empty());
    assert_eq!(tracker.next_deadline(), Some(T0 + 100 + 300_000));
}

#[test]
fn a_reply_with_a_result_code_refuses_the_task() {
    let mut tracker = Tracker::default();
    let (task, request) = started(&mut tracker);
    let out = tracker.handle(&reply(&request, 312015, None), T0 + 100);
    let change = only_change(&out);
    assert_eq!(
        change,
        &Change::Refused {
            result: ResultCode(312015),
            status: None
        }
    );
    assert!(change.is_final() && !change.is_success());
    assert!(tracker.is_empty());
    assert_eq!(
        tracker.ending(&task),
        Some(&Ending::Refused {
            result: ResultCode(312015)
        })
    );
    assert_eq!(tracker.next_deadline(), None);
}

#[test]
fn a_reply_with_result_zero_and_status_rejected_refuses_the_task() {
    let mut tracker = Tracker::default();
    let (_, request) = started(&mut tracker);
    let out = tracker.handle(&reply(&request, 0, Some(TaskStatus::Rejected)), T0 + 100);
    assert_eq!(
        only_change(&out),
        &Change::Refused {
            result: ResultCode::SUCCESS,
            status: Some(TaskStatus::Rejected)
        }
    );
}

#[test]
fn a_real_refusal_without_output_refuses_the_task_it_answers() {
    let fixture = fixture("services_reply", "refused_without_output");
    let mut request = Message::ota_create(gateway(), vec![device()]);
    request.tid = fixture.tid.clone();
    request.bid = fixture.bid.clone();
    let mut tracker = Tracker::default();
    tracker.start_request(request, T0).unwrap();
    let out = tracker.handle(&fixture, T0 + 100);
    assert_eq!(
        only_change(&out),
        &Change::Refused {
            result: ResultCode(312015),
            status: None
        }
    );
}

#[test]
fn a_reply_whose_tid_matches_no_attempt_is_set_aside() {
    let mut tracker = Tracker::default();
    let (task, request) = started(&mut tracker);
    let mut stray = reply(&request, 0, None);
    stray.tid = Id::new_v4();
    let out = tracker.handle(&stray, T0 + 100);
    assert_eq!(
        only_change(&out),
        &Change::Ignored(Ignored::UnmatchedReply {
            tid: stray.tid.clone()
        })
    );
    assert!(!tracker.task(&task).unwrap().accepted);
}

#[test]
fn no_reply_in_time_sends_the_request_again_with_a_new_tid_and_the_same_bid() {
    let mut tracker = Tracker::default();
    let (task, request) = started(&mut tracker);
    assert_eq!(tracker.poll(T0 + 2_999), Output::default());
    let out = tracker.poll(T0 + 3_000);
    let [retry] = out.publish.as_slice() else {
        panic!("{out:?}")
    };
    assert_ne!(retry.tid, request.tid);
    assert_eq!((&retry.bid, &retry.sn), (&request.bid, &request.sn));
    assert_eq!(retry.data, request.data);
    assert_eq!(retry.timestamp, T0 + 3_000);
    assert_eq!(
        only_change(&out),
        &Change::Retried {
            attempt: 2,
            tid: retry.tid.clone()
        }
    );
    assert_eq!(tracker.task(&task).unwrap().attempts, 2);
    assert_eq!(tracker.next_deadline(), Some(T0 + 6_000));
}

#[test]
fn after_two_retries_without_reply_the_task_fails() {
    let mut tracker = Tracker::default();
    let (task, _) = started(&mut tracker);
    assert_eq!(tracker.poll(T0 + 3_000).publish.len(), 1);
    assert_eq!(tracker.poll(T0 + 6_000).publish.len(), 1);
    let out = tracker.poll(T0 + 9_000);
    assert!(out.publish.is_empty());
    let change = only_change(&out);
    assert_eq!(change, &Change::NoReply { attempts: 3 });
    assert!(change.is_final());
    assert!(tracker.is_empty());
    assert_eq!(tracker.ending(&task), Some(&Ending::NoReply));
}

#[test]
fn the_retry_policy_is_configurable() {
    let mut tracker = Tracker::new(TrackerConfig {
        reply_timeout_ms: 500,
        retries: 0,
        ..TrackerConfig::default()
    });
    started(&mut tracker);
    let out = tracker.poll(T0 + 500);
    assert_eq!(only_change(&out), &Change::NoReply { attempts: 1 });
}

#[test]
fn a_late_reply_to_an_earlier_attempt_still_accepts_the_task() {
    let mut tracker = Tracker::default();
    let (task, request) = started(&mut tracker);
    let retry = tracker.poll(T0 + 3_000).publish.remove(0);
    let out = tracker.handle(
        &reply(&request, 0, Some(TaskStatus::InProgress)),
        T0 + 3_100,
    );
    assert!(matches!(only_change(&out), Change::Accepted { .. }));
    // The dock then answers the retry as a second task: set aside.
    let out = tracker.handle(&reply(&retry, 312014, None), T0 + 3_200);
    assert_eq!(
        only_change(&out),
        &Change::Ignored(Ignored::ExtraReply {
            tid: retry.tid.clone(),
            result: ResultCode(312014)
        })
    );
    assert!(tracker.task(&task).unwrap().accepted);
}

#[test]
fn a_progress_event_is_reported_and_answered_only_when_it_asks() {
    let (mut tracker, task) = accepted();
    let mut quiet = going(&task, Step::DownloadFirmware, 20, T0 + 200);
    if let Data::OtaProgress(p) = &mut quiet.data {
        p.output.ext = Some(ProgressExt {
            rate: Some(1_048_576),
        });
    }
    let out = tracker.handle(&quiet, T0 + 200);
    assert!(out.publish.is_empty());
    assert_eq!(
        only_change(&out),
        &Change::Progress {
            status: TaskStatus::InProgress,
            result: ResultCode::SUCCESS,
            step: Some(Step::DownloadFirmware),
            percent: Some(20),
            rate: Some(1_048_576),
        }
    );

    let loud = asking(going(&task, Step::DownloadFirmware, 30, T0 + 300));
    let out = tracker.handle(&loud, T0 + 310);
    let [answer] = out.publish.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(answer.topic().kind, TopicKind::EventsReply);
    assert_eq!(
        (&answer.tid, &answer.bid, answer.method()),
        (&loud.tid, &loud.bid, loud.method())
    );
    assert_eq!(
        answer.data,
        Data::OtaProgressReply(dji_cloud_ota::EventsReply {
            result: ResultCode::SUCCESS
        })
    );
    assert_eq!(answer.timestamp, T0 + 310);
    let state = tracker.task(&task).unwrap();
    assert_eq!(
        (state.step, state.percent),
        (Some(Step::DownloadFirmware), Some(30))
    );
}

#[test]
fn an_event_before_the_reply_accepts_the_task_and_stops_the_retries() {
    let mut tracker = Tracker::default();
    let (task, _) = started(&mut tracker);
    let first = going(&task, Step::DownloadFirmware, 0, T0 + 50);
    let out = tracker.handle(&first, T0 + 50);
    assert!(matches!(
        changes(&out)[..],
        [
            Change::Accepted {
                by_event: true,
                status: Some(TaskStatus::InProgress)
            },
            Change::Progress { .. }
        ]
    ));
    assert!(tracker.poll(T0 + 3_000).publish.is_empty());
}

#[test]
fn a_duplicate_event_is_set_aside_and_answered_again() {
    let (mut tracker, task) = accepted();
    let once = asking(going(&task, Step::DownloadFirmware, 10, T0 + 200));
    assert_eq!(tracker.handle(&once, T0 + 200).publish.len(), 1);
    let out = tracker.handle(&once, T0 + 210);
    // The dock sent it again: the first answer may have been lost.
    assert_eq!(out.publish.len(), 1);
    assert_eq!(out.publish[0].tid, once.tid);
    assert_eq!(out.publish[0].topic().kind, TopicKind::EventsReply);
    assert_eq!(tracker.counters().events_answered, 2);
    assert_eq!(
        only_change(&out),
        &Change::Ignored(Ignored::Duplicate {
            tid: once.tid.clone()
        })
    );
}

#[test]
fn an_older_event_never_moves_progress_backwards() {
    let (mut tracker, task) = accepted();
    let newer = going(&task, Step::DownloadFirmware, 50, T0 + 500);
    tracker.handle(&newer, T0 + 500);
    // Sent earlier by the dock, delivered later.
    let older = asking(going(&task, Step::DownloadFirmware, 40, T0 + 400));
    let out = tracker.handle(&older, T0 + 510);
    assert_eq!(
        only_change(&out),
        &Change::Ignored(Ignored::OutOfOrder {
            tid: older.tid.clone(),
            percent: Some(40)
        })
    );
    assert_eq!(out.publish.len(), 1, "it asked, so it is answered");
    // The same millisecond, a lower percent of the same step: also older.
    let same_ms = going(&task, Step::DownloadFirmware, 45, T0 + 500);
    let out = tracker.handle(&same_ms, T0 + 520);
    assert!(matches!(
        only_change(&out),
        Change::Ignored(Ignored::OutOfOrder { .. })
    ));
    // The same millisecond, the next step: applied.
    let next = going(&task, Step::UpgradeFirmware, 0, T0 + 500);
    let out = tracker.handle(&next, T0 + 530);
    assert!(matches!(
        only_change(&out),
        Change::Progress {
            percent: Some(0),
            ..
        }
    ));
    assert_eq!(
        tracker.task(&task).unwrap().step,
        Some(Step::UpgradeFirmware)
    );
}

#[test]
fn a_final_ok_ends_the_task_successfully() {
    let (mut tracker, task) = accepted();
    let ok = asking(event(
        &task,
        TaskStatus::Ok,
        (Step::UpgradeFirmware, 100),
        T0 + 900,
    ));
    let out = tracker.handle(&ok, T0 + 900);
    let change = only_change(&out);
    assert_eq!(
        change,
        &Change::Finished {
            status: TaskStatus::Ok,
            result: ResultCode::SUCCESS
        }
    );
    assert!(change.is_final() && change.is_success());
    assert_eq!(out.publish.len(), 1, "the final event asked for a reply");
    assert!(tracker.is_empty());
    assert_eq!(tracker.next_deadline(), None);
}

#[test]
fn every_other_final_status_ends_the_task_as_a_failure() {
    for status in [
        "rejected",
        "failed",
        "canceled",
        "timeout",
        "partially_done",
    ] {
        let (mut tracker, task) = accepted();
        let end = event(
            &task,
            TaskStatus::from(status),
            (Step::UpgradeFirmware, 70),
            T0 + 900,
        );
        let change = only_change(&tracker.handle(&end, T0 + 900)).clone();
        assert!(
            change.is_final() && !change.is_success(),
            "{status}: {change:?}"
        );
        assert!(tracker.is_empty(), "{status}");
    }
}

#[test]
fn real_final_events_end_their_task_with_status_and_result() {
    for (name, status) in [
        ("failed_result_zero", TaskStatus::Failed),
        ("partially_done", TaskStatus::PartiallyDone),
        ("need_reply_int", TaskStatus::Ok),
    ] {
        let event = fixture("events", name);
        let mut request = Message::ota_create(gateway(), vec![device()]);
        request.bid = event.bid.clone();
        let mut tracker = Tracker::default();
        tracker.start_request(request, T0).unwrap();
        let out = tracker.handle(&event, T0 + 100);
        assert_eq!(
            only_change(&out),
            &Change::Finished {
                status,
                result: ResultCode::SUCCESS
            },
            "{name}"
        );
        assert_eq!(
            out.publish.len(),
            usize::from(event.wants_reply()),
            "{name}"
        );
    }
}

#[test]
fn an_unknown_status_is_progress_not_an_end() {
    let event = fixture("events", "unknown_values");
    let mut request = Message::ota_create(gateway(), vec![device()]);
    request.bid = event.bid.clone();
    let mut tracker = Tracker::default();
    tracker.start_request(request, T0).unwrap();
    let out = tracker.handle(&event, T0 + 100);
    let [Change::Accepted { .. }, Change::Progress { status, .. }] = changes(&out)[..] else {
        panic!("{out:?}")
    };
    assert_eq!(status.as_str(), "queued");
    assert_eq!(tracker.len(), 1);
}

#[test]
fn an_event_after_the_end_is_late_and_a_repeat_of_the_final_one_a_duplicate() {
    let (mut tracker, task) = accepted();
    let ok = asking(event(
        &task,
        TaskStatus::Ok,
        (Step::UpgradeFirmware, 100),
        T0 + 900,
    ));
    tracker.handle(&ok, T0 + 900);
    let stray = asking(going(&task, Step::UpgradeFirmware, 90, T0 + 800));
    let out = tracker.handle(&stray, T0 + 950);
    let ended = Ending::Finished {
        status: TaskStatus::Ok,
        result: ResultCode::SUCCESS,
    };
    assert_eq!(tracker.ended(), vec![(task.clone(), ended.clone())]);
    assert_eq!(
        only_change(&out),
        &Change::Ignored(Ignored::Late {
            tid: stray.tid.clone(),
            ended
        })
    );
    assert_eq!(out.publish.len(), 1, "a late event that asks is answered");
    let out = tracker.handle(&ok, T0 + 960);
    assert_eq!(
        only_change(&out),
        &Change::Ignored(Ignored::Duplicate {
            tid: ok.tid.clone()
        })
    );
    assert_eq!(
        out.publish.len(),
        1,
        "a repeat of the final event is answered again"
    );
    // A duplicate that does not ask for a reply gets none.
    let quiet = going(&task, Step::UpgradeFirmware, 95, T0 + 850);
    assert!(tracker.handle(&quiet, T0 + 970).publish.is_empty());
    assert!(tracker.handle(&quiet, T0 + 980).publish.is_empty());
}

#[test]
fn a_reply_after_the_task_failed_for_lack_of_one_is_late() {
    let mut tracker = Tracker::new(TrackerConfig {
        retries: 0,
        ..TrackerConfig::default()
    });
    let (_, request) = started(&mut tracker);
    tracker.poll(T0 + 3_000);
    let out = tracker.handle(&reply(&request, 0, None), T0 + 3_500);
    assert_eq!(
        only_change(&out),
        &Change::Ignored(Ignored::Late {
            tid: request.tid.clone(),
            ended: Ending::NoReply
        })
    );
}

#[test]
fn a_message_of_no_known_task_is_unknown_and_an_event_that_asks_is_still_answered() {
    let mut tracker = Tracker::default();
    started(&mut tracker);
    let event = fixture("events", "need_reply_int");
    let out = tracker.handle(&event, T0);
    assert_eq!(
        only_change(&out),
        &Change::Ignored(Ignored::Unknown {
            tid: event.tid.clone()
        })
    );
    assert_eq!(out.publish[0].tid, event.tid);
    let reply = fixture("services_reply", "canonical");
    assert!(matches!(
        only_change(&tracker.handle(&reply, T0)),
        Change::Ignored(Ignored::Unknown { .. })
    ));
    assert_eq!(tracker.len(), 1);
}

#[test]
fn an_accepted_task_that_goes_silent_fails() {
    let mut tracker = Tracker::new(TrackerConfig {
        silence_timeout_ms: Some(10_000),
        ..TrackerConfig::default()
    });
    let (task, request) = started(&mut tracker);
    tracker.handle(&reply(&request, 0, None), T0 + 100);
    let progress = going(&task, Step::DownloadFirmware, 10, T0 + 5_000);
    tracker.handle(&progress, T0 + 5_000);
    assert!(
        tracker.poll(T0 + 14_999).updates.is_empty(),
        "each event restarts the wait"
    );
    assert_eq!(tracker.next_deadline(), Some(T0 + 15_000));
    let out = tracker.poll(T0 + 15_000);
    let change = only_change(&out);
    assert_eq!(
        change,
        &Change::Silent {
            last_heard_ms: T0 + 5_000
        }
    );
    assert!(change.is_final());
    assert_eq!(tracker.ending(&task), Some(&Ending::Silent));
}

#[test]
fn messages_the_cloud_sends_are_set_aside() {
    let mut tracker = Tracker::default();
    let (task, request) = started(&mut tracker);
    assert_eq!(
        only_change(&tracker.handle(&request, T0)),
        &Change::Ignored(Ignored::Outbound)
    );
    let answer = asking(going(&task, Step::DownloadFirmware, 0, T0))
        .reply_to_event(ResultCode::SUCCESS)
        .unwrap();
    assert_eq!(
        only_change(&tracker.handle(&answer, T0)),
        &Change::Ignored(Ignored::Outbound)
    );
    assert!(!tracker.task(&task).unwrap().accepted);
}

#[test]
fn a_forgotten_task_is_no_longer_tracked_and_its_events_are_late() {
    let (mut tracker, task) = accepted();
    assert!(tracker.forget(&task));
    assert!(!tracker.forget(&task));
    assert!(tracker.is_empty());
    let progress = going(&task, Step::DownloadFirmware, 10, T0 + 200);
    assert!(matches!(
        only_change(&tracker.handle(&progress, T0 + 200)),
        Change::Ignored(Ignored::Late {
            ended: Ending::Forgotten,
            ..
        })
    ));
}

#[test]
fn tasks_on_many_gateways_are_tracked_apart() {
    let mut tracker = Tracker::default();
    let (first, request) = started(&mut tracker);
    let other = tracker
        .start(Serial::new("7CTDM3D00B0052").unwrap(), vec![device()], T0)
        .unwrap()
        .task;
    // The same bid on another gateway is another task.
    let mut same_bid = Message::ota_create(Serial::new("5YSZKAB0010047").unwrap(), vec![device()]);
    same_bid.bid = request.bid.clone();
    let third = tracker.start_request(same_bid, T0).unwrap().task;
    assert_eq!(third.bid, first.bid);
    assert_eq!(tracker.len(), 3);
    let done = event(
        &third,
        TaskStatus::Ok,
        (Step::UpgradeFirmware, 100),
        T0 + 10,
    );
    tracker.handle(&done, T0 + 10);
    assert!(tracker.task(&first).is_some() && tracker.task(&other).is_some());
    assert!(tracker.task(&third).is_none());
    let elsewhere = TaskKey {
        gateway: other.gateway.clone(),
        bid: first.bid.clone(),
    };
    let stray = going(&elsewhere, Step::DownloadFirmware, 0, T0);
    assert!(matches!(
        only_change(&tracker.handle(&stray, T0 + 20)),
        Change::Ignored(Ignored::Unknown { .. })
    ));
}

#[test]
fn a_second_task_on_a_busy_gateway_is_refused_naming_the_task_in_flight() {
    let mut tracker = Tracker::default();
    let (first, request) = started(&mut tracker);
    let refused = tracker.start(gateway(), vec![device()], T0 + 1);
    assert_eq!(
        refused.unwrap_err(),
        StartError::GatewayBusy {
            task: first.clone()
        }
    );
    // A request of the caller's own, with another bid, is refused alike; the error
    // says which task holds the gateway.
    let own = Message::ota_create(gateway(), vec![device()]);
    let error = tracker.start_request(own, T0 + 2).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "gateway {} is busy: task bid {} is in flight",
            gateway(),
            first.bid
        )
    );
    // The same request again is the same task, not a busy gateway.
    assert_eq!(
        tracker.start_request(request, T0 + 3).unwrap_err(),
        StartError::AlreadyInFlight
    );
    // Nothing of the refused tasks is tracked or counted; the first is untouched.
    assert_eq!(tracker.len(), 1);
    assert_eq!(tracker.counters().started, 1);
    assert_eq!(tracker.task(&first).unwrap().attempts, 1);
    assert_eq!(tracker.next_deadline(), Some(T0 + 3_000));
}

#[test]
fn once_the_task_in_flight_has_ended_its_gateway_takes_a_new_one() {
    let mut tracker = Tracker::new(TrackerConfig {
        retries: 0,
        ..TrackerConfig::default()
    });
    // Ended by its final event.
    let (first, _) = started(&mut tracker);
    let done = event(
        &first,
        TaskStatus::Failed,
        (Step::UpgradeFirmware, 40),
        T0 + 10,
    );
    tracker.handle(&done, T0 + 10);
    // Refused by the dock.
    let (second, request) = started(&mut tracker);
    assert_ne!(second, first);
    tracker.handle(&reply(&request, 312015, None), T0 + 20);
    assert!(tracker.task(&second).is_none());
    // Forgotten by the caller.
    let (third, _) = started(&mut tracker);
    assert!(tracker.forget(&third));
    // No reply in time.
    let (fourth, _) = started(&mut tracker);
    let out = tracker.poll(T0 + 3_000);
    assert!(matches!(only_change(&out), Change::NoReply { attempts: 1 }));
    assert!(tracker.task(&fourth).is_none());
    let (fifth, _) = started(&mut tracker);
    assert_eq!(
        tracker.start(gateway(), vec![device()], T0).unwrap_err(),
        StartError::GatewayBusy { task: fifth }
    );
    assert_eq!(tracker.counters().started, 5);
}

#[test]
fn memory_is_bounded_by_the_tasks_in_flight_and_the_recent_ended_ones() {
    let mut tracker = Tracker::new(TrackerConfig {
        recent_finished: 2,
        seen_events_per_task: 4,
        ..TrackerConfig::default()
    });
    let mut ended = Vec::new();
    for n in 0..5 {
        let (task, _) = started(&mut tracker);
        for percent in 0..20 {
            let e = event(
                &task,
                TaskStatus::InProgress,
                (Step::DownloadFirmware, percent),
                T0 + n,
            );
            tracker.handle(&e, T0 + n);
        }
        let done = event(
            &task,
            TaskStatus::Ok,
            (Step::UpgradeFirmware, 100),
            T0 + n + 1,
        );
        tracker.handle(&done, T0 + n + 1);
        ended.push((task, done));
    }
    assert!(tracker.is_empty());
    assert_eq!(tracker.remembered(), 2);
    // The oldest ended task is forgotten: its late event is now unknown.
    let (oldest, final_event) = &ended[0];
    assert!(tracker.ending(oldest).is_none());
    assert!(matches!(
        only_change(&tracker.handle(final_event, T0 + 100)),
        Change::Ignored(Ignored::Unknown { .. })
    ));
    let (newest, _) = &ended[4];
    assert!(tracker.ending(newest).is_some());
}

#[test]
fn any_sequence_of_messages_and_times_keeps_the_tracker_consistent() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let config = TrackerConfig {
        max_tasks: 8,
        recent_finished: 4,
        seen_events_per_task: 3,
        silence_timeout_ms: Some(5_000),
        ..TrackerConfig::default()
    };
    let mut tracker = Tracker::new(config.clone());
    let mut sent: Vec<Message> = Vec::new();
    let mut events: Vec<Message> = Vec::new();
    let mut now = T0;
    let statuses = ["sent", "in_progress", "paused", "ok", "failed", "queued"];
    // More gateways than tasks may be in flight: both limits are reached.
    let gateways: Vec<Serial> = (0..12)
        .map(|n| Serial::new(&format!("4TADKAQ0000{n:02}J")).unwrap())
        .collect();
    for _ in 0..20_000 {
        now += rng.below(2_000);
        match rng.below(6) {
            0 => {
                let on = gateways[rng.below(12) as usize].clone();
                match tracker.start(on.clone(), vec![device()], now) {
                    Ok(s) => sent.push(s.request),
                    Err(StartError::GatewayBusy { task }) => {
                        assert_eq!(task.gateway, on);
                        assert!(tracker.task(&task).is_some());
                    }
                    Err(StartError::Full { .. }) => assert_eq!(tracker.len(), config.max_tasks),
                    Err(e) => panic!("{e}"),
                }
            }
            1 if !sent.is_empty() => {
                let request = &sent[rng.below(sent.len() as u64) as usize];
                let code = [0, 0, 312015][rng.below(3) as usize];
                let answer = reply(request, code, Some(TaskStatus::InProgress));
                tracker.handle(&answer, now);
            }
            2 | 3 if !sent.is_empty() => {
                let request = &sent[rng.below(sent.len() as u64) as usize];
                let status = TaskStatus::from(statuses[rng.below(6) as usize]);
                let step =
                    [Step::DownloadFirmware, Step::UpgradeFirmware][rng.below(2) as usize].clone();
                let stamp = now - rng.below(3_000);
                let mut e = event(
                    &TaskKey::of(request),
                    status,
                    (step, rng.below(101) as i64),
                    stamp,
                );
                e.need_reply = Some(rng.below(2) == 0);
                let out = tracker.handle(&e, now);
                assert!(out.publish.len() <= usize::from(e.wants_reply()));
                events.push(e);
            }
            4 if !events.is_empty() => {
                let again = events[rng.below(events.len() as u64) as usize].clone();
                tracker.handle(&again, now);
            }
            _ => {
                let out = tracker.poll(now);
                for update in &out.updates {
                    assert!(tracker.task(&update.task).is_none() || !update.change.is_final());
                }
            }
        }
        assert!(tracker.len() <= config.max_tasks);
        // One task per gateway.
        let tasks = tracker.tasks();
        assert!(tasks.windows(2).all(|w| w[0].0.gateway != w[1].0.gateway));
        assert!(tracker.remembered() <= config.recent_finished);
        if let Some(deadline) = tracker.next_deadline() {
            assert!(!tracker.is_empty() && deadline > T0);
        }
        if sent.len() > 64 {
            sent.drain(..32);
        }
        if events.len() > 64 {
            events.drain(..32);
        }
    }
}
