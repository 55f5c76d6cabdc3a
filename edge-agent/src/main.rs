//! `edge-agent`: the program at the door.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use maskgate_edge_agent::agent::{self, Until};
use maskgate_edge_agent::classify::Classifier;
use maskgate_edge_agent::config::{DetectorConfig, DetectorKind, EdgeConfig};
use maskgate_edge_agent::detect::Detector;
use maskgate_edge_agent::{frames, pipeline};

/// The MaskGate door agent.
#[derive(Debug, Parser)]
#[command(name = "edge-agent", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the door: capture, decide, act, queue and upload, until SIGINT/SIGTERM.
    Run(RunArgs),
    /// Measure the pipeline's per-stage latency (decode, detect, classify, total) on frames.
    Bench(BenchArgs),
    /// Detect and classify faces in still images; prints one JSON line per image.
    Classify(ClassifyArgs),
    /// Cut the faces the door's detector finds out of labelled photos, for training, and
    /// report per folder how many photos had a face (the detector's recall).
    Crops(CropsArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The door's settings (see examples/edge.toml); without it, the defaults.
    #[arg(long, env = "EDGE_AGENT_CONFIG")]
    config: Option<PathBuf>,
    /// Exit once a finite source (a folder) has ended and every visit is uploaded.
    #[arg(long)]
    until_drained: bool,
}

#[derive(Debug, clap::Args)]
struct BenchArgs {
    /// Frame files or folders (such as 640×480 camera frames with one face).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The classifier: its manifest (.json) or model (.onnx, manifest beside it).
    #[arg(
        long,
        env = "EDGE_AGENT_MODEL",
        default_value = "models/maskgate-cnn-v1.json"
    )]
    model: PathBuf,
    /// The face detector.
    #[arg(long, value_enum, default_value_t = DetectorKind::Seetaface)]
    detector: DetectorKind,
    /// The detector's model file (ONNX detectors).
    #[arg(long)]
    detector_model: Option<PathBuf>,
    /// Passes over the frames (after one warm-up pass).
    #[arg(long, default_value_t = 5)]
    repeat: u32,
}

#[derive(Debug, clap::Args)]
struct CropsArgs {
    /// A folder of labelled photos (such as `with_mask/` and `without_mask/` inside).
    input: PathBuf,
    /// Where to write the crops (the same subfolders); omit to only measure recall.
    #[arg(long)]
    output: Option<PathBuf>,
    /// The face detector.
    #[arg(long, value_enum, default_value_t = DetectorKind::Seetaface)]
    detector: DetectorKind,
    /// The UltraFace model file (for `--detector ultraface`).
    #[arg(long)]
    detector_model: Option<PathBuf>,
    /// Widen each face box by this fraction of its longer side on every side.
    #[arg(long, default_value_t = 0.15)]
    margin: f32,
    /// Resize crops to this square size (0 keeps the crop's own size).
    #[arg(long, default_value_t = 0)]
    size: u32,
}

#[derive(Debug, clap::Args)]
struct ClassifyArgs {
    /// Images or folders of images.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The classifier: its manifest (.json) or model (.onnx, manifest beside it).
    #[arg(
        long,
        env = "EDGE_AGENT_MODEL",
        default_value = "models/maskgate-cnn-v1.json"
    )]
    model: PathBuf,
    /// The face detector.
    #[arg(long, value_enum, default_value_t = DetectorKind::Seetaface)]
    detector: DetectorKind,
    /// The UltraFace model file (for `--detector ultraface`).
    #[arg(long)]
    detector_model: Option<PathBuf>,
    /// Mask probability at or above which a face counts as masked.
    #[arg(long, default_value_t = 0.5)]
    threshold: f32,
}

fn make_detector(kind: DetectorKind, model: Option<&PathBuf>) -> anyhow::Result<Box<dyn Detector>> {
    if kind != DetectorKind::Seetaface && model.is_none() {
        anyhow::bail!("this --detector needs --detector-model PATH");
    }
    Ok(agent::make_detector(&DetectorConfig {
        kind,
        model: model.cloned(),
        ..DetectorConfig::default()
    })?)
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(path) => EdgeConfig::load(path)?,
        None => {
            let config = EdgeConfig::default();
            config.validate()?;
            config
        }
    };
    let token = match agent::device_token(&config) {
        Ok(token) => token,
        // A door on MQTT without model updates never talks to the server's HTTP API.
        Err(agent::AgentError::NoToken) if !config.needs_device_token() => String::new(),
        Err(e) => return Err(e.into()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        });
        let until = if args.until_drained {
            Until::Drained
        } else {
            Until::Stopped
        };
        agent::run(config, token, until, stop_rx).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

