//! The MQTT transport: batches are published (QoS 1) to `maskgate/{site}/{door}/visits` and
//! count as sent only when the server's [`VisitAck`] naming their ids arrives on the door's
//! `…/ack` topic. The broker's PUBACK is not enough: a broker that takes a message and then
//! loses it (a restart without persistence) must not cost a visit. A batch with no ack within
//! `ack_timeout_s` is sent again; its ids make that harmless.
//!
//! One task drives the connection: it reconnects with backoff and jitter, subscribes to the
//! acks and publishes a retained `online` on `…/status` after each connect (the broker
//! publishes the retained last will `offline` when the door vanishes), and hands the acks to
//! whoever waits for them.

pub mod options;

use std::time::Duration;

use maskgate_api_types::mqtt::{Leaf, MAX_PAYLOAD_BYTES, VisitAck, topic};
use maskgate_api_types::{Heartbeat, VisitBatch, VisitBatchResult};
use rumqttc::{AsyncClient, Event, EventLoop, Outgoing, Packet, QoS, SubscribeReasonCode};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

pub use self::options::MqttError;
use self::options::{OFFLINE, ONLINE};
use super::{SendError, jitter};
use crate::config::{MqttConfig, Secret};
use crate::queue::Queued;

/// Requests (publishes, subscriptions) waiting for the connection task.
const REQUEST_CAPACITY: usize = 64;

/// The door's topics.
#[derive(Debug, Clone)]
struct Topics {
    visits: String,
    heartbeat: String,
    status: String,
    ack: String,
}

/// Batches and heartbeats over MQTT; cheap to clone.
#[derive(Debug, Clone)]
pub struct MqttTransport {
    client: AsyncClient,
    topics: Topics,
    acks: broadcast::Sender<VisitAck>,
    ready: watch::Receiver<bool>,
    ack_timeout: Duration,
}

impl MqttTransport {
    /// Starts the connection task; it runs until `stop` turns true, then says `offline` and
    /// disconnects. `max_backoff` bounds the wait between connection attempts.
    pub fn start(
        config: &MqttConfig,
        password: Option<&Secret>,
        max_backoff: Duration,
        stop: watch::Receiver<bool>,
    ) -> Result<(Self, JoinHandle<()>), MqttError> {
        let options = options::options(config, password)?;
        let (client, mut eventloop) = AsyncClient::new(options, REQUEST_CAPACITY);
        // A batch waits for its ack: Nagle would hold small publishes back.
        eventloop.network_options.set_tcp_nodelay(true);
        let topics = Topics {
            visits: topic(&config.site, &config.door, Leaf::Visits),
            heartbeat: topic(&config.site, &config.door, Leaf::Heartbeat),
            status: topic(&config.site, &config.door, Leaf::Status),
            ack: topic(&config.site, &config.door, Leaf::Ack),
        };
        let (acks, _) = broadcast::channel(64);
        let (ready_tx, ready) = watch::channel(false);
        let connection = Connection {
            client: client.clone(),
            topics: topics.clone(),
            acks: acks.clone(),
            ready: ready_tx,
            max_backoff: max_backoff.max(MIN_BACKOFF),
        };
        tracing::info!(
            broker = %config.url,
            client_id = %config.client_id(),
            topic = %topics.visits,
            "uplink: MQTT"
        );
        let task = tokio::spawn(connection.run(eventloop, stop));
        Ok((
            Self {
                client,
                topics,
                acks,
                ready,
                ack_timeout: Duration::from_secs(config.ack_timeout_s.max(1)),
            },
            task,
        ))
    }

    /// Whether the door is connected and subscribed to its acks.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Waits up to `limit` for the connection (one being made at start, or after a broker
    /// restart); whether it is there.
    async fn wait_ready(&self, limit: Duration) -> bool {
        let mut ready = self.ready.clone();
        matches!(
            tokio::time::timeout(limit, ready.wait_for(|r| *r)).await,
            Ok(Ok(_))
        )
    }

