//! `GET /api/v1/visits/export.csv`: history as CSV, streamed page by page.
//!
//! The handler checks the query and reads the first page before it answers, so a bad query
//! or a database that is down gets the usual JSON error. The rest streams: each chunk is
//! one keyset page of [`Settings::export_page_rows`](super::Settings) visits, so an export
//! of a year of visits never sits in memory. A store error after the first chunk cannot
//! change the status any more; it aborts the body instead (the connection closes before
//! the chunked body's end), which every HTTP client reports as an error, never as a
//! complete download.

use std::future::Future;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use futures::Stream;
use maskgate_api_types::{ErrorBody, Visit};
use serde::Deserialize;

use super::AppState;
use super::error::ApiResult;
use super::extract::{LinkUser, Query};
use super::visits::checked_filter;
use crate::db::{Position, StoreError};

/// The header row; [`push_row`] writes the columns in this order.
const HEADER: &str = "id,captured_at,local_time,door,passed,mask_score,model,decision_ms\r\n";

/// Query parameters of `GET /api/v1/visits/export.csv`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ExportQuery {
    /// Visits captured at or after this instant (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Visits captured before this instant (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// Only this device's visits (by name).
    device: Option<String>,
    /// Only passed (`true`) or failed (`false`) visits.
    passed: Option<bool>,
    /// The session token, for a plain download link that cannot set headers. Prefer the
    /// `Authorization` header.
    #[allow(dead_code)]
    access_token: Option<String>,
}

/// Every visit that matches the filters of `GET /api/v1/visits`, newest first, as CSV
/// (RFC 4180: CRLF line ends, fields with a comma, quote or line break in double quotes).
/// Columns: `id`, `captured_at` (RFC 3339, UTC), `local_time` (RFC 3339 in the site's
/// time zone, with its offset), `door`, `passed`, `mask_score`, `model`, `decision_ms`
/// (empty when the door did not report it). A `door` or `model` that starts with `=`,
/// `+`, `-` or `@` gets a leading `'`, so a spreadsheet shows it as text instead of running
/// it as a formula.
///
/// The body streams. If the database fails part way, the body is aborted (the connection
/// closes without the chunked body's end): clients see a failed download, never a
/// shorter file that looks complete.
#[utoipa::path(get, path = "/api/v1/visits/export.csv", tag = "visits",
    security(("user" = [])),
    params(ExportQuery),
    responses(
        (status = 200, description = "The visits as CSV, streamed; the body is aborted if \
            the database fails part way", content_type = "text/csv", body = String),
        (status = 400, description = "Bad query string", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 422, description = "`from` not before `to`", body = ErrorBody),
    ))]
pub(crate) async fn export_visits(
    State(state): State<AppState>,
    _user: LinkUser,
    Query(query): Query<ExportQuery>,
) -> ApiResult<Response> {
    let filter = checked_filter(query.from, query.to, query.device, query.passed)?;
    let page_rows = state.settings.export_page_rows.max(1);
    let tz = state.settings.tz;
    let name = file_name(query.from, query.to, state.clock.now(), tz);
    // The first page before the answer: a database that is down gets a JSON 500/503.
    let first = state.store.list_visits(&filter, None, page_rows).await?;
    let store = state.store.clone();
    let chunks = csv_chunks(first, page_rows, tz, move |after| {
        let (store, filter) = (store.clone(), filter.clone());
        async move { store.list_visits(&filter, Some(after), page_rows).await }
    });
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    // The name holds only digits, letters and dashes.
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `maskgate-visits-<first day>-<last day>.csv`, days in the site's zone; `to` is
/// exclusive, so a range that ends at midnight names the day before. No `from`: `start`;
/// no `to`: today.
fn file_name(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    tz: Tz,
) -> String {
    let day = |at: DateTime<Utc>| at.with_timezone(&tz).format("%Y-%m-%d").to_string();
    let first = from.map_or_else(|| "start".to_owned(), day);
    let last = to.map_or_else(
        || day(now),
        |to| day(to - chrono::Duration::microseconds(1)),
    );
    format!("maskgate-visits-{first}-{last}.csv")
}

/// Where the export stands between chunks.
enum Step {
    /// The first page, read before the answer began.
    First(Vec<Visit>),
    /// The next page starts after this visit.
    After(Position),
    /// Nothing more to send.
    Done,
}

/// The CSV body: the header and `first`, then one chunk per page that `fetch` returns after
/// the last visit sent, until a page is shorter than `page_rows`. A failed fetch ends the
/// stream with that error.
fn csv_chunks<F, Fut>(
    first: Vec<Visit>,
    page_rows: u32,
    tz: Tz,
    fetch: F,
) -> impl Stream<Item = Result<String, StoreError>> + Send + 'static
where
    F: FnMut(Position) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Vec<Visit>, StoreError>> + Send,
{
    futures::stream::unfold(
        (Step::First(first), fetch),
        move |(step, mut fetch)| async move {
            let (rows, header) = match step {
                Step::Done => return None,
                Step::First(rows) => (rows, true),
                Step::After(after) => match fetch(after).await {
                    Ok(rows) if rows.is_empty() => return None,
                    Ok(rows) => (rows, false),
                    Err(err) => {
                        tracing::error!(error = %err, "CSV export aborted part way: the database failed");
                        return Some((Err(err), (Step::Done, fetch)));
                    }
                },
            };
            let next = match rows.last() {
                Some(last) if rows.len() >= page_rows as usize => Step::After(Position {
                    captured_at: last.captured_at,
                    id: last.id,
                }),
                _ => Step::Done,
            };
            let mut chunk = String::with_capacity(rows.len() * 160 + HEADER.len());
            if header {
                chunk.push_str(HEADER);
            }
            for visit in &rows {
                push_row(&mut chunk, visit, tz);
            }
            Some((Ok(chunk), (next, fetch)))
        },
    )
}

/// One visit as a CSV line, in the columns of [`HEADER`].
fn push_row(out: &mut String, visit: &Visit, tz: Tz) {
    let local = visit
        .captured_at
        .with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::Secs, false);
    let fields = [
        visit.id.to_string(),
        visit
            .captured_at
            .to_rfc3339_opts(SecondsFormat::AutoSi, true),
        local,
        as_text(&visit.device),
        visit.passed.to_string(),
        visit.mask_score.to_string(),
        as_text(&visit.model),
        visit
            .decision_ms
            .map(|ms| ms.to_string())
            .unwrap_or_default(),
    ];
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_field(out, field);
    }
    out.push_str("\r\n");
}

