//! Logging in, rate limits, and who may call which route.

use chrono::Duration;
use maskgate_api_types::{LoginResponse, Role};
use reqwest::{Method, StatusCode};

use crate::backend_tests;
use crate::helpers::{PASSWORD, error_code};

backend_tests! {
    async fn logging_in_returns_a_token_with_the_role_and_an_expiry(app) {
        app.create_user("ana", Role::Viewer).await;
        let response = app.login("ana", PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        let login: LoginResponse = response.json().await.expect("body");
        assert_eq!(login.role, Role::Viewer);
        assert!(login.token.starts_with("mgu_"));
        assert_eq!(login.expires_at, app.now() + Duration::hours(12));
        let (status, _) = app.get_json("/api/v1/devices", &login.token).await;
        assert_eq!(status, StatusCode::OK);
        app
    }

    async fn a_wrong_password_and_an_unknown_user_get_the_same_401(app) {
        app.create_user("ana", Role::Admin).await;
        for (name, password) in [("ana", "wrong password"), ("nobody", PASSWORD)] {
            let response = app.login(name, password).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name}");
            let body: serde_json::Value = response.json().await.expect("body");
            assert_eq!(body["error"]["message"], "wrong user name or password", "{name}");
        }
        app
    }

    async fn repeated_failed_logins_lock_the_user_until_the_window_passes(app) {
        app.create_user("ana", Role::Admin).await;
        for attempt in 0..5 {
            let response = app.login("ana", "guess").await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
        }
        // Even the right password is refused while the limit holds.
        let response = app.login("ana", PASSWORD).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(response.headers().contains_key("retry-after"));
        app.clock.advance(Duration::minutes(16));
        let response = app.login("ana", PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        app
    }

    async fn an_expired_session_token_is_refused_with_token_expired(app) {
        let token = app.admin_token().await;
        app.clock.advance(Duration::hours(12) + Duration::seconds(1));
        let (status, body) = app.get_json("/api/v1/devices", &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(&body), "token_expired");
        app
    }
}

mod failed_logins_from_one_address_are_limited_across_user_names {
    use super::*;
    use crate::helpers::{Backend, run_with};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run_with(
            Backend::Sqlite,
            |s| s.max_failed_logins_per_ip = 3,
            |app| async move {
                app.create_user("ana", Role::Admin).await;
                for name in ["bo", "cy", "di"] {
                    assert_eq!(
                        app.login(name, "x").await.status(),
                        StatusCode::UNAUTHORIZED
                    );
                }
                assert_eq!(
                    app.login("ana", PASSWORD).await.status(),
                    StatusCode::TOO_MANY_REQUESTS
                );
                app
            },
        )
        .await;
    }
}

/// The principal a route's OpenAPI operation asks for.
fn required_principal(operation: &serde_json::Value) -> Option<String> {
    operation["security"]
        .as_array()?
        .first()?
        .as_object()?
        .keys()
        .next()
        .cloned()
}

backend_tests! {
    /// Every route in the router (read from the generated OpenAPI document, which is built
    /// from the same registrations) refuses the wrong credentials.
    async fn every_protected_route_refuses_missing_bad_expired_and_wrong_kind_tokens(app) {
        let admin = app.admin_token().await;
        app.create_user("vera", Role::Viewer).await;
        let device = app.device(&admin, "door-1").await;
        let expired = app.token_for("old", Role::Admin).await;
        let doc = maskgate_api::http::openapi_doc();
        let doc = serde_json::to_value(doc).expect("doc");
        let mut checked = 0;
        // Expire only `old`'s token: move the clock, then make fresh tokens valid again by
        // logging in again after the move.
        app.clock.advance(Duration::hours(13));
        let admin = { let r = app.login("admin", crate::helpers::PASSWORD).await; r.json::<LoginResponse>().await.expect("login").token };
        let viewer = { let r = app.login("vera", crate::helpers::PASSWORD).await; r.json::<LoginResponse>().await.expect("login").token };
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                let Some(principal) = required_principal(operation) else { continue };
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
                let bad = "mgu_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_string();
                let mut cases: Vec<(&str, Option<String>, StatusCode)> = vec![
                    ("no token", None, StatusCode::UNAUTHORIZED),
                    ("bad token", Some(bad), StatusCode::UNAUTHORIZED),
                    ("expired token", Some(expired.clone()), StatusCode::UNAUTHORIZED),
                ];
                match principal.as_str() {
                    "user" => cases.push(("device token", Some(device.clone()), StatusCode::FORBIDDEN)),
                    "admin" => {
                        cases.push(("device token", Some(device.clone()), StatusCode::FORBIDDEN));
                        cases.push(("viewer token", Some(viewer.clone()), StatusCode::FORBIDDEN));
                    }
                    "device" => cases.push(("user token", Some(admin.clone()), StatusCode::FORBIDDEN)),
                    other => panic!("unknown security scheme {other} on {method} {path}"),
                }
                for (case, token, expected) in cases {
                    let mut request = app.client.request(method.clone(), app.url(path))
                        .header("content-type", "application/json")
                        .body("{}");
                    if let Some(token) = token {
                        request = request.bearer_auth(token);
                    }
                    let response = request.send().await.expect("request");
                    assert_eq!(response.status(), expected, "{case} on {method} {path}");
                    let body: serde_json::Value = response.json().await.expect("JSON error body");
                    assert!(body["error"]["code"].is_string(), "{case} on {method} {path}: {body}");
                    checked += 1;
                }
            }
        }
        assert!(checked >= 29, "only {checked} cases ran: is the OpenAPI document complete?");
        app
    }
}
