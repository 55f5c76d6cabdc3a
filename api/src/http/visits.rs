//! `POST /api/v1/visits` (devices report decisions) and `GET /api/v1/visits` (history).

use std::collections::HashSet;

use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SubsecRound, TimeZone, Utc};
use maskgate_api_types::{
    DEFAULT_PAGE_LIMIT, ErrorBody, MAX_PAGE_LIMIT, MAX_VISITS_PER_BATCH, NewVisit, StreamEvent,
    Visit, VisitBatch, VisitBatchResult, VisitPage,
};
use serde::Deserialize;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{AuthDevice, AuthUser, Json, Query};
use crate::db::{Position, VisitFilter};
use crate::ingest::Stored;

/// The longest `model` string accepted.
const MAX_MODEL_LEN: usize = 128;

/// Visits captured before this are taken for a device with an unset clock.
fn earliest_plausible() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// Checks a whole batch before anything is stored, so one bad visit stores nothing.
fn validate_batch(
    batch: &VisitBatch,
    device: &AuthDevice,
    now: DateTime<Utc>,
    max_skew: chrono::Duration,
) -> ApiResult<()> {
    let n = batch.visits.len();
    if n == 0 || n > MAX_VISITS_PER_BATCH {
        return Err(ApiError::Validation(format!(
            "`visits` must hold 1 to {MAX_VISITS_PER_BATCH} visits, not {n}"
        )));
    }
    let latest = now + max_skew;
    for (i, visit) in batch.visits.iter().enumerate() {
        if let Some(name) = &visit.device
            && name != &device.name
        {
            return Err(ApiError::Forbidden(format!(
                "visits[{i}].device is `{name}`, but this token belongs to `{}`; a device \
                 can post only its own visits",
                device.name
            )));
        }
        if !(0.0..=1.0).contains(&visit.mask_score) {
            return Err(ApiError::Validation(format!(
                "visits[{i}].mask_score must be between 0 and 1, not {}",
                visit.mask_score
            )));
        }
        if visit.captured_at > latest {
            return Err(ApiError::Validation(format!(
                "visits[{i}].captured_at {} is in the future (server time {}); check the \
                 device's clock",
                visit.captured_at.to_rfc3339(),
                now.to_rfc3339()
            )));
        }
        if visit.captured_at < earliest_plausible() {
            return Err(ApiError::Validation(format!(
                "visits[{i}].captured_at {} is before 2020; check the device's clock",
                visit.captured_at.to_rfc3339()
            )));
        }
        if visit.model.trim().is_empty()
            || visit.model.len() > MAX_MODEL_LEN
            || visit.model.chars().any(char::is_control)
        {
            return Err(ApiError::Validation(format!(
                "visits[{i}].model must be 1 to {MAX_MODEL_LEN} printable characters"
            )));
        }
    }
    Ok(())
}

/// Stores a batch of visits from the calling device. Idempotent by visit id: a visit
/// already stored (or repeated in the batch) counts as a duplicate and changes nothing.
#[utoipa::path(post, path = "/api/v1/visits", tag = "visits",
    security(("device" = [])),
    request_body = VisitBatch,
    responses(
        (status = 200, description = "Stored", body = VisitBatchResult),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or invalid device token", body = ErrorBody),
        (status = 403, description = "Not a device token, or a visit of another device", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid visit; nothing was stored", body = ErrorBody),
    ))]
pub(crate) async fn create_visits(
    State(state): State<AppState>,
    device: AuthDevice,
    Json(batch): Json<VisitBatch>,
) -> ApiResult<axum::Json<VisitBatchResult>> {
    Ok(axum::Json(ingest_batch(&state, &device, batch).await?))
}

