//! The MaskGate mask classifier: its manifest and the ONNX model run by tract.
//!
//! Everything about the model's input and output comes from its manifest, a JSON file next
//! to the `.onnx` (same stem): input size, colour order, scaling, mean and std, labels, the
//! crop rule and the file's SHA-256. Nothing about the model is a constant in code. The door
//! runs it; the server loads it the same way to check an uploaded model before any door
//! downloads it.

use std::path::{Path, PathBuf};

use image::RgbImage;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tract_onnx::prelude::*;

/// The manifest of a classifier model (written by `train/`; extra fields are documentation).
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
    /// How pixels become the model's input values.
    pub preprocess: Preprocess,
    /// The labels, in output order.
    pub labels: Vec<String>,
    /// The output index of "wears a mask properly"; its probability is the mask score.
    pub mask_index: usize,
    /// The mask score at or above which a face passes.
    pub decision: DecisionSpec,
    /// How faces are cut out of frames.
    pub crop: CropSpec,
    /// An input and the output the model must give for it (checked on load).
    pub self_test: Option<SelfTest>,
}

/// The model's input.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InputSpec {
    /// Side of the square input in pixels.
    pub size: u32,
    /// Channel order: `RGB` or `BGR`.
    pub color_order: String,
}

/// `x = (pixel × pixel_scale − mean) / std` per channel.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Preprocess {
    /// Pixels are multiplied by this first (1/255 for 0..1).
    pub pixel_scale: f32,
    /// Per-channel mean.
    pub mean: [f32; 3],
    /// Per-channel standard deviation.
    pub std: [f32; 3],
}

/// The decision rule.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct DecisionSpec {
    /// A face passes when its mask score is at least this.
    pub threshold: f32,
}

/// The crop rule.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct CropSpec {
    /// Each side of the face box is widened by this fraction of the box's size.
    pub margin: f32,
}

/// The self-test: input `x[0][c][y][x] = ((7c + 3y + x) mod 17) / 8 − 1` must give
/// `expected_probabilities` within `tolerance`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SelfTest {
    /// The expected output.
    pub expected_probabilities: Vec<f32>,
    /// The largest difference allowed.
    pub tolerance: f32,
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

