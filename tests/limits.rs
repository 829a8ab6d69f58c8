//! The limits a server operator relies on when `decode` meets hostile input, as the
//! `limits` module documents them: payload size, nesting depth, integer range, duplicate
//! keys, invalid UTF-8 and lone surrogates. Each ends in its own specific error; nothing
//! panics, and no value is silently changed.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::edit::{objects, parse, pointer_mut, with_entry, with_raw};
use common::{GATEWAY, all_ota_fixtures, fixture, topic};
use dji_cloud_ota::limits::{MAX_PAYLOAD_BYTES, MAX_TEXT_CHARS};
use dji_cloud_ota::{
    Data, DataError, DecodeError, Device, Message, Serial, TopicKind, UpgradeType, decode,
};
use serde_json::Value;

// ---------------------------------------------------------------------------------------
// Allocation accounting, per thread, so that tests running beside each other do not count
// each other's allocations.

struct CountingAllocator;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

fn count(bytes: usize) {
    // `try_with`: the thread-local may be gone while a thread shuts down.
    let _ = ALLOCATED.try_with(|total| total.set(total.get().saturating_add(bytes)));
}

// SAFETY: every call is passed on to the system allocator unchanged; only a counter is
// added.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through `alloc` or `realloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: as for `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// What `f` returns and how many bytes this thread allocated while it ran.
fn allocated_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATED.with(Cell::get);
    let value = f();
    (value, ALLOCATED.with(Cell::get) - before)
}

// ---------------------------------------------------------------------------------------
// Helpers

fn data_error(topic: &str, payload: &[u8]) -> DataError {
    match decode(topic, payload) {
        Err(DecodeError::Data(e)) => *e,
        other => panic!("expected a data error, got {other:?}"),
    }
}

/// Asserts that `plain` with the value at `path` replaced by `raw` is a data error at
/// `path` whose message contains `says`.
fn assert_refused_at(kind: TopicKind, plain: &Value, path: &str, raw: &str, says: &str) {
    let payload = with_raw(plain, path, raw);
    let e = data_error(&topic(kind), payload.as_bytes());
    assert_eq!(e.path, path, "{raw} at {path}");
    assert!(e.message.contains(says), "{raw} at {path}: {}", e.message);
}

/// Asserts that the `hms` fixture with the value at `path` replaced by `raw` is still
/// just not OTA: its data is not read.
fn assert_hms_unread(path: &str, raw: &str) {
    let payload = with_raw(&parse(&fixture("not_ota", "events_hms")), path, raw);
    assert_eq!(
        decode(&topic(TopicKind::Events), payload.as_bytes()),
        Err(DecodeError::NotOta {
            method: Some("hms".into())
        }),
        "{raw} at {path}"
    );
}

/// The canonical fixture of `kind` as a JSON value.
fn canonical(kind: TopicKind) -> Value {
    parse(&fixture(kind.suffix(), "canonical"))
}

