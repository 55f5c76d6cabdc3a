//! `GET /api/v1/stream`: live events as Server-Sent Events.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::request::Parts;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, authenticate_user, bearer};

/// Query of `GET /api/v1/stream`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StreamQuery {
    /// The session token, for clients that cannot set headers (the browser's
    /// `EventSource`). Prefer the `Authorization` header.
    #[allow(dead_code)]
    access_token: Option<String>,
}

/// A user authenticated by header or, for `EventSource`, by `access_token`.
pub(crate) struct StreamUser(#[allow(dead_code)] AuthUser);

impl axum::extract::FromRequestParts<AppState> for StreamUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(token) = bearer(parts)? {
            return authenticate_user(state, token).await.map(StreamUser);
        }
        let query = parts.uri.query().unwrap_or_default();
        let token = url_param(query, "access_token")
            .ok_or(ApiError::Unauthorized("missing bearer token"))?;
        authenticate_user(state, &token).await.map(StreamUser)
    }
}

fn url_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| value.to_owned())
    })
}

/// Live events: `visit` for every accepted visit, `device` for every heartbeat. Each
/// event's data is the JSON of a `Visit` or `Device`. A client that falls behind gets a
/// `lagged` event with the number of events it missed.
#[utoipa::path(get, path = "/api/v1/stream", tag = "stream",
    security(("user" = [])),
    params(StreamQuery),
    responses(
        (status = 200, description = "An endless `text/event-stream`", content_type = "text/event-stream", body = String),
        (status = 401, description = "Not logged in", body = maskgate_api_types::ErrorBody),
    ))]
pub(crate) async fn get_stream(
    State(state): State<AppState>,
    _user: StreamUser,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = BroadcastStream::new(state.events.subscribe()).map(|item| {
        Ok(match item {
            Ok(event) => {
                let name = event.name();
                let data = match &event {
                    maskgate_api_types::StreamEvent::Visit(v) => serde_json::to_string(v),
                    maskgate_api_types::StreamEvent::Device(d) => serde_json::to_string(d),
                    maskgate_api_types::StreamEvent::Assignment(a) => serde_json::to_string(a),
                    maskgate_api_types::StreamEvent::Alert(a) => serde_json::to_string(a),
                };
                Event::default()
                    .event(name)
                    .data(data.unwrap_or_else(|_| "{}".into()))
            }
            Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                Event::default().event("lagged").data(n.to_string())
            }
        })
    });
    // End the stream when the server shuts down, or graceful shutdown would wait forever.
    let mut stop = state.shutdown_signal();
    let events = futures::StreamExt::take_until(
        events,
        Box::pin(async move {
            let _ = stop.wait_for(|stopping| *stopping).await;
        }),
    );
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
