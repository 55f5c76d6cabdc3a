//! Which model each door runs: assignment, rollback and history for admins; the assigned
//! model and its file for the door itself.

use axum::extract::State;
use axum::response::Response;
use maskgate_api_types::{
    AssignModel, AssignedModel, AssignmentAction, Device, ErrorBody, ModelAssignment, ModelHistory,
    StreamEvent,
};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{AdminUser, AuthDevice, AuthUser, Json, Path};
use super::models::{find_model, model_file_response};

/// Assigns `model_id` to the doors in one transaction, and announces each change on the
/// live stream.
pub(crate) async fn assign_and_announce(
    state: &AppState,
    devices: &[&Device],
    model_id: Option<i64>,
    action: AssignmentAction,
    by: &str,
) -> ApiResult<Vec<ModelAssignment>> {
    let now = state.clock.now();
    let ids: Vec<i64> = devices.iter().map(|d| d.id).collect();
    let previous = state
        .store
        .assign_model(&ids, model_id, action, by, now)
        .await?;
    let items: Vec<ModelAssignment> = devices
        .iter()
        .zip(previous)
        .map(|(device, previous_model_id)| ModelAssignment {
            device_id: device.id,
            device: device.name.clone(),
            model_id,
            previous_model_id,
            action,
            assigned_at: now,
            assigned_by: by.to_owned(),
        })
        .collect();
    for item in &items {
        let _ = state.events.send(StreamEvent::Assignment(item.clone()));
    }
    Ok(items)
}

async fn find_device(state: &AppState, id: i64) -> ApiResult<Device> {
    state
        .store
        .device_by_id(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no device with id {id}")))
}

/// Assigns a model to one door; `model_id: null` returns it to the model it was installed
/// with.
#[utoipa::path(put, path = "/api/v1/devices/{id}/model", tag = "devices",
    security(("admin" = [])),
    params(("id" = i64, Path, description = "The device's id")),
    request_body = AssignModel,
    responses(
        (status = 200, description = "Assigned", body = ModelAssignment),
        (status = 404, description = "No such device or model", body = ErrorBody),
    ))]
pub(crate) async fn assign_device_model(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Json(request): Json<AssignModel>,
) -> ApiResult<axum::Json<ModelAssignment>> {
    let device = find_device(&state, id).await?;
    if let Some(model_id) = request.model_id {
        find_model(&state, model_id).await?;
    }
    let mut items = assign_and_announce(
        &state,
        &[&device],
        request.model_id,
        AssignmentAction::Assign,
        &admin.username,
    )
    .await?;
    tracing::info!(device = %device.name, model = ?request.model_id, by = %admin.username, "model assigned");
    items
        .pop()
        .map(axum::Json)
        .ok_or_else(|| ApiError::internal(std::io::Error::other("no assignment made")))
}

/// Returns a door to the model it was assigned before its current one (its installed
/// model when there was none). Repeated rollbacks walk further back.
#[utoipa::path(post, path = "/api/v1/devices/{id}/model/rollback", tag = "devices",
    security(("admin" = [])),
    params(("id" = i64, Path, description = "The device's id")),
    responses(
        (status = 200, description = "Rolled back", body = ModelAssignment),
        (status = 404, description = "No such device", body = ErrorBody),
        (status = 409, description = "Nothing earlier to roll back to", body = ErrorBody),
    ))]
pub(crate) async fn rollback_device_model(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<ModelAssignment>> {
    let device = find_device(&state, id).await?;
    let history = state.store.assignments(device.id).await?;
    let current = device.assigned_model_id;
    // The assignment that put the current model in place says what came before it
    // (re-assigning the same model, as a rollout to all after a canary does, changed nothing).
    let target = history
        .iter()
        .find(|a| {
            a.action == AssignmentAction::Assign
                && a.model_id == current
                && a.previous_model_id != current
        })
        .map(|a| a.previous_model_id)
        .filter(|_| current.is_some());
    let Some(target) = target else {
        return Err(ApiError::Conflict(format!(
            "`{}` runs the model it was installed with; there is nothing earlier to roll back to",
            device.name
        )));
    };
    let mut items = assign_and_announce(
        &state,
        &[&device],
        target,
        AssignmentAction::Rollback,
        &admin.username,
    )
    .await?;
    tracing::info!(device = %device.name, from = ?current, to = ?target, by = %admin.username, "model rolled back");
    items
        .pop()
        .map(axum::Json)
        .ok_or_else(|| ApiError::internal(std::io::Error::other("no assignment made")))
}

/// A door's model history: assignments and rollbacks, and the models it reported running.
#[utoipa::path(get, path = "/api/v1/devices/{id}/model-history", tag = "devices",
    security(("user" = [])),
    params(("id" = i64, Path, description = "The device's id")),
    responses(
        (status = 200, description = "The history", body = ModelHistory),
        (status = 404, description = "No such device", body = ErrorBody),
    ))]
pub(crate) async fn get_model_history(
    State(state): State<AppState>,
    _user: AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<ModelHistory>> {
    let device = find_device(&state, id).await?;
    Ok(axum::Json(ModelHistory {
        assignments: state.store.assignments(device.id).await?,
        runs: state.store.model_runs(device.id).await?,
        device,
    }))
}

/// The model the calling door should run (`model: null`: the one it was installed with).
#[utoipa::path(get, path = "/api/v1/devices/me/model", tag = "devices",
    security(("device" = [])),
    responses(
        (status = 200, description = "The assignment", body = AssignedModel),
        (status = 401, description = "No or invalid device token", body = ErrorBody),
    ))]
pub(crate) async fn get_assigned_model(
    State(state): State<AppState>,
    me: AuthDevice,
) -> ApiResult<axum::Json<AssignedModel>> {
    let device = find_device(&state, me.id).await?;
    let model = match device.assigned_model_id {
        Some(id) => Some(find_model(&state, id).await?),
        None => None,
    };
    Ok(axum::Json(AssignedModel { model }))
}

/// The ONNX file of the calling door's assigned model, named by its SHA-256. A door can
/// fetch only the model assigned to it.
#[utoipa::path(get, path = "/api/v1/devices/me/model/{sha256}", tag = "devices",
    security(("device" = [])),
    params(("sha256" = String, Path, description = "SHA-256 of the assigned model's file")),
    responses(
        (status = 200, description = "The ONNX file", content_type = "application/octet-stream"),
        (status = 404, description = "Not the model assigned to this door", body = ErrorBody),
    ))]
pub(crate) async fn get_assigned_model_file(
    State(state): State<AppState>,
    me: AuthDevice,
    Path(sha256): Path<String>,
) -> ApiResult<Response> {
    let device = find_device(&state, me.id).await?;
    let not_assigned = || {
        ApiError::NotFound(format!(
            "model {sha256} is not the one assigned to `{}`",
            device.name
        ))
    };
    let model = match device.assigned_model_id {
        Some(id) => find_model(&state, id).await?,
        None => return Err(not_assigned()),
    };
    if !model.sha256.eq_ignore_ascii_case(&sha256) {
        return Err(not_assigned());
    }
    let bytes = state
        .store
        .model_file(&model.sha256)
        .await?
        .ok_or_else(|| ApiError::NotFound("the model's file is missing".into()))?;
    Ok(model_file_response(&model, bytes))
}
