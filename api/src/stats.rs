//! Cutting time into local hours and days, DST-correct.
//!
//! The database counts visits per UTC 15-minute slot ([`crate::db::SLOT_SECONDS`]). Every
//! time zone in use today has an offset that is a multiple of 15 minutes, so each local hour
//! or day is a run of whole slots: a day is 23, 24 or 25 hours long, an hour that is
//! repeated when clocks fall back becomes two buckets with different offsets. These are pure
//! functions over instants; the handler feeds them the slot counts.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use maskgate_api_types::{Bucket, StatsBucket};

use crate::db::SlotCount;

/// The most buckets one stats request may ask for (100 days of hours, 6.5 years of days).
pub const MAX_BUCKETS: usize = 2_400;

/// Why a bucket plan could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// `from` is not before `to`.
    #[error("`from` must be before `to`")]
    EmptyRange,
    /// The range holds more than [`MAX_BUCKETS`] buckets.
    #[error("the range holds more than {MAX_BUCKETS} buckets; use a shorter range or bucket=day")]
    TooManyBuckets,
}

/// The start of the local hour or day (in `tz`) that contains `at`.
pub fn bucket_start(at: DateTime<Utc>, bucket: Bucket, tz: Tz) -> DateTime<Utc> {
    let local = at.with_timezone(&tz);
    match bucket {
        Bucket::Hour => {
            let into_hour = Duration::seconds(i64::from(local.minute() * 60 + local.second()))
                + Duration::nanoseconds(i64::from(local.nanosecond()));
            at - into_hour
        }
        Bucket::Day => day_start(local.date_naive(), tz),
    }
}

/// The first instant of a local calendar day. Where midnight itself is skipped by a DST
/// change, the day starts at the first local time that exists.
pub fn day_start(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    for minutes in (0..=180).step_by(15) {
        match tz.from_local_datetime(&(midnight + Duration::minutes(minutes))) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(earliest, _) => return earliest.with_timezone(&Utc),
            LocalResult::None => continue,
        }
    }
    // No zone skips three hours at midnight; fall back to the UTC reading of midnight.
    Utc.from_utc_datetime(&midnight)
}

/// The start of the bucket after the one starting at `start`.
fn next_bucket(start: DateTime<Utc>, bucket: Bucket, tz: Tz) -> DateTime<Utc> {
    match bucket {
        Bucket::Hour => bucket_start(start + Duration::hours(1), bucket, tz),
        Bucket::Day => {
            let date = start.with_timezone(&tz).date_naive();
            day_start(date.succ_opt().unwrap_or(date), tz)
        }
    }
}

/// The buckets covering `[from, to)`, widened to whole buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketPlan {
    tz: Tz,
    bucket: Bucket,
    /// Bucket starts, ascending, followed by the end of the last bucket.
    edges: Vec<DateTime<Utc>>,
}

impl BucketPlan {
    /// Plans the buckets of `[from, to)` in `tz`.
    pub fn new(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket: Bucket,
        tz: Tz,
    ) -> Result<Self, PlanError> {
        if from >= to {
            return Err(PlanError::EmptyRange);
        }
        let mut edges = vec![bucket_start(from, bucket, tz)];
        while let Some(&last) = edges.last()
            && last < to
        {
            if edges.len() > MAX_BUCKETS {
                return Err(PlanError::TooManyBuckets);
            }
            edges.push(next_bucket(last, bucket, tz));
        }
        Ok(Self { tz, bucket, edges })
    }

    /// The first instant covered.
    pub fn start(&self) -> DateTime<Utc> {
        self.edges[0]
    }

    /// The first instant after the last bucket.
    pub fn end(&self) -> DateTime<Utc> {
        self.edges[self.edges.len() - 1]
    }

    /// Sums slot counts into the planned buckets; returns the buckets (empty ones included)
    /// and the pass rate over all of them.
    pub fn fill(&self, slots: &[SlotCount]) -> (Vec<StatsBucket>, Option<f64>) {
        let starts = &self.edges[..self.edges.len() - 1];
        let mut counts = vec![(0u64, 0u64); starts.len()];
        for slot in slots {
            let at = DateTime::<Utc>::from_timestamp(slot.slot_start, 0).unwrap_or_default();
            // The bucket whose start is the last one at or before the slot.
            let index = starts.partition_point(|s| *s <= at);
            if index == 0 || at >= self.end() {
                continue;
            }
            let entry = &mut counts[index - 1];
            entry.0 += slot.passed.max(0) as u64;
            entry.1 += slot.failed.max(0) as u64;
        }
        let (passed, failed) = counts
            .iter()
            .fold((0u64, 0u64), |acc, c| (acc.0 + c.0, acc.1 + c.1));
        let pass_rate = (passed + failed > 0).then(|| passed as f64 / (passed + failed) as f64);
        let buckets = starts
            .iter()
            .zip(counts)
            .map(|(start, (passed, failed))| StatsBucket {
                start: start
                    .with_timezone(&self.tz)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                passed,
                failed,
            })
            .collect();
        (buckets, pass_rate)
    }

