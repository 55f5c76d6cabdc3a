//! SeetaFace frontal face detection (`rustface`), with the model embedded in the binary.

use image::RgbImage;
use rustface::ImageData;

use super::{DetectError, Detector, Face};
use crate::decide::BBox;

static MODEL: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/seeta_fd_frontal_v1.0.bin"));

/// The SeetaFace detector.
pub struct SeetaDetector {
    inner: Box<dyn rustface::Detector>,
}

impl std::fmt::Debug for SeetaDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SeetaDetector")
    }
}

impl SeetaDetector {
    /// Loads the embedded model. `min_face` is the smallest face side in pixels (≥ 20).
    pub fn new(min_face: u32) -> Result<Self, DetectError> {
        let model = rustface::read_model(MODEL).map_err(|e| DetectError::Model {
            path: "embedded SeetaFace model".into(),
            reason: e.to_string(),
        })?;
        let mut inner = rustface::create_detector_with_model(model);
        inner.set_min_face_size(min_face.max(20));
        inner.set_score_thresh(2.0);
        inner.set_pyramid_scale_factor(0.8);
        inner.set_slide_window_step(4, 4);
        Ok(Self { inner })
    }
}

impl Detector for SeetaDetector {
    fn name(&self) -> &'static str {
        "seetaface"
    }

    fn detect(&mut self, frame: &RgbImage) -> Result<Vec<Face>, DetectError> {
        if frame.width() < 20 || frame.height() < 20 {
            return Ok(Vec::new());
        }
        let gray = image::imageops::grayscale(frame);
        let data = ImageData::new(gray.as_raw(), gray.width(), gray.height());
        // A bug in the third-party detector must cost one frame, not the door.
        let found =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.inner.detect(&data)))
                .map_err(|_| DetectError::Inference("the SeetaFace detector panicked".into()))?;
        let mut faces: Vec<Face> = found
            .into_iter()
            .map(|info| {
                let r = info.bbox();
                let (x, y) = (r.x() as f32, r.y() as f32);
                Face {
                    bbox: BBox::new(
                        x.max(0.0),
                        y.max(0.0),
                        (x + r.width() as f32).min(frame.width() as f32),
                        (y + r.height() as f32).min(frame.height() as f32),
                    ),
                    confidence: info.score() as f32,
                }
            })
            .collect();
        faces.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        Ok(faces)
    }
}
