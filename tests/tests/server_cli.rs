//! The `maskgate` binary end to end: migrate, users, devices, serve, SIGTERM.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use maskgate_api_types::{LoginResponse, NewVisit, VisitBatch, VisitBatchResult};
use maskgate_tests::{KillOnDrop, free_port, temp_dir, workspace_binary};

fn maskgate(db: &Path) -> Command {
    let mut cmd = Command::new(workspace_binary("api", "maskgate-api", "maskgate"));
    cmd.env(
        "MASKGATE_DATABASE_URL",
        format!("sqlite://{}", db.display()),
    )
    .env("RUST_LOG", "info")
    .env_remove("MASKGATE_BIND")
    .env_remove("MASKGATE_TZ");
    cmd
}

fn run_with_stdin(mut cmd: Command, stdin: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn maskgate");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

#[tokio::test]
async fn a_new_site_is_set_up_served_and_stopped_from_the_command_line() {
    let dir = temp_dir();
    // The folder does not exist yet: the server creates it with the database.
    let db = dir.join("data").join("maskgate.db");

    let out = maskgate(&db).arg("migrate").output().expect("migrate");
    assert!(
        out.status.success(),
        "migrate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.exists(), "the SQLite file is created on first start");

    let mut add = maskgate(&db);
    add.args(["user", "add", "ana", "--role", "admin", "--password-stdin"]);
    let out = run_with_stdin(add, "door-keeper-42\n");
    assert!(
        out.status.success(),
        "user add: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut short = maskgate(&db);
    short.args(["user", "add", "bo", "--password-stdin"]);
    let out = run_with_stdin(short, "short\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 8 characters"));

    let mut again = maskgate(&db);
    again.args(["user", "add", "ana", "--password-stdin"]);
    let out = run_with_stdin(again, "door-keeper-42\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));

    let out = maskgate(&db)
        .args(["device", "add", "front-door"])
        .output()
        .expect("device add");
    assert!(
        out.status.success(),
        "device add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let device_token = String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_owned();
    assert!(
        device_token.starts_with("mgd_"),
        "stdout is the token alone: {device_token}"
    );

    let port = free_port();
    let log_path = dir.join("serve.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    // No subcommand: `serve` is the default, configured by the environment alone.
    let mut server = maskgate(&db)
        .env("MASKGATE_BIND", format!("127.0.0.1:{port}"))
        .env("MASKGATE_TZ", "Asia/Seoul")
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .map(KillOnDrop)
        .expect("serve");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server did not come up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let login: LoginResponse = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "ana", "password": "door-keeper-42"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login body");
    let visit = NewVisit {
        id: uuid::Uuid::new_v4(),
        captured_at: chrono::Utc::now(),
        passed: true,
        mask_score: 0.97,
        model: "maskgate-cnn@1".into(),
        device: None,
        decision_ms: None,
    };
    let result: VisitBatchResult = client
        .post(format!("{base}/api/v1/visits"))
        .bearer_auth(&device_token)
        .json(&VisitBatch {
            visits: vec![visit],
        })
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("body");
    assert_eq!(result.accepted, 1);
    let stats: serde_json::Value = client
        .get(format!("{base}/api/v1/stats?bucket=day"))
        .bearer_auth(&login.token)
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("body");
    assert_eq!(stats["tz"], "Asia/Seoul", "MASKGATE_TZ is the default zone");

    // An open event stream must not hold up a graceful shutdown.
    let _stream = client
        .get(format!("{base}/api/v1/stream"))
        .bearer_auth(&login.token)
        .send()
        .await
        .expect("stream");
    let kill = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let stopping = Instant::now();
    let status = loop {
        if let Some(status) = server.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(10),
            "no graceful shutdown in 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");

    let log = std::fs::read_to_string(&log_path).expect("log");
    assert!(log.contains("listening on"), "{log}");
    assert!(log.contains("shutting down"), "{log}");
    for secret in [
        "door-keeper-42",
        device_token.as_str(),
        login.token.as_str(),
    ] {
        assert!(
            !log.contains(secret),
            "a secret leaked into the log:\n{log}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_bad_configuration_is_refused_with_a_clear_message() {
    let dir = temp_dir();
    let db = dir.join("maskgate.db");
    let out = maskgate(&db)
        .arg("serve")
        .env("MASKGATE_TZ", "Mars/Olympus")
        .env("MASKGATE_BIND", "127.0.0.1:0")
        .output()
        .expect("serve");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Mars/Olympus"));

    let out = Command::new(workspace_binary("api", "maskgate-api", "maskgate"))
        .args(["migrate"])
        .env("MASKGATE_DATABASE_URL", "oracle://db/x")
        .output()
        .expect("migrate");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unsupported database URL scheme"),
        "{stderr}"
    );

    let out = Command::new(workspace_binary("api", "maskgate-api", "maskgate"))
        .args(["migrate"])
        .env(
            "MASKGATE_DATABASE_URL",
            "postgres://app:hunter2secret@127.0.0.1:1/x",
        )
        .output()
        .expect("migrate");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot open the database"), "{stderr}");
    assert!(
        !stderr.contains("hunter2secret"),
        "the password leaked: {stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// `maskgate demo`: one command gives a server, a printed admin login and a door deciding
/// on real photos through the real agent; Ctrl-C/SIGTERM stops both.
#[tokio::test]
async fn the_demo_runs_a_server_and_a_door_in_one_command() {
    let Some(shared) = maskgate_tests::shared() else {
        return;
    };
    // The demo starts the agent that sits beside the server binary.
    workspace_binary("edge-agent", "maskgate-edge-agent", "edge-agent");
    let dir = temp_dir();
    let root = maskgate_tests::workspace_root();
    let mut demo = KillOnDrop(
        Command::new(workspace_binary("api", "maskgate-api", "maskgate"))
            .arg("demo")
            .arg("--dir")
            .arg(&dir)
            .args(["--bind", "127.0.0.1:0", "--no-open", "--every-s", "1"])
            .arg("--photos")
            .arg(shared.join("data/masks/test"))
            .arg("--model")
            .arg(root.join("models/maskgate-cnn-v1.json"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the demo"),
    );
    let stdout = demo.0.stdout.take().expect("stdout");
    let (lines, banner) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines.send(line);
        }
    });
    let (mut url, mut password) = (None, None);
    while url.is_none() || password.is_none() {
        let line = banner
            .recv_timeout(Duration::from_secs(60))
            .expect("the demo prints its dashboard and login");
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["dashboard", u] => url = Some(u.trim_end_matches('/').to_owned()),
            ["login", "admin", "/", p] => password = Some((*p).to_owned()),
            _ => {}
        }
    }
    let (base, password) = (url.expect("url"), password.expect("password"));
    let client = reqwest::Client::new();
    let login: LoginResponse = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": password}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("the printed login works");
    let started = Instant::now();
    loop {
        let page: serde_json::Value = client
            .get(format!("{base}/api/v1/visits?device=demo-door"))
            .bearer_auth(&login.token)
            .send()
            .await
            .expect("visits")
            .json()
            .await
            .expect("body");
        if page["items"].as_array().is_some_and(|v| v.len() >= 2) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the simulated door decided nothing in 90 s:\n{}",
            std::fs::read_to_string(dir.join("door.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let kill = Command::new("kill")
        .args(["-TERM", &demo.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let stopping = Instant::now();
    while demo.0.try_wait().expect("wait").is_none() {
        assert!(
            stopping.elapsed() < Duration::from_secs(15),
            "the demo did not stop"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let config = dir.join("door.toml");
    let door_left = Command::new("pgrep")
        .args(["-f", &config.display().to_string()])
        .output()
        .expect("pgrep");
    assert!(door_left.stdout.is_empty(), "the door outlived the demo");
    let _ = std::fs::remove_dir_all(dir);
}
