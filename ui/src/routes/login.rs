//! The login screen: shown whenever no session stands, whatever the address.

use leptos::prelude::*;
use leptos::task::spawn_local;
use maskgate_api_types::LoginRequest;

use crate::api;
use crate::auth::{Auth, Session};

/// User name and password; says why the last session ended, if it did.
#[component]
pub fn Login() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let request = LoginRequest {
            username: username.get_untracked().trim().to_owned(),
            password: password.get_untracked(),
        };
        if request.username.is_empty() || request.password.is_empty() {
            error.set(Some("Enter your user name and password.".to_owned()));
            return;
        }
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match api::login(&request).await {
                Ok(answer) => auth.start(Session {
                    token: answer.token,
                    username: request.username,
                    role: answer.role,
                    expires_at: answer.expires_at,
                }),
                Err(failure) => {
                    error.try_set(Some(failure.describe_login()));
                    busy.try_set(false);
                }
            }
        });
    };
    view! {
        <main id="main" class="login">
            <form class="card login-card" on:submit=submit>
                <h1>"MaskGate"</h1>
                <p class="muted">"Log in to watch the doors."</p>
                {move || auth.notice.get().map(|notice| view! {
                    <p class="notice" role="status">{notice}</p>
                })}
                <label for="username">"User name"</label>
                <input
                    id="username"
                    name="username"
                    autocomplete="username"
                    autocapitalize="none"
                    spellcheck="false"
                    required
                    bind:value=username
                />
                <label for="password">"Password"</label>
                <input
                    id="password"
                    name="password"
                    type="password"
                    autocomplete="current-password"
                    required
                    bind:value=password
                />
                {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                <button type="submit" class="primary" disabled=move || busy.get()>
                    {move || if busy.get() { "Logging in…" } else { "Log in" }}
                </button>
            </form>
        </main>
    }
}
