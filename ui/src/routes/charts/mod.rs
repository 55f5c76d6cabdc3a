//! The charts screen: passes and fails over a range of days in the site's time zone, the
//! pass rate, doors side by side and the week's peak hours. Range and door live in the URL
//! (`/charts?range=7d&door=front-door`), so a chart can be bookmarked or shared.

mod options;

use chrono::{Duration, NaiveDate};
use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};
use maskgate_api_types::{DeviceList, Stats, StatsBucket};

use crate::api::Api;
use crate::chart_data::{self, HOURLY_UP_TO_DAYS, PEAKS_UP_TO_DAYS, RangeChoice};
use crate::clock;
use crate::components::{EChart, Empty, Loading, Problem, ThemeChanges};
use crate::format;
use options::Volume;

/// Everything the charts of one range and door show.
#[derive(Clone)]
struct Loaded {
    first: NaiveDate,
    last: NaiveDate,
    tz: String,
    hourly: bool,
    volume: std::sync::Arc<Volume>,
    /// `None` for ranges longer than the server's hourly limit.
    peaks: Option<[[u64; 24]; 7]>,
    doors: Vec<(String, u64, u64)>,
}

fn encode(value: &str) -> String {
    String::from(js_sys::encode_uri_component(value))
}

fn stats_url(bucket: &str, from: &str, to: &str, door: &str) -> String {
    let mut url = format!(
        "/api/v1/stats?bucket={bucket}&from={}&to={}",
        encode(from),
        encode(to)
    );
    if !door.is_empty() {
        url.push_str(&format!("&device={}", encode(door)));
    }
    url
}

fn unreadable() -> String {
    format::Failure::Unreadable.describe()
}

async fn load(api: Api, choice: RangeChoice, door: String) -> Result<Loaded, String> {
    let get = |url: String| async move { api.get::<Stats>(&url).await.map_err(|f| f.describe()) };
    // The site's today and UTC offset: the bucket of now, cut in the site's zone.
    let now = clock::now();
    let probe = get(stats_url(
        "hour",
        &(now - Duration::seconds(1)).to_rfc3339(),
        &now.to_rfc3339(),
        "",
    ))
    .await?;
    let (today, offset) = probe
        .buckets
        .last()
        .and_then(chart_data::site_day)
        .ok_or_else(unreadable)?;
    let (first, last) = choice.days(today).map_err(str::to_owned)?;
    // Whole site days, first..=last, plus the day after, whose start ends the range.
    let mut days = get(stats_url(
        "day",
        &chart_data::noon(first, offset).to_rfc3339(),
        &chart_data::noon(last + Duration::days(1), offset).to_rfc3339(),
        &door,
    ))
    .await?
    .buckets;
    let end = days.pop().ok_or_else(unreadable)?.start;
    let start = days.first().ok_or_else(unreadable)?.start.clone();
    let span = days.len() as i64;
    let hourly_buckets = if span <= PEAKS_UP_TO_DAYS {
        Some(get(stats_url("hour", &start, &end, &door)).await?.buckets)
    } else {
        None
    };
    let hourly = span <= HOURLY_UP_TO_DAYS;
    let shown: &[StatsBucket] = match (&hourly_buckets, hourly) {
        (Some(hours), true) => hours,
        _ => &days,
    };
    let volume = Volume {
        labels: shown
            .iter()
            .map(|b| chart_data::label(b, hourly, span == 1))
            .collect(),
        passed: shown.iter().map(|b| b.passed).collect(),
        failed: shown.iter().map(|b| b.failed).collect(),
    };
    // One request per door: fine for the tens of doors of a site.
    let devices = api
        .get::<DeviceList>("/api/v1/devices")
        .await
        .map_err(|f| f.describe())?;
    let mut doors = Vec::with_capacity(devices.items.len());
    for device in devices.items {
        let stats = get(stats_url("day", &start, &end, &device.name)).await?;
        let (passed, failed) = chart_data::totals(&stats.buckets);
        doors.push((device.name, passed, failed));
    }
    Ok(Loaded {
        first,
        last,
        tz: probe.tz,
        hourly,
        volume: std::sync::Arc::new(volume),
        peaks: hourly_buckets.as_deref().map(chart_data::peaks),
        doors,
    })
}

