//! Dispatch: a message that is not OTA is told apart and never mistaken for one; an OTA
//! method on the wrong topic is an error.

mod common;

use common::{GATEWAY, fixture, topic};
use dji_cloud_ota::{DecodeError, Method, TopicError, TopicKind, decode};

fn not_ota(topic: &str, payload: &[u8]) -> Option<String> {
    match decode(topic, payload) {
        Err(DecodeError::NotOta { method }) => method.map(|m| m.to_string()),
        other => panic!("{topic}: expected NotOta, got {other:?}"),
    }
}

#[test]
fn other_events_on_the_events_topic_are_not_ota() {
    let hms = fixture("not_ota", "events_hms");
    assert_eq!(
        not_ota(&topic(TopicKind::Events), &hms).as_deref(),
        Some("hms")
    );
    let err = decode(&topic(TopicKind::Events), &hms).unwrap_err();
    assert!(err.is_not_ota() && !err.is_data() && !err.is_syntax());
}

#[test]
fn a_method_less_event_of_another_shape_is_not_taken_for_ota() {
    let payload = fixture("not_ota", "events_hms_no_method");
    assert_eq!(not_ota(&topic(TopicKind::Events), &payload), None);
}

#[test]
fn a_method_less_event_of_the_same_shape_is_taken_for_ota() {
    // A flighttask_progress has `result`, `output.status` and `output.progress` with a
    // numeric `current_step`, which is also how DJI's Java SDK writes an ota_progress
    // step: without its `method`, nothing tells the two apart, and it reads as an
    // ota_progress with an unknown step (README, "How a message is told apart"). Docks
    // write the method; the English documentation's OTA examples leave it out.
    let payload = fixture("not_ota", "events_flighttask_progress_no_method");
    let message = decode(&topic(TopicKind::Events), &payload).unwrap();
    assert_eq!(message.method(), Method::OtaProgress);
    let with_method =
        String::from_utf8(payload)
            .unwrap()
            .replacen('{', r#"{"method":"flighttask_progress","#, 1);
    assert_eq!(
        not_ota(&topic(TopicKind::Events), with_method.as_bytes()).as_deref(),
        Some("flighttask_progress")
    );
}

#[test]
fn a_message_is_refused_as_soon_as_its_method_names_another() {
    // What follows the method is not read, as the payload of a topic that is not OTA's
    // is not: a server drops the message whatever it holds, and the commonest messages
    // on `events` cost it a few keys instead of a payload.
    let events = topic(TopicKind::Events);
    let cut = br#"{"tid":"t","bid":"b","timestamp":1,"method":"hms","data":{"list":[{"lev"#;
    assert_eq!(not_ota(&events, cut).as_deref(), Some("hms"));
    let garbage = br#"{"method":"hms", this is not JSON"#;
    assert_eq!(not_ota(&events, garbage).as_deref(), Some("hms"));
    // An OTA method on the wrong topic, likewise.
    let wrong = br#"{"method":"ota_create","data":[not JSON"#;
    assert!(matches!(
        decode(&events, wrong),
        Err(DecodeError::WrongTopic {
            method: Method::OtaCreate,
            topic: TopicKind::Events
        })
    ));
    // The message's own method goes on reading, and the same garbage is an error.
    let own = br#"{"method":"ota_progress","data":{"list":[{"lev"#;
    assert!(decode(&events, own).unwrap_err().is_syntax());
    // A method after `data` is read once `data` is: the message is still refused.
    let after = br#"{"tid":"t","bid":"b","timestamp":1,"data":{"list":[]},"method":"hms"}"#;
    assert_eq!(not_ota(&events, after).as_deref(), Some("hms"));
}

#[test]
fn other_services_are_not_ota() {
    let payload = fixture("not_ota", "services_flighttask_prepare");
    assert_eq!(
        not_ota(&topic(TopicKind::Services), &payload).as_deref(),
        Some("flighttask_prepare")
    );
}

#[test]
fn other_topics_are_not_ota_whatever_their_payload() {
    let osd = fixture("not_ota", "osd");
    assert_eq!(not_ota(&format!("thing/product/{GATEWAY}/osd"), &osd), None);
    // The payload of a non-OTA topic is not read at all: even garbage is just "not OTA".
    assert_eq!(
        not_ota(&format!("thing/product/{GATEWAY}/state"), b"\xff{"),
        None
    );
    assert_eq!(not_ota(&format!("sys/product/{GATEWAY}/status"), b""), None);
    // An OTA payload on a non-OTA topic is not OTA either: the topic decides first.
    let ota = fixture("events", "canonical");
    assert_eq!(
        not_ota(&format!("thing/product/{GATEWAY}/requests"), &ota),
        None
    );
}

#[test]
fn a_non_ota_method_is_recognised_without_reading_its_data() {
    // `data` here would not decode as any OTA payload (and is deep), yet the answer is
    // NotOta, not a data error.
    let payload = br#"{"tid":"t","bid":"b","timestamp":1,"method":"fileupload_progress","data":{"a":[[[[["x"]]]]],"result":"not a number"}}"#;
    assert_eq!(
        not_ota(&topic(TopicKind::Events), payload).as_deref(),
        Some("fileupload_progress")
    );
}

#[test]
fn an_ota_method_on_the_wrong_topic_is_an_error() {
    let event = fixture("events", "canonical");
    for kind in [TopicKind::Services, TopicKind::ServicesReply] {
        assert_eq!(
            decode(&topic(kind), &event).unwrap_err(),
            DecodeError::WrongTopic {
                method: Method::OtaProgress,
                topic: kind
            }
        );
    }
    let create = fixture("services", "canonical");
    for kind in [TopicKind::Events, TopicKind::EventsReply] {
        let err = decode(&topic(kind), &create).unwrap_err();
        assert_eq!(
            err,
            DecodeError::WrongTopic {
                method: Method::OtaCreate,
                topic: kind
            }
        );
        assert!(err.to_string().contains("ota_create"), "{err}");
    }
}

#[test]
fn topics_outside_the_api_and_unsafe_serials_are_topic_errors() {
    let event = fixture("events", "canonical");
    assert_eq!(
        decode("devices/4TADKAQ000002J/events", &event),
        Err(DecodeError::Topic(TopicError::Unrecognised))
    );
    assert_eq!(
        decode("thing/product//events", &event),
        Err(DecodeError::Topic(TopicError::EmptySerial))
    );
    assert!(matches!(
        decode("thing/product/+/events", &event),
        Err(DecodeError::Topic(TopicError::UnsafeSerial { .. }))
    ));
}

#[test]
fn the_method_names_are_the_protocols() {
    assert_eq!(Method::OtaCreate.as_str(), "ota_create");
    assert_eq!(Method::OtaProgress.as_str(), "ota_progress");
    assert_eq!("ota_progress".parse(), Ok(Method::OtaProgress));
    assert!("OTA_PROGRESS".parse::<Method>().is_err());
    assert!("hms".parse::<Method>().is_err());
}
