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
    /// How visits and heartbeats leave the door: `http` (the default) or `mqtt`.
    pub uplink: UplinkKind,
    /// Where visits go (over HTTP), and where models come from.
    pub server: ServerConfig,
    /// The MQTT broker, for `uplink = "mqtt"`.
    pub mqtt: MqttConfig,
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

/// How visits and heartbeats leave the door.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UplinkKind {
    /// `POST /api/v1/visits` and `/api/v1/devices/heartbeat` on `server.url`.
    #[default]
    Http,
    /// Published to an MQTT broker (`[mqtt]`), which the server subscribes to.
    Mqtt,
}

/// A secret from the configuration: never printed, not even by `{:?}`.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// `[mqtt]`: the broker a door publishes its visits and heartbeats to.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    /// The broker: `mqtt://host:1883` or `mqtts://host:8883` (TLS).
    pub url: String,
    /// The site, the second level of the door's topics (`maskgate/{site}/{door}/…`).
    pub site: String,
    /// The door's name on the server (the NAME of `maskgate device add NAME`); the third
    /// level of its topics.
    pub door: String,
    /// The MQTT client id; `maskgate-door-{door}` when not set. It names the door's
    /// persistent session on the broker, so two doors must never share one.
    pub client_id: Option<String>,
    /// The user name, when the broker asks for one.
    pub username: Option<String>,
    /// The password; prefer the `EDGE_AGENT_MQTT_PASSWORD` variable, which wins over this.
    pub password: Option<Secret>,
    /// A PEM file of the certificate authorities to trust for `mqtts://`; without it, the
    /// system's.
    pub ca_file: Option<PathBuf>,
    /// The door's client certificate (PEM), for brokers that authenticate doors by
    /// certificate; needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub key_file: Option<PathBuf>,
    /// Seconds to wait for the server's acknowledgement of a batch before sending it again.
    pub ack_timeout_s: u64,
    /// Seconds between MQTT keep-alive pings; the broker announces the door `offline`
    /// after about 1.5 times this without a word from it.
    pub keep_alive_s: u64,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            site: "default".into(),
            door: String::new(),
            client_id: None,
            username: None,
            password: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
            ack_timeout_s: 10,
            keep_alive_s: 30,
        }
    }
}

impl MqttConfig {
    /// The client id: `client_id`, or `maskgate-door-{door}`.
    pub fn client_id(&self) -> String {
        self.client_id
            .clone()
            .unwrap_or_else(|| format!("maskgate-door-{}", self.door))
    }

    /// Whether the URL asks for TLS.
    pub fn tls(&self) -> bool {
        self.url.starts_with("mqtts://")
    }

