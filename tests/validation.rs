//! Validation: each rule both ways. A valid message is broken in one place at a time and
//! must report exactly that violation, at its path; a message broken in many places
//! reports all of them.

mod common;

use common::decode_fixture;
use dji_cloud_ota::limits::MAX_TEXT_CHARS;
use dji_cloud_ota::{
    Data, Device, Id, Message, OtaCreateOutput, Problem, Serial, Step, TaskStatus, Text,
    TopicError, TopicKind, UpgradeType, ValidationErrors,
};

fn valid_create() -> Message {
    let m = decode_fixture(TopicKind::Services, "canonical");
    m.validate().expect("the canonical ota_create is valid");
    m
}

fn valid_event() -> Message {
    let m = decode_fixture(TopicKind::Events, "canonical");
    m.validate().expect("the canonical ota_progress is valid");
    m
}

fn devices(m: &mut Message) -> &mut Vec<Device> {
    match &mut m.data {
        Data::OtaCreate(c) => &mut c.devices,
        other => panic!("{other:?}"),
    }
}

fn output(m: &mut Message) -> &mut dji_cloud_ota::ProgressOutput {
    match &mut m.data {
        Data::OtaProgress(p) => &mut p.output,
        other => panic!("{other:?}"),
    }
}

/// The single violation `m` has.
fn only_violation(m: &Message) -> (String, Problem) {
    let errors = m.validate().expect_err("should not validate");
    assert_eq!(errors.violations.len(), 1, "{errors}");
    let v = errors.violations.into_iter().next().unwrap();
    (v.path, v.problem)
}

#[test]
fn every_valid_fixture_validates() {
    for (kind, name) in [
        (TopicKind::Services, "canonical"),
        (TopicKind::Services, "java_server"),
        (TopicKind::Services, "no_method_string_size"),
        (TopicKind::ServicesReply, "canonical"),
        (TopicKind::ServicesReply, "refused_without_output"),
        (TopicKind::Events, "canonical"),
        (TopicKind::Events, "current_step"),
        (TopicKind::Events, "ext_rate"),
        (TopicKind::Events, "partially_done"),
        (TopicKind::EventsReply, "canonical"),
    ] {
        if let Err(e) = decode_fixture(kind, name).validate() {
            panic!("{kind}/{name}: {e}");
        }
    }
}

#[test]
fn ids_must_be_uuids() {
    let mut m = valid_event();
    m.tid = "not-a-uuid".parse().unwrap();
    assert_eq!(
        only_violation(&m),
        (
            "tid".into(),
            Problem::NotUuid {
                value: "not-a-uuid".into()
            }
        )
    );
    let mut m = valid_event();
    m.bid = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxx".parse().unwrap();
    assert_eq!(only_violation(&m).0, "bid");
    // Upper-case hex is still a UUID, kept as written.
    let mut m = valid_event();
    m.tid = "6A7BFE89-C386-4043-B600-B518E10096CC".parse().unwrap();
    m.validate().unwrap();
    m.tid = Id::new_v4();
    m.validate().unwrap();
}

#[test]
fn timestamps_must_be_plausible_milliseconds() {
    let mut m = valid_event();
    m.timestamp = 1_654_070_968; // seconds, not milliseconds
    assert_eq!(
        only_violation(&m),
        (
            "timestamp".into(),
            Problem::ImplausibleTimestamp {
                value: 1_654_070_968
            }
        )
    );
    m.timestamp = u64::MAX;
    assert_eq!(only_violation(&m).0, "timestamp");
    m.timestamp = 1_420_070_400_000; // 2015-01-01, the first accepted
    m.validate().unwrap();
}

#[test]
fn gateway_must_be_safe_and_name_the_topics_gateway() {
    let mut m = valid_event();
    m.gateway = Some(Text::new("OTHERDOCK01"));
    assert!(matches!(
        only_violation(&m),
        (path, Problem::GatewayMismatch { .. }) if path == "gateway"
    ));
    m.gateway = Some(Text::new(""));
    let errors = m.validate().unwrap_err();
    assert!(
        errors
            .violations
            .iter()
            .any(|v| v.path == "gateway" && v.problem == Problem::Empty)
    );
    m.gateway = None;
    m.validate().unwrap();
}

