//! The alert engine: one task that evaluates every rule against the doors, fires, escalates
//! and resolves alerts, sends the daily digest, and hands each alert to its channels.
//!
//! It runs on a timer and whenever visits or heartbeats arrive ([`AlertEngine::poke`]), at
//! most one evaluation at a time, so a failed check reaches the live stream within a second.
//! Time comes from the server's [`Clock`], so tests move a manual clock instead of sleeping.

mod deliver;
mod digest;
mod evaluate;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use maskgate_api_types::StreamEvent;
use tokio::sync::{Notify, broadcast, mpsc, oneshot};

use crate::clock::Clock;
use crate::db::{Store, StoreError};

pub use deliver::{Delivery, SIGNATURE_HEADER, sign};
pub use digest::Digest;

/// How the engine runs and delivers.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    /// How often rules are evaluated when nothing arrives.
    pub interval: Duration,
    /// The shortest pause between two evaluations (arrivals under load coalesce).
    pub min_gap: Duration,
    /// Attempts per delivery before giving up.
    pub delivery_attempts: u32,
    /// The wait before the first retry; it doubles for each further one.
    pub delivery_backoff: Duration,
    /// How long one HTTP delivery may take.
    pub delivery_timeout: Duration,
    /// The local time of the daily digest; `None`: no digest.
    pub digest_at: Option<NaiveTime>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(15),
            min_gap: Duration::from_millis(250),
            delivery_attempts: 5,
            delivery_backoff: Duration::from_secs(2),
            delivery_timeout: Duration::from_secs(10),
            digest_at: None,
        }
    }
}

/// What the engine works with.
pub(crate) struct Context {
    /// The site's time zone: quiet and opening hours of rules without their own, and the
    /// digest's local time.
    pub tz: Tz,
    /// The digest time last sent for, so a slow delivery is not queued twice.
    pub digest_sent: Mutex<Option<DateTime<Utc>>>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub events: broadcast::Sender<StreamEvent>,
    pub settings: AlertSettings,
    pub deliveries: mpsc::UnboundedSender<Delivery>,
}

/// The handle to the running engine.
#[derive(Clone)]
pub struct AlertEngine {
    poke: Arc<Notify>,
    requests: mpsc::Sender<oneshot::Sender<Result<(), StoreError>>>,
}

impl std::fmt::Debug for AlertEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertEngine").finish_non_exhaustive()
    }
}

impl AlertEngine {
    /// Starts the engine and its delivery worker on the current tokio runtime.
    pub fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        events: broadcast::Sender<StreamEvent>,
        tz: Tz,
        settings: AlertSettings,
    ) -> Self {
        let (deliveries, queue) = mpsc::unbounded_channel();
        tokio::spawn(deliver::worker(
            store.clone(),
            clock.clone(),
            settings.clone(),
            queue,
        ));
        let context = Arc::new(Context {
            tz,
            digest_sent: Mutex::new(None),
            store,
            clock,
            events,
            settings,
            deliveries,
        });
        let poke = Arc::new(Notify::new());
        let (requests, receiver) = mpsc::channel(16);
        tokio::spawn(run(context, poke.clone(), receiver));
        Self { poke, requests }
    }

    /// Asks for an evaluation soon (something arrived).
    pub fn poke(&self) {
        self.poke.notify_one();
    }

    /// Evaluates every rule now and waits until that evaluation is done.
    pub async fn evaluate_now(&self) -> Result<(), StoreError> {
        let (reply, done) = oneshot::channel();
        if self.requests.send(reply).await.is_err() {
            return Ok(());
        }
        done.await.unwrap_or(Ok(()))
    }
}

async fn run(
    context: Arc<Context>,
    poke: Arc<Notify>,
    mut requests: mpsc::Receiver<oneshot::Sender<Result<(), StoreError>>>,
) {
    let mut timer = tokio::time::interval(context.settings.interval);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let reply = tokio::select! {
            _ = timer.tick() => None,
            _ = poke.notified() => None,
            request = requests.recv() => match request {
                Some(reply) => Some(reply),
                None => return,
            },
        };
        let result = evaluate::evaluate(&context).await;
        if let Err(err) = &result {
            tracing::warn!(error = %err, "alert evaluation failed; retrying on the next tick");
        }
        if let Err(err) = digest::send_if_due(&context).await {
            tracing::warn!(error = %err, "daily digest failed");
        }
        match reply {
            Some(reply) => {
                let _ = reply.send(result);
            }
            // Under a stream of arrivals, evaluations coalesce instead of running back to back.
            None => tokio::time::sleep(context.settings.min_gap).await,
        }
    }
}
