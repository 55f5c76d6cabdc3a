//! `/api/v1/models`: the model registry. Admins upload classifiers (checked by loading them
//! exactly as a door will), list them, roll them out to doors and watch how they do.

use std::collections::{BTreeSet, HashMap};

use axum::body::Bytes;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::{Multipart, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maskgate_api_types::{
    AssignmentAction, AssignmentList, ErrorBody, Model, ModelList, ModelOutcome, Rollout,
    RolloutDevice, RolloutStatus,
};
use maskgate_model::{Classifier, Manifest, sha256_hex};
use serde::Deserialize;

use super::AppState;
use super::assignments::assign_and_announce;
use super::devices::is_plain_name;
use super::error::{ApiError, ApiResult};
use super::extract::{AdminUser, AuthUser, Json, Path, Query};
use crate::db::{ModelUsage, NewModel};

/// The largest manifest accepted, in bytes.
const MAX_MANIFEST_BYTES: usize = 256 * 1024;

/// Checks a model name (1 to 64 of `A-Z a-z 0-9 - _ .`) and version (1 to 63 printable
/// characters without spaces or `@`), so that `name@version` names one model.
fn validate_name_and_version(manifest: &Manifest) -> Result<(), String> {
    if !is_plain_name(&manifest.name) {
        return Err(format!(
            "manifest name `{}` must be 1 to 64 letters, digits, `-`, `_` or `.`",
            manifest.name
        ));
    }
    let version_ok = !manifest.version.is_empty()
        && manifest.version.len() <= 63
        && manifest
            .version
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '@');
    if !version_ok {
        return Err(format!(
            "manifest version `{}` must be 1 to 63 printable characters without spaces or `@`",
            manifest.version
        ));
    }
    Ok(())
}

/// Reads one multipart field whole, refusing more than `limit` bytes.
async fn read_field(
    mut field: axum::extract::multipart::Field<'_>,
    what: &str,
    limit: usize,
) -> ApiResult<Vec<u8>> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > limit {
            // Read the rest (the route's body limit bounds it) before answering, so the
            // client, still sending, gets this answer rather than a reset connection.
            while let Ok(Some(_)) = field.chunk().await {}
            return Err(ApiError::PayloadTooLarge(format!(
                "the {what} is larger than the limit of {limit} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn multipart_error(err: MultipartError) -> ApiError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("the upload is larger than the server accepts".into())
    } else {
        ApiError::BadRequest(format!("malformed multipart body: {}", err.body_text()))
    }
}

/// Uploads a model: a multipart form with a `manifest` part (the JSON written by `train/`)
/// and a `model` part (the `.onnx` file). The server loads the model as a door would and
/// refuses it when its hash, shapes, outputs or self-test disagree with the manifest.
#[utoipa::path(post, path = "/api/v1/models", tag = "models",
    security(("admin" = [])),
    request_body(content_type = "multipart/form-data", description = "Parts `manifest` (JSON) and `model` (ONNX file)"),
    responses(
        (status = 201, description = "Stored", body = Model),
        (status = 400, description = "Malformed multipart body", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "This name@version exists", body = ErrorBody),
        (status = 413, description = "The model is larger than the limit", body = ErrorBody),
        (status = 422, description = "The model or manifest is invalid", body = ErrorBody),
    ))]