fn classify(args: ClassifyArgs) -> anyhow::Result<ExitCode> {
    let classifier = Classifier::load(&args.model)?;
    let mut detector = make_detector(args.detector, args.detector_model.as_ref())?;
    let mut out = std::io::stdout().lock();
    let (mut processed, mut failed) = (0u64, 0u64);
    for root in &args.paths {
        let files = match frames::list_files(root) {
            Ok(files) => files,
            Err(e) => {
                failed += 1;
                let line = serde_json::json!({"image": root, "error": e.to_string()});
                writeln!(out, "{line}")?;
                continue;
            }
        };
        for file in files {
            let line = match frames::read(&file)
                .map_err(anyhow::Error::from)
                .and_then(|frame| Ok(pipeline::look(detector.as_mut(), &classifier, &frame)?))
            {
                Ok(observations) => {
                    processed += 1;
                    serde_json::json!({
                        "image": file,
                        "faces": pipeline::classified(&observations, args.threshold),
                    })
                }
                Err(e) => {
                    failed += 1;
                    serde_json::json!({"image": file, "error": format!("{e:#}")})
                }
            };
            writeln!(out, "{line}")?;
        }
    }
    eprintln!("{processed} images classified, {failed} could not be read");
    Ok(if processed == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let classifier = Classifier::load(&args.model)?;
    let mut detector = make_detector(args.detector, args.detector_model.as_ref())?;
    let mut files = Vec::new();
    for path in &args.paths {
        files.extend(
            frames::list_files(path).with_context(|| format!("cannot list {}", path.display()))?,
        );
    }
    eprintln!(
        "measuring {} frames × {} passes on one thread…",
        files.len(),
        args.repeat
    );
    let report =
        maskgate_edge_agent::benchmark::run(&files, detector.as_mut(), &classifier, args.repeat)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

fn crops(args: CropsArgs) -> anyhow::Result<ExitCode> {
    use std::collections::BTreeMap;
    let mut detector = make_detector(args.detector, args.detector_model.as_ref())?;
    let files = frames::list_files(&args.input)
        .with_context(|| format!("cannot list {}", args.input.display()))?;
    // folder -> (images, images with a face, unreadable)
    let mut counts: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    for file in &files {
        let relative = file.strip_prefix(&args.input).unwrap_or(file);
        let folder = relative
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let entry = counts.entry(folder).or_default();
        let frame = match frames::read(file) {
            Ok(frame) => frame,
            Err(e) => {
                entry.2 += 1;
                eprintln!("skipped: {e}");
                continue;
            }
        };
        entry.0 += 1;
        let faces = detector.detect(&frame)?;
        // The largest face is the person at the door.
        let Some(face) = faces
            .iter()
            .max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area()))
        else {
            continue;
        };
        entry.1 += 1;
        if let Some(out) = &args.output {
            let rect = maskgate_edge_agent::crop::crop_rect(
                &face.bbox,
                args.margin,
                frame.width(),
                frame.height(),
            );
            let crop = if args.size > 0 {
                maskgate_edge_agent::crop::crop_face(&frame, rect, args.size)
            } else {
                image::imageops::crop_imm(&frame, rect.x, rect.y, rect.width, rect.height)
                    .to_image()
            };
            let target = out.join(relative).with_extension("png");
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            crop.save(&target)
                .with_context(|| format!("cannot write {}", target.display()))?;
        }
    }
    for (folder, (images, found, unreadable)) in &counts {
        let recall = if *images > 0 {
            *found as f64 / *images as f64
        } else {
            0.0
        };
        println!(
            "{}",
            serde_json::json!({
                "detector": detector.name(),
                "folder": folder,
                "images": images,
                "with_face": found,
                "recall": (recall * 10_000.0).round() / 10_000.0,
                "unreadable": unreadable,
            })
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match Cli::parse().command {
        Command::Run(args) => run(args),
        Command::Bench(args) => bench(args),
        Command::Classify(args) => classify(args),
        Command::Crops(args) => crops(args),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::FAILURE
    })
}