/// The charts screen.
#[component]
pub fn ChartsPage() -> impl IntoView {
    let api = expect_context::<Api>();
    provide_context(ThemeChanges::watch());
    let query = use_query_map();
    let choice = Memo::new(move |_| {
        query.with(|q| {
            RangeChoice::from_query(q.get_str("range"), q.get_str("from"), q.get_str("to"))
        })
    });
    let door = Memo::new(move |_| query.with(|q| q.get("door").unwrap_or_default()));
    let devices =
        LocalResource::new(move || async move { api.get::<DeviceList>("/api/v1/devices").await });
    let data = LocalResource::new(move || {
        let choice = choice.get();
        let door = door.get();
        async move { load(api, choice, door).await }
    });
    // The days last shown: a switch to "custom" starts from them.
    let shown_days = RwSignal::new(None::<(NaiveDate, NaiveDate)>);
    Effect::new(move |_| {
        if let Some(Ok(loaded)) = data.get() {
            shown_days.set(Some((loaded.first, loaded.last)));
        }
    });
    let navigate = use_navigate();
    let go = Callback::new(
        move |(range, from, to, door): (String, String, String, String)| {
            let mut url = format!("/charts?range={}", encode(&range));
            if range == "custom" {
                url.push_str(&format!("&from={}&to={}", encode(&from), encode(&to)));
            }
            if !door.is_empty() {
                url.push_str(&format!("&door={}", encode(&door)));
            }
            navigate(&url, NavigateOptions::default());
        },
    );
    let custom_dates = move || match choice.get() {
        RangeChoice::Custom(from, to) => (
            from.map(|d| d.to_string()).unwrap_or_default(),
            to.map(|d| d.to_string()).unwrap_or_default(),
        ),
        _ => Default::default(),
    };
    let pick_range = move |ev: leptos::ev::Event| {
        let range = event_target_value(&ev);
        let (from, to) = shown_days
            .get_untracked()
            .map(|(f, l)| (f.to_string(), l.to_string()))
            .unwrap_or_default();
        go.run((range, from, to, door.get_untracked()));
    };
    let pick_door = move |ev: leptos::ev::Event| {
        let (from, to) = custom_dates();
        go.run((
            choice.get_untracked().key().to_owned(),
            from,
            to,
            event_target_value(&ev),
        ));
    };
    let pick_from = move |ev: leptos::ev::Event| {
        let (_, to) = custom_dates();
        go.run((
            "custom".into(),
            event_target_value(&ev),
            to,
            door.get_untracked(),
        ));
    };
    let pick_to = move |ev: leptos::ev::Event| {
        let (from, _) = custom_dates();
        go.run((
            "custom".into(),
            from,
            event_target_value(&ev),
            door.get_untracked(),
        ));
    };
    let retry = Callback::new(move |()| data.refetch());
    view! {
        <div class="page charts-page">
            <h1>"Charts"</h1>
            <div class="filters">
                <label>
                    "Range"
                    <select on:change=pick_range prop:value=move || choice.get().key()>
                        <option value="today">"Today"</option>
                        <option value="7d">"Last 7 days"</option>
                        <option value="30d">"Last 30 days"</option>
                        <option value="custom">"Custom…"</option>
                    </select>
                </label>
                {move || matches!(choice.get(), RangeChoice::Custom(..)).then(|| view! {
                    <label>
                        "From"
                        <input type="date" prop:value=move || custom_dates().0 on:change=pick_from/>
                    </label>
                    <label>
                        "To"
                        <input type="date" prop:value=move || custom_dates().1 on:change=pick_to/>
                    </label>
                })}
                <label>
                    "Door"
                    <select on:change=pick_door prop:value=move || door.get()>
                        <option value="">"All doors"</option>
                        {move || devices.get().and_then(Result::ok).map(|list| {
                            list.items
                                .into_iter()
                                .map(|d| {
                                    let selected = d.name == door.get_untracked();
                                    view! { <option value=d.name.clone() selected=selected>{d.name.clone()}</option> }
                                })
                                .collect_view()
                        })}
                    </select>
                </label>
            </div>
            {move || match data.get() {
                None => view! { <Loading what="charts"/> }.into_any(),
                Some(Err(message)) => view! { <Problem message retry/> }.into_any(),
                Some(Ok(loaded)) => view! { <Charts loaded door=door.get_untracked()/> }.into_any(),
            }}
        </div>
    }
}

