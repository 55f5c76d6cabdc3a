//! The top bar: brand, navigation, theme, user and logout. Wraps onto two rows on phones.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::auth::Auth;
use crate::live::{Connection, Live};
use crate::theme::ThemeToggle;

/// The top bar of the logged-in app.
#[component]
pub fn Header() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let live = expect_context::<Live>();
    let username = move || {
        auth.session
            .with(|s| s.as_ref().map(|s| s.username.clone()).unwrap_or_default())
    };
    let open_count = move || {
        live.open_alerts
            .with(|a| a.as_ref().and_then(|a| a.as_ref().ok()).map_or(0, Vec::len))
    };
    let status = move || match live.connection.get() {
        Connection::Connecting => ("connecting", "Connecting…"),
        Connection::Live => ("live", "Live"),
        Connection::Reconnecting => ("reconnecting", "Reconnecting…"),
    };
    view! {
        <header class="topbar">
            // rel=external: the browser, not the router, follows it, so focus moves to the page.
            <a class="skip" href="#main" rel="external">"Skip to content"</a>
            <span class="brand">"MaskGate"</span>
            <nav class="tabs" aria-label="Main">
                <A href="/live">"Live"</A>
                <A href="/history">"History"</A>
                <A href="/alerts">
                    "Alerts"
                    {move || {
                        let n = open_count();
                        (n > 0).then(|| view! {
                            <span class="count" aria-label=format!("{n} open")>{n}</span>
                        })
                    }}
                </A>
                <A href="/doors">"Doors"</A>
                <A href="/models">"Models"</A>
                <A href="/charts">"Charts"</A>
            </nav>
            <div class="tools">
                <span class=move || format!("pill {}", status().0) role="status" aria-live="polite">
                    {move || status().1}
                </span>
                <ThemeToggle/>
                <span class="who" title="Logged in as">{username}</span>
                <button type="button" class="ghost" on:click=move |_| auth.end(None)>
                    "Log out"
                </button>
            </div>
        </header>
    }
}
