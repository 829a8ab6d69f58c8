//! The JSON Schemas in `schemas/`: up to date with the crate's types, valid draft 2020-12
//! schemas, and in agreement with what the crate writes (`encode`) and accepts
//! (`decode`, `validate`), on the fixtures and on generated messages.
//!
//! Agreement means: for a message the crate encodes, the schema reports an error at
//! exactly the JSON paths where `validate()` reports a violation of a rule the schemas
//! state (`json_schema::is_stated`), and nowhere else.
#![cfg(feature = "schemars")]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use dji_cloud_ota::json_schema::is_stated;
use dji_cloud_ota::{
    Data, DecodeError, Device, Message, OtaCreate, OtaCreateOutput, OtaCreateReply, ResultCode,
    Serial, TaskStatus, Topic, TopicKind, UpgradeType, decode,
};
use jsonschema::Validator;
use jsonschema::paths::LocationSegment;
use proptest::prelude::*;
use serde_json::Value;

mod common;
#[allow(dead_code)] // its `main`
#[path = "../examples/gen-schemas.rs"]
mod gen_schemas;

use common::strategies::{Values, devices, message};
use common::{GATEWAY, all_ota_fixtures, fixtures_dir, topic};

const SCHEMAS: &str = "schemas";

// ---- helpers ----------------------------------------------------------------------

fn read_json(path: &Path) -> Value {
    let text = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The entries of the checked-in index, `schemas/index.json`.
fn index_entries() -> Vec<Value> {
    let index = read_json(&Path::new(SCHEMAS).join("index.json"));
    index["messages"].as_array().expect("`messages`").clone()
}

/// The checked-in schema of `kind`, read the way a consumer reads it: through the index.
fn checked_in_schema(kind: TopicKind) -> Value {
    let topic = Topic::new(Serial::new(GATEWAY).unwrap(), kind).to_string();
    let entry = index_entries()
        .into_iter()
        .find(|e| e["topic"].as_str().unwrap().replace("{sn}", GATEWAY) == topic)
        .unwrap_or_else(|| panic!("no index entry for {topic}"));
    read_json(&Path::new(SCHEMAS).join(entry["schema"].as_str().unwrap()))
}

/// A validator that asserts `format` too (draft 2020-12 treats it as an annotation).
fn validator(schema: &Value) -> Validator {
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(schema)
        .expect("the schema compiles")
}

static VALIDATORS: LazyLock<Vec<(TopicKind, Validator)>> = LazyLock::new(|| {
    TopicKind::ALL
        .into_iter()
        .map(|kind| (kind, validator(&checked_in_schema(kind))))
        .collect()
});

fn validator_of(kind: TopicKind) -> &'static Validator {
    &VALIDATORS.iter().find(|(k, _)| *k == kind).unwrap().1
}

/// The JSON paths, in the crate's spelling (`data.devices[1].md5`), at which the schema
/// of `kind` finds an error in `instance`.
fn schema_error_paths(kind: TopicKind, instance: &Value) -> BTreeSet<String> {
    validator_of(kind)
        .iter_errors(instance)
        .map(|error| {
            let mut path = String::new();
            for segment in error.instance_path() {
                match segment {
                    LocationSegment::Property(name) if path.is_empty() => path.push_str(&name),
                    LocationSegment::Property(name) => path.push_str(&format!(".{name}")),
                    LocationSegment::Index(i) => path.push_str(&format!("[{i}]")),
                }
            }
            path
        })
        .collect()
}

/// The paths of the violations of stated rules that `validate()` reports.
fn stated_violation_paths(message: &Message) -> BTreeSet<String> {
    match message.validate() {
        Ok(()) => BTreeSet::new(),
        Err(errors) => errors
            .violations
            .iter()
            .filter(|v| is_stated(v))
            .map(|v| v.path.clone())
            .collect(),
    }
}

fn canonical_value(message: &Message) -> Value {
    serde_json::from_slice(&message.encode().payload).expect("the encoding is JSON")
}

fn fixture_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

// ---- the files ----------------------------------------------------------------------

