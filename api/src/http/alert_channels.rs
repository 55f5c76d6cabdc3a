//! `/api/v1/alert-channels`: where alerts go — signed JSON webhooks, Slack-compatible and
//! ntfy-style endpoints (admins only). Secrets are write-only.

use axum::extract::State;
use axum::http::StatusCode;
use maskgate_api_types::{AlertChannel, AlertChannelList, AlertChannelSpec, ErrorBody};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{AdminUser, Json, Path};
use crate::db::StoredChannel;

/// How the API shows a stored channel: everything but the secret.
fn public(channel: StoredChannel) -> AlertChannel {
    let spec = channel.spec;
    AlertChannel {
        id: channel.id,
        has_secret: spec.secret.as_deref().is_some_and(|s| !s.is_empty()),
        name: spec.name,
        kind: spec.kind,
        url: spec.url,
        digest: spec.digest,
        enabled: spec.enabled,
        created_at: channel.created_at,
        updated_at: channel.updated_at,
    }
}

/// Checks a channel; the error names the field.
pub(crate) fn validate_channel(spec: &AlertChannelSpec) -> Result<(), String> {
    if spec.name.trim().is_empty()
        || spec.name.chars().count() > 100
        || spec.name.chars().any(char::is_control)
    {
        return Err("name must be 1 to 100 printable characters".into());
    }
    let url = reqwest::Url::parse(&spec.url)
        .map_err(|e| format!("url `{}` is not a URL: {e}", spec.url))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!(
            "url must be an http or https URL, not `{}`",
            spec.url
        ));
    }
    if spec.url.len() > 2000 {
        return Err("url must be at most 2000 characters".into());
    }
    if let Some(secret) = &spec.secret
        && secret.len() > 256
    {
        return Err("secret must be at most 256 bytes".into());
    }
    Ok(())
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("no alert channel with id {id}"))
}

/// All channels, by name.
#[utoipa::path(get, path = "/api/v1/alert-channels", tag = "alerts",
    security(("admin" = [])),
    responses(
        (status = 200, description = "All channels", body = AlertChannelList),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub(crate) async fn list_alert_channels(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> ApiResult<axum::Json<AlertChannelList>> {
    let items = state.store.list_alert_channels().await?;
    Ok(axum::Json(AlertChannelList {
        items: items.into_iter().map(public).collect(),
    }))
}

/// Creates a channel.
#[utoipa::path(post, path = "/api/v1/alert-channels", tag = "alerts",
    security(("admin" = [])),
    request_body = AlertChannelSpec,
    responses(
        (status = 201, description = "Created", body = AlertChannel),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 422, description = "Invalid channel; the message says which field", body = ErrorBody),
    ))]
pub(crate) async fn create_alert_channel(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Json(spec): Json<AlertChannelSpec>,
) -> ApiResult<(StatusCode, axum::Json<AlertChannel>)> {
    validate_channel(&spec).map_err(ApiError::Validation)?;
    let channel = state
        .store
        .create_alert_channel(&spec, state.clock.now())
        .await?;
    tracing::info!(channel = %spec.name, by = %admin.username, "alert channel created");
    Ok((StatusCode::CREATED, axum::Json(public(channel))))
}

/// One channel.
#[utoipa::path(get, path = "/api/v1/alert-channels/{id}", tag = "alerts",
    security(("admin" = [])),
    params(("id" = i64, Path, description = "The channel's id")),
    responses(
        (status = 200, description = "The channel", body = AlertChannel),
        (status = 404, description = "No such channel", body = ErrorBody),
    ))]
pub(crate) async fn get_alert_channel(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<AlertChannel>> {
    state
        .store
        .alert_channel(id)
        .await?
        .map(|c| axum::Json(public(c)))
        .ok_or_else(|| not_found(id))
}

/// Replaces a channel. Without `secret` the stored secret stays; `""` removes it. Rules
/// name channels, so a rename is refused while rules use the old name.
#[utoipa::path(put, path = "/api/v1/alert-channels/{id}", tag = "alerts",
    security(("admin" = [])),
    params(("id" = i64, Path, description = "The channel's id")),
    request_body = AlertChannelSpec,
    responses(
        (status = 200, description = "Updated", body = AlertChannel),
        (status = 404, description = "No such channel", body = ErrorBody),
        (status = 409, description = "The name is taken, or rules use the old name", body = ErrorBody),
        (status = 422, description = "Invalid channel", body = ErrorBody),
    ))]
pub(crate) async fn update_alert_channel(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Json(mut spec): Json<AlertChannelSpec>,
) -> ApiResult<axum::Json<AlertChannel>> {
    validate_channel(&spec).map_err(ApiError::Validation)?;
    let old = state
        .store
        .alert_channel(id)
        .await?
        .ok_or_else(|| not_found(id))?;
    if old.spec.name != spec.name {
        refuse_if_used(&state, &old.spec.name, "renamed").await?;
    }
    spec.secret = match spec.secret {
        None => old.spec.secret,
        Some(s) if s.is_empty() => None,
        Some(s) => Some(s),
    };
    let channel = state
        .store
        .update_alert_channel(id, &spec, state.clock.now())
        .await?
        .ok_or_else(|| not_found(id))?;
    tracing::info!(channel = %spec.name, by = %admin.username, "alert channel updated");
    Ok(axum::Json(public(channel)))
}

/// Deletes a channel that no rule uses.
#[utoipa::path(delete, path = "/api/v1/alert-channels/{id}", tag = "alerts",
    security(("admin" = [])),
    params(("id" = i64, Path, description = "The channel's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such channel", body = ErrorBody),
        (status = 409, description = "Rules use it", body = ErrorBody),
    ))]
pub(crate) async fn delete_alert_channel(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let old = state
        .store
        .alert_channel(id)
        .await?
        .ok_or_else(|| not_found(id))?;
    refuse_if_used(&state, &old.spec.name, "deleted").await?;
    if !state.store.delete_alert_channel(id).await? {
        return Err(not_found(id));
    }
    tracing::info!(channel = %old.spec.name, by = %admin.username, "alert channel deleted");
    Ok(StatusCode::NO_CONTENT)
}

async fn refuse_if_used(state: &AppState, name: &str, what: &str) -> ApiResult<()> {
    let users: Vec<String> = state
        .store
        .list_alert_rules()
        .await?
        .into_iter()
        .filter(|r| {
            r.spec.channels.iter().any(|c| c == name)
                || r.spec.escalation_channels.iter().any(|c| c == name)
        })
        .map(|r| r.spec.name)
        .collect();
    if users.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Conflict(format!(
            "channel `{name}` cannot be {what}: rules use it ({})",
            users.join(", ")
        )))
    }
}
