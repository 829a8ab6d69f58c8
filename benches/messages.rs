//! Every message kind through the public API, beside the baselines on the same bytes:
//! `IgnoredAny` (serde_json reads every byte and builds nothing: the floor for any
//! serde_json-based decoder), a plain `#[derive(Deserialize)]` struct of the same fields
//! (what a decoder with no tolerance at all costs, so that the price of the tolerant
//! types can be read off), the same struct written back by serde_json (what writing the
//! fields costs at the least: the baseline of `encode_into`) and `serde_json::Value`. `benches/report.py` turns the results
//! into ratios to the floor (BENCHMARKS.md).
//!
//! Groups: one per payload (`ota_progress`, `ota_progress_pretty`,
//! `ota_progress_every_quirk`, `ota_progress_java_order`, `ota_progress_dock_docs`,
//! `ota_create`, `ota_create_pretty`, `ota_create_reply`, `ota_create_reply_pretty`,
//! `events_reply`, `events_reply_pretty`), each with `floor_ignored_any`,
//! `serde_json_value`, `plain_derive` and `plain_serialize` (where a plain derive can read
//! the bytes), `decode`,
//! `encode`, `encode_into` and `validate`; `hms_refusal` (an `hms` event on the events
//! topic, refused as not OTA) with `floor_ignored_any` and `decode`; `state_push` (a
//! dock's full state push read by `decode_state`, and written); and `topic`.

use std::hint::black_box;
use std::path::Path;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use dji_cloud_ota::{Serial, Topic, TopicKind, decode};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

const GATEWAY: &str = "4TADKAQ000002J";

fn fixture_path(relative: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(relative)
}

fn read(relative: &str) -> Vec<u8> {
    let path = fixture_path(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture(kind: TopicKind, name: &str) -> Vec<u8> {
    read(&format!("{}/{name}.json", kind.suffix()))
}

fn topic(kind: TopicKind) -> String {
    format!("thing/product/{GATEWAY}/{}", kind.suffix())
}

/// The same message with a newline and two spaces of indentation per level between
/// tokens, `": "` after keys, and nothing else changed: the keys stay in their order.
/// (A round trip through `serde_json::Value` would sort them, since serde_json is built
/// without `preserve_order` here, and turn the canonical order into the alphabetical
/// one: that shape has a group of its own, `ota_progress_dock_docs`.)
fn pretty(bytes: &[u8]) -> Vec<u8> {
    // The tokens alone: whitespace outside strings dropped.
    let mut tokens = Vec::with_capacity(bytes.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in bytes {
        if in_string {
            tokens.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if !b.is_ascii_whitespace() {
            in_string = b == b'"';
            tokens.push(b);
        }
    }
    fn newline(out: &mut Vec<u8>, depth: usize) {
        out.push(b'\n');
        out.resize(out.len() + 2 * depth, b' ');
    }
    let mut out = Vec::with_capacity(tokens.len() * 2);
    let mut depth = 0;
    let (mut in_string, mut escaped) = (false, false);
    let mut i = 0;
    while i < tokens.len() {
        let b = tokens[i];
        i += 1;
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                out.push(b);
            }
            b'{' | b'[' => {
                out.push(b);
                if let Some(&close @ (b'}' | b']')) = tokens.get(i) {
                    out.push(close);
                    i += 1;
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            b'}' | b']' => {
                depth -= 1;
                newline(&mut out, depth);
                out.push(b);
            }
            b',' => {
                out.push(b);
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            _ => out.push(b),
        }
    }
    let same = |a: &[u8], b: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(a).unwrap()
            == serde_json::from_slice::<serde_json::Value>(b).unwrap()
    };
    assert!(same(bytes, &out), "pretty changed the message");
    out
}

// The plain structs: the fields of each message with no tolerance at all (no strings
// for numbers, no booleans for `need_reply`, no `"timestamp:"`, no `stauts`), read by
// serde_json's derived impls, text borrowed from the payload (the benchmarked payloads
// have no escapes). One alias only, `current_step` for `step_key`, so that the
// Dock-documentation shape can be read; it costs nothing measurable on the others.
// Written back (`plain_serialize`), absent options are left out, as the crate does.

#[derive(Deserialize, Serialize)]
struct PlainEnvelope<'a, D> {
    tid: &'a str,
    bid: &'a str,
    timestamp: u64,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    method: Option<&'a str>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    gateway: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    need_reply: Option<u8>,
    data: D,
}

/// `data` of `ota_create`.
#[derive(Deserialize, Serialize)]
struct PlainCreate<'a> {
    #[serde(borrow)]
    devices: Vec<PlainDevice<'a>>,
}

#[derive(Deserialize, Serialize)]
struct PlainDevice<'a> {
    sn: &'a str,
    product_version: &'a str,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    file_url: Option<&'a str>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    md5: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_size: Option<u64>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    file_name: Option<&'a str>,
    firmware_upgrade_type: i64,
}

/// `data` of `ota_progress`.
#[derive(Deserialize, Serialize)]
struct PlainProgress<'a> {
    result: i64,
    #[serde(borrow)]
    output: PlainProgressOutput<'a>,
}

