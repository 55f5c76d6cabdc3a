//! The desktop entry point; everything is in the library (shared with the phone builds).
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    maskgate_admin::run();
}
