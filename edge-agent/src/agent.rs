//! `edge-agent run`: the door's main loop. Frames flow on one pipeline thread (capture →
//! detect → classify → decide); each decision is written to the durable queue first, then
//! acted on, then sent by the uplink task; a heartbeat task reports the door's health.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use maskgate_api_types::{CameraState, NewVisit};
use serde::Serialize;
use tokio::sync::watch;
use uuid::Uuid;

use crate::actuate::{self, ActuatorThread};
use crate::classify::Classifier;
use crate::config::{DetectorConfig, DetectorKind, EdgeConfig, Secret, UplinkKind};
use crate::decide::{DoorDecider, Outcome, TrackerConfig, VoterConfig};
use crate::detect::{
    Detector, SeetaDetector, UltraFaceDetector, YUNET_DEFAULT_THRESHOLD, YuNetDetector,
};
use crate::heartbeat::{CameraStatus, HeartbeatTask};
use crate::queue::{Pushed, Queue};
use crate::source::{self, SourceError};
use crate::update::{
    AgreementRule, ModelDir, ModelStatus, RecentFaces, SwapRequest, Updater, apply_swap,
};
use crate::uplink::http::HttpTransport;
use crate::uplink::mqtt::MqttTransport;
use crate::uplink::{Transport, Uplink, UplinkConfig};
use crate::{pipeline, queue};

