//! `edge.toml`: the door's settings. Every key has a default that works on a Raspberry Pi
//! with the Debian package's paths; `examples/edge.toml` documents each one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Errors of reading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for these settings (unknown keys included).
    #[error("configuration {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong, with the line.
        message: String,
    },
    /// A value is out of its range or settings contradict each other.
    #[error("configuration: {0}")]
    Invalid(String),
}

/// All settings of the agent.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeConfig {
    /// Where visits go.
    pub server: ServerConfig,
    /// Where frames come from.
    pub camera: CameraConfig,
    /// How faces are found.
    pub detector: DetectorConfig,
    /// How a face is judged.
    pub classifier: ClassifierConfig,
    /// How per-frame judgements become one decision per person.
    pub decision: DecisionConfig,
    /// What the door does with a decision.
    pub actuator: ActuatorConfig,
    /// The durable local queue.
    pub queue: QueueConfig,
    /// The heartbeat to the server.
    pub heartbeat: HeartbeatConfig,
    /// Updates to the model the server assigns.
    pub model_update: ModelUpdateConfig,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// The server's base URL.
    pub url: String,
    /// The device token; prefer `token_file` or the `EDGE_AGENT_TOKEN` variable, so the
    /// secret is not in a file that people copy around.
    pub token: Option<String>,
    /// A file holding the device token (first line).
    pub token_file: Option<PathBuf>,
    /// Visits per upload request (1..=1000).
    pub batch_size: u32,
    /// Longest wait between upload attempts, in seconds.
    pub max_backoff_s: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8080".into(),
            token: None,
            token_file: Some("/etc/maskgate-edge/device-token".into()),
            batch_size: 500,
            max_backoff_s: 60,
        }
    }
}

/// Which kind of frame source.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A V4L2 camera (`device`): the Pi camera through libcamera's V4L2 layer, a USB webcam.
    V4l2,
    /// A still-image snapshot URL (`url`), fetched once per frame.
    Http,
    /// A folder of images (`path`), played as frames in name order.
    Folder,
}

/// `[camera]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CameraConfig {
    /// The source kind.
    pub source: SourceKind,
    /// The V4L2 device.
    pub device: PathBuf,
    /// Requested V4L2 frame width.
    pub width: u32,
    /// Requested V4L2 frame height.
    pub height: u32,
    /// The snapshot URL for `source = "http"`.
    pub url: Option<String>,
    /// The folder for `source = "folder"`.
    pub path: Option<PathBuf>,
    /// Frames per second to process (the pipeline runs no faster than this).
    pub fps: f32,
    /// Folder source: show each image for this many frames (a person standing at the door).
    pub hold_frames: u32,
    /// Folder source: empty frames after each image (the person walks away).
    pub gap_frames: u32,
    /// Folder source: start again from the first image at the end; otherwise the camera
    /// reports "no frames" when the folder is done.
    pub repeat: bool,
    /// Mean brightness (0–255) below which the camera is "too dark".
    pub dark_below: f32,
    /// Brightness spread (standard deviation, 0–255) below which a lit frame is "covered".
    pub covered_below: f32,
}

impl Default for CameraConfig {
    fn default() -> Self {
        Self {
            source: SourceKind::V4l2,
            device: "/dev/video0".into(),
            width: 640,
            height: 480,
            url: None,
            path: None,
            fps: 5.0,
            hold_frames: 1,
            gap_frames: 0,
            repeat: false,
            dark_below: 25.0,
            covered_below: 6.0,
        }
    }
}

/// Which face detector.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DetectorKind {
    /// SeetaFace frontal, embedded in the binary; misses many masked faces.
    Seetaface,
    /// UltraFace RFB (ONNX) from `model`.
    Ultraface,
    /// YuNet (ONNX) from `model`: the best recall on masked faces measured here.
    Yunet,
}

/// `[detector]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorConfig {
    /// The detector; `ultraface` needs `model`.
    pub kind: DetectorKind,
    /// The detector's model file (ONNX backends).
    pub model: Option<PathBuf>,
    /// The least confidence for a face (ONNX backends, 0..1); by default 0.6 for YuNet and
    /// 0.7 for UltraFace, the values measured in the README.
    pub threshold: Option<f32>,
    /// The smallest face side in pixels (SeetaFace).
    pub min_face: u32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            kind: DetectorKind::Seetaface,
            model: None,
            threshold: None,
            min_face: 40,
        }
    }
}

