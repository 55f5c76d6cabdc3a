//! The History screen: every visit, newest first, filtered by days, door and result, a page
//! at a time, with the filtered range as a CSV download.
//!
//! The filters live in the page's URL (`/history?from=2026-11-01&door=front&result=fail`), so
//! reload, back and a shared link show the same visits. Pages follow by the API's keyset
//! cursor ("Show older visits"); a change of filter starts again from the newest.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};
use maskgate_api_types::{DeviceList, Visit, VisitPage};

use crate::api::Api;
use crate::clock;
use crate::components::{Empty, Loading, Problem};
use crate::format;
use crate::history_filter::{HistoryFilter, Outcome};
use crate::live::Loaded;

/// Visits per page.
const PAGE: u32 = 50;

/// Where loading the next page stands.
#[derive(Debug, Clone, PartialEq)]
enum More {
    /// Nothing asked.
    Idle,
    /// The next page is on its way.
    Loading,
    /// It failed; the words say why.
    Failed(String),
}

/// Visits with filters, pages and the CSV export.
#[component]
pub fn HistoryPage() -> impl IntoView {
    let api = expect_context::<Api>();
    let query = use_query_map();
    let filter = Memo::new(move |_| query.with(|q| HistoryFilter::from_query(|name| q.get(name))));
    let doors =
        LocalResource::new(move || async move { api.get::<DeviceList>("/api/v1/devices").await });
    let rows: RwSignal<Loaded<Vec<Visit>>> = RwSignal::new(None);
    let next: RwSignal<Option<String>> = RwSignal::new(None);
    let more = RwSignal::new(More::Idle);
    // Answers to an older filter are dropped: only the latest generation may write.
    let generation = StoredValue::new(0_u64);

    let load = move |cursor: Option<String>| {
        let current = generation.get_value();
        let mut path = format!(
            "/api/v1/visits?limit={PAGE}&{}",
            filter.get_untracked().api_query(clock::midnight_of)
        );
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let first = cursor.is_none();
        if !first {
            more.set(More::Loading);
        }
        spawn_local(async move {
            let answer = api.get::<VisitPage>(&path).await;
            if generation.try_get_value() != Some(current) {
                return;
            }
            match answer {
                Ok(page) => {
                    next.try_set(page.next_cursor);
                    more.try_set(More::Idle);
                    if first {
                        rows.try_set(Some(Ok(page.items)));
                    } else {
                        rows.try_update(|rows| {
                            if let Some(Ok(rows)) = rows {
                                rows.extend(page.items);
                            }
                        });
                    }
                }
                Err(failure) if first => {
                    rows.try_set(Some(Err(failure.describe())));
                }
                Err(failure) => {
                    more.try_set(More::Failed(failure.describe()));
                }
            }
        });
    };
    let reload = move || {
        generation.update_value(|g| *g += 1);
        rows.set(None);
        next.set(None);
        more.set(More::Idle);
        if filter.get_untracked().problem().is_none() {
            load(None);
        }
    };
    Effect::new(move |_| {
        filter.track();
        reload();
    });

    let navigate = use_navigate();
    let set_filter = move |change: &dyn Fn(&mut HistoryFilter)| {
        let mut changed = filter.get_untracked();
        change(&mut changed);
        navigate(
            &format!("/history{}", changed.to_query()),
            NavigateOptions {
                scroll: false,
                ..NavigateOptions::default()
            },
        );
    };
    let set_day = {
        let set_filter = set_filter.clone();
        move |which: &'static str, value: String| {
            let day = value.parse().ok();
            set_filter(&|f: &mut HistoryFilter| match which {
                "from" => f.from = day,
                _ => f.to = day,
            });
        }
    };
    let set_from = {
        let set_day = set_day.clone();
        move |ev: leptos::ev::Event| set_day("from", event_target_value(&ev))
    };
    let set_to = move |ev: leptos::ev::Event| set_day("to", event_target_value(&ev));
    let set_door = {
        let set_filter = set_filter.clone();
        move |ev: leptos::ev::Event| {
            let door = event_target_value(&ev);
            set_filter(&|f: &mut HistoryFilter| {
                f.door = Some(door.clone()).filter(|d| !d.is_empty())
            });
        }
    };
    let set_outcome = {
        let set_filter = set_filter.clone();
        move |ev: leptos::ev::Event| {
            let outcome = Outcome::from_key(&event_target_value(&ev));
            set_filter(&|f: &mut HistoryFilter| f.outcome = outcome);
        }
    };
    let clear = move |_: leptos::ev::MouseEvent| {
        set_filter(&|f: &mut HistoryFilter| *f = HistoryFilter::default())
    };

    let export_href = move || {
        let mut href = format!(
            "/api/v1/visits/export.csv?{}",
            filter.get().api_query(clock::midnight_of)
        );
        if let Some(token) = api.token() {
            if !href.ends_with('?') {
                href.push('&');
            }
            href.push_str("access_token=");
            href.push_str(&token);
        }
        href
    };
    let today = clock::today().to_string();
    let zone = clock::time_zone()
        .map(|zone| format!("Times are in your time zone, {zone}."))
        .unwrap_or_else(|| "Times are in your time zone.".to_owned());
    let retry = Callback::new(move |()| reload());
    let retry_more = Callback::new(move |()| load(next.get_untracked()));

    view! {
        <div class="page">
            <div class="page-head">
                <h1>"History"</h1>
                {move || filter.with(|f| f.problem().is_none()).then(|| view! {
                    <a class="button" href=export_href download="" rel="external">
                        "Export CSV"
                    </a>
                })}
            </div>
            <form class="filters" aria-label="Filter visits" on:submit=|ev| ev.prevent_default()>
                <label>
                    "First day"
                    <input
                        type="date"
                        max=today.clone()
                        prop:value=move || filter.with(|f| f.from.map(|d| d.to_string()).unwrap_or_default())
                        on:change=set_from
                    />
                </label>
                <label>
                    "Last day"
                    <input
                        type="date"
                        max=today
                        prop:value=move || filter.with(|f| f.to.map(|d| d.to_string()).unwrap_or_default())
                        on:change=set_to
                    />
                </label>
                <label>
                    "Door"
                    <select on:change=set_door>
                        <option value="" prop:selected=move || filter.with(|f| f.door.is_none())>
                            "All doors"
                        </option>
                        {move || {
                            let mut names: Vec<String> = doors
                                .get()
                                .and_then(Result::ok)
                                .map(|list| list.items.into_iter().map(|d| d.name).collect())
                                .unwrap_or_default();
                            // A door in the URL shows even before (or without) the list.
                            if let Some(door) = filter.with(|f| f.door.clone())
                                && !names.contains(&door)
                            {
                                names.push(door);
                            }
                            names
                                .into_iter()
                                .map(|name| {
                                    let selected = {
                                        let name = name.clone();
                                        move || filter.with(|f| f.door.as_deref() == Some(name.as_str()))
                                    };
                                    view! { <option value=name.clone() prop:selected=selected>{name.clone()}</option> }
                                })
                                .collect_view()
                        }}
                    </select>
                </label>
                <label>
                    "Result"
                    <select on:change=set_outcome>
                        {[(Outcome::All, "All results"), (Outcome::Passed, "Passed"), (Outcome::Failed, "Failed")]
                            .into_iter()
                            .map(|(outcome, words)| view! {
                                <option
                                    value=outcome.key()
                                    prop:selected=move || filter.with(|f| f.outcome == outcome)
                                >
                                    {words}
                                </option>
                            })
                            .collect_view()}
                    </select>
                </label>
                {move || filter.with(HistoryFilter::is_filtered).then(|| view! {
                    <button type="button" class="ghost clear" on:click=clear.clone()>"Clear filters"</button>
                })}
            </form>
            {move || filter.with(|f| f.problem()).map(|problem| view! { <Problem message=problem/> })}
            {move || match rows.get() {
                None if filter.with(|f| f.problem().is_some()) => ().into_any(),
                None => view! { <Loading what="visits"/> }.into_any(),
                Some(Err(message)) => view! { <Problem message retry/> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <Empty>
                        {if filter.with(HistoryFilter::is_filtered) {
                            view! { <p>"No visits match these filters."</p> }.into_any()
                        } else {
                            view! {
                                <p>"No visits yet. They show here once a door reports them."</p>
                            }
                            .into_any()
                        }}
                    </Empty>
                }
                .into_any(),
                Some(Ok(list)) => {
                    let count = list.len();
                    view! {
                        <p class="muted summary" role="status">
                            {if count == 1 { "1 visit".to_owned() } else { format!("{count} visits") }}
                            {move || if next.get().is_some() { " shown so far" } else { "" }}
                            ", newest first. " {zone.clone()}
                        </p>
                        <VisitTable visits=list/>
                    }
                    .into_any()
                }
            }}
            {move || {
                let has_more = next.with(Option::is_some)
                    && rows.with(|r| matches!(r, Some(Ok(list)) if !list.is_empty()));
                match more.get() {
                    More::Failed(message) => {
                        view! { <Problem message retry=retry_more/> }.into_any()
                    }
                    state if has_more => {
                        let loading = state == More::Loading;
                        view! {
                            <div class="more">
                                <button
                                    type="button"
                                    disabled=loading
                                    on:click=move |_| load(next.get_untracked())
                                >
                                    {if loading { "Loading older visits…" } else { "Show older visits" }}
                                </button>
                            </div>
                        }
                        .into_any()
                    }
                    _ => ().into_any(),
                }
            }}
        </div>
    }
}

