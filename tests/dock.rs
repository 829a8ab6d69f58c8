//! The simulated dock, alone and against the tracker, with every message going through
//! `encode` and `decode` as it would over MQTT.

use dji_cloud_ota::dock::{BUSY, Dock, DockConfig, DockStats, Fault, NeedReply};
use dji_cloud_ota::tracker::{Change, Ignored, Tracker, TrackerConfig};
use dji_cloud_ota::{
    Data, Device, Message, OtaProgress, ResultCode, Serial, Step, TaskStatus, TopicKind,
    UpgradeType, decode,
};

const T0: u64 = 1_700_000_000_000;

fn gateway() -> Serial {
    Serial::new("4TADKAQ000002J").unwrap()
}

fn request() -> Message {
    let device = Device::new("1581F5BMD22330010X0V", "04.01.0020", UpgradeType::NORMAL).with_file(
        "https://firmware.example.com/wm245_04.01.0020.zip",
        "0123456789abcdef0123456789abcdef",
        100_000_000,
        "wm245_04.01.0020.zip",
    );
    Message::ota_create(gateway(), vec![device])
}

fn dock(config: DockConfig) -> Dock {
    Dock::new(gateway(), config)
}

/// Runs the dock's clock until it has nothing more to send; every event it sent.
fn run(dock: &mut Dock, from: u64) -> Vec<Message> {
    let mut sent = Vec::new();
    let mut polls = 0;
    while let Some(at) = dock.next_deadline() {
        assert!(at >= from);
        sent.extend(dock.poll(at));
        polls += 1;
        assert!(polls < 1_000, "the dock never finishes");
    }
    sent
}

fn progress(message: &Message) -> &OtaProgress {
    match &message.data {
        Data::OtaProgress(p) => p,
        other => panic!("not an event: {other:?}"),
    }
}

fn position(message: &Message) -> (TaskStatus, Option<Step>, i64) {
    let p = progress(message);
    let at = p.output.progress.as_ref().unwrap();
    (p.output.status.clone(), at.step.clone(), at.percent)
}

#[test]
fn a_request_is_accepted_and_followed_by_a_download_an_upgrade_and_ok() {
    let mut dock = dock(DockConfig::default());
    let request = request();
    let replies = dock.handle(&request, T0);
    let [reply] = replies.as_slice() else {
        panic!("{replies:?}")
    };
    assert_eq!(reply.topic().kind, TopicKind::ServicesReply);
    assert_eq!(
        (&reply.tid, &reply.bid, reply.timestamp),
        (&request.tid, &request.bid, T0)
    );
    let Data::OtaCreateReply(r) = &reply.data else {
        panic!()
    };
    assert!(r.result.is_success());
    assert_eq!(r.output.as_ref().unwrap().status, TaskStatus::InProgress);
    reply.validate().unwrap();

    let events = run(&mut dock, T0);
    // 0, 10, ..., 100 for each step, then the final event.
    assert_eq!(events.len(), 11 + 11 + 1);
    let mut previous = (0, -1);
    for (n, event) in events.iter().enumerate() {
        event.validate().unwrap();
        assert_eq!(event.bid, request.bid, "every event carries the task's bid");
        assert_eq!(event.timestamp, T0 + 500 * n as u64);
        let (status, step, percent) = position(event);
        let rank = usize::from(step == Some(Step::UpgradeFirmware));
        let last = n == events.len() - 1;
        // Forward at every event; the final one stays at 100% of the upgrade.
        assert!((rank, percent) > previous || last && (rank, percent) == (1, 100));
        previous = (rank, percent);
        assert_eq!(
            status,
            if last {
                TaskStatus::Ok
            } else {
                TaskStatus::InProgress
            }
        );
        assert_eq!(
            event.wants_reply(),
            last,
            "by default only the final event asks"
        );
        let rate = progress(event).output.ext.as_ref().and_then(|e| e.rate);
        assert_eq!(
            rate.is_some(),
            rank == 0 && !last,
            "a rate while downloading"
        );
    }
    let mut tids: Vec<_> = events.iter().map(|e| e.tid.to_string()).collect();
    tids.sort();
    tids.dedup();
    assert_eq!(tids.len(), events.len(), "each event has its own tid");
    assert!(!dock.is_busy());
    let stats = dock.stats();
    assert_eq!(
        (stats.tasks_started, stats.tasks_ended, stats.events_sent),
        (1, 1, 23)
    );
}

