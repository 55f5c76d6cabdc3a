//! `GET /api/v1/visits/export.csv`: the list's filters, every row once across pages, CSV
//! quoting, auth by header or `access_token`, and a body that fails loudly when the
//! database fails part way.

use std::collections::HashSet;

use chrono::Duration;
use maskgate_api_types::{NewVisit, VisitPage};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::helpers::{TestApp, error_code, visit, visit_at};
use crate::{backend_tests, backend_tests_with};

const HEADER: [&str; 8] = [
    "id",
    "captured_at",
    "local_time",
    "door",
    "passed",
    "mask_score",
    "model",
    "decision_ms",
];

/// The export for `query` with a bearer token: status, headers, body.
async fn export(app: &TestApp, query: &str, token: &str) -> (StatusCode, HeaderMap, String) {
    let response = app
        .client
        .get(app.url(&format!("/api/v1/visits/export.csv?{query}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("export");
    let (status, headers) = (response.status(), response.headers().clone());
    (
        status,
        headers,
        response.text().await.expect("the whole body"),
    )
}

/// A successful export's rows, the header checked and dropped.
async fn export_rows(app: &TestApp, query: &str, token: &str) -> Vec<Vec<String>> {
    let (status, headers, body) = export(app, query, token).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    let mut rows = parse_csv(&body);
    assert_eq!(
        rows.first().map(Vec::as_slice),
        Some(&HEADER.map(String::from)[..]),
        "header of {query}"
    );
    rows.remove(0);
    rows
}

/// Ids of every visit `GET /api/v1/visits?query` lists, over all its pages, in order.
async fn listed_ids(app: &TestApp, query: &str, token: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, body) = app
            .get_json(&format!("/api/v1/visits?limit=500&{query}{cursor}"), token)
            .await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        let page: VisitPage = serde_json::from_value(body).expect("page");
        ids.extend(page.items.iter().map(|v| v.id.to_string()));
        match page.next_cursor {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return ids,
        }
    }
}

/// RFC 4180 as the export writes it: CRLF after every line, `"` quoting with `""` inside.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "CR only before LF");
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\n') => panic!("a bare LF ends a line: {text:?}"),
            (false, c) => field.push(c),
        }
    }
    assert!(
        !quoted && field.is_empty() && row.is_empty(),
        "the body ends with CRLF: {text:?}"
    );
    rows
}

fn enc(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339().replace('+', "%2B")
}

