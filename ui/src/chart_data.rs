//! The sums behind the charts screen: date ranges in the site's time zone, bucket labels,
//! and the weekday × hour table of the peak hours chart.
//!
//! Pure functions over the `GET /api/v1/stats` answers, so they are unit-tested on the host.
//! Bucket starts come as RFC 3339 with the site zone's offset (`2026-11-27T14:00:00+09:00`):
//! their local reading is the site's wall clock, whatever the browser's zone.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Timelike, Utc};
use maskgate_api_types::StatsBucket;

/// Ranges up to this many days are charted per hour; longer ones per day.
pub const HOURLY_UP_TO_DAYS: i64 = 2;
/// The peak hours chart reads hourly buckets; the server gives at most 100 days of them.
pub const PEAKS_UP_TO_DAYS: i64 = 100;
/// The longest custom range the screen asks for.
pub const MAX_DAYS: i64 = 366;

/// Which days the charts cover, as kept in the URL (`?range=7d`, `?range=custom&from=…&to=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeChoice {
    /// The site's today.
    Today,
    /// Today and the 6 days before.
    Week,
    /// Today and the 29 days before.
    Month,
    /// From one date to another, both included; either may be missing while the user types.
    Custom(Option<NaiveDate>, Option<NaiveDate>),
}

impl RangeChoice {
    /// Reads the URL's `range`, `from` and `to`; anything unknown is the last 7 days.
    pub fn from_query(range: Option<&str>, from: Option<&str>, to: Option<&str>) -> Self {
        let date = |s: Option<&str>| s.and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok());
        match range {
            Some("today") => RangeChoice::Today,
            Some("30d") => RangeChoice::Month,
            Some("custom") => RangeChoice::Custom(date(from), date(to)),
            _ => RangeChoice::Week,
        }
    }

    /// The URL's `range` value.
    pub fn key(&self) -> &'static str {
        match self {
            RangeChoice::Today => "today",
            RangeChoice::Week => "7d",
            RangeChoice::Month => "30d",
            RangeChoice::Custom(..) => "custom",
        }
    }

    /// The first and last day covered, given the site's today; or why there is none.
    pub fn days(&self, today: NaiveDate) -> Result<(NaiveDate, NaiveDate), &'static str> {
        let back = |days: i64| today - Duration::days(days);
        match *self {
            RangeChoice::Today => Ok((today, today)),
            RangeChoice::Week => Ok((back(6), today)),
            RangeChoice::Month => Ok((back(29), today)),
            RangeChoice::Custom(Some(from), Some(to)) if from > to => {
                Err("The first day must be on or before the last day.")
            }
            RangeChoice::Custom(Some(from), Some(to)) if (to - from).num_days() >= MAX_DAYS => {
                Err("Pick at most 366 days.")
            }
            RangeChoice::Custom(Some(from), Some(to)) => Ok((from, to)),
            RangeChoice::Custom(..) => Err("Pick the first and the last day."),
        }
    }
}

/// A bucket start read in the site's zone.
pub fn local_start(bucket: &StatsBucket) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(&bucket.start).ok()
}

/// The site's date and UTC offset (seconds east) at a bucket start.
pub fn site_day(bucket: &StatsBucket) -> Option<(NaiveDate, i32)> {
    local_start(bucket).map(|t| (t.date_naive(), t.offset().local_minus_utc()))
}

/// Noon of `date` in a zone `offset_seconds` east of UTC: inside that site day even when a
/// daylight saving change moved the offset by an hour since the offset was read.
pub fn noon(date: NaiveDate, offset_seconds: i32) -> DateTime<Utc> {
    let local = date.and_hms_opt(12, 0, 0).unwrap_or_default();
    DateTime::<Utc>::from_naive_utc_and_offset(local, Utc)
        - Duration::seconds(i64::from(offset_seconds))
}

/// A bucket's label on the time axis: `14:00` for hours of one day, `27 Nov 14:00` for hours
/// of several, `27 Nov` for days.
pub fn label(bucket: &StatsBucket, hourly: bool, one_day: bool) -> String {
    let Some(start) = local_start(bucket) else {
        return bucket.start.clone();
    };
    match (hourly, one_day) {
        (true, true) => start.format("%H:%M").to_string(),
        (true, false) => start.format("%-d %b %H:%M").to_string(),
        (false, _) => start.format("%a %-d %b").to_string(),
    }
}

