//! Mask / no-mask classification of the faces in a frame.
//!
//! The model and its manifest live in the shared `maskgate-model` crate (the server loads
//! uploaded models with the same code); this module adds what only the door does: cutting
//! a face out of a frame by the manifest's crop rule.

use image::RgbImage;
pub use maskgate_model::{
    Classifier, ClassifyError, CropSpec, DecisionSpec, InputSpec, Manifest, Preprocess, SelfTest,
    manifest_path, sha256_hex,
};

use crate::crop::{CropRect, crop_face, crop_rect};
use crate::decide::BBox;

/// What the door asks of a classifier beyond the model itself.
pub trait FaceClassifier {
    /// The crop of a face, by the model's crop rule.
    fn crop_rect(&self, face: &BBox, frame_width: u32, frame_height: u32) -> CropRect;

    /// The probability that the face in `face` of `frame` wears a mask.
    fn mask_probability(&self, frame: &RgbImage, face: &BBox) -> Result<f32, ClassifyError>;
}

impl FaceClassifier for Classifier {
    fn crop_rect(&self, face: &BBox, frame_width: u32, frame_height: u32) -> CropRect {
        crop_rect(face, self.manifest().crop.margin, frame_width, frame_height)
    }

    fn mask_probability(&self, frame: &RgbImage, face: &BBox) -> Result<f32, ClassifyError> {
        let rect = self.crop_rect(face, frame.width(), frame.height());
        let crop = crop_face(frame, rect, self.manifest().input.size);
        Ok(self.mask_score(&self.scores(&crop)?))
    }
}
