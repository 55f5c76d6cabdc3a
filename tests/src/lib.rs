//! End-to-end tests across MaskGate's parts. They run the built binaries as a user would;
//! the tests live in `tests/`, this library only finds the binaries.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The newest modification time of the files below `dir`.
fn newest_source(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let time = if path.is_dir() {
            newest_source(&path)
        } else {
            entry.metadata().and_then(|m| m.modified()).ok()
        };
        newest = newest.max(time);
    }
    newest
}

/// The path of a binary of this workspace, built in the same profile as the running test.
/// `cargo test --workspace` builds it before any test runs; after a narrower `cargo test`
/// it may be missing or older than its sources, and then it is built here.
pub fn workspace_binary(package_dir: &str, package: &str, name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join(name))
        .unwrap_or_default();
    let root = workspace_root();
    let sources = ["api-types", package_dir, "migrations"]
        .iter()
        .filter_map(|dir| newest_source(&root.join(dir)))
        .max();
    let built = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
    if built.is_none() || built < sources {
        let status = Command::new(env!("CARGO"))
            .current_dir(&root)
            .args(["build", "-p", package, "--bin", name])
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "could not build {name} with cargo"
        );
    }
    path
}
