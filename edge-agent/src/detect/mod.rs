//! Finding faces in a frame, behind one [`Detector`] trait with three backends:
//!
//! - [`SeetaDetector`]: SeetaFace frontal (the `rustface` crate), whose model is embedded in
//!   the binary, so a fresh machine needs nothing else;
//! - [`UltraFaceDetector`]: UltraFace RFB (ONNX, run with tract), whose model file is given
//!   by path;
//! - [`YuNetDetector`]: YuNet (ONNX, run with tract; OpenCV's face detector), whose model
//!   file is given by path.

mod seeta;
mod ultraface;
mod yunet;

use image::RgbImage;

pub use seeta::SeetaDetector;
pub use ultraface::{UltraFaceDetector, decode_ultraface};
pub use yunet::{
    Fit, YUNET_DEFAULT_THRESHOLD, YUNET_STRIDES, YuNetDetector, YuNetLevel, decode_yunet,
};

use crate::decide::{BBox, iou};

/// A face found in a frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Face {
    /// The box in pixels of the frame.
    pub bbox: BBox,
    /// The detector's confidence (its own scale; higher is surer).
    pub confidence: f32,
}

/// Errors of face detection.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The model could not be loaded or does not have the expected shape.
    #[error("face detector model {path}: {reason}")]
    Model {
        /// The model's path (or `embedded`).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Running the model failed.
    #[error("face detection failed: {0}")]
    Inference(String),
}

/// Finds faces in RGB frames. Not `Send`: a detector lives on the pipeline thread that
/// made it (the SeetaFace backend cannot move between threads).
pub trait Detector {
    /// A short name for logs and benchmarks.
    fn name(&self) -> &'static str;
    /// The faces in `frame`, best first.
    fn detect(&mut self, frame: &RgbImage) -> Result<Vec<Face>, DetectError>;
    /// How long the last [`Detector::detect`] spent in its model alone (no pre- or
    /// post-processing), for benchmarks against other runtimes; `None` if not separable.
    fn last_model_run(&self) -> Option<std::time::Duration> {
        None
    }
}

/// Non-maximum suppression: keeps the most confident of boxes that overlap more than
/// `max_iou`, most confident first.
pub fn non_max_suppression(mut faces: Vec<Face>, max_iou: f32) -> Vec<Face> {
    faces.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    let mut kept: Vec<Face> = Vec::new();
    for face in faces {
        if kept.iter().all(|k| iou(&k.bbox, &face.bbox) <= max_iou) {
            kept.push(face);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, confidence: f32) -> Face {
        Face {
            bbox: BBox::new(x, 0.0, x + 10.0, 10.0),
            confidence,
        }
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes_and_all_separate_ones() {
        let kept = non_max_suppression(vec![face(0.0, 0.8), face(1.0, 0.9), face(50.0, 0.7)], 0.3);
        assert_eq!(kept, vec![face(1.0, 0.9), face(50.0, 0.7)]);
    }
}