/// Validates and stores one device's batch, then tells the live stream and the alert
/// engine: the one path visits take in, over HTTP or MQTT.
pub(crate) async fn ingest_batch(
    state: &AppState,
    device: &AuthDevice,
    batch: VisitBatch,
) -> ApiResult<VisitBatchResult> {
    let now = state.clock.now();
    validate_batch(&batch, device, now, state.settings.max_clock_skew)?;
    let total = batch.visits.len();
    let mut seen = HashSet::with_capacity(total);
    let unique: Vec<NewVisit> = batch
        .visits
        .into_iter()
        .filter(|v| seen.insert(v.id))
        .map(|mut v| {
            // Every backend keeps microseconds; store and echo the same instant.
            v.captured_at = v.captured_at.trunc_subsecs(6);
            v
        })
        .collect();
    let Stored {
        stored,
        received_at,
        visits: unique,
    } = state
        .ingest
        .submit(device.id, unique)
        .await
        .map_err(ApiError::internal)?;
    let accepted = stored.iter().filter(|s| **s).count();
    let duplicates = total - accepted;
    state.metrics.visits_accepted.inc_by(accepted as u64);
    state.metrics.visits_duplicate.inc_by(duplicates as u64);
    if accepted > 0 {
        state.alerts.poke();
    }
    if state.events.receiver_count() > 0 {
        for (visit, _) in unique.into_iter().zip(stored).filter(|(_, s)| *s) {
            // No listener is not an error.
            let _ = state.events.send(StreamEvent::Visit(Visit {
                id: visit.id,
                device: device.name.clone(),
                captured_at: visit.captured_at,
                received_at,
                passed: visit.passed,
                mask_score: visit.mask_score,
                model: visit.model,
                decision_ms: visit.decision_ms,
            }));
        }
    }
    Ok(VisitBatchResult {
        accepted: accepted as u32,
        duplicates: duplicates as u32,
    })
}

/// Query parameters of `GET /api/v1/visits`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct VisitQuery {
    /// Visits captured at or after this instant (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Visits captured before this instant (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// Only this device's visits (by name).
    device: Option<String>,
    /// Only passed (`true`) or failed (`false`) visits.
    passed: Option<bool>,
    /// Page size, 1 to 500 (default 100).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The history filter of a query; 422 unless `from` comes before `to`. Shared by the list
/// and the CSV export, so both refuse the same queries.
pub(crate) fn checked_filter(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    device: Option<String>,
    passed: Option<bool>,
) -> ApiResult<VisitFilter> {
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        return Err(ApiError::Validation("`from` must be before `to`".into()));
    }
    Ok(VisitFilter {
        from,
        to,
        device,
        passed,
    })
}

/// Encodes a keyset position as an opaque cursor.
fn encode_cursor(pos: Position) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "v1.{}.{}",
        pos.captured_at.timestamp_micros(),
        pos.id.simple()
    ))
}

fn decode_cursor(cursor: &str) -> Option<Position> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.split('.');
    if parts.next()? != "v1" {
        return None;
    }
    let micros: i64 = parts.next()?.parse().ok()?;
    let id = Uuid::parse_str(parts.next()?).ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some(Position {
        captured_at: DateTime::from_timestamp_micros(micros)?,
        id,
    })
}

/// History, newest first, one page at a time. Paging is by keyset: visits stored while a
/// client pages never make it see a visit twice or skip one it would have seen.
#[utoipa::path(get, path = "/api/v1/visits", tag = "visits",
    security(("user" = [])),
    params(VisitQuery),
    responses(
        (status = 200, description = "One page", body = VisitPage),
        (status = 400, description = "Bad query string or cursor", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 422, description = "Out-of-range value", body = ErrorBody),
    ))]
pub(crate) async fn list_visits(
    State(state): State<AppState>,
    _user: AuthUser,
    Query(query): Query<VisitQuery>,
) -> ApiResult<axum::Json<VisitPage>> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE_LIMIT);
    if !(1..=MAX_PAGE_LIMIT).contains(&limit) {
        return Err(ApiError::Validation(format!(
            "`limit` must be between 1 and {MAX_PAGE_LIMIT}, not {limit}"
        )));
    }
    let filter = checked_filter(query.from, query.to, query.device, query.passed)?;
    let after = query
        .cursor
        .as_deref()
        .map(|c| decode_cursor(c).ok_or_else(|| ApiError::BadRequest("invalid cursor".into())))
        .transpose()?;
    // One extra row tells whether another page follows.
    let mut items = state.store.list_visits(&filter, after, limit + 1).await?;
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|last| {
            encode_cursor(Position {
                captured_at: last.captured_at,
                id: last.id,
            })
        })
    } else {
        None
    };
    Ok(axum::Json(VisitPage { items, next_cursor }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let pos = Position {
            captured_at: DateTime::from_timestamp_micros(1_780_000_000_123_456).unwrap(),
            id: Uuid::new_v4(),
        };
        assert_eq!(decode_cursor(&encode_cursor(pos)), Some(pos));
        for bad in ["", "abc", "djEuMTIz", &URL_SAFE_NO_PAD.encode("v2.1.x")] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }
}
