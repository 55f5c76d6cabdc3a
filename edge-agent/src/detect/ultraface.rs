//! UltraFace RFB (Ultra-Light-Fast-Generic-Face-Detector) as ONNX, run with tract.
//!
//! Input 1×3×H×W RGB, `(px − 127) / 128`; outputs `scores` [1, N, 2] (background, face) and
//! `boxes` [1, N, 4] (x1, y1, x2, y2 in 0..1), already decoded.

use std::path::Path;

use image::RgbImage;
use tract_onnx::prelude::*;

use super::{DetectError, Detector, Face, non_max_suppression};
use crate::decide::BBox;

type Plan = Arc<TypedRunnableModel>;

/// The UltraFace detector.
pub struct UltraFaceDetector {
    plan: Plan,
    width: u32,
    height: u32,
    threshold: f32,
    last_run: Option<std::time::Duration>,
}

impl std::fmt::Debug for UltraFaceDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UltraFaceDetector")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

impl UltraFaceDetector {
    /// Loads an UltraFace model; its input size is read from the model (320×240 or
    /// 640×480). Faces below `threshold` confidence are dropped.
    pub fn load(path: &Path, threshold: f32) -> Result<Self, DetectError> {
        let fail = |reason: String| DetectError::Model {
            path: path.display().to_string(),
            reason,
        };
        let model = tract_onnx::onnx()
            .model_for_path(path)
            .map_err(|e| fail(format!("cannot load: {e}")))?;
        let fact = model
            .input_fact(0)
            .map_err(|e| fail(format!("no input: {e}")))?
            .clone();
        let shape: Vec<usize> = fact
            .shape
            .as_concrete_finite()
            .ok()
            .flatten()
            .map(|s| s.to_vec())
            .unwrap_or_default();
        let [1, 3, height, width] = shape[..] else {
            return Err(fail(format!(
                "expected an input of shape 1×3×H×W, found {shape:?}"
            )));
        };
        let plan = model
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(|e| fail(format!("cannot prepare: {e}")))?;
        Ok(Self {
            plan,
            width: width as u32,
            height: height as u32,
            threshold,
            last_run: None,
        })
    }
}

/// The model input for a frame: resized to the model's size, `(px − 127) / 128`, NCHW.
fn preprocess(frame: &RgbImage, width: u32, height: u32) -> Tensor {
    let resized = crate::frames::downscale(frame, width, height);
    let (w, h) = (width as usize, height as usize);
    let mut data = vec![0f32; 3 * w * h];
    for (x, y, px) in resized.enumerate_pixels() {
        for c in 0..3 {
            data[c * w * h + y as usize * w + x as usize] = (f32::from(px[c]) - 127.0) / 128.0;
        }
    }
    tract_ndarray::Array4::from_shape_vec((1, 3, h, w), data)
        .map(Tensor::from)
        .unwrap_or_else(|_| Tensor::zero::<f32>(&[1, 3, h, w]).unwrap_or_default())
}

/// Turns UltraFace outputs into faces in frame pixels: rows `[background, face]` scores and
/// `[x1, y1, x2, y2]` boxes in 0..1; keeps faces at or above `threshold`, then NMS.
pub fn decode_ultraface(
    scores: &[f32],
    boxes: &[f32],
    frame_width: u32,
    frame_height: u32,
    threshold: f32,
) -> Vec<Face> {
    let (fw, fh) = (frame_width as f32, frame_height as f32);
    let faces = scores
        .chunks_exact(2)
        .zip(boxes.chunks_exact(4))
        .filter(|(s, _)| s[1] >= threshold)
        .map(|(s, b)| Face {
            bbox: BBox::new(
                (b[0] * fw).clamp(0.0, fw),
                (b[1] * fh).clamp(0.0, fh),
                (b[2] * fw).clamp(0.0, fw),
                (b[3] * fh).clamp(0.0, fh),
            ),
            confidence: s[1],
        })
        .filter(|f| f.bbox.area() > 0.0)
        .collect();
    non_max_suppression(faces, 0.3)
}

impl Detector for UltraFaceDetector {
    fn name(&self) -> &'static str {
        "ultraface"
    }

    fn last_model_run(&self) -> Option<std::time::Duration> {
        self.last_run
    }

    fn detect(&mut self, frame: &RgbImage) -> Result<Vec<Face>, DetectError> {
        let input = preprocess(frame, self.width, self.height);
        let started = std::time::Instant::now();
        let outputs = self
            .plan
            .run(tvec!(input.into()))
            .map_err(|e| DetectError::Inference(e.to_string()))?;
        self.last_run = Some(started.elapsed());
        let view = |i: usize| -> Result<Vec<f32>, DetectError> {
            outputs
                .get(i)
                .ok_or_else(|| DetectError::Inference(format!("missing output {i}")))?
                .to_plain_array_view::<f32>()
                .map(|v| v.iter().copied().collect())
                .map_err(|e| DetectError::Inference(e.to_string()))
        };
        let (scores, boxes) = (view(0)?, view(1)?);
        if scores.len() / 2 != boxes.len() / 4 {
            return Err(DetectError::Inference(format!(
                "outputs disagree: {} scores, {} boxes",
                scores.len() / 2,
                boxes.len() / 4
            )));
        }
        Ok(decode_ultraface(
            &scores,
            &boxes,
            frame.width(),
            frame.height(),
            self.threshold,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_scales_boxes_to_the_frame_and_drops_weak_and_overlapping_ones() {
        let scores = [0.1, 0.9, 0.2, 0.8, 0.5, 0.5, 0.05, 0.95];
        let boxes = [
            0.1, 0.1, 0.3, 0.4, // face
            0.11, 0.1, 0.31, 0.4, // the same face, weaker
            0.5, 0.5, 0.6, 0.6, // below threshold
            0.6, 0.2, 0.8, 0.5, // another face
        ];
        let faces = decode_ultraface(&scores, &boxes, 640, 480, 0.7);
        assert_eq!(faces.len(), 2);
        assert_eq!(faces[0].confidence, 0.95);
        assert_eq!(faces[1].bbox, BBox::new(64.0, 48.0, 192.0, 192.0));
    }
}
