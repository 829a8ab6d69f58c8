//! The decoder's three readings give the same answer on every input: the fast path
//! either gives up or returns exactly what the full tolerant decoder returns, and the
//! full decoder's one-pass reading agrees with its authoritative two-pass reading.
//!
//! Inputs: every fixture, every fixture with each byte changed to each of a set of
//! bytes that matter to a JSON reader, every truncation, and a table of edge cases
//! (`-0`, leading zeros, overflow, escapes, non-ASCII, duplicate keys, ...).

mod common;

use common::{GATEWAY, all_ota_fixtures, topic};
use dji_cloud_ota::{TopicKind, decode, paths};

/// Checks one input; returns whether the fast path took it.
fn same_answer(topic: &str, payload: &[u8]) -> bool {
    let full = paths::tolerant(topic, payload);
    assert_eq!(
        full,
        paths::two_pass(topic, payload),
        "one pass and two passes disagree on {:?}",
        String::from_utf8_lossy(payload)
    );
    let combined = decode(topic, payload);
    assert_eq!(
        combined,
        full,
        "{topic} {:?}",
        String::from_utf8_lossy(payload)
    );
    match paths::fast(topic, payload) {
        Some(fast) => {
            assert_eq!(
                Ok(&fast),
                full.as_ref(),
                "fast path disagrees on {:?}",
                String::from_utf8_lossy(payload)
            );
            true
        }
        None => false,
    }
}

/// Bytes that change what a JSON reader does.
const MUTATIONS: &[u8] = b" \t\"\\-+09.eE{}[]:,nt\x7f\x00\x1f";
const NON_ASCII: &[u8] = &[0x80, 0xc3, 0xe2, 0xff];

#[test]
fn canonical_messages_take_the_fast_path() {
    for kind in TopicKind::ALL {
        let payload = common::fixture(kind.suffix(), "canonical");
        assert!(same_answer(&topic(kind), &payload), "{kind} canonical");
    }
    let two = common::fixture("services", "two_devices");
    assert!(same_answer(&topic(TopicKind::Services), &two));
    // Whitespace does not matter: pretty fixtures without quirks take it too.
    let pretty = common::fixture("events", "current_step");
    assert!(
        !same_answer(&topic(TopicKind::Events), &pretty),
        "current_step is a quirk"
    );
    let java = common::fixture("services", "java_server");
    assert!(
        !same_answer(&topic(TopicKind::Services), &java),
        "nulls are a quirk"
    );
    let dock3 = common::fixture("services", "dock3_psdk_and_unknown_type");
    assert!(
        same_answer(&topic(TopicKind::Services), &dock3),
        "pretty, no quirk"
    );
}

#[test]
fn quirks_are_left_to_the_full_decoder() {
    for (kind, name) in [
        (TopicKind::Events, "seed_ota_progress"),
        (TopicKind::Events, "every_quirk"),
        (TopicKind::Events, "stauts_key"),
        (TopicKind::Events, "string_integers"),
        (TopicKind::Events, "java_nulls_and_bool"),
        (TopicKind::Events, "no_method"),
        (TopicKind::Events, "unknown_values"),
        (TopicKind::EventsReply, "string_timestamp"),
    ] {
        let payload = common::fixture(kind.suffix(), name);
        assert!(!same_answer(&topic(kind), &payload), "{name}");
        assert!(decode(&topic(kind), &payload).is_ok(), "{name}");
    }
}

/// Fixtures of every shape: canonical (fast path), pretty, and with quirks.
const MUTATED: &[(TopicKind, &str)] = &[
    (TopicKind::Services, "canonical"),
    (TopicKind::Services, "two_devices"),
    (TopicKind::Services, "java_server"),
    (TopicKind::ServicesReply, "canonical"),
    (TopicKind::ServicesReply, "refused_without_output"),
    (TopicKind::Events, "canonical"),
    (TopicKind::Events, "every_quirk"),
    (TopicKind::Events, "seed_ota_progress"),
    (TopicKind::EventsReply, "canonical"),
    (TopicKind::EventsReply, "string_timestamp"),
];

/// Fixtures of other methods on OTA topics (`tests/fixtures/not_ota/`), mutated too.
const NOT_OTA_MUTATED: &[(TopicKind, &str)] = &[
    (TopicKind::Events, "events_hms"),
    (TopicKind::Services, "services_flighttask_prepare"),
];

#[test]
fn every_fixture_on_every_topic() {
    for (_, _, bytes) in all_ota_fixtures() {
        for kind in TopicKind::ALL {
            same_answer(&topic(kind), &bytes);
        }
    }
}

