//! `/api/v1/alerts`: what fired, who acknowledged it, and where it was sent.

use axum::extract::State;
use chrono::{DateTime, SubsecRound, Utc};
use maskgate_api_types::{
    Alert, AlertDeliveryList, AlertList, AlertState, ErrorBody, Severity, StreamEvent,
};
use serde::Deserialize;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{AuthUser, Path, Query};
use crate::db::AlertFilter;

/// The `limit` used when none is given.
const DEFAULT_LIMIT: u32 = 100;
/// The largest `limit` accepted.
const MAX_LIMIT: u32 = 500;

/// Query parameters of `GET /api/v1/alerts`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AlertQuery {
    /// `open`, `acknowledged` or `resolved`.
    state: Option<String>,
    /// Only this door's alerts (by name).
    device: Option<String>,
    /// Only this rule's alerts.
    rule_id: Option<i64>,
    /// `info`, `warning` or `critical`.
    #[param(inline)]
    severity: Option<Severity>,
    /// Fired at or after this instant (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Fired before this instant (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// The `next_before` of the previous page.
    before: Option<i64>,
    /// Page size, 1 to 500 (default 100).
    limit: Option<u32>,
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("no alert with id {id}"))
}

/// Alerts, newest first, with filters and keyset paging.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts",
    security(("user" = [])),
    params(AlertQuery),
    responses(
        (status = 200, description = "One page of alerts", body = AlertList),
        (status = 400, description = "Bad query string", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 422, description = "Bad filter value", body = ErrorBody),
    ))]
pub(crate) async fn list_alerts(
    State(state): State<AppState>,
    _user: AuthUser,
    Query(query): Query<AlertQuery>,
) -> ApiResult<axum::Json<AlertList>> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::Validation(format!(
            "limit must be 1 to {MAX_LIMIT}, not {limit}"
        )));
    }
    let alert_state = query
        .state
        .as_deref()
        .map(str::parse::<AlertState>)
        .transpose()
        .map_err(ApiError::Validation)?;
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from >= to
    {
        return Err(ApiError::Validation(format!(
            "from ({from}) must be before to ({to})"
        )));
    }
    let filter = AlertFilter {
        state: alert_state,
        device: query.device,
        rule_id: query.rule_id,
        severity: query.severity,
        from: query.from,
        to: query.to,
        before: query.before,
    };
    let items = state.store.list_alerts(&filter, limit).await?;
    let next_before = (items.len() == limit as usize)
        .then(|| items.last().map(|a| a.id))
        .flatten();
    Ok(axum::Json(AlertList { items, next_before }))
}

/// One alert.
#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts",
    security(("user" = [])),
    params(("id" = i64, Path, description = "The alert's id")),
    responses(
        (status = 200, description = "The alert", body = Alert),
        (status = 404, description = "No such alert", body = ErrorBody),
    ))]
pub(crate) async fn get_alert(
    State(state): State<AppState>,
    _user: AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Alert>> {
    state
        .store
        .alert(id)
        .await?
        .map(axum::Json)
        .ok_or_else(|| not_found(id))
}

/// Acknowledges an alert: records who and when, and stops its escalation. Acknowledging
/// twice keeps the first acknowledgement.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/ack", tag = "alerts",
    security(("user" = [])),
    params(("id" = i64, Path, description = "The alert's id")),
    responses(
        (status = 200, description = "The alert, acknowledged", body = Alert),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 404, description = "No such alert", body = ErrorBody),
    ))]
pub(crate) async fn ack_alert(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Alert>> {
    // The databases keep microseconds: a finer `now` would never equal the stored time, and
    // the acknowledgement would never reach the live stream.
    let now = state.clock.now().trunc_subsecs(6);
    let alert = state
        .store
        .ack_alert(id, &user.username, now)
        .await?
        .ok_or_else(|| not_found(id))?;
    if alert.acked_at == Some(now) {
        tracing::info!(alert = id, by = %user.username, "alert acknowledged");
        let _ = state.events.send(StreamEvent::Alert(alert.clone()));
    }
    Ok(axum::Json(alert))
}

/// Every attempt to send an alert to its channels, oldest first.
#[utoipa::path(get, path = "/api/v1/alerts/{id}/deliveries", tag = "alerts",
    security(("user" = [])),
    params(("id" = i64, Path, description = "The alert's id")),
    responses(
        (status = 200, description = "The delivery log", body = AlertDeliveryList),
        (status = 404, description = "No such alert", body = ErrorBody),
    ))]
pub(crate) async fn list_deliveries(
    State(state): State<AppState>,
    _user: AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<AlertDeliveryList>> {
    if state.store.alert(id).await?.is_none() {
        return Err(not_found(id));
    }
    Ok(axum::Json(AlertDeliveryList {
        items: state.store.deliveries(id).await?,
    }))
}
