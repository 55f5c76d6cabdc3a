//! YuNet (the face detector behind OpenCV's `FaceDetectorYN`) as ONNX, run with tract.
//!
//! Input 1×3×S×S, BGR, 0..255 (no normalisation). Raw outputs, for each stride
//! s ∈ {8, 16, 32}, one row per cell of the (S/s)×(S/s) grid, row-major:
//!
//! - `cls_s` and `obj_s` [1, (S/s)², 1]: class and objectness probabilities (the sigmoid is
//!   inside the model); the face score is `sqrt(cls · obj)`;
//! - `bbox_s` [1, (S/s)², 4]: for the cell at (row, col), the box centre is
//!   `((col + b0)·s, (row + b1)·s)` and its size `(exp(b2)·s, exp(b3)·s)`, in input pixels;
//! - `kps_s` [1, (S/s)², 10]: five landmarks, not used here (so tract prunes their head).

use std::path::Path;

use image::RgbImage;
use tract_onnx::prelude::*;

use super::{DetectError, Detector, Face, non_max_suppression};
use crate::decide::BBox;

type Plan = Arc<TypedRunnableModel>;

/// The strides of YuNet's three output levels, in input pixels per cell.
pub const YUNET_STRIDES: [u32; 3] = [8, 16, 32];

/// The score below which YuNet faces are dropped by default.
pub const YUNET_DEFAULT_THRESHOLD: f32 = 0.6;

/// The overlap (IoU) above which the weaker of two YuNet faces is dropped, as in OpenCV.
const NMS_IOU: f32 = 0.3;

/// The outputs read from the model, in this order: cls, obj and bbox for each stride.
const OUTPUTS: [&str; 9] = [
    "cls_8", "cls_16", "cls_32", "obj_8", "obj_16", "obj_32", "bbox_8", "bbox_16", "bbox_32",
];

/// How a frame is fitted into YuNet's square input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fit {
    /// Scaled to fit, aspect ratio kept, placed at the top left and padded with black (as
    /// OpenCV pads its input): faces keep their shape.
    #[default]
    Letterbox,
    /// Stretched to the square: uses every input pixel, but squashes faces.
    Stretch,
}

/// The raw outputs of one YuNet level (one stride), as flat slices.
#[derive(Debug, Clone, Copy)]
pub struct YuNetLevel<'a> {
    /// Input pixels per grid cell (8, 16 or 32).
    pub stride: u32,
    /// Class probability per cell.
    pub cls: &'a [f32],
    /// Objectness probability per cell.
    pub obj: &'a [f32],
    /// Four box values per cell: centre offsets in cells, log width and log height in strides.
    pub bbox: &'a [f32],
}

/// Decodes YuNet's raw outputs for a square input of `input_size` pixels into faces in
/// input pixels, keeping those whose score `sqrt(cls · obj)` (each clamped to 0..1) is at
/// least `threshold`. No NMS here. Fails if a level's slices do not match its grid.
pub fn decode_yunet(
    levels: &[YuNetLevel<'_>],
    input_size: u32,
    threshold: f32,
) -> Result<Vec<Face>, DetectError> {
    let mut faces = Vec::new();
    for level in levels {
        if level.stride == 0 || !input_size.is_multiple_of(level.stride) {
            return Err(DetectError::Inference(format!(
                "stride {} does not divide the input size {input_size}",
                level.stride
            )));
        }
        let cols = (input_size / level.stride) as usize;
        let cells = cols * cols;
        if level.cls.len() != cells || level.obj.len() != cells || level.bbox.len() != 4 * cells {
            return Err(DetectError::Inference(format!(
                "stride {}: expected {cells} cells, found cls {}, obj {}, bbox {}",
                level.stride,
                level.cls.len(),
                level.obj.len(),
                level.bbox.len() / 4
            )));
        }
        let stride = level.stride as f32;
        for (idx, ((cls, obj), b)) in level
            .cls
            .iter()
            .zip(level.obj)
            .zip(level.bbox.chunks_exact(4))
            .enumerate()
        {
            let score = (cls.clamp(0.0, 1.0) * obj.clamp(0.0, 1.0)).sqrt();
            if score.is_nan() || score < threshold {
                continue;
            }
            let (row, col) = ((idx / cols) as f32, (idx % cols) as f32);
            let (cx, cy) = ((col + b[0]) * stride, (row + b[1]) * stride);
            let (w, h) = (b[2].exp() * stride, b[3].exp() * stride);
            let bbox = BBox::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0);
            if bbox.area().is_finite() && bbox.area() > 0.0 {
                faces.push(Face {
                    bbox,
                    confidence: score,
                });
            }
        }
    }
    Ok(faces)
}

