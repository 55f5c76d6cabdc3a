//! The shipped model through the door's own code, on real photos from ../shared.
//!
//! Needs ../shared (photos and the UltraFace model). Without it these tests say so and
//! step aside, unless MASKGATE_REQUIRE_SHARED=1 (set by .ci/run).

use std::path::{Path, PathBuf};

use maskgate_edge_agent::classify::Classifier;
use maskgate_edge_agent::crop::crop_rect;
use maskgate_edge_agent::decide::BBox;
use maskgate_edge_agent::detect::{Detector, UltraFaceDetector};
use maskgate_edge_agent::{frames, pipeline};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn shared() -> Option<PathBuf> {
    let shared = root().join("../shared");
    if shared.join("data/masks/test").is_dir() {
        return Some(shared);
    }
    assert!(
        std::env::var("MASKGATE_REQUIRE_SHARED").as_deref() != Ok("1"),
        "MASKGATE_REQUIRE_SHARED=1 but ../shared/data/masks/test is missing"
    );
    eprintln!("skipping: ../shared/data/masks/test is not here (a fresh clone has no ../shared)");
    None
}

fn shipped_model() -> PathBuf {
    root().join("models/maskgate-cnn-v1.json")
}

#[test]
fn the_crop_rule_matches_the_examples_in_the_shipped_manifest() {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(shipped_model()).unwrap()).unwrap();
    let margin = manifest["crop"]["margin"].as_f64().unwrap() as f32;
    let examples = manifest["crop"]["examples"].as_array().unwrap();
    assert!(!examples.is_empty());
    for example in examples {
        let frame: Vec<u32> = serde_json::from_value(example["frame"].clone()).unwrap();
        let b: Vec<f32> = serde_json::from_value(example["box"].clone()).unwrap();
        let want: Vec<u32> = serde_json::from_value(example["crop_ltrb"].clone()).unwrap();
        let r = crop_rect(
            &BBox::new(b[0], b[1], b[2], b[3]),
            margin,
            frame[0],
            frame[1],
        );
        assert_eq!(
            vec![r.x, r.y, r.x + r.width, r.y + r.height],
            want,
            "example {example}"
        );
    }
}

#[test]
fn the_shipped_model_loads_and_passes_its_self_test() {
    let classifier = Classifier::load(&shipped_model()).expect("the shipped model loads");
    assert_eq!(classifier.model_id(), "maskgate-cnn@1.0.0");
}

#[test]
fn a_corrupt_or_mismatched_model_file_is_refused_with_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("mg-model-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = std::fs::read_to_string(shipped_model()).unwrap();
    std::fs::write(dir.join("maskgate-cnn-v1.json"), &manifest).unwrap();
    std::fs::write(dir.join("maskgate-cnn-v1.onnx"), b"not a model").unwrap();
    let err = Classifier::load(&dir.join("maskgate-cnn-v1.json")).unwrap_err();
    assert!(err.to_string().contains("SHA-256"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn classify_over_the_test_photos_keeps_the_accuracy_floor() {
    let Some(shared) = shared() else { return };
    let classifier = Classifier::load(&shipped_model()).expect("model");
    let mut detector = UltraFaceDetector::load(&shared.join("models/ultraface-rfb-320.onnx"), 0.7)
        .expect("detector");
    for (folder, masked, floor) in [("with_mask", true, 0.95), ("without_mask", false, 0.98)] {
        let files = frames::list_files(&shared.join("data/masks/test").join(folder)).unwrap();
        let (mut with_face, mut correct) = (0usize, 0usize);
        for file in &files {
            let frame = frames::read(file).expect("test photos are readable");
            let observations =
                pipeline::look(&mut detector, &classifier, &frame).expect("pipeline");
            let Some(person) = observations
                .iter()
                .max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area()))
            else {
                continue;
            };
            with_face += 1;
            correct += usize::from((person.mask_score >= classifier.threshold()) == masked);
        }
        let accuracy = correct as f64 / with_face.max(1) as f64;
        println!(
            "{folder}: {} photos, a face in {with_face} ({:.1} %), correct {correct} ({:.2} %) [{}]",
            files.len(),
            100.0 * with_face as f64 / files.len() as f64,
            100.0 * accuracy,
            detector.name()
        );
        assert!(
            accuracy >= floor,
            "{folder}: accuracy {accuracy:.4} is below the floor {floor}"
        );
    }
}