#[test]
fn a_retry_gets_the_same_answer_and_another_task_gets_busy() {
    let mut dock = dock(DockConfig::default());
    let first = request();
    dock.handle(&first, T0);
    let mut retry = first.clone();
    retry.tid = dji_cloud_ota::Id::new_v4();
    let again = dock.handle(&retry, T0 + 3_000);
    assert!(matches!(&again[0].data, Data::OtaCreateReply(r) if r.result.is_success()));
    assert_eq!(again[0].tid, retry.tid);
    let other = dock.handle(&request(), T0 + 3_100);
    assert!(matches!(&other[0].data, Data::OtaCreateReply(r) if r.result == BUSY));
    let stats = dock.stats();
    assert_eq!(
        (stats.requests, stats.request_tids, stats.request_bids),
        (3, 3, 2)
    );
    assert_eq!(stats.tasks_started, 1);
}

#[test]
fn a_rejecting_dock_refuses_with_its_code_and_sends_no_event() {
    let mut dock = dock(DockConfig {
        fault: Fault::Reject(ResultCode(312704)),
        ..DockConfig::default()
    });
    let replies = dock.handle(&request(), T0);
    assert!(matches!(&replies[0].data, Data::OtaCreateReply(r) if r.result == ResultCode(312704)));
    assert_eq!(dock.next_deadline(), None);
    assert!(run(&mut dock, T0).is_empty());
}

#[test]
fn a_failing_dock_ends_with_failed_at_its_percent() {
    let mut dock = dock(DockConfig {
        fault: Fault::FailAt {
            step: Step::UpgradeFirmware,
            percent: 40,
            result: ResultCode(312003),
        },
        ..DockConfig::default()
    });
    dock.handle(&request(), T0);
    let events = run(&mut dock, T0);
    let last = events.last().unwrap();
    assert_eq!(
        position(last),
        (TaskStatus::Failed, Some(Step::UpgradeFirmware), 40)
    );
    assert_eq!(progress(last).result, ResultCode(312003));
    assert_eq!(events.len(), 11 + 4 + 1);
}

#[test]
fn a_dock_that_never_replies_sends_nothing_but_counts_the_attempts() {
    let mut dock = dock(DockConfig {
        fault: Fault::NoReply,
        ..DockConfig::default()
    });
    let first = request();
    assert!(dock.handle(&first, T0).is_empty());
    let mut retry = first.clone();
    retry.tid = dji_cloud_ota::Id::new_v4();
    assert!(dock.handle(&retry, T0 + 3_000).is_empty());
    assert_eq!(dock.next_deadline(), None);
    assert_eq!((dock.stats().requests, dock.stats().request_tids), (2, 2));
}

#[test]
fn a_dock_that_goes_silent_stops_at_its_percent_and_stays_busy() {
    let mut dock = dock(DockConfig {
        fault: Fault::SilentAt {
            step: Step::DownloadFirmware,
            percent: 30,
        },
        ..DockConfig::default()
    });
    dock.handle(&request(), T0);
    let events = run(&mut dock, T0);
    assert_eq!(events.len(), 3, "0, 10, 20");
    assert_eq!(position(&events[2]).2, 20);
    assert!(dock.is_busy());
}

#[test]
fn duplicate_and_late_events_are_sent_on_demand() {
    let mut dock = dock(DockConfig {
        duplicate_events: true,
        late_event: true,
        percent_step: 50,
        ..DockConfig::default()
    });
    dock.handle(&request(), T0);
    let events = run(&mut dock, T0);
    // 0, 50, 100 of each step twice (the last one held back, sent once), the final
    // event twice, then the held-back one.
    assert_eq!(events.len(), 6 + 4 + 2 + 1);
    assert_eq!(events[0], events[1]);
    let late = events.last().unwrap();
    assert_eq!(
        position(late),
        (TaskStatus::InProgress, Some(Step::UpgradeFirmware), 100)
    );
    assert!(late.timestamp < events[events.len() - 2].timestamp);
    assert_eq!(dock.stats().events_sent, 13);
}

#[test]
fn replies_to_events_are_counted_once_each() {
    let mut dock = dock(DockConfig {
        need_reply: NeedReply::Every,
        percent_step: 100,
        ..DockConfig::default()
    });
    dock.handle(&request(), T0);
    let events = run(&mut dock, T0);
    assert!(events.iter().all(Message::wants_reply));
    let answer = events[0].reply_to_event(ResultCode::SUCCESS).unwrap();
    dock.handle(&answer, T0);
    dock.handle(&answer, T0);
    let mut stranger = answer.clone();
    stranger.tid = dji_cloud_ota::Id::new_v4();
    dock.handle(&stranger, T0);
    let stats = dock.stats();
    assert_eq!(stats.replies_expected, events.len() as u64);
    assert_eq!(
        (
            stats.replies_received,
            stats.replies_duplicated,
            stats.replies_unexpected
        ),
        (1, 1, 1)
    );
}

