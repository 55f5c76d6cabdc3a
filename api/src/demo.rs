//! `maskgate demo`: the whole system on one machine in one command — the server on a fresh
//! SQLite file, an admin login (printed), and a simulated door: the real edge agent, its
//! real detector and classifier, looking at a folder of real photos at a door's pace.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use clap::Args;
use maskgate_api_types::Role;
use rand::Rng;
use rand::distributions::Alphanumeric;

use crate::cli::ServeArgs;
use crate::clock::{Clock, SystemClock};
use crate::credentials::{DEVICE_TOKEN_PREFIX, hash_password, new_token, token_hash};
use crate::db;

/// Flags of `maskgate demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Folder for the demo's database, door settings, queue and logs; emptied first.
    #[arg(long, default_value = "data/demo")]
    pub dir: PathBuf,
    /// Face photos the simulated door's camera shows, one person each.
    #[arg(long, default_value = "../shared/data/masks/test")]
    pub photos: PathBuf,
    /// The mask classifier's manifest.
    #[arg(long, default_value = "models/maskgate-cnn-v1.json")]
    pub model: PathBuf,
    /// The edge agent binary; default: `edge-agent` beside this binary.
    #[arg(long)]
    pub agent: Option<PathBuf>,
    /// Seconds between two people at the door.
    #[arg(long, default_value_t = 3.0)]
    pub every_s: f64,
    /// Do not open the dashboard in a browser.
    #[arg(long)]
    pub no_open: bool,
    /// The server's flags (address, time zone, …).
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Runs the demo until Ctrl-C.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let photos = existing(
        &args.photos,
        "--photos",
        "a folder of face photos (JPEG or PNG)",
    )?;
    let model = existing(
        &args.model,
        "--model",
        "the classifier manifest shipped in models/",
    )?;
    let agent = match &args.agent {
        Some(path) => existing(path, "--agent", "the edge-agent binary")?,
        None => beside_this_binary("edge-agent").context(
            "no edge-agent beside this binary: build both with \
             `cargo build --release -p maskgate-api -p maskgate-edge-agent`, or pass --agent",
        )?,
    };
    if !(0.5..=3600.0).contains(&args.every_s) {
        bail!(
            "--every-s must be 0.5 to 3600 seconds, not {}",
            args.every_s
        );
    }
    fresh_folder(&args.dir)?;
    let dir = std::fs::canonicalize(&args.dir)?;
    let url = format!("sqlite://{}", dir.join("maskgate.db").display());
    let store = db::connect(&url)
        .await
        .context("cannot create the demo database")?;

    let password: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(16)
        .map(char::from)
        .collect();
    store
        .create_user(
            "admin",
            &hash_password(&password)?,
            Role::Admin,
            SystemClock.now(),
        )
        .await?;
    let token = new_token(DEVICE_TOKEN_PREFIX);
    store
        .create_device("demo-door", &token_hash(token.expose()), SystemClock.now())
        .await?;

    let listener = tokio::net::TcpListener::bind(args.serve.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.serve.bind))?;
    let address = listener.local_addr()?;
    let config = dir.join("door.toml");
    std::fs::write(dir.join("device-token"), token.expose())?;
    std::fs::write(
        &config,
        door_config(address.port(), &photos, &model, args.every_s),
    )?;
    let log = std::fs::File::create(dir.join("door.log"))?;
    let mut door = tokio::process::Command::new(&agent)
        .arg("run")
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", agent.display()))?;

    let dashboard = format!("http://{address}/");
    println!();
    println!("  MaskGate demo");
    println!("  dashboard  {dashboard}");
    println!("  login      admin / {password}");
    println!("  door       demo-door, watching {}", photos.display());
    println!("  files      {} (door log: door.log)", dir.display());
    println!("  stop       Ctrl-C");
    println!();
    if !args.no_open {
        open_browser(&dashboard);
    }
    let served = crate::cli::serve_on(store, &url, args.serve, listener).await;
    let _ = door.start_kill();
    let _ = door.wait().await;
    served
}

fn existing(path: &Path, flag: &str, what: &str) -> anyhow::Result<PathBuf> {
    std::fs::canonicalize(path)
        .with_context(|| format!("{flag} {}: not found; pass {what}", path.display()))
}

fn beside_this_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::current_exe().ok()?.with_file_name(name);
    path.is_file().then_some(path)
}

/// Empties the demo folder (only files the demo writes), so every run starts fresh.
fn fresh_folder(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for name in [
        "maskgate.db",
        "maskgate.db-wal",
        "maskgate.db-shm",
        "queue.db",
        "queue.db-wal",
        "queue.db-shm",
        "door.toml",
        "door.log",
        "device-token",
    ] {
        let path = dir.join(name);
        if path.exists() {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    let models = dir.join("models");
    if models.exists() {
        std::fs::remove_dir_all(&models)?;
    }
    Ok(())
}

/// The simulated door: each photo is shown for a second, then an empty doorway until the
/// next person, `every_s` seconds later.
fn door_config(port: u16, photos: &Path, model: &Path, every_s: f64) -> String {
    let fps = 5.0;
    let hold = 5;
    let gap = ((every_s * fps).round() as i64 - hold).max(3);
    format!(
        r#"# Written by `maskgate demo`.
[server]
url = "http://127.0.0.1:{port}"
token_file = "device-token"
max_backoff_s = 5

[camera]
source = "folder"
path = {photos:?}
fps = {fps}
hold_frames = {hold}
gap_frames = {gap}
repeat = true

[classifier]
model = {model:?}

[decision]
window = 5
needed = 3
max_missed = 2

[queue]
path = "queue.db"

[heartbeat]
interval_s = 10

[model_update]
dir = "models"
poll_s = 10
"#,
        photos = photos.display().to_string(),
        model = model.display().to_string(),
    )
}

fn open_browser(url: &str) {
    let graphical =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if graphical {
        // Best effort: the URL is printed either way.
        let _ = std::process::Command::new("xdg-open")
            .arg(url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }
}