fn range_words(first: NaiveDate, last: NaiveDate) -> String {
    if first == last {
        first.format("%a %-d %b %Y").to_string()
    } else {
        format!("{} – {}", first.format("%-d %b"), last.format("%-d %b %Y"))
    }
}

#[component]
fn Charts(loaded: Loaded, door: String) -> impl IntoView {
    let (passed, failed) = (
        loaded.volume.passed.iter().sum::<u64>(),
        loaded.volume.failed.iter().sum::<u64>(),
    );
    let total = passed + failed;
    let place = if door.is_empty() {
        "all doors".to_owned()
    } else {
        door.clone()
    };
    let summary = format!(
        "{} · {} · {} visits, {} passed ({} time)",
        range_words(loaded.first, loaded.last),
        place,
        total,
        format::percent(format::pass_rate(passed, failed)),
        loaded.tz,
    );
    let per = if loaded.hourly { "hour" } else { "day" };
    if total == 0 {
        return view! {
            <p class="muted">{summary}</p>
            <Empty>
                <p>"No visits in this range."</p>
                <p class="muted">"Pick a longer range or another door."</p>
            </Empty>
        }
        .into_any();
    }
    let volume = loaded.volume.clone();
    let rate = loaded.volume.clone();
    let names: Vec<String> = loaded.doors.iter().map(|d| d.0.clone()).collect();
    let door_passed: Vec<u64> = loaded.doors.iter().map(|d| d.1).collect();
    let door_failed: Vec<u64> = loaded.doors.iter().map(|d| d.2).collect();
    let doors_height = (48 + 30 * names.len() as u32).max(160);
    let peaks = loaded.peaks;
    view! {
        <p class="muted">{summary}</p>
        <div class="chart-grid">
            <section class="card chart-card">
                <h2>{format!("Passes and fails per {per}")}</h2>
                <EChart
                    id="chart-volume"
                    label=format!("Stacked bars of passed and failed visits per {per}")
                    height=300
                    make=move |p| options::volume(p, &volume)
                />
            </section>
            <section class="card chart-card">
                <h2>{format!("Pass rate per {per}")}</h2>
                <EChart
                    id="chart-rate"
                    label=format!("Line of the pass rate per {per}, in percent")
                    height=300
                    make=move |p| options::pass_rate(p, &rate)
                />
            </section>
            <section class="card chart-card">
                <h2>"Doors side by side"</h2>
                <p class="muted">"Every door over the same days, whatever door is picked above."</p>
                <EChart
                    id="chart-doors"
                    label="Bars of passed and failed visits per door"
                    height=doors_height
                    make=move |p| options::doors(p, &names, &door_passed, &door_failed)
                />
            </section>
            <section class="card chart-card">
                <h2>"Peak hours"</h2>
                {match peaks {
                    Some(table) => view! {
                        <p class="muted">"Visits by weekday and hour of the day; darker is busier."</p>
                        <EChart
                            id="chart-peaks"
                            label="Heatmap of visits by weekday and hour of the day"
                            height=300
                            make=move |p| options::peaks(p, &table)
                        />
                    }
                    .into_any(),
                    None => view! {
                        <p class="muted">"Peak hours cover ranges of up to 100 days. Pick a shorter range to see them."</p>
                    }
                    .into_any(),
                }}
            </section>
        </div>
    }
    .into_any()
}
