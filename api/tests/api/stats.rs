//! Stats: local-time buckets, DST, device filter, pass rate, bad input.

use chrono::{Duration, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{error_code, visit_at};

fn counts(stats: &Value) -> Vec<(String, u64, u64)> {
    stats["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| {
            (
                b["start"].as_str().expect("start").to_owned(),
                b["passed"].as_u64().expect("passed"),
                b["failed"].as_u64().expect("failed"),
            )
        })
        .collect()
}

backend_tests! {
    async fn seoul_days_start_at_local_midnight(app) {
        app.clock.set(Utc.with_ymd_and_hms(2026, 5, 10, 0, 0, 0).unwrap());
        let admin = app.admin_token().await;
        let door = app.device(&admin, "door").await;
        // 14:59 UTC on May 1 is 23:59 in Seoul; 15:00 UTC is already May 2 there.
        let late = visit_at(Utc.with_ymd_and_hms(2026, 5, 1, 14, 59, 0).unwrap(), true);
        let next = visit_at(Utc.with_ymd_and_hms(2026, 5, 1, 15, 0, 0).unwrap(), false);
        app.post_visits(&door, &[late, next]).await;
        let (status, stats) = app.get_json(
            "/api/v1/stats?bucket=day&tz=Asia/Seoul&from=2026-04-30T15:00:00Z&to=2026-05-02T15:00:00Z",
            &admin,
        ).await;
        assert_eq!(status, StatusCode::OK, "{stats}");
        assert_eq!(counts(&stats), vec![
            ("2026-05-01T00:00:00+09:00".into(), 1, 0),
            ("2026-05-02T00:00:00+09:00".into(), 0, 1),
        ]);
        assert_eq!(stats["pass_rate"], 0.5);
        assert_eq!(stats["tz"], "Asia/Seoul");
        app
    }

    async fn hourly_buckets_follow_the_fall_back_dst_change(app) {
        app.clock.set(Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap());
        let admin = app.admin_token().await;
        let door = app.device(&admin, "door").await;
        // New York, 2026-11-01: 01:30 EDT (05:30 UTC) and 01:30 EST (06:30 UTC).
        let first = visit_at(Utc.with_ymd_and_hms(2026, 11, 1, 5, 30, 0).unwrap(), true);
        let second = visit_at(Utc.with_ymd_and_hms(2026, 11, 1, 6, 30, 0).unwrap(), false);
        let evening = visit_at(Utc.with_ymd_and_hms(2026, 11, 2, 4, 59, 0).unwrap(), true);
        app.post_visits(&door, &[first, second, evening]).await;
        let (status, stats) = app.get_json(
            "/api/v1/stats?bucket=hour&tz=America/New_York&from=2026-11-01T04:00:00Z&to=2026-11-02T05:00:00Z",
            &admin,
        ).await;
        assert_eq!(status, StatusCode::OK, "{stats}");
        let c = counts(&stats);
        assert_eq!(c.len(), 25, "the day has 25 local hours");
        assert_eq!(c[1], ("2026-11-01T01:00:00-04:00".into(), 1, 0));
        assert_eq!(c[2], ("2026-11-01T01:00:00-05:00".into(), 0, 1));
        assert_eq!(c[24], ("2026-11-01T23:00:00-05:00".into(), 1, 0));

        let (_, days) = app.get_json(
            "/api/v1/stats?bucket=day&tz=America/New_York&from=2026-11-01T04:00:00Z&to=2026-11-02T05:00:00Z",
            &admin,
        ).await;
        assert_eq!(counts(&days), vec![("2026-11-01T00:00:00-04:00".into(), 2, 1)]);
        app
    }

    async fn stats_filter_by_device_and_default_to_the_last_day(app) {
        let admin = app.admin_token().await;
        let front = app.device(&admin, "front").await;
        let back = app.device(&admin, "back").await;
        let now = app.now();
        app.post_visits(&front, &[visit_at(now - Duration::minutes(5), true), visit_at(now - Duration::hours(3), true)]).await;
        app.post_visits(&back, &[visit_at(now - Duration::minutes(5), false), visit_at(now - Duration::days(3), false)]).await;
        let (_, all) = app.get_json("/api/v1/stats?tz=UTC", &admin).await;
        let c = counts(&all);
        assert!((24..=25).contains(&c.len()), "{} buckets", c.len());
        let total: (u64, u64) = c.iter().fold((0, 0), |a, b| (a.0 + b.1, a.1 + b.2));
        assert_eq!(total, (2, 1), "the visit three days ago is outside the default range");
        let (_, front_only) = app.get_json("/api/v1/stats?tz=UTC&device=front", &admin).await;
        assert_eq!(front_only["pass_rate"], 1.0);
        let (_, nobody) = app.get_json("/api/v1/stats?tz=UTC&device=none", &admin).await;
        assert_eq!(nobody["pass_rate"], Value::Null);
        app
    }

    async fn bad_stats_queries_get_a_clear_4xx(app) {
        let admin = app.admin_token().await;
        for (case, query, status) in [
            ("unknown time zone", "tz=Mars/Olympus", StatusCode::UNPROCESSABLE_ENTITY),
            ("bad bucket", "bucket=week", StatusCode::BAD_REQUEST),
            ("from after to", "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", StatusCode::UNPROCESSABLE_ENTITY),
            ("too many hourly buckets", "from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", StatusCode::UNPROCESSABLE_ENTITY),
            ("unknown parameter", "size=3", StatusCode::BAD_REQUEST),
        ] {
            let (got, body) = app.get_json(&format!("/api/v1/stats?{query}"), &admin).await;
            assert_eq!(got, status, "case: {case}: {body}");
            assert!(error_code(&body) != "<no error code>", "case: {case}");
        }
        app
    }
}
