//! Builders and replies, as a server or dock agent calls them.

mod common;

use common::{GATEWAY, decode_fixture};
use dji_cloud_ota::{
    Data, Device, EventsReply, Message, Method, OtaCreateOutput, OtaCreateReply, ResultCode,
    Serial, TaskStatus, TopicKind, UpgradeType, decode, now_millis,
};

fn drone() -> Device {
    Device::new("1581F5BMD22330010X0V", "04.01.0020", UpgradeType::NORMAL).with_file(
        "https://firmware.example.com/wm245_04.01.0020.zip",
        "d41d8cd98f00b204e9800998ecf8427e",
        653_467_234,
        "wm245_04.01.0020.zip",
    )
}

#[test]
fn ota_create_has_fresh_uuids_and_the_current_time() {
    let before = now_millis();
    let a = Message::ota_create(Serial::new(GATEWAY).unwrap(), vec![drone()]);
    let b = Message::ota_create(Serial::new(GATEWAY).unwrap(), vec![drone()]);
    let after = now_millis();
    assert!(a.tid.uuid().is_some() && a.bid.uuid().is_some());
    assert_ne!(a.tid, b.tid);
    assert_ne!(a.bid, b.bid);
    assert_ne!(a.tid, a.bid);
    assert!((before..=after).contains(&a.timestamp));
    assert_eq!(a.method(), Method::OtaCreate);
    a.validate().unwrap();

    let encoded = a.encode();
    assert_eq!(encoded.topic, format!("thing/product/{GATEWAY}/services"));
    assert_eq!(decode(&encoded.topic, &encoded.payload).unwrap(), a);
}

#[test]
fn device_builder_sets_every_field() {
    let d = drone();
    assert_eq!(d.sn, "1581F5BMD22330010X0V");
    assert_eq!(d.product_version, "04.01.0020");
    assert_eq!(
        d.file_url.as_deref(),
        Some("https://firmware.example.com/wm245_04.01.0020.zip")
    );
    assert_eq!(d.md5.as_deref(), Some("d41d8cd98f00b204e9800998ecf8427e"));
    assert_eq!(d.file_size, Some(653_467_234));
    assert_eq!(d.file_name.as_deref(), Some("wm245_04.01.0020.zip"));
    assert_eq!(d.firmware_upgrade_type, UpgradeType::NORMAL);
    let bare = Device::new("4TADKAQ000002J", "04.01.0020", UpgradeType::CONSISTENCY);
    assert_eq!(
        (bare.file_url, bare.md5, bare.file_size, bare.file_name),
        (None, None, None, None)
    );
}

