//! Sending alerts and digests to channels: generic signed JSON webhooks, Slack-compatible
//! and ntfy-style endpoints, with retries and backoff; every attempt goes into the
//! delivery log.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use maskgate_api_types::{Alert, AlertChannelSpec, ChannelKind, DeliveryEvent, Severity};
use serde_json::json;
use sha2::Sha256;
use tokio::sync::mpsc;

use super::AlertSettings;
use super::digest::Digest;
use crate::clock::Clock;
use crate::db::{NewDelivery, Store, StoredChannel};

/// The header carrying a webhook body's HMAC-SHA256 signature: `sha256=<hex>`, keyed with
/// the channel's secret, over the exact body bytes.
pub const SIGNATURE_HEADER: &str = "X-MaskGate-Signature-256";

/// Something to send.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// An alert fired, escalated or resolved; sent to the named channels.
    Alert {
        /// The alert as it stands.
        alert: Box<Alert>,
        /// Channel names.
        channels: Vec<String>,
        /// What happened.
        event: DeliveryEvent,
    },
    /// The daily digest, sent to every enabled channel that takes digests.
    Digest(Box<Digest>),
}

/// `sha256=<hex>` of HMAC-SHA256 over `body` keyed with `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub(super) async fn worker(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: AlertSettings,
    mut queue: mpsc::UnboundedReceiver<Delivery>,
) {
    let client = match reqwest::Client::builder()
        .timeout(settings.delivery_timeout)
        .user_agent(concat!("MaskGate/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            tracing::error!(error = %err, "cannot build the HTTP client; alerts go to the live stream only");
            return;
        }
    };
    while let Some(delivery) = queue.recv().await {
        let channels = match store.list_alert_channels().await {
            Ok(channels) => channels,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read alert channels; delivery dropped");
                continue;
            }
        };
        let targets: Vec<StoredChannel> = channels
            .into_iter()
            .filter(|c| c.spec.enabled)
            .filter(|c| match &delivery {
                Delivery::Alert { channels, .. } => channels.contains(&c.spec.name),
                Delivery::Digest(_) => c.spec.digest,
            })
            .collect();
        for channel in targets {
            let message = Message::of(&delivery, &channel.spec);
            let job = Attempts {
                store: store.clone(),
                clock: clock.clone(),
                client: client.clone(),
                settings: settings.clone(),
                channel: channel.spec,
                message,
            };
            // Each channel retries on its own: a dead endpoint does not hold up the others.
            tokio::spawn(job.run());
        }
    }
}

/// A request ready to send to one channel.
#[derive(Debug, Clone)]
struct Message {
    alert_id: Option<i64>,
    event: DeliveryEvent,
    body: Vec<u8>,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    query: Vec<(&'static str, String)>,
}

impl Message {
    fn of(delivery: &Delivery, channel: &AlertChannelSpec) -> Self {
        match delivery {
            Delivery::Alert { alert, event, .. } => Self::alert(alert, *event, channel),
            Delivery::Digest(digest) => Self::digest(digest, channel),
        }
    }

    fn alert(alert: &Alert, event: DeliveryEvent, channel: &AlertChannelSpec) -> Self {
        let door = alert.device.as_deref().unwrap_or("the site");
        let headline = match event {
            DeliveryEvent::Fired => format!("{}: {}", alert.rule_name, alert.message),
            DeliveryEvent::Escalated => format!(
                "ESCALATED, nobody acknowledged: {}: {}",
                alert.rule_name, alert.message
            ),
            DeliveryEvent::Resolved => format!("Resolved at {door}: {}", alert.rule_name),
            DeliveryEvent::Digest => alert.message.clone(),
        };
        let mut message = Self {
            alert_id: Some(alert.id),
            event,
            body: Vec::new(),
            content_type: "application/json",
            headers: Vec::new(),
            query: Vec::new(),
        };
        match channel.kind {
            ChannelKind::Webhook => {
                message.body = json!({
                    "event": event.as_str(),
                    "state": alert.state(),
                    "alert": alert,
                })
                .to_string()
                .into_bytes();
            }
            ChannelKind::Slack => {
                let icon = match (event, alert.severity) {
                    (DeliveryEvent::Resolved, _) => ":white_check_mark:",
                    (_, Severity::Critical) => ":rotating_light:",
                    (_, Severity::Warning) => ":warning:",
                    (_, Severity::Info) => ":information_source:",
                };
                let text = format!(
                    "{icon} *[{}]* {headline} (alert #{}, fired {})",
                    severity_word(alert.severity),
                    alert.id,
                    alert.fired_at.format("%Y-%m-%d %H:%M UTC")
                );
                message.body = json!({ "text": text }).to_string().into_bytes();
            }
            ChannelKind::Ntfy => {
                message.content_type = "text/plain; charset=utf-8";
                message.body = headline.into_bytes();
                let (priority, tags) = match (event, alert.severity) {
                    (DeliveryEvent::Resolved, _) => ("3", "white_check_mark"),
                    (DeliveryEvent::Escalated, _) | (_, Severity::Critical) => {
                        ("5", "rotating_light")
                    }
                    (_, Severity::Warning) => ("4", "warning"),
                    (_, Severity::Info) => ("3", "information_source"),
                };
                // Query parameters, not headers: titles may hold any UTF-8.
                message.query = vec![
                    ("title", format!("MaskGate: {}", alert.rule_name)),
                    ("priority", priority.into()),
                    ("tags", tags.into()),
                ];
            }
        }
        message.sign(channel);
        message
    }

