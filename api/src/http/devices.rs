//! `/api/v1/devices`: register and list doors; heartbeats from the doors themselves.

use axum::extract::State;
use axum::http::StatusCode;
use maskgate_api_types::{
    CreatedDevice, DeviceList, ErrorBody, Heartbeat, HeartbeatAck, NewDevice, StreamEvent,
};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{AdminUser, AuthDevice, AuthUser, Json};
use crate::credentials::{DEVICE_TOKEN_PREFIX, new_token, token_hash};

/// Whether `name` is 1 to 64 of `A-Z a-z 0-9 - _ .` (device and model names).
pub(crate) fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Checks a device name: 1 to 64 of `A-Z a-z 0-9 - _ .`.
pub fn validate_device_name(name: &str) -> Result<(), String> {
    if is_plain_name(name) {
        Ok(())
    } else {
        Err(format!(
            "device name `{name}` must be 1 to 64 letters, digits, `-`, `_` or `.`"
        ))
    }
}

/// All registered devices with their last heartbeat, by name.
#[utoipa::path(get, path = "/api/v1/devices", tag = "devices",
    security(("user" = [])),
    responses(
        (status = 200, description = "All devices", body = DeviceList),
        (status = 401, description = "Not logged in", body = ErrorBody),
    ))]
pub(crate) async fn list_devices(
    State(state): State<AppState>,
    _user: AuthUser,
) -> ApiResult<axum::Json<DeviceList>> {
    Ok(axum::Json(DeviceList {
        items: state.store.list_devices().await?,
    }))
}

/// Registers a device and returns its token. The token is shown only this once.
#[utoipa::path(post, path = "/api/v1/devices", tag = "devices",
    security(("admin" = [])),
    request_body = NewDevice,
    responses(
        (status = 201, description = "Registered", body = CreatedDevice),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 422, description = "Invalid name", body = ErrorBody),
    ))]
pub(crate) async fn create_device(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Json(request): Json<NewDevice>,
) -> ApiResult<(StatusCode, axum::Json<CreatedDevice>)> {
    validate_device_name(&request.name).map_err(ApiError::Validation)?;
    let token = new_token(DEVICE_TOKEN_PREFIX);
    let device = state
        .store
        .create_device(
            &request.name,
            &token_hash(token.expose()),
            state.clock.now(),
        )
        .await?;
    tracing::info!(device = %device.name, by = %admin.username, "device registered");
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedDevice {
            device,
            token: token.expose().to_owned(),
        }),
    ))
}

/// A door reports it is alive: queue depth, camera state and model.
#[utoipa::path(post, path = "/api/v1/devices/heartbeat", tag = "devices",
    security(("device" = [])),
    request_body = Heartbeat,
    responses(
        (status = 200, description = "Stored", body = HeartbeatAck),
        (status = 401, description = "No or invalid device token", body = ErrorBody),
        (status = 403, description = "Not a device token", body = ErrorBody),
        (status = 422, description = "Invalid heartbeat", body = ErrorBody),
    ))]
pub(crate) async fn record_heartbeat(
    State(state): State<AppState>,
    device: AuthDevice,
    Json(heartbeat): Json<Heartbeat>,
) -> ApiResult<axum::Json<HeartbeatAck>> {
    let server_time = store_heartbeat(&state, &device, &heartbeat).await?;
    Ok(axum::Json(HeartbeatAck { server_time }))
}

/// Validates and stores a heartbeat, then tells the live stream and the alert engine; the
/// one path heartbeats take in, over HTTP or MQTT. Returns the server's time.
pub(crate) async fn store_heartbeat(
    state: &AppState,
    device: &AuthDevice,
    heartbeat: &Heartbeat,
) -> ApiResult<chrono::DateTime<chrono::Utc>> {
    if let Some(model) = &heartbeat.model_version
        && (model.is_empty() || model.len() > 128 || model.chars().any(char::is_control))
    {
        return Err(ApiError::Validation(
            "model_version must be 1 to 128 printable characters".into(),
        ));
    }
    if let Some(sha) = &heartbeat.model_sha256
        && (sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return Err(ApiError::Validation(
            "model_sha256 must be 64 hexadecimal digits".into(),
        ));
    }
    if let Some(error) = &heartbeat.model_error
        && error.chars().count() > 1000
    {
        return Err(ApiError::Validation(
            "model_error must be at most 1000 characters".into(),
        ));
    }
    if heartbeat.queue_depth > i64::MAX as u64 {
        return Err(ApiError::Validation("queue_depth is out of range".into()));
    }
    let now = state.clock.now();
    let updated = state
        .store
        .record_heartbeat(device.id, heartbeat, now)
        .await?;
    state.metrics.heartbeats.inc();
    let _ = state.events.send(StreamEvent::Device(updated));
    state.alerts.poke();
    Ok(now)
}
