//! The model registry: uploads checked by loading the model, rollout to a canary and to
//! all doors, rollback, the door's own view, and how a model does against the others.

use maskgate_api_types::{
    AssignedModel, AssignmentAction, AssignmentList, CameraState, DeviceList, Heartbeat, Model,
    ModelAssignment, ModelHistory, ModelList, RolloutStatus,
};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{TestApp, error_code, visit};

/// The shipped default model: its manifest text and ONNX bytes.
fn shipped_model() -> (String, Vec<u8>) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let manifest = std::fs::read_to_string(dir.join("maskgate-cnn-v1.json")).expect("manifest");
    let onnx = std::fs::read(dir.join("maskgate-cnn-v1.onnx")).expect("model");
    (manifest, onnx)
}

/// The shipped manifest with some fields replaced.
fn manifest_with(changes: Value) -> String {
    let (manifest, _) = shipped_model();
    let mut manifest: Value = serde_json::from_str(&manifest).expect("json");
    for (key, value) in changes.as_object().expect("object") {
        manifest[key] = value.clone();
    }
    manifest.to_string()
}

async fn upload(
    app: &TestApp,
    token: &str,
    manifest: Option<String>,
    onnx: Option<Vec<u8>>,
) -> reqwest::Response {
    let mut form = Form::new();
    if let Some(manifest) = manifest {
        form = form.part(
            "manifest",
            Part::text(manifest)
                .mime_str("application/json")
                .expect("mime"),
        );
    }
    if let Some(onnx) = onnx {
        form = form.part("model", Part::bytes(onnx).file_name("model.onnx"));
    }
    app.client
        .post(app.url("/api/v1/models"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("upload")
}

async fn upload_version(app: &TestApp, token: &str, version: &str) -> Model {
    let (_, onnx) = shipped_model();
    let response = upload(
        app,
        token,
        Some(manifest_with(json!({"version": version}))),
        Some(onnx),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED, "upload {version}");
    response.json().await.expect("model")
}

async fn device_id(app: &TestApp, token: &str, name: &str) -> i64 {
    let (_, list) = app.get_json("/api/v1/devices", token).await;
    let list: DeviceList = serde_json::from_value(list).expect("devices");
    list.items
        .iter()
        .find(|d| d.name == name)
        .expect("device")
        .id
}

async fn assigned(app: &TestApp, door: &str) -> Option<Model> {
    let (status, body) = app.get_json("/api/v1/devices/me/model", door).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value::<AssignedModel>(body)
        .expect("assigned")
        .model
}

async fn rollback(app: &TestApp, admin: &str, id: i64) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/devices/{id}/model/rollback")))
        .bearer_auth(admin)
        .send()
        .await
        .expect("rollback")
}

/// An upload case: name, token, manifest part, model part, expected status and message.
type UploadCase<'a> = (
    &'a str,
    &'a str,
    Option<String>,
    Option<Vec<u8>>,
    StatusCode,
    &'a str,
);