#[test]
fn checked_in_schemas_are_up_to_date() {
    let fresh = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "schemas-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = fs::remove_dir_all(&fresh);
    fs::create_dir_all(&fresh).unwrap();
    gen_schemas::generate(&fresh, Path::new(gen_schemas::FIXTURES)).unwrap();

    let fresh_files = relative_files(&fresh);
    // The TypeScript declarations have a generator of their own (tools/), and a check.
    let checked_in: BTreeSet<String> = relative_files(Path::new(SCHEMAS))
        .into_iter()
        .filter(|file| !file.starts_with("typescript/"))
        .collect();
    let mut differences = Vec::new();
    for file in fresh_files.union(&checked_in) {
        match (fresh_files.contains(file), checked_in.contains(file)) {
            (true, false) => differences.push(format!("missing: {SCHEMAS}/{file}")),
            (false, true) => differences.push(format!("not generated: {SCHEMAS}/{file}")),
            _ => {
                if fs::read(fresh.join(file)).unwrap()
                    != fs::read(Path::new(SCHEMAS).join(file)).unwrap()
                {
                    differences.push(format!("differs: {SCHEMAS}/{file}"));
                }
            }
        }
    }
    fs::remove_dir_all(&fresh).unwrap();
    assert!(
        differences.is_empty(),
        "{SCHEMAS}/ is out of date with the crate's types or fixtures:\n  {}\nRegenerate it with:\n  {}\n",
        differences.join("\n  "),
        gen_schemas::COMMAND,
    );
}

fn relative_files(root: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).unwrap();
                out.insert(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

#[test]
fn every_schema_is_valid_against_the_draft_2020_12_meta_schema() {
    for kind in TopicKind::ALL {
        let schema = checked_in_schema(kind);
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{kind}"
        );
        if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
            panic!("the {kind} schema is not a valid draft 2020-12 schema: {e}");
        }
    }
    // The meta-schema check can fail: a schema with a mistyped keyword value does.
    let mut broken = checked_in_schema(TopicKind::Services);
    assert!(broken["$defs"]["OtaCreate"]["properties"]["devices"].is_object());
    broken["$defs"]["OtaCreate"]["properties"]["devices"]["maxItems"] = "two".into();
    assert!(jsonschema::draft202012::meta::validate(&broken).is_err());
}

#[test]
fn the_index_names_one_schema_per_topic_with_its_method() {
    let index = read_json(&Path::new(SCHEMAS).join("index.json"));
    assert_eq!(index["crate"], env!("CARGO_PKG_NAME"));
    assert_eq!(index["version"], env!("CARGO_PKG_VERSION"));
    let entries = index_entries();
    // The four OTA messages, and the devices' state push.
    assert_eq!(entries.len(), TopicKind::ALL.len() + 1);
    for kind in TopicKind::ALL {
        let matching: Vec<&Value> = entries
            .iter()
            .filter(|e| {
                let topic = e["topic"].as_str().unwrap().replace("{sn}", GATEWAY);
                Topic::parse(&topic).map(|t| t.kind) == Ok(kind)
            })
            .collect();
        assert_eq!(matching.len(), 1, "{kind}: {matching:?}");
        let entry = matching[0];
        assert_eq!(entry["method"], kind.method().as_str(), "{kind}");
        assert_eq!(entry["without_method"], "data", "{kind}");
        let schema = read_json(&Path::new(SCHEMAS).join(entry["schema"].as_str().unwrap()));
        assert_eq!(
            schema["properties"]["method"]["const"], entry["method"],
            "{kind}: the schema's method is the index's"
        );
    }
}

