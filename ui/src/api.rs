//! One typed fetch helper for the API on the page's own origin.
//!
//! Every call sends the session token; a 401 ends the session, so whatever screen made the
//! call, the user lands on the login screen with a message that says why.

use maskgate_api_types::{LoginRequest, LoginResponse};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, RequestInit, Response};

use crate::auth::Auth;
use crate::format::Failure;

/// The API client of a logged-in session.
#[derive(Clone, Copy)]
pub struct Api {
    auth: Auth,
}

impl Api {
    /// A client that sends the token of `auth`'s session.
    pub fn new(auth: Auth) -> Self {
        Self { auth }
    }

    /// The session token, for requests that cannot send headers (`EventSource`).
    pub fn token(self) -> Option<String> {
        self.auth.token()
    }

    /// `GET path`, decoded as `T`.
    pub async fn get<T: DeserializeOwned>(self, path: &str) -> Result<T, Failure> {
        self.call("GET", path, None).await
    }

    /// `POST path` with an optional JSON body, the answer decoded as `T`.
    pub async fn post<T: DeserializeOwned>(
        self,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, Failure> {
        let body = body
            .map(serde_json::to_string)
            .transpose()
            .map_err(|_| Failure::Unreadable)?;
        self.call("POST", path, body).await
    }

    /// `PUT path` with a JSON body, the answer decoded as `T`.
    pub async fn put<T: DeserializeOwned>(
        self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, Failure> {
        let body = serde_json::to_string(body).map_err(|_| Failure::Unreadable)?;
        self.call("PUT", path, Some(body)).await
    }

    /// `DELETE path`; the answer (usually empty) is not read.
    pub async fn delete(self, path: &str) -> Result<(), Failure> {
        self.call::<serde_json::Value>("DELETE", path, None)
            .await
            .map(|_| ())
    }

    /// `POST path` with a multipart form (file uploads), the answer decoded as `T`.
    pub async fn post_form<T: DeserializeOwned>(
        self,
        path: &str,
        form: web_sys::FormData,
    ) -> Result<T, Failure> {
        self.call_with(path, "POST", Payload::Form(form)).await
    }

    async fn call<T: DeserializeOwned>(
        self,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> Result<T, Failure> {
        let payload = match body {
            Some(json) => Payload::Json(json),
            None => Payload::None,
        };
        self.call_with(path, method, payload).await
    }

    async fn call_with<T: DeserializeOwned>(
        self,
        path: &str,
        method: &str,
        payload: Payload,
    ) -> Result<T, Failure> {
        let Some(token) = self.auth.token() else {
            return Err(Failure::Http {
                status: 401,
                code: Some("unauthorized".into()),
                message: None,
            });
        };
        let result = send(method, path, Some(&token), payload).await;
        if let Err(failure) = &result
            && let Some(notice) = failure.ends_session()
            // A late answer to an old session must not end a newer one.
            && self.auth.token().as_deref() == Some(token.as_str())
        {
            self.auth.end(Some(notice.to_owned()));
        }
        result
    }
}

/// A request's body.
enum Payload {
    None,
    Json(String),
    /// The browser sets the multipart content type with its boundary.
    Form(web_sys::FormData),
}

/// `POST /api/v1/auth/login`.
pub async fn login(request: &LoginRequest) -> Result<LoginResponse, Failure> {
    let body = serde_json::to_string(request).map_err(|_| Failure::Unreadable)?;
    send("POST", "/api/v1/auth/login", None, Payload::Json(body)).await
}

async fn send<T: DeserializeOwned>(
    method: &str,
    path: &str,
    token: Option<&str>,
    payload: Payload,
) -> Result<T, Failure> {
    let (status, text) = fetch(method, path, token, payload)
        .await
        .map_err(|_| Failure::Network)?;
    if (200..300).contains(&status) {
        // An empty answer (204) reads as JSON null: fine for `()` and `Option`.
        let text = if text.is_empty() {
            "null"
        } else {
            text.as_str()
        };
        serde_json::from_str(text).map_err(|_| Failure::Unreadable)
    } else {
        Err(Failure::from_response(status, &text))
    }
}

async fn fetch(
    method: &str,
    path: &str,
    token: Option<&str>,
    payload: Payload,
) -> Result<(u16, String), JsValue> {
    let headers = Headers::new()?;
    headers.set("accept", "application/json")?;
    if let Some(token) = token {
        headers.set("authorization", &format!("Bearer {token}"))?;
    }
    let init = RequestInit::new();
    init.set_method(method);
    match payload {
        Payload::None => {}
        Payload::Json(body) => {
            headers.set("content-type", "application/json")?;
            init.set_body(&JsValue::from_str(&body));
        }
        Payload::Form(form) => init.set_body(&form),
    }
    init.set_headers(&headers);
    let request = Request::new_with_str_and_init(path, &init)?;
    let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
    let response: Response = JsFuture::from(window.fetch_with_request(&request))
        .await?
        .dyn_into()?;
    let text = JsFuture::from(response.text()?)
        .await?
        .as_string()
        .unwrap_or_default();
    Ok((response.status(), text))
}
