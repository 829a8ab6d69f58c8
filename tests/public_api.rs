//! The public API as a user of the crate meets it, from outside the crate and through its
//! root re-exports only.
//!
//! Holds the crate to:
//! - serde on its types: a decoded [`Message`] kept inside a user's own struct goes
//!   through `serde_json` and comes back equal, whatever the order of the keys; a
//!   `Message` serializes as its canonical payload plus a `"topic"` key; [`Data`] is
//!   tagged by the snake_case name of its variant;
//! - `Eq`, `Hash` and `Ord` where a user keys collections by them (`HashSet<Message>`,
//!   `BTreeMap<Id, _>`, `BTreeMap<Serial, _>`, `HashMap<Serial, _>` looked up by `&str`,
//!   `BTreeSet<TaskKey>`), and agreeing with equality;
//! - [`Serial`]'s constructors and the characters it refuses;
//! - [`Text`], the crate's own string type;
//! - `Display` printing exactly the wire value and `FromStr` reading it back, for every
//!   enum-like type, with the prose in `description()`;
//! - open enums that a user can match exhaustively and that never refuse a value;
//! - ids equal as UUIDs whatever the case of their hex digits, with `Hash` and `Ord`
//!   agreeing, and each keeping its own spelling when shown or encoded;
//! - no type of another crate (`uuid`, `compact_str`) in what a user has to name: this
//!   file imports neither, and spells out the types of the fields it reads.

mod common;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use common::{GATEWAY, all_ota_fixtures, decode_fixture, fixture, topic};
use dji_cloud_ota::tracker::TaskKey;
use dji_cloud_ota::{
    Data, DataError, DecodeError, Device, Encoded, Id, Message, Method, ResultCode, Serial, Step,
    TaskStatus, Text, TopicKind, UnknownValue, UpgradeType, decode,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A user's own record that holds a message: the message must serialize and deserialize
/// as a field of a derived struct, not only at the top level.
#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Row {
    message: Message,
    note: String,
}

fn hash_of<T: Hash>(value: &T) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// Every fixture of every OTA topic as a [`Row`], noted with where it came from.
fn all_rows() -> Vec<Row> {
    all_ota_fixtures()
        .into_iter()
        .map(|(kind, name, bytes)| Row {
            message: decode(&topic(kind), &bytes).unwrap_or_else(|e| panic!("{kind}/{name}: {e}")),
            note: format!("{kind}/{name}"),
        })
        .collect()
}

/// `value` written as JSON with the keys of every object in reverse alphabetical order.
fn reversed_keys(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .rev()
                .map(|(key, child)| {
                    format!(
                        "{}:{}",
                        serde_json::to_string(key).unwrap(),
                        reversed_keys(child)
                    )
                })
                .collect();
            format!("{{{}}}", entries.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(reversed_keys).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

/// The snake_case name `Data` is tagged with. An exhaustive match: a new variant must be
/// named here.
fn variant_name(data: &Data) -> &'static str {
    match data {
        Data::OtaCreate(_) => "ota_create",
        Data::OtaCreateReply(_) => "ota_create_reply",
        Data::OtaProgress(_) => "ota_progress",
        Data::OtaProgressReply(_) => "ota_progress_reply",
    }
}

// ---------------------------------------------------------------------------------------
// serde

#[test]
fn a_message_inside_a_users_struct_round_trips_through_serde_json() {
    let rows = all_rows();
    let mut kinds = BTreeSet::new();
    for row in &rows {
        let text = serde_json::to_string(row).unwrap_or_else(|e| panic!("{}: {e}", row.note));
        let back: Row =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e} in {text}", row.note));
        assert_eq!(&back, row, "{}", row.note);
        assert_eq!(back.message.encode(), row.message.encode(), "{}", row.note);
        kinds.insert(variant_name(&row.message.data));
    }
    // Every kind of message went through, not only events.
    assert_eq!(kinds.len(), 4, "{kinds:?}");
}

#[test]
fn a_message_serializes_as_its_canonical_payload_plus_its_topic() {
    for row in all_rows() {
        let encoded = row.message.encode();
        let mut value = serde_json::to_value(&row.message).unwrap();
        let object = value
            .as_object_mut()
            .expect("a message serializes as an object");
        assert_eq!(
            object.remove("topic"),
            Some(Value::String(encoded.topic.clone())),
            "{}",
            row.note
        );
        let canonical: Value = serde_json::from_slice(&encoded.payload).unwrap();
        assert_eq!(value, canonical, "{}", row.note);
    }
}

