//! Reads `../tauri.conf.json` (the workspace's top level, where the design puts it), embeds the
//! connect page and icons, and checks the capabilities in `capabilities/`.

fn main() {
    println!("cargo:rerun-if-changed=../tauri.conf.json");
    println!("cargo:rerun-if-changed=connect");
    println!("cargo:rerun-if-changed=capabilities");
    tauri_build::try_build(tauri_build::Attributes::new().config_path("../tauri.conf.json"))
        .expect("tauri-build: ../tauri.conf.json, src-tauri/capabilities or the icons are invalid");
}
