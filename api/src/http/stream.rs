//! `GET /api/v1/stream`: live events as Server-Sent Events.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use super::AppState;
use super::extract::LinkUser;

/// Query of `GET /api/v1/stream`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StreamQuery {
    /// The session token, for clients that cannot set headers (the browser's
    /// `EventSource`). Prefer the `Authorization` header.
    #[allow(dead_code)]
    access_token: Option<String>,
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
    _user: LinkUser,
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
