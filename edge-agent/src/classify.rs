//! Mask / no-mask classification of face crops with an ONNX model run by tract.
//!
//! Everything about the model's input and output comes from its manifest, a JSON file next
//! to the `.onnx` (same stem): input size, colour order, scaling, mean and std, labels, the
//! crop rule and the file's SHA-256. Nothing about the model is a constant in code.

use std::path::{Path, PathBuf};

use image::RgbImage;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tract_onnx::prelude::*;

use crate::crop::{CropRect, crop_face, crop_rect};
use crate::decide::BBox;

/// The manifest of a classifier model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The model's name, such as `maskgate-cnn`.
    pub name: String,
    /// Its version, such as `1.0.0`.
    pub version: String,
    /// The ONNX file, relative to the manifest.
    pub file: String,
    /// SHA-256 of the ONNX file, lowercase hex.
    pub sha256: String,
    /// What the model takes.
    pub input: InputSpec,
    /// What the model gives.
    pub output: OutputSpec,
    /// How faces are cut out of frames.
    pub crop: CropSpec,
    /// Anything else the training wrote (metrics, dates); not used here.
    #[serde(default)]
    pub info: serde_json::Value,
}

/// The model's input.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Side of the square input in pixels.
    pub size: u32,
    /// Channel order: `RGB` or `BGR`.
    pub colour: String,
    /// Pixels are divided by this first (255 for 0..1).
    pub scale: f32,
    /// Per-channel mean subtracted after scaling.
    pub mean: [f32; 3],
    /// Per-channel std divided by after subtracting the mean.
    pub std: [f32; 3],
}

/// The model's output: one score per label.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// The labels, in output order.
    pub labels: Vec<String>,
    /// The labels that mean "wears a mask properly" (a pass); all others fail.
    pub mask_labels: Vec<String>,
    /// Whether the outputs are probabilities already (softmax in the graph).
    pub probabilities: bool,
}

/// The crop rule.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CropSpec {
    /// Each side of the face box is widened by this fraction of the box's longer side.
    pub margin: f32,
}

/// Errors of loading or running a classifier.
#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    /// The manifest is missing or malformed.
    #[error("model manifest {path}: {reason}")]
    Manifest {
        /// The manifest's path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The model file is missing, corrupt, or does not match its manifest.
    #[error("model {path}: {reason}")]
    Model {
        /// The model's path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Running the model failed.
    #[error("classification failed: {0}")]
    Inference(String),
}

/// A loaded classifier, ready to run.
pub struct Classifier {
    manifest: Manifest,
    plan: Arc<TypedRunnableModel>,
    mask_index: Vec<usize>,
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("model", &self.model_id())
            .finish_non_exhaustive()
    }
}

/// The manifest path of a model: the same stem with `.json`.
pub fn manifest_path(model: &Path) -> PathBuf {
    model.with_extension("json")
}