/// Every character written as a `\uXXXX` escape (two, as a surrogate pair, beyond the
/// basic plane): the longest spelling JSON has for text. Only non-ASCII characters are
/// escaped, so the JSON structure around them is unchanged.
fn escape_non_ascii(json: &str) -> String {
    let mut out = String::with_capacity(json.len() * 3);
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            for unit in c.encode_utf16(&mut [0; 2]) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Payload size

#[test]
fn a_two_device_ota_create_at_the_text_maxima_fits_however_it_is_escaped() {
    // Every text field of both devices at MAX_TEXT_CHARS characters from beyond the basic
    // plane, each written as a 12-byte escaped surrogate pair: the largest spelling of the
    // largest ota_create the protocol describes.
    let text = |c: char| c.to_string().repeat(MAX_TEXT_CHARS);
    let device = |c: char| {
        Device::new(text(c), text(c), UpgradeType::NORMAL).with_file(
            text(c),
            text(c),
            u64::MAX,
            text(c),
        )
    };
    let message = Message::ota_create(
        Serial::new(GATEWAY).unwrap(),
        vec![device('\u{1F600}'), device('\u{10FFFF}')],
    );
    let encoded = message.encode();
    let escaped = escape_non_ascii(std::str::from_utf8(&encoded.payload).unwrap());
    let ten_fields = 10 * MAX_TEXT_CHARS * 12;
    assert!(
        escaped.len() > ten_fields && escaped.len() <= MAX_PAYLOAD_BYTES,
        "{} bytes; the limit is {MAX_PAYLOAD_BYTES}",
        escaped.len()
    );
    assert_eq!(decode(&encoded.topic, escaped.as_bytes()), Ok(message));
}

#[test]
fn a_valid_two_device_ota_create_at_the_maxima_decodes_and_validates() {
    let wide = |c: char, n: usize| c.to_string().repeat(n);
    let version = format!("1.{}", "0".repeat(MAX_TEXT_CHARS - 2));
    let device = |c: char| {
        Device::new(
            wide(c, MAX_TEXT_CHARS),
            version.clone(),
            UpgradeType::NORMAL,
        )
        .with_file(
            format!("https://{}", wide(c, MAX_TEXT_CHARS - 8)),
            "d41d8cd98f00b204e9800998ecf8427e",
            653_467_234,
            wide(c, MAX_TEXT_CHARS),
        )
    };
    let message = Message::ota_create(
        Serial::new(GATEWAY).unwrap(),
        vec![device('\u{1F600}'), device('\u{1F680}')],
    );
    message.validate().expect("at the maxima, not beyond");
    let encoded = message.encode();
    let escaped = escape_non_ascii(std::str::from_utf8(&encoded.payload).unwrap());
    assert!(escaped.len() <= MAX_PAYLOAD_BYTES, "{}", escaped.len());
    let decoded = decode(&encoded.topic, escaped.as_bytes()).unwrap();
    assert_eq!(decoded, message);
    assert_eq!(decoded.validate(), Ok(()));
}

#[test]
fn the_limit_itself_is_read_and_one_byte_more_is_refused() {
    let mut at_limit = fixture("events", "canonical");
    at_limit.resize(MAX_PAYLOAD_BYTES, b' ');
    assert!(decode(&topic(TopicKind::Events), &at_limit).is_ok());
    at_limit.push(b' ');
    assert_eq!(
        decode(&topic(TopicKind::Events), &at_limit),
        Err(DecodeError::TooLarge {
            len: MAX_PAYLOAD_BYTES + 1,
            max: MAX_PAYLOAD_BYTES
        })
    );
}

#[test]
fn a_far_larger_payload_is_refused_before_any_allocation_proportional_to_it() {
    // 64 MiB of what is neither UTF-8 nor JSON: refused for its size alone.
    let payload = vec![0xff_u8; 32 * MAX_PAYLOAD_BYTES];
    let (result, bytes) = allocated_during(|| decode(&topic(TopicKind::Events), &payload));
    assert_eq!(
        result,
        Err(DecodeError::TooLarge {
            len: payload.len(),
            max: MAX_PAYLOAD_BYTES
        })
    );
    assert!(bytes < 1024, "decode allocated {bytes} bytes");

    // The counter counts: a payload within the limit is copied into the message.
    let (result, bytes) =
        allocated_during(|| decode(&topic(TopicKind::Events), &fixture("events", "canonical")));
    assert!(result.is_ok());
    let _ = bytes; // small, but not necessarily zero: the ids and strings are kept
    let (_, bytes) = allocated_during(|| vec![0_u8; 4096]);
    assert!(
        bytes >= 4096,
        "the allocation counter does not count: {bytes}"
    );
}

// ---------------------------------------------------------------------------------------
// Nesting depth

/// `levels` nested arrays around `1`: `[[[1]]]`.
fn nested_arrays(levels: usize) -> String {
    format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
}

/// `levels` nested objects: `{"a":{"a":1}}`.
fn nested_objects(levels: usize) -> String {
    format!("{}1{}", r#"{"a":"#.repeat(levels), "}".repeat(levels))
}

#[test]
fn deep_nesting_that_is_skipped_is_read_without_recursion() {
    // As deep as the payload limit allows: a million arrays, 300,000 objects.
    let deep = [nested_arrays(1_000_000), nested_objects(300_000)];
    for kind in TopicKind::ALL {
        let plain = canonical(kind);
        let message = decode(&topic(kind), plain.to_string().as_bytes()).unwrap();
        for value in &deep {
            for path in [".", "data"] {
                let payload = with_entry(&plain, path, "unknown", value);
                assert!(payload.len() <= MAX_PAYLOAD_BYTES);
                assert_eq!(
                    decode(&topic(kind), payload.as_bytes()).as_ref(),
                    Ok(&message),
                    "{kind}: deep value beside {path}"
                );
            }
        }
    }
    // The data of a non-OTA message is not read at all.
    for value in &deep {
        assert_hms_unread("data", value);
    }
}

#[test]
fn deep_nesting_in_place_of_a_field_is_refused_at_its_first_level() {
    // (kind, path, whether the field is an object): a deep map in place of an object is
    // read as that object, its one key unknown and skipped, so a field is missing.
    let cases = [
        (TopicKind::Events, "data.output.progress.percent", false),
        (TopicKind::Events, "data.output.status", false),
        (TopicKind::Events, "data.output.progress", true),
        (TopicKind::Events, "data.output", true),
        (TopicKind::Events, "timestamp", false),
        (TopicKind::Events, "tid", false),
        (TopicKind::Events, "need_reply", false),
        (TopicKind::Services, "data.devices", false),
        (TopicKind::Services, "data.devices[0]", true),
        (TopicKind::Services, "data.devices[0].file_size", false),
        (TopicKind::ServicesReply, "data.output.status", false),
        (TopicKind::EventsReply, "data.result", false),
    ];
    for (kind, path, is_object) in cases {
        // Far beyond serde_json's recursion limit of 128 levels.
        for (value, shape) in [
            (nested_arrays(100_000), "sequence"),
            (nested_objects(100_000), "map"),
        ] {
            let payload = with_raw(&canonical(kind), path, &value);
            let e = data_error(&topic(kind), payload.as_bytes());
            let (at, expected) = match (path, shape) {
                // `devices` is a sequence: a deep one is refused at its first element.
                ("data.devices", "sequence") => ("data.devices[0]", "invalid type: sequence"),
                (_, "map") if is_object => (path, "missing field"),
                (_, "map") => (path, "invalid type: map"),
                _ => (path, "invalid type: sequence"),
            };
            assert_eq!(e.path, at, "{kind}: {shape} at {path}");
            assert!(
                e.message.contains(expected),
                "{kind}: {shape} at {path}: {}",
                e.message
            );
        }
    }
}

#[test]
fn a_payload_that_is_only_deep_nesting_is_a_data_error_or_a_syntax_error() {
    let events = topic(TopicKind::Events);
    let e = data_error(&events, nested_arrays(1_000_000).as_bytes());
    assert_eq!(e.path, ".");
    assert!(
        e.message.contains("invalid type: sequence"),
        "{}",
        e.message
    );
    // Unclosed: the grammar check reaches the end of the payload without recursion.
    let open = "[".repeat(MAX_PAYLOAD_BYTES);
    let err = decode(&events, open.as_bytes()).unwrap_err();
    assert!(
        matches!(err, DecodeError::Syntax { ref message, .. } if message.contains("EOF")),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Integer range

/// Every integer field of the protocol: its kind, fixture, path and whether it is
/// unsigned (`u64`) or signed (`i64`).
const INTEGER_FIELDS: [(TopicKind, &str, &str, bool); 9] = [
    (TopicKind::Events, "canonical", "timestamp", true),
    (
        TopicKind::Services,
        "canonical",
        "data.devices[0].file_size",
        true,
    ),
    (TopicKind::Events, "canonical", "data.output.ext.rate", true),
    (
        TopicKind::Events,
        "canonical",
        "data.output.progress.percent",
        false,
    ),
    (TopicKind::Events, "canonical", "data.result", false),
    (
        TopicKind::Events,
        "step_result",
        "data.output.progress.step_result",
        false,
    ),
    (
        TopicKind::Services,
        "canonical",
        "data.devices[0].firmware_upgrade_type",
        false,
    ),
    (TopicKind::ServicesReply, "canonical", "data.result", false),
    (TopicKind::EventsReply, "canonical", "data.result", false),
];

#[test]
fn an_integer_beyond_its_type_is_out_of_range_never_wrapped_or_truncated() {
    let unsigned = [
        "18446744073709551616",
        "-1",
        "-9223372036854775809",
        "100000000000000000000000000000",
        "1e20",
        "1e400",
        "-1e400",
        r#""18446744073709551616""#,
        r#""-1""#,
        r#""99999999999999999999999999999999""#,
    ];
    let signed = [
        "9223372036854775808",
        "18446744073709551615",
        "-9223372036854775809",
        "1e19",
        "-1e19",
        "1e400",
        r#""9223372036854775808""#,
        r#""-9223372036854775809""#,
    ];
    for (kind, name, path, is_unsigned) in INTEGER_FIELDS {
        let plain = parse(&fixture(kind.suffix(), name));
        for raw in if is_unsigned {
            &unsigned[..]
        } else {
            &signed[..]
        } {
            assert_refused_at(kind, &plain, path, raw, "out of range");
        }
    }
}

#[test]
fn the_extreme_integers_that_fit_are_kept_exactly() {
    let unsigned = [
        ("18446744073709551615", u64::MAX as i128),
        (r#""18446744073709551615""#, u64::MAX as i128),
        ("0", 0),
        (r#""-0""#, 0),
    ];
    let signed = [
        ("9223372036854775807", i64::MAX as i128),
        ("-9223372036854775808", i64::MIN as i128),
        (r#""-9223372036854775808""#, i64::MIN as i128),
        (r#""9223372036854775807""#, i64::MAX as i128),
    ];
    for (kind, name, path, is_unsigned) in INTEGER_FIELDS {
        let plain = parse(&fixture(kind.suffix(), name));
        for (raw, expected) in if is_unsigned {
            &unsigned[..]
        } else {
            &signed[..]
        } {
            let payload = with_raw(&plain, path, raw);
            let message = decode(&topic(kind), payload.as_bytes())
                .unwrap_or_else(|e| panic!("{raw} at {path}: {e}"));
            // Read back from the canonical encoding, where integers are JSON numbers.
            let mut encoded = parse(&message.encode().payload);
            let value = pointer_mut(&mut encoded, path).unwrap().clone();
            let got = value
                .as_u64()
                .map(i128::from)
                .or(value.as_i64().map(i128::from));
            assert_eq!(got, Some(*expected), "{raw} at {path}");
        }
    }
}

#[test]
fn a_number_that_is_not_an_integer_is_refused_not_rounded() {
    for (kind, name, path, _) in INTEGER_FIELDS {
        let plain = parse(&fixture(kind.suffix(), name));
        // A fraction finer than a 64-bit float holds (`0.999999999999999999999`) is
        // read as the whole number it rounds to, as serde_json reads it (limits module).
        for raw in ["1.5", "0.9999999", "1e-3", r#""1.0""#, r#""1e3""#] {
            assert_refused_at(kind, &plain, path, raw, "invalid value");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Duplicate keys

/// The keys the protocol defines in the object at `path` of a message of `kind`, each
/// with its canonical name (the one a duplicate is reported under). `None` for an object
/// the crate does not read (the value of an unknown key).
fn known_keys(kind: TopicKind, path: &str) -> Option<&'static [(&'static str, &'static str)]> {
    let device_path = path.starts_with("data.devices[") && path.ends_with(']');
    Some(match (kind, path) {
        (_, ".") => &[
            ("tid", "tid"),
            ("bid", "bid"),
            ("timestamp", "timestamp"),
            ("timestamp:", "timestamp"),
            ("method", "method"),
            ("gateway", "gateway"),
            ("need_reply", "need_reply"),
            ("data", "data"),
        ],
        (TopicKind::Services, "data") => &[("devices", "devices")],
        (TopicKind::Services, _) if device_path => &[
            ("sn", "sn"),
            ("product_version", "product_version"),
            ("file_url", "file_url"),
            ("md5", "md5"),
            ("file_size", "file_size"),
            ("file_name", "file_name"),
            ("firmware_upgrade_type", "firmware_upgrade_type"),
        ],
        (TopicKind::ServicesReply, "data") => &[("result", "result"), ("output", "output")],
        (TopicKind::ServicesReply, "data.output") => &[("status", "status")],
        (TopicKind::Events, "data") => &[("result", "result"), ("output", "output")],
        (TopicKind::Events, "data.output") => &[
            ("status", "status"),
            ("stauts", "status"),
            ("progress", "progress"),
            ("ext", "ext"),
            ("sub_status", "sub_status"),
        ],
        (TopicKind::Events, "data.output.progress") => &[
            ("percent", "percent"),
            ("step_key", "step_key"),
            ("current_step", "step_key"),
            ("step_result", "step_result"),
        ],
        (TopicKind::Events, "data.output.ext") => &[("rate", "rate")],
        (TopicKind::EventsReply, "data") => &[("result", "result")],
        _ => return None,
    })
}

/// The name a duplicate of `key` in the object at `path` is reported under, if the
/// crate reads that key.
fn canonical_name(kind: TopicKind, path: &str, key: &str) -> Option<&'static str> {
    known_keys(kind, path)?
        .iter()
        .find(|(spelling, _)| *spelling == key)
        .map(|(_, canonical)| *canonical)
}

/// What `decode` must answer for a fixture with `key` written once more in the object
/// at `path` (as itself, or as another spelling of a key that is there).
fn expect_duplicate(kind: TopicKind, name: &str, original: &Value, path: &str, key: &str) {
    let has_method = original.get("method").is_some();
    let canonical = canonical_name(kind, path, key);
    let objects = objects(original);
    let (_, object) = objects.iter().find(|(p, _)| p == path).unwrap();
    // The duplicate repeats the value of the key it duplicates.
    let (_, value) = object
        .iter()
        .find(|(k, _)| {
            *k == key || (canonical.is_some() && canonical_name(kind, path, k) == canonical)
        })
        .unwrap();
    let payload = with_entry(original, path, key, &value.to_string());
    let result = decode(&topic(kind), payload.as_bytes());
    let context = format!("{kind}/{name}: {key:?} twice in {path}");
    match canonical {
        // A method-less payload is OTA only if its data decodes as the topic's message.
        Some(_) if !has_method && path != "." => {
            assert_eq!(
                result,
                Err(DecodeError::NotOta { method: None }),
                "{context}"
            );
        }
        Some(canonical) => {
            let Err(DecodeError::Data(e)) = result else {
                panic!("{context}: {result:?}")
            };
            assert_eq!(e.path, path, "{context}");
            assert_eq!(
                e.message,
                format!("duplicate field `{canonical}`"),
                "{context}"
            );
        }
        // An unknown key is ignored, and so is its second occurrence.
        None => {
            let plain = decode(&topic(kind), original.to_string().as_bytes());
            assert_eq!(result, plain, "{context}");
        }
    }
}

#[test]
fn every_key_twice_is_a_duplicate_field_error_and_unknown_keys_are_ignored() {
    let mut known_pairs = 0;
    for (kind, name, bytes) in all_ota_fixtures() {
        let original = parse(&bytes);
        for (path, object) in objects(&original) {
            for key in object.keys() {
                expect_duplicate(kind, &name, &original, &path, key);
                known_pairs += usize::from(known_keys(kind, &path).is_some());
            }
        }
    }
    assert!(known_pairs > 300, "only {known_pairs} keys tried");
}

#[test]
fn two_spellings_of_one_key_are_a_duplicate_field_error() {
    let mut tried = Vec::new();
    for (kind, name, bytes) in all_ota_fixtures() {
        let original = parse(&bytes);
        for (path, object) in objects(&original) {
            let Some(keys) = known_keys(kind, &path) else {
                continue;
            };
            for key in object.keys() {
                let Some((_, canonical)) = keys.iter().find(|(k, _)| k == key) else {
                    continue;
                };
                // Every other spelling of the same key.
                for (other, _) in keys.iter().filter(|(k, c)| c == canonical && k != key) {
                    expect_duplicate(kind, &name, &original, &path, other);
                    tried.push(format!("{key}+{other}"));
                }
            }
        }
    }
    for pair in [
        "timestamp+timestamp:",
        "timestamp:+timestamp",
        "status+stauts",
        "stauts+status",
        "step_key+current_step",
        "current_step+step_key",
    ] {
        assert!(tried.iter().any(|t| t == pair), "{pair} never tried");
    }
}

#[test]
fn duplicates_in_a_non_ota_message_are_not_looked_for() {
    for (name, topic) in [
        ("events_hms", topic(TopicKind::Events)),
        ("events_hms_no_method", topic(TopicKind::Events)),
        ("services_flighttask_prepare", topic(TopicKind::Services)),
        ("osd", format!("thing/product/{GATEWAY}/osd")),
    ] {
        let original = parse(&fixture("not_ota", name));
        let expected = decode(&topic, original.to_string().as_bytes());
        assert!(
            matches!(expected, Err(DecodeError::NotOta { .. })),
            "{name}"
        );
        for (path, object) in objects(&original) {
            if path == "." {
                continue;
            }
            for (key, value) in object {
                let payload = with_entry(&original, &path, key, &value.to_string());
                assert_eq!(
                    decode(&topic, payload.as_bytes()),
                    expected,
                    "{name}: {key} twice in {path}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Invalid UTF-8

/// Byte sequences that are not UTF-8: a lone continuation byte, an overlong `/`, a
/// UTF-16 surrogate encoded as UTF-8, a code point beyond U+10FFFF, a sequence cut
/// short, and bytes no UTF-8 text holds.
const NOT_UTF8: [&[u8]; 7] = [
    b"\x80",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xe2\x82",
    b"\xfe",
    b"\xff",
];

#[test]
fn invalid_utf8_anywhere_is_refused_with_its_offset() {
    for kind in TopicKind::ALL {
        let text = fixture(kind.suffix(), "canonical");
        // Inside a string the crate reads, inside an unknown key's value, as a key, and
        // after the message: everywhere, the payload is refused as a whole.
        let plain = parse(&text);
        let places = [
            with_raw(&plain, "tid", r#""ab@cd""#),
            with_entry(&plain, "data", "unknown", r#""ab@cd""#),
            with_entry(&plain, ".", "@", "1"),
            format!("{plain} @"),
        ];
        for place in places {
            for bad in NOT_UTF8 {
                let at = place.find('@').unwrap();
                let mut payload = place.as_bytes().to_vec();
                payload.splice(at..=at, bad.iter().copied());
                assert_eq!(
                    decode(&topic(kind), &payload),
                    Err(DecodeError::InvalidUtf8 {
                        offset: at,
                        line: 1,
                        column: at + 1
                    }),
                    "{kind}: {bad:x?} at {at}"
                );
            }
        }
    }
}

#[test]
fn invalid_utf8_on_a_later_line_gives_line_and_column() {
    let mut payload = fixture("events", "current_step");
    let text = String::from_utf8(payload.clone()).unwrap();
    let at = text.find("upgrade_firmware").unwrap();
    payload[at] = 0xc0;
    let line_start = text[..at].rfind('\n').unwrap() + 1;
    let line = 1 + text[..at].matches('\n').count();
    assert_eq!(
        decode(&topic(TopicKind::Events), &payload),
        Err(DecodeError::InvalidUtf8 {
            offset: at,
            line,
            column: at - line_start + 1
        })
    );
}

// ---------------------------------------------------------------------------------------
// Lone surrogates

/// Strings with half a UTF-16 surrogate pair: valid JSON grammar, but not text.
const LONE_SURROGATES: [&str; 6] = [
    r#""\ud800""#,
    r#""\udc00""#,
    r#""\uDBFF\u0041""#,
    r#""ok\ud83d""#,
    r#""\ude00\ud83d""#,
    r#""\ud800\ud800""#,
];

/// Every string the crate reads, by kind and path.
const TEXT_FIELDS: [(TopicKind, &str); 14] = [
    (TopicKind::Events, "tid"),
    (TopicKind::Events, "bid"),
    (TopicKind::Events, "method"),
    (TopicKind::Events, "gateway"),
    (TopicKind::Events, "data.output.status"),
    (TopicKind::Events, "data.output.progress.step_key"),
    (TopicKind::Services, "data.devices[0].sn"),
    (TopicKind::Services, "data.devices[0].product_version"),
    (TopicKind::Services, "data.devices[0].file_url"),
    (TopicKind::Services, "data.devices[0].md5"),
    (TopicKind::Services, "data.devices[0].file_name"),
    (TopicKind::ServicesReply, "data.output.status"),
    (TopicKind::EventsReply, "tid"),
    (TopicKind::ServicesReply, "bid"),
];

#[test]
fn a_lone_surrogate_in_a_field_the_crate_reads_is_a_data_error_at_its_path() {
    let mut fields: Vec<(TopicKind, Value, &str)> = TEXT_FIELDS
        .iter()
        .map(|(kind, path)| (*kind, canonical(*kind), *path))
        .collect();
    fields.push((
        TopicKind::Events,
        parse(&fixture("events", "clone_sub_status")),
        "data.output.sub_status",
    ));
    for (kind, plain, path) in fields {
        for raw in LONE_SURROGATES {
            assert_refused_at(kind, &plain, path, raw, "lone UTF-16 surrogate");
        }
    }
}

#[test]
fn a_lone_surrogate_in_a_key_is_a_data_error() {
    for kind in TopicKind::ALL {
        for path in [".", "data"] {
            for raw in LONE_SURROGATES {
                let payload =
                    with_entry(&canonical(kind), path, "@key", "1").replace(r#""@key""#, raw);
                let e = data_error(&topic(kind), payload.as_bytes());
                assert!(
                    e.message.starts_with("lone UTF-16 surrogate"),
                    "{raw} as a key in {path}: {}",
                    e.message
                );
            }
        }
    }
}

#[test]
fn a_lone_surrogate_where_nothing_is_read_is_skipped() {
    for kind in TopicKind::ALL {
        let plain = canonical(kind);
        let message = decode(&topic(kind), plain.to_string().as_bytes()).unwrap();
        for raw in LONE_SURROGATES {
            for path in [".", "data"] {
                let nested = format!(r#"{{"list":[{raw},{{"k":{raw}}}]}}"#);
                for value in [raw, nested.as_str()] {
                    let payload = with_entry(&plain, path, "unknown", value);
                    assert_eq!(
                        decode(&topic(kind), payload.as_bytes()).as_ref(),
                        Ok(&message),
                        "{kind}: {value} beside {path}"
                    );
                }
            }
        }
    }
    for raw in LONE_SURROGATES {
        assert_hms_unread("data.list[0].code", raw);
    }
}

#[test]
fn a_lone_surrogate_in_a_method_less_payload_makes_it_not_ota() {
    let plain = parse(&fixture("events", "no_method"));
    for raw in LONE_SURROGATES {
        let payload = with_raw(&plain, "data.output.status", raw);
        assert_eq!(
            decode(&topic(TopicKind::Events), payload.as_bytes()),
            Err(DecodeError::NotOta { method: None })
        );
        // In the envelope, which is read whatever the method, it is the same data error.
        let payload = with_raw(&plain, "tid", raw);
        let e = data_error(&topic(TopicKind::Events), payload.as_bytes());
        assert_eq!(e.path, "tid");
    }
}

#[test]
fn a_whole_surrogate_pair_is_one_character_kept_exactly() {
    let plain = canonical(TopicKind::Events);
    let payload = with_raw(&plain, "data.output.status", r#""\ud83d\ude00\u00e9""#);
    let message = decode(&topic(TopicKind::Events), payload.as_bytes()).unwrap();
    let Data::OtaProgress(event) = &message.data else {
        unreachable!()
    };
    assert_eq!(event.output.status.as_str(), "\u{1F600}\u{e9}");
}
