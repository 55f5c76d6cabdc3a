//! The MQTT transport beside HTTP: the server subscribes to every door's visits, heartbeats
//! and status on a broker, stores them through the same path as HTTP, and answers each
//! visits message on the door's `ack` topic.
//!
//! The broker's ACL decides who may publish where (a door only under its own topic, see
//! `docs/mqtt.md`); the server checks again that a payload names no other door than its
//! topic. Messages are acknowledged to the broker only after they were handled, so with a
//! persistent session nothing published while the server was down or busy is lost; the door
//! resends until it gets the server's ack, and visit ids make every resend harmless.

pub mod home_assistant;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use maskgate_api_types::mqtt::{Leaf, MAX_PAYLOAD_BYTES, VisitAck, parse_topic, topic};
use maskgate_api_types::{ErrorDetail, Heartbeat, NewVisit, StreamEvent, VisitBatch};
use rumqttc::{
    AsyncClient, Event, EventLoop, MqttOptions, Packet, Publish, QoS, TlsConfiguration, Transport,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
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
    /// The CA that signed the broker's certificate, for `mqtts://` with a private CA;
    /// `None` trusts the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Home Assistant MQTT discovery under this prefix (Home Assistant's default is
    /// `homeassistant`); `None` announces nothing.
    pub home_assistant: Option<String>,
}

/// Why the MQTT transport could not start.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    /// The broker URL is not usable.
    #[error("bad MQTT URL: {0}")]
    Url(String),
    /// TLS could not be set up (the CA file, or the system's roots).
    #[error("MQTT TLS: {0}")]
    Tls(String),
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
        let config = tls_config(settings.ca_file.as_deref())?;
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(config),
        )));
    } else if settings.ca_file.is_some() {
        return Err(MqttError::Url(
            "a CA file was given for a plain mqtt:// URL (use mqtts://)".into(),
        ));
    }
    Ok(options)
}

/// The TLS client configuration with the crypto provider named: the server links more than
/// one (through its dependencies), and rustls refuses to guess.
fn tls_config(ca_file: Option<&std::path::Path>) -> Result<rustls::ClientConfig, MqttError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| MqttError::Tls(format!("CA file {}: {e}", path.display())))?;
            let (_, refused) = roots.add_parsable_certificates(certs);
            if roots.is_empty() {
                return Err(MqttError::Tls(format!(
                    "CA file {}: no usable CA certificate ({refused} refused)",
                    path.display()
                )));
            }
        }
        None => {
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            if roots.is_empty() {
                return Err(MqttError::Tls(
                    "the system has no CA certificates (Debian: apt-get install \
                     ca-certificates); or pass --mqtt-ca-file"
                        .into(),
                ));
            }
        }
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| MqttError::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth())
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
    let (client, mut eventloop) = AsyncClient::new(options, 256);
    // Acks are small and awaited by the doors: Nagle would hold each one back.
    eventloop.network_options.set_tcp_nodelay(true);
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
    tracing::info!(
        client_id = %settings.client_id,
        shared = settings.share_group.is_some(),
        home_assistant = settings.home_assistant.is_some(),
        "MQTT transport on"
    );
    Ok(tokio::spawn(run(
        state,
        client,
        eventloop,
        filters,
        settings.home_assistant,
    )))
}

