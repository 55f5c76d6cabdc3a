//! Plain words for people: numbers, times, door states and errors.
//!
//! Pure functions with no browser dependency, so they are unit-tested on the host. Times
//! are shown in the browser's zone: the caller passes the UTC offset the browser reports.

use chrono::{DateTime, Duration, Utc};
use maskgate_api_types::{Alert, AlertState, CameraState, DeviceStatus, ErrorBody, Severity};

/// A pass rate in `0..=1` as a percentage with at most one decimal (`97.3 %`, `100 %`);
/// a dash when there were no visits.
pub fn percent(rate: Option<f64>) -> String {
    match rate {
        None => "–".to_owned(),
        Some(rate) => {
            let text = format!("{:.1}", (rate * 100.0).clamp(0.0, 100.0));
            format!("{} %", text.strip_suffix(".0").unwrap_or(&text))
        }
    }
}

/// The pass rate of `passed` out of `passed + failed`; `None` when both are zero.
pub fn pass_rate(passed: u64, failed: u64) -> Option<f64> {
    let total = passed + failed;
    (total > 0).then(|| passed as f64 / total as f64)
}

/// How long ago `then` was, seen at `now`: `just now`, `40 s ago`, `2 min ago`, `3 h ago`,
/// `1 day ago`. A time in the future (a door's clock ahead of ours) reads as `just now`.
pub fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - then).num_seconds();
    match seconds {
        ..10 => "just now".to_owned(),
        10..60 => format!("{seconds} s ago"),
        60..3_600 => format!("{} min ago", seconds / 60),
        3_600..86_400 => format!("{} h ago", seconds / 3_600),
        _ => match seconds / 86_400 {
            1 => "1 day ago".to_owned(),
            days => format!("{days} days ago"),
        },
    }
}

/// `at` as a local clock time, `14:05:09`, for a zone `offset_minutes` east of UTC.
pub fn clock(at: DateTime<Utc>, offset_minutes: i32) -> String {
    local(at, offset_minutes).format("%H:%M:%S").to_string()
}

/// `at` as a local day and time, `27 Nov 14:05`, for a zone `offset_minutes` east of UTC.
pub fn day_and_time(at: DateTime<Utc>, offset_minutes: i32) -> String {
    local(at, offset_minutes).format("%-d %b %H:%M").to_string()
}

/// `at` as a local date and time to the second, `27 Nov 2026, 14:05:09`, for a zone
/// `offset_minutes` east of UTC: the History screen's times.
pub fn date_and_time(at: DateTime<Utc>, offset_minutes: i32) -> String {
    local(at, offset_minutes)
        .format("%-d %b %Y, %H:%M:%S")
        .to_string()
}

fn local(at: DateTime<Utc>, offset_minutes: i32) -> chrono::NaiveDateTime {
    at.naive_utc() + Duration::minutes(i64::from(offset_minutes))
}

/// What a door's camera reports, in words.
pub fn camera(state: CameraState) -> &'static str {
    match state {
        CameraState::Ok => "Camera OK",
        CameraState::NoFrames => "Camera sends no pictures",
        CameraState::TooDark => "Camera too dark",
        CameraState::Covered => "Camera covered",
    }
}

/// A door's local queue and last upload: `3 visits waiting, last sync 2 min ago`.
pub fn queue(status: &DeviceStatus, now: DateTime<Utc>) -> String {
    let waiting = match status.queue_depth {
        0 => "No visits waiting".to_owned(),
        1 => "1 visit waiting".to_owned(),
        n => format!("{n} visits waiting"),
    };
    match status.last_upload_at {
        Some(at) => format!("{waiting}, last sync {}", ago(at, now)),
        None => format!("{waiting}, never synced"),
    }
}

/// A door whose last heartbeat is older than this is shown as silent (doors beat every 30 s).
pub const SILENT_AFTER_SECONDS: i64 = 120;

/// Whether a door reported recently enough to count as online.
pub fn is_online(status: Option<&DeviceStatus>, now: DateTime<Utc>) -> bool {
    status.is_some_and(|s| (now - s.reported_at).num_seconds() < SILENT_AFTER_SECONDS)
}

/// The severity of an alert, in words.
pub fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "Info",
        Severity::Warning => "Warning",
        Severity::Critical => "Critical",
    }
}