/// Where a frame lands in the square input: its resized size and the scale per axis.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Placement {
    width: u32,
    height: u32,
    scale_x: f32,
    scale_y: f32,
}

impl Placement {
    fn new(fit: Fit, frame_width: u32, frame_height: u32, size: u32) -> Self {
        let (fw, fh) = (frame_width.max(1) as f32, frame_height.max(1) as f32);
        match fit {
            Fit::Stretch => Self {
                width: size,
                height: size,
                scale_x: size as f32 / fw,
                scale_y: size as f32 / fh,
            },
            Fit::Letterbox => {
                let scale = size as f32 / fw.max(fh);
                let side = |v: f32| ((v * scale).round() as u32).clamp(1, size);
                Self {
                    width: side(fw),
                    height: side(fh),
                    scale_x: scale,
                    scale_y: scale,
                }
            }
        }
    }

    /// A face found in the input, in frame pixels (clamped to the frame).
    fn to_frame(self, face: Face, frame_width: u32, frame_height: u32) -> Face {
        let (fw, fh) = (frame_width as f32, frame_height as f32);
        let b = face.bbox;
        Face {
            bbox: BBox::new(
                (b.x1 / self.scale_x).clamp(0.0, fw),
                (b.y1 / self.scale_y).clamp(0.0, fh),
                (b.x2 / self.scale_x).clamp(0.0, fw),
                (b.y2 / self.scale_y).clamp(0.0, fh),
            ),
            confidence: face.confidence,
        }
    }
}

/// The model input for a frame: fitted into `size`×`size` as `placement` says (black
/// padding at the right and bottom), BGR 0..255, NCHW.
fn preprocess(frame: &RgbImage, placement: Placement, size: u32) -> Result<Tensor, DetectError> {
    let resized = crate::frames::downscale(frame, placement.width, placement.height);
    let side = size as usize;
    let plane = side * side;
    let mut data = vec![0f32; 3 * plane];
    let (blue, rest) = data.split_at_mut(plane);
    let (green, red) = rest.split_at_mut(plane);
    let row_len = resized.width() as usize;
    for (y, row) in resized
        .as_raw()
        .chunks_exact(3 * row_len)
        .take(side)
        .enumerate()
    {
        for (x, px) in row.chunks_exact(3).take(side).enumerate() {
            let i = y * side + x;
            red[i] = f32::from(px[0]);
            green[i] = f32::from(px[1]);
            blue[i] = f32::from(px[2]);
        }
    }
    tract_ndarray::Array4::from_shape_vec((1, 3, side, side), data)
        .map(Tensor::from)
        .map_err(|e| DetectError::Inference(format!("cannot build the input tensor: {e}")))
}

/// The YuNet detector.
pub struct YuNetDetector {
    plan: Plan,
    size: u32,
    threshold: f32,
    fit: Fit,
}

impl std::fmt::Debug for YuNetDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YuNetDetector")
            .field("size", &self.size)
            .field("threshold", &self.threshold)
            .field("fit", &self.fit)
            .finish_non_exhaustive()
    }
}

