//! The admin web app (`ui/`, built by `scripts/build-ui`) on the API's origin.
//!
//! Files come from the configured folder. A path without a file extension that matches no
//! file gets `index.html`, so the app's own routes (`/alerts`) survive a reload; a missing
//! file (`/old.js`) is a plain 404. Content-hashed files (`maskgate-ui-<16 hex>.js`, as
//! `scripts/build-ui` names them) may be cached for a year; everything else, `index.html`
//! first, is sent with `no-cache`, so browsers revalidate it (`Last-Modified`) and pick up
//! a new build at once. Without a built app the server answers a short page that says how
//! to build it; the API is not affected either way.

use std::path::Path;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// Answers a GET or HEAD request for a non-API path from the app folder `dir`.
pub(crate) async fn serve_ui(dir: Option<&Path>, request: Request) -> Response {
    let index = dir.map(|dir| dir.join("index.html"));
    let built = match &index {
        Some(index) => tokio::fs::metadata(index).await.is_ok_and(|m| m.is_file()),
        None => false,
    };
    let (Some(dir), Some(index), true) = (dir, index, built) else {
        return not_built(dir);
    };
    let path = request.uri().path();
    let file_name = path.rsplit('/').next().unwrap_or_default();
    let hashed = is_content_hashed(file_name);
    let files = ServeDir::new(dir).precompressed_gzip();
    let answer = if file_name.contains('.') {
        files.oneshot(request).await
    } else {
        files.fallback(ServeFile::new(index)).oneshot(request).await
    };
    let mut response = match answer {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    };
    let cache = if hashed && response.status().is_success() {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// Whether a file name carries a content hash: a part of exactly 16 lowercase hex digits
/// (`style-6ec60e28edcd88c0.css`, `maskgate-ui-6e6a7550e1e9da3f_bg.wasm`).
fn is_content_hashed(file_name: &str) -> bool {
    file_name.split(['-', '_', '.']).any(|part| {
        part.len() == 16
            && part
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The page shown where the app has not been built.
fn not_built(dir: Option<&Path>) -> Response {
    let place = match dir {
        Some(dir) => format!(
            "<p>It looks for it in <code>{}</code> (set <code>--ui-dir</code> or \
             <code>MASKGATE_UI_DIR</code> to change that).</p>",
            escape(&dir.display().to_string())
        ),
        None => String::new(),
    };
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>MaskGate</title></head>\n<body style=\"font-family: system-ui, sans-serif; \
         max-width: 40rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5\">\n\
         <h1>MaskGate is running</h1>\n\
         <p>The admin web app has not been built on this server yet. In the MaskGate source \
         folder, run</p>\n<pre>scripts/build-ui</pre>\n<p>then reload this page.</p>\n{place}\n\
         <p>The API works meanwhile: <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a> \
         describes it.</p>\n</body></html>\n"
    );
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, HeaderValue::from_static(REVALIDATE))],
        Html(page),
    )
        .into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_with_a_16_digit_hex_part_count_as_content_hashed() {
        let cases = [
            ("maskgate-ui-6e6a7550e1e9da3f.js", true),
            ("maskgate-ui-6e6a7550e1e9da3f_bg.wasm", true),
            ("maskgate-ui-6e6a7550e1e9da3f_bg.wasm.gz", true),
            ("style-6ec60e28edcd88c0.css", true),
            ("index.html", false),
            ("style.css", false),
            ("style-6EC60E28EDCD88C0.css", false),
            ("style-6ec60e28edcd88c.css", false),
            ("", false),
        ];
        for (name, want) in cases {
            assert_eq!(is_content_hashed(name), want, "{name}");
        }
    }
}
