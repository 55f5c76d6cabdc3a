//! Deciding once per person: track faces across frames, vote over a track's frames, emit one
//! decision per person (a fail followed by a pass when they put a mask on is two).
//!
//! Pure functions and plain state machines: no clock, no I/O. Callers pass each frame's
//! faces with the frame's time in milliseconds.

mod tracker;
mod voter;

pub use tracker::{BBox, Tracker, TrackerConfig, iou};
pub use voter::{Decision, Outcome, Voter, VoterConfig};

/// One face found in one frame, with the classifier's probability of a mask.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// The face's box in frame pixels.
    pub bbox: BBox,
    /// The probability that the face wears a mask, in `0..=1`.
    pub mask_score: f32,
}

/// Tracker and voters together: feed frames, get decisions.
#[derive(Debug)]
pub struct DoorDecider {
    tracker: Tracker,
    voter_config: VoterConfig,
    voters: std::collections::HashMap<u64, Voter>,
}

/// A decision about one tracked person.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonDecision {
    /// The track the decision is about.
    pub track_id: u64,
    /// The decision.
    pub decision: Decision,
}

impl DoorDecider {
    /// A decider with the given tracking and voting settings.
    pub fn new(tracker: TrackerConfig, voter: VoterConfig) -> Self {
        Self {
            tracker: Tracker::new(tracker),
            voter_config: voter,
            voters: Default::default(),
        }
    }

    /// Takes one frame's faces at `at_ms`; returns the decisions this frame completes.
    pub fn observe(&mut self, at_ms: u64, faces: &[Observation]) -> Vec<PersonDecision> {
        let boxes: Vec<BBox> = faces.iter().map(|f| f.bbox).collect();
        let update = self.tracker.update(&boxes);
        for gone in &update.ended {
            self.voters.remove(gone);
        }
        let mut decisions = Vec::new();
        for (face, track_id) in faces.iter().zip(update.assigned) {
            let voter = self
                .voters
                .entry(track_id)
                .or_insert_with(|| Voter::new(self.voter_config, at_ms));
            if let Some(decision) = voter.vote(at_ms, face.mask_score) {
                decisions.push(PersonDecision { track_id, decision });
            }
        }
        decisions
    }

    /// Changes the pass threshold for people seen from now on (a new model has its own).
    pub fn set_threshold(&mut self, threshold: f32) {
        self.voter_config.threshold = threshold;
    }

    /// The number of people currently tracked.
    pub fn tracked(&self) -> usize {
        self.voters.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, score: f32) -> Observation {
        Observation {
            bbox: BBox::new(x, 100.0, x + 80.0, 200.0),
            mask_score: score,
        }
    }

    fn decider() -> DoorDecider {
        DoorDecider::new(
            TrackerConfig::default(),
            VoterConfig {
                window: 5,
                needed: 3,
                threshold: 0.5,
                cooldown_ms: 10_000,
            },
        )
    }

    #[test]
    fn two_people_walking_past_get_one_decision_each() {
        let mut d = decider();
        let mut all = Vec::new();
        for frame in 0..20u64 {
            let x = frame as f32 * 4.0;
            let faces = [face(x, 0.9), face(x + 300.0, 0.1)];
            all.extend(d.observe(frame * 100, &faces));
        }
        assert_eq!(all.len(), 2, "{all:?}");
        let outcomes: Vec<_> = all.iter().map(|p| p.decision.outcome).collect();
        assert!(outcomes.contains(&Outcome::Pass) && outcomes.contains(&Outcome::Fail));
        assert_ne!(all[0].track_id, all[1].track_id);
    }

    #[test]
    fn a_person_who_leaves_and_comes_back_is_a_new_visit() {
        let mut d = decider();
        let mut all = Vec::new();
        for frame in 0..5u64 {
            all.extend(d.observe(frame * 100, &[face(10.0, 0.9)]));
        }
        for frame in 5..20u64 {
            all.extend(d.observe(frame * 100, &[]));
        }
        assert_eq!(d.tracked(), 0, "the track ended");
        for frame in 20..25u64 {
            all.extend(d.observe(frame * 100, &[face(10.0, 0.9)]));
        }
        assert_eq!(all.len(), 2);
    }
}
