//! The native side of the desktop and phone app (`src-tauri`), when the app runs inside it.
//!
//! The shell sets `withGlobalTauri`, so its API is `window.__TAURI__`; in a plain browser that
//! is missing and everything here does nothing.

use js_sys::{Function, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

/// The key of the notification's `extra` payload that names the alert; the shell opens
/// `/alerts/{id}` when the notification is clicked (`src-tauri/src/lib.rs`, `ALERT_ID_KEY`).
const ALERT_ID_KEY: &str = "alertId";

/// Raises a native notification for alert `alert_id` (tauri-plugin-notification's
/// `sendNotification`) inside the app; a click on it opens the alert. Does nothing in a
/// browser, or when the shell has not granted this server notifications.
pub fn notify_alert(alert_id: i64, title: &str, body: &str) {
    // A notification that cannot be shown is not worth an error: the alert is on screen anyway.
    let _ = send_notification(alert_id, title, body);
}

fn send_notification(alert_id: i64, title: &str, body: &str) -> Option<()> {
    let tauri = property(&js_sys::global(), "__TAURI__")?;
    let notification = property(&tauri, "notification")?;
    let send = property(&notification, "sendNotification")?
        .dyn_into::<Function>()
        .ok()?;
    let options = Object::new();
    Reflect::set(&options, &"title".into(), &title.into()).ok()?;
    Reflect::set(&options, &"body".into(), &body.into()).ok()?;
    let extra = Object::new();
    // A JavaScript number holds every id a database hands out (< 2^53).
    Reflect::set(&extra, &ALERT_ID_KEY.into(), &(alert_id as f64).into()).ok()?;
    Reflect::set(&options, &"extra".into(), &extra).ok()?;
    send.call1(&notification, &options).ok()?;
    Some(())
}

/// `target[name]` if it is an object or a function.
fn property(target: &JsValue, name: &str) -> Option<JsValue> {
    Reflect::get(target, &name.into())
        .ok()
        .filter(|value| value.is_object() || value.is_function())
}
