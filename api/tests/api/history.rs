//! History: filters, keyset paging, and paging while doors keep posting.

use std::collections::HashSet;

use chrono::Duration;
use maskgate_api_types::VisitPage;
use reqwest::StatusCode;

use crate::backend_tests;
use crate::helpers::{TestApp, error_code, visit, visit_at};

async fn page(app: &TestApp, token: &str, query: &str) -> VisitPage {
    let (status, body) = app
        .get_json(&format!("/api/v1/visits?{query}"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    serde_json::from_value(body).expect("page")
}

fn enc(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339().replace('+', "%2B")
}

backend_tests! {
    async fn history_is_newest_first_and_filters_by_device_result_and_time(app) {
        let admin = app.admin_token().await;
        let front = app.device(&admin, "front").await;
        let back = app.device(&admin, "back").await;
        let f: Vec<_> = (1..=4).map(|m| visit(&app, Duration::minutes(m * 10), m % 2 == 0)).collect();
        let b: Vec<_> = (1..=3).map(|m| visit(&app, Duration::minutes(m * 10 + 5), false)).collect();
        app.post_visits(&front, &f).await;
        app.post_visits(&back, &b).await;

        let all = page(&app, &admin, "").await;
        assert_eq!(all.items.len(), 7);
        assert!(all.items.windows(2).all(|w| w[0].captured_at >= w[1].captured_at), "newest first");
        assert_eq!(all.next_cursor, None);

        let front_only = page(&app, &admin, "device=front").await;
        assert_eq!(front_only.items.len(), 4);
        assert!(front_only.items.iter().all(|v| v.device == "front"));

        let failed = page(&app, &admin, "passed=false").await;
        assert_eq!(failed.items.len(), 5);
        assert!(failed.items.iter().all(|v| !v.passed));

        let from = app.now() - Duration::minutes(26);
        let to = app.now() - Duration::minutes(10);
        let window = page(&app, &admin, &format!("from={}&to={}", enc(from), enc(to))).await;
        let minutes: Vec<i64> = window.items.iter().map(|v| (app.now() - v.captured_at).num_minutes()).collect();
        assert_eq!(minutes, vec![15, 20, 25], "from is inclusive, to exclusive");

        let nobody = page(&app, &admin, "device=nowhere").await;
        assert!(nobody.items.is_empty());
        app
    }

    async fn paging_sees_every_visit_once_while_new_visits_arrive(app) {
        let admin = app.admin_token().await;
        let door = app.device(&admin, "door").await;
        let base = app.now() - Duration::hours(2);
        // Equal timestamps in runs of three test the id tie-breaker.
        let existing: Vec<_> = (0..150).map(|i| visit_at(base - Duration::seconds(i / 3), true)).collect();
        app.post_visits(&door, &existing).await;
        let expected: HashSet<_> = existing.iter().map(|v| v.id).collect();

        // Another door keeps posting new visits while the pages are read.
        let other = app.device(&admin, "other").await;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (client, url, stop, now) = (app.client.clone(), app.url("/api/v1/visits"), stop.clone(), app.now());
            tokio::spawn(async move {
                let mut posted = HashSet::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let v = visit_at(now, posted.len() % 2 == 0);
                    posted.insert(v.id);
                    let body = maskgate_api_types::VisitBatch { visits: vec![v] };
                    let r = client.post(&url).bearer_auth(&other).json(&body).send().await.expect("post");
                    assert_eq!(r.status(), StatusCode::OK);
                }
                posted
            })
        };

        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let query = match &cursor {
                Some(c) => format!("limit=7&cursor={c}"),
                None => "limit=7".to_string(),
            };
            let p = page(&app, &admin, &query).await;
            assert!(p.items.len() <= 7);
            seen.extend(p.items.iter().map(|v| v.id));
            pages += 1;
            match p.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
            assert!(pages < 1000, "paging does not end");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let posted = writer.await.expect("writer");
        assert!(!posted.is_empty(), "the writer ran");
        let unique: HashSet<_> = seen.iter().copied().collect();
        assert_eq!(unique.len(), seen.len(), "no visit repeats across pages");
        assert!(expected.is_subset(&unique), "every visit stored before paging is seen");
        assert!(unique.iter().all(|id| expected.contains(id) || posted.contains(id)));
        app
    }

    async fn bad_history_queries_get_a_clear_4xx(app) {
        let admin = app.admin_token().await;
        for (case, query, status, code) in [
            ("limit zero", "limit=0", StatusCode::UNPROCESSABLE_ENTITY, "validation"),
            ("limit above 500", "limit=501", StatusCode::UNPROCESSABLE_ENTITY, "validation"),
            ("limit not a number", "limit=many", StatusCode::BAD_REQUEST, "bad_request"),
            ("garbage cursor", "cursor=not-a-cursor", StatusCode::BAD_REQUEST, "bad_request"),
            ("from after to", "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", StatusCode::UNPROCESSABLE_ENTITY, "validation"),
            ("bad time", "from=yesterday", StatusCode::BAD_REQUEST, "bad_request"),
            ("passed not a bool", "passed=maybe", StatusCode::BAD_REQUEST, "bad_request"),
            ("unknown parameter", "colour=red", StatusCode::BAD_REQUEST, "bad_request"),
        ] {
            let (got, body) = app.get_json(&format!("/api/v1/visits?{query}"), &admin).await;
            assert_eq!(got, status, "case: {case}: {body}");
            assert_eq!(error_code(&body), code, "case: {case}");
        }
        app
    }
}
