//! The live state of a logged-in app: one `EventSource` on `/api/v1/stream`, today's
//! numbers, the feed of visits and alerts, and the open alerts.
//!
//! Every (re)connection resynchronises from the REST API, so events missed during a drop
//! are never missing from the numbers or the list of open alerts.

use std::time::Duration;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos::task::spawn_local;
use maskgate_api_types::{Alert, AlertList, AlertState, Device, Stats, Visit, VisitPage};
use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{Event, EventSource, MessageEvent};

use crate::api::Api;
use crate::clock;
use crate::format::Failure;

/// The most items the feed keeps.
pub const FEED_LENGTH: usize = 50;

/// Something that is loading (`None`), failed (the words to show) or loaded.
pub type Loaded<T> = Option<Result<T, String>>;

/// A listener on the `EventSource`, kept alive as long as it may be called.
type Handler = Closure<dyn FnMut(Event)>;

/// The state of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// The first connection is being made.
    Connecting,
    /// Events arrive.
    Live,
    /// The connection dropped; the app tries again.
    Reconnecting,
}

/// One line of the live feed.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedItem {
    /// A door reported a visit.
    Visit(Visit),
    /// An alert fired, escalated, was acknowledged or resolved.
    Alert(Alert),
}

impl FeedItem {
    /// A key unique within the feed.
    pub fn key(&self) -> String {
        match self {
            FeedItem::Visit(v) => v.id.to_string(),
            FeedItem::Alert(a) => format!(
                "alert-{}-{:?}-{}",
                a.id,
                a.state(),
                a.escalated_at.is_some()
            ),
        }
    }

    /// When it happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            FeedItem::Visit(v) => v.captured_at,
            FeedItem::Alert(a) => [Some(a.fired_at), a.escalated_at, a.acked_at, a.resolved_at]
                .into_iter()
                .flatten()
                .max()
                .unwrap_or(a.fired_at),
        }
    }
}

/// Today's counts, in the browser's day.
#[derive(Debug, Clone, PartialEq)]
pub struct Today {
    /// Local midnight.
    pub day_start: DateTime<Utc>,
    /// Visits that passed.
    pub passed: u64,
    /// Visits that failed.
    pub failed: u64,
}

/// The live state, shared by every screen of the logged-in app.
#[derive(Clone, Copy)]
pub struct Live {
    /// Whether events arrive.
    pub connection: RwSignal<Connection>,
    /// Today's numbers.
    pub today: RwSignal<Loaded<Today>>,
    /// Visits and alerts, newest first.
    pub feed: RwSignal<Vec<FeedItem>>,
    /// Alerts nobody acknowledged yet, newest first.
    pub open_alerts: RwSignal<Loaded<Vec<Alert>>>,
    /// The last device event (a heartbeat).
    pub last_device: RwSignal<Option<Device>>,
    /// Counts alert events, so lists of alerts know when to reload.
    pub alert_changes: RwSignal<u64>,
    /// The time, ticking every few seconds, for "2 min ago".
    pub now: RwSignal<DateTime<Utc>>,
    api: Api,
    source: StoredValue<Option<EventSource>, LocalStorage>,
    handlers: StoredValue<Vec<Handler>, LocalStorage>,
    failures: StoredValue<u32>,
    stopped: StoredValue<bool>,
}

impl Live {
    /// Connects and loads; everything stops when the calling component goes away (logout).
    pub fn start(api: Api) -> Self {
        let live = Self {
            connection: RwSignal::new(Connection::Connecting),
            today: RwSignal::new(None),
            feed: RwSignal::new(Vec::new()),
            open_alerts: RwSignal::new(None),
            last_device: RwSignal::new(None),
            alert_changes: RwSignal::new(0),
            now: RwSignal::new(clock::now()),
            api,
            source: StoredValue::new_local(None),
            handlers: StoredValue::new_local(Vec::new()),
            failures: StoredValue::new(0),
            stopped: StoredValue::new(false),
        };
        let tick = set_interval_with_handle(move || live.tick(), Duration::from_secs(5)).ok();
        on_cleanup(move || {
            if let Some(tick) = tick {
                tick.clear();
            }
            live.stop();
        });
        // Load at once, not only when the stream opens: a proxy that holds back the stream
        // must not keep the numbers from showing.
        live.resync();
        live.connect();
        live
    }