    /// Publishes one batch and waits for the server's ack naming exactly its ids.
    pub async fn send_visits(&self, batch: &[Queued]) -> Result<VisitBatchResult, SendError> {
        if !self.wait_ready(self.ack_timeout).await {
            return Err(SendError::Transient(
                "not connected to the MQTT broker".into(),
            ));
        }
        let body = serde_json::to_vec(&VisitBatch {
            visits: batch.iter().map(|q| q.visit.clone()).collect(),
        })
        .map_err(|e| SendError::Transient(format!("cannot encode the batch: {e}")))?;
        if body.len() > MAX_PAYLOAD_BYTES {
            // As an HTTP server answers 413: the loop then sends the visits one by one.
            return Err(SendError::Refused(format!(
                "the batch is {} bytes; the server reads at most {MAX_PAYLOAD_BYTES}",
                body.len()
            )));
        }
        let want = sorted(batch.iter().map(|q| q.visit.id).collect());
        // Listening before publishing: the ack may come back faster than `publish` returns.
        let mut acks = self.acks.subscribe();
        let exchange = async {
            self.client
                .publish(&self.topics.visits, QoS::AtLeastOnce, false, body)
                .await
                .map_err(|e| SendError::Transient(format!("cannot publish the batch: {e}")))?;
            loop {
                match acks.recv().await {
                    Ok(ack) if sorted(ack.ids.clone()) == want => return answer(ack),
                    // An ack of an earlier send of other visits: they go again, as duplicates.
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => {
                        return Err(SendError::Transient(
                            "the MQTT connection task ended".into(),
                        ));
                    }
                }
            }
        };
        tokio::time::timeout(self.ack_timeout, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(SendError::Transient(format!(
                    "no ack from the server within {} s; the batch goes again",
                    self.ack_timeout.as_secs()
                )))
            })
    }

    /// Publishes one heartbeat (QoS 1), waiting a few seconds for a connection that is
    /// being made. A door that stays disconnected skips it: a stale heartbeat delivered
    /// later would only mislead.
    pub async fn send_heartbeat(&self, heartbeat: &Heartbeat) -> Result<(), String> {
        if !self.wait_ready(Duration::from_secs(5)).await {
            return Err("not connected to the MQTT broker".into());
        }
        let body = serde_json::to_vec(heartbeat).map_err(|e| e.to_string())?;
        self.client
            .try_publish(&self.topics.heartbeat, QoS::AtLeastOnce, false, body)
            .map_err(|e| format!("cannot publish the heartbeat: {e}"))
    }
}

fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort_unstable();
    ids
}

/// What a server's ack means for the batch, in the HTTP path's terms: the same error codes
/// lead to the same handling (set aside, retried as a configuration problem, or retried).
pub fn answer(ack: VisitAck) -> Result<VisitBatchResult, SendError> {
    let Some(error) = ack.error else {
        return Ok(VisitBatchResult {
            accepted: ack.accepted,
            duplicates: ack.duplicates,
        });
    };
    Err(match error.code.as_str() {
        "validation" | "bad_request" | "payload_too_large" => SendError::Refused(error.message),
        "unauthorized" | "forbidden" => SendError::Unauthorized(error.message),
        code => SendError::Transient(format!("the server answered {code}: {}", error.message)),
    })
}

/// The first wait after a lost connection.
const MIN_BACKOFF: Duration = Duration::from_millis(500);

/// The task that owns the connection.
struct Connection {
    client: AsyncClient,
    topics: Topics,
    acks: broadcast::Sender<VisitAck>,
    ready: watch::Sender<bool>,
    max_backoff: Duration,
}