#[test]
fn messages_for_another_gateway_are_ignored() {
    let mut dock = Dock::new(
        Serial::new("7CTDM3D00B0052").unwrap(),
        DockConfig::default(),
    );
    assert!(dock.handle(&request(), T0).is_empty());
    assert_eq!(dock.stats(), &DockStats::default());
}

/// What crossed the simulated wire, and how the task ended.
struct Exchange {
    end: Change,
    ignored: Vec<Ignored>,
    dock: DockStats,
}

/// Runs one task between a tracker and a dock in memory, each message encoded and
/// decoded on its way, with a shared simulated clock.
fn exchange(config: DockConfig, tracker_config: TrackerConfig) -> Exchange {
    let mut tracker = Tracker::new(tracker_config);
    let mut dock = dock(config);
    let mut now = T0;
    let started = tracker.start_request(request(), now).unwrap();
    let mut to_dock = vec![started.request];
    let mut ignored = Vec::new();
    for _ in 0..10_000 {
        let mut to_cloud = Vec::new();
        for m in to_dock.drain(..) {
            to_cloud.extend(dock.handle(&wire(&m), now));
        }
        to_cloud.extend(dock.poll(now));
        for m in to_cloud {
            let out = tracker.handle(&wire(&m), now);
            to_dock.extend(out.publish);
            for update in out.updates {
                match update.change {
                    Change::Ignored(why) => ignored.push(why),
                    end if end.is_final() => {
                        // Let the dock take the last replies, then stop.
                        for m in to_dock.drain(..) {
                            dock.handle(&wire(&m), now);
                        }
                        let dock = dock.stats().clone();
                        return Exchange { end, ignored, dock };
                    }
                    _ => {}
                }
            }
        }
        let out = tracker.poll(now);
        to_dock.extend(out.publish);
        if let Some(end) = out
            .updates
            .into_iter()
            .map(|u| u.change)
            .find(Change::is_final)
        {
            let dock = dock.stats().clone();
            return Exchange { end, ignored, dock };
        }
        let next = [tracker.next_deadline(), dock.next_deadline()];
        now = next
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now + 1)
            .max(now + 1);
    }
    panic!("the task never ended");
}

fn wire(message: &Message) -> Message {
    let encoded = message.encode();
    decode(&encoded.topic, &encoded.payload).unwrap()
}

#[test]
fn a_whole_upgrade_between_tracker_and_dock_ends_ok_with_every_reply_sent_once() {
    let x = exchange(
        DockConfig {
            need_reply: NeedReply::Every,
            ..DockConfig::default()
        },
        TrackerConfig::default(),
    );
    assert!(x.end.is_success(), "{:?}", x.end);
    assert!(x.ignored.is_empty(), "{:?}", x.ignored);
    assert_eq!(x.dock.replies_received, x.dock.replies_expected);
    assert_eq!(
        (x.dock.replies_duplicated, x.dock.replies_unexpected),
        (0, 0)
    );
}

#[test]
fn a_silent_dock_gets_two_retries_then_the_task_fails() {
    let x = exchange(
        DockConfig {
            fault: Fault::NoReply,
            ..DockConfig::default()
        },
        TrackerConfig::default(),
    );
    assert_eq!(x.end, Change::NoReply { attempts: 3 });
    assert_eq!(
        (x.dock.requests, x.dock.request_tids, x.dock.request_bids),
        (3, 3, 1)
    );
}

#[test]
fn duplicates_are_set_aside_and_answered_again() {
    let x = exchange(
        DockConfig {
            need_reply: NeedReply::Every,
            duplicate_events: true,
            ..DockConfig::default()
        },
        TrackerConfig::default(),
    );
    assert!(x.end.is_success());
    let duplicates = x
        .ignored
        .iter()
        .filter(|i| matches!(i, Ignored::Duplicate { .. }));
    // Every event but the final one is seen twice before the task ends.
    assert_eq!(duplicates.count() as u64, x.dock.replies_expected - 1);
    assert_eq!(x.dock.replies_received, x.dock.replies_expected);
    // Each copy gets its answer: the first may be the one that was lost.
    assert_eq!(x.dock.replies_duplicated, x.dock.replies_expected - 1);
}

