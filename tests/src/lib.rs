//! End-to-end tests across MaskGate's parts. They run the built binaries as a user would;
//! the tests live in `tests/`, this library only finds the binaries.

use std::path::PathBuf;
use std::process::Command;

/// The path of a binary of this workspace, built in the same profile as the running test
/// (building it first when `cargo test` did not).
pub fn workspace_binary(package: &str, name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    let path = profile_dir.join(name);
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", package, "--bin", name])
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "could not build {name} with cargo"
        );
    }
    path
}
