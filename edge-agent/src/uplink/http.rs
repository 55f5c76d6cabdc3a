//! The HTTP transport: `POST /api/v1/visits` and `POST /api/v1/devices/heartbeat` with the
//! device token; the response is the server's acknowledgement.

use maskgate_api_types::{ErrorBody, Heartbeat, VisitBatch, VisitBatchResult};
use reqwest::StatusCode;

use super::{SendError, UplinkConfig};
use crate::queue::Queued;

/// Batches and heartbeats over HTTP.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    server_url: String,
    token: String,
}

impl HttpTransport {
    /// A transport to `config.server_url` with `config.token`.
    pub fn new(config: &UplinkConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()?;
        Ok(Self {
            client,
            server_url: config.server_url.trim_end_matches('/').to_owned(),
            token: config.token.clone(),
        })
    }

    /// Sends one batch; on success returns the server's counts.
    pub async fn send_visits(&self, batch: &[Queued]) -> Result<VisitBatchResult, SendError> {
        let body = VisitBatch {
            visits: batch.iter().map(|q| q.visit.clone()).collect(),
        };
        let response = self
            .client
            .post(format!("{}/api/v1/visits", self.server_url))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| SendError::Transient(format!("cannot reach the server: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| SendError::Transient(format!("the response broke off: {e}")))?;
        let message = || {
            serde_json::from_str::<ErrorBody>(&text)
                .map(|b| b.error.message)
                .unwrap_or_else(|_| format!("HTTP {status}"))
        };
        match status {
            StatusCode::OK => serde_json::from_str(&text).map_err(|_| {
                // Not sure it was stored: sending again is safe, ids make it idempotent.
                SendError::Transient("the server answered 200 with an unreadable body".into())
            }),
            StatusCode::BAD_REQUEST
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::UNPROCESSABLE_ENTITY => Err(SendError::Refused(message())),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(SendError::Unauthorized(message()))
            }
            _ => Err(SendError::Transient(format!(
                "HTTP {status}: {}",
                message()
            ))),
        }
    }

    /// Sends one heartbeat.
    pub async fn send_heartbeat(&self, heartbeat: &Heartbeat) -> Result<(), String> {
        let response = self
            .client
            .post(format!("{}/api/v1/devices/heartbeat", self.server_url))
            .bearer_auth(&self.token)
            .json(heartbeat)
            .send()
            .await
            .map_err(|e| format!("cannot reach the server: {e}"))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {}", response.status()))
        }
    }
}
