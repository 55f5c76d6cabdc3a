//! The MQTT transport beside HTTP: the server subscribes to every door's visits, heartbeats
//! and status on a broker, stores them through the same path as HTTP, and answers each
//! visits message on the door's `ack` topic.
//!
//! The broker's ACL decides who may publish where (a door only under its own topic, see
//! `docs/mqtt.md`); the server checks again that a payload names no other door than its
//! topic. Messages are acknowledged to the broker only after they were handled, so with a
//! persistent session nothing published while the server was down or busy is lost; the door
//! resends until it gets the server's ack, and visit ids make every resend harmless.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use maskgate_api_types::mqtt::{Leaf, MAX_PAYLOAD_BYTES, VisitAck, parse_topic, topic};
use maskgate_api_types::{ErrorDetail, Heartbeat, StreamEvent, VisitBatch};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, Publish, QoS};
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinHandle;

use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::AuthDevice;

/// How the server reaches the broker.
#[derive(Debug, Clone)]
pub struct MqttSettings {
    /// `mqtt://[user[:password]@]host[:port]` or `mqtts://…` (TLS with the system's roots).
    pub url: String,
    /// The client id; instances that share the load need distinct ids.
    pub client_id: String,
    /// Subscribe as `$share/{group}/…` so several api instances split the doors' messages;
    /// `None` for brokers without shared subscriptions.
    pub share_group: Option<String>,
}

/// Why the MQTT transport could not start.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    /// The broker URL is not usable.
    #[error("bad MQTT URL: {0}")]
    Url(String),
}

/// The largest packet MQTT can carry (its remaining-length field ends there).
const MAX_MQTT_PACKET: usize = 268_435_455;

/// Handlers running at once; more messages wait at the broker.
const CONCURRENCY: usize = 32;