impl Manifest {
    /// Parses and checks a manifest's JSON text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let manifest: Manifest = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if manifest.name.trim().is_empty() || manifest.version.trim().is_empty() {
            return Err("needs a name and a version".into());
        }
        if manifest.mask_index >= manifest.labels.len() || manifest.input.size == 0 {
            return Err("needs an input size and a mask_index among the labels".into());
        }
        if manifest.input.size > 1024 {
            return Err(format!(
                "input size {} is larger than 1024",
                manifest.input.size
            ));
        }
        if manifest.preprocess.std.contains(&0.0) {
            return Err("std must not be zero".into());
        }
        if !matches!(manifest.input.color_order.as_str(), "RGB" | "BGR") {
            return Err(format!(
                "color_order must be RGB or BGR, not {}",
                manifest.input.color_order
            ));
        }
        if !(0.0..=1.0).contains(&manifest.decision.threshold) {
            return Err("decision.threshold must be between 0 and 1".into());
        }
        Ok(manifest)
    }

    /// `name@version`, as visits report it.
    pub fn model_id(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// SHA-256 of bytes as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
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
        let manifest = Manifest::parse(&text).map_err(bad_manifest)?;
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
        Self::from_bytes(manifest, &bytes).map_err(bad_model)
    }

    /// Loads a model from its checked manifest and the bytes of its ONNX file: the bytes
    /// must have the manifest's SHA-256, the model must load with the manifest's input
    /// size, give one probability per label, and pass the manifest's self-test. The error
    /// says what is wrong.
    pub fn from_bytes(manifest: Manifest, bytes: &[u8]) -> Result<Self, String> {
        let digest = sha256_hex(bytes);
        if !digest.eq_ignore_ascii_case(&manifest.sha256) {
            return Err(format!(
                "SHA-256 is {digest}, the manifest says {}",
                manifest.sha256
            ));
        }
        let size = manifest.input.size as usize;
        let plan = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .and_then(|m| m.with_input_fact(0, f32::fact([1, 3, size, size]).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| format!("cannot load as a {size}×{size} classifier: {e}"))?;
        let classifier = Self { manifest, plan };
        // A model that does not fit its manifest is caught now, not at the door.
        let scores = classifier
            .run(self_test_input(size))
            .map_err(|e| e.to_string())?;
        let labels = classifier.manifest.labels.len();
        if scores.len() != labels {
            return Err(format!(
                "gives {} outputs for {labels} labels",
                scores.len()
            ));
        }
        let sum: f32 = scores.iter().sum();
        if scores.iter().any(|p| !(0.0..=1.0).contains(p)) || (sum - 1.0).abs() > 1e-3 {
            return Err(format!(
                "gives {scores:?}, not probabilities (a softmax must end the graph)"
            ));
        }
        if let Some(test) = &classifier.manifest.self_test {
            let off = scores
                .iter()
                .zip(&test.expected_probabilities)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            if test.expected_probabilities.len() != scores.len() || off > test.tolerance {
                return Err(format!(
                    "fails its self-test: gave {scores:?}, expected {:?}",
                    test.expected_probabilities
                ));
            }
        }
        Ok(classifier)
    }

    /// The model's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// `name@version`, as visits report it.
    pub fn model_id(&self) -> String {
        self.manifest.model_id()
    }

    /// The mask score of a face from the model's per-label probabilities.
    pub fn mask_score(&self, scores: &[f32]) -> f32 {
        scores
            .get(self.manifest.mask_index)
            .copied()
            .unwrap_or(0.0)
            .clamp(0.0, 1.0)
    }

    /// The model's per-label probabilities for an already cropped, sized face.
    pub fn scores(&self, crop: &RgbImage) -> Result<Vec<f32>, ClassifyError> {
        let input = &self.manifest.input;
        let pre = &self.manifest.preprocess;
        let side = input.size as usize;
        let order: [usize; 3] = if input.color_order == "BGR" {
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
                let v = f32::from(px[source]) * pre.pixel_scale;
                data[c * side * side + y as usize * side + x as usize] =
                    (v - pre.mean[c]) / pre.std[c];
            }
        }
        self.run(data)
    }

    /// Runs the model on one NCHW input.
    fn run(&self, data: Vec<f32>) -> Result<Vec<f32>, ClassifyError> {
        let side = self.manifest.input.size as usize;
        let tensor: Tensor = tract_ndarray::Array4::from_shape_vec((1, 3, side, side), data)
            .map_err(|e| ClassifyError::Inference(e.to_string()))?
            .into();
        let outputs = self
            .plan
            .run(tvec!(tensor.into()))
            .map_err(|e| ClassifyError::Inference(e.to_string()))?;
        let probabilities: Vec<f32> = outputs
            .first()
            .ok_or_else(|| ClassifyError::Inference("the model gave no output".into()))?
            .to_plain_array_view::<f32>()
            .map_err(|e| ClassifyError::Inference(e.to_string()))?
            .iter()
            .copied()
            .collect();
        Ok(probabilities)
    }

    /// The mask score at or above which a face passes.
    pub fn threshold(&self) -> f32 {
        self.manifest.decision.threshold
    }
}

/// The self-test input of a `size`×`size` model: `x[0][c][y][x] = ((7c + 3y + x) mod 17) / 8 − 1`.
fn self_test_input(size: usize) -> Vec<f32> {
    (0..3 * size * size)
        .map(|i| {
            let (c, y, x) = (i / (size * size), (i / size) % size, i % size);
            ((7 * c + 3 * y + x) % 17) as f32 / 8.0 - 1.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_broken_manifest_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("mg-cls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = Classifier::load(&dir.join("nothing.onnx")).unwrap_err();
        assert!(err.to_string().contains("nothing.json"), "{err}");
        std::fs::write(dir.join("m.json"), "{\"name\": 1}").unwrap();
        let err = Classifier::load(&dir.join("m.onnx")).unwrap_err();
        assert!(matches!(err, ClassifyError::Manifest { .. }), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
