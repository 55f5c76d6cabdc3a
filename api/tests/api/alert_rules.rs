//! Alert rules: stored, listed, replaced and deleted by admins; invalid ones refused with a
//! message that names the field.

use maskgate_api_types::{AlertRule, AlertRuleList, Role};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::error_code;

fn rule(name: &str) -> Value {
    json!({
        "name": name,
        "condition": {"kind": "failed_check", "fails": 3, "within_minutes": 10},
        "severity": "critical",
        "devices": ["front-door"],
        "quiet_hours": {"start": "22:00", "end": "06:00"},
        "tz": "Asia/Seoul",
        "escalate_after_minutes": 15
    })
}

backend_tests! {
    async fn admins_create_list_replace_and_delete_alert_rules(app) {
        let admin = app.admin_token().await;
        app.device(&admin, "front-door").await;
        let response = app.client.post(app.url("/api/v1/alert-rules")).bearer_auth(&admin)
            .json(&rule("front door fails")).send().await.expect("create");
        assert_eq!(response.status(), StatusCode::CREATED);
        let created: AlertRule = response.json().await.expect("rule");
        assert_eq!(created.spec.cooldown_minutes, 30, "the default cooldown");
        assert_eq!(created.created_by, "admin");

        let taken = app.client.post(app.url("/api/v1/alert-rules")).bearer_auth(&admin)
            .json(&rule("front door fails")).send().await.expect("create");
        assert_eq!(taken.status(), StatusCode::CONFLICT);

        let mut changed = rule("front door fails");
        changed["condition"] = json!({"kind": "device_silent", "minutes": 5});
        changed["enabled"] = json!(false);
        let response = app.client.put(app.url(&format!("/api/v1/alert-rules/{}", created.id)))
            .bearer_auth(&admin).json(&changed).send().await.expect("update");
        assert_eq!(response.status(), StatusCode::OK);
        // The same values again (MySQL reports no changed rows) still answer 200.
        let again = app.client.put(app.url(&format!("/api/v1/alert-rules/{}", created.id)))
            .bearer_auth(&admin).json(&changed).send().await.expect("update");
        assert_eq!(again.status(), StatusCode::OK);

        let (status, list) = app.get_json("/api/v1/alert-rules", &admin).await;
        assert_eq!(status, StatusCode::OK);
        let list: AlertRuleList = serde_json::from_value(list).expect("list");
        assert_eq!(list.items.len(), 1);
        assert!(!list.items[0].spec.enabled);
        assert_eq!(list.items[0].spec.condition, maskgate_api_types::Condition::DeviceSilent { minutes: 5 });

        let viewer = app.token_for("vera", Role::Viewer).await;
        let (status, _) = app.get_json("/api/v1/alert-rules", &viewer).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "rules are for admins");

        let delete = app.client.delete(app.url(&format!("/api/v1/alert-rules/{}", created.id)))
            .bearer_auth(&admin).send().await.expect("delete");
        assert_eq!(delete.status(), StatusCode::NO_CONTENT);
        let (status, _) = app.get_json(&format!("/api/v1/alert-rules/{}", created.id), &admin).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let missing = app.client.put(app.url("/api/v1/alert-rules/999"))
            .bearer_auth(&admin).json(&rule("x")).send().await.expect("update");
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        app
    }

    async fn invalid_alert_rules_are_refused_with_the_field_named(app) {
        let admin = app.admin_token().await;
        app.device(&admin, "front-door").await;
        let with = |path: &[&str], value: Value| {
            let mut body = rule("r");
            let mut at = &mut body;
            for key in &path[..path.len() - 1] {
                at = &mut at[*key];
            }
            at[path[path.len() - 1]] = value;
            body
        };
        for (case, body, message) in [
            ("negative window", with(&["condition", "within_minutes"], json!(-5)), "within_minutes"),
            ("zero window", with(&["condition", "within_minutes"], json!(0)), "within_minutes"),
            ("window over 28 days", with(&["condition", "within_minutes"], json!(50_000)), "within_minutes"),
            ("zero fails", with(&["condition", "fails"], json!(0)), "fails"),
            ("unknown door", with(&["devices"], json!(["front-door", "back-door"])), "back-door"),
            ("bad time zone", with(&["tz"], json!("Mars/Olympus")), "Mars/Olympus"),
            ("bad quiet hours", with(&["quiet_hours", "start"], json!("25:00")), "quiet_hours.start"),
            ("empty quiet hours", with(&["quiet_hours", "end"], json!("22:00")), "empty range"),
            ("unknown condition", with(&["condition"], json!({"kind": "full_moon"})), "full_moon"),
            ("pass rate over 100", with(&["condition"], json!({"kind": "pass_rate_below", "percent": 120, "window_minutes": 60})), "percent"),
            ("opening on a bad day", with(&["condition"], json!({"kind": "no_visits_while_open", "minutes": 60, "opening": {"days": ["mon", "funday"], "hours": {"start": "08:00", "end": "18:00"}}})), "funday"),
            ("empty name", with(&["name"], json!(" ")), "name"),
            ("typo in a field", with(&["severty"], json!("info")), "severty"),
        ] {
            let response = app.client.post(app.url("/api/v1/alert-rules")).bearer_auth(&admin)
                .json(&body).send().await.expect("create");
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "case: {case}");
            let body: Value = response.json().await.expect("body");
            assert_eq!(error_code(&body), "validation", "case: {case}");
            let text = body["error"]["message"].as_str().unwrap_or_default();
            assert!(text.contains(message), "case: {case}: {text}");
        }
        let (_, list) = app.get_json("/api/v1/alert-rules", &admin).await;
        assert_eq!(list["items"], json!([]), "nothing invalid was stored");
        app
    }
}
