//! The alert rules editor's form: every field as the admin typed it, turned into an
//! [`AlertRuleSpec`] with a message in words when a field is wrong, and one line of words
//! per condition for the list of rules.
//!
//! Pure, with no browser dependency, so it is unit-tested on the host. The server checks
//! every rule again (and knows the doors, channels and time zones); this catches what can
//! be said before asking it, naming the field by the label the form shows.

use chrono::NaiveTime;
use maskgate_api_types::{AlertRuleSpec, Condition, OpeningHours, Scope, Severity, TimeRange};

/// The longest window or delay a rule may name: 28 days, in minutes (as the server says).
pub const MAX_MINUTES: i64 = 28 * 24 * 60;

/// The most failed checks a rule may wait for (as the server says).
pub const MAX_FAILS: i64 = 10_000;

/// The week's days as the API names them, Monday first, with their short names.
pub const DAYS: [(&str, &str); 7] = [
    ("mon", "Mon"),
    ("tue", "Tue"),
    ("wed", "Wed"),
    ("thu", "Thu"),
    ("fri", "Fri"),
    ("sat", "Sat"),
    ("sun", "Sun"),
];

/// What a rule watches, without its numbers: the form's "Condition" choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    /// Failed checks at a door.
    #[default]
    FailedCheck,
    /// A low pass rate.
    PassRateBelow,
    /// A door without heartbeats.
    DeviceSilent,
    /// A camera that is dark, covered or sends nothing.
    CameraProblem,
    /// No visits while the site is open.
    NoVisitsWhileOpen,
    /// A door's queue of unsent visits keeps growing.
    QueueGrowing,
}

impl Kind {
    /// Every kind, in the order the form offers them.
    pub const ALL: [Kind; 6] = [
        Kind::FailedCheck,
        Kind::PassRateBelow,
        Kind::DeviceSilent,
        Kind::CameraProblem,
        Kind::NoVisitsWhileOpen,
        Kind::QueueGrowing,
    ];

    /// The wire name (`failed_check`, …), also the form's option value.
    pub fn key(self) -> &'static str {
        match self {
            Kind::FailedCheck => "failed_check",
            Kind::PassRateBelow => "pass_rate_below",
            Kind::DeviceSilent => "device_silent",
            Kind::CameraProblem => "camera_problem",
            Kind::NoVisitsWhileOpen => "no_visits_while_open",
            Kind::QueueGrowing => "queue_growing",
        }
    }

    /// The kind a wire name names; anything else is [`Kind::FailedCheck`].
    pub fn from_key(key: &str) -> Self {
        Kind::ALL
            .into_iter()
            .find(|kind| kind.key() == key)
            .unwrap_or_default()
    }

    /// The kind in words, for the form's choice.
    pub fn label(self) -> &'static str {
        match self {
            Kind::FailedCheck => "Failed checks at a door",
            Kind::PassRateBelow => "Pass rate below a threshold",
            Kind::DeviceSilent => "Door sends no heartbeat",
            Kind::CameraProblem => "Camera problem",
            Kind::NoVisitsWhileOpen => "No visits while open",
            Kind::QueueGrowing => "Queue of unsent visits growing",
        }
    }

    /// The kind of `condition`.
    pub fn of(condition: &Condition) -> Self {
        match condition {
            Condition::FailedCheck { .. } => Kind::FailedCheck,
            Condition::PassRateBelow { .. } => Kind::PassRateBelow,
            Condition::DeviceSilent { .. } => Kind::DeviceSilent,
            Condition::CameraProblem { .. } => Kind::CameraProblem,
            Condition::NoVisitsWhileOpen { .. } => Kind::NoVisitsWhileOpen,
            Condition::QueueGrowing { .. } => Kind::QueueGrowing,
        }
    }
}

