//! A site for end-to-end tests: the real `maskgate` server on a fresh SQLite file, with an
//! admin logged in and one door, `front-door`, registered.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use maskgate_api_types::{DeviceList, LoginResponse, VisitPage};
use uuid::Uuid;

use crate::door::log_tail;
use crate::{KillOnDrop, free_port, workspace_binary};

/// A site: a server on SQLite with an admin and one door registered.
#[derive(Debug)]
pub struct Site {
    dir: PathBuf,
    /// The port the server listens on (HTTP).
    pub port: u16,
    server: Option<KillOnDrop>,
    admin_token: Option<String>,
    /// The token of the door `front-door`.
    pub device_token: String,
    /// The MQTT broker the server takes doors' messages from, if any.
    pub mqtt_url: Option<String>,
}

/// `maskgate` on the SQLite file `db`.
pub fn maskgate(db: &Path) -> Command {
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
    /// A site in `dir`: the database, an admin `admin` and the door `front-door`.
    pub fn new(dir: &Path) -> Self {
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
            mqtt_url: None,
        }
    }

    /// The server's log so far.
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// The server's base URL.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again), waits until it answers, and logs the admin in.
    pub async fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .expect("server log");
        let server = maskgate(&self.dir.join("maskgate.db"))
            .arg("serve")
            .args(self.mqtt_url.iter().flat_map(|url| {
                [
                    "--mqtt-url",
                    url.as_str(),
                    "--mqtt-client-id",
                    "maskgate-api-e2e",
                ]
            }))
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
    pub fn kill(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.0.kill().expect("kill server");
            server.0.wait().expect("reap server");
        }
    }

    /// The registered devices, as the admin app lists them.
    pub async fn devices(&self) -> DeviceList {
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
    pub async fn admin_json(
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
    pub async fn upload_model(
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
    pub async fn wait_for_status(
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
    pub async fn visit_models_since(&self, seen: &HashSet<Uuid>) -> Vec<String> {
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
    pub async fn visit_ids(&self) -> Vec<Uuid> {
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