    /// Reloads today's numbers, the open alerts and the latest visits.
    pub fn resync(self) {
        spawn_local(async move { self.load_today().await });
        spawn_local(async move { self.load_open_alerts().await });
        spawn_local(async move { self.load_recent_visits().await });
    }

    /// Takes an alert the server returned (after an acknowledgement, say) as if it had
    /// arrived on the stream.
    pub fn apply_alert(self, alert: Alert) {
        self.open_alerts.update(|open| {
            if let Some(Ok(open)) = open {
                open.retain(|a| a.id != alert.id);
                if alert.state() == AlertState::Open {
                    open.insert(0, alert.clone());
                }
            }
        });
        self.alert_changes.update(|n| *n += 1);
    }

    fn connect(self) {
        if self.stopped.try_get_value().unwrap_or(true) {
            return;
        }
        let Some(token) = self.api.token() else {
            return;
        };
        let url = format!(
            "/api/v1/stream?access_token={}",
            String::from(js_sys::encode_uri_component(&token))
        );
        let Ok(source) = EventSource::new(&url) else {
            self.dropped();
            return;
        };
        let mut handlers: Vec<Handler> = Vec::new();
        let mut on = |name: &str, handler: Handler| {
            let _ = source.add_event_listener_with_callback(name, handler.as_ref().unchecked_ref());
            handlers.push(handler);
        };
        on("open", Closure::new(move |_: Event| self.opened()));
        on("error", Closure::new(move |_: Event| self.dropped()));
        on(
            "visit",
            Closure::new(move |event: Event| {
                if let Some(visit) = data::<Visit>(&event) {
                    self.add_visit(visit);
                }
            }),
        );
        on(
            "alert",
            Closure::new(move |event: Event| {
                if let Some(alert) = data::<Alert>(&event) {
                    // Only a newly fired alert raises a native notification (in the app's
                    // Tauri shell), not its escalation, acknowledgement or resolution.
                    if alert.state() == AlertState::Open && alert.escalated_at.is_none() {
                        crate::native::notify_alert(alert.id, &alert.rule_name, &alert.message);
                    }
                    self.add_alert(alert);
                }
            }),
        );
        on(
            "device",
            Closure::new(move |event: Event| {
                if let Some(device) = data::<Device>(&event) {
                    self.last_device.set(Some(device));
                }
            }),
        );
        // The server dropped events for us: what we show may be behind.
        on("lagged", Closure::new(move |_: Event| self.resync()));
        self.source.set_value(Some(source));
        // Replacing the old handlers here is safe: connect never runs inside one of them.
        self.handlers.set_value(handlers);
    }

    fn opened(self) {
        self.failures.set_value(0);
        self.connection.set(Connection::Live);
        self.resync();
    }

    /// The stream failed or dropped. The browser would retry on its own, but not after an
    /// HTTP error, and it cannot tell us about a 401: so close it, ask an ordinary request
    /// whether the session still stands, then connect again, backing off to 15 s.
    fn dropped(self) {
        if let Some(source) = self.source.try_update_value(Option::take).flatten() {
            source.close();
        }
        if self.stopped.try_get_value().unwrap_or(true) {
            return;
        }
        self.connection.set(Connection::Reconnecting);
        let failures = self.failures.get_value() + 1;
        self.failures.set_value(failures);
        let delay = Duration::from_secs(1 << failures.min(4)).min(Duration::from_secs(15));
        set_timeout(
            move || {
                if self.stopped.try_get_value().unwrap_or(true) {
                    return;
                }
                spawn_local(async move {
                    match self.fetch_open_alerts().await {
                        Ok(_) => self.connect(),
                        // The API client has already sent the user to the login screen.
                        Err(failure) if failure.ends_session().is_some() => {}
                        Err(_) => self.dropped(),
                    }
                });
            },
            delay,
        );
    }

