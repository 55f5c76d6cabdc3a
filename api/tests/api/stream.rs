//! The live stream (Server-Sent Events).

use std::time::{Duration, Instant};

use futures::StreamExt;
use maskgate_api_types::Visit;
use reqwest::StatusCode;

use crate::backend_tests;
use crate::helpers::{TestApp, visit};

/// Reads SSE frames until one with the given event name arrives; returns its data.
pub(crate) async fn next_event(
    response: &mut reqwest::Response,
    name: &str,
    within: Duration,
) -> Option<String> {
    let deadline = Instant::now() + within;
    let mut buffer = String::new();
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        let chunk = tokio::time::timeout(left, response.chunk())
            .await
            .ok()?
            .ok()??;
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let mut event = None;
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = Some(v.trim().to_owned());
                }
                if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if event.as_deref() == Some(name) {
                return Some(data);
            }
        }
    }
}

async fn open_stream(app: &TestApp, url: String, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("open stream")
}

backend_tests! {
    async fn an_accepted_visit_reaches_the_stream_within_a_second(app) {
        let admin = app.admin_token().await;
        let door = app.device(&admin, "door").await;
        let mut stream = open_stream(&app, app.url("/api/v1/stream"), Some(&admin)).await;
        assert_eq!(stream.status(), StatusCode::OK);
        assert!(stream.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/event-stream"));
        let v = visit(&app, chrono::Duration::seconds(2), false);
        let posted_at = Instant::now();
        app.post_visits(&door, std::slice::from_ref(&v)).await;
        let data = next_event(&mut stream, "visit", Duration::from_secs(1)).await
            .expect("a visit event within 1 s");
        assert!(posted_at.elapsed() < Duration::from_secs(1));
        let got: Visit = serde_json::from_str(&data).expect("visit JSON");
        assert_eq!((got.id, got.device.as_str(), got.passed), (v.id, "door", false));

        // A duplicate is not news.
        app.post_visits(&door, std::slice::from_ref(&v)).await;
        assert!(next_event(&mut stream, "visit", Duration::from_millis(300)).await.is_none());
        app
    }

    async fn the_stream_accepts_an_access_token_parameter_for_event_source(app) {
        let admin = app.admin_token().await;
        let door = app.device(&admin, "door").await;
        let refused = open_stream(&app, app.url("/api/v1/stream"), None).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        let refused = open_stream(&app, app.url("/api/v1/stream?access_token=mgu_nope"), None).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        let mut stream = open_stream(&app, app.url(&format!("/api/v1/stream?access_token={admin}")), None).await;
        assert_eq!(stream.status(), StatusCode::OK);
        let heartbeat = serde_json::json!({"queue_depth": 0, "camera_state": "ok"});
        app.client.post(app.url("/api/v1/devices/heartbeat")).bearer_auth(&door).json(&heartbeat).send().await.expect("heartbeat");
        let data = next_event(&mut stream, "device", Duration::from_secs(1)).await.expect("device event");
        assert!(data.contains("\"name\":\"door\""), "{data}");
        app
    }
}

#[tokio::test]
async fn open_streams_end_when_the_server_shuts_down() {
    let Some(app) = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite, |_| {}).await else {
        return;
    };
    let admin = app.admin_token().await;
    let mut stream = open_stream(&app, app.url("/api/v1/stream"), Some(&admin)).await;
    let started = Instant::now();
    app.shutdown().await;
    // The body ends instead of hanging.
    let rest = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(chunk) = stream.chunk().await.transpose() {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(rest.is_ok(), "the stream did not end");
    assert!(started.elapsed() < Duration::from_secs(5));
    let _ = futures::stream::empty::<()>().next().await;
}