#[test]
fn every_single_byte_change_of_fixtures_of_every_shape() {
    let mut fast = 0;
    let mut total = 0;
    let ota = MUTATED
        .iter()
        .map(|&(kind, name)| (kind, common::fixture(kind.suffix(), name)));
    // Messages of other methods on OTA topics, which the fast path sees and refuses.
    let other = NOT_OTA_MUTATED
        .iter()
        .map(|&(kind, name)| (kind, common::fixture("not_ota", name)));
    for (kind, bytes) in ota.chain(other) {
        let topic = topic(kind);
        for at in 0..bytes.len() {
            for &b in MUTATIONS.iter().chain(NON_ASCII) {
                let mut changed = bytes.clone();
                changed[at] = b;
                fast += usize::from(same_answer(&topic, &changed));
                total += 1;
            }
            let mut removed = bytes.clone();
            removed.remove(at);
            same_answer(&topic, &removed);
            same_answer(&topic, &bytes[..at]);
        }
    }
    // Many changes keep a canonical message canonical (another digit, another letter in
    // an id); the fast path must have been exercised, not only bypassed.
    assert!(fast > 1000, "fast path took only {fast} of {total}");
}

#[test]
fn edge_cases() {
    let event = |data: &str| {
        format!(
            r#"{{"tid":"6a7bfe89-c386-4043-b600-b518e10096cc","bid":"42a19f36-5117-4520-bd13-fd61d818d52e","timestamp":1700000000000,"method":"ota_progress","data":{data}}}"#
        )
    };
    let with_percent = |p: &str| {
        event(&format!(
            r#"{{"result":0,"output":{{"status":"in_progress","progress":{{"percent":{p}}}}}}}"#
        ))
    };
    let events = topic(TopicKind::Events);
    for percent in [
        "0",
        "-0",
        "00",
        "01",
        "1.0",
        "1e2",
        "1E2",
        "-1",
        "100",
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999",
        "\"5\"",
        "null",
        "true",
        "5 ",
        " 5",
    ] {
        same_answer(&events, with_percent(percent).as_bytes());
    }
    assert!(same_answer(&events, with_percent("100").as_bytes()));
    for status in [
        r#""ok""#,
        r#""""#,
        r#""o\u006b""#,
        r#""\n""#,
        "\"o\u{7f}k\"",
        "\"ok\u{e9}\"",
        "\"ok\u{0}\"",
        r#""ok"#,
        r#"ok"#,
    ] {
        let data = format!(r#"{{"result":0,"output":{{"status":{status}}}}}"#);
        same_answer(&events, event(&data).as_bytes());
    }
    // Duplicate keys at every level, including an alias beside its key.
    for data in [
        r#"{"result":0,"result":0,"output":{"status":"ok"}}"#,
        r#"{"result":0,"output":{"status":"ok","status":"ok"}}"#,
        r#"{"result":0,"output":{"status":"ok","stauts":"ok"}}"#,
        r#"{"result":0,"output":{"status":"ok","progress":{"percent":1,"percent":2}}}"#,
        r#"{"result":0,"output":{"status":"ok","progress":{"percent":1,"step_key":"a","current_step":"b"}}}"#,
        r#"{"result":0,"output":{"status":"ok"},"output":{"status":"ok"}}"#,
        r#"{"result":0,"output":{"status":"ok","ext":{},"ext":{}}}"#,
        r#"{"result":0,"output":{"status":"ok","ext":{"rate":1,"rate":1}}}"#,
        r#"{"result":0,"output":{"status":"ok","progress":[1]}}"#,
        r#"{"result":0,"output":{"status":"ok"},}"#,
        r#"{"result":0,"output":{"status":"ok"}"#,
        r#"{}"#,
        r#"[]"#,
        r#"null"#,
    ] {
        same_answer(&events, event(data).as_bytes());
    }
    let mut twice = event(r#"{"result":0,"output":{"status":"ok"}}"#);
    twice.insert_str(1, r#""tid":"6a7bfe89-c386-4043-b600-b518e10096cc","#);
    same_answer(&events, twice.as_bytes());
    let mut ts_alias = event(r#"{"result":0,"output":{"status":"ok"}}"#);
    ts_alias.insert_str(1, r#""timestamp:":1,"#);
    same_answer(&events, ts_alias.as_bytes());
    let trailing = format!("{} x", event(r#"{"result":0,"output":{"status":"ok"}}"#));
    same_answer(&events, trailing.as_bytes());
    // Ids: canonical, upper case, placeholder, empty, braced.
    for id in [
        "6a7bfe89-c386-4043-b600-b518e10096cc",
        "6A7BFE89-C386-4043-B600-B518E10096CC",
        "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxx",
        "",
        "{6a7bfe89-c386-4043-b600-b518e10096cc}",
        "6a7bfe89c3864043b600b518e10096cc",
    ] {
        let payload = event(r#"{"result":0,"output":{"status":"ok"}}"#)
            .replace("6a7bfe89-c386-4043-b600-b518e10096cc", id);
        assert!(same_answer(&events, payload.as_bytes()), "{id:?}");
    }
    // need_reply values.
    for flag in ["0", "1", "2", "true", "\"1\"", "null", "-1"] {
        let payload = event(r#"{"result":0,"output":{"status":"ok"}}"#).replacen(
            "\"data\"",
            &format!("\"need_reply\":{flag},\"data\""),
            1,
        );
        same_answer(&events, payload.as_bytes());
    }
    // Topics: other gateways, bad topics.
    let payload = event(r#"{"result":0,"output":{"status":"ok"}}"#);
    for t in [
        format!("thing/product/{GATEWAY}X/events"),
        "thing/product/+/events".into(),
        "thing/product/SN/osd".into(),
    ] {
        same_answer(&t, payload.as_bytes());
    }
}

/// What the full decoder's first reading (plain JSON under the types' serde impls) meets
/// besides the fast path's shape: values of unknown keys of every kind, numbers and
/// literals on the edge of JSON's grammar, whitespace, and the quirks, alone and
/// together. It reads or gives up; serde_json's reading decides, and both must agree.
#[test]
fn plain_json_edge_cases() {
    let events = topic(TopicKind::Events);
    let event = |extra: &str, percent: &str| {
        format!(
            r#"{{"tid":"6a7bfe89-c386-4043-b600-b518e10096cc","bid":"42a19f36-5117-4520-bd13-fd61d818d52e","timestamp:":"1700000000000",{extra}"data":{{"result":"0","output":{{"stauts":"in_progress","progress":{{"percent":{percent},"current_step":"download_firmware"}}}}}}}}"#
        )
    };
    let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let deep_objects = |n: usize| format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
    let unknown_values = [
        "{}".to_owned(),
        "[]".into(),
        r#"{"a":[1,{"b":null}],"c":"d"}"#.into(),
        "[1,2,]".into(),
        r#"{"a":1,}"#.into(),
        "[1 2]".into(),
        r#"{"a" 1}"#.into(),
        r#"{1:2}"#.into(),
        "1.5".into(),
        "-1e3".into(),
        "-0".into(),
        "-".into(),
        "- 1".into(),
        "-01".into(),
        "-9223372036854775808".into(),
        "-9223372036854775809".into(),
        "18446744073709551616".into(),
        r#""\u00e9\n""#.into(),
        r#""\ud800""#.into(),
        "true".into(),
        "tru".into(),
        "truex".into(),
        "nul".into(),
        "False".into(),
        deep(31),
        deep(33),
        deep(200),
        deep_objects(40),
    ];
    for value in &unknown_values {
        for extra in [
            format!(r#""x":{value},"#),
            format!(r#""x" : {value} ,"#),
            format!("\"x\":\n\t{value}\r\n,"),
        ] {
            same_answer(&events, event(&extra, "42").as_bytes());
        }
    }
    for percent in [
        "\"42\"", "42", "-0", "\"-0\"", "- 1", "-1", "\"-1\"", "null", "1.0", "\" 42\"",
    ] {
        same_answer(&events, event("", percent).as_bytes());
    }
    // Keys the plain reader cannot read as text, and whitespace around every token.
    for extra in [r#""\u0078":1,"#, r#""x\"":1,"#, r#""":1,"#, "\"\u{e9}\":1,"] {
        same_answer(&events, event(extra, "42").as_bytes());
    }
    let spaced = event("", "42")
        .replace("\":", "\" : ")
        .replace(',', " ,\n ")
        .replace('{', "{ ");
    let quirky = decode(&events, event("", "42").as_bytes()).unwrap();
    assert_eq!(decode(&events, spaced.as_bytes()), Ok(quirky));
    same_answer(&events, spaced.as_bytes());
}

/// Messages of another method on an OTA topic, which the fast path sees and leaves to
/// the full decoder's refusal: its plain reading of the envelope must give serde_json's
/// answer (`NotOta`, `WrongTopic`, or an error in the envelope) on every variant.
#[test]
fn other_methods_are_refused_as_serde_json_refuses_them() {
    let events = topic(TopicKind::Events);
    let hms = String::from_utf8(common::fixture("not_ota", "events_hms")).unwrap();
    let method = r#""method":"hms""#;
    assert!(hms.contains(method));
    let variants = [
        hms.clone(),
        hms.replace(method, r#""method":"hms","method":"hms""#),
        hms.replace(method, r#""method":"hms","method":null"#),
        hms.replace(method, r#""method":"hms","method":"ota_progress""#),
        hms.replace(method, r#""method":"ota_create""#),
        hms.replace(method, r#""method":"hms","timestamp":"x""#),
        hms.replace(method, r#""method":"hms","tid":1"#),
        hms.replace(r#""list":"#, r#""note":"a\nb","list":"#),
        hms.replace(r#""list":"#, r#""note":"\ud800","list":"#),
        hms.replace(r#""list":"#, r#""n":1.5e3,"list":"#),
        hms.replace(r#""data":{"#, r#""data":[{"#)
            .replace("}}}", "}]}}"),
        hms.replace(r#""data":{"#, r#""data":"#)
            .replace("}}}", "}}"),
        format!("{hms} x"),
        hms[..hms.len() - 1].to_owned(),
    ];
    for payload in &variants {
        same_answer(&events, payload.as_bytes());
    }
    let refused = decode(&events, hms.as_bytes()).unwrap_err();
    assert!(refused.is_not_ota(), "{refused:?}");
}