/// A severity's wire name (`info`, `warning`, `critical`), the form's option value.
pub fn severity_key(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

/// The severity a wire name names; anything else is the default, warning.
pub fn severity_from_key(key: &str) -> Severity {
    match key {
        "info" => Severity::Info,
        "critical" => Severity::Critical,
        _ => Severity::Warning,
    }
}

/// The alert rule form: what the admin typed, numbers and times as text. The fields of
/// every condition kind are kept, so switching the kind back and forth loses nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleForm {
    /// "Name".
    pub name: String,
    /// "Condition".
    pub kind: Kind,
    /// "Failed checks" (failed check).
    pub fails: String,
    /// "Within (minutes)" (failed check).
    pub within_minutes: String,
    /// "Pass rate below (%)".
    pub percent: String,
    /// "Over (minutes)" (pass rate).
    pub window_minutes: String,
    /// "At least (visits)" (pass rate).
    pub min_visits: String,
    /// Each door or all doors together (pass rate).
    pub scope: Scope,
    /// "For (minutes)": silent door, camera problem, no visits, growing queue.
    pub minutes: String,
    /// "Open on": `mon` … `sun`, in week order (no visits while open).
    pub opening_days: Vec<String>,
    /// "Opens at", `HH:MM` (no visits while open).
    pub opening_start: String,
    /// "Closes at", `HH:MM` (no visits while open).
    pub opening_end: String,
    /// "Severity".
    pub severity: Severity,
    /// "Doors": none ticked covers every door.
    pub doors: Vec<String>,
    /// Quiet hours "From", `HH:MM`; empty with `quiet_end`: no quiet hours.
    pub quiet_start: String,
    /// Quiet hours "Until", `HH:MM`.
    pub quiet_end: String,
    /// "Time zone" (IANA); empty: the site's.
    pub tz: String,
    /// "Cooldown (minutes)".
    pub cooldown_minutes: String,
    /// "Escalate after (minutes)"; empty: never.
    pub escalate_after_minutes: String,
    /// "Enabled".
    pub enabled: bool,
    /// "Send alerts to": channel names.
    pub channels: Vec<String>,
    /// "On escalation, send to": channel names.
    pub escalation_channels: Vec<String>,
}

impl Default for RuleForm {
    /// A new rule: three failed checks within ten minutes at any door, and sensible numbers
    /// for the other kinds should the admin pick one.
    fn default() -> Self {
        Self {
            name: String::new(),
            kind: Kind::FailedCheck,
            fails: "3".into(),
            within_minutes: "10".into(),
            percent: "90".into(),
            window_minutes: "60".into(),
            min_visits: "10".into(),
            scope: Scope::Door,
            minutes: "10".into(),
            opening_days: ["mon", "tue", "wed", "thu", "fri"].map(String::from).into(),
            opening_start: "08:00".into(),
            opening_end: "18:00".into(),
            severity: Severity::Warning,
            doors: Vec::new(),
            quiet_start: String::new(),
            quiet_end: String::new(),
            tz: String::new(),
            cooldown_minutes: "30".into(),
            escalate_after_minutes: String::new(),
            enabled: true,
            channels: Vec::new(),
            escalation_channels: Vec::new(),
        }
    }
}

impl RuleForm {
    /// The form filled with a stored rule, to edit it.
    pub fn from_rule(spec: &AlertRuleSpec) -> Self {
        let mut form = RuleForm {
            name: spec.name.clone(),
            kind: Kind::of(&spec.condition),
            severity: spec.severity,
            doors: spec.devices.clone(),
            tz: spec.tz.clone().unwrap_or_default(),
            cooldown_minutes: spec.cooldown_minutes.to_string(),
            escalate_after_minutes: spec
                .escalate_after_minutes
                .map(|m| m.to_string())
                .unwrap_or_default(),
            enabled: spec.enabled,
            channels: spec.channels.clone(),
            escalation_channels: spec.escalation_channels.clone(),
            ..RuleForm::default()
        };
        if let Some(quiet) = &spec.quiet_hours {
            form.quiet_start = quiet.start.clone();
            form.quiet_end = quiet.end.clone();
        }
        match &spec.condition {
            Condition::FailedCheck {
                fails,
                within_minutes,
            } => {
                form.fails = fails.to_string();
                form.within_minutes = within_minutes.to_string();
            }
            Condition::PassRateBelow {
                percent,
                window_minutes,
                min_visits,
                scope,
            } => {
                form.percent = percent.to_string();
                form.window_minutes = window_minutes.to_string();
                form.min_visits = min_visits.to_string();
                form.scope = *scope;
            }
            Condition::DeviceSilent { minutes }
            | Condition::CameraProblem { minutes }
            | Condition::QueueGrowing { minutes } => form.minutes = minutes.to_string(),
            Condition::NoVisitsWhileOpen { minutes, opening } => {
                form.minutes = minutes.to_string();
                form.opening_days = opening.days.clone();
                form.opening_start = opening.hours.start.clone();
                form.opening_end = opening.hours.end.clone();
            }
        }
        form
    }

