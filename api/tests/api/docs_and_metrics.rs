//! Health, the OpenAPI document, Prometheus metrics and JSON fallbacks.

use std::collections::BTreeSet;

use chrono::Duration;
use reqwest::StatusCode;

use crate::backend_tests;
use crate::helpers::{error_code, visit};

backend_tests! {
    async fn health_reports_ok_when_the_database_answers(app) {
        let body: serde_json::Value = app.client.get(app.url("/healthz")).send().await
            .expect("healthz").json().await.expect("body");
        assert_eq!(body, serde_json::json!({"status": "ok"}));
        app
    }

    async fn a_database_failure_is_a_generic_500_that_leaks_nothing(app) {
        let admin = app.admin_token().await;
        app.device(&admin, "door").await;
        app.execute_sql("DROP VIEW history").await;
        app.execute_sql("DROP TABLE visits").await;
        let (status, body) = app.get_json("/api/v1/visits", &admin).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body, serde_json::json!({"error": {"code": "internal", "message": "internal error"}}));
        app
    }

    async fn metrics_count_requests_and_accepted_and_duplicate_visits(app) {
        let admin = app.admin_token().await;
        let door = app.device(&admin, "door").await;
        let v = visit(&app, Duration::minutes(1), true);
        app.post_visits(&door, &[v.clone(), visit(&app, Duration::minutes(2), false)]).await;
        app.post_visits(&door, &[v]).await;
        let text = app.client.get(app.url("/metrics")).send().await.expect("metrics")
            .text().await.expect("text");
        assert!(text.contains("maskgate_visits_accepted_total 2"), "{text}");
        assert!(text.contains("maskgate_visits_duplicate_total 1"), "{text}");
        assert!(text.contains(r#"maskgate_http_requests_total{method="POST",route="/api/v1/visits",status="200"} 2"#), "{text}");
        assert!(text.contains("maskgate_http_request_duration_seconds_bucket"), "{text}");
        app
    }
}

#[tokio::test]
async fn the_openapi_document_covers_every_route() {
    let Some(app) = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite, |_| {}).await else {
        return;
    };
    let doc: serde_json::Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    assert!(
        doc["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.")
    );
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} documents its responses"
            );
            operations.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let expected: BTreeSet<String> = [
        "GET /healthz",
        "GET /metrics",
        "GET /api/v1/openapi.json",
        "POST /api/v1/auth/login",
        "GET /api/v1/visits",
        "POST /api/v1/visits",
        "GET /api/v1/visits/export.csv",
        "GET /api/v1/stats",
        "GET /api/v1/devices",
        "POST /api/v1/devices",
        "POST /api/v1/devices/heartbeat",
        "GET /api/v1/stream",
        "GET /api/v1/models",
        "POST /api/v1/models",
        "GET /api/v1/models/{id}",
        "GET /api/v1/models/{id}/file",
        "GET /api/v1/models/{id}/rollout",
        "POST /api/v1/models/{id}/rollout",
        "PUT /api/v1/devices/{id}/model",
        "POST /api/v1/devices/{id}/model/rollback",
        "GET /api/v1/devices/{id}/model-history",
        "GET /api/v1/devices/me/model",
        "GET /api/v1/devices/me/model/{sha256}",
        "GET /api/v1/alert-rules",
        "POST /api/v1/alert-rules",
        "GET /api/v1/alert-rules/{id}",
        "PUT /api/v1/alert-rules/{id}",
        "DELETE /api/v1/alert-rules/{id}",
        "GET /api/v1/alert-channels",
        "POST /api/v1/alert-channels",
        "GET /api/v1/alert-channels/{id}",
        "PUT /api/v1/alert-channels/{id}",
        "DELETE /api/v1/alert-channels/{id}",
        "GET /api/v1/alerts",
        "GET /api/v1/alerts/{id}",
        "POST /api/v1/alerts/{id}/ack",
        "GET /api/v1/alerts/{id}/deliveries",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(operations, expected);
    for schema in [
        "VisitBatch",
        "Visit",
        "VisitPage",
        "Stats",
        "Heartbeat",
        "ErrorBody",
        "LoginResponse",
        "Model",
        "RolloutStatus",
        "ModelHistory",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema} is documented"
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let Some(app) = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite, |_| {}).await else {
        return;
    };
    let response = app
        .client
        .get(app.url("/api/v1/nothing"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(error_code(&body), "not_found");
    let response = app
        .client
        .delete(app.url("/api/v1/visits"))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(error_code(&body), "method_not_allowed");
    app.shutdown().await;
}
