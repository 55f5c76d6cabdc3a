//! The alerts screen: every alert, filtered by state and door, newest first.

use leptos::prelude::*;
use leptos_router::components::A;
use maskgate_api_types::{AlertList, DeviceList, Role};

use crate::api::Api;
use crate::auth::Auth;
use crate::components::{AlertCard, Empty, Loading, Problem};
use crate::live::Live;

/// Alerts with filters; open ones can be acknowledged here too.
#[component]
pub fn AlertsPage() -> impl IntoView {
    let api = expect_context::<Api>();
    let live = expect_context::<Live>();
    let state = RwSignal::new(String::new());
    let door = RwSignal::new(String::new());
    let doors =
        LocalResource::new(move || async move { api.get::<DeviceList>("/api/v1/devices").await });
    let alerts = LocalResource::new(move || {
        let mut url = "/api/v1/alerts?limit=100".to_owned();
        for (name, value) in [("state", state.get()), ("device", door.get())] {
            if !value.is_empty() {
                url.push_str(&format!(
                    "&{name}={}",
                    String::from(js_sys::encode_uri_component(&value))
                ));
            }
        }
        // Reload whenever an alert fires or changes.
        live.alert_changes.track();
        async move { api.get::<AlertList>(&url).await }
    });
    let retry = Callback::new(move |()| alerts.refetch());
    let auth = expect_context::<Auth>();
    let admin = move || {
        auth.session
            .with(|s| s.as_ref().is_some_and(|s| s.role == Role::Admin))
    };
    view! {
        <div class="page">
            <div class="page-head">
                <h1>"Alerts"</h1>
                {move || admin().then(|| view! { <A href="/alerts/rules">"Alert rules"</A> })}
            </div>
            <div class="filters">
                <label>
                    "State"
                    <select on:change=move |ev| state.set(event_target_value(&ev))>
                        <option value="">"All"</option>
                        <option value="open">"Open"</option>
                        <option value="acknowledged">"Acknowledged"</option>
                        <option value="resolved">"Resolved"</option>
                    </select>
                </label>
                <label>
                    "Door"
                    <select on:change=move |ev| door.set(event_target_value(&ev))>
                        <option value="">"All doors"</option>
                        {move || doors.get().and_then(Result::ok).map(|list| {
                            list.items
                                .into_iter()
                                .map(|d| view! { <option value=d.name.clone()>{d.name.clone()}</option> })
                                .collect_view()
                        })}
                    </select>
                </label>
            </div>
            {move || match alerts.get() {
                None => view! { <Loading what="alerts"/> }.into_any(),
                Some(Err(failure)) => view! { <Problem message=failure.describe() retry/> }.into_any(),
                Some(Ok(list)) if list.items.is_empty() => {
                    let filtered = !state.get().is_empty() || !door.get().is_empty();
                    view! {
                        <Empty>
                            <p>
                                {if filtered {
                                    "No alerts match these filters."
                                } else {
                                    "No alerts so far. When a rule fires, its alert shows here."
                                }}
                            </p>
                        </Empty>
                    }
                    .into_any()
                }
                Some(Ok(list)) => {
                    let more = list.next_before.is_some();
                    view! {
                        <div class="list">
                            {list.items.into_iter().map(|alert| view! { <AlertCard alert/> }).collect_view()}
                        </div>
                        {more.then(|| view! {
                            <p class="muted">"Showing the newest 100 alerts. Narrow the filters to see older ones."</p>
                        })}
                    }
                    .into_any()
                }
            }}
        </div>
    }
}
