//! Canonical encoding: every fixture re-encodes to one spelling, and decoding that gives
//! the same message back. `expected/` holds the canonical form of tolerant inputs, written
//! by hand from the rules (seed spellings, fixed key order, no nulls); `canonical.json`
//! fixtures are already canonical and must come back byte for byte.

mod common;

use common::{all_ota_fixtures, canonical_text, fixture, fixtures_dir, topic};
use dji_cloud_ota::{TopicKind, decode};

/// Keys the encoder must never write: the tolerated spellings of other keys.
const NON_CANONICAL_KEYS: [&str; 3] = ["\"timestamp:\"", "\"stauts\"", "\"current_step\""];

/// The envelope's keys in their canonical order.
const ENVELOPE_ORDER: [&str; 7] = [
    "\"tid\":",
    "\"bid\":",
    "\"timestamp\":",
    "\"method\":",
    "\"gateway\":",
    "\"need_reply\":",
    "\"data\":",
];

#[test]
fn every_fixture_round_trips_through_its_canonical_form() {
    for (kind, name, bytes) in all_ota_fixtures() {
        let message = decode(&topic(kind), &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let encoded = message.encode();
        assert_eq!(encoded.topic, topic(kind), "{name}");
        let again = decode(&encoded.topic, &encoded.payload)
            .unwrap_or_else(|e| panic!("{name}: canonical form does not decode: {e}"));
        assert_eq!(again, message, "{name}");
        assert_eq!(again.encode(), encoded, "{name}: encoding is not stable");
    }
}

#[test]
fn canonical_form_has_one_spelling_no_nulls_and_a_fixed_key_order() {
    for (kind, name, bytes) in all_ota_fixtures() {
        let text = canonical_text(&decode(&topic(kind), &bytes).unwrap());
        assert!(!text.contains("null"), "{name}: {text}");
        for key in NON_CANONICAL_KEYS {
            assert!(!text.contains(key), "{name}: {key} in {text}");
        }
        assert!(text.contains("\"method\":"), "{name}: no method in {text}");
        assert!(
            !text.contains(char::is_whitespace),
            "{name}: not minified: {text}"
        );
        // Keys present appear in canonical order, `data` last.
        let positions: Vec<usize> = ENVELOPE_ORDER.iter().filter_map(|k| text.find(k)).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{name}: {text}");
        assert!(text.starts_with("{\"tid\":"), "{name}: {text}");
    }
}

#[test]
fn canonical_fixtures_come_back_byte_for_byte() {
    for kind in TopicKind::ALL {
        let bytes = fixture(kind.suffix(), "canonical");
        let message = decode(&topic(kind), &bytes).unwrap();
        assert_eq!(
            canonical_text(&message),
            String::from_utf8(bytes).unwrap(),
            "{kind}"
        );
    }
}

#[test]
fn tolerant_inputs_encode_to_the_hand_written_canonical_form() {
    let mut checked = 0;
    for kind in TopicKind::ALL {
        let dir = fixtures_dir().join("expected").join(kind.suffix());
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let expected = std::fs::read_to_string(&path).unwrap();
            let message = decode(&topic(kind), &fixture(kind.suffix(), &name)).unwrap();
            assert_eq!(canonical_text(&message), expected, "{kind}/{name}");
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} expected files");
}