    fn validate(&self) -> Result<(), String> {
        let url = reqwest::Url::parse(&self.url).map_err(|e| {
            if self.url.is_empty() {
                "uplink = \"mqtt\" needs mqtt.url (such as mqtt://broker.local:1883)".to_string()
            } else {
                format!("mqtt.url `{}` is not a URL: {e}", self.url)
            }
        })?;
        if !matches!(url.scheme(), "mqtt" | "mqtts") {
            return Err(format!(
                "mqtt.url must start with mqtt:// or mqtts://, not `{}`",
                self.url
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("mqtt.url `{}` names no host", self.url));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "mqtt.url must not hold a user or password: set mqtt.username and mqtt.password \
                 (or EDGE_AGENT_MQTT_PASSWORD)"
                    .into(),
            );
        }
        if !url.path().trim_matches('/').is_empty() || url.query().is_some() {
            return Err(format!(
                "mqtt.url is the broker only (scheme, host, port), not `{}`",
                self.url
            ));
        }
        for (key, value) in [("mqtt.site", &self.site), ("mqtt.door", &self.door)] {
            if value.is_empty() {
                return Err(if key == "mqtt.door" {
                    "uplink = \"mqtt\" needs mqtt.door: the door's name on the server \
                     (the NAME of `maskgate device add NAME`)"
                        .into()
                } else {
                    "mqtt.site must not be empty".into()
                });
            }
            if value.contains(['/', '+', '#', '$']) || value.chars().any(char::is_control) {
                return Err(format!(
                    "{key} `{value}` must not contain /, +, #, $ or control characters \
                     (it is a level of an MQTT topic)"
                ));
            }
        }
        if self.client_id.as_deref().is_some_and(str::is_empty) {
            return Err("mqtt.client_id must not be empty (leave it out for the default)".into());
        }
        if self.password.is_some() && self.username.is_none() {
            return Err("mqtt.password needs mqtt.username".into());
        }
        if self.cert_file.is_some() != self.key_file.is_some() {
            return Err("mqtt.cert_file and mqtt.key_file go together".into());
        }
        if !self.tls() {
            for (key, set) in [
                ("mqtt.ca_file", self.ca_file.is_some()),
                ("mqtt.cert_file", self.cert_file.is_some()),
            ] {
                if set {
                    return Err(format!("{key} needs an mqtts:// mqtt.url"));
                }
            }
        }
        if self.ack_timeout_s == 0 {
            return Err("mqtt.ack_timeout_s must be at least 1".into());
        }
        if !(5..=3600).contains(&self.keep_alive_s) {
            return Err("mqtt.keep_alive_s must be within 5..=3600".into());
        }
        Ok(())
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
        for p in [
            &mut self.mqtt.ca_file,
            &mut self.mqtt.cert_file,
            &mut self.mqtt.key_file,
        ]
        .into_iter()
        .flatten()
        {
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
        if self.uplink == UplinkKind::Mqtt {
            self.mqtt.validate().map_err(ConfigError::Invalid)?;
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

    /// Whether the door needs its device token: for HTTP uploads, and for model updates
    /// (always over HTTP). A door on MQTT without model updates is known by its broker
    /// credentials alone.
    pub fn needs_device_token(&self) -> bool {
        self.uplink == UplinkKind::Http || self.model_update.enabled
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
    fn the_commented_mqtt_block_of_the_example_is_valid_once_uncommented() {
        let text = include_str!("../examples/edge.toml");
        let start = text.find("# [mqtt]").expect("an [mqtt] block");
        let end = start + text[start..].find("\n[camera]").expect("then [camera]");
        let block: String = text[start..end]
            .lines()
            .filter_map(|line| line.strip_prefix("# "))
            .filter(|line| line.starts_with('[') || line.contains(" = "))
            .map(|line| format!("{line}\n"))
            .collect();
        let block = block.replace("mqtt://", "mqtts://");
        let config = EdgeConfig::parse(&format!("uplink = \"mqtt\"\n{block}"))
            .unwrap_or_else(|e| panic!("{block}\n{e}"));
        config.validate().expect("valid");
        assert_eq!(config.mqtt.door, "front-door");
        assert!(config.mqtt.cert_file.is_some() && config.mqtt.password.is_some());
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
    fn an_mqtt_door_needs_a_broker_and_a_name_and_each_mistake_names_its_key() {
        let ok = "uplink = \"mqtt\"\n[mqtt]\nurl = \"mqtt://broker:1883\"\ndoor = \"front-door\"\n";
        let config = EdgeConfig::parse(ok).expect("parses");
        config.validate().expect("valid");
        assert_eq!(config.mqtt.client_id(), "maskgate-door-front-door");
        assert_eq!(config.mqtt.site, "default");
        assert_eq!(config.mqtt.ack_timeout_s, 10);
        let cases = [
            ("", "mqtt.url"),
            ("[mqtt]\ndoor = \"d\"\n", "mqtt.url"),
            ("[mqtt]\nurl = \"http://b\"\ndoor = \"d\"\n", "mqtt.url"),
            (
                "[mqtt]\nurl = \"mqtt://u:p@b\"\ndoor = \"d\"\n",
                "mqtt.username",
            ),
            ("[mqtt]\nurl = \"mqtt://b/x\"\ndoor = \"d\"\n", "mqtt.url"),
            ("[mqtt]\nurl = \"mqtt://b\"\n", "mqtt.door"),
            ("[mqtt]\nurl = \"mqtt://b\"\ndoor = \"a/b\"\n", "mqtt.door"),
            (
                "[mqtt]\nurl = \"mqtt://b\"\ndoor = \"d\"\nsite = \"#\"\n",
                "mqtt.site",
            ),
            (
                "[mqtt]\nurl = \"mqtt://b\"\ndoor = \"d\"\npassword = \"p\"\n",
                "mqtt.password",
            ),
            (
                "[mqtt]\nurl = \"mqtts://b\"\ndoor = \"d\"\ncert_file = \"c.pem\"\n",
                "mqtt.key_file",
            ),
            (
                "[mqtt]\nurl = \"mqtt://b\"\ndoor = \"d\"\nca_file = \"ca.pem\"\n",
                "mqtt.ca_file",
            ),
            (
                "[mqtt]\nurl = \"mqtt://b\"\ndoor = \"d\"\nack_timeout_s = 0\n",
                "mqtt.ack_timeout_s",
            ),
            (
                "[mqtt]\nurl = \"mqtt://b\"\ndoor = \"d\"\nclient_id = \"\"\n",
                "mqtt.client_id",
            ),
        ];
        for (table, key) in cases {
            let text = format!("uplink = \"mqtt\"\n{table}");
            let config = EdgeConfig::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let err = config
                .validate()
                .expect_err(&format!("refused: {text}"))
                .to_string();
            assert!(err.contains(key), "{text}\nshould name {key}: {err}");
        }
        // On HTTP the [mqtt] table is not checked: a door can keep it for later.
        let http = EdgeConfig::parse("[mqtt]\nurl = \"nonsense\"\n").expect("parses");
        http.validate().expect("not checked on HTTP");
    }

    #[test]
    fn the_mqtt_password_never_prints() {
        let config = EdgeConfig::parse(
            "[mqtt]\nurl = \"mqtt://b\"\ndoor = \"d\"\nusername = \"d\"\npassword = \"hunter2\"\n",
        )
        .expect("parses");
        assert_eq!(
            config.mqtt.password.as_ref().map(Secret::expose),
            Some("hunter2")
        );
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn only_http_and_model_updates_need_the_device_token() {
        let mqtt = "uplink = \"mqtt\"\n[mqtt]\nurl = \"mqtt://b\"\ndoor = \"d\"\n";
        let with_updates = EdgeConfig::parse(mqtt).expect("parses");
        assert!(with_updates.needs_device_token());
        let without =
            EdgeConfig::parse(&format!("{mqtt}[model_update]\nenabled = false\n")).expect("parses");
        assert!(!without.needs_device_token());
        assert!(EdgeConfig::default().needs_device_token());
    }

    #[test]
    fn relative_paths_are_relative_to_the_file() {
        let mut config = EdgeConfig::parse(
            "[queue]\npath = \"q.db\"\n[classifier]\nmodel = \"/abs.json\"\n\
             [mqtt]\nca_file = \"tls/ca.pem\"\n",
        )
        .expect("parses");
        config.resolve_paths(Path::new("/etc/door"));
        assert_eq!(config.queue.path, PathBuf::from("/etc/door/q.db"));
        assert_eq!(
            config.mqtt.ca_file,
            Some(PathBuf::from("/etc/door/tls/ca.pem"))
        );
        assert_eq!(config.classifier.model, PathBuf::from("/abs.json"));
    }
}
