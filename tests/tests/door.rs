//! A door end to end: the real `edge-agent` binary on real photos, deciding and uploading to
//! the real `maskgate` server, through a server outage and through `kill -9` at random
//! moments. Every decision the agent made must reach the server exactly once.
//!
//! Needs ../shared (photos and the UltraFace detector); without it the tests say so and step
//! aside, unless MASKGATE_REQUIRE_SHARED=1 (set by .ci/run).

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use maskgate_api_types::{DeviceList, LoginResponse, VisitPage};
use maskgate_tests::{KillOnDrop, free_port, shared, temp_dir, workspace_binary, workspace_root};
use uuid::Uuid;

/// One door test at a time: each runs a server and an agent at camera speed, and two at once
/// on a 2-core machine would measure the machine, not the door.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A site: a server on SQLite with an admin and one door registered.
struct Site {
    dir: PathBuf,
    port: u16,
    server: Option<KillOnDrop>,
    admin_token: Option<String>,
    device_token: String,
}

fn maskgate(db: &Path) -> Command {
    let mut cmd = Command::new(workspace_binary("api", "maskgate-api", "maskgate"));
    cmd.env(
        "MASKGATE_DATABASE_URL",
        format!("sqlite://{}", db.display()),
    )
    .env("RUST_LOG", "info")
    .env_remove("MASKGATE_TZ");
    cmd
}