#[test]
fn one_or_two_devices() {
    let mut m = valid_create();
    devices(&mut m).clear();
    assert_eq!(
        only_violation(&m),
        ("data.devices".into(), Problem::DeviceCount { count: 0 })
    );
    let mut m = valid_create();
    let mut third = devices(&mut m)[1].clone();
    third.sn = "5YSZK9D00300XX".into();
    devices(&mut m).push(third);
    assert_eq!(
        only_violation(&m),
        ("data.devices".into(), Problem::DeviceCount { count: 3 })
    );
    let mut m = valid_create();
    devices(&mut m).truncate(1);
    m.validate().unwrap();
}

#[test]
fn a_serial_listed_twice() {
    let mut m = valid_create();
    let sn = devices(&mut m)[0].sn.clone();
    devices(&mut m)[1].sn = sn.clone();
    assert_eq!(
        only_violation(&m),
        (
            "data.devices[1].sn".into(),
            Problem::DuplicateDevice { sn: sn.to_string() }
        )
    );
}

#[test]
fn device_serials_are_non_empty_and_topic_safe() {
    let mut m = valid_create();
    devices(&mut m)[0].sn = "".into();
    assert_eq!(
        only_violation(&m),
        ("data.devices[0].sn".into(), Problem::Empty)
    );
    devices(&mut m)[0].sn = "dock/1".into();
    assert!(matches!(
        only_violation(&m),
        (p, Problem::UnsafeSerial(TopicError::UnsafeSerial { found: '/', .. })) if p == "data.devices[0].sn"
    ));
}

#[test]
fn text_fields_at_most_10240_characters() {
    // Characters, not bytes: 10240 three-byte characters are fine.
    let at_limit = "é".repeat(MAX_TEXT_CHARS);
    let over = "a".repeat(MAX_TEXT_CHARS + 1);
    let mut m = valid_create();
    devices(&mut m)[0].file_name = Some(at_limit.clone().into());
    devices(&mut m)[0].sn = "€".repeat(MAX_TEXT_CHARS).into();
    m.validate().unwrap();

    devices(&mut m)[0].file_name = Some(over.clone().into());
    assert_eq!(
        only_violation(&m),
        (
            "data.devices[0].file_name".into(),
            Problem::TooLong {
                chars: MAX_TEXT_CHARS + 1
            }
        )
    );
    let mut m = valid_create();
    devices(&mut m)[1].sn = over.clone().into();
    assert_eq!(only_violation(&m).0, "data.devices[1].sn");
    let mut m = valid_create();
    devices(&mut m)[0].file_url = Some(format!("https://{over}").into());
    assert_eq!(only_violation(&m).0, "data.devices[0].file_url");
    let mut m = valid_event();
    output(&mut m).sub_status = Some(Text::new(&over));
    assert_eq!(only_violation(&m).0, "data.output.sub_status");
}

#[test]
fn md5_is_32_hex_digits() {
    for bad in [
        "abcdefabcdefabcdef",
        "d41d8cd98f00b204e9800998ecf8427",
        "g41d8cd98f00b204e9800998ecf8427e",
        "",
    ] {
        let mut m = valid_create();
        devices(&mut m)[0].md5 = Some(bad.into());
        assert_eq!(
            only_violation(&m),
            (
                "data.devices[0].md5".into(),
                Problem::NotMd5 { value: bad.into() }
            ),
            "{bad:?}"
        );
    }
    let mut m = valid_create();
    devices(&mut m)[0].md5 = Some("D41D8CD98F00B204E9800998ECF8427E".into());
    m.validate().unwrap();
}