impl YuNetDetector {
    /// Loads a YuNet model with a fixed square input (320 or 640 for the shared models; any
    /// multiple of 32 works); faces below `threshold` ([`YUNET_DEFAULT_THRESHOLD`] is a
    /// good default) are dropped. Frames are letterboxed (see [`YuNetDetector::with_fit`]).
    pub fn load(path: &Path, threshold: f32) -> Result<Self, DetectError> {
        let fail = |reason: String| DetectError::Model {
            path: path.display().to_string(),
            reason,
        };
        let model = tract_onnx::onnx()
            .model_for_path(path)
            .map_err(|e| fail(format!("cannot load: {e}")))?;
        let shape: Vec<usize> = model
            .input_fact(0)
            .map_err(|e| fail(format!("no input: {e}")))?
            .shape
            .as_concrete_finite()
            .ok()
            .flatten()
            .map(|s| s.to_vec())
            .unwrap_or_default();
        let size = match shape[..] {
            [1, 3, h, w] if h == w && h > 0 && h % 32 == 0 => h,
            _ => {
                return Err(fail(format!(
                    "expected a square input of shape 1×3×S×S with S a multiple of 32, \
                     found {shape:?}"
                )));
            }
        };
        let model = model
            .with_outputs_by_name(OUTPUTS)
            .map_err(|e| fail(format!("not a YuNet model (outputs {OUTPUTS:?}): {e}")))?
            .into_optimized()
            .map_err(|e| fail(format!("cannot prepare: {e}")))?;
        for (ix, (name, stride)) in OUTPUTS.iter().zip(YUNET_STRIDES.iter().cycle()).enumerate() {
            let cells = (size / *stride as usize).pow(2);
            let width = if name.starts_with("bbox") { 4 } else { 1 };
            let found = model
                .output_fact(ix)
                .ok()
                .and_then(|f| f.shape.as_concrete().map(|s| s.to_vec()));
            if found.as_deref() != Some(&[1, cells, width][..]) {
                return Err(fail(format!(
                    "output {name}: expected shape [1, {cells}, {width}], found {found:?}"
                )));
            }
        }
        let plan = model
            .into_runnable()
            .map_err(|e| fail(format!("cannot prepare: {e}")))?;
        Ok(Self {
            plan,
            size: size as u32,
            threshold,
            fit: Fit::default(),
        })
    }

    /// The same detector fitting frames into its input the given way.
    pub fn with_fit(mut self, fit: Fit) -> Self {
        self.fit = fit;
        self
    }

    /// The side of the model's square input, in pixels.
    pub fn input_size(&self) -> u32 {
        self.size
    }
}

