//! The MaskGate admin app for desktop and phones: a Tauri 2 window around the admin UI that a
//! MaskGate server serves on its own origin, plus native notifications for alerts.
//!
//! On the first start the window shows a small local page (`connect/`) that asks for the
//! server's URL; [`connect`] checks it (`GET /healthz`), remembers it in the app's config
//! directory and sends the window there. Later starts go straight to the remembered server;
//! `MASKGATE_SERVER_URL` overrides it, and the desktop menu "Server → Change server…" goes back
//! to the connect page.
//!
//! The server's pages are remote to Tauri: they may call only what the capability granted at
//! run time for that one origin allows (the notification plugin), nothing else. The admin UI
//! sends a notification for every alert that fires, with the alert's id in its `extra`
//! payload; a click on it opens that alert's page in the window ([`clicked_alert`]).

mod server;

use std::sync::Mutex;

use tauri::ipc::CapabilityBuilder;
use tauri::{AppHandle, Manager, WebviewUrl, WebviewWindow, WebviewWindowBuilder};
use tauri_plugin_notification::{ActionPerformed, NotificationExt};
use url::Url;

use crate::server::{ServerUrl, SettingsFile};

/// Overrides the remembered server (and skips the connect page).
pub const SERVER_URL_ENV: &str = "MASKGATE_SERVER_URL";

/// The label of the one window (also in `tauri.conf.json` and `capabilities/`).
const MAIN_WINDOW: &str = "main";

/// The key of a notification's `extra` payload that names its alert (`ui/src/native.rs`).
pub const ALERT_ID_KEY: &str = "alertId";

/// The server the window shows, once there is one: where a clicked alert opens.
#[derive(Default)]
struct CurrentServer(Mutex<Option<ServerUrl>>);

impl CurrentServer {
    // A panic elsewhere while holding the lock leaves a plain value behind; it is still good.
    fn set(&self, server: &ServerUrl) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(server.clone());
    }

    fn get(&self) -> Option<ServerUrl> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Runs the app: on the desktop from `main.rs`, on Android and iOS as the mobile entry point.
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    tauri::Builder::default()
        .plugin(tauri_plugin_notification::init())
        .invoke_handler(tauri::generate_handler![connect, remembered_server])
        .manage(CurrentServer::default())
        .setup(|app| {
            let handle = app.handle().clone();
            app.notification().on_action(move |performed| {
                if let Some(id) = clicked_alert(performed) {
                    open_alert(&handle, id);
                }
            })?;
            let start = match std::env::var(SERVER_URL_ENV) {
                Ok(raw) if !raw.trim().is_empty() => Some(
                    ServerUrl::parse(&raw)
                        .map_err(|e| format!("{SERVER_URL_ENV}={raw} is not a server URL: {e}"))?,
                ),
                _ => settings(app.handle())?.load(),
            };
            let url = match &start {
                Some(server) => {
                    use_server(app.handle(), server)?;
                    WebviewUrl::External(server.as_url().clone())
                }
                None => WebviewUrl::App("index.html".into()),
            };
            let mut window = app
                .config()
                .app
                .windows
                .iter()
                .find(|w| w.label == MAIN_WINDOW)
                .cloned()
                .ok_or("tauri.conf.json has no window labelled \"main\"")?;
            window.url = url;
            WebviewWindowBuilder::from_config(app.handle(), &window)?.build()?;
            #[cfg(desktop)]
            add_menu(app.handle())?;
            Ok(())
        })
        .run(tauri::generate_context!())
        .expect("the MaskGate admin app failed to start");
}

/// Checks that `url` is a MaskGate server, remembers it, and sends the calling window there.
/// The error is a sentence for the connect page.
#[tauri::command]
async fn connect(app: AppHandle, window: WebviewWindow, url: String) -> Result<String, String> {
    let server = ServerUrl::parse(&url)?;
    server.check().await?;
    settings(&app)
        .and_then(|file| file.save(&server))
        .map_err(|e| format!("The server answers, but its address could not be saved: {e}"))?;
    use_server(&app, &server).map_err(|e| e.to_string())?;
    window
        .navigate(server.as_url().clone())
        .map_err(|e| e.to_string())?;
    Ok(server.to_string())
}

/// The server to show in the connect page's field: the override, else the remembered one.
#[tauri::command]
fn remembered_server(app: AppHandle) -> Option<String> {
    match std::env::var(SERVER_URL_ENV) {
        Ok(raw) if !raw.trim().is_empty() => Some(raw),
        _ => settings(&app)
            .ok()
            .and_then(|file| file.load())
            .map(|s| s.to_string()),
    }
}