    /// The rule the form describes, or what is wrong with it in words, naming the field as
    /// the form labels it (`Within (minutes) must be a whole number.`).
    pub fn to_spec(&self) -> Result<AlertRuleSpec, String> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err("Name must not be empty.".into());
        }
        if name.chars().count() > 100 {
            return Err("Name must be at most 100 characters.".into());
        }
        if name.chars().any(char::is_control) {
            return Err("Name must not contain control characters.".into());
        }
        let condition = match self.kind {
            Kind::FailedCheck => Condition::FailedCheck {
                fails: whole_in("Failed checks", &self.fails, 1, MAX_FAILS, "1 to 10000")?,
                within_minutes: minutes("Within (minutes)", &self.within_minutes)?,
            },
            Kind::PassRateBelow => Condition::PassRateBelow {
                percent: percent("Pass rate below (%)", &self.percent)?,
                window_minutes: minutes("Over (minutes)", &self.window_minutes)?,
                min_visits: whole_in(
                    "At least (visits)",
                    &self.min_visits,
                    1,
                    i64::MAX,
                    "1 or more",
                )?,
                scope: self.scope,
            },
            Kind::DeviceSilent => Condition::DeviceSilent {
                minutes: minutes("For (minutes)", &self.minutes)?,
            },
            Kind::CameraProblem => Condition::CameraProblem {
                minutes: minutes("For (minutes)", &self.minutes)?,
            },
            Kind::QueueGrowing => Condition::QueueGrowing {
                minutes: minutes("For (minutes)", &self.minutes)?,
            },
            Kind::NoVisitsWhileOpen => {
                let minutes = minutes("For (minutes)", &self.minutes)?;
                if self.opening_days.is_empty() {
                    return Err("Open on: choose at least one day.".into());
                }
                let hours = time_range("Opening hours", &self.opening_start, &self.opening_end)?
                    .ok_or("Opening hours: give the time the site opens and the time it closes.")?;
                Condition::NoVisitsWhileOpen {
                    minutes,
                    opening: OpeningHours {
                        days: self.opening_days.clone(),
                        hours,
                    },
                }
            }
        };
        let quiet_hours = time_range("Quiet hours", &self.quiet_start, &self.quiet_end)?;
        let cooldown_minutes = whole_in(
            "Cooldown (minutes)",
            &self.cooldown_minutes,
            0,
            MAX_MINUTES,
            "0 to 40320 (28 days)",
        )?;
        let escalate_after_minutes = match self.escalate_after_minutes.trim() {
            "" => None,
            text => Some(minutes("Escalate after (minutes)", text)?),
        };
        if !self.escalation_channels.is_empty() && escalate_after_minutes.is_none() {
            return Err(
                "Escalate after (minutes) is needed when escalations go to channels: \
                        give the minutes, or untick the escalation channels."
                    .into(),
            );
        }
        let tz = Some(self.tz.trim().to_owned()).filter(|tz| !tz.is_empty());
        Ok(AlertRuleSpec {
            name: name.to_owned(),
            condition,
            severity: self.severity,
            devices: self.doors.clone(),
            quiet_hours,
            tz,
            cooldown_minutes,
            escalate_after_minutes,
            enabled: self.enabled,
            channels: self.channels.clone(),
            escalation_channels: self.escalation_channels.clone(),
        })
    }

    /// Ticks or unticks an opening day, keeping the days in week order.
    pub fn set_day(&mut self, day: &str, open: bool) {
        self.opening_days.retain(|d| d != day);
        if open {
            self.opening_days.push(day.to_owned());
        }
        self.opening_days
            .sort_by_key(|d| DAYS.iter().position(|(key, _)| key == d));
    }
}