    fn digest(digest: &Digest, channel: &AlertChannelSpec) -> Self {
        let mut message = Self {
            alert_id: None,
            event: DeliveryEvent::Digest,
            body: Vec::new(),
            content_type: "application/json",
            headers: Vec::new(),
            query: Vec::new(),
        };
        match channel.kind {
            ChannelKind::Webhook => {
                message.body = json!({ "event": "digest", "digest": digest })
                    .to_string()
                    .into_bytes();
            }
            ChannelKind::Slack => {
                message.body = json!({ "text": digest.text() }).to_string().into_bytes();
            }
            ChannelKind::Ntfy => {
                message.content_type = "text/plain; charset=utf-8";
                message.body = digest.text().into_bytes();
                message.query = vec![
                    ("title", format!("MaskGate daily digest {}", digest.day)),
                    ("priority", "2".into()),
                    ("tags", "bar_chart".into()),
                ];
            }
        }
        message.sign(channel);
        message
    }

    fn sign(&mut self, channel: &AlertChannelSpec) {
        self.headers
            .push(("X-MaskGate-Event", self.event.as_str().to_owned()));
        if let Some(secret) = channel.secret.as_deref().filter(|s| !s.is_empty()) {
            self.headers
                .push((SIGNATURE_HEADER, sign(secret, &self.body)));
        }
    }
}

fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

/// One channel's delivery with its retries.
struct Attempts {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    settings: AlertSettings,
    channel: AlertChannelSpec,
    message: Message,
}

impl Attempts {
    async fn run(self) {
        let mut backoff = self.settings.delivery_backoff;
        let attempts = self.settings.delivery_attempts.max(1);
        for attempt in 1..=attempts {
            let (ok, status, error) = self.send_once().await;
            let record = NewDelivery {
                alert_id: self.message.alert_id,
                channel: &self.channel.name,
                event: self.message.event,
                attempt,
                ok,
                http_status: status,
                error: error.as_deref(),
                at: self.clock.now(),
            };
            if let Err(err) = self.store.record_delivery(&record).await {
                tracing::warn!(error = %err, "cannot record a delivery attempt");
            }
            if ok {
                return;
            }
            let last = attempt == attempts;
            tracing::warn!(
                channel = %self.channel.name,
                attempt,
                error = error.as_deref().unwrap_or(""),
                "alert delivery failed{}",
                if last { "; giving up" } else { "; will retry" }
            );
            if !last {
                tokio::time::sleep(backoff).await;
                backoff = backoff
                    .saturating_mul(2)
                    .min(std::time::Duration::from_secs(600));
            }
        }
    }

    /// `(accepted, HTTP status, error)`; the URL is left out of errors (it may hold a token).
    async fn send_once(&self) -> (bool, Option<u16>, Option<String>) {
        let mut request = self
            .client
            .post(&self.channel.url)
            .header(reqwest::header::CONTENT_TYPE, self.message.content_type)
            .body(self.message.body.clone());
        for (name, value) in &self.message.headers {
            request = request.header(*name, value);
        }
        if !self.message.query.is_empty() {
            request = request.query(&self.message.query);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                if status.is_success() {
                    (true, Some(status.as_u16()), None)
                } else {
                    (
                        false,
                        Some(status.as_u16()),
                        Some(format!("the endpoint answered {status}")),
                    )
                }
            }
            Err(err) => (false, None, Some(describe(&err))),
        }
    }
}

fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return "timed out".into();
    }
    if err.is_connect() {
        return "could not connect".into();
    }
    // reqwest's own message names the URL; its cause does not.
    match std::error::Error::source(err) {
        Some(cause) => format!("request failed: {cause}"),
        None => "request failed".into(),
    }
}