impl Classifier {
    /// Loads a model from its manifest (or from the `.onnx`, finding the manifest beside
    /// it), checks the file's SHA-256 and that the model's shapes fit the manifest.
    pub fn load(path: &Path) -> Result<Self, ClassifyError> {
        let manifest_file = if path.extension().is_some_and(|e| e == "onnx") {
            manifest_path(path)
        } else {
            path.to_path_buf()
        };
        let bad_manifest = |reason: String| ClassifyError::Manifest {
            path: manifest_file.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(&manifest_file)
            .map_err(|e| bad_manifest(format!("cannot read: {e}")))?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| bad_manifest(e.to_string()))?;
        let mask_index: Vec<usize> = manifest
            .output
            .mask_labels
            .iter()
            .map(|l| {
                manifest
                    .output
                    .labels
                    .iter()
                    .position(|x| x == l)
                    .ok_or_else(|| bad_manifest(format!("mask label `{l}` is not a label")))
            })
            .collect::<Result<_, _>>()?;
        if mask_index.is_empty() || manifest.input.size == 0 || manifest.input.scale == 0.0 {
            return Err(bad_manifest(
                "needs a mask label, a size and a scale".into(),
            ));
        }
        if !matches!(manifest.input.colour.as_str(), "RGB" | "BGR") {
            return Err(bad_manifest(format!(
                "colour must be RGB or BGR, not {}",
                manifest.input.colour
            )));
        }
        let model_file = manifest_file
            .parent()
            .unwrap_or(Path::new("."))
            .join(&manifest.file);
        let bad_model = |reason: String| ClassifyError::Model {
            path: model_file.display().to_string(),
            reason,
        };
        let bytes =
            std::fs::read(&model_file).map_err(|e| bad_model(format!("cannot read: {e}")))?;
        let digest = hex::encode(Sha256::digest(&bytes));
        if !digest.eq_ignore_ascii_case(&manifest.sha256) {
            return Err(bad_model(format!(
                "SHA-256 is {digest}, the manifest says {}",
                manifest.sha256
            )));
        }
        let size = manifest.input.size as usize;
        let plan = tract_onnx::onnx()
            .model_for_read(&mut bytes.as_slice())
            .and_then(|m| m.with_input_fact(0, f32::fact([1, 3, size, size]).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| bad_model(format!("cannot load as a {size}×{size} classifier: {e}")))?;
        let classifier = Self {
            manifest,
            plan,
            mask_index,
        };
        // A model whose output does not fit the labels is caught now, not at the door.
        let probe = RgbImage::new(
            classifier.manifest.input.size,
            classifier.manifest.input.size,
        );
        let scores = classifier
            .scores(&probe)
            .map_err(|e| bad_model(e.to_string()))?;
        if scores.len() != classifier.manifest.output.labels.len() {
            return Err(bad_model(format!(
                "gives {} outputs for {} labels",
                scores.len(),
                classifier.manifest.output.labels.len()
            )));
        }
        Ok(classifier)
    }

    /// The model's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// `name@version`, as visits report it.
    pub fn model_id(&self) -> String {
        format!("{}@{}", self.manifest.name, self.manifest.version)
    }

    /// The crop of a face, by the model's crop rule.
    pub fn crop_rect(&self, face: &BBox, frame_width: u32, frame_height: u32) -> CropRect {
        crop_rect(face, self.manifest.crop.margin, frame_width, frame_height)
    }

    /// The probability that the face in `face` of `frame` wears a mask.
    pub fn mask_probability(&self, frame: &RgbImage, face: &BBox) -> Result<f32, ClassifyError> {
        let rect = self.crop_rect(face, frame.width(), frame.height());
        let crop = crop_face(frame, rect, self.manifest.input.size);
        let scores = self.scores(&crop)?;
        Ok(self
            .mask_index
            .iter()
            .map(|&i| scores[i])
            .sum::<f32>()
            .clamp(0.0, 1.0))
    }

    /// The model's per-label probabilities for an already cropped, sized face.
    pub fn scores(&self, crop: &RgbImage) -> Result<Vec<f32>, ClassifyError> {
        let input = &self.manifest.input;
        let side = input.size as usize;
        let order: [usize; 3] = if input.colour == "BGR" {
            [2, 1, 0]
        } else {
            [0, 1, 2]
        };
        let mut data = vec![0f32; 3 * side * side];
        for (x, y, px) in crop.enumerate_pixels() {
            if x as usize >= side || y as usize >= side {
                continue;
            }
            for (c, &source) in order.iter().enumerate() {
                let v = f32::from(px[source]) / input.scale;
                data[c * side * side + y as usize * side + x as usize] =
                    (v - input.mean[c]) / input.std[c];
            }
        }
        let tensor: Tensor = tract_ndarray::Array4::from_shape_vec((1, 3, side, side), data)
            .map_err(|e| ClassifyError::Inference(e.to_string()))?
            .into();
        let outputs = self
            .plan
            .run(tvec!(tensor.into()))
            .map_err(|e| ClassifyError::Inference(e.to_string()))?;
        let raw: Vec<f32> = outputs
            .first()
            .ok_or_else(|| ClassifyError::Inference("the model gave no output".into()))?
            .to_plain_array_view::<f32>()
            .map_err(|e| ClassifyError::Inference(e.to_string()))?
            .iter()
            .copied()
            .collect();
        Ok(if self.manifest.output.probabilities {
            raw
        } else {
            softmax(&raw)
        })
    }
}

/// Softmax of logits.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let p = softmax(&[2.0, 0.0, -1.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[0] > p[1] && p[1] > p[2]);
    }

    #[test]
    fn a_missing_or_broken_manifest_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("mg-cls-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = Classifier::load(&dir.join("nothing.onnx")).unwrap_err();
        assert!(err.to_string().contains("nothing.json"), "{err}");
        std::fs::write(dir.join("m.json"), "{\"name\": 1}").unwrap();
        let err = Classifier::load(&dir.join("m.onnx")).unwrap_err();
        assert!(matches!(err, ClassifyError::Manifest { .. }), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
