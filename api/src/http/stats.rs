//! `GET /api/v1/stats`: pass/fail counts per local hour or day.

use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use maskgate_api_types::{Bucket, ErrorBody, Stats};
use serde::Deserialize;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{AuthUser, Query};
use crate::db::slot_of;
use crate::stats::BucketPlan;

/// Query parameters of `GET /api/v1/stats`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct StatsQuery {
    /// Start of the range (RFC 3339); widened to the start of its bucket. Default: 24 hours
    /// (hour buckets) or 30 days (day buckets) before `to`.
    from: Option<DateTime<Utc>>,
    /// End of the range (RFC 3339, exclusive); widened to the end of its bucket. Default: now.
    to: Option<DateTime<Utc>>,
    /// `hour` (default) or `day`.
    #[param(inline)]
    bucket: Option<Bucket>,
    /// IANA time zone to cut buckets in, such as `Asia/Seoul`. Default: the site's.
    tz: Option<String>,
    /// Only this device's visits (by name).
    device: Option<String>,
}

/// Pass and fail counts per bucket, every bucket of the range included, and the pass rate.
/// Buckets follow the time zone's calendar: a day is 23 or 25 hours long on a DST change.
#[utoipa::path(get, path = "/api/v1/stats", tag = "stats",
    security(("user" = [])),
    params(StatsQuery),
    responses(
        (status = 200, description = "Counts", body = Stats),
        (status = 400, description = "Bad query string", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 422, description = "Unknown time zone or bad range", body = ErrorBody),
    ))]
pub(crate) async fn get_stats(
    State(state): State<AppState>,
    _user: AuthUser,
    Query(query): Query<StatsQuery>,
) -> ApiResult<axum::Json<Stats>> {
    let tz: Tz = match &query.tz {
        Some(name) => name.parse().map_err(|_| {
            ApiError::Validation(format!(
                "unknown time zone `{name}` (use an IANA name such as Asia/Seoul)"
            ))
        })?,
        None => state.settings.tz,
    };
    let bucket = query.bucket.unwrap_or_default();
    let to = query.to.unwrap_or_else(|| state.clock.now());
    let from = query.from.unwrap_or_else(|| match bucket {
        Bucket::Hour => to - Duration::hours(24),
        Bucket::Day => to - Duration::days(30),
    });
    let plan =
        BucketPlan::new(from, to, bucket, tz).map_err(|e| ApiError::Validation(e.to_string()))?;
    let slots = state
        .store
        .slot_counts(
            slot_of(plan.start()),
            slot_of(plan.end()),
            query.device.as_deref(),
        )
        .await?;
    let (buckets, pass_rate) = plan.fill(&slots);
    Ok(axum::Json(Stats {
        tz: tz.name().to_owned(),
        bucket: plan.bucket(),
        buckets,
        pass_rate,
    }))
}
