//! Following faces from frame to frame by the overlap of their boxes (IoU).

/// An axis-aligned box in pixels: `(x1, y1)` top left, `(x2, y2)` bottom right.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    /// Left edge.
    pub x1: f32,
    /// Top edge.
    pub y1: f32,
    /// Right edge.
    pub x2: f32,
    /// Bottom edge.
    pub y2: f32,
}

impl BBox {
    /// A box from its edges.
    pub fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self { x1, y1, x2, y2 }
    }

    /// The area; zero for an empty or inverted box.
    pub fn area(&self) -> f32 {
        (self.x2 - self.x1).max(0.0) * (self.y2 - self.y1).max(0.0)
    }
}

/// Intersection over union of two boxes, in `0..=1`.
pub fn iou(a: &BBox, b: &BBox) -> f32 {
    let inter = BBox::new(
        a.x1.max(b.x1),
        a.y1.max(b.y1),
        a.x2.min(b.x2),
        a.y2.min(b.y2),
    )
    .area();
    let union = a.area() + b.area() - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Settings of the tracker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerConfig {
    /// The least IoU for a face to continue a track.
    pub min_iou: f32,
    /// Frames a track may go unseen before it ends (the person left).
    pub max_missed: u32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            min_iou: 0.3,
            max_missed: 8,
        }
    }
}

#[derive(Debug, Clone)]
struct Track {
    id: u64,
    bbox: BBox,
    missed: u32,
}

/// What one frame did to the tracks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrackUpdate {
    /// For each input box, in order, the track it belongs to (new or continued).
    pub assigned: Vec<u64>,
    /// Tracks that ended in this frame.
    pub ended: Vec<u64>,
}

/// Greedy IoU tracker: each frame's boxes continue the tracks they overlap most.
#[derive(Debug, Clone)]
pub struct Tracker {
    config: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
}

impl Tracker {
    /// An empty tracker.
    pub fn new(config: TrackerConfig) -> Self {
        Self {
            config,
            tracks: Vec::new(),
            next_id: 1,
        }
    }

    /// Matches one frame's boxes to tracks.
    pub fn update(&mut self, boxes: &[BBox]) -> TrackUpdate {
        // All pairs above the threshold, best first; each track and box used once.
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (ti, track) in self.tracks.iter().enumerate() {
            for (bi, bbox) in boxes.iter().enumerate() {
                let overlap = iou(&track.bbox, bbox);
                if overlap >= self.config.min_iou {
                    pairs.push((overlap, ti, bi));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut track_used = vec![false; self.tracks.len()];
        let mut assigned: Vec<Option<u64>> = vec![None; boxes.len()];
        for (_, ti, bi) in pairs {
            if track_used[ti] || assigned[bi].is_some() {
                continue;
            }
            track_used[ti] = true;
            let track = &mut self.tracks[ti];
            track.bbox = boxes[bi];
            track.missed = 0;
            assigned[bi] = Some(track.id);
        }
        for (ti, used) in track_used.iter().enumerate() {
            if !used {
                self.tracks[ti].missed += 1;
            }
        }
        let max_missed = self.config.max_missed;
        let mut ended = Vec::new();
        self.tracks.retain(|t| {
            let keep = t.missed <= max_missed;
            if !keep {
                ended.push(t.id);
            }
            keep
        });
        let assigned = assigned
            .into_iter()
            .zip(boxes)
            .map(|(id, bbox)| {
                id.unwrap_or_else(|| {
                    let id = self.next_id;
                    self.next_id += 1;
                    self.tracks.push(Track {
                        id,
                        bbox: *bbox,
                        missed: 0,
                    });
                    id
                })
            })
            .collect();
        TrackUpdate { assigned, ended }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_disjoint_and_half_overlapping_boxes() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        assert_eq!(iou(&a, &a), 1.0);
        assert_eq!(iou(&a, &BBox::new(20.0, 20.0, 30.0, 30.0)), 0.0);
        let half = iou(&a, &BBox::new(5.0, 0.0, 15.0, 10.0));
        assert!((half - 1.0 / 3.0).abs() < 1e-6, "{half}");
        assert_eq!(iou(&BBox::new(0.0, 0.0, 0.0, 0.0), &a), 0.0);
    }

    #[test]
    fn a_moving_face_keeps_its_track_and_a_new_face_gets_a_new_one() {
        let mut t = Tracker::new(TrackerConfig::default());
        let first = t.update(&[BBox::new(0.0, 0.0, 100.0, 100.0)]);
        let moved = t.update(&[
            BBox::new(300.0, 0.0, 400.0, 100.0),
            BBox::new(10.0, 0.0, 110.0, 100.0),
        ]);
        assert_eq!(moved.assigned[1], first.assigned[0]);
        assert_ne!(moved.assigned[0], first.assigned[0]);
    }

    #[test]
    fn a_track_ends_after_too_many_missed_frames() {
        let mut t = Tracker::new(TrackerConfig {
            min_iou: 0.3,
            max_missed: 2,
        });
        let id = t.update(&[BBox::new(0.0, 0.0, 10.0, 10.0)]).assigned[0];
        assert!(t.update(&[]).ended.is_empty());
        assert!(t.update(&[]).ended.is_empty());
        assert_eq!(t.update(&[]).ended, vec![id]);
    }

    #[test]
    fn two_boxes_never_share_one_track() {
        let mut t = Tracker::new(TrackerConfig::default());
        t.update(&[BBox::new(0.0, 0.0, 100.0, 100.0)]);
        let next = t.update(&[
            BBox::new(5.0, 0.0, 105.0, 100.0),
            BBox::new(0.0, 5.0, 100.0, 105.0),
        ]);
        assert_ne!(next.assigned[0], next.assigned[1]);
    }
}
