//! Extractors whose rejections are [`ApiError`]s, and the authentication extractors.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use maskgate_api_types::Role;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::credentials::{TokenKind, token_hash, token_kind};

/// A JSON body; a malformed, mistyped or oversized body gets the JSON error format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let text = rejection.body_text();
    match rejection {
        JsonRejection::JsonDataError(_) => ApiError::Validation(text),
        JsonRejection::JsonSyntaxError(_) => ApiError::BadRequest(text),
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
            "expected a body with `Content-Type: application/json`".into(),
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge("the request body is too large".into())
        }
        _ => ApiError::BadRequest(text),
    }
}

/// A query string; a malformed or unknown parameter gets the JSON error format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
    }
}

/// Path parameters; a malformed one (`/models/abc` where an id belongs) gets the JSON
/// error format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
    }
}

/// A logged-in user (admin or viewer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    /// The user's id.
    pub id: i64,
    /// The user's name.
    pub username: String,
    /// The user's role.
    pub role: Role,
}

/// A logged-in user with the admin role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminUser(pub AuthUser);

/// A device, authenticated by its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthDevice {
    /// The device's id.
    pub id: i64,
    /// The device's name.
    pub name: String,
}

/// The bearer token of a request, if its `Authorization` header carries one.
pub(crate) fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("malformed Authorization header"))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
            Ok(Some(token.trim()))
        }
        _ => Err(ApiError::Unauthorized(
            "the Authorization header must be `Bearer <token>`",
        )),
    }
}

/// Resolves a user session token.
pub(crate) async fn authenticate_user(state: &AppState, token: &str) -> Result<AuthUser, ApiError> {
    let hash = token_hash(token);
    if token_kind(token) == TokenKind::Device {
        return match state.store.device_by_token(&hash).await? {
            Some(_) => Err(ApiError::Forbidden(
                "a device token cannot be used on this route".into(),
            )),
            None => Err(ApiError::Unauthorized("invalid token")),
        };
    }
    let Some((user, expires_at)) = state.store.session_user(&hash).await? else {
        return Err(ApiError::Unauthorized("invalid token"));
    };
    if expires_at <= state.clock.now() {
        return Err(ApiError::TokenExpired);
    }
    Ok(AuthUser {
        id: user.id,
        username: user.username,
        role: user.role,
    })
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?.ok_or(ApiError::Unauthorized("missing bearer token"))?;
        authenticate_user(state, token).await
    }
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if user.role != Role::Admin {
            return Err(ApiError::Forbidden(
                "this route needs the admin role".into(),
            ));
        }
        Ok(AdminUser(user))
    }
}

impl FromRequestParts<AppState> for AuthDevice {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?.ok_or(ApiError::Unauthorized("missing bearer token"))?;
        let hash = token_hash(token);
        if token_kind(token) == TokenKind::User {
            return match state.store.session_user(&hash).await? {
                Some(_) => Err(ApiError::Forbidden(
                    "a user token cannot be used on a device route".into(),
                )),
                None => Err(ApiError::Unauthorized("invalid token")),
            };
        }
        let device = state
            .store
            .device_by_token(&hash)
            .await?
            .ok_or(ApiError::Unauthorized("invalid token"))?;
        Ok(AuthDevice {
            id: device.id,
            name: device.name,
        })
    }
}

/// A logged-in user, by the `Authorization` header or, for clients that cannot set headers
/// (the browser's `EventSource`, a download link), by the `access_token` query parameter.
/// The header wins when both are present. Routes that take it document `access_token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkUser(pub AuthUser);

impl FromRequestParts<AppState> for LinkUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(token) = bearer(parts)? {
            return authenticate_user(state, token).await.map(LinkUser);
        }
        let query = parts.uri.query().unwrap_or_default();
        let token = url_param(query, "access_token")
            .ok_or(ApiError::Unauthorized("missing bearer token"))?;
        authenticate_user(state, &token).await.map(LinkUser)
    }
}

/// The raw value of query parameter `name` (tokens are URL-safe, so nothing to decode).
fn url_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| value.to_owned())
    })
}