/// Text a spreadsheet would take for a formula gets a leading `'`.
fn as_text(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    }
}

/// A field, in double quotes (inner quotes doubled) when it holds a comma, a quote, a line
/// break or surrounding spaces.
fn push_field(out: &mut String, field: &str) {
    let quote =
        field.contains([',', '"', '\r', '\n']) || field.starts_with(' ') || field.ends_with(' ');
    if quote {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use chrono::TimeZone;
    use futures::StreamExt;
    use uuid::Uuid;

    use super::*;

    fn visit(n: i64, model: &str) -> Visit {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 27, 14, 0, 0)
            .single()
            .expect("valid")
            - chrono::Duration::seconds(n);
        Visit {
            id: Uuid::from_u128(n as u128),
            device: "front-door".into(),
            captured_at: at,
            received_at: at,
            passed: n % 2 == 0,
            mask_score: 0.5,
            model: model.into(),
            decision_ms: (n % 3 != 0).then_some(240),
        }
    }

    #[test]
    fn fields_are_quoted_only_when_they_must_be() {
        let cases = [
            ("plain", "plain"),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("two\nlines", "\"two\nlines\""),
            (" padded", "\" padded\""),
            ("", ""),
        ];
        for (field, want) in cases {
            let mut out = String::new();
            push_field(&mut out, field);
            assert_eq!(out, want, "field {field:?}");
        }
        assert_eq!(as_text("=1+1"), "'=1+1");
        assert_eq!(as_text("cnn@1"), "cnn@1");
    }

    #[test]
    fn a_row_has_utc_and_site_time_and_every_column() {
        let seoul: Tz = "Asia/Seoul".parse().expect("zone");
        let mut out = String::new();
        push_row(&mut out, &visit(1, "cnn, \"v2\"@1"), seoul);
        assert_eq!(
            out,
            "00000000-0000-0000-0000-000000000001,2026-11-27T13:59:59Z,\
             2026-11-27T22:59:59+09:00,front-door,false,0.5,\"cnn, \"\"v2\"\"@1\",240\r\n"
        );
        let mut out = String::new();
        push_row(&mut out, &visit(3, "m"), seoul);
        assert!(
            out.ends_with(",m,\r\n"),
            "no decision time: empty field: {out}"
        );
    }

    #[test]
    fn file_names_name_the_first_and_last_local_day() {
        let seoul: Tz = "Asia/Seoul".parse().expect("zone");
        let at = |d, h| {
            Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0)
                .single()
                .expect("valid")
        };
        // Seoul midnight of 1 and 28 November, in UTC: the 27th is the last day included.
        assert_eq!(
            file_name(
                Some(at(1, 0) - chrono::Duration::hours(9)),
                Some(at(27, 15)),
                at(27, 0),
                seoul
            ),
            "maskgate-visits-2026-11-01-2026-11-27.csv"
        );
        assert_eq!(
            file_name(None, None, at(27, 16), seoul),
            "maskgate-visits-start-2026-11-28.csv"
        );
    }

    #[tokio::test]
    async fn pages_follow_each_other_until_a_short_one() {
        let all: Vec<Visit> = (0..7).map(|n| visit(n, "m")).collect();
        let calls = Arc::new(AtomicUsize::new(0));
        let (rest, counter) = (all.clone(), calls.clone());
        let chunks: Vec<String> = csv_chunks(all[..3].to_vec(), 3, Tz::UTC, move |after| {
            counter.fetch_add(1, Ordering::SeqCst);
            let start = rest.iter().position(|v| v.id == after.id).expect("known") + 1;
            let page = rest[start..].iter().take(3).cloned().collect();
            async move { Ok(page) }
        })
        .map(|chunk| chunk.expect("no error"))
        .collect()
        .await;
        assert_eq!(chunks.len(), 3, "3 + 3 + 1 rows");
        assert!(chunks[0].starts_with(HEADER));
        let text = chunks.concat();
        assert_eq!(text.lines().count(), 8, "the header and 7 rows: {text}");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "no fetch after the short page"
        );
    }

    #[tokio::test]
    async fn a_store_error_part_way_ends_the_body_with_that_error() {
        let first: Vec<Visit> = (0..2).map(|n| visit(n, "m")).collect();
        let items: Vec<_> = csv_chunks(first, 2, Tz::UTC, |_| async {
            Err(StoreError::Corrupt("gone".into()))
        })
        .collect()
        .await;
        assert_eq!(
            items.len(),
            2,
            "the first page, then the error, then nothing"
        );
        assert!(items[0].is_ok());
        assert!(items[1].is_err());
    }
}
