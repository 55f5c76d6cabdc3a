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
//! run time for that one origin allows (the notification plugin), nothing else.

mod server;

use tauri::ipc::CapabilityBuilder;
use tauri::{AppHandle, Manager, WebviewUrl, WebviewWindow, WebviewWindowBuilder};
use url::Url;

use crate::server::{ServerUrl, SettingsFile};

/// Overrides the remembered server (and skips the connect page).
pub const SERVER_URL_ENV: &str = "MASKGATE_SERVER_URL";

/// The label of the one window (also in `tauri.conf.json` and `capabilities/`).
const MAIN_WINDOW: &str = "main";

/// Runs the app: on the desktop from `main.rs`, on Android and iOS as the mobile entry point.
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    tauri::Builder::default()
        .plugin(tauri_plugin_notification::init())
        .invoke_handler(tauri::generate_handler![connect, remembered_server])
        .setup(|app| {
            let start = match std::env::var(SERVER_URL_ENV) {
                Ok(raw) if !raw.trim().is_empty() => Some(
                    ServerUrl::parse(&raw)
                        .map_err(|e| format!("{SERVER_URL_ENV}={raw} is not a server URL: {e}"))?,
                ),
                _ => settings(app.handle())?.load(),
            };
            let url = match &start {
                Some(server) => {
                    allow_server(app.handle(), server)?;
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
        .run(tauri::generate_context!("../tauri.conf.json"))
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
    allow_server(&app, &server).map_err(|e| e.to_string())?;
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

/// Lets the server's pages (that origin only, in the main window) send notifications.
fn allow_server(app: &AppHandle, server: &ServerUrl) -> tauri::Result<()> {
    let pattern = server.origin_pattern();
    app.add_capability(
        CapabilityBuilder::new(format!("server-{pattern}"))
            .remote(pattern)
            .local(false)
            .window(MAIN_WINDOW)
            .permission("notification:default"),
    )
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
