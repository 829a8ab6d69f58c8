//! The path of a built example, next to the running test's own binary; shared by the
//! tests that run the examples as processes (included by path: `tests/broker.rs`,
//! `tests/fleet_cli.rs`). Plain `cargo test` builds the examples.

use std::path::PathBuf;

pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --examples` (plain `cargo test` builds it)",
        path.display()
    );
    path
}