#[test]
fn a_failure_and_a_refusal_reach_the_tracker_with_their_codes() {
    let failed = exchange(
        DockConfig {
            fault: Fault::FailAt {
                step: Step::DownloadFirmware,
                percent: 60,
                result: ResultCode(312016),
            },
            ..DockConfig::default()
        },
        TrackerConfig::default(),
    );
    assert_eq!(
        failed.end,
        Change::Finished {
            status: TaskStatus::Failed,
            result: ResultCode(312016)
        }
    );
    let refused = exchange(
        DockConfig {
            fault: Fault::Reject(ResultCode(312015)),
            ..DockConfig::default()
        },
        TrackerConfig::default(),
    );
    assert_eq!(
        refused.end,
        Change::Refused {
            result: ResultCode(312015),
            status: None
        }
    );
}

#[test]
fn the_dock_pushes_its_devices_state_as_a_real_dock_does() {
    let mut dock = dock(DockConfig::default());
    dock.handle(&request(), T0);
    let start = dock.take_state_pushes();
    assert_eq!(start.len(), 1);
    let encoded = start[0].encode();
    assert_eq!(encoded.topic, "thing/product/1581F5BMD22330010X0V/state");
    let push = dji_cloud_ota::decode_state(&encoded.topic, &encoded.payload).unwrap();
    assert_eq!(push.gateway.as_deref(), Some("4TADKAQ000002J"));
    assert_eq!(
        push.firmware.firmware_upgrade_status,
        Some(dji_cloud_ota::FirmwareUpgradeStatus::UPGRADING)
    );
    let events = run(&mut dock, T0);
    assert_eq!(progress(events.last().unwrap()).status(), &TaskStatus::Ok);
    let end = dock.take_state_pushes();
    assert_eq!(end.len(), 1);
    assert_eq!(
        end[0].firmware.firmware_version.as_deref(),
        Some("04.01.0020")
    );
    assert_eq!(
        end[0].firmware.firmware_upgrade_status,
        Some(dji_cloud_ota::FirmwareUpgradeStatus::NOT_UPGRADING)
    );
    assert!(dock.take_state_pushes().is_empty(), "taken once");
}

#[test]
fn a_dock_that_drops_its_final_event_still_pushes_the_outcome_and_the_tracker_confirms_it() {
    let mut dock = dock(DockConfig {
        drop_final_event: true,
        ..DockConfig::default()
    });
    let mut tracker = Tracker::new(TrackerConfig::default());
    let started = tracker
        .start(
            gateway(),
            match &request().data {
                Data::OtaCreate(create) => create.devices.clone(),
                _ => unreachable!(),
            },
            T0,
        )
        .unwrap();
    for reply in dock.handle(&wire(&started.request), T0) {
        tracker.handle(&wire(&reply), T0);
    }
    let mut end = None;
    let mut now = T0;
    while let Some(at) = dock.next_deadline() {
        now = at;
        for event in dock.poll(at) {
            assert!(!progress(&event).status().is_final(), "no final event");
            tracker.handle(&wire(&event), at);
        }
        for push in dock.take_state_pushes() {
            let encoded = push.encode();
            let push = dji_cloud_ota::decode_state(&encoded.topic, &encoded.payload).unwrap();
            for update in tracker.handle_state(&push, at).updates {
                end = Some(update.change);
            }
        }
    }
    // The final event is awaited a moment more, then the task ends as confirmed.
    let at = tracker.next_deadline().expect("the confirmation's grace");
    assert!(at > now);
    for update in tracker.poll(at).updates {
        end = Some(update.change);
    }
    assert!(
        matches!(end, Some(Change::Confirmed { .. })),
        "{end:?} at {now}"
    );
    assert_eq!(dock.stats().tasks_ended, 1);
}

#[test]
fn a_failed_upgrade_pushes_the_version_before() {
    let mut dock = dock(DockConfig {
        fault: Fault::FailAt {
            step: Step::UpgradeFirmware,
            percent: 50,
            result: ResultCode(312003),
        },
        version_before: "03.00.0000".into(),
        ..DockConfig::default()
    });
    dock.handle(&request(), T0);
    run(&mut dock, T0);
    let pushes = dock.take_state_pushes();
    let last = pushes.last().unwrap();
    assert_eq!(
        last.firmware.firmware_version.as_deref(),
        Some("03.00.0000")
    );
    // Without state pushes, none.
    let mut quiet = Dock::new(
        gateway(),
        DockConfig {
            state_pushes: false,
            ..DockConfig::default()
        },
    );
    quiet.handle(&request(), T0);
    run(&mut quiet, T0);
    assert!(quiet.take_state_pushes().is_empty());
}
