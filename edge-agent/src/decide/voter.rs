//! Voting over a track's frames: pass after `needed` mask votes in a window of `window`
//! frames, fail when a pass can no longer happen in that window.

/// Settings of the vote.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VoterConfig {
    /// Frames in one vote (the N of "3 of 5").
    pub window: u32,
    /// Mask votes needed to pass (the 3 of "3 of 5").
    pub needed: u32,
    /// A frame votes "mask" when its score is at least this.
    pub threshold: f32,
    /// After a decision, the same outcome is not emitted again for this long while the
    /// person stays (a person standing still is one visit).
    pub cooldown_ms: u64,
}

impl Default for VoterConfig {
    fn default() -> Self {
        Self {
            window: 5,
            needed: 3,
            threshold: 0.5,
            cooldown_ms: 30_000,
        }
    }
}

/// The outcome of a vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Enough frames showed a mask.
    Pass,
    /// Too few frames showed a mask.
    Fail,
}

/// A finished vote.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Pass or fail.
    pub outcome: Outcome,
    /// The mean mask score over the frames of the vote.
    pub mean_score: f32,
    /// Milliseconds from the track's first frame (or the previous decision) to this one.
    pub latency_ms: u64,
}

/// The vote of one tracked person.
#[derive(Debug, Clone)]
pub struct Voter {
    config: VoterConfig,
    started_ms: u64,
    masks: u32,
    frames: u32,
    score_sum: f32,
    last: Option<(Outcome, u64)>,
}

impl Voter {
    /// A voter for a track first seen at `at_ms`.
    pub fn new(config: VoterConfig, at_ms: u64) -> Self {
        Self {
            config,
            started_ms: at_ms,
            masks: 0,
            frames: 0,
            score_sum: 0.0,
            last: None,
        }
    }

    /// Adds one frame's score; returns a decision to emit, if this frame completes one.
    pub fn vote(&mut self, at_ms: u64, score: f32) -> Option<Decision> {
        let window = self.config.window.max(1);
        let needed = self.config.needed.clamp(1, window);
        if self.frames == 0 {
            self.started_ms = at_ms;
        }
        self.frames += 1;
        self.score_sum += score;
        if score >= self.config.threshold {
            self.masks += 1;
        }
        let outcome = if self.masks >= needed {
            Outcome::Pass
        } else if self.frames - self.masks > window - needed {
            Outcome::Fail
        } else {
            return None;
        };
        let decision = Decision {
            outcome,
            mean_score: self.score_sum / self.frames as f32,
            latency_ms: at_ms.saturating_sub(self.started_ms),
        };
        // Start the next window: a person who failed may put a mask on.
        self.frames = 0;
        self.masks = 0;
        self.score_sum = 0.0;
        let repeat = matches!(self.last, Some((last, when))
            if last == outcome && at_ms.saturating_sub(when) < self.config.cooldown_ms);
        if repeat {
            return None;
        }
        self.last = Some((outcome, at_ms));
        Some(decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(config: VoterConfig, scores: &[f32]) -> Vec<(usize, Outcome)> {
        let mut voter = Voter::new(config, 0);
        scores
            .iter()
            .enumerate()
            .filter_map(|(i, s)| voter.vote(i as u64 * 100, *s).map(|d| (i, d.outcome)))
            .collect()
    }

    const THREE_OF_FIVE: VoterConfig = VoterConfig {
        window: 5,
        needed: 3,
        threshold: 0.5,
        cooldown_ms: 10_000,
    };

    #[test]
    fn three_masked_frames_pass_as_soon_as_they_are_seen() {
        assert_eq!(
            run(THREE_OF_FIVE, &[0.9, 0.2, 0.8, 0.7]),
            vec![(3, Outcome::Pass)]
        );
    }

    #[test]
    fn three_unmasked_frames_fail_because_a_pass_is_no_longer_possible() {
        assert_eq!(
            run(THREE_OF_FIVE, &[0.1, 0.9, 0.2, 0.3]),
            vec![(3, Outcome::Fail)]
        );
    }

    #[test]
    fn fail_then_mask_then_pass_is_two_decisions() {
        let scores = [0.1, 0.1, 0.1, 0.9, 0.9, 0.9];
        assert_eq!(
            run(THREE_OF_FIVE, &scores),
            vec![(2, Outcome::Fail), (5, Outcome::Pass)]
        );
    }

    #[test]
    fn a_person_standing_still_is_one_decision_until_the_cooldown_ends() {
        // 100 ms per frame: 150 frames = 15 s, cooldown 10 s.
        let scores = vec![0.9; 150];
        let decisions = run(THREE_OF_FIVE, &scores);
        assert_eq!(decisions.len(), 2, "{decisions:?}");
        assert_eq!(decisions[0], (2, Outcome::Pass));
        assert!(decisions[1].0 >= 100);
    }

    #[test]
    fn the_decision_carries_the_mean_score_and_latency() {
        let mut voter = Voter::new(THREE_OF_FIVE, 1_000);
        assert_eq!(voter.vote(1_000, 0.6), None);
        assert_eq!(voter.vote(1_100, 0.8), None);
        let d = voter.vote(1_250, 1.0).expect("decision");
        assert_eq!(d.outcome, Outcome::Pass);
        assert!((d.mean_score - 0.8).abs() < 1e-6);
        assert_eq!(d.latency_ms, 250);
    }

    #[test]
    fn a_one_frame_window_decides_every_frame_within_the_cooldown_rules() {
        let config = VoterConfig {
            window: 1,
            needed: 1,
            threshold: 0.5,
            cooldown_ms: 0,
        };
        assert_eq!(
            run(config, &[0.9, 0.1]),
            vec![(0, Outcome::Pass), (1, Outcome::Fail)]
        );
    }
}