/// Where an alert stands, in words, with who acknowledged it and when.
pub fn alert_state(alert: &Alert, offset_minutes: i32) -> String {
    match alert.state() {
        AlertState::Open if alert.escalated_at.is_some() => "Open, escalated".to_owned(),
        AlertState::Open => "Open".to_owned(),
        AlertState::Acknowledged => match (&alert.acked_by, alert.acked_at) {
            (Some(who), Some(at)) => format!(
                "Acknowledged by {who} at {}",
                day_and_time(at, offset_minutes)
            ),
            _ => "Acknowledged".to_owned(),
        },
        AlertState::Resolved => match alert.resolved_at {
            Some(at) => format!("Resolved at {}", day_and_time(at, offset_minutes)),
            None => "Resolved".to_owned(),
        },
    }
}

/// Why a request to the server did not give what the app asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server could not be reached (network down, server stopped).
    Network,
    /// The server answered with an error status.
    Http {
        /// The HTTP status.
        status: u16,
        /// The error code of the JSON error body, when there was one.
        code: Option<String>,
        /// The message of the JSON error body, when there was one.
        message: Option<String>,
    },
    /// A success whose body the app could not read (an older or newer server).
    Unreadable,
}

impl Failure {
    /// The failure of an error answer with `status` and `body` (the JSON error body, or
    /// anything else a proxy may have sent).
    pub fn from_response(status: u16, body: &str) -> Self {
        let parsed = serde_json::from_str::<ErrorBody>(body).ok();
        Failure::Http {
            status,
            code: parsed.as_ref().map(|b| b.error.code.clone()),
            message: parsed.map(|b| b.error.message),
        }
    }

    /// When this failure means the session is over: the words the login screen shows.
    pub fn ends_session(&self) -> Option<&'static str> {
        match self {
            Failure::Http {
                status: 401, code, ..
            } => Some(match code.as_deref() {
                Some("token_expired") => "Your session has expired. Please log in again.",
                _ => "You have been signed out. Please log in again.",
            }),
            _ => None,
        }
    }

    /// The failure in words a manager understands; never the raw body.
    pub fn describe(&self) -> String {
        match self {
            Failure::Network => {
                "Cannot reach the MaskGate server. Check the network connection and try again."
                    .to_owned()
            }
            Failure::Unreadable => {
                "The server sent an answer this page cannot read. Reload the page; if that does \
                 not help, the server and the app may be different versions."
                    .to_owned()
            }
            Failure::Http {
                status,
                code,
                message,
            } => match (code.as_deref(), *status) {
                (Some("token_expired"), _) | (Some("unauthorized"), _) | (_, 401) => self
                    .ends_session()
                    .unwrap_or("Please log in again.")
                    .to_owned(),
                (Some("rate_limited"), _) | (_, 429) => {
                    "Too many failed logins. Wait 15 minutes, then try again.".to_owned()
                }
                (Some("forbidden"), _) | (_, 403) => {
                    "Your account may not do this. Ask an administrator.".to_owned()
                }
                (Some("not_found"), _) | (_, 404) => {
                    "Not found: it may have been deleted. Reload the page.".to_owned()
                }
                (Some("validation" | "bad_request" | "conflict"), _) => match message {
                    Some(message) => sentence(message),
                    None => "The server did not accept this request.".to_owned(),
                },
                (Some("unavailable"), _) | (_, 503) => {
                    "The server cannot reach its database right now. Try again in a moment."
                        .to_owned()
                }
                (_, 500..) => format!(
                    "The server had a problem (error {status}). Try again; if it keeps \
                     happening, look at the server's log."
                ),
                _ => format!("The server refused the request (error {status})."),
            },
        }
    }

    /// The words of a failed login: a 401 there means a wrong name or password.
    pub fn describe_login(&self) -> String {
        match self {
            Failure::Http { status: 401, .. } => "Wrong user name or password.".to_owned(),
            other => other.describe(),
        }
    }
}

