//! The conformance corpus, `tests/fixtures/manifest.json`: every case in it comes out of
//! the crate as the manifest says (canonical form, validation problems, kind of
//! refusal), and every file of the corpus is in the manifest. Implementations in other
//! languages read the same manifest (the Python package's tests do).

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use dji_cloud_ota::{DecodeError, decode, decode_state};
use serde_json::Value;

mod common;

use common::fixtures_dir;

fn manifest() -> Value {
    let path = fixtures_dir().join("manifest.json");
    let text = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn cases() -> Vec<Value> {
    manifest()["cases"].as_array().expect("`cases`").clone()
}

fn text<'a>(case: &'a Value, key: &str) -> &'a str {
    case[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {case}"))
}

/// What the crate makes of one case: the outcome's name, the canonical bytes, the
/// validation problems' paths and the decode error's path.
struct Outcome {
    outcome: &'static str,
    canonical: Option<Vec<u8>>,
    problems: Vec<String>,
    path: Option<String>,
}

fn run(case: &Value) -> Outcome {
    let topic = text(case, "topic");
    let payload = fs::read(fixtures_dir().join(text(case, "input"))).unwrap();
    let decoded = match text(case, "decoder") {
        "decode" => decode(topic, &payload).map(|message| {
            let problems = message.validate().err().map_or_else(Vec::new, |errors| {
                errors.violations.into_iter().map(|v| v.path).collect()
            });
            let mut serialized = Vec::new();
            message
                .serialize_canonical(&mut serde_json::Serializer::new(&mut serialized))
                .unwrap();
            assert_eq!(serialized, message.encode().payload, "serialize_canonical");
            (message.encode().payload, problems)
        }),
        "decode_state" => decode_state(topic, &payload).map(|push| {
            let mut serialized = Vec::new();
            push.serialize_canonical(&mut serde_json::Serializer::new(&mut serialized))
                .unwrap();
            assert_eq!(serialized, push.encode().payload, "serialize_canonical");
            (push.encode().payload, vec![])
        }),
        other => panic!("unknown decoder {other}"),
    };
    match decoded {
        Ok((canonical, problems)) => Outcome {
            outcome: if problems.is_empty() {
                "valid"
            } else {
                "breaks_a_rule"
            },
            canonical: Some(canonical),
            problems,
            path: None,
        },
        Err(error) => Outcome {
            outcome: if error.is_not_ota() {
                "not_ota"
            } else {
                "malformed"
            },
            canonical: None,
            problems: vec![],
            path: match error {
                DecodeError::Data(data) => Some(data.path.clone()),
                _ => None,
            },
        },
    }
}

#[test]
fn every_case_comes_out_as_the_manifest_says() {
    let mut seen = BTreeSet::new();
    for case in cases() {
        let input = text(&case, "input");
        let got = run(&case);
        assert_eq!(got.outcome, text(&case, "outcome"), "{input}");
        seen.insert(got.outcome);
        match got.outcome {
            "valid" | "breaks_a_rule" => {
                let file = fixtures_dir().join(text(&case, "canonical"));
                let mut expected = fs::read(&file).unwrap();
                if expected.last() == Some(&b'\n') {
                    expected.pop();
                }
                assert_eq!(
                    String::from_utf8_lossy(got.canonical.as_deref().unwrap()),
                    String::from_utf8_lossy(&expected),
                    "{input}: canonical form"
                );
                let problems: Vec<&str> = case["problems"]
                    .as_array()
                    .map(|p| p.iter().map(|p| p.as_str().unwrap()).collect())
                    .unwrap_or_default();
                assert_eq!(got.problems, problems, "{input}: problems");
            }
            "malformed" => {
                assert_eq!(got.path.as_deref(), case["path"].as_str(), "{input}: path");
                assert!(!case["path"].is_string() || got.path.is_some(), "{input}");
            }
            _ => {}
        }
    }
    // Each kind of outcome is in the corpus.
    assert_eq!(
        seen,
        BTreeSet::from(["valid", "breaks_a_rule", "malformed", "not_ota"])
    );
}

/// The corpus and its manifest cannot drift apart: every JSON file of the corpus's
/// folders (the manifest's `folders`) is the `input` of one case or the `canonical`
/// form of one, and every file the manifest names exists, in those folders.
#[test]
fn every_file_of_the_corpus_is_in_the_manifest() {
    let root = fixtures_dir();
    let folders: Vec<String> = manifest()["folders"]
        .as_array()
        .expect("`folders`")
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    assert!(folders.len() >= 5, "{folders:?}");
    let mut on_disk = BTreeSet::new();
    for folder in &folders {
        walk(&root, &root.join(folder), &mut on_disk);
    }
    let mut named = BTreeSet::new();
    let mut inputs = BTreeSet::new();
    for case in cases() {
        let input = text(&case, "input").to_owned();
        assert!(
            inputs.insert(input.clone()),
            "{input} is in the manifest twice"
        );
        named.insert(input);
        if let Some(canonical) = case["canonical"].as_str() {
            named.insert(canonical.to_owned());
        }
    }
    for file in &named {
        let folder = file.split('/').next().unwrap_or_default();
        assert!(
            folders.iter().any(|f| f == folder),
            "{file} is outside the corpus's folders"
        );
    }
    let missing: Vec<_> = on_disk.difference(&named).collect();
    let absent: Vec<_> = named.difference(&on_disk).collect();
    assert!(missing.is_empty(), "files not in the manifest: {missing:?}");
    assert!(
        absent.is_empty(),
        "files the manifest names that do not exist: {absent:?}"
    );
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            let relative = path.strip_prefix(root).unwrap();
            out.insert(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}
