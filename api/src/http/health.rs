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
    // A database that hangs must not hang the probe: answer 503 within two seconds.
    match tokio::time::timeout(std::time::Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "health check: database ping failed");
            return Err(ApiError::Unavailable);
        }
        Err(_) => {
            tracing::warn!("health check: database ping timed out");
            return Err(ApiError::Unavailable);
        }
    }
    Ok(Json(Health {
        status: "ok".into(),
    }))
}
