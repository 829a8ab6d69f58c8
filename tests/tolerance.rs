//! Two tolerances for what real peers write, and where they stop.
//!
//! Integral numbers in any JSON notation: a Python peer writes `1700000000000.0`, `-0.0`
//! or `1e1` where the protocol has an integer. Every integer field (`timestamp`,
//! `result`, `percent`, `file_size`, `rate`, `step_result`, `firmware_upgrade_type`)
//! takes such a number as the integer it equals, and the canonical encoding writes it as
//! a plain integer. A number with a fraction (`10.5`, or `10.000000000000000001`, which a
//! double would round to 10) is refused with a `DecodeError::Data` that names the field;
//! a number beyond the field's range (`1e400`) stays an error.
//!
//! Numeric steps: DJI's Java SDK writes the progress step as a number, `1` for
//! `download_firmware` and `2` for `upgrade_firmware`, under `step_key` or
//! `current_step`. Any other number is kept as an unknown step spelled as that number;
//! the event is never refused for it. The canonical encoding writes the step as a string
//! under `step_key`, and decoding that gives the same message back.

mod common;

use common::edit::{parse, pointer_mut, with_raw};
use common::{GATEWAY, canonical_text, decode_fixture, fixture, topic};
use dji_cloud_ota::{
    Data, DataError, DecodeError, Message, OtaProgress, ResultCode, Step, TaskStatus, TopicKind,
    UpgradeType, decode,
};

/// Every integer field the rule covers: the topic, a fixture that has the field, its
/// path as `DataError::path` spells it.
const INTEGER_FIELDS: [(TopicKind, &str, &str); 11] = [
    (TopicKind::Events, "canonical", "timestamp"),
    (TopicKind::Services, "canonical", "timestamp"),
    (TopicKind::EventsReply, "canonical", "timestamp"),
    (TopicKind::Events, "canonical", "data.result"),
    (TopicKind::ServicesReply, "canonical", "data.result"),
    (TopicKind::EventsReply, "canonical", "data.result"),
    (
        TopicKind::Events,
        "canonical",
        "data.output.progress.percent",
    ),
    (TopicKind::Events, "canonical", "data.output.ext.rate"),
    (
        TopicKind::Events,
        "step_result",
        "data.output.progress.step_result",
    ),
    (
        TopicKind::Services,
        "canonical",
        "data.devices[0].file_size",
    ),
    (
        TopicKind::Services,
        "canonical",
        "data.devices[0].firmware_upgrade_type",
    ),
];

/// Fields of type `u64`; the others are `i64`.
const UNSIGNED: [&str; 3] = [
    "timestamp",
    "data.output.ext.rate",
    "data.devices[0].file_size",
];

/// Integers, each with other spellings of the same number.
const NOTATIONS: [(&str, &[&str]); 5] = [
    (
        "10",
        &[
            "10.0", "10.000", "1e1", "1E1", "1e+1", "1E+01", "1.0e1", "100e-1", "0.1e2", "10e0",
        ],
    ),
    ("15", &["15.0", "1.5e1", "150e-1", "1.5E+1"]),
    (
        "0",
        &[
            "-0",
            "-0.0",
            "0.0",
            "0e0",
            "0E5",
            "-0e-3",
            "0.000",
            "-0.000e10",
        ],
    ),
    ("100", &["100.0", "1e2", "1.00e2", "1000e-1"]),
    ("1048576", &["1048576.0", "1.048576e6", "1048576e0"]),
];

/// Spellings of numbers of the size a field really holds.
fn field_notations(path: &str) -> &'static [(&'static str, &'static [&'static str])] {
    match path {
        "timestamp" => &[(
            "1700000000000",
            &["1700000000000.0", "1.7e12", "17e11", "1.700000000000e+12"],
        )],
        "data.devices[0].file_size" => &[("653467234", &["653467234.0", "6.53467234e8"])],
        "data.result" | "data.output.progress.step_result" => {
            &[("312015", &["312015.0", "3.12015e5", "312015e0"])]
        }
        "data.devices[0].firmware_upgrade_type" => &[("3", &["3.0", "3e0", "30e-1", "0.3e1"])],
        _ => &[],
    }
}

/// The fixture `kind/name` with the value at `path` replaced by the raw JSON `raw`.
fn edited(kind: TopicKind, name: &str, path: &str, raw: &str) -> String {
    with_raw(&parse(&fixture(kind.suffix(), name)), path, raw)
}

fn decode_edited(
    kind: TopicKind,
    name: &str,
    path: &str,
    raw: &str,
) -> Result<Message, DecodeError> {
    decode(&topic(kind), edited(kind, name, path, raw).as_bytes())
}

