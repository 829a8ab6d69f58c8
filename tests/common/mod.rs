//! Helpers shared by the integration tests: the fixtures and the gateway they concern.
#![allow(dead_code)]

pub mod edit;
pub mod strategies;

use std::path::{Path, PathBuf};

use dji_cloud_ota::{Device, Message, TopicKind, UpgradeType, decode};

/// An aircraft to upgrade, with a whole firmware package: a device that validates.
pub fn device() -> Device {
    Device::new("1581F5BMD22330010X0V", "04.01.0020", UpgradeType::NORMAL).with_file(
        "https://firmware.example.com/wm245_04.01.0020.zip",
        "0123456789abcdef0123456789abcdef",
        653_467_234,
        "wm245_04.01.0020.zip",
    )
}

/// The gateway every fixture is received from.
pub const GATEWAY: &str = "4TADKAQ000002J";

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The topic a fixture of `kind` arrives on.
pub fn topic(kind: TopicKind) -> String {
    format!("thing/product/{GATEWAY}/{}", kind.suffix())
}

/// The bytes of `tests/fixtures/<dir>/<name>.json`.
pub fn fixture(dir: &str, name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(dir).join(format!("{name}.json"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Decodes `tests/fixtures/<kind>/<name>.json` received on its topic.
pub fn decode_fixture(kind: TopicKind, name: &str) -> Message {
    let payload = fixture(kind.suffix(), name);
    decode(&topic(kind), &payload).unwrap_or_else(|e| panic!("{}/{name}: {e}", kind.suffix()))
}

/// Every fixture of an OTA topic: (kind, file stem, bytes).
pub fn all_ota_fixtures() -> Vec<(TopicKind, String, Vec<u8>)> {
    let mut out = Vec::new();
    for kind in TopicKind::ALL {
        let dir = fixtures_dir().join(kind.suffix());
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        for path in names {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            out.push((kind, stem, std::fs::read(&path).unwrap()));
        }
    }
    assert!(out.len() >= 20, "fixtures missing: found {}", out.len());
    out
}

/// The canonical payload of `message` as text.
pub fn canonical_text(message: &Message) -> String {
    String::from_utf8(message.encode().payload).expect("canonical payload is UTF-8")
}

/// A small deterministic generator (xorshift), so that a random run is the same every
/// time.
pub struct XorShift(pub u64);

impl XorShift {
    /// The next number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}