impl Connection {
    async fn run(self, mut eventloop: EventLoop, mut stop: watch::Receiver<bool>) {
        let mut backoff = MIN_BACKOFF;
        let mut connected = false;
        while !*stop.borrow() {
            let event = tokio::select! {
                event = eventloop.poll() => event,
                _ = stop.changed() => break,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    connected = true;
                    backoff = MIN_BACKOFF;
                    tracing::info!(
                        session_present = ack.session_present,
                        "connected to the MQTT broker"
                    );
                    // Through a task: the requests wait for this loop to send them.
                    let client = self.client.clone();
                    let topics = self.topics.clone();
                    tokio::spawn(async move {
                        // Again on every connect: a broker that lost its state lost the
                        // subscription too.
                        if let Err(e) = client.subscribe(&topics.ack, QoS::AtLeastOnce).await {
                            tracing::error!(error = %e, "cannot subscribe to the acks");
                        }
                        if let Err(e) = client
                            .publish(&topics.status, QoS::AtLeastOnce, true, ONLINE)
                            .await
                        {
                            tracing::warn!(error = %e, "cannot publish the door's status");
                        }
                    });
                }
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
                    if ack
                        .return_codes
                        .iter()
                        .all(|c| matches!(c, SubscribeReasonCode::Success(_)))
                    {
                        self.ready.send_replace(true);
                    } else {
                        tracing::error!(
                            topic = %self.topics.ack,
                            "the broker refused the door's subscription to its acks; visits \
                             stay queued (check the broker's ACL for this door)"
                        );
                    }
                }
                Ok(Event::Incoming(Packet::Publish(publish)))
                    if publish.topic == self.topics.ack =>
                {
                    match serde_json::from_slice::<VisitAck>(&publish.payload) {
                        // Nobody waiting (a late ack of a batch sent again) is fine.
                        Ok(ack) => drop(self.acks.send(ack)),
                        Err(e) => tracing::warn!(error = %e, "ignored an unreadable ack"),
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    connected = false;
                    self.ready.send_replace(false);
                    let wait = jitter(backoff);
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "MQTT connection lost");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.changed() => break,
                    }
                    backoff = (backoff * 2).min(self.max_backoff);
                }
            }
        }
        self.ready.send_replace(false);
        if connected {
            self.say_offline(&mut eventloop).await;
        }
    }

    /// A clean disconnect sends no last will, so the door says `offline` itself.
    async fn say_offline(&self, eventloop: &mut EventLoop) {
        let _ = self
            .client
            .try_publish(&self.topics.status, QoS::AtLeastOnce, true, OFFLINE);
        let _ = self.client.try_disconnect();
        let flushed = tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        if flushed.is_err() {
            tracing::warn!("the broker did not take the door's goodbye within 2 s");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use maskgate_api_types::ErrorDetail;

    fn ack(code: Option<&str>) -> VisitAck {
        VisitAck {
            ids: vec![Uuid::nil()],
            accepted: 1,
            duplicates: 0,
            error: code.map(|code| ErrorDetail {
                code: code.into(),
                message: "because".into(),
            }),
        }
    }

    #[test]
    fn an_ack_means_what_the_same_http_answer_means() {
        let cases = [
            (None, "ok"),
            (Some("validation"), "refused"),
            (Some("bad_request"), "refused"),
            (Some("payload_too_large"), "refused"),
            (Some("forbidden"), "unauthorized"),
            (Some("unauthorized"), "unauthorized"),
            (Some("internal"), "transient"),
            (Some("something_new"), "transient"),
        ];
        for (code, expected) in cases {
            let got = match answer(ack(code)) {
                Ok(result) => {
                    assert_eq!((result.accepted, result.duplicates), (1, 0));
                    "ok"
                }
                Err(SendError::Refused(m)) => {
                    assert_eq!(m, "because");
                    "refused"
                }
                Err(SendError::Unauthorized(_)) => "unauthorized",
                Err(SendError::Transient(_)) => "transient",
            };
            assert_eq!(got, expected, "ack with error code {code:?}");
        }
    }
}
