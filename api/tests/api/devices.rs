//! Registering devices, listing them, and heartbeats.

use chrono::Duration;
use maskgate_api_types::{CameraState, CreatedDevice, DeviceList, Heartbeat};
use reqwest::StatusCode;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{error_code, visit};

backend_tests! {
    async fn a_registered_device_gets_its_token_once_and_is_listed_without_it(app) {
        let admin = app.admin_token().await;
        let response = app.client.post(app.url("/api/v1/devices")).bearer_auth(&admin)
            .json(&json!({"name": "front-door"})).send().await.expect("create");
        assert_eq!(response.status(), StatusCode::CREATED);
        let created: CreatedDevice = response.json().await.expect("body");
        assert!(created.token.starts_with("mgd_"));
        assert_eq!(created.device.last_seen_at, None);
        let (status, list) = app.get_json("/api/v1/devices", &admin).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!list.to_string().contains(&created.token), "the list never shows tokens");
        let list: DeviceList = serde_json::from_value(list).expect("list");
        assert_eq!(list.items.len(), 1);
        assert_eq!(list.items[0].name, "front-door");
        app
    }

    async fn device_names_must_be_unique_and_well_formed(app) {
        let admin = app.admin_token().await;
        app.device(&admin, "door-1").await;
        for (case, name, status, code) in [
            ("taken", "door-1", StatusCode::CONFLICT, "conflict"),
            ("empty", "", StatusCode::UNPROCESSABLE_ENTITY, "validation"),
            ("spaces", "front door", StatusCode::UNPROCESSABLE_ENTITY, "validation"),
            ("too long", &"d".repeat(65), StatusCode::UNPROCESSABLE_ENTITY, "validation"),
        ] {
            let response = app.client.post(app.url("/api/v1/devices")).bearer_auth(&admin)
                .json(&json!({"name": name})).send().await.expect("create");
            assert_eq!(response.status(), status, "case: {case}");
            let body: serde_json::Value = response.json().await.expect("body");
            assert_eq!(error_code(&body), code, "case: {case}");
        }
        app
    }

    async fn heartbeats_and_visits_mark_a_device_seen_with_its_status(app) {
        let admin = app.admin_token().await;
        let door = app.device(&admin, "door").await;
        let oldest = app.now() - Duration::minutes(9);
        let heartbeat = Heartbeat {
            queue_depth: 12,
            oldest_queued_at: Some(oldest),
            last_upload_at: None,
            camera_state: CameraState::TooDark,
            model_version: Some("maskgate-cnn@1.0.0".into()),
            model_sha256: None,
            model_error: None,
        };
        let response = app.client.post(app.url("/api/v1/devices/heartbeat")).bearer_auth(&door)
            .json(&heartbeat).send().await.expect("heartbeat");
        assert_eq!(response.status(), StatusCode::OK);
        let (_, list) = app.get_json("/api/v1/devices", &admin).await;
        let list: DeviceList = serde_json::from_value(list).expect("list");
        let device = &list.items[0];
        assert_eq!(device.last_seen_at, Some(app.now()));
        let status = device.status.as_ref().expect("status");
        assert_eq!(status.queue_depth, 12);
        assert_eq!(status.camera_state, CameraState::TooDark);
        assert_eq!(status.oldest_queued_at, Some(oldest));
        assert_eq!(status.model_version.as_deref(), Some("maskgate-cnn@1.0.0"));

        app.clock.advance(Duration::minutes(1));
        app.post_visits(&door, &[visit(&app, Duration::seconds(5), true)]).await;
        let (_, list) = app.get_json("/api/v1/devices", &admin).await;
        let list: DeviceList = serde_json::from_value(list).expect("list");
        assert_eq!(list.items[0].last_seen_at, Some(app.now()), "a visit upload counts as seen");

        let bad = app.client.post(app.url("/api/v1/devices/heartbeat")).bearer_auth(&door)
            .json(&json!({"queue_depth": 1, "camera_state": "upside_down"})).send().await.expect("heartbeat");
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
        app
    }
}