/// Adds `name` to `list` (at the end) or takes it out: a ticked or unticked checkbox.
pub fn set_ticked(list: &mut Vec<String>, name: &str, ticked: bool) {
    let there = list.iter().any(|n| n == name);
    if ticked && !there {
        list.push(name.to_owned());
    } else if !ticked {
        list.retain(|n| n != name);
    }
}

fn whole(label: &str, text: &str) -> Result<i64, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{label} must be a whole number."))
}

/// A whole number in `min..=max`; `range` says the range in words when it is not.
fn whole_in(label: &str, text: &str, min: i64, max: i64, range: &str) -> Result<i64, String> {
    let value = whole(label, text)?;
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{label} must be {range}."))
    }
}

fn minutes(label: &str, text: &str) -> Result<i64, String> {
    whole_in(label, text, 1, MAX_MINUTES, "1 to 40320 (28 days)")
}

fn percent(label: &str, text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .replace(',', ".")
        .parse()
        .map_err(|_| format!("{label} must be a number, such as 90 or 92.5."))?;
    if !(value.is_finite() && value > 0.0 && value <= 100.0) {
        return Err(format!("{label} must be above 0 and at most 100."));
    }
    Ok(value)
}

/// Both times empty: no range; one of them: an error; both: a checked range.
fn time_range(label: &str, start: &str, end: &str) -> Result<Option<TimeRange>, String> {
    let (start, end) = (start.trim(), end.trim());
    match (start.is_empty(), end.is_empty()) {
        (true, true) => return Ok(None),
        (false, false) => {}
        _ => {
            return Err(format!(
                "{label}: give both a start and an end, or neither."
            ));
        }
    }
    let parse = |which: &str, text: &str| {
        NaiveTime::parse_from_str(text, "%H:%M")
            .map_err(|_| format!("{label}: the {which} must be a time of day such as 22:00."))
    };
    if parse("start", start)? == parse("end", end)? {
        return Err(format!(
            "{label} start and end at the same time: choose two different times."
        ));
    }
    Ok(Some(TimeRange {
        start: start.to_owned(),
        end: end.to_owned(),
    }))
}

