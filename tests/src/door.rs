//! A door for end-to-end tests: frames made of real photos, an edge.toml, and the real
//! `edge-agent` binary running it, with the decisions it printed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::site::Site;
use crate::{KillOnDrop, temp_dir, workspace_binary, workspace_root};

/// Copies `count` photos of each class, alternating, into a frames folder.
pub fn frames_folder(shared: &Path, dir: &Path, count: usize) -> PathBuf {
    let frames = dir.join("frames");
    std::fs::create_dir_all(&frames).expect("frames folder");
    let mut classes = Vec::new();
    for class in ["with_mask", "without_mask"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(shared.join("data/masks/test").join(class))
            .expect("photos")
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        files.truncate(count);
        classes.push(files);
    }
    for i in 0..count {
        for (c, files) in classes.iter().enumerate() {
            if let Some(file) = files.get(i) {
                let name = file.file_name().expect("name").to_string_lossy();
                std::fs::copy(file, frames.join(format!("{i:03}-{c}-{name}"))).expect("copy");
            }
        }
    }
    frames
}

/// Writes an edge.toml for the test door, uploading over HTTP to the server on `port`.
pub fn door_config(
    dir: &Path,
    name: &str,
    frames: &Path,
    shared: &Path,
    port: u16,
    repeat: bool,
) -> PathBuf {
    let config = format!(
        r#"
[server]
url = "http://127.0.0.1:{port}"
token_file = "device-token"
max_backoff_s = 1
{pipeline}
[model_update]
dir = "models"
poll_s = 1
"#,
        pipeline = pipeline_toml(frames, shared, repeat),
    );
    let path = dir.join(name);
    std::fs::write(&path, config).expect("config");
    path
}

/// Writes an edge.toml for the test door `front-door` of site `hq`, publishing to the MQTT
/// broker at `broker_url`. It has no device token and no model updates: nothing but MQTT
/// leaves the door. Batches unacknowledged for 2 s go again.
pub fn mqtt_door_config(
    dir: &Path,
    name: &str,
    frames: &Path,
    shared: &Path,
    broker_url: &str,
    repeat: bool,
) -> PathBuf {
    let config = format!(
        r#"
uplink = "mqtt"

[server]
# Unused: no token, no model updates.
url = "http://127.0.0.1:9"
token_file = "no-device-token"
max_backoff_s = 1

[mqtt]
url = "{broker_url}"
site = "hq"
door = "front-door"
ack_timeout_s = 2
keep_alive_s = 5
{pipeline}
[model_update]
enabled = false
"#,
        pipeline = pipeline_toml(frames, shared, repeat),
    );
    let path = dir.join(name);
    std::fs::write(&path, config).expect("config");
    path
}

/// The tables that make the door decide: a folder of frames played at 30 fps, UltraFace,
/// the shipped classifier, a fast vote; the queue in `queue.db`; a heartbeat every second.
fn pipeline_toml(frames: &Path, shared: &Path, repeat: bool) -> String {
    format!(
        r#"
[camera]
source = "folder"
path = "{frames}"
fps = 30.0
hold_frames = 6
gap_frames = 4
repeat = {repeat}

[detector]
kind = "ultraface"
model = "{detector}"

[classifier]
model = "{model}"

[decision]
window = 5
needed = 3
max_missed = 2

[queue]
path = "queue.db"

[heartbeat]
interval_s = 1
"#,
        frames = frames.display(),
        detector = shared.join("models/ultraface-rfb-320.onnx").display(),
        model = workspace_root()
            .join("models/maskgate-cnn-v1.json")
            .display(),
    )
}

/// A running agent and the decisions it printed.
#[derive(Debug)]
pub struct Agent {
    process: KillOnDrop,
    decisions: Arc<Mutex<Vec<Uuid>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Agent {
    /// Starts `edge-agent run --config config` in `dir` (its log: `agent.log` there).
    pub fn start(dir: &Path, config: &Path, until_drained: bool) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("agent.log"))
            .expect("agent log");
        let mut cmd = Command::new(workspace_binary(
            "edge-agent",
            "maskgate-edge-agent",
            "edge-agent",
        ));
        cmd.arg("run")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .env_remove("EDGE_AGENT_TOKEN")
            .stdout(Stdio::piped())
            .stderr(log);
        if until_drained {
            cmd.arg("--until-drained");
        }
        let mut child = cmd.spawn().expect("edge-agent");
        let stdout = child.stdout.take().expect("stdout");
        let decisions = Arc::new(Mutex::new(Vec::new()));
        let sink = decisions.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value: serde_json::Value =
                    serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
                assert_eq!(value["queued"], true, "{line}");
                let id = value["id"].as_str().expect("id").parse().expect("uuid");
                sink.lock().expect("lock").push(id);
            }
        });
        Self {
            process: KillOnDrop(child),
            decisions,
            reader: Some(reader),
        }
    }

    /// Whether the agent is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.process.0.try_wait(), Ok(None))
    }

    /// Decisions printed so far.
    pub fn decided(&self) -> usize {
        self.decisions.lock().expect("lock").len()
    }

    /// Waits until at least `at_least` decisions were printed.
    pub async fn wait_for_decisions(&self, at_least: usize, limit: Duration, dir: &Path) {
        let started = Instant::now();
        while self.decided() < at_least {
            assert!(
                started.elapsed() < limit,
                "only {} decisions after {limit:?}; agent log:\n{}",
                self.decided(),
                log_tail(&dir.join("agent.log"))
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the agent to exit on its own; returns its decisions.
    pub fn finish(mut self, limit: Duration, dir: &Path) -> Vec<Uuid> {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.process.0.try_wait().expect("wait") {
                break status;
            }
            assert!(
                started.elapsed() < limit,
                "the agent did not drain within {limit:?}; log:\n{}",
                log_tail(&dir.join("agent.log"))
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(
            status.success(),
            "agent failed: {}",
            log_tail(&dir.join("agent.log"))
        );
        self.collect()
    }

    /// `kill -9`; returns the decisions it printed before it died.
    pub fn kill(mut self) -> Vec<Uuid> {
        self.process.0.kill().expect("kill -9");
        self.process.0.wait().expect("reap");
        self.collect()
    }

    fn collect(&mut self) -> Vec<Uuid> {
        if let Some(reader) = self.reader.take() {
            reader.join().expect("stdout reader");
        }
        self.decisions.lock().expect("lock").clone()
    }
}

/// The last 40 lines of a log file.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// A site and a door folder holding the door's token and `photos` photos of each class
/// as frames; returns the door folder, the site and the frames folder.
pub fn setup(shared: &Path, photos: usize) -> (PathBuf, Site, PathBuf) {
    let dir = temp_dir();
    let site = Site::new(&dir.join("site"));
    let door = dir.join("door");
    std::fs::create_dir_all(&door).expect("door folder");
    std::fs::write(
        door.join("device-token"),
        format!("{}\n", site.device_token),
    )
    .expect("token");
    let frames = frames_folder(shared, &door, photos);
    (door, site, frames)
}