fn progress_of(message: &Message) -> &OtaProgress {
    match &message.data {
        Data::OtaProgress(event) => event,
        other => panic!("expected ota_progress, got {other:?}"),
    }
}

fn step_of(message: &Message) -> Option<&Step> {
    progress_of(message).output.progress.as_ref()?.step.as_ref()
}

fn data_error(result: Result<Message, DecodeError>, context: &str) -> DataError {
    match result {
        Err(DecodeError::Data(e)) => *e,
        other => panic!("{context}: expected a data error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Integral numbers

#[test]
fn every_integral_notation_in_every_integer_field_is_that_integer() {
    let mut tried = 0;
    for (kind, name, path) in INTEGER_FIELDS {
        for (integer, spellings) in NOTATIONS.iter().chain(field_notations(path)) {
            let plain = decode_edited(kind, name, path, integer)
                .unwrap_or_else(|e| panic!("{integer} at {kind}/{path}: {e}"));
            for raw in *spellings {
                let context = format!("{raw} at {kind}/{name}:{path}");
                let message = decode_edited(kind, name, path, raw)
                    .unwrap_or_else(|e| panic!("{context}: {e}"));
                assert_eq!(message, plain, "{context}");
                let encoded = message.encode();
                assert_eq!(encoded, plain.encode(), "{context}");
                // Written back as a plain integer, `-0` as `0`.
                let mut canonical = parse(&encoded.payload);
                let written = pointer_mut(&mut canonical, path)
                    .unwrap_or_else(|| panic!("{context}: not in the canonical form"))
                    .to_string();
                assert_eq!(written, *integer, "{context}");
                tried += 1;
            }
        }
    }
    assert!(tried > 300, "only {tried} spellings tried");
}

#[test]
fn integral_notations_reach_the_typed_fields() {
    let event = decode_edited(
        TopicKind::Events,
        "canonical",
        "data.output.progress.percent",
        "1e1",
    )
    .unwrap();
    assert_eq!(
        progress_of(&event)
            .output
            .progress
            .as_ref()
            .unwrap()
            .percent,
        10
    );

    let event = decode_edited(
        TopicKind::Events,
        "canonical",
        "timestamp",
        "1700000000000.0",
    )
    .unwrap();
    assert_eq!(event.timestamp, 1_700_000_000_000);

    let event = decode_edited(TopicKind::Events, "canonical", "data.result", "-0").unwrap();
    assert_eq!(progress_of(&event).result, ResultCode::SUCCESS);

    let event = decode_edited(
        TopicKind::Events,
        "canonical",
        "data.output.ext.rate",
        "2.097152e6",
    )
    .unwrap();
    assert_eq!(
        progress_of(&event).output.ext.as_ref().unwrap().rate,
        Some(2_097_152)
    );

    let event = decode_edited(
        TopicKind::Events,
        "step_result",
        "data.output.progress.step_result",
        "312016.0",
    )
    .unwrap();
    let progress = progress_of(&event).output.progress.as_ref().unwrap();
    assert_eq!(progress.step_result, Some(312_016));

    let create = decode_edited(
        TopicKind::Services,
        "canonical",
        "data.devices[0].firmware_upgrade_type",
        "4.0",
    )
    .unwrap();
    let Data::OtaCreate(request) = &create.data else {
        panic!("{:?}", create.data)
    };
    assert_eq!(request.devices[0].firmware_upgrade_type, UpgradeType(4));

    let create = decode_edited(
        TopicKind::Services,
        "canonical",
        "data.devices[0].file_size",
        "6.5e8",
    )
    .unwrap();
    let Data::OtaCreate(request) = &create.data else {
        panic!("{:?}", create.data)
    };
    assert_eq!(request.devices[0].file_size, Some(650_000_000));

    let reply = decode_edited(
        TopicKind::ServicesReply,
        "canonical",
        "data.result",
        "3.12015e5",
    )
    .unwrap();
    let Data::OtaCreateReply(reply) = &reply.data else {
        panic!("{:?}", reply.data)
    };
    assert_eq!(reply.result, ResultCode(312_015));
}

#[test]
fn an_integral_float_is_read_below_2_pow_53_and_refused_from_it_on() {
    // Below 2^53 a float holds every integer, so the value read is the value written;
    // from 2^53 on it may not be (`9007199254740993.0` reads as 2^53), and it is out of
    // range (limits::MAX_INTEGRAL_FLOAT), even where the field's type would hold it.
    for path in UNSIGNED {
        let (kind, name, _) = INTEGER_FIELDS
            .into_iter()
            .find(|(_, _, p)| *p == path)
            .unwrap();
        let plain = decode_edited(kind, name, path, "9007199254740991").unwrap();
        let message = decode_edited(kind, name, path, "9.007199254740991e15")
            .unwrap_or_else(|e| panic!("2^53 - 1 at {path}: {e}"));
        assert_eq!(message, plain, "{path}");
        for raw in ["9007199254740992.0", "9007199254740993.0", "1e19"] {
            let e = data_error(decode_edited(kind, name, path, raw), raw);
            assert_eq!(e.path, path, "{raw}");
            assert!(e.message.contains("out of range"), "{raw}: {}", e.message);
        }
    }
}

#[test]
fn the_quirky_timestamp_key_takes_integral_notations_too() {
    // The seed's examples spell the key `"timestamp:"`.
    let plain = decode_fixture(TopicKind::Events, "step_result");
    for raw in ["1654070968655.0", "1.654070968655e12"] {
        let message = decode_edited(TopicKind::Events, "step_result", "timestamp:", raw)
            .unwrap_or_else(|e| panic!("{raw}: {e}"));
        assert_eq!(message, plain, "{raw}");
    }
}

#[test]
fn a_number_with_a_fraction_is_refused_at_its_field() {
    let fractions = ["10.5", "0.5", "-0.5", "1e-1", "1.05e1", "1700000000000.5"];
    // A fraction finer than a 64-bit float holds (`10.000000000000000001`) reaches the
    // crate as the whole number it rounds to: serde_json reads numbers as floats, and
    // the limits module documents it.
    for (kind, name, path) in INTEGER_FIELDS {
        for raw in fractions {
            let context = format!("{raw} at {kind}/{name}:{path}");
            let e = data_error(decode_edited(kind, name, path, raw), &context);
            assert_eq!(e.path, path, "{context}: {}", e.message);
        }
    }
    // The three the rule names, spelled out.
    for (kind, path) in [
        (TopicKind::Events, "data.output.progress.percent"),
        (TopicKind::Events, "timestamp"),
        (TopicKind::Services, "data.devices[0].file_size"),
    ] {
        let e = data_error(decode_edited(kind, "canonical", path, "10.5"), path);
        assert_eq!(e.path, path);
        assert!(e.line >= 1 && e.column >= 1, "{e:?}");
    }
}

#[test]
fn a_number_beyond_its_fields_range_stays_an_error() {
    for (kind, name, path) in INTEGER_FIELDS {
        let unsigned = UNSIGNED.contains(&path);
        let mut beyond = vec!["1e400", "-1e400", "1.0e400", "1e20"];
        if !unsigned {
            beyond.extend(["1e19", "-1e19"]);
        } else {
            beyond.extend(["-1e0", "-1.0"]);
        }
        for raw in beyond {
            let context = format!("{raw} at {kind}/{name}:{path}");
            match decode_edited(kind, name, path, raw) {
                Ok(message) => panic!("{context}: accepted as {message:?}"),
                Err(DecodeError::Data(e)) => assert_eq!(e.path, path, "{context}: {}", e.message),
                Err(_) => {}
            }
        }
    }
}

#[test]
fn the_python_floats_fixture_is_the_message_it_means() {
    let message = decode_fixture(TopicKind::Events, "python_floats");
    assert_eq!(message.timestamp, 1_700_000_000_000);
    assert_eq!(message.need_reply, Some(true));
    assert_eq!(message.gateway.as_deref(), Some(GATEWAY));
    let event = progress_of(&message);
    assert_eq!(event.result, ResultCode::SUCCESS);
    assert_eq!(event.output.status, TaskStatus::InProgress);
    let progress = event.output.progress.as_ref().unwrap();
    assert_eq!(progress.percent, 10);
    assert_eq!(progress.step, Some(Step::DownloadFirmware));
    assert_eq!(progress.step_result, Some(0));
    assert_eq!(event.output.ext.as_ref().unwrap().rate, Some(1_048_576));

    let expected = String::from_utf8(fixture("expected/events", "python_floats")).unwrap();
    assert_eq!(canonical_text(&message), expected);
    assert_eq!(
        decode(&topic(TopicKind::Events), expected.as_bytes()).unwrap(),
        message
    );
    assert!(message.validate().is_ok(), "{:?}", message.validate());
}

#[test]
fn python_style_requests_and_replies_mean_their_canonical_messages() {
    // Each canonical fixture with its integers written the way `json.dumps` writes floats.
    let cases: [(TopicKind, &[(&str, &str)]); 3] = [
        (
            TopicKind::Services,
            &[
                (
                    "\"timestamp\":1700001100000",
                    "\"timestamp\":1700001100000.0",
                ),
                ("\"file_size\":653467234", "\"file_size\":653467234.0"),
                (
                    "\"firmware_upgrade_type\":3",
                    "\"firmware_upgrade_type\":3.0",
                ),
                (
                    "\"firmware_upgrade_type\":2",
                    "\"firmware_upgrade_type\":2.0",
                ),
            ],
        ),
        (
            TopicKind::ServicesReply,
            &[
                (
                    "\"timestamp\":1700001150000",
                    "\"timestamp\":1700001150000.0",
                ),
                ("\"result\":0", "\"result\":0.0"),
            ],
        ),
        (
            TopicKind::EventsReply,
            &[
                (
                    "\"timestamp\":1700000300500",
                    "\"timestamp\":1700000300500.0",
                ),
                ("\"result\":0", "\"result\":-0.0"),
            ],
        ),
    ];
    for (kind, edits) in cases {
        let canonical = String::from_utf8(fixture(kind.suffix(), "canonical")).unwrap();
        let mut python = canonical.clone();
        for (from, to) in edits {
            assert!(python.contains(from), "{kind}: no {from} in {python}");
            python = python.replace(from, to);
        }
        let message = decode(&topic(kind), python.as_bytes())
            .unwrap_or_else(|e| panic!("{kind}: {e} in {python}"));
        assert_eq!(
            message,
            decode(&topic(kind), canonical.as_bytes()).unwrap(),
            "{kind}"
        );
        assert_eq!(canonical_text(&message), canonical, "{kind}");
    }
}

// ---------------------------------------------------------------------------------------
// Numeric steps

/// The canonical event's step, as it is written there.
const CANONICAL_STEP: &str = "\"step_key\":\"download_firmware\"";

/// The canonical event with its step written `"<key>":<raw>`.
fn event_with_step(key: &str, raw: &str) -> String {
    let text = String::from_utf8(fixture("events", "canonical")).unwrap();
    assert_eq!(text.matches(CANONICAL_STEP).count(), 1);
    text.replace(CANONICAL_STEP, &format!("\"{key}\":{raw}"))
}

/// Numeric steps and what they mean: the wire value the step is written as.
const NUMERIC_STEPS: [(&str, &str); 6] = [
    ("1", "download_firmware"),
    ("2", "upgrade_firmware"),
    ("7", "7"),
    ("0", "0"),
    ("3", "3"),
    ("12345", "12345"),
];

#[test]
fn numeric_steps_under_either_key_are_known_or_kept_never_refused() {
    let events = topic(TopicKind::Events);
    for key in ["step_key", "current_step"] {
        for (raw, wire) in NUMERIC_STEPS {
            let context = format!("\"{key}\":{raw}");
            let payload = event_with_step(key, raw);
            let message = decode(&events, payload.as_bytes())
                .unwrap_or_else(|e| panic!("{context} refused: {e}"));
            let step = step_of(&message).unwrap_or_else(|| panic!("{context}: no step"));
            assert_eq!(step.to_string(), wire, "{context}");
            assert_eq!(step, &wire.parse::<Step>().unwrap(), "{context}");
            match raw {
                "1" => assert_eq!(step, &Step::DownloadFirmware),
                "2" => assert_eq!(step, &Step::UpgradeFirmware),
                _ => {
                    assert!(!step.is_known(), "{context}");
                    assert!(
                        matches!(step, Step::Unknown(v) if v.as_str() == raw),
                        "{context}: {step:?}"
                    );
                }
            }

            // Re-encoded as a string under `step_key`, and read back the same.
            let text = canonical_text(&message);
            assert!(
                text.contains(&format!("\"step_key\":\"{wire}\"")),
                "{context}: {text}"
            );
            assert!(!text.contains("current_step"), "{context}: {text}");
            let again = decode(&events, text.as_bytes())
                .unwrap_or_else(|e| panic!("{context}: re-encoded form refused: {e}"));
            assert_eq!(again, message, "{context}");
            assert_eq!(canonical_text(&again), text, "{context}");

            // The same message as the step written as the string it means.
            let as_string = event_with_step("step_key", &format!("\"{wire}\""));
            assert_eq!(
                decode(&events, as_string.as_bytes()).unwrap(),
                message,
                "{context}"
            );
        }
    }
}

#[test]
fn a_numeric_step_one_is_the_canonical_event_and_seven_is_spelled_seven() {
    let canonical = decode_fixture(TopicKind::Events, "canonical");
    let events = topic(TopicKind::Events);
    for key in ["step_key", "current_step"] {
        let one = decode(&events, event_with_step(key, "1").as_bytes()).unwrap();
        assert_eq!(one, canonical, "{key}");
        assert_eq!(
            one.encode().payload,
            fixture("events", "canonical"),
            "{key}: 1 is written \"download_firmware\""
        );

        let seven = decode(&events, event_with_step(key, "7").as_bytes()).unwrap();
        assert_ne!(seven, canonical, "{key}");
        let expected = String::from_utf8(fixture("events", "canonical"))
            .unwrap()
            .replace(CANONICAL_STEP, "\"step_key\":\"7\"");
        assert_eq!(canonical_text(&seven), expected, "{key}");
    }
}

#[test]
fn a_numeric_step_in_a_failed_event_is_not_a_reason_to_refuse_it() {
    // The seed-style fixture: tabs, `"timestamp:"`, status `failed`, a `step_result`.
    let original = decode_fixture(TopicKind::Events, "step_result");
    for (raw, wire) in [("2", "upgrade_firmware"), ("7", "7"), ("99", "99")] {
        let message = decode_edited(
            TopicKind::Events,
            "step_result",
            "data.output.progress.step_key",
            raw,
        )
        .unwrap_or_else(|e| panic!("{raw}: {e}"));
        let event = progress_of(&message);
        assert_eq!(event.output.status, TaskStatus::Failed, "{raw}");
        assert_eq!(event.result, ResultCode(312_016), "{raw}");
        assert_eq!(step_of(&message).unwrap().to_string(), wire, "{raw}");
        if raw == "2" {
            assert_eq!(message, original);
        }
    }
}

#[test]
fn the_java_sdk_order_fixture_is_the_message_it_means() {
    let message = decode_fixture(TopicKind::Events, "java_sdk_order");
    assert_eq!(
        message.tid.to_string(),
        "3c8e1f52-7a4d-4b9e-a1f6-2d5c7b9e0f13"
    );
    assert_eq!(
        message.bid.to_string(),
        "b7d24e91-0c6a-4f38-9e25-81a3c4d6f0b2"
    );
    assert_eq!(message.timestamp, 1_712_134_580_412);
    assert_eq!(message.gateway.as_deref(), Some(GATEWAY));
    assert_eq!(message.need_reply, Some(true));
    let event = progress_of(&message);
    assert_eq!(event.result, ResultCode::SUCCESS);
    assert_eq!(event.output.status, TaskStatus::InProgress);
    let progress = event.output.progress.as_ref().unwrap();
    assert_eq!(progress.percent, 20);
    assert_eq!(progress.step, Some(Step::DownloadFirmware));
    assert_eq!(
        (&event.output.ext, &event.output.sub_status),
        (&None, &None)
    );

    let expected = String::from_utf8(fixture("expected/events", "java_sdk_order")).unwrap();
    assert_eq!(canonical_text(&message), expected);
    assert_eq!(
        decode(&topic(TopicKind::Events), expected.as_bytes()).unwrap(),
        message
    );
    assert!(message.validate().is_ok(), "{:?}", message.validate());
}

#[test]
fn a_step_code_as_an_integral_float_is_the_same_step_and_as_text_is_text() {
    // Python writes floats. Text is the step's wire name, so "1" is an unknown step
    // spelled "1", kept as it came.
    let events = topic(TopicKind::Events);
    let canonical = decode_fixture(TopicKind::Events, "canonical");
    for raw in ["1.0", "1e0"] {
        let message = decode(&events, event_with_step("current_step", raw).as_bytes())
            .unwrap_or_else(|e| panic!("{raw}: {e}"));
        assert_eq!(message, canonical, "{raw}");
    }
    let text = decode(&events, event_with_step("current_step", "\"1\"").as_bytes()).unwrap();
    let step = step_of(&text).unwrap();
    assert!(!step.is_known());
    assert_eq!(step.to_string(), "1");
}

#[test]
fn a_step_code_beyond_64_bits_signed_is_kept_too() {
    let events = topic(TopicKind::Events);
    for raw in ["18446744073709551615", "-9223372036854775808"] {
        let message = decode(&events, event_with_step("current_step", raw).as_bytes())
            .unwrap_or_else(|e| panic!("{raw}: {e}"));
        let step = step_of(&message).unwrap();
        assert!(!step.is_known(), "{raw}");
        assert_eq!(step.to_string(), raw);
    }
    // A fraction is no step code.
    let e = data_error(
        decode(&events, event_with_step("current_step", "1.5").as_bytes()),
        "1.5",
    );
    assert_eq!(e.path, "data.output.progress.current_step");
}