#[derive(Deserialize, Serialize)]
struct PlainProgressOutput<'a> {
    status: &'a str,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    progress: Option<PlainStep<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ext: Option<PlainExt>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    sub_status: Option<&'a str>,
}

#[derive(Deserialize, Serialize)]
struct PlainStep<'a> {
    percent: i64,
    #[serde(
        borrow,
        alias = "current_step",
        skip_serializing_if = "Option::is_none"
    )]
    step_key: Option<&'a str>,
}

#[derive(Deserialize, Serialize)]
struct PlainExt {
    #[serde(skip_serializing_if = "Option::is_none")]
    rate: Option<u64>,
}

/// `data` of both replies: `ota_create`'s and the `events_reply`.
#[derive(Deserialize, Serialize)]
struct PlainReply<'a> {
    result: i64,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    output: Option<PlainReplyOutput<'a>>,
}

#[derive(Deserialize, Serialize)]
struct PlainReplyOutput<'a> {
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    status: Option<&'a str>,
}

/// Whether the group gets a `plain_derive` function.
#[derive(Clone, Copy)]
enum Plain {
    /// The plain structs of the topic read the payload.
    Derive,
    /// They cannot: no `plain_derive` in the group (the reason is at the call).
    Unreadable,
}

/// `plain_derive`: serde_json reads `payload` into the plain envelope with `data` as `D`.
/// Checked once, outside the timed loop, that the read succeeds.
fn plain_derive<'p, D: Deserialize<'p>>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    payload: &'p [u8],
) -> PlainEnvelope<'p, D> {
    let plain = serde_json::from_slice::<PlainEnvelope<'p, D>>(payload).unwrap_or_else(|e| {
        panic!(
            "{}: the plain structs do not read the payload: {e}",
            std::any::type_name::<D>()
        )
    });
    group.bench_function("plain_derive", |b| {
        b.iter(|| serde_json::from_slice::<PlainEnvelope<'p, D>>(black_box(payload)).unwrap())
    });
    plain
}

/// `plain_serialize`: serde_json writes the plain envelope read by [`plain_derive`] into
/// a reused buffer, the baseline of `encode_into`.
fn plain_serialize<D: Serialize>(group: &mut BenchmarkGroup<'_, WallTime>, plain: &D) {
    let mut buf = Vec::with_capacity(4096);
    group.bench_function("plain_serialize", |b| {
        b.iter(|| {
            buf.clear();
            serde_json::to_writer(&mut buf, black_box(plain)).unwrap();
        })
    });
}

/// Decode, its baselines, encode (fresh and into a reused buffer) and validate, for one
/// payload, in the group `name`.
fn message_group(c: &mut Criterion, name: &str, kind: TopicKind, payload: &[u8], plain: Plain) {
    let topic = topic(kind);
    let message = decode(&topic, payload).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut group = c.benchmark_group(name);
    group.bench_function("floor_ignored_any", |b| {
        b.iter(|| serde_json::from_slice::<IgnoredAny>(black_box(payload)).unwrap())
    });
    group.bench_function("serde_json_value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(payload)).unwrap())
    });
    match (plain, kind) {
        (Plain::Unreadable, _) => {}
        (Plain::Derive, TopicKind::Services) => {
            let plain = plain_derive::<PlainCreate<'_>>(&mut group, payload);
            plain_serialize(&mut group, &plain);
        }
        (Plain::Derive, TopicKind::Events) => {
            let plain = plain_derive::<PlainProgress<'_>>(&mut group, payload);
            plain_serialize(&mut group, &plain);
        }
        (Plain::Derive, TopicKind::ServicesReply | TopicKind::EventsReply) => {
            let plain = plain_derive::<PlainReply<'_>>(&mut group, payload);
            plain_serialize(&mut group, &plain);
        }
    }
    group.bench_function("decode", |b| {
        b.iter(|| decode(black_box(&topic), black_box(payload)).unwrap())
    });
    group.bench_function("encode", |b| b.iter(|| black_box(&message).encode()));
    let mut buf = Vec::with_capacity(4096);
    group.bench_function("encode_into", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&message).encode_payload_into(&mut buf);
        })
    });
    group.bench_function("validate", |b| b.iter(|| black_box(&message).validate()));
    group.finish();
}