#[test]
fn product_version_is_dot_separated_digits() {
    for good in ["1.00.223", "04.01.0020", "10.01.1612"] {
        let mut m = valid_create();
        devices(&mut m)[0].product_version = good.into();
        m.validate().unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    for bad in ["v1.00.223", "1", "1..2", "1.00.", "1.00.223 ", "latest"] {
        let mut m = valid_create();
        devices(&mut m)[0].product_version = bad.into();
        assert_eq!(
            only_violation(&m),
            (
                "data.devices[0].product_version".into(),
                Problem::BadVersion { value: bad.into() }
            ),
            "{bad:?}"
        );
    }
    let mut m = valid_create();
    devices(&mut m)[0].product_version = "".into();
    assert_eq!(
        only_violation(&m),
        ("data.devices[0].product_version".into(), Problem::Empty)
    );
}

#[test]
fn file_url_is_http_or_https() {
    for bad in [
        "ftp://example.com/f.zip",
        "example.com/f.zip",
        "https://",
        "https:///path",
        "https://exa mple.com/f.zip",
    ] {
        let mut m = valid_create();
        devices(&mut m)[0].file_url = Some(bad.into());
        assert_eq!(
            only_violation(&m),
            ("data.devices[0].file_url".into(), Problem::NotHttpUrl),
            "{bad:?}"
        );
    }
    let mut m = valid_create();
    devices(&mut m)[0].file_url = Some("HTTP://example.com/f.zip".into());
    m.validate().unwrap();
}

#[test]
fn a_package_is_all_four_file_fields_or_none() {
    let mut m = valid_create();
    devices(&mut m)[0].md5 = None;
    devices(&mut m)[0].file_name = None;
    assert_eq!(
        only_violation(&m),
        (
            "data.devices[0]".into(),
            Problem::PartialPackage {
                missing: vec!["md5", "file_name"]
            }
        )
    );
    let mut m = valid_create();
    devices(&mut m)[0].file_size = Some(0);
    assert_eq!(
        only_violation(&m),
        ("data.devices[0].file_size".into(), Problem::EmptyFile)
    );
    let mut m = valid_create();
    devices(&mut m)[0].file_name = Some("".into());
    assert_eq!(
        only_violation(&m),
        ("data.devices[0].file_name".into(), Problem::Empty)
    );
}

#[test]
fn upgrade_type_must_be_known() {
    let mut m = valid_create();
    devices(&mut m)[1].firmware_upgrade_type = UpgradeType(5);
    assert_eq!(
        only_violation(&m),
        (
            "data.devices[1].firmware_upgrade_type".into(),
            Problem::UnknownValue { value: "5".into() }
        )
    );
    devices(&mut m)[1].firmware_upgrade_type = UpgradeType::PSDK;
    m.validate().unwrap();
}

#[test]
fn status_and_step_must_be_known() {
    let mut m = valid_event();
    output(&mut m).status = TaskStatus::from("queued");
    assert_eq!(
        only_violation(&m),
        (
            "data.output.status".into(),
            Problem::UnknownValue {
                value: "queued".into()
            }
        )
    );
    let mut m = valid_event();
    output(&mut m).progress.as_mut().unwrap().step = Some(Step::from("verify_firmware"));
    assert_eq!(only_violation(&m).0, "data.output.progress.step_key");

    let mut reply = decode_fixture(TopicKind::ServicesReply, "canonical");
    if let Data::OtaCreateReply(r) = &mut reply.data {
        r.output = Some(OtaCreateOutput {
            status: TaskStatus::from("accepted"),
        });
    }
    assert_eq!(only_violation(&reply).0, "data.output.status");
}

#[test]
fn percent_is_0_to_100() {
    for (percent, ok) in [
        (-1, false),
        (0, true),
        (100, true),
        (101, false),
        (150, false),
    ] {
        let mut m = valid_event();
        output(&mut m).progress.as_mut().unwrap().percent = percent;
        match m.validate() {
            Ok(()) => assert!(ok, "{percent}"),
            Err(_) => assert_eq!(
                only_violation(&m),
                (
                    "data.output.progress.percent".into(),
                    Problem::PercentOutOfRange { value: percent }
                )
            ),
        }
    }
}

#[test]
fn the_topic_serial_itself_is_checked() {
    // A Serial is checked when made, so the topic's serial is always safe; validation
    // still reports a mismatch with `gateway`.
    let mut m = valid_event();
    m.sn = Serial::new("OTHERDOCK01").unwrap();
    assert_eq!(only_violation(&m).0, "gateway");
}

#[test]
fn every_violation_is_reported_at_once() {
    let mut m = valid_create();
    m.tid = "t".parse().unwrap();
    m.timestamp = 12;
    {
        let d = devices(&mut m);
        d[0].md5 = Some("abc".into());
        d[0].product_version = "x".into();
        d[1].sn = "+".into();
        d[1].firmware_upgrade_type = UpgradeType(9);
    }
    let errors: ValidationErrors = m.validate().unwrap_err();
    let paths: Vec<&str> = errors.violations.iter().map(|v| v.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "tid",
            "timestamp",
            "data.devices[0].product_version",
            "data.devices[0].md5",
            "data.devices[1].sn",
            "data.devices[1].firmware_upgrade_type",
        ]
    );
    let text = errors.to_string();
    assert!(text.starts_with("6 violations"), "{text}");
    for path in paths {
        assert!(
            text.contains(&format!("\n  {path}: ")),
            "{path} missing from {text}"
        );
    }
}
