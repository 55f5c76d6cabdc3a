//! `POST /api/v1/auth/login`: passwords in, session tokens out, failures rate-limited.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use maskgate_api_types::{ErrorBody, LoginRequest, LoginResponse};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::Json;
use crate::credentials::{
    USER_TOKEN_PREFIX, decoy_hash, new_token, token_hash, validate_username, verify_password,
};

/// Logs a user in. After too many failures for one user name or from one address within
/// the window, logins are refused with 429 until the window has passed.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = LoginResponse),
        (status = 401, description = "Wrong user name or password", body = ErrorBody),
        (status = 429, description = "Too many failed logins", body = ErrorBody),
    ))]
pub(crate) async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(request): Json<LoginRequest>,
) -> ApiResult<axum::Json<LoginResponse>> {
    // Over-long names would only fill the failure log; nobody can have one.
    if validate_username(&request.username).is_err() || request.password.len() > 1024 {
        return Err(ApiError::Unauthorized("wrong user name or password"));
    }
    let settings = &state.settings;
    let now = state.clock.now();
    let since = now - settings.login_window;
    let user_subject = format!("user:{}", request.username);
    let ip_subject = format!("ip:{}", peer.ip());
    let retry_after = settings.login_window.num_seconds().max(1) as u64;
    if state
        .store
        .login_failures_since(&user_subject, since)
        .await?
        >= settings.max_failed_logins_per_user
        || state.store.login_failures_since(&ip_subject, since).await?
            >= settings.max_failed_logins_per_ip
    {
        return Err(ApiError::RateLimited(retry_after));
    }

    let user = state.store.user_by_name(&request.username).await?;
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| decoy_hash().to_owned());
    let password = request.password;
    // argon2 takes tens of milliseconds of CPU: keep it off the async workers.
    let matches = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(ApiError::internal)?;

    let Some(user) = user.filter(|_| matches) else {
        for subject in [&user_subject, &ip_subject] {
            state
                .store
                .record_login_failure(subject, now, since)
                .await?;
        }
        tracing::info!(peer = %peer.ip(), "failed login");
        return Err(ApiError::Unauthorized("wrong user name or password"));
    };

    let token = new_token(USER_TOKEN_PREFIX);
    let expires_at = now + settings.session_ttl;
    state
        .store
        .create_session(&token_hash(token.expose()), user.id, now, expires_at)
        .await?;
    tracing::info!(user = %user.username, "login");
    Ok(axum::Json(LoginResponse {
        token: token.expose().to_owned(),
        role: user.role,
        expires_at,
    }))
}
