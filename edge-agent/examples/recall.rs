//! Face recall of each detector on labelled photos, to choose the door's default detector.
//!
//! For every photo in each subfolder of `--data`, and for every detector, counts whether at
//! least one face is found (a) in the photo as it is and (b) in the photo placed in a
//! 640×480 mid-grey frame, scaled so its longer side is 240 px, centred — closer to what a
//! door camera sees than a tight face crop. Times `detect` on the (b) frames (one thread,
//! CPU time), and each ONNX model alone.
//! Prints a Markdown table.
//!
//! ```sh
//! cargo run -p maskgate-edge-agent --example recall -- \
//!     --data ../shared/data/masks/test --models ../shared/models
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use image::imageops::FilterType;
use image::{Rgb, RgbImage};
use maskgate_edge_agent::detect::{
    Detector, Fit, SeetaDetector, UltraFaceDetector, YUNET_DEFAULT_THRESHOLD, YuNetDetector,
};
use maskgate_edge_agent::frames;

/// Face recall per folder and detect time per 640×480 frame, for each detector.
#[derive(Debug, Parser)]
struct Args {
    /// A folder of labelled photos, one subfolder per label.
    #[arg(long, default_value = "../shared/data/masks/test")]
    data: PathBuf,
    /// The folder of the third-party ONNX face detectors.
    #[arg(long, default_value = "../shared/models")]
    models: PathBuf,
    /// Only the detectors whose label contains this text (all when omitted).
    #[arg(long)]
    only: Option<String>,
    /// Measure YuNet with frames stretched to its square input instead of letterboxed.
    #[arg(long)]
    stretch: bool,
    /// YuNet's score threshold.
    #[arg(long, default_value_t = YUNET_DEFAULT_THRESHOLD)]
    yunet_threshold: f32,
}

/// The door-like frame: `photo` scaled so its longer side is 240 px, centred in 640×480 grey.
fn in_door_frame(photo: &RgbImage) -> RgbImage {
    let (w, h) = (photo.width().max(1) as f32, photo.height().max(1) as f32);
    let scale = 240.0 / w.max(h);
    let (sw, sh) = (
        ((w * scale).round() as u32).max(1),
        ((h * scale).round() as u32).max(1),
    );
    // Not generic, so optimised even in dev builds (see `detect::yunet::preprocess`).
    let small = image::DynamicImage::ImageRgb8(photo.clone())
        .resize_exact(sw, sh, FilterType::Triangle)
        .into_rgb8();
    let mut frame = RgbImage::from_pixel(640, 480, Rgb([128, 128, 128]));
    let (x, y) = ((640 - sw) / 2, (480 - sh) / 2);
    image::imageops::replace(&mut frame, &small, i64::from(x), i64::from(y));
    frame
}

/// Counts for one detector on one folder.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    photos: u64,
    found_as_is: u64,
    found_in_frame: u64,
}

fn percent(found: u64, of: u64) -> String {
    if of == 0 {
        return "–".into();
    }
    format!("{:.1} %", 100.0 * found as f64 / of as f64)
}

/// A detector to measure: its label, its ONNX file (none for SeetaFace) and the detector.
type Candidate = (String, Option<PathBuf>, Box<dyn Detector>);

fn detectors(args: &Args) -> anyhow::Result<Vec<Candidate>> {
    let fit = if args.stretch {
        Fit::Stretch
    } else {
        Fit::Letterbox
    };
    let model = |name: &str| args.models.join(name);
    let yunet = |name: &str| -> anyhow::Result<Box<dyn Detector>> {
        Ok(Box::new(
            YuNetDetector::load(&model(name), args.yunet_threshold)?.with_fit(fit),
        ))
    };
    type Make<'a> = Box<dyn Fn() -> anyhow::Result<Box<dyn Detector>> + 'a>;
    let all: Vec<(String, Option<&str>, Make<'_>)> = vec![
        (
            "SeetaFace frontal (embedded, min face 40)".into(),
            None,
            Box::new(|| Ok(Box::new(SeetaDetector::new(40)?) as Box<dyn Detector>)),
        ),
        (
            "UltraFace RFB-320 (threshold 0.7)".into(),
            Some("ultraface-rfb-320.onnx"),
            Box::new(move || {
                Ok(Box::new(UltraFaceDetector::load(
                    &model("ultraface-rfb-320.onnx"),
                    0.7,
                )?) as Box<dyn Detector>)
            }),
        ),
        (
            "UltraFace RFB-640 (threshold 0.7)".into(),
            Some("ultraface-rfb-640.onnx"),
            Box::new(move || {
                Ok(Box::new(UltraFaceDetector::load(
                    &model("ultraface-rfb-640.onnx"),
                    0.7,
                )?) as Box<dyn Detector>)
            }),
        ),
        (
            format!("YuNet-320 (threshold {})", args.yunet_threshold),
            Some("yunet-s-320.onnx"),
            Box::new(move || yunet("yunet-s-320.onnx")),
        ),
        (
            format!("YuNet-640 (threshold {})", args.yunet_threshold),
            Some("yunet-s-640.onnx"),
            Box::new(move || yunet("yunet-s-640.onnx")),
        ),
    ];
    all.into_iter()
        .filter(|(label, _, _)| {
            args.only
                .as_ref()
                .is_none_or(|o| label.contains(o.as_str()))
        })
        .map(|(label, file, make)| {
            let detector = make().with_context(|| label.clone())?;
            Ok((label, file.map(model), detector))
        })
        .collect()
}

