//! The live screen: open alerts on top, today's numbers, and the feed as it arrives.

use leptos::prelude::*;
use maskgate_api_types::Visit;

use crate::clock;
use crate::components::{AlertCard, Empty, Loading, Problem};
use crate::format;
use crate::live::{Connection, FeedItem, Live};

/// Today at a glance, and what happens now.
#[component]
pub fn LivePage() -> impl IntoView {
    let live = expect_context::<Live>();
    let retry = Callback::new(move |()| live.resync());
    view! {
        <div class="page">
            <h1 class="visually-hidden">"Live"</h1>
            <OpenAlerts/>
            <section aria-labelledby="today-heading">
                <h2 id="today-heading">"Today"</h2>
                {move || match live.today.get() {
                    None => view! { <Loading what="today's numbers"/> }.into_any(),
                    Some(Err(message)) => view! { <Problem message retry/> }.into_any(),
                    Some(Ok(today)) => {
                        let total = today.passed + today.failed;
                        let rate = format::percent(format::pass_rate(today.passed, today.failed));
                        view! {
                            <dl class="numbers">
                                <div class="number"><dt>"Visits"</dt><dd>{total}</dd></div>
                                <div class="number pass"><dt>"Passed"</dt><dd>{today.passed}</dd></div>
                                <div class="number fail"><dt>"Failed"</dt><dd>{today.failed}</dd></div>
                                <div class="number"><dt>"Pass rate"</dt><dd>{rate}</dd></div>
                            </dl>
                        }
                        .into_any()
                    }
                }}
            </section>
            <section aria-labelledby="feed-heading">
                <div class="section-head">
                    <h2 id="feed-heading">"Live feed"</h2>
                    <ConnectionNote/>
                </div>
                <Feed/>
            </section>
        </div>
    }
}

/// Alerts nobody acknowledged yet, each with its Acknowledge button.
#[component]
fn OpenAlerts() -> impl IntoView {
    let live = expect_context::<Live>();
    move || match live.open_alerts.get() {
        Some(Ok(alerts)) if !alerts.is_empty() => view! {
            <section class="open-alerts" aria-labelledby="open-alerts-heading">
                <h2 id="open-alerts-heading">"Needs attention"</h2>
                <For each=move || alerts.clone() key=|a| (a.id, a.escalated_at) let:alert>
                    <AlertCard alert/>
                </For>
            </section>
        }
        .into_any(),
        Some(Err(message)) => view! {
            <section class="open-alerts">
                <h2>"Needs attention"</h2>
                <Problem message=format!("Open alerts could not be loaded. {message}")/>
            </section>
        }
        .into_any(),
        _ => ().into_any(),
    }
}

/// Says when the feed is not live.
#[component]
fn ConnectionNote() -> impl IntoView {
    let live = expect_context::<Live>();
    move || match live.connection.get() {
        Connection::Live => None,
        Connection::Connecting => Some(view! {
            <p class="connection" role="status">"Connecting to the live stream…"</p>
        }),
        Connection::Reconnecting => Some(view! {
            <p class="connection warn" role="status">
                "Connection lost: reconnecting… New visits appear once it is back."
            </p>
        }),
    }
}

/// Visits and alerts, newest first.
#[component]
fn Feed() -> impl IntoView {
    let live = expect_context::<Live>();
    move || {
        if live.feed.with(Vec::is_empty) {
            return view! {
                <Empty>
                    <p>"No visits yet. They appear here the moment a door reports them."</p>
                </Empty>
            }
            .into_any();
        }
        view! {
            <ol class="feed" aria-label="Visits and alerts, newest first">
                <For each=move || live.feed.get() key=FeedItem::key let:item>
                    <FeedLine item/>
                </For>
            </ol>
        }
        .into_any()
    }
}

#[component]
fn FeedLine(item: FeedItem) -> impl IntoView {
    let at = item.at();
    let time = format::clock(at, clock::offset_minutes(at));
    match item {
        FeedItem::Visit(visit) => view! { <VisitLine visit time/> }.into_any(),
        FeedItem::Alert(alert) => {
            let what = match alert.state() {
                maskgate_api_types::AlertState::Open if alert.escalated_at.is_some() => {
                    "Alert escalated"
                }
                maskgate_api_types::AlertState::Open => "Alert",
                maskgate_api_types::AlertState::Acknowledged => "Alert acknowledged",
                maskgate_api_types::AlertState::Resolved => "Alert resolved",
            };
            let by = alert
                .acked_by
                .clone()
                .filter(|_| alert.state() == maskgate_api_types::AlertState::Acknowledged)
                .map(|who| format!(" by {who}"))
                .unwrap_or_default();
            view! {
                <li class="line alert-line">
                    <time>{time}</time>
                    <span class="badge warn">{what}</span>
                    <span class="what">{alert.message.clone()} {by}</span>
                </li>
            }
            .into_any()
        }
    }
}

#[component]
fn VisitLine(visit: Visit, time: String) -> impl IntoView {
    let (class, mark, word) = if visit.passed {
        ("badge pass", "✓", "Passed")
    } else {
        ("badge fail", "✗", "Failed")
    };
    let score = format!("mask {}", format::percent(Some(visit.mask_score)));
    view! {
        <li class="line">
            <time>{time}</time>
            <span class=class><span aria-hidden="true">{mark} " "</span>{word}</span>
            <span class="what">{visit.device.clone()}</span>
            <span class="muted">{score}</span>
        </li>
    }
}