    fn stop(self) {
        self.stopped.set_value(true);
        if let Some(source) = self.source.try_update_value(Option::take).flatten() {
            source.close();
        }
        // Dropped a moment later, never while one of them might be running.
        let handlers = self
            .handlers
            .try_update_value(std::mem::take)
            .unwrap_or_default();
        set_timeout(move || drop(handlers), Duration::ZERO);
    }

    fn tick(self) {
        self.now.set(clock::now());
        let midnight = clock::local_midnight();
        let new_day = self
            .today
            .with_untracked(|t| matches!(t, Some(Ok(t)) if t.day_start != midnight));
        if new_day {
            spawn_local(async move { self.load_today().await });
        }
    }

    fn add_visit(self, visit: Visit) {
        self.today.update(|today| {
            if let Some(Ok(today)) = today
                && visit.captured_at >= today.day_start
                && visit.captured_at < today.day_start + chrono::Duration::days(1)
            {
                if visit.passed {
                    today.passed += 1;
                } else {
                    today.failed += 1;
                }
            }
        });
        self.push_feed(vec![FeedItem::Visit(visit)]);
    }

    fn add_alert(self, alert: Alert) {
        self.push_feed(vec![FeedItem::Alert(alert.clone())]);
        self.apply_alert(alert);
    }

    fn push_feed(self, items: Vec<FeedItem>) {
        self.feed.update(|feed| {
            for item in items {
                let key = item.key();
                if !feed.iter().any(|i| i.key() == key) {
                    feed.push(item);
                }
            }
            feed.sort_by_key(|i| std::cmp::Reverse(i.at()));
            feed.truncate(FEED_LENGTH);
        });
    }

    async fn load_today(self) {
        let midnight = clock::local_midnight();
        let day = |tz: Option<&str>| {
            let mut url = format!(
                "/api/v1/stats?bucket=day&from={}&to={}",
                rfc3339(midnight),
                rfc3339(midnight + chrono::Duration::days(1)),
            );
            if let Some(tz) = tz {
                url.push_str("&tz=");
                url.push_str(&String::from(js_sys::encode_uri_component(tz)));
            }
            url
        };
        // Cut the day in the browser's zone; a server that does not know that zone's name
        // (422) cuts it in the site's.
        let zone = clock::time_zone();
        let mut answer = self.api.get::<Stats>(&day(zone.as_deref())).await;
        if zone.is_some() && matches!(answer, Err(Failure::Http { status: 422, .. })) {
            answer = self.api.get::<Stats>(&day(None)).await;
        }
        let today = answer.map_err(|f| f.describe()).map(|stats| {
            let first = stats.buckets.first();
            Today {
                day_start: midnight,
                passed: first.map_or(0, |b| b.passed),
                failed: first.map_or(0, |b| b.failed),
            }
        });
        self.today.try_set(Some(today));
    }

    async fn load_open_alerts(self) {
        let _ = self.fetch_open_alerts().await;
    }

    async fn fetch_open_alerts(self) -> Result<(), Failure> {
        let answer = self
            .api
            .get::<AlertList>("/api/v1/alerts?state=open&limit=100")
            .await;
        let shown = answer
            .as_ref()
            .map(|list| list.items.clone())
            .map_err(Failure::describe);
        self.open_alerts.try_set(Some(shown));
        answer.map(|_| ())
    }

    async fn load_recent_visits(self) {
        if let Ok(page) = self.api.get::<VisitPage>("/api/v1/visits?limit=20").await {
            self.push_feed(page.items.into_iter().map(FeedItem::Visit).collect());
        }
    }
}

fn data<T: DeserializeOwned>(event: &Event) -> Option<T> {
    let text = event.dyn_ref::<MessageEvent>()?.data().as_string()?;
    serde_json::from_str(&text).ok()
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