/// The CPU time this thread has run so far (Linux `schedstat`), so that other work on the
/// machine does not inflate the timings; `None` elsewhere.
fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// A stopwatch on this thread's CPU time, or on the wall clock where that is not available.
struct Stopwatch {
    wall: Instant,
    cpu: Option<Duration>,
}

impl Stopwatch {
    fn start() -> Self {
        Self {
            wall: Instant::now(),
            cpu: thread_cpu_time(),
        }
    }

    fn elapsed(&self) -> Duration {
        match (self.cpu, thread_cpu_time()) {
            (Some(start), Some(now)) => now.saturating_sub(start),
            _ => self.wall.elapsed(),
        }
    }
}

/// The mean time of the model alone (tract, whole graph, zero input of the model's own
/// shape), in ms: what a release build would spend, preprocessing aside.
fn model_run_ms(path: &Path, runs: u32) -> anyhow::Result<f64> {
    use tract_onnx::prelude::*;
    let model = tract_onnx::onnx()
        .model_for_path(path)?
        .into_optimized()?
        .into_runnable()?;
    let shape: Vec<usize> = model
        .model()
        .input_fact(0)?
        .shape
        .as_concrete()
        .context("the model's input shape is not fixed")?
        .to_vec();
    let input = Tensor::zero::<f32>(&shape)?;
    model.run(tvec!(input.clone().into()))?;
    let watch = Stopwatch::start();
    for _ in 0..runs {
        model.run(tvec!(input.clone().into()))?;
    }
    Ok(watch.elapsed().as_secs_f64() * 1000.0 / f64::from(runs.max(1)))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let files = frames::list_files(&args.data)
        .with_context(|| format!("cannot list {}", args.data.display()))?;
    // Decode once: (folder, photo, the photo in a door frame).
    let mut photos: Vec<(String, RgbImage, RgbImage)> = Vec::new();
    let mut unreadable = 0;
    for file in &files {
        let folder = file
            .strip_prefix(&args.data)
            .unwrap_or(file)
            .parent()
            .unwrap_or(Path::new(""))
            .display()
            .to_string();
        match frames::read(file) {
            Ok(photo) => {
                let framed = in_door_frame(&photo);
                photos.push((folder, photo, framed));
            }
            Err(e) => {
                unreadable += 1;
                eprintln!("skipped: {e}");
            }
        }
    }
    eprintln!("{} photos, {unreadable} unreadable", photos.len());
    let folders: Vec<String> = photos
        .iter()
        .map(|(f, _, _)| f.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();

    let mut header = String::from("| detector |");
    let mut rule = String::from("|---|");
    for folder in &folders {
        let n = photos.iter().filter(|(f, _, _)| f == folder).count();
        header.push_str(&format!(" {folder} ({n}) as is | {folder} in 640×480 |"));
        rule.push_str("---|---|");
    }
    header.push_str(" ms per 640×480 frame (dev build) | ms of which the model alone |");
    rule.push_str("---|---|");
    let mut rows = Vec::new();

    for (label, model, mut detector) in detectors(&args)? {
        let mut counts: BTreeMap<&str, Counts> = BTreeMap::new();
        let mut spent = Duration::ZERO;
        for (folder, photo, framed) in &photos {
            let c = counts.entry(folder.as_str()).or_default();
            c.photos += 1;
            if !detector.detect(photo)?.is_empty() {
                c.found_as_is += 1;
            }
            let watch = Stopwatch::start();
            let found = detector.detect(framed)?;
            spent += watch.elapsed();
            if !found.is_empty() {
                c.found_in_frame += 1;
            }
        }
        let mut row = format!("| {label} |");
        for folder in &folders {
            let c = counts.get(folder.as_str()).copied().unwrap_or_default();
            row.push_str(&format!(
                " {} | {} |",
                percent(c.found_as_is, c.photos),
                percent(c.found_in_frame, c.photos)
            ));
        }
        let ms = spent.as_secs_f64() * 1000.0 / photos.len().max(1) as f64;
        let model_ms = match &model {
            Some(path) => format!("{:.1}", model_run_ms(path, 20)?),
            None => "–".into(),
        };
        row.push_str(&format!(" {ms:.1} | {model_ms} |"));
        eprintln!("{row}");
        rows.push(row);
    }
    println!("{header}\n{rule}");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}
