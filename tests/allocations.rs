//! Heap allocations, counted by a counting global allocator (deterministic, unlike time).
//!
//! Decoding an `ota_progress` event allocates nothing at all; an `ota_create` allocates no
//! more than once per text field present; encoding into a reused buffer allocates
//! nothing.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::{fixture, topic};
use dji_cloud_ota::{Data, TopicKind, decode};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made on this thread by `f` (tests run on threads of their own).
fn allocations<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = ALLOCATIONS.with(Cell::get);
    let value = f();
    (ALLOCATIONS.with(Cell::get) - before, value)
}

#[test]
fn decoding_an_ota_progress_event_allocates_nothing() {
    let topic = topic(TopicKind::Events);
    // Every optional field present: gateway, need_reply, ext.rate.
    let payload = fixture("events", "canonical");
    let (count, message) = allocations(|| decode(&topic, &payload));
    let message = message.unwrap();
    assert!(message.gateway.is_some() && message.need_reply.is_some());
    assert_eq!(count, 0);
    // Pretty-printed, with a step_result: still nothing.
    let pretty = without_timestamp_colon(fixture("events", "step_result"));
    let (count, message) = allocations(|| decode(&topic, &pretty));
    assert!(message.is_ok());
    assert_eq!(count, 0);
}

#[test]
fn decoding_an_ota_create_allocates_at_most_once_per_text_field() {
    let topic = topic(TopicKind::Services);
    let payload = fixture("services", "two_devices");
    let (count, message) = allocations(|| decode(&topic, &payload));
    let Data::OtaCreate(create) = message.unwrap().data else {
        panic!()
    };
    let text_fields: usize = create
        .devices
        .iter()
        .map(|d| {
            2 + usize::from(d.file_url.is_some())
                + usize::from(d.md5.is_some())
                + usize::from(d.file_name.is_some())
        })
        .sum();
    assert_eq!(text_fields, 10);
    assert!(
        count <= text_fields,
        "{count} allocations for {text_fields} text fields"
    );
}

#[test]
fn decoding_replies_allocates_nothing() {
    for kind in [TopicKind::ServicesReply, TopicKind::EventsReply] {
        let (topic, payload) = (topic(kind), fixture(kind.suffix(), "canonical"));
        let (count, message) = allocations(|| decode(&topic, &payload));
        assert!(message.is_ok());
        assert_eq!(count, 0, "{kind}");
    }
}

#[test]
fn encoding_into_a_reused_buffer_allocates_nothing() {
    for kind in TopicKind::ALL {
        let message = decode(&topic(kind), &fixture(kind.suffix(), "canonical")).unwrap();
        let mut buf = Vec::with_capacity(4096);
        let (count, ()) = allocations(|| message.encode_payload_into(&mut buf));
        assert_eq!(count, 0, "{kind}");
        assert!(!buf.is_empty());
    }
}

#[test]
fn a_non_ota_topic_is_dismissed_without_allocating() {
    let topic = "thing/product/4TADKAQ000002J/osd";
    let payload = fixture("not_ota", "osd");
    let (count, result) = allocations(|| decode(topic, &payload));
    assert!(result.unwrap_err().is_not_ota());
    assert_eq!(count, 0);
}

#[test]
fn an_event_with_every_quirk_allocates_nothing_either() {
    // `"timestamp:"`, `stauts`, `current_step`, integers as strings, `null`s, no
    // `method`: every quirk is read in the same single pass.
    let (topic, payload) = (topic(TopicKind::Events), fixture("events", "every_quirk"));
    let (count, message) = allocations(|| decode(&topic, &payload));
    assert!(message.is_ok());
    assert_eq!(count, 0);
}

#[test]
fn a_message_of_another_method_is_refused_at_its_method() {
    // The reading stops at `method`: nothing is built, `data` is not even skipped.
    // The error that stops it is all that is allocated: its message and serde_json's
    // box for it, the box again once serde_json adds the position, and serde_json's
    // error for the object left unfinished.
    let (topic, payload) = (topic(TopicKind::Events), fixture("not_ota", "events_hms"));
    let (count, result) = allocations(|| decode(&topic, &payload));
    assert!(result.unwrap_err().is_not_ota());
    assert!(count <= 4, "{count} allocations");
    // A name longer than the 24 bytes text keeps inline is kept once more, in the error.
    let long = String::from_utf8(payload)
        .unwrap()
        .replace(r#""hms""#, r#""flight_areas_sync_progress""#);
    let (count, result) = allocations(|| decode(&topic, long.as_bytes()));
    assert!(result.unwrap_err().is_not_ota());
    assert!(count <= 5, "{count} allocations");
}

#[test]
fn a_full_state_push_is_read_without_building_its_other_properties() {
    // About forty properties, nested objects and arrays among them: only the three
    // firmware properties are built (a short version is inline text). serde_json's
    // skip buffer is all that is allocated for the rest.
    let topic = "thing/product/4TADKAQ000002J/state";
    let payload = fixture("state", "dock_full");
    let (count, push) = allocations(|| dji_cloud_ota::decode_state(topic, &payload));
    assert!(push.unwrap().firmware.firmware_version.is_some());
    assert!(count <= 2, "{count} allocations");
}

/// The seed's `"timestamp:"` key written as `"timestamp"`.
fn without_timestamp_colon(payload: Vec<u8>) -> Vec<u8> {
    String::from_utf8(payload)
        .unwrap()
        .replace("\"timestamp:\"", "\"timestamp\"")
        .into_bytes()
}

#[test]
fn validating_a_valid_message_allocates_nothing() {
    for (kind, name) in [
        (TopicKind::Services, "two_devices"),
        (TopicKind::ServicesReply, "canonical"),
        (TopicKind::Events, "canonical"),
        (TopicKind::EventsReply, "canonical"),
    ] {
        let message = decode(&topic(kind), &fixture(kind.suffix(), name)).unwrap();
        let (count, result) = allocations(|| message.validate());
        assert_eq!(result, Ok(()), "{kind}/{name}");
        assert_eq!(count, 0, "{kind}/{name}");
    }
}

#[test]
fn encode_allocates_the_topic_and_the_payload_once_each() {
    for (kind, name, bytes) in common::all_ota_fixtures() {
        let message = decode(&topic(kind), &bytes).unwrap();
        let (count, encoded) = allocations(|| message.encode());
        assert!(!encoded.payload.is_empty());
        assert_eq!(count, 2, "{kind}/{name}");
    }
}
