//! The HTTP layer: shared state, the router of all resources, and `serve`.
//!
//! One module per resource, each with its handlers annotated for OpenAPI; [`api_router`]
//! registers every handler through `utoipa-axum`, so the router and
//! `GET /api/v1/openapi.json` cannot disagree.

pub mod error;
pub mod extract;

mod alert_channels;
mod alert_rules;
mod alerts;
mod assignments;
mod auth;
pub(crate) mod devices;
mod health;
mod metrics;
mod models;
mod openapi;
mod stats;
mod stream;
mod ui;
pub(crate) mod visits;
mod visits_export;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use chrono_tz::Tz;
use maskgate_api_types::StreamEvent;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tower_http::trace::TraceLayer;
use tracing::Instrument;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::alerts::{AlertEngine, AlertSettings};
use crate::clock::Clock;
use crate::db::Store;
use crate::ingest::Ingest;
use crate::telemetry::{Metrics, RequestLabels, RouteLabels};
use error::ApiError;

pub use devices::validate_device_name;
pub use openapi::openapi_doc;

/// Settings of a running server.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The site's time zone: the default for stats and day boundaries.
    pub tz: Tz,
    /// How long a login session lasts.
    pub session_ttl: Duration,
    /// Failed logins for one user name within `login_window` before logins are refused.
    pub max_failed_logins_per_user: u64,
    /// Failed logins from one IP address within `login_window` before logins are refused.
    pub max_failed_logins_per_ip: u64,
    /// The window over which failed logins are counted.
    pub login_window: Duration,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How far in the future a visit's `captured_at` may be (device clocks drift).
    pub max_clock_skew: Duration,
    /// The largest model file `POST /api/v1/models` accepts, in bytes.
    pub max_model_bytes: usize,
    /// How alerts are evaluated and delivered.
    pub alerts: AlertSettings,
    /// The built admin web app, served on non-API paths; `None`, or a folder without an
    /// `index.html`: those paths answer a page that says how to build it.
    pub ui_dir: Option<PathBuf>,
    /// Rows fetched from the store per query while `GET /api/v1/visits/export.csv`
    /// streams, so an export of any length holds only this many visits in memory.
    pub export_page_rows: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            tz: Tz::UTC,
            session_ttl: Duration::hours(12),
            max_failed_logins_per_user: 5,
            max_failed_logins_per_ip: 20,
            login_window: Duration::minutes(15),
            max_body_bytes: 2 * 1024 * 1024,
            max_clock_skew: Duration::minutes(5),
            max_model_bytes: maskgate_api_types::DEFAULT_MAX_MODEL_BYTES as usize,
            alerts: AlertSettings::default(),
            ui_dir: None,
            export_page_rows: 1_000,
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    /// The server's settings.
    pub settings: Arc<Settings>,
    /// The clock (a manual one in tests).
    pub clock: Arc<dyn Clock>,
    /// Live events for `GET /api/v1/stream`.
    pub events: broadcast::Sender<StreamEvent>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Group commit of posted visits.
    pub ingest: Ingest,
    /// The alert engine.
    pub alerts: AlertEngine,
    /// Flips to `true` when the server shuts down, so open streams end.
    shutdown: Arc<watch::Sender<bool>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("backend", &self.store.backend())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State over a store, with settings and a clock. Starts the visit writer, so it must
    /// be called inside a tokio runtime.
    pub fn new(store: Arc<dyn Store>, settings: Settings, clock: Arc<dyn Clock>) -> Self {
        let (events, _) = broadcast::channel(4096);
        let (shutdown, _) = watch::channel(false);
        Self {
            ingest: Ingest::start(store.clone(), clock.clone()),
            alerts: AlertEngine::start(
                store.clone(),
                clock.clone(),
                events.clone(),
                settings.tz,
                settings.alerts.clone(),
            ),
            store,
            settings: Arc::new(settings),
            clock,
            events,
            metrics: Arc::new(Metrics::default()),
            shutdown: Arc::new(shutdown),
        }
    }

    /// A receiver that sees `true` once the server starts shutting down.
    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}

/// Every documented route, registered together with its OpenAPI operation.
pub(crate) fn api_router() -> OpenApiRouter<AppState> {
    api_router_with(maskgate_api_types::DEFAULT_MAX_MODEL_BYTES as usize)
}