/// Parses the broker URL into client options (the password never reaches a log).
pub fn options(settings: &MqttSettings) -> Result<MqttOptions, MqttError> {
    let url = reqwest::Url::parse(&settings.url).map_err(|e| MqttError::Url(e.to_string()))?;
    let tls = match url.scheme() {
        "mqtt" | "tcp" => false,
        "mqtts" | "ssl" => true,
        other => {
            return Err(MqttError::Url(format!(
                "scheme `{other}` (use mqtt:// or mqtts://)"
            )));
        }
    };
    let host = url
        .host_str()
        .ok_or_else(|| MqttError::Url("no host".into()))?;
    let port = url.port().unwrap_or(if tls { 8883 } else { 1883 });
    let mut options = MqttOptions::new(&settings.client_id, host, port);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_clean_session(false)
        .set_manual_acks(true)
        // Take in anything MQTT allows and refuse oversized payloads after reading them: a
        // packet the client cannot read would break the connection, and the broker would
        // redeliver it to the persistent session forever. Limit sizes at the broker
        // (`max_packet_size`, see docs/mqtt.md).
        .set_max_packet_size(MAX_MQTT_PACKET, 64 * 1024);
    if !url.username().is_empty() {
        let user = percent_decode(url.username());
        let password = percent_decode(url.password().unwrap_or_default());
        options.set_credentials(user, password);
    }
    if tls {
        options.set_transport(rumqttc::Transport::tls_with_default_config());
    }
    Ok(options)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Connects to the broker and handles the doors' messages until the server shuts down.
pub fn spawn(state: AppState, settings: MqttSettings) -> Result<JoinHandle<()>, MqttError> {
    let options = options(&settings)?;
    let (client, eventloop) = AsyncClient::new(options, 256);
    let filter = |leaf: Leaf| {
        let plain = format!("maskgate/+/+/{}", leaf.as_str());
        match &settings.share_group {
            Some(group) => format!("$share/{group}/{plain}"),
            None => plain,
        }
    };
    let filters = [
        filter(Leaf::Visits),
        filter(Leaf::Heartbeat),
        filter(Leaf::Status),
    ];
    tracing::info!(client_id = %settings.client_id, shared = settings.share_group.is_some(), "MQTT transport on");
    Ok(tokio::spawn(run(state, client, eventloop, filters)))
}

async fn run(state: AppState, client: AsyncClient, mut eventloop: EventLoop, filters: [String; 3]) {
    let handler = Arc::new(Handler {
        state: state.clone(),
        client: client.clone(),
        doors: Mutex::new(HashMap::new()),
    });
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut stop = state.shutdown_signal();
    let mut failures = 0u32;
    loop {
        let event = tokio::select! {
            event = eventloop.poll() => event,
            _ = stop.changed() => {
                let _ = client.disconnect().await;
                return;
            }
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                failures = 0;
                tracing::info!(
                    session_present = ack.session_present,
                    "connected to the MQTT broker"
                );
                for filter in &filters {
                    if let Err(err) = client.subscribe(filter.as_str(), QoS::AtLeastOnce).await {
                        tracing::error!(error = %err, %filter, "cannot subscribe");
                    }
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    return;
                };
                let handler = handler.clone();
                tokio::spawn(async move {
                    handler.handle(&publish).await;
                    // Acknowledged to the broker only once handled: a crash before this
                    // gets the message redelivered to the persistent session.
                    if let Err(err) = handler.client.ack(&publish).await {
                        tracing::warn!(error = %err, "cannot acknowledge an MQTT message");
                    }
                    drop(permit);
                });
            }
            Ok(_) => {}
            Err(err) => {
                failures = failures.saturating_add(1);
                let wait = Duration::from_millis(500 * u64::from(failures.min(20)));
                tracing::warn!(error = %err, retry_in_ms = wait.as_millis() as u64, "MQTT connection lost");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }
}

struct Handler {
    state: AppState,
    client: AsyncClient,
    /// Door names to devices, filled on first use (devices are never renamed).
    doors: Mutex<HashMap<String, AuthDevice>>,
}

impl Handler {
    async fn handle(&self, publish: &Publish) {
        let Some((site, door, leaf)) = parse_topic(&publish.topic) else {
            tracing::warn!(topic = %publish.topic, "ignored a message on a topic that is not MaskGate's");
            return;
        };
        if publish.payload.len() > MAX_PAYLOAD_BYTES {
            tracing::warn!(
                door,
                bytes = publish.payload.len(),
                "refused an oversized MQTT payload"
            );
            return;
        }
        let device = match self.device(door).await {
            Ok(Some(device)) => device,
            Ok(None) => {
                tracing::warn!(door, topic = %publish.topic, "refused a message for a door that is not registered");
                return;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot look up a door; the door will resend");
                return;
            }
        };
        match leaf {
            Leaf::Visits => self.visits(site, &device, &publish.payload).await,
            Leaf::Heartbeat => match serde_json::from_slice::<Heartbeat>(&publish.payload) {
                Ok(heartbeat) => {
                    if let Err(err) =
                        crate::http::devices::store_heartbeat(&self.state, &device, &heartbeat)
                            .await
                    {
                        tracing::warn!(door, error = %err, "refused an MQTT heartbeat");
                    }
                }
                Err(err) => {
                    tracing::warn!(door, error = %err, "refused a malformed MQTT heartbeat")
                }
            },
            Leaf::Status => self.status(&device, &publish.payload).await,
            Leaf::Ack => {}
        }
    }

    /// `online` / `offline` (the door's last will): stored, and shown on the live stream.
    async fn status(&self, device: &AuthDevice, payload: &[u8]) {
        let online = match payload {
            b"online" => true,
            b"offline" => false,
            _ => {
                tracing::warn!(door = %device.name, "refused a status that is neither online nor offline");
                return;
            }
        };
        let now = self.state.clock.now();
        let stored = self
            .state
            .store
            .set_link_status(device.id, online, now)
            .await;
        match stored {
            Ok(()) => {
                if online {
                    tracing::info!(door = %device.name, "door online over MQTT");
                } else {
                    tracing::warn!(door = %device.name, "door offline (its last will)");
                }
                if let Ok(Some(updated)) = self.state.store.device_by_id(device.id).await {
                    let _ = self.state.events.send(StreamEvent::Device(updated));
                }
                self.state.alerts.poke();
            }
            Err(err) => tracing::error!(error = %err, "cannot store a door's status"),
        }
    }

    async fn device(&self, name: &str) -> Result<Option<AuthDevice>, crate::db::StoreError> {
        if let Some(device) = self.doors.lock().await.get(name) {
            return Ok(Some(device.clone()));
        }
        let devices = self.state.store.list_devices().await?;
        let mut doors = self.doors.lock().await;
        for d in devices {
            doors.insert(
                d.name.clone(),
                AuthDevice {
                    id: d.id,
                    name: d.name,
                },
            );
        }
        Ok(doors.get(name).cloned())
    }

    async fn visits(&self, site: &str, device: &AuthDevice, payload: &[u8]) {
        let batch: VisitBatch = match serde_json::from_slice(payload) {
            Ok(batch) => batch,
            Err(err) => {
                tracing::warn!(door = %device.name, error = %err, "refused a malformed MQTT visits payload; nothing stored");
                return;
            }
        };
        let ids = batch.visits.iter().map(|v| v.id).collect();
        let ack = match crate::http::visits::ingest_batch(&self.state, device, batch).await {
            Ok(result) => VisitAck {
                ids,
                accepted: result.accepted,
                duplicates: result.duplicates,
                error: None,
            },
            Err(err @ (ApiError::Validation(_) | ApiError::Forbidden(_))) => {
                tracing::warn!(door = %device.name, error = %err, "refused MQTT visits; nothing stored");
                VisitAck {
                    ids,
                    accepted: 0,
                    duplicates: 0,
                    error: Some(ErrorDetail {
                        code: err.code().to_owned(),
                        message: err.to_string(),
                    }),
                }
            }
            Err(err) => {
                // Not acknowledged to the door: it sends the batch again.
                tracing::error!(door = %device.name, error = %err, "cannot store MQTT visits");
                return;
            }
        };
        let body = serde_json::to_vec(&ack).unwrap_or_default();
        let to = topic(site, &device.name, Leaf::Ack);
        if let Err(err) = self.client.publish(to, QoS::AtLeastOnce, false, body).await {
            tracing::warn!(error = %err, "cannot publish an ack; the door will resend");
        }
    }
}