backend_tests! {
    async fn an_uploaded_model_is_checked_stored_listed_and_downloadable(app) {
        let admin = app.admin_token().await;
        let (manifest, onnx) = shipped_model();
        let response = upload(&app, &admin, Some(manifest.clone()), Some(onnx.clone())).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let model: Model = response.json().await.expect("model");
        assert_eq!(model.model_id(), "maskgate-cnn@1.0.0");
        assert_eq!(model.size_bytes, onnx.len() as u64);
        assert_eq!(model.uploaded_by, "admin");
        assert_eq!(model.manifest["labels"], json!(["with_mask", "without_mask"]));

        let (status, list) = app.get_json("/api/v1/models", &admin).await;
        assert_eq!(status, StatusCode::OK);
        let list: ModelList = serde_json::from_value(list).expect("list");
        assert_eq!(list.items, vec![model.clone()]);

        let file = app.client.get(app.url(&format!("/api/v1/models/{}/file", model.id)))
            .bearer_auth(&admin).send().await.expect("download");
        assert_eq!(file.status(), StatusCode::OK);
        assert_eq!(file.headers()["etag"], format!("\"{}\"", model.sha256).as_str());
        assert_eq!(file.bytes().await.expect("bytes").as_ref(), onnx.as_slice());

        let again = upload(&app, &admin, Some(manifest), Some(onnx)).await;
        assert_eq!(again.status(), StatusCode::CONFLICT, "name@version is unique");
        app
    }

    async fn broken_or_mismatched_models_are_refused_at_upload_with_the_reason(app) {
        let admin = app.admin_token().await;
        let viewer = app.token_for("viewer", maskgate_api_types::Role::Viewer).await;
        let (manifest, onnx) = shipped_model();
        let truncated = onnx[..onnx.len() / 2].to_vec();
        let truncated_sha = maskgate_model::sha256_hex(&truncated);
        let cases: Vec<UploadCase> = vec![
            ("viewer", &viewer, Some(manifest.clone()), Some(onnx.clone()), StatusCode::FORBIDDEN, "admin"),
            ("no model part", &admin, Some(manifest.clone()), None, StatusCode::UNPROCESSABLE_ENTITY, "`model` part"),
            ("no manifest part", &admin, None, Some(onnx.clone()), StatusCode::UNPROCESSABLE_ENTITY, "`manifest` part"),
            ("manifest not JSON", &admin, Some("{oops".into()), Some(onnx.clone()), StatusCode::UNPROCESSABLE_ENTITY, "manifest:"),
            ("hash of another file", &admin, Some(manifest_with(json!({"version": "2"}))), Some(truncated.clone()), StatusCode::UNPROCESSABLE_ENTITY, "SHA-256"),
            ("truncated ONNX", &admin, Some(manifest_with(json!({"version": "3", "sha256": truncated_sha}))), Some(truncated), StatusCode::UNPROCESSABLE_ENTITY, "does not load"),
            ("not ONNX at all", &admin, Some(manifest_with(json!({"version": "4", "sha256": maskgate_model::sha256_hex(b"hello")}))), Some(b"hello".to_vec()), StatusCode::UNPROCESSABLE_ENTITY, "does not load"),
            ("labels do not match outputs", &admin, Some(manifest_with(json!({"version": "5", "labels": ["a", "b", "c"]}))), Some(onnx.clone()), StatusCode::UNPROCESSABLE_ENTITY, "outputs for 3 labels"),
            ("input size the self-test contradicts", &admin, Some(manifest_with(json!({"version": "6", "input": {"size": 64, "color_order": "RGB"}}))), Some(onnx.clone()), StatusCode::UNPROCESSABLE_ENTITY, "self-test"),
            ("version with a space", &admin, Some(manifest_with(json!({"version": "1 0"}))), Some(onnx.clone()), StatusCode::UNPROCESSABLE_ENTITY, "version"),
        ];
        for (case, token, manifest, model, status, message) in cases {
            let response = upload(&app, token, manifest, model).await;
            assert_eq!(response.status(), status, "case: {case}");
            let body: Value = response.json().await.expect("body");
            let text = body["error"]["message"].as_str().unwrap_or_default();
            assert!(text.contains(message), "case: {case}: {text}");
        }
        let (_, list) = app.get_json("/api/v1/models", &admin).await;
        assert_eq!(list["items"], json!([]), "nothing refused was stored");
        app
    }

    async fn a_model_rolls_out_to_a_canary_then_to_all_and_rolls_back_step_by_step(app) {
        let admin = app.admin_token().await;
        let door_a = app.device(&admin, "a").await;
        let door_b = app.device(&admin, "b").await;
        let (a, b) = (device_id(&app, &admin, "a").await, device_id(&app, &admin, "b").await);
        let v1 = upload_version(&app, &admin, "1.0.0").await;
        let v2 = upload_version(&app, &admin, "2.0.0").await;
        assert_eq!(assigned(&app, &door_a).await, None, "nothing assigned: the installed model");

        // Canary: door a only.
        let response = app.client.post(app.url(&format!("/api/v1/models/{}/rollout", v1.id)))
            .bearer_auth(&admin).json(&json!({"devices": ["a"]})).send().await.expect("rollout");
        assert_eq!(response.status(), StatusCode::OK);
        let list: AssignmentList = response.json().await.expect("assignments");
        assert_eq!(list.items.len(), 1);
        assert_eq!(assigned(&app, &door_a).await, Some(v1.clone()));
        assert_eq!(assigned(&app, &door_b).await, None);

        // A door fetches its own model by hash, and no other.
        let own = app.client.get(app.url(&format!("/api/v1/devices/me/model/{}", v1.sha256)))
            .bearer_auth(&door_a).send().await.expect("download");
        assert_eq!(own.status(), StatusCode::OK);
        assert_eq!(maskgate_model::sha256_hex(&own.bytes().await.expect("bytes")), v1.sha256);
        let other = app.client.get(app.url(&format!("/api/v1/devices/me/model/{}", v1.sha256)))
            .bearer_auth(&door_b).send().await.expect("download");
        assert_eq!(other.status(), StatusCode::NOT_FOUND);

        // Then all doors; then door b gets v2 on its own.
        let response = app.client.post(app.url(&format!("/api/v1/models/{}/rollout", v1.id)))
            .bearer_auth(&admin).json(&json!({"all": true})).send().await.expect("rollout");
        assert_eq!(response.status(), StatusCode::OK);
        let response = app.client.put(app.url(&format!("/api/v1/devices/{b}/model")))
            .bearer_auth(&admin).json(&json!({"model_id": v2.id})).send().await.expect("assign");
        assert_eq!(response.status(), StatusCode::OK);
        let assignment: ModelAssignment = response.json().await.expect("assignment");
        assert_eq!((assignment.model_id, assignment.previous_model_id), (Some(v2.id), Some(v1.id)));

        // Rollback walks back: b v2 → v1 → installed → nothing left.
        for expected in [Some(v1.id), None] {
            let response = rollback(&app, &admin, b).await;
            assert_eq!(response.status(), StatusCode::OK);
            let assignment: ModelAssignment = response.json().await.expect("assignment");
            assert_eq!(assignment.action, AssignmentAction::Rollback);
            assert_eq!(assignment.model_id, expected);
        }
        let response = rollback(&app, &admin, b).await;
        assert_eq!(response.status(), StatusCode::CONFLICT);
        // Door a got v1 twice (canary, then all): one rollback returns it to the installed model.
        let response = rollback(&app, &admin, a).await;
        let assignment: ModelAssignment = response.json().await.expect("assignment");
        assert_eq!(assignment.model_id, None);
        assert_eq!(assigned(&app, &door_a).await, None);

        let (status, history) = app.get_json(&format!("/api/v1/devices/{b}/model-history"), &admin).await;
        assert_eq!(status, StatusCode::OK);
        let history: ModelHistory = serde_json::from_value(history).expect("history");
        let steps: Vec<_> = history.assignments.iter().map(|a| (a.action, a.model_id)).collect();
        assert_eq!(steps, vec![
            (AssignmentAction::Rollback, None),
            (AssignmentAction::Rollback, Some(v1.id)),
            (AssignmentAction::Assign, Some(v2.id)),
            (AssignmentAction::Assign, Some(v1.id)),
        ]);

        for (case, body, status) in [
            ("neither devices nor all", json!({}), StatusCode::UNPROCESSABLE_ENTITY),
            ("both", json!({"devices": ["a"], "all": true}), StatusCode::UNPROCESSABLE_ENTITY),
            ("unknown door", json!({"devices": ["a", "nope"]}), StatusCode::UNPROCESSABLE_ENTITY),
        ] {
            let response = app.client.post(app.url(&format!("/api/v1/models/{}/rollout", v1.id)))
                .bearer_auth(&admin).json(&body).send().await.expect("rollout");
            assert_eq!(response.status(), status, "case: {case}");
        }
        let response = app.client.put(app.url(&format!("/api/v1/devices/{a}/model")))
            .bearer_auth(&admin).json(&json!({"model_id": 999})).send().await.expect("assign");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let response = app.client.put(app.url(&format!("/api/v1/devices/{a}/model")))
            .bearer_auth(&door_a).json(&json!({"model_id": v1.id})).send().await.expect("assign");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "a door cannot assign models");
        app
    }

    async fn the_rollout_view_compares_a_canary_with_the_other_doors(app) {
        let admin = app.admin_token().await;
        let canary = app.device(&admin, "canary").await;
        let other = app.device(&admin, "other").await;
        let v2 = upload_version(&app, &admin, "2.0.0").await;
        let response = app.client.post(app.url(&format!("/api/v1/models/{}/rollout", v2.id)))
            .bearer_auth(&admin).json(&json!({"devices": ["canary"]})).send().await.expect("rollout");
        assert_eq!(response.status(), StatusCode::OK);
        app.clock.advance(chrono::Duration::minutes(10));
        let heartbeat = |model: &str, sha: Option<String>| Heartbeat {
            queue_depth: 0,
            oldest_queued_at: None,
            last_upload_at: None,
            camera_state: CameraState::Ok,
            model_version: Some(model.into()),
            model_sha256: sha,
            model_error: None,
        };
        for (door, beat) in [
            (&canary, heartbeat("maskgate-cnn@1.0.0", None)),
            (&canary, heartbeat("maskgate-cnn@2.0.0", Some(v2.sha256.clone()))),
            (&other, heartbeat("maskgate-cnn@1.0.0", None)),
        ] {
            let response = app.client.post(app.url("/api/v1/devices/heartbeat")).bearer_auth(door)
                .json(&beat).send().await.expect("heartbeat");
            assert_eq!(response.status(), StatusCode::OK);
        }
        let with_model = |passed, score: f64, model: &str| {
            let mut v = visit(&app, chrono::Duration::minutes(1), passed);
            v.mask_score = score;
            v.model = model.into();
            v
        };
        app.post_visits(&canary, &[
            with_model(true, 0.9, "maskgate-cnn@2.0.0"),
            with_model(false, 0.2, "maskgate-cnn@2.0.0"),
            with_model(true, 0.7, "maskgate-cnn@1.0.0"),
        ]).await;
        app.post_visits(&other, &[
            with_model(true, 0.8, "maskgate-cnn@1.0.0"),
            with_model(true, 0.6, "maskgate-cnn@1.0.0"),
        ]).await;
        let (status, body) = app.get_json(&format!("/api/v1/models/{}/rollout", v2.id), &admin).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let rollout: RolloutStatus = serde_json::from_value(body).expect("rollout");
        assert_eq!(rollout.devices.len(), 1, "only the canary has the model");
        let door = &rollout.devices[0];
        assert_eq!((door.device.as_str(), door.assigned, door.running), ("canary", true, true));
        assert_eq!((door.outcome.visits, door.outcome.passed), (2, 1));
        assert_eq!(door.outcome.pass_rate, Some(0.5));
        assert!((door.outcome.mean_score.expect("score") - 0.55).abs() < 1e-9);
        assert_eq!((rollout.others.visits, rollout.others.passed), (3, 3));
        assert!((rollout.others.mean_score.expect("score") - 0.7).abs() < 1e-9);

        let canary_id = device_id(&app, &admin, "canary").await;
        let (_, history) = app.get_json(&format!("/api/v1/devices/{canary_id}/model-history"), &admin).await;
        let history: ModelHistory = serde_json::from_value(history).expect("history");
        let runs: Vec<_> = history.runs.iter().map(|r| (r.model.as_str(), r.ended_at.is_some())).collect();
        assert_eq!(runs, vec![("maskgate-cnn@2.0.0", false), ("maskgate-cnn@1.0.0", true)]);
        let bad = app.client.post(app.url("/api/v1/devices/heartbeat")).bearer_auth(&canary)
            .json(&json!({"queue_depth": 0, "camera_state": "ok", "model_sha256": "xyz"}))
            .send().await.expect("heartbeat");
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = bad.json().await.expect("body");
        assert_eq!(error_code(&body), "validation");
        app
    }
}

mod a_model_over_the_size_limit_is_refused_before_it_is_loaded {
    use super::*;
    use crate::helpers::{Backend, run_with};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run_with(
            Backend::Sqlite,
            |s| s.max_model_bytes = 100_000,
            |app| async move {
                let admin = app.admin_token().await;
                let (manifest, onnx) = shipped_model();
                assert!(onnx.len() > 100_000);
                let response = upload(&app, &admin, Some(manifest), Some(onnx)).await;
                assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
                let body: Value = response.json().await.expect("body");
                assert_eq!(error_code(&body), "payload_too_large");
                app
            },
        )
        .await;
    }
}