/// The visits as a table; on narrow screens each row lays out as a card.
#[component]
fn VisitTable(visits: Vec<Visit>) -> impl IntoView {
    view! {
        <table class="history">
            <caption class="visually-hidden">"Visits, newest first"</caption>
            <thead>
                <tr>
                    <th scope="col">"Time"</th>
                    <th scope="col">"Door"</th>
                    <th scope="col">"Result"</th>
                    <th scope="col" class="num">"Mask score"</th>
                    <th scope="col">"Model"</th>
                </tr>
            </thead>
            <tbody>
                {visits.into_iter().map(|visit| view! { <VisitRow visit/> }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn VisitRow(visit: Visit) -> impl IntoView {
    let at = visit.captured_at;
    let time = format::date_and_time(at, clock::offset_minutes(at));
    let (class, mark, word) = if visit.passed {
        ("badge pass", "✓", "Passed")
    } else {
        ("badge fail", "✗", "Failed")
    };
    view! {
        <tr>
            <td class="time"><time datetime=at.to_rfc3339()>{time}</time></td>
            <td class="door">{visit.device}</td>
            <td class="result">
                <span class=class><span aria-hidden="true">{mark} " "</span>{word}</span>
            </td>
            <td class="score num">
                <span class="cell-label">"Mask "</span>
                {format::percent(Some(visit.mask_score))}
            </td>
            <td class="model">{visit.model}</td>
        </tr>
    }
}
