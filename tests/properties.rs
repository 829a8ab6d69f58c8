//! Property tests on generated messages (strategies in `tests/common/strategies.rs`):
//! encode then decode is the identity; the encoding has no `null` and only canonical
//! keys, in canonical order; every tolerated spelling of a message decodes to it; and
//! an id is a UUID exactly when the uuid crate reads one.

mod common;

use std::fmt;

use common::strategies::{Values, message};
use dji_cloud_ota::{Id, Message, TopicKind, decode};
use proptest::prelude::*;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// JSON with the order of its keys kept (serde_json's `Value` sorts them), duplicates
/// too.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Json;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
                Ok(Json::Bool(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
                Ok(Json::Number(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
                Ok(Json::Number(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
                Ok(Json::Number(v.to_string()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Json, E> {
                Ok(Json::String(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Json::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Json::Object(entries))
            }
        }
        d.deserialize_any(V)
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let string = |s: &str| serde_json::to_string(s).unwrap();
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Number(n) => f.write_str(n),
            Json::String(s) => f.write_str(&string(s)),
            Json::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    write!(f, "{}{item}", if i > 0 { "," } else { "" })?;
                }
                f.write_str("]")
            }
            Json::Object(entries) => {
                f.write_str("{")?;
                for (i, (key, value)) in entries.iter().enumerate() {
                    write!(f, "{}{}:{value}", if i > 0 { "," } else { "" }, string(key))?;
                }
                f.write_str("}")
            }
        }
    }
}

impl Json {
    fn entries_mut(&mut self) -> &mut Vec<(String, Json)> {
        match self {
            Json::Object(entries) => entries,
            other => panic!("not an object: {other}"),
        }
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Json> {
        self.entries_mut()
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

fn parse(payload: &[u8]) -> Json {
    serde_json::from_slice(payload).expect("the encoding is JSON")
}

/// The canonical keys of each object, in canonical order: the README's envelope order
/// and the order of the protocol's tables.
fn canonical_keys(kind: TopicKind, path: &str) -> &'static [&'static str] {
    match (kind, path) {
        (_, "") => &[
            "tid",
            "bid",
            "timestamp",
            "method",
            "gateway",
            "need_reply",
            "data",
        ],
        (TopicKind::Services, "data") => &["devices"],
        (TopicKind::Services, "data.devices[]") => &[
            "sn",
            "product_version",
            "file_url",
            "md5",
            "file_size",
            "file_name",
            "firmware_upgrade_type",
        ],
        (TopicKind::ServicesReply, "data") => &["result", "output"],
        (TopicKind::ServicesReply, "data.output") => &["status"],
        (TopicKind::Events, "data") => &["result", "output"],
        (TopicKind::Events, "data.output") => &["status", "progress", "ext", "sub_status"],
        (TopicKind::Events, "data.output.progress") => &["percent", "step_key", "step_result"],
        (TopicKind::Events, "data.output.ext") => &["rate"],
        (TopicKind::EventsReply, "data") => &["result"],
        _ => &[],
    }
}

/// Checks that `json` holds no `null` and only canonical keys in canonical order.
fn check_canonical(kind: TopicKind, path: &str, json: &Json) -> Result<(), TestCaseError> {
    match json {
        Json::Null => Err(TestCaseError::fail(format!("null at {path}"))),
        Json::Array(items) => items
            .iter()
            .try_for_each(|item| check_canonical(kind, &format!("{path}[]"), item)),
        Json::Object(entries) => {
            let order = canonical_keys(kind, path);
            let mut last = None;
            for (key, value) in entries {
                let position = order.iter().position(|k| k == key);
                prop_assert!(
                    position.is_some(),
                    "{key:?} is not a canonical key at {path:?}"
                );
                prop_assert!(position > last, "{key:?} out of order at {path:?}");
                last = position;
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                check_canonical(kind, &child, value)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Which of the tolerated spellings to use when rewriting a canonical payload.
#[derive(Debug, Clone, Copy)]
struct Quirks {
    colon_timestamp: bool,
    no_method: bool,
    stauts: bool,
    current_step: bool,
    integers_as_strings: bool,
    need_reply_as_bool: bool,
    nulls_for_absent: bool,
    unknown_keys: bool,
}

fn quirks() -> impl Strategy<Value = Quirks> {
    any::<[bool; 8]>().prop_map(|q| Quirks {
        colon_timestamp: q[0],
        no_method: q[1],
        stauts: q[2],
        current_step: q[3],
        integers_as_strings: q[4],
        need_reply_as_bool: q[5],
        nulls_for_absent: q[6],
        unknown_keys: q[7],
    })
}

/// Every number of `json` written as a decimal string.
fn integers_as_strings(json: &mut Json) {
    match json {
        Json::Number(n) => *json = Json::String(n.clone()),
        Json::Array(items) => items.iter_mut().for_each(integers_as_strings),
        Json::Object(entries) => entries.iter_mut().for_each(|(_, v)| integers_as_strings(v)),
        _ => {}
    }
}

/// Adds `key: null` to an object that lacks `key`.
fn null_if_absent(object: &mut Json, keys: &[&str]) {
    for key in keys {
        if object.get_mut(key).is_none() {
            object.entries_mut().push(((*key).to_owned(), Json::Null));
        }
    }
}

/// The canonical payload of a message of `kind` rewritten with the tolerated spellings
/// that `q` picks: each one something a real peer or the documentation sends.
fn respell(kind: TopicKind, payload: &[u8], q: Quirks) -> String {
    let mut json = parse(payload);
    let envelope = json.entries_mut();
    if q.no_method {
        envelope.retain(|(k, _)| k != "method");
    }
    for (key, value) in envelope.iter_mut() {
        match key.as_str() {
            "timestamp" if q.colon_timestamp => *key = "timestamp:".to_owned(),
            "need_reply" if q.need_reply_as_bool => {
                *value = Json::Bool(*value == Json::Number("1".to_owned()));
            }
            _ => {}
        }
    }
    if q.unknown_keys {
        envelope.insert(0, ("seq".to_owned(), Json::Array(vec![Json::Null])));
    }
    let data = json.get_mut("data").unwrap();
    if q.integers_as_strings {
        integers_as_strings(data);
    }
    if q.unknown_keys {
        data.entries_mut()
            .push(("extra".to_owned(), Json::Object(vec![])));
    }
    if q.nulls_for_absent {
        match kind {
            TopicKind::Services => {
                if let Some(Json::Array(devices)) = data.get_mut("devices") {
                    for device in devices {
                        null_if_absent(device, &["file_url", "md5", "file_size", "file_name"]);
                    }
                }
            }
            TopicKind::ServicesReply => null_if_absent(data, &["output"]),
            TopicKind::Events => {
                let output = data.get_mut("output").unwrap();
                if let Some(progress @ Json::Object(_)) = output.get_mut("progress") {
                    null_if_absent(progress, &["step_key", "step_result"]);
                }
                if let Some(ext @ Json::Object(_)) = output.get_mut("ext") {
                    null_if_absent(ext, &["rate"]);
                }
                null_if_absent(output, &["progress", "ext", "sub_status"]);
            }
            TopicKind::EventsReply => {}
        }
    }
    if kind == TopicKind::Events {
        let output = data.get_mut("output").unwrap();
        for (key, value) in output.entries_mut() {
            if key == "status" && q.stauts {
                *key = "stauts".to_owned();
            }
            if key == "progress" && q.current_step {
                if let Json::Object(progress) = value {
                    for (key, _) in progress {
                        if key == "step_key" {
                            *key = "current_step".to_owned();
                        }
                    }
                }
            }
        }
    }
    if q.nulls_for_absent {
        null_if_absent(&mut json, &["gateway", "need_reply"]);
    }
    json.to_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn encode_then_decode_is_the_identity(m in message(Values::Any)) {
        let encoded = m.encode();
        let decoded = decode(&encoded.topic, &encoded.payload);
        prop_assert_eq!(decoded.as_ref(), Ok(&m), "{}", String::from_utf8_lossy(&encoded.payload));
        prop_assert_eq!(decoded.unwrap().encode(), encoded);
    }

    #[test]
    fn the_encoding_has_no_null_and_only_canonical_keys_in_order(m in message(Values::Any)) {
        let encoded = m.encode();
        let kind = m.topic().kind;
        check_canonical(kind, "", &parse(&encoded.payload))?;
        // Into a buffer too, the same bytes.
        let mut buffer = b"previous".to_vec();
        m.encode_payload_into(&mut buffer);
        prop_assert_eq!(&buffer[8..], &encoded.payload[..]);
    }

    #[test]
    fn a_message_survives_its_serde_form(m in message(Values::Any)) {
        let stored = serde_json::to_string(&m).unwrap();
        let back: Message = serde_json::from_str(&stored).unwrap();
        prop_assert_eq!(back, m);
    }

    #[test]
    fn an_id_is_a_uuid_exactly_when_the_uuid_crate_reads_one(text in id_text()) {
        // The uuid crate reads the hyphenated form from 36 bytes, in either case.
        let reference = uuid::Uuid::try_parse(&text).ok().filter(|_| text.len() == 36);
        let id = Id::from_text(&text);
        prop_assert_eq!(id.uuid(), reference.map(|uuid| uuid.as_u128()), "{:?}", text);
        // The spelling is kept, the case of each letter too, and one UUID is one id
        // whatever its case.
        prop_assert_eq!(id.to_string(), text.as_str());
        if let Some(uuid) = reference {
            prop_assert_eq!(&Id::from_text(&text.to_ascii_uppercase()), &id);
            prop_assert_eq!(&Id::from_u128(uuid.as_u128()), &id);
        }
    }

    #[test]
    fn every_tolerated_spelling_decodes_to_the_same_message(m in message(Values::Any), q in quirks()) {
        let kind = m.topic().kind;
        let encoded = m.encode();
        let respelled = respell(kind, &encoded.payload, q);
        let decoded = decode(&encoded.topic, respelled.as_bytes());
        prop_assert_eq!(decoded.as_ref(), Ok(&m), "{:?}: {}", q, respelled);
    }
}

/// Text shaped like a UUID, with one or two of its 36 places changed to a byte near the
/// hex digits' ranges or a character of two to four bytes, or 30 to 38 characters of
/// such an alphabet.
fn id_text() -> impl Strategy<Value = String> {
    const NEAR: &str = "0123456789abcdefABCDEF-/:;@`Gg\u{7f}\u{0}\u{e9}\u{80}\u{20ac}\u{1f600}";
    let near = || proptest::sample::select(NEAR.chars().collect::<Vec<_>>());
    let hex = proptest::sample::select("0123456789abcdefABCDEF".chars().collect::<Vec<_>>());
    let shaped = (
        proptest::collection::vec(hex, 32),
        proptest::collection::vec((0..36usize, near()), 0..=2),
    )
        .prop_map(|(digits, changes)| {
            let mut chars: Vec<char> = digits;
            for at in [8, 13, 18, 23] {
                chars.insert(at, '-');
            }
            for (at, c) in changes {
                chars[at] = c;
            }
            chars.into_iter().collect::<String>()
        });
    let loose = proptest::collection::vec(near(), 30..=38).prop_map(String::from_iter);
    prop_oneof![3 => shaped, 1 => loose]
}

#[test]
fn the_strategies_reach_every_kind_unknown_values_and_absent_fields() {
    use dji_cloud_ota::Data;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let strategy = message(Values::Any);
    let (mut kinds, mut unknown_status, mut no_gateway, mut text_id) =
        ([false; 4], false, false, false);
    for _ in 0..2000 {
        let m: Message = strategy.new_tree(&mut runner).unwrap().current();
        kinds[TopicKind::ALL
            .iter()
            .position(|k| *k == m.topic().kind)
            .unwrap()] = true;
        no_gateway |= m.gateway.is_none();
        text_id |= m.tid.uuid().is_none();
        if let Data::OtaProgress(p) = &m.data {
            unknown_status |= !p.output.status.is_known();
        }
    }
    assert_eq!(kinds, [true; 4]);
    assert!(unknown_status && no_gateway && text_id);
}
