//! Registering devices, listing them, and heartbeats.

use chrono::Duration;
use maskgate_api::db::DeviceVisits;
use maskgate_api_types::{
    AssignmentAction, CameraState, CreatedDevice, DeviceList, Heartbeat, NewVisit,
};
use reqwest::StatusCode;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{error_code, ok_heartbeat, visit};

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

    async fn writes_cancelled_at_any_moment_leave_the_database_writable(app) {
        // A door killed mid-request, or any task cancelled at an `.await` inside a
        // transaction: whatever moment it stops at, later writes go through. Before the
        // fix, a cancel between BEGIN and the `Transaction` kept SQLite's write lock held
        // for good and every later write failed "database is locked".
        let admin = app.admin_token().await;
        let door = app.device(&admin, "door").await;
        let store = app.state.store.clone();
        let device_id = store.list_devices().await.expect("devices")[0].id;
        let heartbeat = Heartbeat { queue_depth: 1, ..ok_heartbeat() };
        // Each write is dropped after 0, 10, 20, … µs of polling (tokio's timer counts
        // whole milliseconds, too coarse for this).
        let mut cancelled = 0;
        for step in 0..400u64 {
            let mut write = std::pin::pin!(store.record_heartbeat(device_id, &heartbeat, app.now()));
            let deadline = std::time::Instant::now() + std::time::Duration::from_micros(step * 10);
            loop {
                if futures::poll!(write.as_mut()).is_ready() {
                    break;
                }
                if std::time::Instant::now() >= deadline {
                    cancelled += 1;
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        assert!(cancelled > 10, "only {cancelled} writes were cancelled");
        // More writes than the pool has connections, so each pooled one is used again.
        for i in 0..20 {
            let write = store.record_heartbeat(device_id, &heartbeat, app.now());
            tokio::time::timeout(std::time::Duration::from_secs(5), write)
                .await
                .unwrap_or_else(|_| panic!("write {i} still waits after 5 s: a lock was left held"))
                .unwrap_or_else(|e| panic!("write {i} failed: {e}"));
        }

        // The same over HTTP: requests whose client gives up at any moment.
        let client = reqwest::Client::new();
        for step in 0..100u64 {
            let _ = client.post(app.url("/api/v1/devices/heartbeat")).bearer_auth(&door)
                .timeout(std::time::Duration::from_micros(200 + step * 50))
                .json(&heartbeat).send().await;
        }
        for i in 0..20 {
            let response = app.client.post(app.url("/api/v1/devices/heartbeat")).bearer_auth(&door)
                .timeout(std::time::Duration::from_secs(5))
                .json(&heartbeat).send().await
                .unwrap_or_else(|e| panic!("heartbeat {i} after abandoned ones: {e}"));
            assert_eq!(response.status(), StatusCode::OK, "heartbeat {i}");
        }
        app
    }

    async fn a_door_s_heartbeats_and_visits_at_the_same_moment_all_succeed(app) {
        // A visit upload locks its door's row to mark it seen, and so does a heartbeat;
        // when the two took the row's locks in opposite orders, MariaDB and PostgreSQL
        // killed one as a deadlock and the door got a 500.
        let admin = app.admin_token().await;
        let doors = [app.device(&admin, "east").await, app.device(&admin, "west").await];
        let mut tasks = Vec::new();
        for round in 0..40i64 {
            for (d, door) in doors.iter().enumerate() {
                let (client, token) = (app.client.clone(), door.clone());
                let heartbeat_url = app.url("/api/v1/devices/heartbeat");
                let heartbeat = Heartbeat { queue_depth: round as u64, ..ok_heartbeat() };
                tasks.push(tokio::spawn(async move {
                    let r = client.post(heartbeat_url).bearer_auth(&token).json(&heartbeat)
                        .send().await.expect("heartbeat");
                    ("heartbeat", r.status(), r.text().await.unwrap_or_default())
                }));
                let (client, token) = (app.client.clone(), door.clone());
                let visits_url = app.url("/api/v1/visits");
                let batch = maskgate_api_types::VisitBatch {
                    visits: vec![visit(&app, Duration::seconds(round * 2 + d as i64), round % 4 != 0)],
                };
                tasks.push(tokio::spawn(async move {
                    let r = client.post(visits_url).bearer_auth(&token).json(&batch)
                        .send().await.expect("visits");
                    ("visits", r.status(), r.text().await.unwrap_or_default())
                }));
            }
        }
        for task in tasks {
            let (what, status, body) = task.await.expect("task");
            assert_eq!(status, StatusCode::OK, "{what}: {body}");
        }
        assert_eq!(app.stored_visit_count().await, 80);
        app
    }

    async fn model_assignments_and_visit_uploads_over_the_same_doors_do_not_deadlock(app) {
        // Assigning a model and a group commit of visits each lock several doors' rows;
        // taken in opposite orders, the database failed one of the two as a deadlock.
        let admin = app.admin_token().await;
        for name in ["a", "b", "c"] {
            app.device(&admin, name).await;
        }
        let store = app.state.store.clone();
        let mut ids: Vec<i64> = store.list_devices().await.expect("devices").iter().map(|d| d.id).collect();
        ids.sort_unstable();
        let now = app.now();
        for round in 0..30i64 {
            let visits: Vec<Vec<NewVisit>> = (0..ids.len() as i64)
                .map(|k| vec![visit(&app, Duration::seconds(round * 10 + k), true)])
                .collect();
            let mut batches: Vec<DeviceVisits<'_>> = ids.iter().zip(&visits)
                .map(|(&device_id, visits)| DeviceVisits { device_id, visits })
                .collect();
            let mut assigned = ids.clone();
            // Each in turn asks in the opposite order to the other.
            if round % 2 == 0 { batches.reverse() } else { assigned.reverse() }
            let (upload, assign) = tokio::join!(
                store.insert_visit_batches(&batches, now),
                store.assign_model(&assigned, None, AssignmentAction::Assign, "admin", now),
            );
            upload.unwrap_or_else(|e| panic!("round {round}: the upload failed: {e}"));
            assign.unwrap_or_else(|e| panic!("round {round}: the assignment failed: {e}"));
        }
        assert_eq!(app.stored_visit_count().await, 90);
        app
    }
}
