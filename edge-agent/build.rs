//! Finds the SeetaFace frontal face model that the `rustface` crate ships inside its crate
//! package, so the agent embeds a face detector that any machine gets from crates.io.
//! `MASKGATE_SEETAFACE_MODEL` overrides the search (for vendored builds).

use std::path::{Path, PathBuf};

const RUSTFACE_DIR: &str = "rustface-0.1.7";
const MODEL: &str = "model/seeta_fd_frontal_v1.0.bin";

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
}

fn find_model() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MASKGATE_SEETAFACE_MODEL") {
        return Some(PathBuf::from(path));
    }
    let registries = cargo_home()?.join("registry").join("src");
    std::fs::read_dir(registries)
        .ok()?
        .flatten()
        .map(|index| index.path().join(RUSTFACE_DIR).join(MODEL))
        .find(|candidate| candidate.is_file())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=MASKGATE_SEETAFACE_MODEL");
    let Some(model) = find_model() else {
        panic!(
            "cannot find {RUSTFACE_DIR}/{MODEL} in the cargo registry; run `cargo fetch`, or \
             set MASKGATE_SEETAFACE_MODEL to the file"
        );
    };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    std::fs::copy(&model, out.join("seeta_fd_frontal_v1.0.bin"))
        .unwrap_or_else(|e| panic!("cannot copy {}: {e}", model.display()));
}
