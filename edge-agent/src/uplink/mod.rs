//! Sending queued visits to the server: in batches, in order, with exponential backoff and
//! jitter; a visit leaves the queue only when the server acknowledged it.
//!
//! The loop is the same for every transport; a [`Transport`] only carries one batch (or one
//! heartbeat) and says how the server answered: over HTTP ([`http`]) the answer is the
//! response, over MQTT ([`mqtt`]) it is the server's ack on the door's `ack` topic.

pub mod http;
pub mod mqtt;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use maskgate_api_types::{Heartbeat, VisitBatchResult};
use rand::Rng;
use tokio::sync::{Notify, watch};

use crate::queue::{Queue, Queued};

/// Settings of the uplink.
#[derive(Debug, Clone)]
pub struct UplinkConfig {
    /// The server's base URL, such as `http://127.0.0.1:8080` (HTTP transport).
    pub server_url: String,
    /// The device token (`mgd_…`; HTTP transport).
    pub token: String,
    /// Visits per request or message (the server takes up to 1,000).
    pub batch_size: u32,
    /// First wait after a failure.
    pub min_backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
    /// Time limit of one HTTP request.
    pub request_timeout: Duration,
}

impl Default for UplinkConfig {
    fn default() -> Self {
        Self {
            server_url: "http://127.0.0.1:8080".into(),
            token: String::new(),
            batch_size: 500,
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            request_timeout: Duration::from_secs(15),
        }
    }
}

/// What the heartbeat reports about the uplink.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UplinkStatus {
    /// When the server last acknowledged a batch.
    pub last_upload_at: Option<DateTime<Utc>>,
    /// The last failure, cleared by the next success.
    pub last_error: Option<String>,
    /// Visits the server acknowledged since start (stored or duplicates).
    pub acknowledged: u64,
}

/// Why a batch did not go through.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The server refused the batch's content (HTTP 400/413/422, or an MQTT ack with a
    /// `validation`, `bad_request` or `payload_too_large` error): retrying it unchanged is
    /// useless.
    #[error("the server refused the visits: {0}")]
    Refused(String),
    /// The server refused the door's identity (HTTP 401/403, or an MQTT ack with an
    /// `unauthorized` or `forbidden` error): a configuration problem; retried.
    #[error("the server refused the device token: {0}")]
    Unauthorized(String),
    /// The network, or the server, failed; retried with backoff.
    #[error("{0}")]
    Transient(String),
}

/// How batches and heartbeats travel to the server.
#[derive(Debug, Clone)]
pub enum Transport {
    /// `POST` to the server's API.
    Http(http::HttpTransport),
    /// Published to an MQTT broker the server subscribes to.
    Mqtt(mqtt::MqttTransport),
}

impl Transport {
    /// Sends one batch; on success returns the server's counts.
    pub async fn send_visits(&self, batch: &[Queued]) -> Result<VisitBatchResult, SendError> {
        match self {
            Transport::Http(t) => t.send_visits(batch).await,
            Transport::Mqtt(t) => t.send_visits(batch).await,
        }
    }

    /// Sends one heartbeat.
    pub async fn send_heartbeat(&self, heartbeat: &Heartbeat) -> Result<(), String> {
        match self {
            Transport::Http(t) => t.send_heartbeat(heartbeat).await,
            Transport::Mqtt(t) => t.send_heartbeat(heartbeat).await,
        }
    }
}

/// The upload loop of one door.
#[derive(Debug, Clone)]
pub struct Uplink {
    queue: Queue,
    transport: Transport,
    config: UplinkConfig,
    wake: Arc<Notify>,
    status: Arc<Mutex<UplinkStatus>>,
}

impl Uplink {
    /// An uplink draining `queue` to `config.server_url` over HTTP.
    pub fn new(queue: Queue, config: UplinkConfig) -> Result<Self, reqwest::Error> {
        let transport = Transport::Http(http::HttpTransport::new(&config)?);
        Ok(Self::with_transport(queue, transport, config))
    }