pub(crate) async fn upload_model(
    State(state): State<AppState>,
    admin: Result<AdminUser, ApiError>,
    form: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, axum::Json<Model>)> {
    let (admin, mut form) = match (admin, form) {
        (Ok(AdminUser(admin)), Ok(form)) => (admin, form),
        (Err(err), form) => {
            // Read (and drop) the upload before refusing it: a client still sending a
            // large file would otherwise see a broken connection instead of the reason.
            if let Ok(mut form) = form {
                while let Ok(Some(mut field)) = form.next_field().await {
                    while let Ok(Some(_)) = field.chunk().await {}
                }
            }
            return Err(err);
        }
        (Ok(_), Err(rejection)) => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "expected a multipart/form-data body with `manifest` and `model` parts: {}",
                rejection.body_text()
            )));
        }
    };
    let limit = state.settings.max_model_bytes;
    let mut manifest_text = None;
    let mut model_bytes = None;
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        match field.name().unwrap_or_default() {
            "manifest" => {
                let bytes = read_field(field, "manifest", MAX_MANIFEST_BYTES).await?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| ApiError::Validation("the manifest is not UTF-8 text".into()))?;
                manifest_text = Some(text);
            }
            "model" => model_bytes = Some(read_field(field, "model file", limit).await?),
            other => {
                return Err(ApiError::Validation(format!(
                    "unexpected form part `{other}`; send `manifest` and `model`"
                )));
            }
        }
    }
    let (Some(manifest_text), Some(model_bytes)) = (manifest_text, model_bytes) else {
        return Err(ApiError::Validation(
            "the form needs a `manifest` part (JSON) and a `model` part (the .onnx file)".into(),
        ));
    };
    let manifest = Manifest::parse(&manifest_text)
        .map_err(|reason| ApiError::Validation(format!("manifest: {reason}")))?;
    validate_name_and_version(&manifest).map_err(ApiError::Validation)?;
    let sha256 = sha256_hex(&model_bytes);
    let model_bytes = Bytes::from(model_bytes);
    let checked = model_bytes.clone();
    let check_manifest = manifest.clone();
    // Loading optimises the graph: seconds of CPU for a large model, off the async threads.
    tokio::task::spawn_blocking(move || Classifier::from_bytes(check_manifest, &checked))
        .await
        .map_err(ApiError::internal)?
        .map_err(|reason| ApiError::Validation(format!("the model does not load: {reason}")))?;
    let model = state
        .store
        .create_model(
            &NewModel {
                name: &manifest.name,
                version: &manifest.version,
                sha256: &sha256,
                manifest: &manifest_text,
                content: &model_bytes,
                uploaded_by: &admin.username,
            },
            state.clock.now(),
        )
        .await?;
    tracing::info!(model = %model.model_id(), sha256 = %model.sha256, by = %admin.username, "model uploaded");
    Ok((StatusCode::CREATED, axum::Json(model)))
}

/// All models in the registry, newest first.
#[utoipa::path(get, path = "/api/v1/models", tag = "models",
    security(("user" = [])),
    responses(
        (status = 200, description = "All models", body = ModelList),
        (status = 401, description = "Not logged in", body = ErrorBody),
    ))]
pub(crate) async fn list_models(
    State(state): State<AppState>,
    _user: AuthUser,
) -> ApiResult<axum::Json<ModelList>> {
    Ok(axum::Json(ModelList {
        items: state.store.list_models().await?,
    }))
}

/// Finds a model or answers 404.
pub(crate) async fn find_model(state: &AppState, id: i64) -> ApiResult<Model> {
    state
        .store
        .model_by_id(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no model with id {id}")))
}

/// One model.
#[utoipa::path(get, path = "/api/v1/models/{id}", tag = "models",
    security(("user" = [])),
    params(("id" = i64, Path, description = "The model's id")),
    responses(
        (status = 200, description = "The model", body = Model),
        (status = 404, description = "No such model", body = ErrorBody),
    ))]
pub(crate) async fn get_model(
    State(state): State<AppState>,
    _user: AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Model>> {
    Ok(axum::Json(find_model(&state, id).await?))
}

/// The bytes of a model file, with its hash as the ETag.
pub(crate) fn model_file_response(model: &Model, bytes: Vec<u8>) -> Response {
    let file_name = format!("{}-{}.onnx", model.name, model.version);
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::ETAG, format!("\"{}\"", model.sha256)),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
            // Immutable: a hash names the bytes.
            (
                header::CACHE_CONTROL,
                "private, max-age=31536000, immutable".to_owned(),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// Downloads a model's ONNX file.
#[utoipa::path(get, path = "/api/v1/models/{id}/file", tag = "models",
    security(("user" = [])),
    params(("id" = i64, Path, description = "The model's id")),
    responses(
        (status = 200, description = "The ONNX file", content_type = "application/octet-stream"),
        (status = 404, description = "No such model", body = ErrorBody),
    ))]
pub(crate) async fn get_model_file(
    State(state): State<AppState>,
    _user: AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let model = find_model(&state, id).await?;
    let bytes = state
        .store
        .model_file(&model.sha256)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("the file of model {id} is missing")))?;
    Ok(model_file_response(&model, bytes))
}

/// Assigns a model to some doors (a canary or a stage) or to all of them.
#[utoipa::path(post, path = "/api/v1/models/{id}/rollout", tag = "models",
    security(("admin" = [])),
    params(("id" = i64, Path, description = "The model's id")),
    request_body = Rollout,
    responses(
        (status = 200, description = "Assigned", body = AssignmentList),
        (status = 404, description = "No such model", body = ErrorBody),
        (status = 422, description = "No doors, or unknown doors", body = ErrorBody),
    ))]