#[test]
fn the_topic_comes_first_then_the_canonical_payload_in_its_order() {
    // The documented example: `{"topic":"thing/product/4TADKAQ000002J/events","tid":...`.
    for row in all_rows() {
        let encoded = row.message.encode();
        let payload = String::from_utf8(encoded.payload).unwrap();
        let expected = format!(
            "{{\"topic\":{},{}",
            serde_json::to_string(&encoded.topic).unwrap(),
            &payload[1..]
        );
        assert_eq!(
            serde_json::to_string(&row.message).unwrap(),
            expected,
            "{}",
            row.note
        );
    }
    let event = serde_json::to_string(&decode_fixture(TopicKind::Events, "canonical")).unwrap();
    let start = format!("{{\"topic\":\"thing/product/{GATEWAY}/events\",\"tid\":");
    assert!(event.starts_with(&start), "{event}");
}

#[test]
fn a_message_deserializes_whatever_the_order_of_its_keys() {
    for row in all_rows() {
        let stored = serde_json::to_string(&row).unwrap();
        // serde_json's map is sorted: `data` now comes before `topic`, `bid` before `tid`.
        let value: Value = serde_json::from_str(&stored).unwrap();
        let sorted = value.to_string();
        let at = |key: &str| sorted.find(&format!("\"{key}\":")).unwrap();
        assert!(
            at("data") < at("topic") && at("bid") < at("tid"),
            "{sorted}"
        );
        let back: Row = serde_json::from_str(&sorted)
            .unwrap_or_else(|e| panic!("{}: {e} in {sorted}", row.note));
        assert_eq!(back, row, "{}: sorted keys", row.note);

        // And backwards: `topic` first, `bid` last, every nested object reversed too.
        let reversed = reversed_keys(&value);
        assert!(reversed.contains("{\"topic\":"), "{reversed}");
        let back: Row = serde_json::from_str(&reversed)
            .unwrap_or_else(|e| panic!("{}: {e} in {reversed}", row.note));
        assert_eq!(back, row, "{}: reversed keys", row.note);
    }
}

#[test]
fn a_message_deserializes_from_a_json_value_too() {
    // Deserialize is not tied to serde_json's text reader: a `Value` works as well.
    for row in all_rows() {
        let value = serde_json::to_value(&row).unwrap();
        let back: Row =
            serde_json::from_value(value).unwrap_or_else(|e| panic!("{}: {e}", row.note));
        assert_eq!(back, row, "{}", row.note);
    }
}

#[test]
fn a_message_from_java_order_json_with_the_topic_last_deserializes() {
    let text = format!(
        concat!(
            r#"{{"tid":"3c8e1f52-7a4d-4b9e-a1f6-2d5c7b9e0f13","bid":"b7d24e91-0c6a-4f38-9e25-81a3c4d6f0b2","#,
            r#""timestamp":1712134580412,"data":{{"result":0,"output":{{"status":"in_progress","#,
            r#""progress":{{"percent":20,"step_key":"download_firmware"}}}}}},"method":"ota_progress","#,
            r#""gateway":"{gw}","need_reply":1,"topic":"thing/product/{gw}/events"}}"#
        ),
        gw = GATEWAY
    );
    let message: Message = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(message, decode_fixture(TopicKind::Events, "java_sdk_order"));
    assert_eq!(message.sn.as_str(), GATEWAY);
}

#[test]
fn data_is_tagged_by_the_snake_case_name_of_its_variant() {
    for row in all_rows() {
        let canonical: Value = serde_json::from_slice(&row.message.encode().payload).unwrap();
        let name = variant_name(&row.message.data);
        let value = serde_json::to_value(&row.message.data).unwrap();
        let mut expected = serde_json::Map::new();
        expected.insert(name.to_owned(), canonical["data"].clone());
        assert_eq!(value, Value::Object(expected), "{}", row.note);

        let text = serde_json::to_string(&row.message.data).unwrap();
        assert!(text.starts_with(&format!("{{\"{name}\":{{")), "{text}");
        let back: Data = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(back, row.message.data, "{}", row.note);
    }
}

