//! Alert rules: what the server watches at the doors, and when it raises an alert.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How bad an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Someone should look.
    #[default]
    Warning,
    /// Someone should act now.
    Critical,
}

/// A time of day range in the rule's time zone, `"HH:MM"` to `"HH:MM"`; a range whose end
/// is before its start runs over midnight (`22:00`–`06:00`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TimeRange {
    /// Start, `HH:MM` (inclusive).
    pub start: String,
    /// End, `HH:MM` (exclusive).
    pub end: String,
}

/// A site's opening hours: the days and the daily range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OpeningHours {
    /// Days open: `mon`, `tue`, `wed`, `thu`, `fri`, `sat`, `sun`.
    pub days: Vec<String>,
    /// The hours on those days.
    pub hours: TimeRange,
}

/// What a rule watches. Counts and minutes are signed on the wire so that a negative value
/// gets a message naming its field (the server checks every range).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// `fails` failed checks at one door within `within_minutes` (1 and any window: every
    /// failed check).
    FailedCheck {
        /// Failed checks needed.
        fails: i64,
        /// The window, in minutes.
        within_minutes: i64,
    },
    /// The pass rate over the last `window_minutes` is below `percent`, counted once at
    /// least `min_visits` visits happened in the window.
    PassRateBelow {
        /// The threshold, 0 to 100.
        percent: f64,
        /// The window, in minutes.
        window_minutes: i64,
        /// Fewer visits than this in the window say nothing.
        #[serde(default = "default_min_visits")]
        min_visits: i64,
        /// `door`: each door on its own; `site`: all covered doors together.
        #[serde(default)]
        scope: Scope,
    },
    /// A door sent no heartbeat for `minutes`.
    DeviceSilent {
        /// Minutes of silence.
        minutes: i64,
    },
    /// A door's camera reported too dark, covered or no frames for `minutes`.
    CameraProblem {
        /// Minutes the problem lasts before it alerts.
        minutes: i64,
    },
    /// No visit at all at a door for `minutes` while the site is open.
    NoVisitsWhileOpen {
        /// Minutes without visits.
        minutes: i64,
        /// When the site is open, in the rule's time zone.
        opening: OpeningHours,
    },
    /// A door's queue of unsent visits kept growing for `minutes`.
    QueueGrowing {
        /// Minutes of growth.
        minutes: i64,
    },
}

/// Whether a pass-rate rule looks at each door or at the covered doors together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Each door on its own.
    #[default]
    Door,
    /// All covered doors together.
    Site,
}

fn default_min_visits() -> i64 {
    10
}

fn default_cooldown() -> i64 {
    30
}

fn default_true() -> bool {
    true
}

/// An alert rule as written by an admin (`POST`/`PUT /api/v1/alert-rules`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AlertRuleSpec {
    /// A unique name for people, such as `front door fails`.
    pub name: String,
    /// What it watches.
    pub condition: Condition,
    /// How bad its alerts are.
    #[serde(default)]
    pub severity: Severity,
    /// Door names it covers; empty: every door, also those registered later.
    #[serde(default)]
    pub devices: Vec<String>,
    /// No alerts in this daily range (the rule's time zone).
    #[serde(default)]
    pub quiet_hours: Option<TimeRange>,
    /// IANA time zone for quiet and opening hours; default: the site's.
    #[serde(default)]
    pub tz: Option<String>,
    /// After an alert, the same rule at the same door is quiet this long (one incident,
    /// one alert).
    #[serde(default = "default_cooldown")]
    pub cooldown_minutes: i64,
    /// An alert nobody acknowledged within this many minutes escalates.
    #[serde(default)]
    pub escalate_after_minutes: Option<i64>,
    /// Whether the rule is evaluated.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

/// A stored alert rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertRule {
    /// The server's id.
    pub id: i64,
    /// The rule as written.
    #[serde(flatten)]
    pub spec: AlertRuleSpec,
    /// Who wrote it.
    pub created_by: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// `GET /api/v1/alert-rules` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertRuleList {
    /// All rules, by name.
    pub items: Vec<AlertRule>,
}