pub(crate) async fn rollout_model(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Json(rollout): Json<Rollout>,
) -> ApiResult<axum::Json<AssignmentList>> {
    let model = find_model(&state, id).await?;
    let devices = state.store.list_devices().await?;
    let targets: Vec<_> = match (rollout.all, rollout.devices.is_empty()) {
        (true, true) => devices.iter().collect(),
        (false, false) => {
            let wanted: BTreeSet<&str> = rollout.devices.iter().map(String::as_str).collect();
            let unknown: Vec<&str> = wanted
                .iter()
                .copied()
                .filter(|name| !devices.iter().any(|d| d.name == *name))
                .collect();
            if !unknown.is_empty() {
                return Err(ApiError::Validation(format!(
                    "no such doors: {}",
                    unknown.join(", ")
                )));
            }
            devices
                .iter()
                .filter(|d| wanted.contains(d.name.as_str()))
                .collect()
        }
        _ => {
            return Err(ApiError::Validation(
                "give either `devices` (door names) or `all: true`".into(),
            ));
        }
    };
    if targets.is_empty() {
        return Err(ApiError::Validation("no doors are registered".into()));
    }
    let items = assign_and_announce(
        &state,
        &targets,
        Some(model.id),
        AssignmentAction::Assign,
        &admin.username,
    )
    .await?;
    tracing::info!(model = %model.model_id(), doors = items.len(), by = %admin.username, "model rolled out");
    Ok(axum::Json(AssignmentList { items }))
}

/// `GET /api/v1/models/{id}/rollout` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct RolloutQuery {
    /// Count visits captured since then (RFC 3339); default: when the model was uploaded.
    since: Option<DateTime<Utc>>,
}

fn outcome<'a>(rows: impl Iterator<Item = &'a ModelUsage>) -> ModelOutcome {
    let (mut visits, mut passed, mut score_sum) = (0i64, 0i64, 0f64);
    for row in rows {
        visits += row.visits;
        passed += row.passed;
        score_sum += row.score_sum;
    }
    let n = visits.max(0) as u64;
    ModelOutcome {
        visits: n,
        passed: passed.max(0) as u64,
        pass_rate: (n > 0).then(|| passed as f64 / visits as f64),
        mean_score: (n > 0).then(|| score_sum / visits as f64),
    }
}

/// How a model does: per door that has it, and against all visits judged by other models
/// in the same window. Watch a canary door here before rolling out to all.
#[utoipa::path(get, path = "/api/v1/models/{id}/rollout", tag = "models",
    security(("user" = [])),
    params(("id" = i64, Path, description = "The model's id"), RolloutQuery),
    responses(
        (status = 200, description = "The rollout", body = RolloutStatus),
        (status = 404, description = "No such model", body = ErrorBody),
    ))]
pub(crate) async fn get_rollout(
    State(state): State<AppState>,
    _user: AuthUser,
    Path(id): Path<i64>,
    Query(query): Query<RolloutQuery>,
) -> ApiResult<axum::Json<RolloutStatus>> {
    let model = find_model(&state, id).await?;
    let since = query.since.unwrap_or(model.uploaded_at);
    let model_id = model.model_id();
    let usage = state.store.model_usage(since).await?;
    let mut by_device: HashMap<i64, Vec<&ModelUsage>> = HashMap::new();
    for row in usage.iter().filter(|u| u.model == model_id) {
        by_device.entry(row.device_id).or_default().push(row);
    }
    let devices = state
        .store
        .list_devices()
        .await?
        .into_iter()
        .filter_map(|device| {
            let status = device.status.as_ref();
            let running = status.is_some_and(|s| {
                s.model_sha256.as_deref() == Some(model.sha256.as_str())
                    && s.model_version.as_deref() == Some(model_id.as_str())
            });
            let assigned = device.assigned_model_id == Some(model.id);
            let rows = by_device.remove(&device.id).unwrap_or_default();
            (assigned || running || !rows.is_empty()).then(|| RolloutDevice {
                device: device.name.clone(),
                assigned,
                running,
                model_error: status.and_then(|s| s.model_error.clone()),
                outcome: outcome(rows.into_iter()),
            })
        })
        .collect();
    Ok(axum::Json(RolloutStatus {
        model_outcome: outcome(usage.iter().filter(|u| u.model == model_id)),
        others: outcome(usage.iter().filter(|u| u.model != model_id)),
        model,
        since,
        devices,
    }))
}
