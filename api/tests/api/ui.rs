//! The admin web app on the API's origin: files, client routes, caching, and the page
//! shown before the app is built.

use std::path::PathBuf;

use reqwest::StatusCode;
use reqwest::header::CACHE_CONTROL;

use crate::helpers::{Backend, spawn_app};

/// A folder that looks like `scripts/build-ui`'s output.
fn built_app() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("maskgate-ui-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("create folder");
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><title>MaskGate</title>",
    )
    .expect("write index");
    std::fs::write(
        dir.join("maskgate-ui-0123456789abcdef.js"),
        "export default 1;",
    )
    .expect("write js");
    dir
}

fn cache_control(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn the_built_app_is_served_with_its_client_routes_and_cache_headers() {
    let dir = built_app();
    let ui_dir = dir.clone();
    let Some(app) = spawn_app(Backend::Sqlite, move |s| s.ui_dir = Some(ui_dir)).await else {
        return;
    };
    for path in ["/", "/alerts", "/doors/front-door"] {
        let response = app.client.get(app.url(path)).send().await.expect("get");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(cache_control(&response), "no-cache", "{path}");
        let body = response.text().await.expect("body");
        assert!(body.contains("<title>MaskGate</title>"), "{path}: {body}");
    }
    let response = app
        .client
        .get(app.url("/maskgate-ui-0123456789abcdef.js"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        cache_control(&response),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(response.text().await.expect("body"), "export default 1;");

    // A file that is not there is not the page: a stale script must fail, not parse HTML.
    let response = app
        .client
        .get(app.url("/maskgate-ui-fedcba9876543210.js"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // The API keeps its JSON errors, and other methods do not reach the files.
    for (method, path) in [
        (reqwest::Method::GET, "/api/v1/nothing"),
        (reqwest::Method::GET, "/api"),
        (reqwest::Method::POST, "/alerts"),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "not_found", "{method} {path}");
    }
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn without_a_built_app_the_root_says_how_to_build_it() {
    let missing = std::env::temp_dir().join(format!("maskgate-no-ui-{}", uuid::Uuid::new_v4()));
    let Some(app) = spawn_app(Backend::Sqlite, move |s| s.ui_dir = Some(missing)).await else {
        return;
    };
    let response = app.client.get(app.url("/")).send().await.expect("get");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await.expect("body");
    assert!(body.contains("scripts/build-ui"), "{body}");
    assert!(body.contains("MASKGATE_UI_DIR"), "{body}");
    let response = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::OK);
    app.shutdown().await;
}