/// A server message as a sentence: capital first letter, full stop at the end.
fn sentence(message: &str) -> String {
    let mut chars = message.trim().chars();
    let mut text = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
        None => return String::new(),
    };
    if !text.ends_with(['.', '!', '?']) {
        text.push('.');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, h, m, s)
            .single()
            .expect("valid")
    }

    #[test]
    fn pass_rates_read_as_percentages() {
        let cases = [
            (None, "–"),
            (Some(1.0), "100 %"),
            (Some(0.0), "0 %"),
            (Some(0.9734), "97.3 %"),
            (Some(0.5), "50 %"),
        ];
        for (rate, want) in cases {
            assert_eq!(percent(rate), want, "rate {rate:?}");
        }
        assert_eq!(pass_rate(0, 0), None);
        assert_eq!(pass_rate(3, 1), Some(0.75));
    }

    #[test]
    fn elapsed_time_reads_in_the_largest_whole_unit() {
        let now = at(12, 0, 0);
        let cases = [
            (now + Duration::seconds(30), "just now"),
            (now - Duration::seconds(3), "just now"),
            (now - Duration::seconds(40), "40 s ago"),
            (now - Duration::seconds(150), "2 min ago"),
            (now - Duration::hours(3), "3 h ago"),
            (now - Duration::hours(30), "1 day ago"),
            (now - Duration::days(9), "9 days ago"),
        ];
        for (then, want) in cases {
            assert_eq!(ago(then, now), want, "{then} seen at {now}");
        }
    }

    #[test]
    fn times_are_shown_in_the_browsers_zone() {
        assert_eq!(clock(at(23, 30, 5), 0), "23:30:05");
        assert_eq!(clock(at(23, 30, 5), 9 * 60), "08:30:05");
        assert_eq!(day_and_time(at(23, 30, 5), 9 * 60), "28 Nov 08:30");
        assert_eq!(day_and_time(at(1, 0, 0), -5 * 60), "26 Nov 20:00");
        assert_eq!(
            date_and_time(at(23, 30, 5), 9 * 60),
            "28 Nov 2026, 08:30:05"
        );
    }

    #[test]
    fn a_doors_queue_reads_as_visits_waiting_and_last_sync() {
        let now = at(12, 0, 0);
        let mut status = DeviceStatus {
            reported_at: now,
            queue_depth: 3,
            oldest_queued_at: None,
            last_upload_at: Some(now - Duration::minutes(2)),
            camera_state: CameraState::Ok,
            model_version: None,
            model_sha256: None,
            model_error: None,
            camera_since: None,
            queue_growing_since: None,
        };
        assert_eq!(queue(&status, now), "3 visits waiting, last sync 2 min ago");
        status.queue_depth = 1;
        assert_eq!(queue(&status, now), "1 visit waiting, last sync 2 min ago");
        status.queue_depth = 0;
        status.last_upload_at = None;
        assert_eq!(queue(&status, now), "No visits waiting, never synced");
        assert!(is_online(Some(&status), now + Duration::seconds(60)));
        assert!(!is_online(Some(&status), now + Duration::minutes(5)));
        assert!(!is_online(None, now));
    }

    #[test]
    fn errors_read_as_plain_words_never_as_json() {
        let expired = Failure::from_response(
            401,
            r#"{"error":{"code":"token_expired","message":"the session has expired; log in again"}}"#,
        );
        assert_eq!(
            expired.ends_session(),
            Some("Your session has expired. Please log in again.")
        );
        let signed_out = Failure::from_response(
            401,
            r#"{"error":{"code":"unauthorized","message":"unknown token"}}"#,
        );
        assert_eq!(
            signed_out.ends_session(),
            Some("You have been signed out. Please log in again.")
        );
        assert_eq!(signed_out.describe_login(), "Wrong user name or password.");
        let cases = [
            (
                Failure::from_response(
                    422,
                    r#"{"error":{"code":"validation","message":"limit must be 1 to 500, not 0"}}"#,
                ),
                "Limit must be 1 to 500, not 0.",
            ),
            (
                Failure::from_response(502, "<html>Bad gateway</html>"),
                "The server had a problem (error 502). Try again; if it keeps happening, look \
                 at the server's log.",
            ),
            (
                Failure::from_response(429, r#"{"error":{"code":"rate_limited","message":"x"}}"#),
                "Too many failed logins. Wait 15 minutes, then try again.",
            ),
        ];
        for (failure, want) in cases {
            let text = failure.describe();
            assert_eq!(text, want, "{failure:?}");
            assert!(!text.contains('{'), "no JSON in {text}");
        }
        assert_eq!(Failure::Network.ends_session(), None);
    }
}