#[test]
fn the_small_types_serialize_as_json_scalars_and_come_back() {
    fn round_trip<T>(value: T, json: &str)
    where
        T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
    {
        assert_eq!(serde_json::to_string(&value).unwrap(), json, "{value:?}");
        let back: T = serde_json::from_str(json).unwrap();
        assert_eq!(back, value, "{json}");
    }
    round_trip(ResultCode(312_015), "312015");
    round_trip(ResultCode(0), "0");
    round_trip(UpgradeType(3), "3");
    round_trip(TaskStatus::InProgress, "\"in_progress\"");
    round_trip("queued".parse::<TaskStatus>().unwrap(), "\"queued\"");
    round_trip(Step::UpgradeFirmware, "\"upgrade_firmware\"");
    round_trip(Text::from("DOWNLOAD_FAILED"), "\"DOWNLOAD_FAILED\"");
    round_trip(Serial::new(GATEWAY).unwrap(), &format!("\"{GATEWAY}\""));
    round_trip(
        Id::from_text("8F4C5A6E-2F1B-4C1A-9C1E-3F2D1A0B9C8D"),
        "\"8F4C5A6E-2F1B-4C1A-9C1E-3F2D1A0B9C8D\"",
    );
    round_trip(
        Id::from_text("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxx"),
        "\"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxx\"",
    );

    // The payload and device types too.
    let create = decode_fixture(TopicKind::Services, "canonical");
    let Data::OtaCreate(request) = &create.data else {
        panic!("{:?}", create.data)
    };
    for device in &request.devices {
        let text = serde_json::to_string(device).unwrap();
        let back: Device = serde_json::from_str(&text).unwrap();
        assert_eq!(&back, device, "{text}");
    }
}

