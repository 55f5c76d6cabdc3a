//! One frame through the door's eyes: detect faces, classify each crop.

use image::RgbImage;
use serde::Serialize;

use crate::classify::{Classifier, ClassifyError, FaceClassifier};
use crate::decide::{BBox, Observation};
use crate::detect::{DetectError, Detector};

/// Errors of looking at a frame.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Face detection failed.
    #[error(transparent)]
    Detect(#[from] DetectError),
    /// Classification failed.
    #[error(transparent)]
    Classify(#[from] ClassifyError),
}

/// One classified face, as `edge-agent classify` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassifiedFace {
    /// `[x1, y1, x2, y2]` in pixels of the original image.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// Whether the face wears a mask (score at or above the threshold).
    pub mask: bool,
    /// The probability of a mask.
    pub score: f32,
}

/// Detects and classifies the faces of one frame.
pub fn look(
    detector: &mut dyn Detector,
    classifier: &Classifier,
    frame: &RgbImage,
) -> Result<Vec<Observation>, PipelineError> {
    detector
        .detect(frame)?
        .iter()
        .map(|face| {
            Ok(Observation {
                bbox: face.bbox,
                mask_score: classifier.mask_probability(frame, &face.bbox)?,
            })
        })
        .collect()
}

/// The observations as printed faces, with `threshold` deciding `mask`.
pub fn classified(observations: &[Observation], threshold: f32) -> Vec<ClassifiedFace> {
    observations
        .iter()
        .map(|o| {
            let BBox { x1, y1, x2, y2 } = o.bbox;
            ClassifiedFace {
                bbox: [x1.round(), y1.round(), x2.round(), y2.round()],
                mask: o.mask_score >= threshold,
                score: (o.mask_score * 10_000.0).round() / 10_000.0,
            }
        })
        .collect()
}