/// Errors that stop the agent from starting. Once running, it never stops on an error.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// No device token was found.
    #[error(
        "no device token: set EDGE_AGENT_TOKEN, server.token or server.token_file \
         (the token `maskgate device add NAME` printed)"
    )]
    NoToken,
    /// The token file could not be read.
    #[error("cannot read the device token from {path}: {source}")]
    TokenFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The queue could not be opened: without it no decision is safe.
    #[error(transparent)]
    Queue(#[from] queue::QueueError),
    /// The classifier could not be loaded.
    #[error(transparent)]
    Classifier(#[from] crate::classify::ClassifyError),
    /// The detector could not be loaded.
    #[error(transparent)]
    Detector(#[from] crate::detect::DetectError),
    /// The actuator could not be opened.
    #[error(transparent)]
    Actuator(#[from] actuate::ActuatorError),
    /// The MQTT uplink could not be set up (its URL or TLS files).
    #[error(transparent)]
    Mqtt(#[from] crate::uplink::mqtt::MqttError),
    /// A thread or HTTP client could not be made.
    #[error("cannot start: {0}")]
    Start(String),
}

/// How the run loop ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Until {
    /// Until stopped (a signal).
    #[default]
    Stopped,
    /// Until stopped, or until a finite source has ended and the queue is empty.
    Drained,
}

/// One decision, as `edge-agent run` prints it on stdout once it is safely queued.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionLine {
    /// The visit's id.
    pub id: Uuid,
    /// `pass` or `fail`.
    pub decision: &'static str,
    /// The mean mask score of the vote.
    pub score: f32,
    /// When the deciding frame was captured.
    pub captured_at: chrono::DateTime<Utc>,
    /// Milliseconds from the person's first frame to the decision.
    pub decision_ms: u64,
    /// Whether the durable queue holds it (false only when the queue failed).
    pub queued: bool,
}

/// Finds the device token: `EDGE_AGENT_TOKEN`, then `server.token`, then `server.token_file`.
pub fn device_token(config: &EdgeConfig) -> Result<String, AgentError> {
    if let Ok(token) = std::env::var("EDGE_AGENT_TOKEN")
        && !token.trim().is_empty()
    {
        return Ok(token.trim().to_string());
    }
    if let Some(token) = config
        .server
        .token
        .as_deref()
        .filter(|t| !t.trim().is_empty())
    {
        return Ok(token.trim().to_string());
    }
    if let Some(path) = &config.server.token_file {
        return match std::fs::read_to_string(path) {
            Ok(text) => text
                .lines()
                .next()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .ok_or(AgentError::NoToken),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(AgentError::NoToken),
            Err(source) => Err(AgentError::TokenFile {
                path: path.display().to_string(),
                source,
            }),
        };
    }
    Err(AgentError::NoToken)
}

/// The MQTT password: `EDGE_AGENT_MQTT_PASSWORD`, then `mqtt.password`.
pub fn mqtt_password(config: &EdgeConfig) -> Option<Secret> {
    std::env::var("EDGE_AGENT_MQTT_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
        .map(Secret::new)
        .or_else(|| config.mqtt.password.clone())
}

/// Makes the configured detector.
pub fn make_detector(d: &DetectorConfig) -> Result<Box<dyn Detector>, AgentError> {
    Ok(match d.kind {
        DetectorKind::Seetaface => Box::new(SeetaDetector::new(d.min_face)?),
        DetectorKind::Ultraface => {
            let path = d.model.as_deref().unwrap_or(std::path::Path::new(""));
            Box::new(UltraFaceDetector::load(path, d.threshold.unwrap_or(0.7))?)
        }
        DetectorKind::Yunet => {
            let path = d.model.as_deref().unwrap_or(std::path::Path::new(""));
            Box::new(YuNetDetector::load(
                path,
                d.threshold.unwrap_or(YUNET_DEFAULT_THRESHOLD),
            )?)
        }
    })
}

/// Runs the door until `stop` turns true (or, with [`Until::Drained`], until a finite
/// source ended and the queue is empty).
pub async fn run(
    config: EdgeConfig,
    token: String,
    until: Until,
    mut stop: watch::Receiver<bool>,
) -> Result<(), AgentError> {
    let queue = Queue::open(&config.queue.path, config.queue.capacity).await?;
    let waiting = queue.depth().await?;
    if waiting > 0 {
        tracing::info!(waiting, "visits from an earlier run wait in the queue");
    }
    if config.detector.kind == DetectorKind::Seetaface {
        tracing::warn!(
            "detector: SeetaFace (embedded) finds only about 41 % of masked faces; set \
             detector.kind = \"yunet\" and detector.model (see edge-agent/README.md)"
        );
    }
    let models = ModelDir::new(&config.model_update.dir);
    let classifier = Arc::new(load_classifier(&config, &models)?);
    let model = ModelStatus::new(&classifier);
    tracing::info!(model = %classifier.model_id(), "classifier loaded");
    let (swaps, swap_requests) = std::sync::mpsc::channel::<SwapRequest>();

    let (tasks_stop, tasks_stopped) = watch::channel(false);
    let uplink_config = UplinkConfig {
        server_url: config.server.url.clone(),
        token: token.clone(),
        batch_size: config.server.batch_size,
        max_backoff: config.max_backoff(),
        ..UplinkConfig::default()
    };
    let (transport, mqtt_task) = match config.uplink {
        UplinkKind::Http => {
            if !config.mqtt.url.is_empty() {
                tracing::warn!("[mqtt] is set but uplink = \"http\": visits go over HTTP");
            }
            let http =
                HttpTransport::new(&uplink_config).map_err(|e| AgentError::Start(e.to_string()))?;
            (Transport::Http(http), None)
        }
        UplinkKind::Mqtt => {
            let (mqtt, task) = MqttTransport::start(
                &config.mqtt,
                mqtt_password(&config).as_ref(),
                config.max_backoff(),
                tasks_stopped.clone(),
            )?;
            (Transport::Mqtt(mqtt), Some(task))
        }
    };
    let uplink = Uplink::with_transport(queue.clone(), transport, uplink_config);
    let camera = CameraStatus::default();
    let uplink_task = tokio::spawn(uplink.clone().run(tasks_stopped.clone()));
    let heartbeat_task = tokio::spawn(
        HeartbeatTask {
            interval: Duration::from_secs(config.heartbeat.interval_s),
            queue: queue.clone(),
            uplink: uplink.clone(),
            camera: camera.clone(),
            model: model.clone(),
        }
        .run(tasks_stopped.clone()),
    );
    let updater_task = config.model_update.enabled.then(|| {
        tokio::spawn(
            Updater {
                server_url: config.server.url.clone(),
                token: token.clone(),
                poll: Duration::from_secs(config.model_update.poll_s),
                dir: models,
                installed: config.classifier.model.clone(),
                status: model.clone(),
                swaps,
            }
            .run(tasks_stopped),
        )
    });

    let halt = Arc::new(AtomicBool::new(false));
    let source_ended = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(), AgentError>>();
    let pipeline = {
        let door = Door {
            config: config.clone(),
            classifier,
            model,
            swap_requests,
            queue: queue.clone(),
            uplink: uplink.clone(),
            camera,
            runtime: tokio::runtime::Handle::current(),
            halt: halt.clone(),
            source_ended: source_ended.clone(),
        };
        std::thread::Builder::new()
            .name("pipeline".into())
            .spawn(move || door.run(ready_tx))
            .map_err(|e| AgentError::Start(e.to_string()))?
    };
    let started = ready_rx
        .await
        .unwrap_or_else(|_| Err(AgentError::Start("the pipeline thread died".into())));
    if let Err(e) = started {
        halt.store(true, Ordering::SeqCst);
        let _ = tasks_stop.send(true);
        let _ = tokio::task::spawn_blocking(move || pipeline.join()).await;
        return Err(e);
    }
    tracing::info!("the door is running");

    loop {
        tokio::select! {
            _ = stop.changed() => {
                if *stop.borrow() { break; }
            }
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                if until == Until::Drained
                    && source_ended.load(Ordering::SeqCst)
                    && queue.depth().await.unwrap_or(1) == 0
                {
                    tracing::info!("the source ended and every visit is uploaded");
                    break;
                }
            }
        }
    }
    tracing::info!("stopping");
    halt.store(true, Ordering::SeqCst);
    let _ = tokio::task::spawn_blocking(move || pipeline.join()).await;
    let _ = tasks_stop.send(true);
    let _ = uplink_task.await;
    let _ = heartbeat_task.await;
    if let Some(task) = mqtt_task {
        let _ = task.await;
    }
    if let Some(task) = updater_task {
        let _ = task.await;
    }
    Ok(())
}

/// The model to start with: the last one the server assigned and this door accepted, or
/// the installed `classifier.model` (also when the downloaded one no longer loads).
fn load_classifier(config: &EdgeConfig, models: &ModelDir) -> Result<Classifier, AgentError> {
    if config.model_update.enabled
        && let Some(manifest) = models.active_manifest()
    {
        match Classifier::load(&manifest) {
            Ok(classifier) => return Ok(classifier),
            Err(e) => {
                tracing::error!(error = %e, "the downloaded model no longer loads; starting with the installed one")
            }
        }
    }
    Ok(Classifier::load(&config.classifier.model)?)
}

/// Everything the pipeline thread owns.
struct Door {
    config: EdgeConfig,
    classifier: Arc<Classifier>,
    model: ModelStatus,
    swap_requests: std::sync::mpsc::Receiver<SwapRequest>,
    queue: Queue,
    uplink: Uplink,
    camera: CameraStatus,
    runtime: tokio::runtime::Handle,
    halt: Arc<AtomicBool>,
    source_ended: Arc<AtomicBool>,
}

impl Door {
    fn run(mut self, ready: tokio::sync::oneshot::Sender<Result<(), AgentError>>) {
        // The detector is made here: SeetaFace cannot move between threads.
        let setup = make_detector(&self.config.detector).and_then(|detector| {
            let actuator = actuate::open(&self.config.actuator)?;
            let actuator =
                ActuatorThread::start(actuator).map_err(|e| AgentError::Start(e.to_string()))?;
            // A camera that is unplugged now may come later; a build that cannot use the
            // configured source never will.
            let source = match source::open(&self.config.camera, &self.runtime) {
                Ok(source) => {
                    tracing::info!(source = %source.describe(), "camera source opened");
                    Some(source)
                }
                Err(SourceError::Unsupported(reason)) => {
                    return Err(AgentError::Start(reason));
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot open the camera source yet; retrying");
                    None
                }
            };
            Ok((detector, actuator, source))
        });
        let (mut detector, actuator, mut source) = match setup {
            Ok(parts) => {
                let _ = ready.send(Ok(()));
                parts
            }
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let threshold = self
            .config
            .classifier
            .threshold
            .unwrap_or_else(|| self.classifier.threshold());
        let d = &self.config.decision;
        let mut decider = DoorDecider::new(
            TrackerConfig {
                min_iou: d.min_iou,
                max_missed: d.max_missed,
            },
            VoterConfig {
                window: d.window,
                needed: d.needed,
                threshold,
                cooldown_ms: d.cooldown_s * 1000,
            },
        );
        let rule = AgreementRule {
            min_faces: self.config.model_update.min_faces,
            min_agreement: self.config.model_update.min_agreement,
        };
        let mut recent = RecentFaces::new(16);
        let mut frame_count: u64 = 0;
        let tick = Duration::from_secs_f32(1.0 / self.config.camera.fps);
        let started = Instant::now();
        let mut backoff = Duration::from_millis(500);
        let mut next_tick = Instant::now();
        while !self.halt.load(Ordering::SeqCst) {
            let now = Instant::now();
            if next_tick > now {
                std::thread::sleep(next_tick - now);
            }
            next_tick = Instant::now().max(next_tick) + tick;
            // A new model is swapped in here, between two frames.
            while let Ok(request) = self.swap_requests.try_recv() {
                if let Some(threshold) = apply_swap(
                    request,
                    &mut self.classifier,
                    self.config.classifier.threshold,
                    &recent,
                    rule,
                    &self.model,
                ) {
                    decider.set_threshold(threshold);
                }
            }

            if source.is_none() {
                match source::open(&self.config.camera, &self.runtime) {
                    Ok(opened) => {
                        tracing::info!(source = %opened.describe(), "camera source opened");
                        source = Some(opened);
                        backoff = Duration::from_millis(500);
                    }
                    Err(e) => {
                        self.camera.set(CameraState::NoFrames);
                        tracing::error!(error = %e, retry_in_s = backoff.as_secs_f32(), "cannot open the camera source");
                        self.sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                        continue;
                    }
                }
            }
            let Some(current) = source.as_mut() else {
                continue;
            };
            let frame = match current.next_frame() {
                Ok(Some(frame)) => {
                    backoff = Duration::from_millis(500);
                    frame
                }
                Ok(None) => {
                    if !self.source_ended.swap(true, Ordering::SeqCst) {
                        tracing::info!("the camera source has no more frames");
                    }
                    self.camera.set(CameraState::NoFrames);
                    self.sleep(Duration::from_millis(500));
                    continue;
                }
                Err(SourceError::BadFrame { reason, .. }) => {
                    tracing::warn!(%reason, "skipped a bad frame");
                    continue;
                }
                Err(e) => {
                    self.camera.set(CameraState::NoFrames);
                    tracing::error!(error = %e, retry_in_s = backoff.as_secs_f32(), "the camera source failed; reopening");
                    source = None;
                    self.sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue;
                }
            };
            let captured_at = Utc::now();
            self.camera.set(source::camera_state(
                &frame,
                self.config.camera.dark_below,
                self.config.camera.covered_below,
            ));
            let observations = match pipeline::look(detector.as_mut(), &self.classifier, &frame) {
                Ok(observations) => observations,
                Err(e) => {
                    tracing::error!(error = %e, "could not look at a frame");
                    continue;
                }
            };
            // Keep a face now and then for checking the next model against this one.
            frame_count += 1;
            if frame_count.is_multiple_of(5)
                && let Some(face) = observations.first()
            {
                recent.record(&frame, &face.bbox);
            }
            let at_ms = started.elapsed().as_millis() as u64;
            for person in decider.observe(at_ms, &observations) {
                let decision = person.decision;
                let visit = NewVisit {
                    id: Uuid::new_v4(),
                    captured_at,
                    passed: decision.outcome == Outcome::Pass,
                    mask_score: f64::from(decision.mean_score.clamp(0.0, 1.0)),
                    model: self.classifier.model_id(),
                    device: None,
                    decision_ms: Some(u32::try_from(decision.latency_ms).unwrap_or(u32::MAX)),
                };
                // Durable first: a decision the door acted on must never be lost.
                let queued = match self.runtime.block_on(self.queue.push(&visit)) {
                    Ok(Pushed::QueuedDroppingOldest) => {
                        tracing::warn!(
                            capacity = self.config.queue.capacity,
                            "the visit queue is full: dropped the oldest visit to keep this one"
                        );
                        true
                    }
                    Ok(_) => true,
                    Err(e) => {
                        // Still act: the person is at the door. The log keeps the visit.
                        let body = serde_json::to_string(&visit).unwrap_or_default();
                        tracing::error!(error = %e, visit = %body, "could not queue a visit");
                        false
                    }
                };
                print_decision(&DecisionLine {
                    id: visit.id,
                    decision: if visit.passed { "pass" } else { "fail" },
                    score: (decision.mean_score * 10_000.0).round() / 10_000.0,
                    captured_at,
                    decision_ms: decision.latency_ms,
                    queued,
                });
                actuator.act(decision.outcome);
                self.uplink.wake();
            }
        }
    }

    /// Sleeps up to `wait`, waking early when the agent stops.
    fn sleep(&self, wait: Duration) {
        let until = Instant::now() + wait;
        while !self.halt.load(Ordering::SeqCst) && Instant::now() < until {
            std::thread::sleep((until - Instant::now()).min(Duration::from_millis(100)));
        }
    }
}

fn print_decision(line: &DecisionLine) {
    if let Ok(json) = serde_json::to_string(line) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{json}");
        let _ = out.flush();
    }
}
