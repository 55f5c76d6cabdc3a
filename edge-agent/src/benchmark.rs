//! `edge-agent bench`: per-stage latency of the door's pipeline on a set of frames — decode,
//! detect, classify (all faces of a frame), total — on the calling thread.

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use crate::classify::{Classifier, FaceClassifier};
use crate::detect::Detector;
use crate::frames;

/// Median and 95th percentile of one stage, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StageTimes {
    /// The median.
    pub median_ms: f64,
    /// The 95th percentile (nearest rank).
    pub p95_ms: f64,
}

impl StageTimes {
    /// The median and p95 of `samples` (milliseconds).
    pub fn of(samples: &mut [f64]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            let i = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            samples[i - 1]
        };
        let round = |v: f64| (v * 1000.0).round() / 1000.0;
        Self {
            median_ms: round(rank(0.5)),
            p95_ms: round(rank(0.95)),
        }
    }
}

/// The result of a benchmark run.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// The detector's name.
    pub detector: String,
    /// The classifier, `name@version`.
    pub model: String,
    /// Frames measured (each `repeat` times).
    pub frames: usize,
    /// Passes over the frames.
    pub repeat: u32,
    /// Faces found per pass.
    pub faces: usize,
    /// Reading and decoding a frame file.
    pub decode: StageTimes,
    /// Face detection on a frame.
    pub detect: StageTimes,
    /// Classifying every face of a frame.
    pub classify: StageTimes,
    /// Classifying one face (crop + resize + model).
    pub classify_per_face: StageTimes,
    /// The three stages together.
    pub total: StageTimes,
    /// The detector's model run alone (where the detector can tell it apart).
    pub detector_model_run: Option<StageTimes>,
    /// The classifier on a ready crop (normalisation + model run), per face.
    pub classifier_model_run: StageTimes,
}

/// Errors of a benchmark run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A frame could not be read.
    #[error(transparent)]
    Frame(#[from] frames::FrameError),
    /// The pipeline failed.
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
    /// There was nothing to measure.
    #[error("no frames to measure")]
    Empty,
}

/// Runs every frame through decode, detect and classify `repeat` times, after one warm-up
/// pass that is not counted.
pub fn run(
    files: &[PathBuf],
    detector: &mut dyn Detector,
    classifier: &Classifier,
    repeat: u32,
) -> Result<BenchReport, BenchError> {
    if files.is_empty() {
        return Err(BenchError::Empty);
    }
    let (mut decode, mut detect, mut classify, mut per_face, mut total) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut detector_run, mut classifier_run) = (Vec::new(), Vec::new());
    let mut faces_per_pass = 0;
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;
    for pass in 0..=repeat.max(1) {
        let mut faces_found = 0;
        for file in files {
            let t0 = Instant::now();
            let frame = frames::read(file)?;
            let t_decode = ms(t0);
            let t1 = Instant::now();
            let faces = detector
                .detect(&frame)
                .map_err(crate::pipeline::PipelineError::from)?;
            let t_detect = ms(t1);
            if pass > 0
                && let Some(run) = detector.last_model_run()
            {
                detector_run.push(run.as_secs_f64() * 1000.0);
            }
            let t2 = Instant::now();
            for face in &faces {
                let t = Instant::now();
                classifier
                    .mask_probability(&frame, &face.bbox)
                    .map_err(crate::pipeline::PipelineError::from)?;
                if pass > 0 {
                    per_face.push(ms(t));
                }
            }
            let t_classify = ms(t2);
            if pass > 0 {
                for face in &faces {
                    let rect = classifier.crop_rect(&face.bbox, frame.width(), frame.height());
                    let crop =
                        crate::crop::crop_face(&frame, rect, classifier.manifest().input.size);
                    let t = Instant::now();
                    classifier
                        .scores(&crop)
                        .map_err(crate::pipeline::PipelineError::from)?;
                    classifier_run.push(ms(t));
                }
            }
            faces_found += faces.len();
            if pass > 0 {
                decode.push(t_decode);
                detect.push(t_detect);
                classify.push(t_classify);
                total.push(t_decode + t_detect + t_classify);
            }
        }
        faces_per_pass = faces_found;
    }
    Ok(BenchReport {
        detector: detector.name().to_string(),
        model: classifier.model_id(),
        frames: files.len(),
        repeat: repeat.max(1),
        faces: faces_per_pass,
        decode: StageTimes::of(&mut decode),
        detect: StageTimes::of(&mut detect),
        classify: StageTimes::of(&mut classify),
        classify_per_face: StageTimes::of(&mut per_face),
        total: StageTimes::of(&mut total),
        detector_model_run: (!detector_run.is_empty()).then(|| StageTimes::of(&mut detector_run)),
        classifier_model_run: StageTimes::of(&mut classifier_run),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p95_by_nearest_rank() {
        let mut samples: Vec<f64> = (1..=100).map(f64::from).collect();
        samples.reverse();
        let t = StageTimes::of(&mut samples);
        assert_eq!(t.median_ms, 50.0);
        assert_eq!(t.p95_ms, 95.0);
        assert_eq!(StageTimes::of(&mut []), StageTimes::default());
    }
}
