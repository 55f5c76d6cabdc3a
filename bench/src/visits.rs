//! Random visits, as a door would report them.

use chrono::{DateTime, Utc};
use maskgate_api_types::NewVisit;
use rand::Rng;
use uuid::Uuid;

/// The model name every generated visit carries.
pub const MODEL: &str = "bench@1";

/// The share of generated visits that pass.
pub const PASS_RATE: f64 = 0.9;

/// A visit with a fresh UUID v4, captured at `captured_at`, passed with probability
/// [`PASS_RATE`], and a random mask score in `0..1`.
pub fn random_visit(rng: &mut impl Rng, captured_at: DateTime<Utc>) -> NewVisit {
    NewVisit {
        id: Uuid::new_v4(),
        captured_at,
        passed: rng.gen_bool(PASS_RATE),
        mask_score: rng.gen_range(0.0..1.0),
        model: MODEL.to_owned(),
        device: None,
        decision_ms: Some(rng.gen_range(80..600)),
    }
}

/// `n` visits captured now.
pub fn batch_now(n: usize) -> Vec<NewVisit> {
    let mut rng = rand::thread_rng();
    let now = Utc::now();
    (0..n).map(|_| random_visit(&mut rng, now)).collect()
}