/// `[classifier]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ClassifierConfig {
    /// The model's manifest (.json) or .onnx with the manifest beside it.
    pub model: PathBuf,
    /// Overrides the manifest's mask threshold.
    pub threshold: Option<f32>,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        Self {
            model: "/usr/share/maskgate-edge/models/maskgate-cnn-v1.json".into(),
            threshold: None,
        }
    }
}

/// `[decision]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DecisionConfig {
    /// Frames in one vote (the 5 of "3 of 5").
    pub window: u32,
    /// Mask frames needed to pass (the 3 of "3 of 5").
    pub needed: u32,
    /// Seconds before a person who stays is decided again.
    pub cooldown_s: u64,
    /// The least overlap (IoU) for a face to be the same person as in the last frame.
    pub min_iou: f32,
    /// Frames a person may be unseen before they count as gone.
    pub max_missed: u32,
}

impl Default for DecisionConfig {
    fn default() -> Self {
        Self {
            window: 5,
            needed: 3,
            cooldown_s: 30,
            min_iou: 0.3,
            max_missed: 8,
        }
    }
}

/// Which actuator.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ActuatorKind {
    /// Log what the door would do (no hardware).
    Log,
    /// Linux GPIO character device: relay and buzzer lines.
    Gpio,
}

/// `[actuator]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ActuatorConfig {
    /// The actuator.
    pub kind: ActuatorKind,
    /// The GPIO chip.
    pub chip: PathBuf,
    /// The line (offset on the chip) driving the door relay; BCM numbering on a Pi.
    pub relay_line: u32,
    /// The line driving the buzzer.
    pub buzzer_line: u32,
    /// How long the relay opens the door on a pass, in milliseconds.
    pub relay_ms: u64,
    /// How long the buzzer sounds on a fail, in milliseconds.
    pub buzzer_ms: u64,
    /// Lines are active low (many relay boards).
    pub active_low: bool,
}

impl Default for ActuatorConfig {
    fn default() -> Self {
        Self {
            kind: ActuatorKind::Log,
            chip: "/dev/gpiochip0".into(),
            relay_line: 17,
            buzzer_line: 27,
            relay_ms: 3000,
            buzzer_ms: 800,
            active_low: false,
        }
    }
}

/// `[queue]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// The queue's SQLite file.
    pub path: PathBuf,
    /// The most visits kept while the server is unreachable; then the oldest are dropped.
    pub capacity: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            path: "/var/lib/maskgate-edge/queue.db".into(),
            // A busy door decides ~2,000 people a day: 100 days offline.
            capacity: 200_000,
        }
    }
}

/// `[heartbeat]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HeartbeatConfig {
    /// Seconds between heartbeats.
    pub interval_s: u64,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        Self { interval_s: 30 }
    }
}

/// `[model_update]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ModelUpdateConfig {
    /// Ask the server which model to run (turn off to pin `classifier.model`).
    pub enabled: bool,
    /// Seconds between asking.
    pub poll_s: u64,
    /// Where downloaded models are kept (with `active`, the one in use).
    pub dir: PathBuf,
    /// A new model is compared with the running one on the door's recent faces when at
    /// least this many were seen; with fewer, the comparison is skipped (and logged).
    pub min_faces: usize,
    /// The share of recent faces on which the new model must reach the running model's
    /// decision, or it is refused (a swapped label or a wrong colour order shows here).
    pub min_agreement: f32,
}

impl Default for ModelUpdateConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            poll_s: 60,
            dir: "/var/lib/maskgate-edge/models".into(),
            min_faces: 4,
            min_agreement: 0.75,
        }
    }
}

