//! A folder of a test's own, shared by the broker tests of both crates (included by
//! path: `tests/broker.rs`, `mqtt/tests/runtime.rs`).

use std::path::PathBuf;

/// A folder of its own for a test, emptied at the start and removed at the end.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(test: &str) -> Self {
        let path = std::env::temp_dir().join(format!("ota-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
