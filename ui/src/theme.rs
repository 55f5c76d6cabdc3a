//! Light and dark themes: the system's choice until the user picks one with the toggle.
//!
//! `index.html` applies a saved choice before the first paint; the CSS follows
//! `prefers-color-scheme` while `<html>` has no `data-theme`.

use leptos::prelude::*;

const STORAGE_KEY: &str = "maskgate.theme";

fn is_dark() -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let chosen = window
        .document()
        .and_then(|d| d.document_element())
        .and_then(|html| html.get_attribute("data-theme"));
    match chosen.as_deref() {
        Some("dark") => true,
        Some("light") => false,
        _ => window
            .match_media("(prefers-color-scheme: dark)")
            .ok()
            .flatten()
            .is_some_and(|query| query.matches()),
    }
}

fn choose(dark: bool) {
    let name = if dark { "dark" } else { "light" };
    let Some(window) = web_sys::window() else {
        return;
    };
    if let Some(html) = window.document().and_then(|d| d.document_element()) {
        let _ = html.set_attribute("data-theme", name);
    }
    if let Ok(Some(storage)) = window.local_storage() {
        let _ = storage.set_item(STORAGE_KEY, name);
    }
}

/// A button that switches between the light and the dark theme.
#[component]
pub fn ThemeToggle() -> impl IntoView {
    let dark = RwSignal::new(is_dark());
    let toggle = move |_| {
        let next = !dark.get_untracked();
        choose(next);
        dark.set(next);
    };
    view! {
        <button
            type="button"
            class="ghost"
            on:click=toggle
            aria-pressed=move || if dark.get() { "true" } else { "false" }
            title="Switch between the light and the dark theme"
        >
            <span aria-hidden="true">{move || if dark.get() { "☾" } else { "☀" }}</span>
            <span class="theme-label">" Dark theme"</span>
        </button>
    }
}
