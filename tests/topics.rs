//! Topics: built from a gateway serial, parsed back into serial and kind; unsafe serials
//! refused so nobody publishes to a wildcard by accident.

use dji_cloud_ota::{Serial, Topic, TopicError, TopicKind};

const SN: &str = "1581F5BMD22330010X0V";

#[test]
fn the_four_topics_of_a_gateway() {
    let sn = Serial::new(SN).unwrap();
    let built: Vec<String> = TopicKind::ALL
        .iter()
        .map(|&k| Topic::new(sn.clone(), k).to_string())
        .collect();
    assert_eq!(
        built,
        [
            "thing/product/1581F5BMD22330010X0V/services",
            "thing/product/1581F5BMD22330010X0V/services_reply",
            "thing/product/1581F5BMD22330010X0V/events",
            "thing/product/1581F5BMD22330010X0V/events_reply",
        ]
    );
    for text in &built {
        let parsed = Topic::parse(text).unwrap();
        assert_eq!(parsed.sn.as_str(), SN);
        assert_eq!(&parsed.to_string(), text);
    }
}

#[test]
fn replies_go_to_the_reply_topics() {
    assert_eq!(TopicKind::Services.reply(), Some(TopicKind::ServicesReply));
    assert_eq!(TopicKind::Events.reply(), Some(TopicKind::EventsReply));
    assert_eq!(TopicKind::ServicesReply.reply(), None);
    assert_eq!(TopicKind::EventsReply.reply(), None);
}

#[test]
fn wildcard_filters_for_subscribing() {
    assert_eq!(
        TopicKind::Events.wildcard_filter(),
        "thing/product/+/events"
    );
    assert_eq!(
        TopicKind::ServicesReply.wildcard_filter(),
        "thing/product/+/services_reply"
    );
}

#[test]
fn unsafe_serials_are_refused() {
    assert_eq!(Serial::new(""), Err(TopicError::EmptySerial));
    for (serial, found) in [
        ("a/b", '/'),
        ("+", '+'),
        ("#", '#'),
        ("SN\0", '\0'),
        ("dock+1", '+'),
        ("/", '/'),
    ] {
        assert_eq!(
            Serial::new(serial),
            Err(TopicError::UnsafeSerial {
                serial: serial.into(),
                found
            }),
            "{serial:?}"
        );
    }
    // The error message names the serial and the character.
    let message = Serial::new("a#b").unwrap_err().to_string();
    assert!(
        message.contains("\"a#b\"") && message.contains("'#'"),
        "{message}"
    );
}

#[test]
fn serials_other_than_the_unsafe_ones_are_accepted() {
    for serial in [
        "4TADKAQ000002J",
        "dock_sn",
        "a b",
        "ü-serial",
        "x.y",
        "$SYS",
    ] {
        assert_eq!(Serial::new(serial).unwrap().as_str(), serial);
    }
}

#[test]
fn wildcards_and_empty_serials_in_a_topic_are_refused() {
    assert_eq!(
        Topic::parse("thing/product//events"),
        Err(TopicError::EmptySerial)
    );
    assert!(matches!(
        Topic::parse("thing/product/+/events"),
        Err(TopicError::UnsafeSerial { found: '+', .. })
    ));
    assert!(matches!(
        Topic::parse("thing/product/#/services"),
        Err(TopicError::UnsafeSerial { found: '#', .. })
    ));
    assert!(matches!(
        Topic::parse("thing/product/a/b/events"),
        Err(TopicError::UnsafeSerial { found: '/', .. })
    ));
}

#[test]
fn other_topics_of_the_api_are_not_ota() {
    for topic in [
        "thing/product/SN/osd",
        "thing/product/SN/state",
        "thing/product/SN/requests",
        "thing/product/SN/requests_reply",
        "thing/product/SN/property/set",
        "thing/product/SN/property/set_reply",
        "thing/product/SN/drc/up",
        "thing/product/SN/drc/down",
        "sys/product/SN/status",
    ] {
        assert_eq!(Topic::parse(topic), Err(TopicError::NotOta), "{topic}");
    }
}

#[test]
fn anything_else_is_unrecognised() {
    for topic in [
        "",
        "thing/product/SN",
        "thing/product/SN/",
        "thing/product/SN/service",
        "thing/product/SN/events/extra",
        "thing/products/SN/events",
        "Thing/product/SN/events",
        "/thing/product/SN/events",
        "thing/product/SN/events ",
        "sys/product/SN/osd",
    ] {
        assert_eq!(
            Topic::parse(topic),
            Err(TopicError::Unrecognised),
            "{topic:?}"
        );
    }
}
