//! One alert on a page of its own (`/alerts/{id}`): what fired, its state, and every attempt
//! to tell someone about it. A click on the app's native notification opens this page.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use maskgate_api_types::{Alert, AlertDelivery, AlertDeliveryList};

use crate::api::Api;
use crate::clock;
use crate::components::{AlertCard, Loading, Problem};
use crate::format::{self, Failure};
use crate::live::Live;

/// The alert named by the path, with its delivery log.
#[component]
pub fn AlertPage() -> impl IntoView {
    let api = expect_context::<Api>();
    let live = expect_context::<Live>();
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|raw| raw.parse::<i64>().ok())
            .filter(|id| *id > 0)
    };
    let alert = LocalResource::new(move || {
        let id = id();
        // Reload when an alert is acknowledged or resolved (here or anywhere else).
        live.alert_changes.track();
        async move {
            let id = id?;
            let alert = api.get::<Alert>(&format!("/api/v1/alerts/{id}")).await;
            let deliveries = match &alert {
                Ok(_) => Some(
                    api.get::<AlertDeliveryList>(&format!("/api/v1/alerts/{id}/deliveries"))
                        .await,
                ),
                Err(_) => None,
            };
            Some((id, alert, deliveries))
        }
    });
    let retry = Callback::new(move |()| alert.refetch());
    view! {
        <div class="page">
            <div class="page-head">
                <h1>{move || id().map_or_else(|| "Alert".to_owned(), |id| format!("Alert #{id}"))}</h1>
                <A href="/alerts">"All alerts"</A>
            </div>
            {move || match alert.get() {
                None => view! { <Loading what="the alert"/> }.into_any(),
                Some(None) => view! {
                    <Problem message="This address does not name an alert. Open it from the list of alerts."/>
                }
                .into_any(),
                Some(Some((id, Err(Failure::Http { status: 404, .. }), _))) => view! {
                    <Problem message=format!("There is no alert #{id}. It may have been removed.")/>
                }
                .into_any(),
                Some(Some((_, Err(failure), _))) => {
                    view! { <Problem message=failure.describe() retry/> }.into_any()
                }
                Some(Some((_, Ok(alert), deliveries))) => view! {
                    <AlertCard alert on_own_page=true/>
                    <section class="card deliveries-card">
                        <h2>"Who was told"</h2>
                        {match deliveries {
                            Some(Ok(list)) => view! { <Deliveries items=list.items/> }.into_any(),
                            Some(Err(failure)) => view! { <Problem message=failure.describe() retry/> }.into_any(),
                            None => ().into_any(),
                        }}
                    </section>
                }
                .into_any(),
            }}
        </div>
    }
}

/// The delivery log: one row per attempt to reach a channel.
#[component]
fn Deliveries(items: Vec<AlertDelivery>) -> impl IntoView {
    if items.is_empty() {
        return view! {
            <p class="muted">"No channel was told: the rule sends to no channel, or it has not sent yet."</p>
        }
        .into_any();
    }
    view! {
        <ul class="deliveries">
            {items
                .into_iter()
                .map(|d| {
                    let when = format::date_and_time(d.at, clock::offset_minutes(d.at));
                    let what = match d.attempt {
                        1 => d.event.as_str().to_owned(),
                        n => format!("{} (attempt {n})", d.event.as_str()),
                    };
                    let result = delivery_result(&d);
                    let class = if d.ok { "badge pass" } else { "badge fail" };
                    view! {
                        <li>
                            <span class=class>{result}</span>
                            " "
                            <strong>{d.channel}</strong>
                            <span class="muted">" · " {what} " · " {when}</span>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
    .into_any()
}

/// `Delivered (HTTP 200)`, `Failed: HTTP 500`, `Failed: connection refused`.
fn delivery_result(d: &AlertDelivery) -> String {
    match (d.ok, d.http_status, d.error.as_deref()) {
        (true, Some(status), _) => format!("Delivered (HTTP {status})"),
        (true, None, _) => "Delivered".to_owned(),
        (false, _, Some(error)) => format!("Failed: {error}"),
        (false, Some(status), None) => format!("Failed: HTTP {status}"),
        (false, None, None) => "Failed".to_owned(),
    }
}
