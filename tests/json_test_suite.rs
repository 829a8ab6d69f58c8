//! The public JSON test suite (JSONTestSuite's `test_parsing`, kept in
//! `tests/data/JSONTestSuite`) through `decode`, on each of the four OTA topics:
//!
//! - `n_` files are not JSON: every one is a syntax error (`Syntax` or `InvalidUtf8`);
//! - `y_` files are JSON but no OTA message: each ends in a clean data or not-OTA error
//!   (or a message), never a syntax error;
//! - `i_` files are where parsers may differ (lone surrogates, huge numbers, invalid
//!   UTF-8, deep nesting): any clean result.
//!
//! Nothing panics. `cargo test --test json_test_suite -- --nocapture` prints the counts.

mod common;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use common::topic;
use dji_cloud_ota::{DecodeError, Message, TopicKind, decode};

fn suite() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/JSONTestSuite/test_parsing");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .filter(|(name, _)| name.ends_with(".json"))
        .collect();
    files.sort();
    // The suite as published: 95 y_, 188 n_, 35 i_ files.
    assert!(
        files.len() >= 300,
        "only {} files in {}",
        files.len(),
        dir.display()
    );
    files
}

/// The kind of a result, for the counts.
fn outcome(result: &Result<Message, DecodeError>) -> &'static str {
    match result {
        Ok(_) => "Ok",
        Err(DecodeError::Syntax { .. }) => "Syntax",
        Err(DecodeError::InvalidUtf8 { .. }) => "InvalidUtf8",
        Err(DecodeError::Data(_)) => "Data",
        Err(DecodeError::NotOta { .. }) => "NotOta",
        Err(DecodeError::WrongTopic { .. }) => "WrongTopic",
        Err(DecodeError::TooLarge { .. }) => "TooLarge",
        Err(DecodeError::Topic(_)) => "Topic",
        Err(_) => "other",
    }
}

#[test]
fn every_file_of_the_json_test_suite_ends_in_its_expected_kind_of_result() {
    let mut counts: BTreeMap<(char, &str), usize> = BTreeMap::new();
    let mut wrong = Vec::new();
    for (name, bytes) in suite() {
        let class = name.chars().next().unwrap();
        for kind in TopicKind::ALL {
            let result = catch_unwind(AssertUnwindSafe(|| decode(&topic(kind), &bytes)));
            let Ok(result) = result else {
                wrong.push(format!("{name} on {kind}: panicked"));
                continue;
            };
            let found = outcome(&result);
            if kind == TopicKind::Events {
                *counts.entry((class, found)).or_default() += 1;
            }
            let expected = match class {
                'n' => matches!(found, "Syntax" | "InvalidUtf8"),
                'y' => matches!(found, "Ok" | "Data" | "NotOta" | "WrongTopic"),
                'i' => found != "other" && found != "Topic" && found != "TooLarge",
                _ => panic!("{name}: not a y_, n_ or i_ file"),
            };
            if !expected {
                wrong.push(format!("{name} on {kind}: {result:?}"));
            }
        }
    }
    println!("JSONTestSuite on the events topic, by file class and result:");
    for ((class, found), n) in &counts {
        println!("  {class}_  {found:<12} {n}");
    }
    assert!(
        wrong.is_empty(),
        "{} unexpected:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    let n_files: usize = counts
        .iter()
        .filter(|((c, _), _)| *c == 'n')
        .map(|(_, n)| n)
        .sum();
    assert!(n_files >= 180, "{n_files} n_ files");
}

#[test]
fn a_y_file_made_the_data_of_an_unknown_key_leaves_the_message_unchanged() {
    // Any JSON value may stand beside the message's keys: it is skipped, whatever it is.
    let plain = common::fixture("events", "canonical");
    let message = decode(&topic(TopicKind::Events), &plain).unwrap();
    let text = String::from_utf8(plain).unwrap();
    let mut tried = 0;
    for (name, bytes) in suite() {
        if !name.starts_with("y_") {
            continue;
        }
        let value = String::from_utf8(bytes).expect("y_ files are UTF-8");
        let payload = text.replacen('{', &format!("{{\"unknown\":{value},"), 1);
        assert_eq!(
            decode(&topic(TopicKind::Events), payload.as_bytes()).as_ref(),
            Ok(&message),
            "{name}"
        );
        tried += 1;
    }
    assert!(tried >= 90, "{tried}");
}