/// Visits per weekday (Monday first) and hour of the day, summed over hourly buckets, in
/// the site's wall clock.
pub fn peaks(hourly: &[StatsBucket]) -> [[u64; 24]; 7] {
    let mut table = [[0u64; 24]; 7];
    for bucket in hourly {
        if let Some(start) = local_start(bucket) {
            let day = start.weekday().num_days_from_monday() as usize;
            table[day][start.hour() as usize] += bucket.passed + bucket.failed;
        }
    }
    table
}

/// Passes and fails over all buckets.
pub fn totals(buckets: &[StatsBucket]) -> (u64, u64) {
    buckets
        .iter()
        .fold((0, 0), |(p, f), b| (p + b.passed, f + b.failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(start: &str, passed: u64, failed: u64) -> StatsBucket {
        StatsBucket {
            start: start.to_owned(),
            passed,
            failed,
        }
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("a valid test date")
    }

    #[test]
    fn presets_end_today_and_custom_ranges_are_checked() {
        let today = date(2026, 11, 27);
        let cases = [
            (RangeChoice::Today, Ok((today, today))),
            (RangeChoice::Week, Ok((date(2026, 11, 21), today))),
            (RangeChoice::Month, Ok((date(2026, 10, 29), today))),
            (
                RangeChoice::Custom(Some(date(2026, 1, 1)), Some(date(2026, 1, 3))),
                Ok((date(2026, 1, 1), date(2026, 1, 3))),
            ),
            (
                RangeChoice::Custom(Some(date(2026, 1, 3)), Some(date(2026, 1, 1))),
                Err("The first day must be on or before the last day."),
            ),
            (
                RangeChoice::Custom(None, Some(date(2026, 1, 1))),
                Err("Pick the first and the last day."),
            ),
            (
                RangeChoice::Custom(Some(date(2024, 12, 31)), Some(date(2026, 1, 1))),
                Err("Pick at most 366 days."),
            ),
        ];
        for (choice, want) in cases {
            assert_eq!(choice.days(today), want, "case {choice:?}");
        }
    }

    #[test]
    fn the_url_query_round_trips() {
        let custom = RangeChoice::from_query(Some("custom"), Some("2026-01-01"), Some("bad"));
        assert_eq!(custom, RangeChoice::Custom(Some(date(2026, 1, 1)), None));
        assert_eq!(
            RangeChoice::from_query(Some("today"), None, None).key(),
            "today"
        );
        assert_eq!(RangeChoice::from_query(None, None, None), RangeChoice::Week);
        assert_eq!(
            RangeChoice::from_query(Some("30d"), None, None).key(),
            "30d"
        );
    }

    #[test]
    fn noon_in_seoul_is_three_utc() {
        let at = noon(date(2026, 11, 27), 9 * 3600);
        assert_eq!(at.to_rfc3339(), "2026-11-27T03:00:00+00:00");
    }

    #[test]
    fn the_site_day_comes_from_the_bucket_offset_not_the_browser() {
        let b = bucket("2026-11-28T00:00:00+09:00", 0, 0);
        assert_eq!(site_day(&b), Some((date(2026, 11, 28), 9 * 3600)));
    }

    #[test]
    fn labels_fit_the_bucket_width() {
        let b = bucket("2026-11-27T14:00:00+09:00", 0, 0);
        assert_eq!(label(&b, true, true), "14:00");
        assert_eq!(label(&b, true, false), "27 Nov 14:00");
        assert_eq!(label(&b, false, false), "Fri 27 Nov");
    }

    #[test]
    fn peaks_sum_visits_by_local_weekday_and_hour() {
        let hourly = [
            bucket("2026-11-27T14:00:00+09:00", 3, 1), // Friday 14:00
            bucket("2026-12-04T14:00:00+09:00", 2, 0), // the next Friday
            bucket("2026-11-30T08:00:00+09:00", 0, 5), // Monday 08:00
        ];
        let table = peaks(&hourly);
        assert_eq!(table[4][14], 6);
        assert_eq!(table[0][8], 5);
        assert_eq!(table.iter().flatten().sum::<u64>(), 11);
        assert_eq!(totals(&hourly), (5, 6));
    }
}
