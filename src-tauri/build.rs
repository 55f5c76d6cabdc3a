//! Reads `tauri.conf.json` (beside this file, where the Tauri CLI looks for it), embeds the
//! connect page and icons, and checks the capabilities in `capabilities/`.

fn main() {
    println!("cargo:rerun-if-changed=tauri.conf.json");
    println!("cargo:rerun-if-changed=connect");
    println!("cargo:rerun-if-changed=capabilities");
    tauri_build::try_build(tauri_build::Attributes::new())
        .expect("tauri-build: tauri.conf.json, capabilities/ or the icons are invalid");
}
