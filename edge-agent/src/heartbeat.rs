//! The heartbeat: every 30 s the door tells the server it is alive, how full its queue is,
//! when it last uploaded, how its camera looks and which model it runs. It travels the way
//! visits do (the uplink's transport: HTTP or MQTT).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use maskgate_api_types::{CameraState, Heartbeat};
use tokio::sync::watch;

use crate::queue::Queue;
use crate::update::ModelStatus;
use crate::uplink::Uplink;

/// What the pipeline last saw, shared with the heartbeat.
#[derive(Debug, Clone)]
pub struct CameraStatus(Arc<Mutex<CameraState>>);

impl Default for CameraStatus {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(CameraState::NoFrames)))
    }
}

impl CameraStatus {
    /// Records the camera's state; logs changes.
    pub fn set(&self, state: CameraState) {
        if let Ok(mut current) = self.0.lock()
            && *current != state
        {
            if state == CameraState::Ok {
                tracing::info!("camera: ok");
            } else {
                tracing::warn!(state = state.as_str(), "camera: not ok");
            }
            *current = state;
        }
    }

    /// The camera's state.
    pub fn get(&self) -> CameraState {
        self.0.lock().map(|s| *s).unwrap_or(CameraState::NoFrames)
    }
}

/// Sends heartbeats until `stop` turns true.
#[derive(Debug)]
pub struct HeartbeatTask {
    /// Time between heartbeats.
    pub interval: Duration,
    /// The queue, for its depth and oldest visit.
    pub queue: Queue,
    /// The uplink: its transport carries the heartbeat, its status the last upload.
    pub uplink: Uplink,
    /// The camera's state.
    pub camera: CameraStatus,
    /// The model the door runs.
    pub model: ModelStatus,
}

impl HeartbeatTask {
    /// The heartbeat as it would be sent now.
    pub async fn snapshot(&self) -> Heartbeat {
        let queue_depth = self.queue.depth().await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read the queue depth");
            0
        });
        let model = self.model.get();
        Heartbeat {
            queue_depth,
            oldest_queued_at: self.queue.oldest_captured_at().await.ok().flatten(),
            last_upload_at: self.uplink.status().last_upload_at,
            camera_state: self.camera.get(),
            model_version: Some(model.version),
            model_sha256: Some(model.sha256),
            model_error: model.error,
        }
    }

    /// Sends one heartbeat.
    pub async fn send(&self) -> Result<(), String> {
        self.uplink.send_heartbeat(&self.snapshot().await).await
    }

    /// Sends a heartbeat at once, then every `interval`, until `stop`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut failing = false;
        while !*stop.borrow() {
            match self.send().await {
                Ok(()) if failing => {
                    tracing::info!("heartbeat: goes through again");
                    failing = false;
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    tracing::warn!(error = %e, "heartbeat failed; will keep trying");
                    failing = true;
                }
                Err(e) => tracing::debug!(error = %e, "heartbeat failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = stop.changed() => {}
            }
        }
    }
}
