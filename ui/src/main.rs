//! Mounts the admin app on the page (in the browser; `scripts/build-ui` builds it).

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(maskgate_ui::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("maskgate-ui runs in a browser: build it with scripts/build-ui");
    std::process::exit(2);
}