#[test]
fn the_reply_to_ota_create_keeps_tid_bid_and_method() {
    let request = decode_fixture(TopicKind::Services, "canonical");
    let reply = request
        .reply_to_create(ResultCode::SUCCESS, Some(TaskStatus::InProgress))
        .expect("an ota_create gets a reply");
    assert_eq!(
        (&reply.sn, &reply.tid, &reply.bid),
        (&request.sn, &request.tid, &request.bid)
    );
    assert_eq!(reply.method(), Method::OtaCreate);
    assert_eq!(reply.topic().kind, TopicKind::ServicesReply);
    assert!(reply.timestamp >= request.timestamp);
    assert_eq!(
        reply.data,
        Data::OtaCreateReply(OtaCreateReply {
            result: ResultCode::SUCCESS,
            output: Some(OtaCreateOutput {
                status: TaskStatus::InProgress
            })
        })
    );
    let refused = request.reply_to_create(ResultCode(312_015), None).unwrap();
    let text = String::from_utf8(refused.encode().payload).unwrap();
    assert!(
        text.ends_with(r#""method":"ota_create","data":{"result":312015}}"#),
        "{text}"
    );
    reply.validate().unwrap();
}

#[test]
fn only_an_ota_create_gets_a_create_reply() {
    for (kind, name) in [
        (TopicKind::ServicesReply, "canonical"),
        (TopicKind::Events, "canonical"),
        (TopicKind::EventsReply, "canonical"),
    ] {
        let m = decode_fixture(kind, name);
        assert_eq!(m.reply_to_create(ResultCode::SUCCESS, None), None, "{kind}");
    }
}

#[test]
fn an_event_that_asks_for_a_reply_gets_one_on_events_reply() {
    let event = decode_fixture(TopicKind::Events, "need_reply_int");
    assert!(event.wants_reply());
    let reply = event
        .reply_to_event(ResultCode::SUCCESS)
        .expect("need_reply is 1");
    assert_eq!((&reply.tid, &reply.bid), (&event.tid, &event.bid));
    assert_eq!(reply.method(), Method::OtaProgress);
    let encoded = reply.encode();
    assert_eq!(
        encoded.topic,
        format!("thing/product/{GATEWAY}/events_reply")
    );
    assert_eq!(
        reply.data,
        Data::OtaProgressReply(EventsReply {
            result: ResultCode::SUCCESS
        })
    );
    assert_eq!(decode(&encoded.topic, &encoded.payload).unwrap(), reply);
}

#[test]
fn an_event_that_does_not_ask_gets_no_reply() {
    for name in ["string_integers", "seed_ota_progress", "current_step"] {
        // need_reply 0 (as "0") or absent.
        let event = decode_fixture(TopicKind::Events, name);
        assert!(!event.wants_reply(), "{name}");
        assert_eq!(event.reply_to_event(ResultCode::SUCCESS), None, "{name}");
    }
    // A request with need_reply set is not an event: no events_reply either.
    let mut request = decode_fixture(TopicKind::Services, "canonical");
    request.need_reply = Some(true);
    assert_eq!(request.reply_to_event(ResultCode::SUCCESS), None);
}

#[test]
fn encode_into_a_reused_buffer_appends_the_same_bytes() {
    let m = decode_fixture(TopicKind::Events, "canonical");
    let mut buf = b"prefix".to_vec();
    m.encode_payload_into(&mut buf);
    assert_eq!(&buf[..6], b"prefix");
    assert_eq!(&buf[6..], m.encode().payload.as_slice());
}

#[test]
fn a_dock_agent_builds_its_events_from_the_request_it_received() {
    let request = Message::ota_create(
        Serial::new("4TADKAQ000002J").unwrap(),
        vec![Device::new(
            "1581F5BMD22330010X0V",
            "04.01.0020",
            UpgradeType::NORMAL,
        )],
    );
    let received = decode(&request.encode().topic, &request.encode().payload).unwrap();
    let first = received
        .progress_event(
            dji_cloud_ota::OtaProgress::new(TaskStatus::InProgress)
                .with_progress(dji_cloud_ota::Step::DownloadFirmware, 5)
                .with_rate(1_000),
            true,
        )
        .unwrap();
    let second = received
        .progress_event(
            dji_cloud_ota::OtaProgress::new(TaskStatus::Failed).with_result(ResultCode(312_003)),
            false,
        )
        .unwrap();
    for event in [&first, &second] {
        assert_eq!(event.sn, request.sn);
        assert_eq!(event.bid, request.bid, "the task's bid");
        assert_ne!(event.tid, request.tid, "a tid of its own");
        assert_eq!(event.topic().kind, TopicKind::Events);
        event.validate().unwrap();
    }
    assert_ne!(first.tid, second.tid);
    assert_eq!(
        (first.need_reply, second.need_reply),
        (Some(true), Some(false))
    );
    let Data::OtaProgress(failed) = &second.data else {
        panic!()
    };
    assert_eq!(failed.result, ResultCode(312_003));
    assert_eq!(failed.output.progress, None);
    // Only an ota_create starts a task.
    assert!(first.progress_event(failed.clone(), true).is_none());
    let reply = received.reply_to_create(ResultCode::SUCCESS, None).unwrap();
    assert!(reply.progress_event(failed.clone(), true).is_none());
}

#[test]
fn an_events_nested_fields_are_read_by_its_accessors_absent_or_not() {
    use dji_cloud_ota::{OtaProgress, Step};
    let bare = OtaProgress::new(TaskStatus::Failed).with_result(ResultCode(312_003));
    assert_eq!(bare.status(), &TaskStatus::Failed);
    assert_eq!(
        (bare.step(), bare.percent(), bare.rate()),
        (None, None, None)
    );
    let full = OtaProgress::new(TaskStatus::InProgress)
        .with_progress(Step::UpgradeFirmware, 70)
        .with_rate(4_096);
    assert_eq!(full.step(), Some(&Step::UpgradeFirmware));
    assert_eq!((full.percent(), full.rate()), (Some(70), Some(4_096)));
    // As decoded: the every-quirk fixture spells them `stauts`, `current_step`, strings.
    let quirky = decode_fixture(TopicKind::Events, "every_quirk");
    let Data::OtaProgress(event) = &quirky.data else {
        panic!()
    };
    assert_eq!(event.status(), &TaskStatus::InProgress);
    assert_eq!(
        (event.step(), event.percent(), event.rate()),
        (Some(&Step::DownloadFirmware), Some(42), Some(2_097_152))
    );
}
