//! `GET /healthz`.

use axum::Json;
use axum::extract::State;
use maskgate_api_types::{ErrorBody, Health};

use super::AppState;
use super::error::{ApiError, ApiResult};

/// Reports `ok` when the database answers.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses(
        (status = 200, description = "The server and its database answer", body = Health),
        (status = 503, description = "The database does not answer", body = ErrorBody),
    ))]
pub(crate) async fn get_health(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    state.store.ping().await.map_err(|err| {
        tracing::warn!(error = %err, "health check: database ping failed");
        ApiError::Unavailable
    })?;
    Ok(Json(Health {
        status: "ok".into(),
    }))
}