fn messages(c: &mut Criterion) {
    let progress = fixture(TopicKind::Events, "canonical");
    message_group(
        c,
        "ota_progress",
        TopicKind::Events,
        &progress,
        Plain::Derive,
    );
    message_group(
        c,
        "ota_progress_pretty",
        TopicKind::Events,
        &pretty(&progress),
        Plain::Derive,
    );
    // No plain_derive: integers as strings (`"timestamp:":"1700000900000"`,
    // `"result":"0"`, `"percent":"42"`, `"rate":"2097152"`) and `"need_reply":true`,
    // which no alias can make a plain integer field read.
    message_group(
        c,
        "ota_progress_every_quirk",
        TopicKind::Events,
        &fixture(TopicKind::Events, "every_quirk"),
        Plain::Unreadable,
    );
    // The key order of DJI's Java SDK: `data` before `method`. No plain_derive: the step
    // is a number (`"current_step":1`), which a text `step_key` cannot read, alias or not.
    message_group(
        c,
        "ota_progress_java_order",
        TopicKind::Events,
        &fixture(TopicKind::Events, "java_sdk_order"),
        Plain::Unreadable,
    );
    // The shape of DJI's Dock documentation: keys in alphabetical order, no `method`,
    // `current_step` (read by the plain structs through their one alias).
    message_group(
        c,
        "ota_progress_dock_docs",
        TopicKind::Events,
        &fixture(TopicKind::Events, "dock_docs_alphabetical"),
        Plain::Derive,
    );
    let create = fixture(TopicKind::Services, "two_devices");
    message_group(c, "ota_create", TopicKind::Services, &create, Plain::Derive);
    message_group(
        c,
        "ota_create_pretty",
        TopicKind::Services,
        &pretty(&create),
        Plain::Derive,
    );
    let create_reply = fixture(TopicKind::ServicesReply, "canonical");
    message_group(
        c,
        "ota_create_reply",
        TopicKind::ServicesReply,
        &create_reply,
        Plain::Derive,
    );
    message_group(
        c,
        "ota_create_reply_pretty",
        TopicKind::ServicesReply,
        &pretty(&create_reply),
        Plain::Derive,
    );
    let events_reply = fixture(TopicKind::EventsReply, "canonical");
    message_group(
        c,
        "events_reply",
        TopicKind::EventsReply,
        &events_reply,
        Plain::Derive,
    );
    message_group(
        c,
        "events_reply_pretty",
        TopicKind::EventsReply,
        &pretty(&events_reply),
        Plain::Derive,
    );
}

/// An `hms` event (333 bytes) on the events topic: another method on an OTA topic,
/// refused as not OTA, beside the floor on the same bytes.
fn hms_refusal(c: &mut Criterion) {
    let hms = read("not_ota/events_hms.json");
    let topic = topic(TopicKind::Events);
    let refusal = decode(&topic, &hms).expect_err("an hms event is not OTA");
    assert!(
        refusal.is_not_ota(),
        "hms refused for another reason: {refusal}"
    );
    let mut group = c.benchmark_group("hms_refusal");
    group.bench_function("floor_ignored_any", |b| {
        b.iter(|| serde_json::from_slice::<IgnoredAny>(black_box(&hms)).unwrap())
    });
    group.bench_function("decode", |b| {
        b.iter(|| decode(black_box(&topic), black_box(&hms)).unwrap_err())
    });
    group.finish();
}

/// A dock's full state push (about forty properties): its three firmware properties
/// read, everything else skipped, beside the floor on the same bytes.
fn state_push(c: &mut Criterion) {
    let payload = read("state/dock_full.json");
    let topic = "thing/product/4TADKAQ000002J/state";
    let push = dji_cloud_ota::decode_state(topic, &payload).unwrap();
    let mut group = c.benchmark_group("state_push");
    group.bench_function("floor_ignored_any", |b| {
        b.iter(|| serde_json::from_slice::<IgnoredAny>(black_box(&payload)).unwrap())
    });
    group.bench_function("serde_json_value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&payload)).unwrap())
    });
    group.bench_function("decode", |b| {
        b.iter(|| dji_cloud_ota::decode_state(black_box(topic), black_box(&payload)).unwrap())
    });
    group.bench_function("encode", |b| b.iter(|| black_box(&push).encode()));
    group.finish();
}

fn topics(c: &mut Criterion) {
    let sn = Serial::new(GATEWAY).unwrap();
    let mut group = c.benchmark_group("topic");
    group.bench_function("build", |b| {
        b.iter(|| Topic::new(black_box(&sn).clone(), TopicKind::Events).to_string())
    });
    let text = topic(TopicKind::Events);
    group.bench_function("parse", |b| {
        b.iter(|| Topic::parse(black_box(&text)).unwrap())
    });
    group.bench_function("decode_not_ota_topic", |b| {
        b.iter(|| decode(black_box("thing/product/4TADKAQ000002J/osd"), b"{}").unwrap_err())
    });
    group.finish();
}

criterion_group!(benches, messages, hms_refusal, state_push, topics);
criterion_main!(benches);