backend_tests! {
    async fn the_export_has_exactly_the_rows_the_list_filters_give(app) {
        let admin = app.admin_token().await;
        let front = app.device(&admin, "front").await;
        let back = app.device(&admin, "back").await;
        let f: Vec<_> = (1..=4).map(|m| visit(&app, Duration::minutes(m * 10), m % 2 == 0)).collect();
        let b: Vec<_> = (1..=3).map(|m| visit(&app, Duration::minutes(m * 10 + 5), false)).collect();
        app.post_visits(&front, &f).await;
        app.post_visits(&back, &b).await;
        let window = format!(
            "from={}&to={}",
            enc(app.now() - Duration::minutes(26)),
            enc(app.now() - Duration::minutes(10)),
        );
        let window_back = format!("{window}&device=back");
        for (query, count) in [
            ("", 7),
            ("device=front", 4),
            ("device=back", 3),
            ("passed=false", 5),
            ("passed=true", 2),
            ("device=front&passed=false", 2),
            ("device=back&passed=true", 0),
            ("device=nowhere", 0),
            (window.as_str(), 3),
            (window_back.as_str(), 2),
        ] {
            let rows = export_rows(&app, query, &admin).await;
            let ids: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
            assert_eq!(ids.len(), count, "rows of `{query}`");
            assert_eq!(ids, listed_ids(&app, query, &admin).await, "`{query}`: the list's visits, in its order");
            for row in &rows {
                if query.contains("device=front") {
                    assert_eq!(row[3], "front", "{query}");
                }
                if query.contains("passed=false") {
                    assert_eq!(row[4], "false", "{query}");
                }
            }
        }
        // Every column of one visit.
        let newest = &f[0];
        let rows = export_rows(&app, "device=front", &admin).await;
        let row = &rows[0];
        assert_eq!(row[0], newest.id.to_string());
        let captured: chrono::DateTime<chrono::Utc> = row[1].parse().expect("RFC 3339");
        assert_eq!(captured, newest.captured_at);
        assert!(row[1].ends_with('Z'), "UTC: {}", row[1]);
        assert!(row[2].ends_with("+00:00"), "the site's zone (UTC here): {}", row[2]);
        assert_eq!(row[3..], ["front", "false", "0.12", "maskgate-cnn@1.0.0", "240"]);
        app
    }

    async fn an_export_longer_than_a_page_has_every_visit_once_in_order(app) {
        let admin = app.admin_token().await;
        let door = app.device(&admin, "door").await;
        let base = app.now() - Duration::days(2);
        // 2,500 visits (three store pages of 1,000), equal timestamps in runs of four.
        let mut posted = HashSet::new();
        for batch in 0..3 {
            let visits: Vec<NewVisit> = (0..1000.min(2500 - batch * 1000))
                .map(|i| visit_at(base - Duration::seconds((batch * 1000 + i) / 4), i % 3 != 0))
                .collect();
            posted.extend(visits.iter().map(|v| v.id.to_string()));
            let response = app.post_visits(&door, &visits).await;
            assert_eq!(response.status(), StatusCode::OK, "batch {batch}");
        }
        let rows = export_rows(&app, "", &admin).await;
        let ids: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
        assert_eq!(ids.len(), 2500, "every visit");
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 2500, "each once");
        assert!(ids.iter().all(|id| posted.contains(id)));
        assert_eq!(ids, listed_ids(&app, "", &admin).await, "newest first, as the list");
        app
    }

    async fn model_names_with_commas_and_quotes_survive_the_round_trip(app) {
        let admin = app.admin_token().await;
        let door = app.device(&admin, "door").await;
        let mut odd = visit(&app, Duration::minutes(1), true);
        odd.model = "cnn, \"large\"@2".into();
        let mut formula = visit(&app, Duration::minutes(2), false);
        formula.model = "=HYPERLINK(\"x\")".into();
        formula.decision_ms = None;
        app.post_visits(&door, &[odd, formula]).await;
        let (status, _, body) = export(&app, "", &admin).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains(",\"cnn, \"\"large\"\"@2\","), "quoted: {body}");
        let rows = parse_csv(&body);
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|r| r.len() == HEADER.len()), "{rows:?}");
        assert_eq!(rows[1][6], "cnn, \"large\"@2");
        assert_eq!(rows[2][6], "'=HYPERLINK(\"x\")", "a formula reads as text");
        assert_eq!(rows[2][7], "", "no decision time reported");
        app
    }

    async fn the_export_needs_a_login_by_header_or_access_token(app) {
        let admin = app.admin_token().await;
        let door = app.device(&admin, "door").await;
        app.post_visits(&door, &[visit(&app, Duration::minutes(1), true)]).await;
        let url = app.url("/api/v1/visits/export.csv");
        let anonymous = app.client.get(&url).send().await.expect("get");
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
        let body: serde_json::Value = anonymous.json().await.expect("json error");
        assert_eq!(error_code(&body), "unauthorized");
        for (case, query, status) in [
            ("wrong token", "access_token=mgu_nope".to_owned(), StatusCode::UNAUTHORIZED),
            ("a door's token", format!("access_token={door}"), StatusCode::FORBIDDEN),
            ("the session's token", format!("access_token={admin}&device=door"), StatusCode::OK),
        ] {
            let response = app.client.get(format!("{url}?{query}")).send().await.expect("get");
            assert_eq!(response.status(), status, "case: {case}");
        }
        let (status, headers, body) = export(&app, "from=2026-11-01T00:00:00Z", &admin).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let disposition = headers["content-disposition"].to_str().expect("ascii");
        assert!(
            disposition.starts_with("attachment; filename=\"maskgate-visits-2026-11-01-")
                && disposition.ends_with(".csv\""),
            "{disposition}"
        );
        assert_eq!(headers["cache-control"], "no-store");
        app
    }

    async fn bad_export_queries_get_the_lists_errors_before_any_csv(app) {
        let admin = app.admin_token().await;
        for (case, query, status, code) in [
            ("from after to", "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", StatusCode::UNPROCESSABLE_ENTITY, "validation"),
            ("from equals to", "from=2026-02-01T00:00:00Z&to=2026-02-01T00:00:00Z", StatusCode::UNPROCESSABLE_ENTITY, "validation"),
            ("bad time", "from=yesterday", StatusCode::BAD_REQUEST, "bad_request"),
            ("passed not a bool", "passed=maybe", StatusCode::BAD_REQUEST, "bad_request"),
            ("unknown parameter", "colour=red", StatusCode::BAD_REQUEST, "bad_request"),
        ] {
            let (got, headers, body) = export(&app, query, &admin).await;
            assert_eq!(got, status, "case: {case}: {body}");
            assert_eq!(headers["content-type"], "application/json", "case: {case}");
            let body: serde_json::Value = serde_json::from_str(&body).expect("JSON error");
            assert_eq!(error_code(&body), code, "case: {case}");
        }
        app
    }
}

backend_tests_with! {
    async fn local_time_is_in_the_sites_zone(app, |s| s.tz = chrono_tz::Asia::Seoul) {
        let admin = app.admin_token().await;
        let door = app.device(&admin, "door").await;
        let v = visit(&app, Duration::minutes(1), true);
        app.post_visits(&door, std::slice::from_ref(&v)).await;
        let rows = export_rows(&app, "", &admin).await;
        let local: chrono::DateTime<chrono::FixedOffset> = rows[0][2].parse().expect("RFC 3339");
        assert!(rows[0][2].ends_with("+09:00"), "{}", rows[0][2]);
        assert_eq!(local.timestamp(), v.captured_at.timestamp(), "the same instant");
        app
    }

    async fn a_database_failure_part_way_aborts_the_body(app, |s| s.export_page_rows = 1) {
        let admin = app.admin_token().await;
        let door = app.device(&admin, "door").await;
        let base = app.now() - Duration::hours(1);
        for batch in 0..3 {
            let visits: Vec<NewVisit> =
                (0..1000).map(|i| visit_at(base - Duration::seconds(batch * 1000 + i), true)).collect();
            app.post_visits(&door, &visits).await;
        }
        // One visit per store query: the 3,000 queries outlast the DROP by far.
        let mut response = app
            .client
            .get(app.url("/api/v1/visits/export.csv"))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("headers");
        assert_eq!(response.status(), StatusCode::OK);
        app.execute_sql("DROP VIEW history").await;
        app.execute_sql("DROP TABLE visits").await;
        let mut received = 0;
        let outcome = loop {
            match response.chunk().await {
                Ok(Some(chunk)) => received += chunk.len(),
                Ok(None) => break Ok(received),
                Err(err) => break Err(err),
            }
        };
        assert!(outcome.is_err(), "a complete-looking body of {received} bytes after the table was dropped");
        app
    }
}