/// An MQTT topic filter matches a topic (`+` one level, `#` the rest), as a broker
/// matches them.
fn filter_matches(filter: &str, topic: &str) -> bool {
    let (mut filter, mut topic) = (filter.split('/'), topic.split('/'));
    loop {
        match (filter.next(), topic.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(f), Some(t)) if f == t => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Each entry's filter receives its topic from any gateway, and no other entry's; its
/// `name` is its schema's `title`, and its schema's `$id` names the file and the
/// crate's version.
#[test]
fn each_index_entry_has_its_filter_name_and_versioned_id() {
    let entries = index_entries();
    let topics: Vec<String> = entries
        .iter()
        .map(|e| e["topic"].as_str().unwrap().replace("{sn}", GATEWAY))
        .collect();
    for entry in &entries {
        let filter = entry["filter"].as_str().unwrap();
        let receives: Vec<&String> = topics
            .iter()
            .filter(|t| filter_matches(filter, t))
            .collect();
        let own = entry["topic"].as_str().unwrap().replace("{sn}", GATEWAY);
        assert_eq!(receives, [&own], "{filter}");
        assert!(filter_matches(
            filter,
            &own.replace(GATEWAY, "1581F5BMD22330010X0V")
        ));
        let file = entry["schema"].as_str().unwrap();
        let schema = read_json(&Path::new(SCHEMAS).join(file));
        assert_eq!(schema["title"], entry["name"], "{file}");
        let id = schema["$id"].as_str().unwrap();
        assert!(
            id.starts_with("https://") && id.ends_with(&format!("/schemas/{file}")),
            "{id}"
        );
        assert!(
            id.contains(&format!("/{}/", env!("CARGO_PKG_VERSION"))),
            "{id}"
        );
    }
    let names: BTreeSet<&str> = entries
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    let expected = [
        "OtaCreateMessage",
        "OtaCreateReplyMessage",
        "OtaProgressMessage",
        "OtaProgressReplyMessage",
        "FirmwarePropertiesMessage",
    ];
    assert_eq!(names, BTreeSet::from(expected));
}

/// The index pairs each request with its reply as the crate's builders do: the reply
/// to an `ota_create` and to an event that asks for one travel on the topic of the
/// entry the request names as `reply`, and that entry names the request as `reply_to`.
#[test]
fn the_index_pairs_requests_and_replies_as_the_builders_do() {
    let entries = index_entries();
    let entry_of = |kind: TopicKind| {
        let topic = topic(kind);
        entries
            .iter()
            .find(|e| e["topic"].as_str().unwrap().replace("{sn}", GATEWAY) == topic)
            .unwrap()
    };
    let request = Message::ota_create(Serial::new(GATEWAY).unwrap(), vec![common::device()]);
    let create_reply = request
        .reply_to_create(ResultCode::SUCCESS, Some(TaskStatus::InProgress))
        .unwrap();
    let event = common::decode_fixture(TopicKind::Events, "canonical");
    let event_reply = event.reply_to_event(ResultCode::SUCCESS).expect("it asks");
    let mut paired = 0;
    for (request, reply) in [(&request, &create_reply), (&event, &event_reply)] {
        let (request, reply) = (entry_of(request.topic().kind), entry_of(reply.topic().kind));
        assert_eq!(request["reply"], reply["name"]);
        assert_eq!(reply["reply_to"], request["name"]);
        assert_eq!(request["reply_to"], Value::Null);
        assert_eq!(reply["reply"], Value::Null);
        paired += 2;
    }
    // Nothing else is a request or a reply: the state push neither.
    let others = entries
        .iter()
        .filter(|e| !e["reply"].is_null() || !e["reply_to"].is_null())
        .count();
    assert_eq!(others, paired);
}

/// The types other languages share are each one titled definition, the same in every
/// schema that holds it, and every open enum's known values are a titled type beside it.
#[test]
fn shared_types_are_titled_definitions_alike_in_every_schema() {
    let mut seen: std::collections::BTreeMap<String, Value> = Default::default();
    for entry in index_entries() {
        let schema = read_json(&Path::new(SCHEMAS).join(entry["schema"].as_str().unwrap()));
        for (name, definition) in schema["$defs"].as_object().unwrap() {
            assert_eq!(definition["title"], name.as_str(), "{name}");
            if let Some(first) = seen.get(name) {
                assert_eq!(first, definition, "{name} differs between schemas");
            }
            seen.insert(name.clone(), definition.clone());
        }
    }
    for name in [
        "Device",
        "TaskStatus",
        "Step",
        "ResultCode",
        "UpgradeType",
        "Id",
    ] {
        assert!(seen.contains_key(name), "{name}");
    }
    for open in ["TaskStatus", "Step", "ResultCode", "UpgradeType"] {
        let known = format!("Known{open}");
        assert_eq!(
            seen[open]["anyOf"][0]["$ref"],
            format!("#/$defs/{known}"),
            "{open}"
        );
        assert!(
            !seen[&known]["oneOf"].as_array().unwrap().is_empty(),
            "{known}"
        );
    }
}

// ---- fixtures -------------------------------------------------------------------------

/// Every fixture, decoded and re-encoded: the schema agrees with `validate()`.
#[test]
fn canonical_encodings_of_the_fixtures_agree_with_validate() {
    let mut accepted = 0;
    let mut refused = Vec::new();
    for (kind, name, bytes) in all_ota_fixtures() {
        let message = decode(&topic(kind), &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let schema_says = schema_error_paths(kind, &canonical_value(&message));
        assert_eq!(
            schema_says,
            stated_violation_paths(&message),
            "{kind}/{name}: schema errors (left) and validate() violations (right) differ",
        );
        if schema_says.is_empty() {
            accepted += 1;
        } else {
            refused.push(name);
        }
    }
    // The specification's examples carry placeholder ids (and an MD5 of 18 digits, and a
    // timestamp of 2009): both refuse them. Every other fixture is accepted, unknown enum
    // values included.
    refused.sort();
    assert_eq!(
        refused,
        [
            "seed_ota_create",
            "seed_ota_create_reply",
            "seed_ota_progress",
            "string_timestamp"
        ]
    );
    assert!(accepted >= 20, "{accepted}");
}

/// A raw fixture the schema accepts is canonical: the schema takes none of the tolerant
/// spellings (`"timestamp:"`, `stauts`, strings for integers, `null`, ...), only keys it
/// does not know. Integers written as integral floats (`10.0`) are the one spelling it
/// takes: JSON Schema's `integer` is any number without a fraction, and the decoder
/// reads them as the same integers.
#[test]
fn the_schemas_refuse_the_tolerant_spellings() {
    let mut refused = 0;
    for (kind, name, bytes) in all_ota_fixtures() {
        let raw: Value = serde_json::from_slice(&bytes).unwrap();
        let canonical = canonical_value(&decode(&topic(kind), &bytes).unwrap());
        if schema_error_paths(kind, &raw).is_empty() {
            assert_eq!(
                known_keys_only(&raw, &canonical),
                canonical,
                "{kind}/{name}: accepted by the schema but not canonical"
            );
        } else {
            refused += 1;
        }
    }
    // no_method (3), stauts_key, current_step's sibling spellings, java_*, string_*, ...
    assert!(refused >= 10, "{refused}");
}

/// `raw` without the keys `canonical` does not have, recursively.
fn known_keys_only(raw: &Value, canonical: &Value) -> Value {
    match (raw, canonical) {
        (Value::Object(raw), Value::Object(canonical)) => Value::Object(
            raw.iter()
                .filter_map(|(k, v)| canonical.get(k).map(|c| (k.clone(), known_keys_only(v, c))))
                .collect(),
        ),
        (Value::Array(raw), Value::Array(canonical)) => Value::Array(
            raw.iter()
                .zip(canonical)
                .map(|(r, c)| known_keys_only(r, c))
                .collect(),
        ),
        (Value::Number(n), _) if n.is_f64() => {
            let f = n.as_f64().unwrap();
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                #[allow(clippy::cast_possible_truncation)]
                Value::from(f as i64)
            } else {
                raw.clone()
            }
        }
        _ => raw.clone(),
    }
}

/// Each file in `tests/fixtures/breaks_a_rule/` breaks one rule (canonical otherwise): the
/// schema refuses it at the paths where the crate does, by `validate()` or, for a
/// missing required field, by `decode`, as the conformance corpus's manifest
/// (`tests/fixtures/manifest.json`) records them.
#[test]
fn rule_breaking_messages_are_refused_by_schema_and_crate_at_the_same_path() {
    let manifest = read_json(&fixtures_dir().join("manifest.json"));
    let mut checked = 0;
    for case in manifest["cases"].as_array().unwrap() {
        let name = case["input"].as_str().unwrap();
        let Some(name) = name.strip_prefix("breaks_a_rule/") else {
            continue;
        };
        let Some(kind) = TopicKind::ALL
            .into_iter()
            .find(|kind| name.starts_with(&format!("{}/", kind.suffix())))
        else {
            continue; // the state pushes: the_state_schema_accepts_canonical_pushes_...
        };
        let paths: BTreeSet<String> = match case["outcome"].as_str().unwrap() {
            "breaks_a_rule" => case["problems"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_owned())
                .collect(),
            "malformed" => BTreeSet::from([case["path"].as_str().unwrap().to_owned()]),
            other => panic!("{name}: {other}"),
        };
        let path = fixtures_dir().join("breaks_a_rule").join(name);
        let raw = read_json(&path);
        assert_eq!(schema_error_paths(kind, &raw), paths, "{name}: schema");
        let crate_says = match decode(&topic(kind), &fs::read(&path).unwrap()) {
            Ok(message) => {
                assert_eq!(canonical_value(&message), raw, "{name} is not canonical");
                stated_violation_paths(&message)
            }
            Err(DecodeError::Data(error)) => BTreeSet::from([error.path.clone()]),
            Err(e) => panic!("{name}: {e}"),
        };
        assert_eq!(crate_says, paths, "{name}: crate");
        checked += 1;
    }
    let on_disk: usize = TopicKind::ALL
        .into_iter()
        .map(|kind| fixture_files(&fixtures_dir().join("breaks_a_rule").join(kind.suffix())).len())
        .sum();
    assert_eq!(checked, on_disk, "a file is missing from the manifest");
    assert!(checked >= 10, "{checked}");
}

/// The rules the schemas do not state (named in their descriptions instead): a message
/// that breaks only one of them passes its schema, and `validate()` refuses it.
#[test]
fn unstated_rules_pass_the_schema_and_fail_validate() {
    let device = |sn: &str| Device::new(sn, "04.01.0020", UpgradeType::NORMAL);
    let gateway = Serial::new(GATEWAY).unwrap();
    let twice = Message::ota_create(gateway.clone(), vec![device("A1"), device("A1")]);
    let mut other_gateway = Message::ota_create(gateway.clone(), vec![device("A1")]);
    other_gateway.gateway = Some("5TADKAQ000003K".into());
    let unknown_type = Message::ota_create(gateway.clone(), vec![device("A1")]);
    let unknown_type = Message {
        data: Data::OtaCreate(OtaCreate {
            devices: vec![Device::new("A1", "04.01.0020", UpgradeType(9))],
        }),
        ..unknown_type
    };
    let unknown_status = Message::new(
        gateway,
        Data::OtaCreateReply(OtaCreateReply {
            result: ResultCode::SUCCESS,
            output: Some(OtaCreateOutput {
                status: TaskStatus::from("queued"),
            }),
        }),
    );
    for message in [twice, other_gateway, unknown_type, unknown_status] {
        let kind = message.topic().kind;
        let errors = message.validate().expect_err("validate() refuses it");
        assert!(errors.violations.iter().all(|v| !is_stated(v)), "{errors}");
        assert_eq!(
            schema_error_paths(kind, &canonical_value(&message)),
            BTreeSet::new(),
            "{errors}"
        );
    }
}

/// Every character up to U+3100 (where Unicode's whitespace and control characters
/// end), a few above, and the first of each other plane, inside a serial, a version, a
/// URL and an MD5: the schema's character rules (patterns built from the predicates
/// `validate()` uses) agree with `validate()` on each.
#[test]
fn schema_and_validate_agree_on_every_character() {
    let above = [0xFEFF, 0xFF10, 0xFFFD, 0xFFFF].into_iter();
    let planes = (1..=16).map(|plane| plane << 16);
    let mut message = Message::ota_create(Serial::new(GATEWAY).unwrap(), Vec::new());
    for c in (0..0x3100)
        .chain(above)
        .chain(planes)
        .filter_map(char::from_u32)
    {
        let device = Device::new(format!("S{c}N"), format!("1.0{c}"), UpgradeType::NORMAL)
            .with_file(
                format!("https://a{c}b/p.zip"),
                format!("0123456789abcdef0123456789abcde{c}"),
                1,
                "p.zip",
            );
        message.data = Data::OtaCreate(OtaCreate {
            devices: vec![device],
        });
        assert_eq!(
            schema_error_paths(TopicKind::Services, &canonical_value(&message)),
            stated_violation_paths(&message),
            "U+{:04X}",
            u32::from(c)
        );
    }
}

// ---- generated messages (strategies in `tests/common/strategies.rs`) -----------------

/// Text made of pieces that come near the rules' edges: digits and dots, hex, the
/// characters a serial cannot hold, URL schemes, whitespace and control characters of
/// every kind (Unicode's among them), and any printable character.
fn tricky_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[0-9]{1,4}",
        Just(".".to_owned()),
        "[a-fA-F0-9]{1,32}",
        "[/+#:x\u{0}-]",
        "(https?|HTTPS?|ftp)://",
        "[\u{0}-\u{20}\u{7f}-\u{a0}\u{1680}\u{180e}\u{2000}-\u{200d}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}\u{feff}]",
        "\\PC",
    ];
    prop::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// What the crate writes for a valid message validates against its schema.
    #[test]
    fn valid_messages_validate_against_their_schema(message in message(Values::Valid)) {
        prop_assert_eq!(message.validate(), Ok(()));
        let kind = message.topic().kind;
        let errors = schema_error_paths(kind, &canonical_value(&message));
        prop_assert!(errors.is_empty(), "{:?}", errors);
    }

    /// On any message, the schema errs exactly where `validate()` reports a stated rule.
    #[test]
    fn schema_and_validate_agree_on_any_message(message in message(Values::SometimesInvalid)) {
        let kind = message.topic().kind;
        prop_assert_eq!(
            schema_error_paths(kind, &canonical_value(&message)),
            stated_violation_paths(&message)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// One text field of a valid message set to tricky text: the schema and `validate()`
    /// agree, field by field (the rules on serials, versions, URLs, MD5s, ids, lengths).
    #[test]
    fn schema_and_validate_agree_on_every_text_field(
        devices in devices(Values::Valid),
        field in 0..8usize,
        text in tricky_text(),
    ) {
        let mut message = Message::ota_create(Serial::new(GATEWAY).unwrap(), devices);
        let Data::OtaCreate(create) = &mut message.data else { unreachable!() };
        let device = &mut create.devices[0];
        if device.file_url.is_none() {
            *device = device.clone().with_file(
                "https://firmware.example.com/p.zip",
                "d41d8cd98f00b204e9800998ecf8427e",
                1,
                "p.zip",
            );
        }
        match field {
            0 => device.sn = text.into(),
            1 => device.product_version = text.into(),
            2 => device.file_url = Some(text.into()),
            3 => device.md5 = Some(text.into()),
            4 => device.file_name = Some(text.into()),
            5 => message.tid = text.parse().unwrap(),
            6 => message.bid = text.parse().unwrap(),
            _ => message.gateway = Some(text.into()),
        }
        prop_assert_eq!(
            schema_error_paths(TopicKind::Services, &canonical_value(&message)),
            stated_violation_paths(&message)
        );
    }
}

// ---- the state push -------------------------------------------------------------------

fn state_validator() -> Validator {
    let entry = index_entries()
        .into_iter()
        .find(|e| e["topic"] == "thing/product/{sn}/state")
        .expect("the state push is in the index");
    assert_eq!(entry["method"], Value::Null, "a state push has no method");
    assert_eq!(entry["without_method"], "topic");
    let schema = read_json(&Path::new(SCHEMAS).join(entry["schema"].as_str().unwrap()));
    jsonschema::draft202012::meta::validate(&schema).expect("a valid draft 2020-12 schema");
    validator(&schema)
}

/// Every state fixture, decoded and re-encoded, passes the schema; the schema refuses
/// the rule-breaking ones and the tolerated spellings the decoder reads.
#[test]
fn the_state_schema_accepts_canonical_pushes_and_refuses_the_others() {
    let validator = state_validator();
    let topic = "thing/product/4TADKAQ000002J/state";
    let fixtures = fixture_files(&fixtures_dir().join("state"));
    assert!(fixtures.len() >= 5);
    for path in &fixtures {
        let push = dji_cloud_ota::decode_state(topic, &fs::read(path).unwrap()).unwrap();
        let canonical: Value = serde_json::from_slice(&push.encode().payload).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&canonical)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
    // Booleans, strings and nulls are read by the decoder, refused by the schema.
    for path in [
        "state/aircraft_java_booleans.json",
        "state/javascript_strings.json",
        "state/python_floats_nulls.json",
    ] {
        let raw = read_json(&fixtures_dir().join(path));
        assert!(!validator.is_valid(&raw), "{path}");
    }
    let broken = fixture_files(&fixtures_dir().join("breaks_a_rule/state"));
    assert_eq!(broken.len(), 2);
    for path in broken {
        assert!(!validator.is_valid(&read_json(&path)), "{}", path.display());
    }
    // The device's other properties are allowed.
    let full = read_json(&fixtures_dir().join("state/dock_full.json"));
    assert!(validator.is_valid(&full));
}
