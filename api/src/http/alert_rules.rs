//! `/api/v1/alert-rules`: what the server watches at the doors (admins only).

use axum::extract::State;
use axum::http::StatusCode;
use maskgate_api_types::{AlertRule, AlertRuleList, AlertRuleSpec, ErrorBody};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{AdminUser, Json, Path};
use crate::alert_rules::validate_rule;

async fn check(state: &AppState, spec: &AlertRuleSpec) -> ApiResult<()> {
    let doors: Vec<String> = state
        .store
        .list_devices()
        .await?
        .into_iter()
        .map(|d| d.name)
        .collect();
    let channels: Vec<String> = state
        .store
        .list_alert_channels()
        .await?
        .into_iter()
        .map(|c| c.spec.name)
        .collect();
    validate_rule(spec, &doors, &channels).map_err(ApiError::Validation)
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("no alert rule with id {id}"))
}

/// All alert rules, by name.
#[utoipa::path(get, path = "/api/v1/alert-rules", tag = "alerts",
    security(("admin" = [])),
    responses(
        (status = 200, description = "All rules", body = AlertRuleList),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub(crate) async fn list_alert_rules(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> ApiResult<axum::Json<AlertRuleList>> {
    Ok(axum::Json(AlertRuleList {
        items: state.store.list_alert_rules().await?,
    }))
}

/// Creates an alert rule.
#[utoipa::path(post, path = "/api/v1/alert-rules", tag = "alerts",
    security(("admin" = [])),
    request_body = AlertRuleSpec,
    responses(
        (status = 201, description = "Created", body = AlertRule),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 422, description = "Invalid rule; the message says which field", body = ErrorBody),
    ))]
pub(crate) async fn create_alert_rule(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Json(spec): Json<AlertRuleSpec>,
) -> ApiResult<(StatusCode, axum::Json<AlertRule>)> {
    check(&state, &spec).await?;
    let rule = state
        .store
        .create_alert_rule(&spec, &admin.username, state.clock.now())
        .await?;
    tracing::info!(rule = %rule.spec.name, by = %admin.username, "alert rule created");
    Ok((StatusCode::CREATED, axum::Json(rule)))
}

/// One alert rule.
#[utoipa::path(get, path = "/api/v1/alert-rules/{id}", tag = "alerts",
    security(("admin" = [])),
    params(("id" = i64, Path, description = "The rule's id")),
    responses(
        (status = 200, description = "The rule", body = AlertRule),
        (status = 404, description = "No such rule", body = ErrorBody),
    ))]
pub(crate) async fn get_alert_rule(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<AlertRule>> {
    state
        .store
        .alert_rule(id)
        .await?
        .map(axum::Json)
        .ok_or_else(|| not_found(id))
}

/// Replaces an alert rule.
#[utoipa::path(put, path = "/api/v1/alert-rules/{id}", tag = "alerts",
    security(("admin" = [])),
    params(("id" = i64, Path, description = "The rule's id")),
    request_body = AlertRuleSpec,
    responses(
        (status = 200, description = "Updated", body = AlertRule),
        (status = 404, description = "No such rule", body = ErrorBody),
        (status = 409, description = "The name is another rule's", body = ErrorBody),
        (status = 422, description = "Invalid rule", body = ErrorBody),
    ))]
pub(crate) async fn update_alert_rule(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Json(spec): Json<AlertRuleSpec>,
) -> ApiResult<axum::Json<AlertRule>> {
    check(&state, &spec).await?;
    let rule = state
        .store
        .update_alert_rule(id, &spec, state.clock.now())
        .await?
        .ok_or_else(|| not_found(id))?;
    tracing::info!(rule = %rule.spec.name, by = %admin.username, "alert rule updated");
    Ok(axum::Json(rule))
}

/// Deletes an alert rule.
#[utoipa::path(delete, path = "/api/v1/alert-rules/{id}", tag = "alerts",
    security(("admin" = [])),
    params(("id" = i64, Path, description = "The rule's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such rule", body = ErrorBody),
    ))]
pub(crate) async fn delete_alert_rule(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    if !state.store.delete_alert_rule(id).await? {
        return Err(not_found(id));
    }
    tracing::info!(rule = id, by = %admin.username, "alert rule deleted");
    Ok(StatusCode::NO_CONTENT)
}