fn count(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

fn minutes_words(n: i64) -> String {
    count(n, "minute", "minutes")
}

/// What a rule watches, in one line for the list of rules: `3 failed checks within 10
/// minutes at a door`, `Pass rate below 90 % over 60 minutes (at least 10 visits), each
/// door`.
pub fn describe(condition: &Condition) -> String {
    match condition {
        Condition::FailedCheck {
            fails: 1,
            within_minutes: _,
        } => "Every failed check at a door".to_owned(),
        Condition::FailedCheck {
            fails,
            within_minutes,
        } => format!(
            "{} within {} at a door",
            count(*fails, "failed check", "failed checks"),
            minutes_words(*within_minutes)
        ),
        Condition::PassRateBelow {
            percent,
            window_minutes,
            min_visits,
            scope,
        } => format!(
            "Pass rate below {percent} % over {} (at least {}), {}",
            minutes_words(*window_minutes),
            count(*min_visits, "visit", "visits"),
            match scope {
                Scope::Door => "each door",
                Scope::Site => "all doors together",
            }
        ),
        Condition::DeviceSilent { minutes } => {
            format!("A door sends no heartbeat for {}", minutes_words(*minutes))
        }
        Condition::CameraProblem { minutes } => format!(
            "A camera is too dark, covered or sends no pictures for {}",
            minutes_words(*minutes)
        ),
        Condition::NoVisitsWhileOpen { minutes, opening } => format!(
            "No visits at a door for {} while open ({} {}–{})",
            minutes_words(*minutes),
            days_words(&opening.days),
            opening.hours.start,
            opening.hours.end
        ),
        Condition::QueueGrowing { minutes } => format!(
            "A door's queue of unsent visits grows for {}",
            minutes_words(*minutes)
        ),
    }
}

/// Days in words, runs of three or more joined: `Mon–Fri`, `Mon, Wed, Fri–Sun`, and
/// `every day` for the whole week. Unknown names are shown as they are.
pub fn days_words(days: &[String]) -> String {
    let mut indexes: Vec<usize> = days
        .iter()
        .filter_map(|d| DAYS.iter().position(|(key, _)| key == d))
        .collect();
    indexes.sort_unstable();
    indexes.dedup();
    if indexes.len() == DAYS.len() {
        return "every day".to_owned();
    }
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < indexes.len() {
        let mut j = i;
        while j + 1 < indexes.len() && indexes[j + 1] == indexes[j] + 1 {
            j += 1;
        }
        let (first, last) = (DAYS[indexes[i]].1, DAYS[indexes[j]].1);
        match j - i {
            0 => parts.push(first.to_owned()),
            1 => parts.extend([first.to_owned(), last.to_owned()]),
            _ => parts.push(format!("{first}–{last}")),
        }
        i = j + 1;
    }
    parts.extend(
        days.iter()
            .filter(|d| !DAYS.iter().any(|(key, _)| key == d))
            .cloned(),
    );
    parts.join(", ")
}

/// The doors a rule covers, in words: `every door` or their names.
pub fn doors_words(doors: &[String]) -> String {
    if doors.is_empty() {
        "every door".to_owned()
    } else {
        doors.join(", ")
    }
}

/// A rule's quiet hours in words: `quiet 22:00–06:00 (Europe/Berlin)`, `no quiet hours`.
pub fn quiet_words(quiet: Option<&TimeRange>, tz: Option<&str>) -> String {
    match (quiet, tz) {
        (None, _) => "no quiet hours".to_owned(),
        (Some(range), None) => format!("quiet {}–{}", range.start, range.end),
        (Some(range), Some(tz)) => format!("quiet {}–{} ({tz})", range.start, range.end),
    }
}

/// The server's fields, as the form labels them.
const FIELD_LABELS: [(&str, &str); 19] = [
    ("name", "Name"),
    ("condition.fails", "Failed checks"),
    ("condition.within_minutes", "Within (minutes)"),
    ("condition.percent", "Pass rate below (%)"),
    ("condition.window_minutes", "Over (minutes)"),
    ("condition.min_visits", "At least (visits)"),
    ("condition.minutes", "For (minutes)"),
    ("condition.opening.days", "Open on"),
    ("condition.opening.hours", "Opening hours"),
    ("condition.opening.hours.start", "Opening hours start"),
    ("condition.opening.hours.end", "Opening hours end"),
    ("devices", "Doors"),
    ("tz", "Time zone"),
    ("quiet_hours", "Quiet hours"),
    ("quiet_hours.start", "Quiet hours start"),
    ("quiet_hours.end", "Quiet hours end"),
    ("cooldown_minutes", "Cooldown (minutes)"),
    ("escalate_after_minutes", "Escalate after (minutes)"),
    ("escalation_channels", "On escalation, send to"),
];

/// The server's message about a refused rule (a 422 or 409) in the form's words: its field
/// names become the form's labels (`condition.within_minutes` → `Within (minutes)`), quoted
/// values get typographic quotes, and it reads as a sentence.
pub fn explain_server_message(message: &str) -> String {
    let words: Vec<String> = message
        .split_whitespace()
        .enumerate()
        .map(|(i, word)| {
            let bare = word.trim_end_matches([':', ',']);
            let rest = &word[bare.len()..];
            // Only the first word, or a word no prose would contain, is a field name.
            let label = FIELD_LABELS
                .iter()
                .chain(&[("channels", "Send alerts to")])
                .find(|(field, _)| *field == bare)
                .filter(|_| i == 0 || bare.contains(['_', '.']));
            match label {
                Some((_, label)) if i == 0 => format!("{label}{rest}"),
                Some((_, label)) => format!("“{label}”{rest}"),
                None => word.to_owned(),
            }
        })
        .collect();
    let mut text = String::new();
    let mut open = true;
    for c in words.join(" ").chars() {
        if c == '`' {
            text.push(if open { '“' } else { '”' });
            open = !open;
        } else {
            text.push(c);
        }
    }
    let mut text = capitalised(&text);
    if !text.ends_with(['.', '!', '?']) {
        text.push('.');
    }
    text
}

/// `text` with a capital first letter.
pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(condition: Condition) -> AlertRuleSpec {
        AlertRuleSpec {
            name: "front door fails".into(),
            condition,
            severity: Severity::Critical,
            devices: vec!["front-door".into(), "back-door".into()],
            quiet_hours: Some(TimeRange {
                start: "22:00".into(),
                end: "06:00".into(),
            }),
            tz: Some("Europe/Berlin".into()),
            cooldown_minutes: 15,
            escalate_after_minutes: Some(20),
            enabled: false,
            channels: vec!["ops-slack".into()],
            escalation_channels: vec!["pager".into()],
        }
    }

    fn every_kind() -> Vec<Condition> {
        vec![
            Condition::FailedCheck {
                fails: 3,
                within_minutes: 10,
            },
            Condition::PassRateBelow {
                percent: 92.5,
                window_minutes: 60,
                min_visits: 12,
                scope: Scope::Site,
            },
            Condition::DeviceSilent { minutes: 5 },
            Condition::CameraProblem { minutes: 7 },
            Condition::NoVisitsWhileOpen {
                minutes: 45,
                opening: OpeningHours {
                    days: vec!["mon".into(), "wed".into(), "sat".into()],
                    hours: TimeRange {
                        start: "07:30".into(),
                        end: "01:00".into(),
                    },
                },
            },
            Condition::QueueGrowing { minutes: 30 },
        ]
    }

    #[test]
    fn every_kind_of_rule_survives_the_form() {
        for condition in every_kind() {
            let full = spec(condition.clone());
            let form = RuleForm::from_rule(&full);
            assert_eq!(form.kind, Kind::of(&condition));
            assert_eq!(
                form.to_spec(),
                Ok(full.clone()),
                "{condition:?}, every field set"
            );

            let bare = AlertRuleSpec {
                severity: Severity::Info,
                devices: Vec::new(),
                quiet_hours: None,
                tz: None,
                cooldown_minutes: 0,
                escalate_after_minutes: None,
                enabled: true,
                channels: Vec::new(),
                escalation_channels: Vec::new(),
                ..full
            };
            assert_eq!(
                RuleForm::from_rule(&bare).to_spec(),
                Ok(bare.clone()),
                "{condition:?}, optional fields empty"
            );
        }
    }

    #[test]
    fn kinds_and_severities_have_stable_keys() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_key(kind.key()), kind, "{kind:?}");
        }
        for severity in [Severity::Info, Severity::Warning, Severity::Critical] {
            assert_eq!(severity_from_key(severity_key(severity)), severity);
        }
    }

    #[test]
    fn a_new_rule_is_three_failed_checks_in_ten_minutes_at_every_door() {
        let form = RuleForm {
            name: "  front door fails ".into(),
            ..RuleForm::default()
        };
        let spec = form.to_spec().expect("the defaults are a valid rule");
        assert_eq!(spec.name, "front door fails", "the name is trimmed");
        assert_eq!(
            spec.condition,
            Condition::FailedCheck {
                fails: 3,
                within_minutes: 10
            }
        );
        assert_eq!(spec.severity, Severity::Warning);
        assert!(spec.devices.is_empty() && spec.quiet_hours.is_none() && spec.tz.is_none());
        assert_eq!((spec.cooldown_minutes, spec.enabled), (30, true));
    }

    #[test]
    fn switching_the_kind_keeps_the_other_kinds_numbers() {
        let mut form = RuleForm {
            name: "x".into(),
            ..RuleForm::default()
        };
        form.within_minutes = "25".into();
        form.kind = Kind::DeviceSilent;
        form.minutes = "4".into();
        form.kind = Kind::FailedCheck;
        assert_eq!(
            form.to_spec().expect("valid").condition,
            Condition::FailedCheck {
                fails: 3,
                within_minutes: 25
            }
        );
    }

    #[test]
    fn a_wrong_field_is_named_in_words() {
        type Change = fn(&mut RuleForm);
        let cases: [(&str, Change, &str); 20] = [
            (
                "empty name",
                |f| f.name = "   ".into(),
                "Name must not be empty.",
            ),
            (
                "long name",
                |f| f.name = "x".repeat(101),
                "Name must be at most 100 characters.",
            ),
            (
                "minutes in words",
                |f| f.within_minutes = "ten".into(),
                "Within (minutes) must be a whole number.",
            ),
            (
                "fractional minutes",
                |f| f.within_minutes = "2.5".into(),
                "Within (minutes) must be a whole number.",
            ),
            (
                "no minutes",
                |f| f.within_minutes = String::new(),
                "Within (minutes) must be a whole number.",
            ),
            (
                "zero minutes",
                |f| f.within_minutes = "0".into(),
                "Within (minutes) must be 1 to 40320 (28 days).",
            ),
            (
                "too many minutes",
                |f| f.within_minutes = "40321".into(),
                "Within (minutes) must be 1 to 40320 (28 days).",
            ),
            (
                "no failed checks",
                |f| f.fails = "0".into(),
                "Failed checks must be 1 to 10000.",
            ),
            (
                "percent over 100",
                |f| {
                    f.kind = Kind::PassRateBelow;
                    f.percent = "101".into();
                },
                "Pass rate below (%) must be above 0 and at most 100.",
            ),
            (
                "percent in words",
                |f| {
                    f.kind = Kind::PassRateBelow;
                    f.percent = "ninety".into();
                },
                "Pass rate below (%) must be a number, such as 90 or 92.5.",
            ),
            (
                "no visits needed",
                |f| {
                    f.kind = Kind::PassRateBelow;
                    f.min_visits = "0".into();
                },
                "At least (visits) must be 1 or more.",
            ),
            (
                "negative silence",
                |f| {
                    f.kind = Kind::DeviceSilent;
                    f.minutes = "-5".into();
                },
                "For (minutes) must be 1 to 40320 (28 days).",
            ),
            (
                "no opening days",
                |f| {
                    f.kind = Kind::NoVisitsWhileOpen;
                    f.opening_days.clear();
                },
                "Open on: choose at least one day.",
            ),
            (
                "no closing time",
                |f| {
                    f.kind = Kind::NoVisitsWhileOpen;
                    f.opening_end = String::new();
                },
                "Opening hours: give both a start and an end, or neither.",
            ),
            (
                "no opening hours",
                |f| {
                    f.kind = Kind::NoVisitsWhileOpen;
                    f.opening_start = String::new();
                    f.opening_end = String::new();
                },
                "Opening hours: give the time the site opens and the time it closes.",
            ),
            (
                "quiet hours without an end",
                |f| f.quiet_start = "22:00".into(),
                "Quiet hours: give both a start and an end, or neither.",
            ),
            (
                "quiet hours that are no time",
                |f| {
                    f.quiet_start = "25:00".into();
                    f.quiet_end = "06:00".into();
                },
                "Quiet hours: the start must be a time of day such as 22:00.",
            ),
            (
                "empty quiet hours",
                |f| {
                    f.quiet_start = "22:00".into();
                    f.quiet_end = "22:00".into();
                },
                "Quiet hours start and end at the same time: choose two different times.",
            ),
            (
                "negative cooldown",
                |f| f.cooldown_minutes = "-1".into(),
                "Cooldown (minutes) must be 0 to 40320 (28 days).",
            ),
            (
                "escalation channels without a delay",
                |f| f.escalation_channels = vec!["pager".into()],
                "Escalate after (minutes) is needed when escalations go to channels: give the \
                 minutes, or untick the escalation channels.",
            ),
        ];
        for (case, change, want) in cases {
            let mut form = RuleForm {
                name: "rule".into(),
                ..RuleForm::default()
            };
            change(&mut form);
            assert_eq!(form.to_spec(), Err(want.to_owned()), "{case}");
        }
    }

    #[test]
    fn ticking_keeps_days_in_week_order_and_names_once() {
        let mut form = RuleForm::default();
        form.opening_days.clear();
        form.set_day("sun", true);
        form.set_day("mon", true);
        form.set_day("wed", true);
        form.set_day("sun", false);
        assert_eq!(form.opening_days, ["mon", "wed"]);
        let mut doors = Vec::new();
        set_ticked(&mut doors, "front", true);
        set_ticked(&mut doors, "back", true);
        set_ticked(&mut doors, "front", true);
        assert_eq!(doors, ["front", "back"]);
        set_ticked(&mut doors, "front", false);
        assert_eq!(doors, ["back"]);
    }

    #[test]
    fn each_condition_reads_as_one_line() {
        let conditions = every_kind();
        let want = [
            "3 failed checks within 10 minutes at a door",
            "Pass rate below 92.5 % over 60 minutes (at least 12 visits), all doors together",
            "A door sends no heartbeat for 5 minutes",
            "A camera is too dark, covered or sends no pictures for 7 minutes",
            "No visits at a door for 45 minutes while open (Mon, Wed, Sat 07:30–01:00)",
            "A door's queue of unsent visits grows for 30 minutes",
        ];
        for (condition, want) in conditions.iter().zip(want) {
            assert_eq!(describe(condition), want, "{condition:?}");
        }
        assert_eq!(
            describe(&Condition::PassRateBelow {
                percent: 90.0,
                window_minutes: 60,
                min_visits: 10,
                scope: Scope::Door,
            }),
            "Pass rate below 90 % over 60 minutes (at least 10 visits), each door"
        );
        assert_eq!(
            describe(&Condition::FailedCheck {
                fails: 1,
                within_minutes: 10
            }),
            "Every failed check at a door"
        );
        assert_eq!(
            describe(&Condition::DeviceSilent { minutes: 1 }),
            "A door sends no heartbeat for 1 minute"
        );
    }

    #[test]
    fn the_servers_messages_name_the_forms_fields() {
        let cases = [
            (
                "tz `Mars/Olympus` is not an IANA time zone (such as Asia/Seoul)",
                "Time zone “Mars/Olympus” is not an IANA time zone (such as Asia/Seoul).",
            ),
            (
                "condition.within_minutes must be 1 to 40320 minutes (28 days), not 0",
                "Within (minutes) must be 1 to 40320 minutes (28 days), not 0.",
            ),
            (
                "channels: no such channels: ops, pager",
                "Send alerts to: no such channels: ops, pager.",
            ),
            (
                "escalation_channels needs escalate_after_minutes",
                "On escalation, send to needs “Escalate after (minutes)”.",
            ),
            (
                "quiet_hours.start must be a time of day as HH:MM, not `25:00`",
                "Quiet hours start must be a time of day as HH:MM, not “25:00”.",
            ),
            (
                "alert rule `front door` already exists",
                "Alert rule “front door” already exists.",
            ),
        ];
        for (message, want) in cases {
            assert_eq!(explain_server_message(message), want, "{message}");
        }
    }

    #[test]
    fn days_doors_and_quiet_hours_read_as_words() {
        let days =
            |list: &[&str]| days_words(&list.iter().map(|d| d.to_string()).collect::<Vec<_>>());
        assert_eq!(days(&["mon", "tue", "wed", "thu", "fri"]), "Mon–Fri");
        assert_eq!(days(&["sat", "sun"]), "Sat, Sun");
        assert_eq!(
            days(&["sun", "mon", "tue", "wed", "fri"]),
            "Mon–Wed, Fri, Sun"
        );
        assert_eq!(days(&DAYS.map(|(key, _)| key)), "every day");
        assert_eq!(doors_words(&[]), "every door");
        assert_eq!(doors_words(&["front".into(), "back".into()]), "front, back");
        let night = TimeRange {
            start: "22:00".into(),
            end: "06:00".into(),
        };
        assert_eq!(quiet_words(None, Some("UTC")), "no quiet hours");
        assert_eq!(quiet_words(Some(&night), None), "quiet 22:00–06:00");
        assert_eq!(
            quiet_words(Some(&night), Some("Asia/Seoul")),
            "quiet 22:00–06:00 (Asia/Seoul)"
        );
    }
}
