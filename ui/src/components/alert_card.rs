//! One alert: what fired, where, when, and an Acknowledge button while it is open.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use maskgate_api_types::{Alert, AlertState};

use crate::api::Api;
use crate::clock;
use crate::format;
use crate::live::Live;

/// An alert with its state; open alerts get an Acknowledge button. Its message links to the
/// alert's own page, unless the card is on that page.
#[component]
pub fn AlertCard(
    /// The alert to show.
    alert: Alert,
    /// Set on the alert's own page, where a link to itself would go nowhere.
    #[prop(optional)]
    on_own_page: bool,
) -> impl IntoView {
    let api = expect_context::<Api>();
    let live = expect_context::<Live>();
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let id = alert.id;
    let acknowledge = move |_| {
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match api
                .post::<Alert>(&format!("/api/v1/alerts/{id}/ack"), None::<&()>)
                .await
            {
                Ok(alert) => live.apply_alert(alert),
                Err(failure) => {
                    error.try_set(Some(failure.describe()));
                }
            }
            busy.try_set(false);
        });
    };
    let offset = clock::offset_minutes(alert.fired_at);
    let fired = format::day_and_time(alert.fired_at, offset);
    let fired_at = alert.fired_at;
    let open = alert.state() == AlertState::Open;
    let severity = format::severity(alert.severity);
    let class = format!("card alert {}", severity.to_lowercase());
    let state = format::alert_state(&alert, offset);
    let place = alert
        .device
        .clone()
        .unwrap_or_else(|| "whole site".to_owned());
    view! {
        <article class=class>
            <div class="alert-text">
                <p class="alert-title">
                    <span class="badge">{severity}</span>
                    " "
                    {if on_own_page {
                        view! { <strong>{alert.message.clone()}</strong> }.into_any()
                    } else {
                        view! { <A href=format!("/alerts/{id}")><strong>{alert.message.clone()}</strong></A> }.into_any()
                    }}
                </p>
                <p class="muted">
                    {place} " · fired " {fired} " ("
                    {move || format::ago(fired_at, live.now.get())} ") · "
                    {alert.rule_name.clone()}
                </p>
                {(!open).then(|| view! { <p class="muted">{state}</p> })}
                {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            </div>
            {open.then(|| view! {
                <button
                    type="button"
                    class="primary"
                    on:click=acknowledge
                    disabled=move || busy.get()
                >
                    {move || if busy.get() { "Acknowledging…" } else { "Acknowledge" }}
                </button>
            })}
        </article>
    }
}
