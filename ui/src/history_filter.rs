//! The History screen's filters: read from and written to the page's URL query (so reload
//! and back work), and turned into the query of `GET /api/v1/visits` and of the CSV export.
//!
//! Pure, with no browser dependency, so it is unit-tested on the host. Days are the
//! browser's: the caller passes the function that gives the start of a day in its zone.

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};

/// Which results the History screen shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outcome {
    /// Passed and failed checks.
    #[default]
    All,
    /// Passed checks only.
    Passed,
    /// Failed checks only.
    Failed,
}

impl Outcome {
    /// The value in the page's URL (`pass`, `fail`; `all` is the default and left out).
    pub fn key(self) -> &'static str {
        match self {
            Outcome::All => "all",
            Outcome::Passed => "pass",
            Outcome::Failed => "fail",
        }
    }

    /// The outcome a URL value names; anything else is [`Outcome::All`].
    pub fn from_key(key: &str) -> Self {
        match key {
            "pass" => Outcome::Passed,
            "fail" => Outcome::Failed,
            _ => Outcome::All,
        }
    }

    fn passed(self) -> Option<bool> {
        match self {
            Outcome::All => None,
            Outcome::Passed => Some(true),
            Outcome::Failed => Some(false),
        }
    }
}

/// What the History screen shows: days (both included, in the browser's zone), a door, an
/// outcome. Every field empty: all visits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    /// The first day shown.
    pub from: Option<NaiveDate>,
    /// The last day shown (included).
    pub to: Option<NaiveDate>,
    /// Only this door's visits (its device name).
    pub door: Option<String>,
    /// Passed, failed or all.
    pub outcome: Outcome,
}

impl HistoryFilter {
    /// The filter of the page's URL query, read with `get` (name → decoded value). Values
    /// that do not parse are ignored, as if absent.
    pub fn from_query(get: impl Fn(&str) -> Option<String>) -> Self {
        let day = |name: &str| get(name).and_then(|v| v.parse::<NaiveDate>().ok());
        Self {
            from: day("from"),
            to: day("to"),
            door: get("door").filter(|d| !d.is_empty()),
            outcome: get("result").map_or(Outcome::All, |r| Outcome::from_key(&r)),
        }
    }

    /// The page's URL query for this filter, `?from=2026-11-01&door=front&result=fail`, or
    /// the empty string when nothing is filtered.
    pub fn to_query(&self) -> String {
        let mut pairs = Vec::new();
        if let Some(from) = self.from {
            pairs.push(format!("from={from}"));
        }
        if let Some(to) = self.to {
            pairs.push(format!("to={to}"));
        }
        if let Some(door) = &self.door {
            pairs.push(format!("door={}", encode(door)));
        }
        if self.outcome != Outcome::All {
            pairs.push(format!("result={}", self.outcome.key()));
        }
        if pairs.is_empty() {
            String::new()
        } else {
            format!("?{}", pairs.join("&"))
        }
    }

    /// Whether anything is filtered.
    pub fn is_filtered(&self) -> bool {
        *self != Self::default()
    }

    /// Why the filter cannot be asked for, in words: a last day before the first.
    pub fn problem(&self) -> Option<&'static str> {
        match (self.from, self.to) {
            (Some(from), Some(to)) if to < from => {
                Some("The last day is before the first day. Pick a later last day.")
            }
            _ => None,
        }
    }

    /// The API's query (`from=…&to=…&device=…&passed=…`, no leading `?`; empty for no
    /// filter). `midnight` gives the instant a day starts in the browser's zone; `to` becomes
    /// the start of the day after the last one, since the API's `to` is exclusive.
    pub fn api_query(&self, midnight: impl Fn(NaiveDate) -> DateTime<Utc>) -> String {
        let instant = |at: DateTime<Utc>| encode(&at.to_rfc3339_opts(SecondsFormat::Secs, true));
        let mut pairs = Vec::new();
        if let Some(from) = self.from {
            pairs.push(format!("from={}", instant(midnight(from))));
        }
        if let Some(to) = self.to {
            let next = to.checked_add_signed(Duration::days(1)).unwrap_or(to);
            pairs.push(format!("to={}", instant(midnight(next))));
        }
        if let Some(door) = &self.door {
            pairs.push(format!("device={}", encode(door)));
        }
        if let Some(passed) = self.outcome.passed() {
            pairs.push(format!("passed={passed}"));
        }
        pairs.join("&")
    }
}

/// `value` percent-encoded for a URL query (everything but `A-Z a-z 0-9 - _ . ~`).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use chrono::TimeZone;

    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).expect("valid")
    }

    /// Midnight in a zone 9 hours east of UTC (Seoul).
    fn seoul_midnight(day: NaiveDate) -> DateTime<Utc> {
        Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("valid")) - Duration::hours(9)
    }

    fn parse(query: &str) -> HistoryFilter {
        let pairs: HashMap<String, String> = query
            .trim_start_matches('?')
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.replace("%20", " ")))
            .collect();
        HistoryFilter::from_query(|name| pairs.get(name).cloned())
    }

    #[test]
    fn the_url_query_round_trips_and_ignores_nonsense() {
        let filter = HistoryFilter {
            from: Some(day(1)),
            to: Some(day(27)),
            door: Some("front door".into()),
            outcome: Outcome::Failed,
        };
        let query = filter.to_query();
        assert_eq!(
            query,
            "?from=2026-11-01&to=2026-11-27&door=front%20door&result=fail"
        );
        assert_eq!(parse(&query), filter);
        assert_eq!(HistoryFilter::default().to_query(), "");
        assert!(!HistoryFilter::default().is_filtered());
        let nonsense = parse("?from=yesterday&result=maybe&door=");
        assert_eq!(
            nonsense,
            HistoryFilter::default(),
            "unreadable values count as absent"
        );
    }

    #[test]
    fn the_api_query_covers_whole_local_days() {
        let filter = HistoryFilter {
            from: Some(day(1)),
            to: Some(day(27)),
            door: Some("back&side".into()),
            outcome: Outcome::Passed,
        };
        assert_eq!(
            filter.api_query(seoul_midnight),
            "from=2026-10-31T15%3A00%3A00Z&to=2026-11-27T15%3A00%3A00Z&device=back%26side&passed=true"
        );
        assert_eq!(HistoryFilter::default().api_query(seoul_midnight), "");
        let failed = HistoryFilter {
            outcome: Outcome::Failed,
            ..HistoryFilter::default()
        };
        assert_eq!(failed.api_query(seoul_midnight), "passed=false");
    }

    #[test]
    fn a_last_day_before_the_first_is_a_problem_the_same_day_is_not() {
        let mut filter = HistoryFilter {
            from: Some(day(5)),
            to: Some(day(4)),
            ..HistoryFilter::default()
        };
        assert!(filter.problem().is_some());
        filter.to = Some(day(5));
        assert_eq!(filter.problem(), None);
    }
}