/// [`api_router`] with the model upload accepting files of up to `max_model_bytes`.
fn api_router_with(max_model_bytes: usize) -> OpenApiRouter<AppState> {
    // The upload route alone takes bodies larger than JSON routes do (room for the form's
    // manifest and boundaries on top of the file).
    let uploads = OpenApiRouter::new()
        .routes(routes!(models::upload_model, models::list_models))
        .layer(DefaultBodyLimit::max(
            max_model_bytes.saturating_add(1 << 20),
        ));
    OpenApiRouter::with_openapi(openapi::base_doc())
        .merge(uploads)
        .routes(routes!(models::get_model))
        .routes(routes!(models::get_model_file))
        .routes(routes!(models::rollout_model, models::get_rollout))
        .routes(routes!(assignments::assign_device_model))
        .routes(routes!(assignments::rollback_device_model))
        .routes(routes!(assignments::get_model_history))
        .routes(routes!(assignments::get_assigned_model))
        .routes(routes!(assignments::get_assigned_model_file))
        .routes(routes!(
            alert_rules::list_alert_rules,
            alert_rules::create_alert_rule
        ))
        .routes(routes!(
            alert_rules::get_alert_rule,
            alert_rules::update_alert_rule,
            alert_rules::delete_alert_rule
        ))
        .routes(routes!(
            alert_channels::list_alert_channels,
            alert_channels::create_alert_channel
        ))
        .routes(routes!(
            alert_channels::get_alert_channel,
            alert_channels::update_alert_channel,
            alert_channels::delete_alert_channel
        ))
        .routes(routes!(alerts::list_alerts))
        .routes(routes!(alerts::get_alert))
        .routes(routes!(alerts::ack_alert))
        .routes(routes!(alerts::list_deliveries))
        .routes(routes!(health::get_health))
        .routes(routes!(metrics::get_metrics))
        .routes(routes!(openapi::get_openapi))
        .routes(routes!(auth::login))
        .routes(routes!(visits::list_visits, visits::create_visits))
        .routes(routes!(visits_export::export_visits))
        .routes(routes!(stats::get_stats))
        .routes(routes!(devices::list_devices, devices::create_device))
        .routes(routes!(devices::record_heartbeat))
        .routes(routes!(stream::get_stream))
}

/// The complete application: routes, the web app and JSON fallbacks, limits, metrics and
/// tracing.
pub fn router(state: AppState) -> Router {
    let (routes, _doc) = api_router_with(state.settings.max_model_bytes).split_for_parts();
    routes
        .route_layer(middleware::from_fn_with_state(state.clone(), track_metrics))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        .layer(middleware::from_fn(run_to_completion))
        .layer(
            // Spans carry the path only: a query string may hold a token.
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
            }),
        )
        .with_state(state)
}

/// Unknown API paths (and anything but GET and HEAD) get the JSON 404; other paths are
/// the web app's.
async fn fallback(State(state): State<AppState>, request: Request) -> Response {
    let path = request.uri().path();
    let api = path == "/api" || path.starts_with("/api/");
    if api || !matches!(*request.method(), Method::GET | Method::HEAD) {
        return not_found().await.into_response();
    }
    ui::serve_ui(state.settings.ui_dir.as_deref(), request).await
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Runs each request in a task of its own, so a client that goes away (a door killed
/// mid-upload, a closed tab) does not cancel its handler halfway. A handler dropped at the
/// wrong `.await` can leave a pooled connection inside a transaction nobody will end: on
/// SQLite it then holds the write lock and every later write fails "database is locked"
/// (sqlx issues #3932, #4385). Finishing the work is also what the door expects: a batch
/// it sent is stored even if it never saw the answer, and its retry is deduplicated.
async fn run_to_completion(req: Request, next: Next) -> Response {
    match tokio::spawn(next.run(req).in_current_span()).await {
        Ok(response) => response,
        Err(error) => ApiError::Internal(Box::new(error)).into_response(),
    }
}

async fn track_metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_owned();
    let response = next.run(req).await;
    let elapsed = started.elapsed().as_secs_f64();
    state
        .metrics
        .latency
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(elapsed);
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16().to_string(),
        })
        .inc();
    response
}

/// Serves the app on `listener` until `shutdown` completes, then ends open event streams
/// and waits for in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stop = state.shutdown.clone();
    let app = router(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        stop.send_replace(true);
    })
    .await
}