    /// An uplink draining `queue` over `transport`; of `config` it uses the batch size and
    /// the backoff.
    pub fn with_transport(queue: Queue, transport: Transport, config: UplinkConfig) -> Self {
        Self {
            queue,
            transport,
            config,
            wake: Arc::new(Notify::new()),
            status: Arc::default(),
        }
    }

    /// Tells the loop a visit was queued, so it sends without waiting for its poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The uplink's status, for the heartbeat.
    pub fn status(&self) -> UplinkStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Sends one batch; on success returns the server's counts.
    pub async fn send(&self, batch: &[Queued]) -> Result<VisitBatchResult, SendError> {
        self.transport.send_visits(batch).await
    }

    /// Sends one heartbeat over the uplink's transport.
    pub async fn send_heartbeat(&self, heartbeat: &Heartbeat) -> Result<(), String> {
        self.transport.send_heartbeat(heartbeat).await
    }

    /// Drains the queue until `stop` turns true; never returns early on errors.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut backoff = self.config.min_backoff;
        // After a refused batch, send one visit at a time up to this seq to find the bad one.
        let mut isolate_until: Option<i64> = None;
        while !*stop.borrow() {
            let limit = if isolate_until.is_some() {
                1
            } else {
                self.config.batch_size.clamp(1, 1000)
            };
            let batch = match self.queue.peek(limit).await {
                Ok(batch) => batch,
                Err(err) => {
                    tracing::error!(error = %err, "cannot read the visit queue");
                    self.sleep_or_stop(backoff, &mut stop).await;
                    backoff = (backoff * 2).min(self.config.max_backoff);
                    continue;
                }
            };
            let Some(last) = batch.last().map(|q| q.seq) else {
                isolate_until = None;
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            };
            if isolate_until.is_some_and(|until| last > until) {
                isolate_until = None;
                continue;
            }
            // A batch cut short by the stop stays queued; its ids make the next run's resend
            // harmless.
            let sent = tokio::select! {
                sent = self.send(&batch) => sent,
                _ = stop.changed() => break,
            };
            match sent {
                Ok(result) => {
                    let seqs: Vec<i64> = batch.iter().map(|q| q.seq).collect();
                    if let Err(err) = self.queue.remove(&seqs).await {
                        // Harmless: they go again and come back as duplicates.
                        tracing::error!(error = %err, "cannot remove acknowledged visits");
                    }
                    tracing::debug!(
                        accepted = result.accepted,
                        duplicates = result.duplicates,
                        "uploaded"
                    );
                    if let Ok(mut s) = self.status.lock() {
                        s.last_upload_at = Some(Utc::now());
                        s.last_error = None;
                        s.acknowledged += batch.len() as u64;
                    }
                    backoff = self.config.min_backoff;
                }
                Err(SendError::Refused(reason)) if batch.len() == 1 => {
                    tracing::error!(visit = %batch[0].visit.id, %reason, "the server refused a visit; kept aside in rejected_visits");
                    if let Err(err) = self.queue.reject(&batch[0], &reason).await {
                        tracing::error!(error = %err, "cannot set a refused visit aside");
                        self.sleep_or_stop(backoff, &mut stop).await;
                    }
                }
                Err(SendError::Refused(reason)) => {
                    tracing::warn!(%reason, size = batch.len(), "the server refused a batch; sending its visits one by one");
                    isolate_until = Some(last);
                }
                Err(err) => {
                    tracing::warn!(error = %err, retry_in_ms = backoff.as_millis() as u64, "upload failed");
                    if let Ok(mut s) = self.status.lock() {
                        s.last_error = Some(err.to_string());
                    }
                    self.sleep_or_stop(jitter(backoff), &mut stop).await;
                    backoff = (backoff * 2).min(self.config.max_backoff);
                }
            }
        }
    }

    async fn sleep_or_stop(&self, wait: Duration, stop: &mut watch::Receiver<bool>) {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
}

/// A wait between half and all of `backoff`, so doors that lost the server together do
/// not come back in lockstep.
pub fn jitter(backoff: Duration) -> Duration {
    let factor = rand::thread_rng().gen_range(0.5..=1.0);
    backoff.mul_f64(factor)
}