impl Detector for YuNetDetector {
    fn name(&self) -> &'static str {
        "yunet"
    }

    fn detect(&mut self, frame: &RgbImage) -> Result<Vec<Face>, DetectError> {
        if frame.width() == 0 || frame.height() == 0 {
            return Ok(Vec::new());
        }
        let placement = Placement::new(self.fit, frame.width(), frame.height(), self.size);
        let input = preprocess(frame, placement, self.size)?;
        let outputs = self
            .plan
            .run(tvec!(input.into()))
            .map_err(|e| DetectError::Inference(e.to_string()))?;
        let values = outputs
            .iter()
            .map(|t| {
                t.to_plain_array_view::<f32>()
                    .map(|v| v.iter().copied().collect::<Vec<f32>>())
                    .map_err(|e| DetectError::Inference(e.to_string()))
            })
            .collect::<Result<Vec<_>, DetectError>>()?;
        let views: Vec<&[f32]> = values.iter().map(Vec::as_slice).collect();
        let [
            cls8,
            cls16,
            cls32,
            obj8,
            obj16,
            obj32,
            bbox8,
            bbox16,
            bbox32,
        ] = views[..]
        else {
            return Err(DetectError::Inference(format!(
                "expected {} outputs, found {}",
                OUTPUTS.len(),
                views.len()
            )));
        };
        let levels = [
            (cls8, obj8, bbox8),
            (cls16, obj16, bbox16),
            (cls32, obj32, bbox32),
        ]
        .into_iter()
        .zip(YUNET_STRIDES)
        .map(|((cls, obj, bbox), stride)| YuNetLevel {
            stride,
            cls,
            obj,
            bbox,
        })
        .collect::<Vec<_>>();
        let faces = decode_yunet(&levels, self.size, self.threshold)?
            .into_iter()
            .map(|f| placement.to_frame(f, frame.width(), frame.height()))
            .filter(|f| f.bbox.area() > 0.0)
            .collect();
        Ok(non_max_suppression(faces, NMS_IOU))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// A 32×32 input: 4×4 cells at stride 8, 2×2 at 16, 1×1 at 32, all scores zero.
    struct Raw {
        cls: [Vec<f32>; 3],
        obj: [Vec<f32>; 3],
        bbox: [Vec<f32>; 3],
    }

    impl Raw {
        fn empty() -> Self {
            let cells = |s: usize| (32 / s) * (32 / s);
            Self {
                cls: [8, 16, 32].map(|s| vec![0.0; cells(s)]),
                obj: [8, 16, 32].map(|s| vec![0.0; cells(s)]),
                bbox: [8, 16, 32].map(|s| vec![0.0; 4 * cells(s)]),
            }
        }

        fn set(&mut self, level: usize, cell: usize, cls: f32, obj: f32, bbox: [f32; 4]) {
            self.cls[level][cell] = cls;
            self.obj[level][cell] = obj;
            self.bbox[level][4 * cell..4 * cell + 4].copy_from_slice(&bbox);
        }

        fn levels(&self) -> Vec<YuNetLevel<'_>> {
            (0..3)
                .map(|i| YuNetLevel {
                    stride: YUNET_STRIDES[i],
                    cls: &self.cls[i],
                    obj: &self.obj[i],
                    bbox: &self.bbox[i],
                })
                .collect()
        }
    }

    fn close(a: BBox, b: BBox) -> bool {
        [(a.x1, b.x1), (a.y1, b.y1), (a.x2, b.x2), (a.y2, b.y2)]
            .iter()
            .all(|(p, q)| (p - q).abs() < 1e-4)
    }

    #[test]
    fn decoding_places_boxes_by_cell_row_and_column_and_scales_by_stride() {
        let mut raw = Raw::empty();
        // stride 8, row 1, col 2 (cell 6): centre ((2 + 0.5)·8, (1 + 0.25)·8) = (20, 10),
        // size (e^0·8, e^ln2·8) = (8, 16).
        raw.set(0, 6, 0.81, 1.0, [0.5, 0.25, 0.0, 2f32.ln()]);
        // stride 16, row 1, col 0 (cell 2): centre (0·16 + 8, 16 + 8) = (8, 24), size 16×16.
        raw.set(1, 2, 0.64, 0.64, [0.5, 0.5, 0.0, 0.0]);
        let faces = decode_yunet(&raw.levels(), 32, 0.6).expect("decodes");
        assert_eq!(faces.len(), 2, "{faces:?}");
        assert!((faces[0].confidence - 0.9).abs() < 1e-6, "sqrt(0.81 · 1)");
        assert!(close(faces[0].bbox, BBox::new(16.0, 2.0, 24.0, 18.0)));
        assert!(
            (faces[1].confidence - 0.64).abs() < 1e-6,
            "sqrt(0.64 · 0.64)"
        );
        assert!(close(faces[1].bbox, BBox::new(0.0, 16.0, 16.0, 32.0)));
    }

    #[test]
    fn decoding_drops_faces_below_the_threshold_and_clamps_probabilities() {
        let mut raw = Raw::empty();
        raw.set(0, 0, 0.5, 0.5, [0.5, 0.5, 0.0, 0.0]); // score 0.5 < 0.6
        raw.set(2, 0, 1.5, 0.49, [0.5, 0.5, 0.0, 0.0]); // cls clamped to 1: score 0.7
        raw.set(1, 3, f32::NAN, 1.0, [0.5, 0.5, 0.0, 0.0]); // NaN never passes
        let faces = decode_yunet(&raw.levels(), 32, 0.6).expect("decodes");
        assert_eq!(faces.len(), 1, "{faces:?}");
        assert!((faces[0].confidence - 0.7).abs() < 1e-6);
        assert!(close(faces[0].bbox, BBox::new(0.0, 0.0, 32.0, 32.0)));
    }

    #[test]
    fn decoding_refuses_outputs_that_do_not_match_the_grid() {
        let mut raw = Raw::empty();
        raw.bbox[1].pop();
        assert!(decode_yunet(&raw.levels(), 32, 0.6).is_err());
        let raw = Raw::empty();
        assert!(
            decode_yunet(&raw.levels(), 40, 0.6).is_err(),
            "8 does not divide 40"
        );
    }

    #[test]
    fn letterboxing_keeps_the_aspect_ratio_and_maps_boxes_back_to_the_frame() {
        let placement = Placement::new(Fit::Letterbox, 640, 480, 320);
        assert_eq!((placement.width, placement.height), (320, 240));
        let face = Face {
            bbox: BBox::new(10.0, 20.0, 50.0, 260.0),
            confidence: 0.9,
        };
        let mapped = placement.to_frame(face, 640, 480);
        assert!(
            close(mapped.bbox, BBox::new(20.0, 40.0, 100.0, 480.0)),
            "clamped"
        );
        assert_eq!(mapped.confidence, 0.9);
    }

    #[test]
    fn stretching_scales_each_axis_on_its_own() {
        let placement = Placement::new(Fit::Stretch, 640, 480, 320);
        assert_eq!((placement.width, placement.height), (320, 320));
        let face = Face {
            bbox: BBox::new(32.0, 32.0, 64.0, 64.0),
            confidence: 0.7,
        };
        let mapped = placement.to_frame(face, 640, 480);
        assert!(close(mapped.bbox, BBox::new(64.0, 48.0, 128.0, 96.0)));
    }

    #[test]
    fn preprocessing_writes_bgr_planes_and_pads_with_black() {
        let frame = RgbImage::from_pixel(4, 2, Rgb([10, 20, 30]));
        let placement = Placement::new(Fit::Letterbox, 4, 2, 4);
        let input = preprocess(&frame, placement, 4).expect("tensor");
        assert_eq!(input.shape(), &[1, 3, 4, 4]);
        let data: Vec<f32> = input
            .to_plain_array_view::<f32>()
            .expect("f32")
            .iter()
            .copied()
            .collect();
        assert_eq!((data[0], data[16], data[32]), (30.0, 20.0, 10.0), "B, G, R");
        assert_eq!((data[15], data[31], data[47]), (0.0, 0.0, 0.0), "padding");
    }

    /// A model from ../shared/models, if that folder is here (a fresh clone has none).
    fn shared_model(name: &str) -> Option<std::path::PathBuf> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/models")
            .join(name);
        path.is_file().then_some(path)
    }

    #[test]
    fn the_shared_yunet_models_load_and_another_model_is_refused_clearly() {
        let Some(yunet) = shared_model("yunet-s-320.onnx") else {
            eprintln!("skipping: ../shared/models is not here");
            return;
        };
        let detector = YuNetDetector::load(&yunet, 0.6).expect("YuNet loads");
        assert_eq!(detector.input_size(), 320);
        if let Some(ultraface) = shared_model("ultraface-rfb-320.onnx") {
            let err = YuNetDetector::load(&ultraface, 0.6).expect_err("not YuNet");
            assert!(err.to_string().contains("ultraface-rfb-320.onnx"), "{err}");
        }
    }

    #[test]
    fn loading_a_missing_model_says_which_file() {
        let err = YuNetDetector::load(Path::new("/nonexistent/yunet.onnx"), 0.6)
            .expect_err("no such file");
        assert!(err.to_string().contains("/nonexistent/yunet.onnx"), "{err}");
    }
}
