//! What the Models screen says about a model, read from its manifest (written by `train/`):
//! test accuracy, false passes and false rejects, the input size and labels.

use serde_json::Value;

/// The facts of a manifest a manager compares models by; a missing one stays `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelFacts {
    /// Share of held-out test photos judged right, 0..=1.
    pub accuracy: Option<f64>,
    /// Share of unmasked test faces let through, 0..=1.
    pub false_pass: Option<f64>,
    /// Share of masked test faces turned away, 0..=1.
    pub false_reject: Option<f64>,
    /// Test photos the numbers come from.
    pub test_photos: Option<u64>,
    /// The square input size in pixels.
    pub input_size: Option<u64>,
    /// The class labels, in output order.
    pub labels: Vec<String>,
}

impl ModelFacts {
    /// Reads what is there; unknown or odd fields are skipped, never an error (manifests of
    /// other training code may lack them).
    pub fn from_manifest(manifest: &Value) -> Self {
        let metric = |name: &str| {
            manifest
                .pointer(&format!("/metrics/{name}"))
                .and_then(Value::as_f64)
                .filter(|v| (0.0..=1.0).contains(v))
        };
        let test_photos = manifest
            .pointer("/metrics/test_confusion")
            .and_then(Value::as_object)
            .map(|classes| {
                classes
                    .values()
                    .filter_map(Value::as_object)
                    .flat_map(|counts| counts.values().filter_map(Value::as_u64))
                    .sum::<u64>()
            })
            .filter(|n| *n > 0);
        Self {
            accuracy: metric("test_accuracy"),
            false_pass: metric("test_false_pass_rate"),
            false_reject: metric("test_false_reject_rate"),
            test_photos,
            input_size: manifest.pointer("/input/size").and_then(Value::as_u64),
            labels: manifest
                .get("labels")
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// One line for the model's card: "98.2 % accurate on 797 test photos · 1.1 % false
    /// passes · 2.4 % false rejects", or a sentence saying the manifest has no test numbers.
    pub fn summary(&self) -> String {
        let pct = |v: f64| format!("{:.1} %", v * 100.0);
        let mut parts = Vec::new();
        if let Some(accuracy) = self.accuracy {
            parts.push(match self.test_photos {
                Some(n) => format!("{} accurate on {n} test photos", pct(accuracy)),
                None => format!("{} accurate", pct(accuracy)),
            });
        }
        if let Some(v) = self.false_pass {
            parts.push(format!("{} false passes", pct(v)));
        }
        if let Some(v) = self.false_reject {
            parts.push(format!("{} false rejects", pct(v)));
        }
        if parts.is_empty() {
            "Its manifest has no test results.".to_owned()
        } else {
            parts.join(" · ")
        }
    }
}

/// A file size in words: `264 KB`, `1.4 MB`.
pub fn size(bytes: u64) -> String {
    if bytes < 1000 {
        format!("{bytes} bytes")
    } else if bytes < 1_000_000 {
        format!("{} KB", (bytes as f64 / 1000.0).round())
    } else {
        format!("{:.1} MB", bytes as f64 / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_shipped_manifest_reads_as_a_line_of_test_results() {
        let text = include_str!("../../models/maskgate-cnn-v1.json");
        let manifest: Value = serde_json::from_str(text).expect("the shipped manifest is JSON");
        let facts = ModelFacts::from_manifest(&manifest);
        assert_eq!(facts.input_size, Some(80));
        assert_eq!(facts.labels, ["with_mask", "without_mask"]);
        assert_eq!(facts.test_photos, Some(797));
        assert_eq!(
            facts.summary(),
            "98.2 % accurate on 797 test photos · 1.1 % false passes · 2.4 % false rejects"
        );
    }

    #[test]
    fn missing_or_odd_numbers_are_left_out() {
        let facts = ModelFacts::from_manifest(&json!({
            "metrics": { "test_accuracy": 1.7, "test_false_pass_rate": "low" },
            "labels": ["mask", 3],
        }));
        assert_eq!(facts.accuracy, None);
        assert_eq!(facts.false_pass, None);
        assert_eq!(facts.labels, ["mask"]);
        assert_eq!(facts.summary(), "Its manifest has no test results.");
        let facts = ModelFacts::from_manifest(&json!({ "metrics": { "test_accuracy": 0.9 } }));
        assert_eq!(facts.summary(), "90.0 % accurate");
    }

    #[test]
    fn sizes_read_in_kb_and_mb() {
        assert_eq!(size(512), "512 bytes");
        assert_eq!(size(270_213), "270 KB");
        assert_eq!(size(1_400_000), "1.4 MB");
    }
}
