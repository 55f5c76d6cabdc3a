//! The native side of the desktop and phone app (`src-tauri`), when the app runs inside it.
//!
//! The shell sets `withGlobalTauri`, so its API is `window.__TAURI__`; in a plain browser that
//! is missing and everything here does nothing.

use js_sys::{Function, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

/// Raises a native notification (tauri-plugin-notification's `sendNotification`) inside the
/// app; does nothing in a browser, or when the shell has not granted this server notifications.
pub fn notify(title: &str, body: &str) {
    // A notification that cannot be shown is not worth an error: the alert is on screen anyway.
    let _ = send_notification(title, body);
}

fn send_notification(title: &str, body: &str) -> Option<()> {
    let tauri = property(&js_sys::global(), "__TAURI__")?;
    let notification = property(&tauri, "notification")?;
    let send = property(&notification, "sendNotification")?
        .dyn_into::<Function>()
        .ok()?;
    let options = Object::new();
    Reflect::set(&options, &"title".into(), &title.into()).ok()?;
    Reflect::set(&options, &"body".into(), &body.into()).ok()?;
    send.call1(&notification, &options).ok()?;
    Some(())
}

/// `target[name]` if it is an object or a function.
fn property(target: &JsValue, name: &str) -> Option<JsValue> {
    Reflect::get(target, &name.into())
        .ok()
        .filter(|value| value.is_object() || value.is_function())
}
