//! Every message kind through the public API, beside the baselines on the same bytes:
//! `IgnoredAny` (serde_json reads every byte and builds nothing: the floor for any
//! serde_json-based decoder) and `serde_json::Value`. `benches/report.py` turns the
//! results into ratios to the floor (BENCHMARKS.md).

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use dji_cloud_ota::{Serial, Topic, TopicKind, decode};
use serde::de::IgnoredAny;

const GATEWAY: &str = "4TADKAQ000002J";

fn fixture(kind: TopicKind, name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind.suffix())
        .join(format!("{name}.json"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The same message with a newline and indentation between tokens.
fn pretty(bytes: &[u8]) -> Vec<u8> {
    let value: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    serde_json::to_vec_pretty(&value).unwrap()
}

/// Decode, its baselines, encode (fresh and into a reused buffer) and validate, for one
/// payload, in the group `name`.
fn message_group(c: &mut Criterion, name: &str, kind: TopicKind, payload: &[u8]) {
    let topic = format!("thing/product/{GATEWAY}/{}", kind.suffix());
    let message = decode(&topic, payload).unwrap();
    let mut group = c.benchmark_group(name);
    group.bench_function("floor_ignored_any", |b| {
        b.iter(|| serde_json::from_slice::<IgnoredAny>(black_box(payload)).unwrap())
    });
    group.bench_function("serde_json_value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(payload)).unwrap())
    });
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
    message_group(c, "ota_progress", TopicKind::Events, &progress);
    message_group(
        c,
        "ota_progress_pretty",
        TopicKind::Events,
        &pretty(&progress),
    );
    message_group(
        c,
        "ota_progress_every_quirk",
        TopicKind::Events,
        &fixture(TopicKind::Events, "every_quirk"),
    );
    let create = fixture(TopicKind::Services, "two_devices");
    message_group(c, "ota_create", TopicKind::Services, &create);
    message_group(
        c,
        "ota_create_pretty",
        TopicKind::Services,
        &pretty(&create),
    );
    let create_reply = fixture(TopicKind::ServicesReply, "canonical");
    message_group(
        c,
        "ota_create_reply",
        TopicKind::ServicesReply,
        &create_reply,
    );
    message_group(
        c,
        "ota_create_reply_pretty",
        TopicKind::ServicesReply,
        &pretty(&create_reply),
    );
    let events_reply = fixture(TopicKind::EventsReply, "canonical");
    message_group(c, "events_reply", TopicKind::EventsReply, &events_reply);
    message_group(
        c,
        "events_reply_pretty",
        TopicKind::EventsReply,
        &pretty(&events_reply),
    );
}

fn topics(c: &mut Criterion) {
    let sn = Serial::new(GATEWAY).unwrap();
    let mut group = c.benchmark_group("topic");
    group.bench_function("build", |b| {
        b.iter(|| Topic::new(black_box(&sn).clone(), TopicKind::Events).to_string())
    });
    let text = format!("thing/product/{GATEWAY}/events");
    group.bench_function("parse", |b| {
        b.iter(|| Topic::parse(black_box(&text)).unwrap())
    });
    group.bench_function("decode_not_ota_topic", |b| {
        b.iter(|| decode(black_box("thing/product/4TADKAQ000002J/osd"), b"{}").unwrap_err())
    });
    let hms = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/not_ota/events_hms.json"),
    )
    .unwrap();
    group.bench_function("decode_not_ota_method", |b| {
        b.iter(|| {
            decode(
                black_box("thing/product/4TADKAQ000002J/events"),
                black_box(&hms),
            )
            .unwrap_err()
        })
    });
    group.finish();
}

criterion_group!(benches, messages, topics);
criterion_main!(benches);