impl EdgeConfig {
    /// Reads and checks a configuration file. Relative paths in it are relative to the
    /// file's folder, so a config next to its models works from any working directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.display().to_string(),
            message,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML text (no path resolution, no checks).
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(p) = self.server.token_file.as_mut() {
            fix(p);
        }
        if let Some(p) = self.camera.path.as_mut() {
            fix(p);
        }
        if let Some(p) = self.detector.model.as_mut() {
            fix(p);
        }
        fix(&mut self.classifier.model);
        fix(&mut self.queue.path);
        fix(&mut self.model_update.dir);
    }

    /// Checks ranges and that each chosen backend has what it needs.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if !(self.server.url.starts_with("http://") || self.server.url.starts_with("https://")) {
            return bad(format!(
                "server.url must start with http:// or https://, not `{}`",
                self.server.url
            ));
        }
        if !(1..=1000).contains(&self.server.batch_size) {
            return bad("server.batch_size must be within 1..=1000".into());
        }
        if !(self.camera.fps > 0.0 && self.camera.fps <= 60.0) {
            return bad("camera.fps must be within (0, 60]".into());
        }
        if self.camera.hold_frames == 0 {
            return bad("camera.hold_frames must be at least 1".into());
        }
        match self.camera.source {
            SourceKind::Http if self.camera.url.is_none() => {
                return bad("camera.source = \"http\" needs camera.url".into());
            }
            SourceKind::Folder if self.camera.path.is_none() => {
                return bad("camera.source = \"folder\" needs camera.path".into());
            }
            _ => {}
        }
        if self.detector.kind != DetectorKind::Seetaface && self.detector.model.is_none() {
            return bad("this detector.kind needs detector.model (path to its .onnx)".into());
        }
        if let Some(t) = self.detector.threshold
            && !(0.0..=1.0).contains(&t)
        {
            return bad("detector.threshold must be within 0..=1".into());
        }
        if let Some(t) = self.classifier.threshold
            && !(0.0..=1.0).contains(&t)
        {
            return bad("classifier.threshold must be within 0..=1".into());
        }
        let d = &self.decision;
        if d.window == 0 || d.needed == 0 || d.needed > d.window {
            return bad(format!(
                "decision.needed ({}) must be within 1..=decision.window ({})",
                d.needed, d.window
            ));
        }
        if self.model_update.poll_s == 0 {
            return bad("model_update.poll_s must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.model_update.min_agreement) {
            return bad("model_update.min_agreement must be within 0..=1".into());
        }
        if !(0.0..=1.0).contains(&d.min_iou) {
            return bad("decision.min_iou must be within 0..=1".into());
        }
        if self.actuator.kind == ActuatorKind::Gpio
            && self.actuator.relay_line == self.actuator.buzzer_line
        {
            return bad("actuator.relay_line and actuator.buzzer_line must differ".into());
        }
        if self.queue.capacity == 0 {
            return bad("queue.capacity must be at least 1".into());
        }
        if self.heartbeat.interval_s == 0 {
            return bad("heartbeat.interval_s must be at least 1".into());
        }
        Ok(())
    }

    /// The longest upload backoff.
    pub fn max_backoff(&self) -> Duration {
        Duration::from_secs(self.server.max_backoff_s.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses_and_every_key_in_it_is_known() {
        let text = include_str!("../examples/edge.toml");
        let config = EdgeConfig::parse(text).expect("examples/edge.toml parses");
        config.validate().expect("examples/edge.toml is valid");
    }

    #[test]
    fn an_empty_file_gives_the_pi_defaults() {
        let config = EdgeConfig::parse("").expect("empty parses");
        assert_eq!(config, EdgeConfig::default());
        assert_eq!(config.camera.source, SourceKind::V4l2);
        config.validate().expect("defaults are valid");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_with_the_key_named() {
        let err = EdgeConfig::parse("[camera]\nfsp = 3\n").expect_err("typo");
        assert!(err.contains("fsp"), "{err}");
        let config = EdgeConfig::parse("[decision]\nwindow = 3\nneeded = 4\n").expect("parses");
        let err = config.validate().expect_err("needed > window").to_string();
        assert!(err.contains("decision.needed"), "{err}");
        let config = EdgeConfig::parse("[camera]\nsource = \"folder\"\n").expect("parses");
        let err = config.validate().expect_err("no path").to_string();
        assert!(err.contains("camera.path"), "{err}");
    }

    #[test]
    fn relative_paths_are_relative_to_the_file() {
        let mut config =
            EdgeConfig::parse("[queue]\npath = \"q.db\"\n[classifier]\nmodel = \"/abs.json\"\n")
                .expect("parses");
        config.resolve_paths(Path::new("/etc/door"));
        assert_eq!(config.queue.path, PathBuf::from("/etc/door/q.db"));
        assert_eq!(config.classifier.model, PathBuf::from("/abs.json"));
    }
}