#[test]
fn a_serial_read_by_serde_is_checked_like_any_other() {
    for bad in [
        "\"\"",
        "\"4TAD/KAQ\"",
        "\"4TAD+\"",
        "\"#\"",
        "\"4TAD\\u0000KAQ\"",
    ] {
        assert!(serde_json::from_str::<Serial>(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_task_key_is_ordered_and_serde() {
    let lower = "c9d0e1f2-a3b4-4c5d-8e6f-8a9b0c1d2e3f";
    let key = |gateway: &str, bid: &str| TaskKey {
        gateway: Serial::new(gateway).unwrap(),
        bid: Id::from_text(bid),
    };
    let mut keys = BTreeSet::new();
    keys.insert(key(GATEWAY, lower));
    keys.insert(key(GATEWAY, lower.to_uppercase().as_str()));
    keys.insert(key("1581F5BMD22330010X0V", lower));
    keys.insert(key(GATEWAY, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxx"));
    // The upper-case bid is the same task as the lower-case one.
    assert_eq!(keys.len(), 3, "{keys:?}");
    let sorted: Vec<_> = keys.iter().cloned().collect();
    assert!(sorted.windows(2).all(|w| w[0] < w[1]), "{sorted:?}");

    for task in &keys {
        let text = serde_json::to_string(task).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["gateway"], task.gateway.as_str(), "{text}");
        assert_eq!(value["bid"], task.bid.to_string(), "{text}");
        let back: TaskKey = serde_json::from_str(&text).unwrap();
        assert_eq!(&back, task);
    }

    // The key of a decoded request is the one a user would build by hand.
    let request = decode_fixture(TopicKind::Services, "canonical");
    assert!(keys.contains(&TaskKey {
        gateway: request.sn.clone(),
        bid: request.bid.clone(),
    }));
}

// ---------------------------------------------------------------------------------------
// Eq, Hash, Ord

#[test]
fn messages_are_eq_and_hash_and_a_hash_set_holds_them() {
    let rows = all_rows();
    let set: HashSet<Message> = rows.iter().map(|row| row.message.clone()).collect();
    // Several tolerant fixtures mean the same message (`every_quirk` is `canonical`
    // written every odd way): the set holds one per canonical encoding.
    let distinct: HashSet<(String, Vec<u8>)> = rows
        .iter()
        .map(|row| {
            let Encoded { topic, payload } = row.message.encode();
            (topic, payload)
        })
        .collect();
    assert_eq!(set.len(), distinct.len());
    assert!(
        set.len() < rows.len(),
        "expected some fixtures to mean the same message"
    );
    for row in &rows {
        let encoded = row.message.encode();
        let again = decode(&encoded.topic, &encoded.payload).unwrap();
        assert!(set.contains(&again), "{}", row.note);
        assert_eq!(hash_of(&again), hash_of(&row.message), "{}", row.note);
        assert_eq!(
            hash_of(&again.data),
            hash_of(&row.message.data),
            "{}",
            row.note
        );
    }
    // Equal data, different envelope: different messages.
    let event = decode_fixture(TopicKind::Events, "canonical");
    let mut later = event.clone();
    later.timestamp += 1;
    assert_ne!(event, later);
    assert_eq!(event.data, later.data);
    let pair: HashSet<Message> = [event, later].into_iter().collect();
    assert_eq!(pair.len(), 2);
}

#[test]
fn ids_and_serials_key_ordered_and_hashed_maps() {
    let event = decode_fixture(TopicKind::Events, "canonical");
    let create = decode_fixture(TopicKind::Services, "canonical");

    let mut by_bid: BTreeMap<Id, &str> = BTreeMap::new();
    by_bid.insert(event.bid.clone(), "event");
    by_bid.insert(create.bid.clone(), "create");
    by_bid.insert(
        Id::from_text("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxx"),
        "placeholder",
    );
    assert_eq!(by_bid.len(), 3);
    assert_eq!(by_bid.get(&event.bid), Some(&"event"));
    assert_eq!(
        by_bid.get(&Id::from_text("c9d0e1f2-a3b4-4c5d-8e6f-8a9b0c1d2e3f")),
        Some(&"create")
    );
    let ids: Vec<&Id> = by_bid.keys().collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    let mut tasks_by_gateway: BTreeMap<Serial, Vec<Id>> = BTreeMap::new();
    let mut hashed: HashMap<Serial, usize> = HashMap::new();
    for serial in [GATEWAY, "1581F5BMD22330010X0V", "0000000000000A", GATEWAY] {
        let serial = Serial::new(serial).unwrap();
        tasks_by_gateway
            .entry(serial.clone())
            .or_default()
            .push(Id::new_v4());
        *hashed.entry(serial).or_default() += 1;
    }
    // Looked up by `&str`: `Serial: Borrow<str>`, with Ord and Hash agreeing with str's.
    assert_eq!(tasks_by_gateway.get(GATEWAY).map(Vec::len), Some(2));
    assert_eq!(
        tasks_by_gateway.get("1581F5BMD22330010X0V").map(Vec::len),
        Some(1)
    );
    assert_eq!(tasks_by_gateway.get("4TADKAQ000002K"), None);
    assert_eq!(hashed.get("4TADKAQ000002J"), Some(&2));
    assert_eq!(hashed.get(event.sn.as_str()), Some(&2));
    assert_eq!(
        hashed.get("4tadkaq000002j"),
        None,
        "serials are case-sensitive"
    );
    let order: Vec<&str> = tasks_by_gateway.keys().map(Serial::as_str).collect();
    assert_eq!(order, ["0000000000000A", "1581F5BMD22330010X0V", GATEWAY]);
}

// ---------------------------------------------------------------------------------------
// Serial

#[test]
fn a_serial_is_made_from_text_five_ways_and_refuses_topic_characters() {
    let made: [Serial; 5] = [
        Serial::new(GATEWAY).unwrap(),
        GATEWAY.parse().unwrap(),
        Serial::try_from(GATEWAY).unwrap(),
        Serial::try_from(String::from(GATEWAY)).unwrap(),
        serde_json::from_str(&format!("\"{GATEWAY}\"")).unwrap(),
    ];
    for serial in &made {
        assert_eq!(serial.as_str(), GATEWAY);
        assert_eq!(serial, &made[0]);
    }
    assert_eq!(decode_fixture(TopicKind::Events, "canonical").sn, made[0]);

    for bad in ["", "4TAD/KAQ", "+", "4TADKAQ#", "4TAD\0KAQ", "/", "#"] {
        assert!(Serial::new(bad).is_err(), "{bad:?}");
        assert!(bad.parse::<Serial>().is_err(), "{bad:?}");
        assert!(Serial::try_from(bad).is_err(), "{bad:?}");
        assert!(Serial::try_from(String::from(bad)).is_err(), "{bad:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Text

#[test]
fn text_is_a_string_of_the_crates_own() {
    let borrowed = Text::from("DOWNLOAD_FAILED");
    let owned = Text::from(String::from("DOWNLOAD_FAILED"));
    assert_eq!(borrowed, owned);
    assert_eq!(hash_of(&borrowed), hash_of(&owned));
    assert_eq!(borrowed.as_str(), "DOWNLOAD_FAILED");
    // Deref to str: str's methods and `&*`.
    assert_eq!(&*borrowed, "DOWNLOAD_FAILED");
    assert_eq!(borrowed.len(), 15);
    assert!(borrowed.starts_with("DOWNLOAD"));
    assert_eq!(borrowed.to_string(), "DOWNLOAD_FAILED");
    assert_eq!(format!("[{borrowed}]"), "[DOWNLOAD_FAILED]");

    // Ord as str's.
    let words = ["b", "a", "DOWNLOAD_FAILED", "", "ä", "a"];
    let texts: BTreeSet<Text> = words.iter().map(|w| Text::from(*w)).collect();
    let mut sorted: Vec<&str> = words.to_vec();
    sorted.sort();
    sorted.dedup();
    assert_eq!(texts.iter().map(Text::as_str).collect::<Vec<_>>(), sorted);
    let hashed: HashSet<Text> = words.iter().map(|w| Text::from(*w)).collect();
    assert_eq!(hashed.len(), sorted.len());

    // Short or as long as the protocol allows (10240 characters for a URL), kept whole.
    let long = "é".repeat(10_240);
    let text = Text::from(long.clone());
    assert_eq!(text.as_str(), long);
    assert_eq!(
        serde_json::from_str::<Text>(&serde_json::to_string(&text).unwrap()).unwrap(),
        text
    );
    assert!(
        serde_json::from_str::<Text>("42").is_err(),
        "a JSON string only"
    );

    // The envelope's gateway is one.
    let event = decode_fixture(TopicKind::Events, "canonical");
    let gateway: Option<&Text> = event.gateway.as_ref();
    assert_eq!(gateway.map(Text::as_str), Some(GATEWAY));
    assert_eq!(event.gateway.as_deref(), Some(GATEWAY));
}

// ---------------------------------------------------------------------------------------
// Display and FromStr

#[test]
fn methods_and_topic_kinds_print_and_parse_their_wire_names() {
    for (method, wire) in [
        (Method::OtaCreate, "ota_create"),
        (Method::OtaProgress, "ota_progress"),
    ] {
        assert_eq!(method.to_string(), wire);
        assert_eq!(wire.parse::<Method>().ok(), Some(method));
    }
    for other in [
        "hms",
        "",
        "OTA_CREATE",
        "ota_create_reply",
        "flighttask_progress",
    ] {
        assert!(other.parse::<Method>().is_err(), "{other:?}");
    }

    let wires = ["services", "services_reply", "events", "events_reply"];
    assert_eq!(
        TopicKind::ALL.map(|k| k.to_string()),
        wires.map(String::from)
    );
    for kind in TopicKind::ALL {
        assert_eq!(kind.to_string().parse::<TopicKind>().ok(), Some(kind));
    }
    assert_eq!(TopicKind::EventsReply.to_string(), "events_reply");
    assert_eq!(
        "services_reply".parse::<TopicKind>().ok(),
        Some(TopicKind::ServicesReply)
    );
    for other in [
        "osd",
        "state",
        "",
        "Events",
        "thing/product/4TADKAQ000002J/events",
    ] {
        assert!(other.parse::<TopicKind>().is_err(), "{other:?}");
    }
}

#[test]
fn result_codes_and_upgrade_types_print_the_bare_number() {
    assert_eq!(ResultCode(312_015).to_string(), "312015");
    assert_eq!(ResultCode(0).to_string(), "0");
    assert_eq!(ResultCode(-1).to_string(), "-1");
    assert_eq!(ResultCode(312_015).description(), Some("the dock is busy"));
    assert_eq!(ResultCode(312_999).description(), None);
    for code in [0, 312_001, 312_015, 312_704, 314_000, 612_015, 999] {
        let rc = ResultCode(code);
        assert_eq!(rc.to_string().parse::<ResultCode>().ok(), Some(rc));
    }
    assert_eq!(
        "312015".parse::<ResultCode>().ok(),
        Some(ResultCode(312_015))
    );
    for bad in ["", "busy", "312015 (the dock is busy)", "3.5"] {
        assert!(bad.parse::<ResultCode>().is_err(), "{bad:?}");
    }

    assert_eq!(UpgradeType(3).to_string(), "3");
    assert_eq!(UpgradeType(2).to_string(), "2");
    assert_eq!(UpgradeType(5).to_string(), "5");
    assert_eq!(UpgradeType(3).description(), Some("normal upgrade"));
    assert!(UpgradeType(2).description().is_some());
    assert!(UpgradeType(4).description().is_some());
    assert_eq!(UpgradeType(5).description(), None);
    for value in [2, 3, 4, 5] {
        assert_eq!(
            value.to_string().parse::<UpgradeType>().ok(),
            Some(UpgradeType(value))
        );
    }
    assert_eq!("3".parse::<UpgradeType>().ok(), Some(UpgradeType(3)));
    for bad in ["", "normal", "3 (normal upgrade)"] {
        assert!(bad.parse::<UpgradeType>().is_err(), "{bad:?}");
    }
}

/// Every `TaskStatus`, named without a wildcard: this compiles only if the enum is not
/// `#[non_exhaustive]` and has exactly these variants.
fn status_wire(status: &TaskStatus) -> String {
    match status {
        TaskStatus::Sent => "sent".into(),
        TaskStatus::InProgress => "in_progress".into(),
        TaskStatus::Ok => "ok".into(),
        TaskStatus::Paused => "paused".into(),
        TaskStatus::Rejected => "rejected".into(),
        TaskStatus::Failed => "failed".into(),
        TaskStatus::Canceled => "canceled".into(),
        TaskStatus::Timeout => "timeout".into(),
        TaskStatus::PartiallyDone => "partially_done".into(),
        TaskStatus::Unknown(value) => unknown_text(value).to_owned(),
    }
}

/// Every `Step`, named without a wildcard.
fn step_wire(step: &Step) -> String {
    match step {
        Step::DownloadFirmware => "download_firmware".into(),
        Step::UpgradeFirmware => "upgrade_firmware".into(),
        Step::Unknown(value) => unknown_text(value).to_owned(),
    }
}

/// `UnknownValue` is named at the crate root.
fn unknown_text(value: &UnknownValue) -> &str {
    value.as_str()
}

#[test]
fn open_enums_match_exhaustively_print_their_wire_value_and_never_refuse_one() {
    let statuses = [
        TaskStatus::Sent,
        TaskStatus::InProgress,
        TaskStatus::Ok,
        TaskStatus::Paused,
        TaskStatus::Rejected,
        TaskStatus::Failed,
        TaskStatus::Canceled,
        TaskStatus::Timeout,
        TaskStatus::PartiallyDone,
    ];
    for status in &statuses {
        let wire = status_wire(status);
        assert_eq!(status.to_string(), wire);
        assert_eq!(&wire.parse::<TaskStatus>().unwrap(), status);
        assert!(status.is_known());
        assert!(status.description().is_some(), "{wire}");
    }
    assert_eq!("ok".parse::<TaskStatus>().unwrap(), TaskStatus::Ok);

    let queued = "queued".parse::<TaskStatus>().unwrap();
    assert!(matches!(&queued, TaskStatus::Unknown(v) if v.as_str() == "queued"));
    assert!(!queued.is_known());
    assert_eq!(queued.to_string(), "queued");
    assert_eq!(status_wire(&queued), "queued");
    assert_eq!(queued.description(), None);
    // Case matters: `OK` is not `ok`.
    assert!(!"OK".parse::<TaskStatus>().unwrap().is_known());
    assert!(!"".parse::<TaskStatus>().unwrap().is_known());

    for step in [Step::DownloadFirmware, Step::UpgradeFirmware] {
        let wire = step_wire(&step);
        assert_eq!(step.to_string(), wire);
        assert_eq!(wire.parse::<Step>().unwrap(), step);
        assert!(step.is_known());
    }
    let verify = "verify_firmware".parse::<Step>().unwrap();
    assert!(matches!(&verify, Step::Unknown(v) if v.as_str() == "verify_firmware"));
    assert!(!verify.is_known());
    assert_eq!(verify.to_string(), "verify_firmware");
    assert_eq!(step_wire(&verify), "verify_firmware");
}

// ---------------------------------------------------------------------------------------
// Id

const LOWER: &str = "8f4c5a6e-2f1b-4c1a-9c1e-3f2d1a0b9c8d";
const UPPER: &str = "8F4C5A6E-2F1B-4C1A-9C1E-3F2D1A0B9C8D";
const MIXED: &str = "8f4C5a6E-2f1B-4c1A-9C1e-3f2D1a0B9c8D";
const AS_U128: u128 = 0x8f4c5a6e_2f1b_4c1a_9c1e_3f2d1a0b9c8d;

#[test]
fn uuid_ids_are_equal_whatever_the_case_and_keep_their_spelling() {
    let ids = [LOWER, UPPER, MIXED].map(Id::from_text);
    for (id, spelling) in ids.iter().zip([LOWER, UPPER, MIXED]) {
        assert!(id.is_uuid(), "{spelling}");
        assert_eq!(id.uuid(), Some(AS_U128), "{spelling}");
        assert_eq!(id.to_string(), spelling);
        assert_eq!(spelling.parse::<Id>().unwrap().to_string(), spelling);
        assert_eq!(id, &ids[0], "{spelling}");
        assert_eq!(id.cmp(&ids[0]), Ordering::Equal, "{spelling}");
        assert_eq!(hash_of(id), hash_of(&ids[0]), "{spelling}");
        assert_eq!(id, &Id::from_u128(AS_U128), "{spelling}");
    }
    let set: HashSet<Id> = ids.iter().cloned().collect();
    assert_eq!(set.len(), 1);
    assert!(set.contains(&Id::from_text(UPPER)) && set.contains(&Id::from_text(LOWER)));
    let mut map: BTreeMap<Id, u32> = BTreeMap::new();
    *map.entry(Id::from_text(LOWER)).or_default() += 1;
    *map.entry(Id::from_text(UPPER)).or_default() += 1;
    assert_eq!(map.len(), 1);
    assert_eq!(map.get(&Id::from_text(MIXED)), Some(&2));

    // A different UUID is a different id.
    let other = Id::from_text("8f4c5a6e-2f1b-4c1a-9c1e-3f2d1a0b9c8e");
    assert_ne!(other, ids[0]);
    assert_ne!(other.cmp(&ids[0]), Ordering::Equal);
}

#[test]
fn text_ids_compare_as_text() {
    let pairs = [
        (
            "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxx",
            "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXX",
        ),
        ("task-a", "TASK-A"),
        // Not hex: not a UUID, so the case counts.
        (
            "8f4c5a6e-2f1b-4c1a-9c1e-3f2d1a0b9c8g",
            "8F4C5A6E-2F1B-4C1A-9C1E-3F2D1A0B9C8G",
        ),
    ];
    for (a, b) in pairs {
        let (ia, ib) = (Id::from_text(a), Id::from_text(b));
        assert!(!ia.is_uuid() && !ib.is_uuid(), "{a}");
        assert_eq!((ia.uuid(), ib.uuid()), (None, None), "{a}");
        assert_ne!(ia, ib, "{a} and {b}");
        assert_ne!(ia.cmp(&ib), Ordering::Equal, "{a} and {b}");
        assert_eq!(ia, Id::from_text(a));
        assert_eq!(hash_of(&ia), hash_of(&Id::from_text(a)));
        assert_eq!(ia.to_string(), a);
        let set: HashSet<Id> = [ia, ib].into_iter().collect();
        assert_eq!(set.len(), 2);
    }
    // A text id equal in text to no UUID spelling is never equal to a UUID id.
    assert_ne!(Id::from_text("task-a"), Id::from_u128(AS_U128));
}

#[test]
fn ids_are_made_fresh_from_numbers_or_from_any_text() {
    let a = Id::new_v4();
    let b = Id::new_v4();
    assert_ne!(a, b);
    for id in [&a, &b] {
        assert!(id.is_uuid());
        let value = id.uuid().unwrap();
        assert_eq!((value >> 76) & 0xF, 4, "version 4: {id}");
        assert_eq!((value >> 62) & 0b11, 0b10, "RFC 4122 variant: {id}");
        assert_eq!(Id::from_u128(value), *id);
        let text = id.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(text.parse::<Id>().unwrap(), *id);
    }
    let from_number = Id::from_u128(AS_U128);
    assert!(from_number.is_uuid());
    assert_eq!(from_number.uuid(), Some(AS_U128));
    assert_eq!(from_number.to_string(), LOWER);
    assert_eq!(
        Id::from_u128(0).to_string(),
        "00000000-0000-0000-0000-000000000000"
    );

    // FromStr never refuses.
    for text in [
        "",
        "not an id",
        "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxx",
        LOWER,
        "{}",
    ] {
        let id: Id = text.parse().unwrap();
        assert_eq!(id.to_string(), text);
        assert_eq!(id, Id::from_text(text));
    }
}

#[test]
fn an_upper_case_tid_is_the_same_message_and_is_answered_in_its_own_spelling() {
    let lower_tid = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d";
    let upper_tid = lower_tid.to_uppercase();
    let lower_text = String::from_utf8(fixture("events", "canonical")).unwrap();
    assert!(lower_text.contains(lower_tid));
    let upper_text = lower_text.replace(lower_tid, &upper_tid);

    let events = topic(TopicKind::Events);
    let lower = decode(&events, lower_text.as_bytes()).unwrap();
    let upper = decode(&events, upper_text.as_bytes()).unwrap();
    assert_eq!(lower, upper);
    assert_eq!(hash_of(&lower), hash_of(&upper));
    let set: HashSet<Message> = [lower.clone(), upper.clone()].into_iter().collect();
    assert_eq!(set.len(), 1);

    // Each keeps its spelling: shown, encoded, serialized, and in the reply.
    assert_eq!(upper.tid.to_string(), upper_tid);
    assert_eq!(lower.tid.to_string(), lower_tid);
    assert_eq!(
        String::from_utf8(upper.encode().payload).unwrap(),
        upper_text
    );
    let serialized = serde_json::to_string(&upper).unwrap();
    assert!(serialized.contains(&upper_tid) && !serialized.contains(lower_tid));
    let back: Message = serde_json::from_str(&serialized).unwrap();
    assert_eq!(back.tid.to_string(), upper_tid);

    let reply = upper
        .reply_to_event(ResultCode::SUCCESS)
        .expect("the event asks for a reply");
    assert_eq!(reply.tid.to_string(), upper_tid);
    let reply_text = String::from_utf8(reply.encode().payload).unwrap();
    assert!(
        reply_text.contains(&format!("\"tid\":\"{upper_tid}\"")),
        "{reply_text}"
    );
    assert!(!reply_text.contains(lower_tid), "{reply_text}");
    // And the reply to the lower-case event is equal, but spelled its own way.
    let lower_reply = lower.reply_to_event(ResultCode::SUCCESS).unwrap();
    assert_eq!(lower_reply.tid, reply.tid);
    assert!(
        String::from_utf8(lower_reply.encode().payload)
            .unwrap()
            .contains(lower_tid)
    );

    // An upper-case bid in a request: the reply to it carries it upper-case too.
    let lower_bid = "c9d0e1f2-a3b4-4c5d-8e6f-8a9b0c1d2e3f";
    let create_text = String::from_utf8(fixture("services", "canonical"))
        .unwrap()
        .replace(lower_bid, &lower_bid.to_uppercase());
    let create = decode(&topic(TopicKind::Services), create_text.as_bytes()).unwrap();
    let reply = create
        .reply_to_create(ResultCode::SUCCESS, Some(TaskStatus::InProgress))
        .unwrap();
    assert_eq!(reply.bid.to_string(), lower_bid.to_uppercase());
    let reply_text = String::from_utf8(reply.encode().payload).unwrap();
    assert!(
        reply_text.contains(&lower_bid.to_uppercase()),
        "{reply_text}"
    );
}

// ---------------------------------------------------------------------------------------
// Only std, serde and the crate's own types in what a user names

/// Compiles only while every type named here is the crate's own, std's or serde_json's:
/// nothing from `uuid` or `compact_str` has to be imported to read a message.
#[allow(dead_code)]
fn only_own_and_std_types(message: &Message, device: &Device, error: &DataError) {
    let _: &Serial = &message.sn;
    let _: (&Id, &Id) = (&message.tid, &message.bid);
    let _: u64 = message.timestamp;
    let _: Option<&Text> = message.gateway.as_ref();
    let _: Option<bool> = message.need_reply;
    let _: Option<u128> = message.tid.uuid();
    let _: bool = message.bid.is_uuid();
    let _: Id = Id::from_u128(0);
    let _: &Text = &device.sn;
    let _: &Text = &device.product_version;
    let _: Option<&Text> = device.file_url.as_ref();
    let _: Option<&Text> = device.md5.as_ref();
    let _: Option<u64> = device.file_size;
    let _: Option<&Text> = device.file_name.as_ref();
    let _: UpgradeType = device.firmware_upgrade_type;
    if let Data::OtaProgress(event) = &message.data {
        let _: ResultCode = event.result;
        let _: &TaskStatus = &event.output.status;
        let _: Option<&Text> = event.output.sub_status.as_ref();
    }
    let _: (&String, &String) = (&error.path, &error.message);
    let Encoded { topic, payload }: Encoded = message.encode();
    let _: (String, Vec<u8>) = (topic, payload);
    let _: fn(&str, &[u8]) -> Result<Message, DecodeError> = decode;
    let _: Result<Serial, _> = Serial::try_from(String::new());
}

#[test]
fn decoded_fixtures_validate_through_the_public_api() {
    assert!(
        decode_fixture(TopicKind::Events, "canonical")
            .validate()
            .is_ok()
    );
    assert!(
        decode_fixture(TopicKind::Services, "canonical")
            .validate()
            .is_ok()
    );
    // The seed's placeholder ids are not UUIDs: decoded, but refused by validation.
    assert!(
        decode_fixture(TopicKind::Events, "seed_ota_progress")
            .validate()
            .is_err()
    );
}

#[test]
fn a_stored_message_with_a_key_twice_is_refused_as_decode_refuses_it() {
    let message = decode_fixture(TopicKind::Events, "canonical");
    let stored = serde_json::to_string(&message).unwrap();
    let twice = stored.replacen("{\"topic\"", "{\"tid\":\"x\",\"topic\"", 1);
    let error = serde_json::from_str::<Message>(&twice).unwrap_err();
    assert!(
        error.to_string().contains("duplicate field `tid`"),
        "{error}"
    );
    assert!(serde_json::from_str::<Message>("[1,2]").is_err());
    let without_topic = stored.replacen("\"topic\"", "\"topix\"", 1);
    let error = serde_json::from_str::<Message>(&without_topic).unwrap_err();
    assert!(
        error.to_string().contains("missing field `topic`"),
        "{error}"
    );
}

#[test]
fn data_alone_is_read_from_objects_only() {
    let tagged = r#"{"ota_progress":[0,{"status":"ok"}]}"#;
    assert!(serde_json::from_str::<Data>(tagged).is_err());
    let tagged = r#"{"ota_progress":{"result":0,"output":{"status":"ok"}}}"#;
    assert!(serde_json::from_str::<Data>(tagged).is_ok());
}

#[test]
fn topic_kinds_are_their_last_level_in_serde() {
    for kind in TopicKind::ALL {
        let text = serde_json::to_string(&kind).unwrap();
        assert_eq!(text, format!("\"{kind}\""));
        assert_eq!(serde_json::from_str::<TopicKind>(&text).unwrap(), kind);
    }
    assert!(serde_json::from_str::<TopicKind>("\"osd\"").is_err());
}
