//! Checking alert rules before they are stored: ranges, doors, time zones and hours.

use chrono::{DateTime, Datelike, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use maskgate_api_types::{AlertRuleSpec, Condition, OpeningHours, TimeRange};

/// The longest window or delay a rule may name: 28 days, in minutes.
pub const MAX_MINUTES: i64 = 28 * 24 * 60;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn minutes(field: &str, value: i64) -> Result<(), String> {
    if (1..=MAX_MINUTES).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "{field} must be 1 to {MAX_MINUTES} minutes (28 days), not {value}"
        ))
    }
}

/// Parses `HH:MM` (00:00 to 23:59).
pub fn parse_hhmm(field: &str, text: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(text, "%H:%M")
        .map_err(|_| format!("{field} must be a time of day as HH:MM, not `{text}`"))
}

fn time_range(field: &str, range: &TimeRange) -> Result<(), String> {
    let start = parse_hhmm(&format!("{field}.start"), &range.start)?;
    let end = parse_hhmm(&format!("{field}.end"), &range.end)?;
    if start == end {
        return Err(format!(
            "{field} starts and ends at {}: an empty range",
            range.start
        ));
    }
    Ok(())
}

/// Checks a rule: every number in range, every door and channel it names known (`doors`,
/// `channels`: the names of all registered doors and channels), a real IANA time zone,
/// well-formed hours. The error says which field is wrong and why.
pub fn validate_rule(
    spec: &AlertRuleSpec,
    doors: &[String],
    channels: &[String],
) -> Result<(), String> {
    let name = spec.name.trim();
    if name.is_empty() || spec.name.chars().count() > 100 || spec.name.chars().any(char::is_control)
    {
        return Err("name must be 1 to 100 printable characters".into());
    }
    match &spec.condition {
        Condition::FailedCheck {
            fails,
            within_minutes,
        } => {
            if !(1..=10_000).contains(fails) {
                return Err(format!("condition.fails must be 1 to 10000, not {fails}"));
            }
            minutes("condition.within_minutes", *within_minutes)?;
        }
        Condition::PassRateBelow {
            percent,
            window_minutes,
            min_visits,
            ..
        } => {
            if !(percent.is_finite() && *percent > 0.0 && *percent <= 100.0) {
                return Err(format!(
                    "condition.percent must be above 0 and at most 100, not {percent}"
                ));
            }
            minutes("condition.window_minutes", *window_minutes)?;
            if *min_visits < 1 {
                return Err(format!(
                    "condition.min_visits must be at least 1, not {min_visits}"
                ));
            }
        }
        Condition::DeviceSilent { minutes: m }
        | Condition::CameraProblem { minutes: m }
        | Condition::QueueGrowing { minutes: m } => minutes("condition.minutes", *m)?,
        Condition::NoVisitsWhileOpen {
            minutes: m,
            opening,
        } => {
            minutes("condition.minutes", *m)?;
            if opening.days.is_empty() {
                return Err("condition.opening.days must name at least one day".into());
            }
            if let Some(day) = opening.days.iter().find(|d| !DAYS.contains(&d.as_str())) {
                return Err(format!(
                    "condition.opening.days: `{day}` is not one of {}",
                    DAYS.join(", ")
                ));
            }
            time_range("condition.opening.hours", &opening.hours)?;
        }
    }
    let unknown: Vec<&str> = spec
        .devices
        .iter()
        .filter(|d| !doors.contains(d))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(format!("devices: no such doors: {}", unknown.join(", ")));
    }
    if let Some(tz) = &spec.tz {
        tz.parse::<Tz>()
            .map_err(|_| format!("tz `{tz}` is not an IANA time zone (such as Asia/Seoul)"))?;
    }
    if let Some(quiet) = &spec.quiet_hours {
        time_range("quiet_hours", quiet)?;
    }
    if !(0..=MAX_MINUTES).contains(&spec.cooldown_minutes) {
        return Err(format!(
            "cooldown_minutes must be 0 to {MAX_MINUTES}, not {}",
            spec.cooldown_minutes
        ));
    }
    if let Some(m) = spec.escalate_after_minutes {
        minutes("escalate_after_minutes", m)?;
    }
    for (field, names) in [
        ("channels", &spec.channels),
        ("escalation_channels", &spec.escalation_channels),
    ] {
        let unknown: Vec<&str> = names
            .iter()
            .filter(|c| !channels.contains(c))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(format!("{field}: no such channels: {}", unknown.join(", ")));
        }
    }
    if !spec.escalation_channels.is_empty() && spec.escalate_after_minutes.is_none() {
        return Err("escalation_channels needs escalate_after_minutes".into());
    }
    Ok(())
}

/// Whether a local time of day falls in `range` (start inclusive, end exclusive; a range
/// whose end is before its start runs over midnight). A malformed range holds nothing.
pub fn in_range(at: NaiveTime, range: &TimeRange) -> bool {
    let (Ok(start), Ok(end)) = (parse_hhmm("", &range.start), parse_hhmm("", &range.end)) else {
        return false;
    };
    if start <= end {
        start <= at && at < end
    } else {
        at >= start || at < end
    }
}

/// When the opening period that `now` falls in began, or `None` when the site is closed.
/// A period that runs over midnight belongs to the day it started on.
pub fn open_since(now: DateTime<Utc>, tz: Tz, opening: &OpeningHours) -> Option<DateTime<Utc>> {
    let (Ok(start), Ok(end)) = (
        parse_hhmm("", &opening.hours.start),
        parse_hhmm("", &opening.hours.end),
    ) else {
        return None;
    };
    let local = now.with_timezone(&tz);
    let day_name = |d: Weekday| DAYS[d.num_days_from_monday() as usize];
    let open_on = |d: Weekday| opening.days.iter().any(|x| x == day_name(d));
    let time = local.time();
    let started_on = if start <= end {
        (start <= time && time < end).then(|| local.date_naive())
    } else if time >= start {
        Some(local.date_naive())
    } else if time < end {
        local.date_naive().pred_opt()
    } else {
        None
    }?;
    if !open_on(started_on.weekday()) {
        return None;
    }
    // A start that falls in a DST gap is taken as the earliest valid instant after it.
    let naive = started_on.and_time(start);
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(naive + chrono::Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
}