/// The file that remembers the server, in the app's config directory.
fn settings(app: &AppHandle) -> Result<SettingsFile, Box<dyn std::error::Error>> {
    Ok(SettingsFile::new(app.path().app_config_dir()?))
}

/// Lets the server's pages (that origin only, in the main window) send notifications, and
/// makes it the server whose alerts a notification click opens.
fn use_server(app: &AppHandle, server: &ServerUrl) -> tauri::Result<()> {
    app.state::<CurrentServer>().set(server);
    let pattern = server.origin_pattern();
    app.add_capability(
        CapabilityBuilder::new(format!("server-{pattern}"))
            .remote(pattern)
            .local(false)
            .window(MAIN_WINDOW)
            .permission("notification:default"),
    )
}

/// The alert a notification click should open: a click on the notification itself (`tap`,
/// not one of its buttons) whose `extra` payload names an alert.
pub fn clicked_alert(performed: &ActionPerformed) -> Option<i64> {
    if performed.action_id() != "tap" {
        return None;
    }
    performed
        .notification()?
        .extra()
        .get(ALERT_ID_KEY)?
        .as_i64()
        .filter(|id| *id > 0)
}

/// Shows alert `id` of the current server in the main window and brings the window forward.
fn open_alert(app: &AppHandle, id: i64) {
    let server = app.state::<CurrentServer>().get();
    let (Some(server), Some(window)) = (server, app.get_webview_window(MAIN_WINDOW)) else {
        eprintln!("maskgate-admin: alert {id} was clicked, but no server is open");
        return;
    };
    if let Err(e) = window.navigate(server.alert_page(id)) {
        eprintln!("maskgate-admin: could not open alert {id}: {e}");
        return;
    }
    // A minimised or hidden window would leave the click without a visible answer.
    let _ = window.unminimize();
    let _ = window.show();
    let _ = window.set_focus();
}

/// The desktop menu: "Server → Change server…" (back to the connect page) and "Quit".
#[cfg(desktop)]
fn add_menu(app: &AppHandle) -> tauri::Result<()> {
    use tauri::menu::{MenuBuilder, MenuItemBuilder, SubmenuBuilder};

    let change = MenuItemBuilder::with_id("change-server", "Change server…").build(app)?;
    // Our own item: the predefined Quit shows greyed out on Linux (GTK).
    let quit = MenuItemBuilder::with_id("quit", "Quit")
        .accelerator("CmdOrCtrl+Q")
        .build(app)?;
    let server = SubmenuBuilder::new(app, "Server")
        .item(&change)
        .separator()
        .item(&quit)
        .build()?;
    app.set_menu(MenuBuilder::new(app).item(&server).build()?)?;
    app.on_menu_event(|app, event| match event.id().as_ref() {
        "change-server" => {
            if let Some(window) = app.get_webview_window(MAIN_WINDOW)
                && let Err(e) = window.navigate(connect_page())
            {
                eprintln!("maskgate-admin: could not open the connect page: {e}");
            }
        }
        "quit" => app.exit(0),
        _ => {}
    });
    Ok(())
}

/// Where Tauri serves `frontendDist` (the connect page) on this platform: its own `tauri`
/// scheme, except on Windows and Android, where it is `http://tauri.localhost`.
#[cfg(desktop)]
fn connect_page() -> Url {
    let page = if cfg!(windows) {
        "http://tauri.localhost/index.html"
    } else {
        "tauri://localhost/index.html"
    };
    Url::parse(page).expect("the connect page's URL is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the plugin reports for a click, as it reports it (its `actionPerformed` event).
    fn performed(action: &str, extra: serde_json::Value) -> ActionPerformed {
        serde_json::from_value(serde_json::json!({
            "actionId": action,
            "inputValue": null,
            "notification": { "id": 3, "title": "Mask rule", "body": "3 failed visits", "extra": extra },
        }))
        .expect("an actionPerformed event")
    }

    #[test]
    fn a_click_on_an_alert_s_notification_names_the_alert() {
        let click = performed("tap", serde_json::json!({ ALERT_ID_KEY: 42 }));
        assert_eq!(clicked_alert(&click), Some(42));
    }

    #[test]
    fn other_actions_and_other_notifications_open_nothing() {
        for (action, extra) in [
            ("snooze", serde_json::json!({ ALERT_ID_KEY: 42 })),
            ("tap", serde_json::json!({})),
            ("tap", serde_json::json!({ ALERT_ID_KEY: "42" })),
            ("tap", serde_json::json!({ ALERT_ID_KEY: -1 })),
            ("tap", serde_json::json!({ "other": 42 })),
        ] {
            assert_eq!(
                clicked_alert(&performed(action, extra.clone())),
                None,
                "{action} {extra}"
            );
        }
    }
}
