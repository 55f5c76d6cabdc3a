//! End-to-end tests across MaskGate's parts. They run the built binaries as a user would;
//! the tests live in `tests/`, this library holds what they share: finding the binaries,
//! child processes that die with the test, ports, folders and the shared photos; a site
//! ([`site`]), a door ([`door`]) and an MQTT broker ([`broker`]).

pub mod broker;
pub mod door;
pub mod site;

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

/// A child process that is killed when the test ends, so none outlives a failed test.
#[derive(Debug)]
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// A new, not yet created folder under the system's temporary folder.
pub fn temp_dir() -> PathBuf {
    std::env::temp_dir().join(format!("maskgate-e2e-{}", uuid::Uuid::new_v4().simple()))
}

/// `../shared` (photos and reference models) beside the workspace, if it is there. A fresh
/// clone has none: then this says so in one line and returns `None`, unless
/// `MASKGATE_REQUIRE_SHARED=1` (set by `.ci/run`), which makes a missing folder a failure.
pub fn shared() -> Option<PathBuf> {
    let shared = workspace_root().join("../shared");
    if shared.join("data/masks/test").is_dir() {
        return Some(shared);
    }
    assert!(
        std::env::var("MASKGATE_REQUIRE_SHARED").as_deref() != Ok("1"),
        "MASKGATE_REQUIRE_SHARED=1 but ../shared/data/masks/test is missing"
    );
    eprintln!("skipping: ../shared/data/masks/test is not here (a fresh clone has no ../shared)");
    None
}
