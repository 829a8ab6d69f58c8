//! Firmware properties of a device's state push (`thing/product/{device_sn}/state`):
//! decoded with every tolerated spelling, unrelated properties skipped, and the state
//! topic still refused by `decode` as not an OTA message.

use dji_cloud_ota::{
    CompatibleStatus, Data, DecodeError, FirmwareState, FirmwareUpgradeStatus, Serial, StatePush,
    StateTopic, TopicError, UpgradeType, decode, decode_state,
};

const DOCK: &str = "thing/product/4TADKAQ000002J/state";
const AIRCRAFT: &str = "thing/product/1581F5BMD22330010X0V/state";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/state/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn firmware(
    version: Option<&str>,
    upgrading: Option<i64>,
    compatible: Option<i64>,
) -> FirmwareState {
    FirmwareState {
        firmware_version: version.map(Into::into),
        firmware_upgrade_status: upgrading.map(FirmwareUpgradeStatus),
        compatible_status: compatible.map(CompatibleStatus),
    }
}

#[test]
fn a_full_dock_state_push_gives_its_three_firmware_properties() {
    let payload = fixture("dock_full.json");
    assert!(payload.len() > 2_000, "a real-size push");
    let push = decode_state(DOCK, &payload).unwrap();
    assert_eq!(push.sn.as_str(), "4TADKAQ000002J");
    assert_eq!(push.timestamp, 1_707_048_089_244);
    assert_eq!(push.gateway.as_deref(), Some("4TADKAQ000002J"));
    assert_eq!(push.gateway_serial().as_str(), "4TADKAQ000002J");
    assert_eq!(
        push.firmware,
        firmware(Some("10.01.0504"), Some(0), Some(0))
    );
    assert!(!push.needs_consistency_upgrade());
}

#[test]
fn java_booleans_read_as_one_and_zero() {
    let push = decode_state(AIRCRAFT, &fixture("aircraft_java_booleans.json")).unwrap();
    assert_eq!(push.sn.as_str(), "1581F5BMD22330010X0V");
    // The aircraft is behind the dock the envelope names.
    assert_eq!(push.gateway_serial().as_str(), "4TADKAQ000002J");
    assert_eq!(
        push.firmware,
        firmware(Some("10.01.0504"), Some(0), Some(1))
    );
    assert!(push.needs_consistency_upgrade());
    let fix = push.consistency_upgrade("10.01.0600").unwrap();
    assert_eq!(fix.sn.as_str(), "4TADKAQ000002J");
    let Data::OtaCreate(create) = &fix.data else {
        panic!("{fix:?}")
    };
    assert_eq!(create.devices.len(), 1);
    assert_eq!(create.devices[0].sn.as_str(), "1581F5BMD22330010X0V");
    assert_eq!(create.devices[0].product_version.as_str(), "10.01.0600");
    assert_eq!(
        create.devices[0].firmware_upgrade_type,
        UpgradeType::CONSISTENCY
    );
}

#[test]
fn strings_integral_floats_nulls_and_the_colon_key_are_read() {
    let push = decode_state(DOCK, &fixture("javascript_strings.json")).unwrap();
    assert_eq!(push.timestamp, 1_707_048_100_000);
    assert_eq!(push.firmware, firmware(None, Some(1), Some(0)));
    let push = decode_state(DOCK, &fixture("python_floats_nulls.json")).unwrap();
    assert_eq!(push.timestamp, 1_707_048_100_001);
    assert_eq!(push.gateway, None);
    assert_eq!(push.firmware, firmware(None, Some(1), None));
}

#[test]
fn a_push_without_firmware_properties_is_not_an_error() {
    let push = decode_state(DOCK, &fixture("unrelated_only.json")).unwrap();
    assert!(push.firmware.is_empty());
    assert!(push.consistency_upgrade("10.01.0600").is_none());
}

#[test]
fn unknown_values_are_kept() {
    let push = decode_state(DOCK, &fixture("unknown_values.json")).unwrap();
    let upgrading = push.firmware.firmware_upgrade_status.unwrap();
    assert_eq!(
        (upgrading, upgrading.description()),
        (FirmwareUpgradeStatus(3), None)
    );
    assert_eq!(push.firmware.compatible_status, Some(CompatibleStatus(7)));
    assert!(!push.needs_consistency_upgrade());
    // And written back as they came.
    let text = serde_json::to_string(&push.firmware).unwrap();
    assert_eq!(
        text,
        r#"{"firmware_version":"11.00.0001","firmware_upgrade_status":3,"compatible_status":7}"#
    );
}

#[test]
fn a_push_survives_serde_equal() {
    let push = decode_state(DOCK, &fixture("dock_full.json")).unwrap();
    let stored = serde_json::to_string(&push).unwrap();
    assert_eq!(serde_json::from_str::<StatePush>(&stored).unwrap(), push);
}

#[test]
fn bad_values_are_refused_with_their_path() {
    let cases: [(&str, &str); 4] = [
        (
            r#"{"tid":"t","bid":"b","timestamp":1,"data":{"firmware_upgrade_status":"yes"}}"#,
            "data.firmware_upgrade_status",
        ),
        (
            r#"{"tid":"t","bid":"b","timestamp":1,"data":{"mode_code":0,"compatible_status":0.5}}"#,
            "data.compatible_status",
        ),
        (
            r#"{"tid":"t","bid":"b","timestamp":1,"data":{"firmware_version":1001}}"#,
            "data.firmware_version",
        ),
        (r#"{"tid":"t","bid":"b","timestamp":1,"data":[1]}"#, "data"),
    ];
    for (payload, path) in cases {
        match decode_state(DOCK, payload.as_bytes()) {
            Err(DecodeError::Data(error)) => assert_eq!(error.path, path, "{payload}"),
            other => panic!("{payload}: {other:?}"),
        }
    }
    let missing = br#"{"tid":"t","bid":"b","data":{}}"#;
    assert!(matches!(
        decode_state(DOCK, missing),
        Err(DecodeError::Data(_))
    ));
    assert!(matches!(
        decode_state(DOCK, b"{\"tid\":"),
        Err(DecodeError::Syntax { .. })
    ));
    assert!(matches!(
        decode_state(DOCK, b"\xff"),
        Err(DecodeError::InvalidUtf8 { offset: 0, .. })
    ));
}

#[test]
fn only_a_state_topic_is_a_state_topic() {
    let payload = fixture("unrelated_only.json");
    for topic in [
        "thing/product/4TADKAQ000002J/events",
        "thing/product/4TADKAQ000002J/osd",
        "thing/product/4TADKAQ000002J/states",
        "sys/product/4TADKAQ000002J/status",
    ] {
        assert!(
            matches!(
                decode_state(topic, &payload),
                Err(DecodeError::Topic(TopicError::NotState))
            ),
            "{topic}"
        );
    }
    assert!(matches!(
        decode_state("thing/product/+/state", &payload),
        Err(DecodeError::Topic(TopicError::UnsafeSerial { .. }))
    ));
    let topic = StateTopic::new(Serial::new("4TADKAQ000002J").unwrap());
    assert_eq!(topic.to_string(), DOCK);
    assert_eq!(DOCK.parse::<StateTopic>().unwrap(), topic);
    assert_eq!(StateTopic::wildcard_filter(), "thing/product/+/state");
}

#[test]
fn decode_still_refuses_a_state_push_as_not_ota() {
    let error = decode(DOCK, &fixture("dock_full.json")).unwrap_err();
    assert!(error.is_not_ota(), "{error:?}");
}