async fn run(
    state: AppState,
    client: AsyncClient,
    mut eventloop: EventLoop,
    filters: [String; 3],
    home_assistant: Option<String>,
) {
    let handler = Arc::new(Handler {
        state: state.clone(),
        client: client.clone(),
        doors: Mutex::new(HashMap::new()),
        home_assistant,
        announced: Mutex::new(HashSet::new()),
        last: Mutex::new(HashMap::new()),
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
    /// The Home Assistant discovery prefix, when announcing.
    home_assistant: Option<String>,
    /// `(site, door)` pairs announced to Home Assistant since the server started.
    announced: Mutex<HashSet<(String, String)>>,
    /// Each door's latest decision seen (capture time, passed), so a late backlog batch
    /// does not make an old decision look like the last one.
    last: Mutex<HashMap<i64, (chrono::DateTime<chrono::Utc>, bool)>>,
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
                if leaf == Leaf::Visits {
                    // Answered, as HTTP answers 401: the door reports a configuration
                    // problem and backs off instead of resending at full speed forever.
                    let message = format!("the door `{door}` is not registered on this server");
                    self.refuse(site, door, &publish.payload, "unauthorized", message)
                        .await;
                }
                return;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot look up a door; the door will resend");
                return;
            }
        };
        if self.home_assistant.is_some() {
            self.announce(site, &device.name).await;
        }
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
        let for_state = self.home_assistant.is_some().then(|| batch.visits.clone());
        let ack = match crate::http::visits::ingest_batch(&self.state, device, batch).await {
            Ok(result) => {
                if let Some(visits) = for_state {
                    self.publish_state(site, device, &visits).await;
                }
                VisitAck {
                    ids,
                    accepted: result.accepted,
                    duplicates: result.duplicates,
                    error: None,
                }
            }
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
        self.answer(site, &device.name, &ack).await;
    }

    /// Announces a door to Home Assistant (retained discovery configs), once per site and
    /// door while the server runs; retained, so Home Assistant finds them after it restarts.
    async fn announce(&self, site: &str, door: &str) {
        let Some(prefix) = &self.home_assistant else {
            return;
        };
        if !self
            .announced
            .lock()
            .await
            .insert((site.to_owned(), door.to_owned()))
        {
            return;
        }
        for (to, config) in home_assistant::discovery(prefix, site, door) {
            let body = serde_json::to_vec(&config).unwrap_or_default();
            if let Err(err) = self.client.publish(to, QoS::AtLeastOnce, true, body).await {
                tracing::warn!(error = %err, door, "cannot announce a door to Home Assistant");
            }
        }
        tracing::info!(site, door, "door announced to Home Assistant");
    }

    /// Publishes the door's retained state after a stored batch: its latest decision and
    /// today's counts (site time zone).
    async fn publish_state(&self, site: &str, device: &AuthDevice, visits: &[NewVisit]) {
        let Some(newest) = visits.iter().max_by_key(|v| v.captured_at) else {
            return;
        };
        let (last_at, passed) = {
            let mut last = self.last.lock().await;
            let entry = last
                .entry(device.id)
                .or_insert((newest.captured_at, newest.passed));
            if newest.captured_at >= entry.0 {
                *entry = (newest.captured_at, newest.passed);
            }
            *entry
        };
        let now = self.state.clock.now();
        let tz = self.state.settings.tz;
        let today = crate::stats::day_start(now.with_timezone(&tz).date_naive(), tz);
        let counts = match self.state.store.visit_counts_since(today).await {
            Ok(counts) => counts,
            Err(err) => {
                tracing::warn!(error = %err, "cannot count today's visits for Home Assistant");
                return;
            }
        };
        let (passed_today, failed_today) = counts
            .iter()
            .find(|c| c.device_id == device.id)
            .map_or((0, 0), |c| (c.passed, c.failed));
        let mut latest = newest.clone();
        latest.captured_at = last_at;
        latest.passed = passed;
        let Some(state) = home_assistant::DoorState::after(&[latest], passed_today, failed_today)
        else {
            return;
        };
        let body = serde_json::to_vec(&state).unwrap_or_default();
        let to = home_assistant::state_topic(site, &device.name);
        if let Err(err) = self.client.publish(to, QoS::AtLeastOnce, true, body).await {
            tracing::warn!(error = %err, "cannot publish a door's state");
        }
    }

    /// Refuses a visits batch whose ids can be read, with `code` and `message` on the door's
    /// ack topic; an unreadable batch is only logged (there is nothing to name in an ack).
    async fn refuse(&self, site: &str, door: &str, payload: &[u8], code: &str, message: String) {
        let Ok(batch) = serde_json::from_slice::<VisitBatch>(payload) else {
            return;
        };
        let ack = VisitAck {
            ids: batch.visits.iter().map(|v| v.id).collect(),
            accepted: 0,
            duplicates: 0,
            error: Some(ErrorDetail {
                code: code.to_owned(),
                message,
            }),
        };
        self.answer(site, door, &ack).await;
    }

    /// Publishes `ack` on the door's ack topic.
    async fn answer(&self, site: &str, door: &str, ack: &VisitAck) {
        let body = serde_json::to_vec(ack).unwrap_or_default();
        let to = topic(site, door, Leaf::Ack);
        if let Err(err) = self.client.publish(to, QoS::AtLeastOnce, false, body).await {
            tracing::warn!(error = %err, "cannot publish an ack; the door will resend");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str, ca_file: Option<&str>) -> MqttSettings {
        MqttSettings {
            url: url.into(),
            client_id: "maskgate-api".into(),
            share_group: None,
            ca_file: ca_file.map(PathBuf::from),
            home_assistant: None,
        }
    }

    #[test]
    fn a_plain_url_gets_a_persistent_session_with_manual_acks() {
        let options = options(&settings("mqtt://api:s%40cret@broker.local", None)).expect("ok");
        assert_eq!(options.broker_address(), ("broker.local".into(), 1883));
        assert!(!options.clean_session());
        assert!(options.manual_acks());
        let login = options.credentials().expect("credentials");
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("api", "s@cret")
        );
    }

    #[test]
    fn tls_is_set_up_with_a_named_provider_and_defaults_to_port_8883() {
        // With the system's roots (Debian's ca-certificates) this once panicked: rustls
        // could not pick between the providers linked into the server.
        let options = options(&settings("mqtts://broker.local", None));
        match options {
            Ok(options) => {
                assert_eq!(options.broker_address(), ("broker.local".into(), 8883));
                assert!(matches!(options.transport(), Transport::Tls(_)));
            }
            Err(err) => assert!(err.to_string().contains("no CA certificates"), "{err}"),
        }
    }

    #[test]
    fn a_missing_or_empty_ca_file_and_a_wrong_scheme_are_clear_errors() {
        let err =
            options(&settings("mqtts://b", Some("/nonexistent/ca.pem"))).expect_err("no file");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        let empty = std::env::temp_dir().join(format!("mg-empty-ca-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let err = options(&settings("mqtts://b", empty.to_str())).expect_err("no certificate");
        assert!(
            err.to_string().contains("no usable CA certificate"),
            "{err}"
        );
        let _ = std::fs::remove_file(&empty);
        let err = options(&settings("mqtt://b", Some("/etc/ca.pem"))).expect_err("plain");
        assert!(err.to_string().contains("mqtts://"), "{err}");
        let err = options(&settings("http://b", None)).expect_err("scheme");
        assert!(err.to_string().contains("scheme `http`"), "{err}");
    }
}