impl Site {
    fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("site folder");
        let db = dir.join("maskgate.db");
        let mut add = maskgate(&db);
        add.args([
            "user",
            "add",
            "admin",
            "--role",
            "admin",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let mut child = add.spawn().expect("user add");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"door-test-password\n")
            .expect("password");
        assert!(child.wait().expect("user add").success(), "user add failed");
        let out = maskgate(&db)
            .args(["device", "add", "front-door"])
            .output()
            .expect("device add");
        assert!(out.status.success(), "device add failed");
        Self {
            dir: dir.to_path_buf(),
            port: free_port(),
            server: None,
            admin_token: None,
            device_token: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .expect("server log");
        let server = maskgate(&self.dir.join("maskgate.db"))
            .arg("serve")
            .env("MASKGATE_BIND", format!("127.0.0.1:{}", self.port))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("serve");
        self.server = Some(KillOnDrop(server));
        let client = reqwest::Client::new();
        let started = Instant::now();
        while client
            .get(format!("{}/healthz", self.base()))
            .send()
            .await
            .is_err()
        {
            assert!(started.elapsed() < Duration::from_secs(20), "no server");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if self.admin_token.is_none() {
            let login: LoginResponse = client
                .post(format!("{}/api/v1/auth/login", self.base()))
                .json(&serde_json::json!({"username": "admin", "password": "door-test-password"}))
                .send()
                .await
                .expect("login")
                .json()
                .await
                .expect("login body");
            self.admin_token = Some(login.token);
        }
    }

    /// Kills the server without warning: the network goes away mid-upload.
    fn kill(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.0.kill().expect("kill server");
            server.0.wait().expect("reap server");
        }
    }

    /// The registered devices, as the admin app lists them.
    async fn devices(&self) -> DeviceList {
        reqwest::Client::new()
            .get(format!("{}/api/v1/devices", self.base()))
            .bearer_auth(self.admin_token.as_deref().expect("logged in"))
            .send()
            .await
            .expect("devices")
            .json()
            .await
            .expect("device list")
    }

    /// An admin request with a JSON body; returns status and JSON answer.
    async fn admin_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base()))
            .bearer_auth(self.admin_token.as_deref().expect("logged in"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        (status, response.json().await.unwrap_or_default())
    }

    /// Uploads a model as the admin app does.
    async fn upload_model(
        &self,
        manifest: &serde_json::Value,
        onnx: Vec<u8>,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        use reqwest::multipart::{Form, Part};
        let form = Form::new()
            .part("manifest", Part::text(manifest.to_string()))
            .part("model", Part::bytes(onnx).file_name("model.onnx"));
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/models", self.base()))
            .bearer_auth(self.admin_token.as_deref().expect("logged in"))
            .multipart(form)
            .send()
            .await
            .expect("upload");
        let status = response.status();
        (status, response.json().await.unwrap_or_default())
    }

    /// Waits until the door's heartbeat satisfies `ok`; returns its status.
    async fn wait_for_status(
        &self,
        what: &str,
        door: &Path,
        ok: impl Fn(&maskgate_api_types::DeviceStatus) -> bool,
    ) -> maskgate_api_types::DeviceStatus {
        let started = Instant::now();
        loop {
            let devices = self.devices().await;
            if let Some(status) = devices.items[0].status.clone()
                && ok(&status)
            {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{what}: not within 60 s; last status {:?}; agent log:\n{}",
                devices.items[0].status,
                log_tail(&door.join("agent.log"))
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The models named by the visits stored since `after` (ids not in it).
    async fn visit_models_since(&self, seen: &HashSet<Uuid>) -> Vec<String> {
        let page: VisitPage = reqwest::Client::new()
            .get(format!("{}/api/v1/visits", self.base()))
            .bearer_auth(self.admin_token.as_deref().expect("logged in"))
            .query(&[("limit", "500")])
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("page");
        page.items
            .iter()
            .filter(|v| !seen.contains(&v.id))
            .map(|v| v.model.clone())
            .collect()
    }

    /// Every visit id the server holds, in the order it lists them.
    async fn visit_ids(&self) -> Vec<Uuid> {
        let client = reqwest::Client::new();
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut request = client
                .get(format!("{}/api/v1/visits", self.base()))
                .bearer_auth(self.admin_token.as_deref().expect("logged in"))
                .query(&[("limit", "500")]);
            if let Some(c) = &cursor {
                request = request.query(&[("cursor", c)]);
            }
            let page: VisitPage = request
                .send()
                .await
                .expect("list")
                .json()
                .await
                .expect("page");
            ids.extend(page.items.iter().map(|v| v.id));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return ids,
            }
        }
    }
}

/// Copies `count` photos of each class, alternating, into a frames folder.
fn frames_folder(shared: &Path, dir: &Path, count: usize) -> PathBuf {
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

/// Writes an edge.toml for the test door.
fn door_config(
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

[model_update]
dir = "models"
poll_s = 1
"#,
        frames = frames.display(),
        detector = shared.join("models/ultraface-rfb-320.onnx").display(),
        model = workspace_root()
            .join("models/maskgate-cnn-v1.json")
            .display(),
    );
    let path = dir.join(name);
    std::fs::write(&path, config).expect("config");
    path
}

/// A running agent and the decisions it printed.
struct Agent {
    process: KillOnDrop,
    decisions: Arc<Mutex<Vec<Uuid>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Agent {
    fn start(dir: &Path, config: &Path, until_drained: bool) -> Self {
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

    fn decided(&self) -> usize {
        self.decisions.lock().expect("lock").len()
    }

    async fn wait_for_decisions(&self, at_least: usize, limit: Duration, dir: &Path) {
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
    fn finish(mut self, limit: Duration, dir: &Path) -> Vec<Uuid> {
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
    fn kill(mut self) -> Vec<Uuid> {
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

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn setup(shared: &Path, photos: usize) -> (PathBuf, Site, PathBuf) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decision_arrives_exactly_once_through_a_server_outage() {
    let Some(shared) = shared() else { return };
    let _serial = SERIAL.lock().await;
    let (door, mut site, frames) = setup(&shared, 12);
    let config = door_config(&door, "edge.toml", &frames, &shared, site.port, false);
    site.start().await;

    let agent = Agent::start(&door, &config, true);
    agent
        .wait_for_decisions(2, Duration::from_secs(60), &door)
        .await;
    site.kill();
    let at_outage = agent.decided();
    // The door keeps deciding while the server is gone.
    agent
        .wait_for_decisions(at_outage + 3, Duration::from_secs(60), &door)
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    site.start().await;
    let decided = agent.finish(Duration::from_secs(120), &door);

    let stored = site.visit_ids().await;
    let decided_set: HashSet<Uuid> = decided.iter().copied().collect();
    let stored_set: HashSet<Uuid> = stored.iter().copied().collect();
    assert_eq!(decided_set.len(), decided.len(), "ids are unique");
    assert_eq!(stored.len(), stored_set.len(), "nothing stored twice");
    assert_eq!(
        stored_set, decided_set,
        "every decision arrived, nothing else did"
    );
    let devices = site.devices().await;
    let status = devices.items[0].status.clone().expect("heartbeats arrived");
    assert_eq!(status.model_version.as_deref(), Some("maskgate-cnn@1.0.0"));
    let log = std::fs::read_to_string(door.join("agent.log")).unwrap_or_default();
    assert!(log.contains("upload failed"), "the outage was noticed");
    assert!(
        !log.contains(&site.device_token),
        "the token never appears in logs"
    );
    eprintln!(
        "outage: {} decisions, {} decided while the server was down",
        decided.len(),
        decided.len() - at_outage
    );
    std::fs::remove_dir_all(door.parent().expect("dir")).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_loses_and_duplicates_nothing() {
    let Some(shared) = shared() else { return };
    let _serial = SERIAL.lock().await;
    let (door, mut site, frames) = setup(&shared, 8);
    let endless = door_config(&door, "endless.toml", &frames, &shared, site.port, true);
    let once = door_config(&door, "once.toml", &frames, &shared, site.port, false);
    site.start().await;

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(7);
    eprintln!("kill -9 delays from seed {seed}");
    let mut rng = seed;
    let mut decided = Vec::new();
    const KILLS: usize = 20;
    let started = Instant::now();
    for _ in 0..KILLS {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = Duration::from_millis(300 + (rng >> 33) % 1700);
        let agent = Agent::start(&door, &endless, false);
        tokio::time::sleep(delay).await;
        decided.extend(agent.kill());
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the kill loop is bounded in time"
        );
    }
    // A last, undisturbed run plays the folder once and exits when all is uploaded.
    decided.extend(Agent::start(&door, &once, true).finish(Duration::from_secs(120), &door));

    let stored = site.visit_ids().await;
    let stored_set: HashSet<Uuid> = stored.iter().copied().collect();
    assert_eq!(stored.len(), stored_set.len(), "nothing stored twice");
    let lost: Vec<&Uuid> = decided
        .iter()
        .filter(|id| !stored_set.contains(id))
        .collect();
    assert!(lost.is_empty(), "decisions lost: {lost:?}");
    // A kill between the queue's commit and the printed line hides at most one decision
    // per kill from us; the server may hold those, nothing more.
    assert!(
        stored.len() - decided.len() <= KILLS,
        "{} stored but {} decided",
        stored.len(),
        decided.len()
    );
    assert!(decided.len() >= 8, "the door decided: {}", decided.len());
    eprintln!(
        "kill -9 ×{KILLS}: {} decisions printed, {} stored",
        decided.len(),
        stored.len()
    );
    site.kill();
    std::fs::remove_dir_all(door.parent().expect("dir")).ok();
}

/// The shipped model's manifest with another version (and other changes), and its file.
fn shipped_model_as(version: &str, changes: serde_json::Value) -> (serde_json::Value, Vec<u8>) {
    let dir = workspace_root().join("models");
    let text = std::fs::read_to_string(dir.join("maskgate-cnn-v1.json")).expect("manifest");
    let mut manifest: serde_json::Value = serde_json::from_str(&text).expect("json");
    manifest["version"] = version.into();
    for (key, value) in changes.as_object().expect("object") {
        manifest[key] = value.clone();
    }
    let onnx = std::fs::read(dir.join("maskgate-cnn-v1.onnx")).expect("model");
    (manifest, onnx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_door_takes_its_assigned_model_refuses_a_bad_one_and_rolls_back() {
    let Some(shared) = shared() else { return };
    let _serial = SERIAL.lock().await;
    let (door, mut site, frames) = setup(&shared, 8);
    let config = door_config(&door, "edge.toml", &frames, &shared, site.port, true);
    site.start().await;
    let agent = Agent::start(&door, &config, false);
    // Faces to compare models on.
    agent
        .wait_for_decisions(4, Duration::from_secs(60), &door)
        .await;
    let device_id = site.devices().await.items[0].id;

    // A broken file is refused at upload; nothing reaches the door.
    let (mut manifest, onnx) = shipped_model_as("9.9.9", serde_json::json!({}));
    let truncated = onnx[..onnx.len() / 3].to_vec();
    manifest["sha256"] = maskgate_model::sha256_hex(&truncated).into();
    let (status, body) = site.upload_model(&manifest, truncated).await;
    assert_eq!(status, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // A new model: uploaded, assigned to this door, picked up, and named by new visits.
    let (manifest, onnx) = shipped_model_as("1.1.0", serde_json::json!({}));
    let (status, v11) = site.upload_model(&manifest, onnx).await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{v11}");
    let (status, body) = site
        .admin_json(
            reqwest::Method::POST,
            &format!("/api/v1/models/{}/rollout", v11["id"]),
            Some(serde_json::json!({"devices": ["front-door"]})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let before: HashSet<Uuid> = site.visit_ids().await.into_iter().collect();
    site.wait_for_status("the door runs 1.1.0", &door, |s| {
        s.model_version.as_deref() == Some("maskgate-cnn@1.1.0") && s.model_error.is_none()
    })
    .await;
    let started = Instant::now();
    loop {
        let models = site.visit_models_since(&before).await;
        if models.iter().any(|m| m == "maskgate-cnn@1.1.0") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no visit names 1.1.0: {models:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A model that loads and passes the server's checks but reads the wrong output as the
    // mask score: the door's self-test on its recent faces refuses it and keeps 1.1.0.
    let (swapped, onnx) = shipped_model_as("1.2.0-swapped", serde_json::json!({"mask_index": 1}));
    let (status, v12) = site.upload_model(&swapped, onnx).await;
    assert_eq!(
        status,
        reqwest::StatusCode::CREATED,
        "the server cannot tell: {v12}"
    );
    let (status, _) = site
        .admin_json(
            reqwest::Method::PUT,
            &format!("/api/v1/devices/{device_id}/model"),
            Some(serde_json::json!({"model_id": v12["id"]})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let refused = site
        .wait_for_status("the door refuses 1.2.0-swapped", &door, |s| {
            s.model_error.is_some()
        })
        .await;
    assert_eq!(refused.model_version.as_deref(), Some("maskgate-cnn@1.1.0"));
    let error = refused.model_error.unwrap_or_default();
    assert!(error.contains("self-test"), "{error}");
    eprintln!("door refused the swapped model: {error}");

    // kill -9 and restart: the door comes back on the model it accepted, not the installed one.
    agent.kill();
    let agent = Agent::start(&door, &config, false);
    let log_before = std::fs::read_to_string(door.join("agent.log"))
        .unwrap_or_default()
        .len();
    let started = Instant::now();
    loop {
        let log = std::fs::read_to_string(door.join("agent.log")).unwrap_or_default();
        if log[log_before.min(log.len())..].contains("classifier loaded") {
            assert!(
                log[log_before.min(log.len())..].contains("maskgate-cnn@1.1.0"),
                "restarted on the accepted model:\n{}",
                &log[log_before.min(log.len())..]
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "agent did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Rollback: 1.2.0-swapped → 1.1.0 (the door runs it already: the error clears), then
    // → the installed model.
    let (status, body) = site
        .admin_json(
            reqwest::Method::POST,
            &format!("/api/v1/devices/{device_id}/model/rollback"),
            None,
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(body["model_id"], v11["id"]);
    site.wait_for_status("the error clears", &door, |s| {
        s.model_error.is_none() && s.model_version.as_deref() == Some("maskgate-cnn@1.1.0")
    })
    .await;
    let (status, body) = site
        .admin_json(
            reqwest::Method::POST,
            &format!("/api/v1/devices/{device_id}/model/rollback"),
            None,
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(body["model_id"], serde_json::Value::Null);
    site.wait_for_status("back on the installed model", &door, |s| {
        s.model_version.as_deref() == Some("maskgate-cnn@1.0.0")
    })
    .await;
    let (_, history) = site
        .admin_json(
            reqwest::Method::GET,
            &format!("/api/v1/devices/{device_id}/model-history"),
            None,
        )
        .await;
    let runs: Vec<&str> = history["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["model"].as_str())
        .collect();
    assert_eq!(
        runs,
        [
            "maskgate-cnn@1.0.0",
            "maskgate-cnn@1.1.0",
            "maskgate-cnn@1.0.0"
        ]
    );
    agent.kill();
    site.kill();
    std::fs::remove_dir_all(door.parent().expect("dir")).ok();
}