    /// The bucket width.
    pub fn bucket(&self) -> Bucket {
        self.bucket
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn slot(at: DateTime<Utc>, passed: i64, failed: i64) -> SlotCount {
        SlotCount {
            slot_start: at.timestamp(),
            passed,
            failed,
        }
    }

    #[test]
    fn a_seoul_day_starts_at_fifteen_utc_the_day_before() {
        let tz: Tz = "Asia/Seoul".parse().unwrap();
        let start = bucket_start(utc(2026, 5, 1, 14, 59), Bucket::Day, tz);
        assert_eq!(start, utc(2026, 4, 30, 15, 0));
        let start = bucket_start(utc(2026, 5, 1, 15, 0), Bucket::Day, tz);
        assert_eq!(start, utc(2026, 5, 1, 15, 0));
    }

    #[test]
    fn the_spring_forward_day_in_new_york_has_23_hourly_buckets() {
        let tz: Tz = "America/New_York".parse().unwrap();
        // 2026-03-08: clocks jump from 02:00 EST to 03:00 EDT.
        let day = day_start(NaiveDate::from_ymd_opt(2026, 3, 8).unwrap(), tz);
        let next = day_start(NaiveDate::from_ymd_opt(2026, 3, 9).unwrap(), tz);
        assert_eq!(day, utc(2026, 3, 8, 5, 0));
        assert_eq!(next - day, Duration::hours(23));
        let plan = BucketPlan::new(day, next, Bucket::Hour, tz).unwrap();
        let (buckets, _) = plan.fill(&[]);
        assert_eq!(buckets.len(), 23);
        assert_eq!(buckets[1].start, "2026-03-08T01:00:00-05:00");
        assert_eq!(buckets[2].start, "2026-03-08T03:00:00-04:00");
    }

    #[test]
    fn the_fall_back_hour_in_new_york_is_two_buckets() {
        let tz: Tz = "America/New_York".parse().unwrap();
        // 2026-11-01: 01:00-02:00 happens twice (EDT, then EST).
        let day = day_start(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(), tz);
        let next = day_start(NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(), tz);
        assert_eq!(next - day, Duration::hours(25));
        let plan = BucketPlan::new(day, next, Bucket::Hour, tz).unwrap();
        let slots = [
            slot(utc(2026, 11, 1, 5, 30), 1, 0), // 01:30 EDT
            slot(utc(2026, 11, 1, 6, 30), 0, 2), // 01:30 EST
        ];
        let (buckets, rate) = plan.fill(&slots);
        assert_eq!(buckets.len(), 25);
        assert_eq!(buckets[1].start, "2026-11-01T01:00:00-04:00");
        assert_eq!((buckets[1].passed, buckets[1].failed), (1, 0));
        assert_eq!(buckets[2].start, "2026-11-01T01:00:00-05:00");
        assert_eq!((buckets[2].passed, buckets[2].failed), (0, 2));
        assert_eq!(rate, Some(1.0 / 3.0));
    }

    #[test]
    fn a_zone_with_a_quarter_hour_offset_gets_whole_local_hours() {
        let tz: Tz = "Asia/Kathmandu".parse().unwrap(); // UTC+05:45
        let plan = BucketPlan::new(
            utc(2026, 1, 1, 0, 0),
            utc(2026, 1, 1, 2, 0),
            Bucket::Hour,
            tz,
        )
        .unwrap();
        assert_eq!(plan.start(), utc(2025, 12, 31, 23, 15));
        let (buckets, rate) = plan.fill(&[slot(utc(2026, 1, 1, 0, 15), 3, 1)]);
        assert_eq!(buckets[0].start, "2026-01-01T05:00:00+05:45");
        assert_eq!(buckets[1].start, "2026-01-01T06:00:00+05:45");
        assert_eq!((buckets[1].passed, buckets[1].failed), (3, 1));
        assert_eq!(rate, Some(0.75));
    }

    #[test]
    fn plans_reject_empty_and_huge_ranges() {
        let tz = Tz::UTC;
        let at = utc(2026, 1, 1, 0, 0);
        assert_eq!(
            BucketPlan::new(at, at, Bucket::Hour, tz),
            Err(PlanError::EmptyRange)
        );
        assert_eq!(
            BucketPlan::new(at, at + Duration::days(200), Bucket::Hour, tz),
            Err(PlanError::TooManyBuckets)
        );
        assert!(BucketPlan::new(at, at + Duration::days(200), Bucket::Day, tz).is_ok());
    }

    #[test]
    fn a_range_with_no_visits_has_no_pass_rate() {
        let plan = BucketPlan::new(
            utc(2026, 1, 1, 0, 0),
            utc(2026, 1, 3, 0, 0),
            Bucket::Day,
            Tz::UTC,
        )
        .unwrap();
        let (buckets, rate) = plan.fill(&[]);
        assert_eq!(buckets.len(), 2);
        assert_eq!(rate, None);
    }
}
