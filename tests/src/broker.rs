//! A Mosquitto broker of the test's own: on a free port, with its persistence in the test's
//! folder, so the test can kill it and start it again with the sessions it saved.
//!
//! Without `mosquitto` installed the tests say so in one line and step aside, unless
//! `MASKGATE_REQUIRE_MQTT=1` (set by `.ci/run`) makes that a failure.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{KillOnDrop, free_port};

/// The `mosquitto` program, if installed (Debian puts it in /usr/sbin, often not on PATH).
pub fn mosquitto_program() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|dir| dir.join("mosquitto"))
        .find(|p| p.is_file())
}

/// The `mosquitto` program, or `None` after one line saying the test steps aside; with
/// `MASKGATE_REQUIRE_MQTT=1` a missing broker fails the test instead.
pub fn mosquitto() -> Option<PathBuf> {
    let found = mosquitto_program();
    if found.is_none() {
        assert!(
            std::env::var("MASKGATE_REQUIRE_MQTT").as_deref() != Ok("1"),
            "MASKGATE_REQUIRE_MQTT=1 but mosquitto is not installed (apt-get install mosquitto)"
        );
        eprintln!("skipping: mosquitto is not installed (apt-get install mosquitto)");
    }
    found
}

/// A running (or stopped, to be started again) Mosquitto.
#[derive(Debug)]
pub struct Broker {
    program: PathBuf,
    dir: PathBuf,
    port: u16,
    extra: String,
    process: Option<KillOnDrop>,
}

impl Broker {
    /// Starts a broker keeping its state in `dir`: one anonymous listener on 127.0.0.1.
    pub fn start(program: &Path, dir: &Path) -> Self {
        Self::start_with(program, dir, "")
    }

    /// Starts a broker with more configuration lines (more listeners, TLS, passwords).
    pub fn start_with(program: &Path, dir: &Path, extra: &str) -> Self {
        std::fs::create_dir_all(dir).expect("broker folder");
        let mut broker = Self {
            program: program.to_path_buf(),
            dir: dir.to_path_buf(),
            port: free_port(),
            extra: extra.to_owned(),
            process: None,
        };
        broker.start_again();
        broker
    }

    /// The plain listener's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mqtt://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The broker's folder (its log is `mosquitto.log` there).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts the broker (again) on the same port with the same persistence folder, and
    /// waits until it listens.
    pub fn start_again(&mut self) {
        assert!(self.process.is_none(), "the broker is running");
        let config = self.dir.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "# Written by the test; see tests/src/broker.rs.\n\
                 listener {port} 127.0.0.1\n\
                 allow_anonymous true\n\
                 persistence true\n\
                 persistence_location {dir}/\n\
                 # Sessions reach the disk every second, so a killed broker keeps most.\n\
                 autosave_interval 1\n\
                 max_queued_messages 100000\n\
                 log_dest stderr\n\
                 log_type error\n\
                 log_type warning\n\
                 log_type notice\n\
                 log_type information\n\
                 connection_messages true\n\
                 # As root, mosquitto would switch to the user `mosquitto`, who cannot write\n\
                 # the test's folder; as another user this line does nothing.\n\
                 user root\n\
                 {extra}\n",
                port = self.port,
                dir = self.dir.display(),
                extra = self.extra,
            ),
        )
        .expect("broker config");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("mosquitto.log"))
            .expect("broker log");
        let child = Command::new(&self.program)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start mosquitto");
        self.process = Some(KillOnDrop(child));
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(process) = self.process.as_mut()
                && let Ok(Some(status)) = process.0.try_wait()
            {
                panic!("mosquitto exited ({status}); log:\n{}", self.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "mosquitto does not listen on {}; log:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kill -9`: the broker dies without saving anything since its last autosave.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.0.kill().expect("kill mosquitto");
            process.0.wait().expect("reap mosquitto");
        }
    }

    /// SIGTERM: the broker saves its sessions and exits.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let status = Command::new("kill")
                .args(["-TERM", &process.0.id().to_string()])
                .status()
                .expect("kill -TERM");
            assert!(status.success(), "kill -TERM mosquitto");
            process.0.wait().expect("reap mosquitto");
        }
    }

    /// The broker's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }
}
