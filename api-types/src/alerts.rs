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
    /// Names of the channels its alerts go to (the live stream always gets them).
    #[serde(default)]
    pub channels: Vec<String>,
    /// Names of the channels an alert goes to when it escalates.
    #[serde(default)]
    pub escalation_channels: Vec<String>,
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

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Fired; nobody acknowledged it and its condition has not cleared.
    Open,
    /// Someone acknowledged it.
    Acknowledged,
    /// Its condition cleared (blind-door and pass-rate alerts resolve on their own).
    Resolved,
}

impl std::str::FromStr for AlertState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(Self::Open),
            "acknowledged" => Ok(Self::Acknowledged),
            "resolved" => Ok(Self::Resolved),
            other => Err(format!(
                "unknown alert state `{other}` (open, acknowledged or resolved)"
            )),
        }
    }
}

/// An alert: one incident of one rule at one door (or at the site).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alert {
    /// The server's id.
    pub id: i64,
    /// The rule that fired (`null` once the rule is deleted).
    pub rule_id: Option<i64>,
    /// The rule's name when it fired.
    pub rule_name: String,
    /// The rule's condition kind, such as `failed_check` or `device_silent`.
    pub kind: String,
    /// How bad it is.
    pub severity: Severity,
    /// The door; `null` for a site-wide alert.
    pub device: Option<String>,
    /// One line for people, such as `3 failed checks in 10 min at front-door`.
    pub message: String,
    /// The numbers behind it (counts, windows, last heartbeat, …).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub evidence: serde_json::Value,
    /// When it fired.
    pub fired_at: DateTime<Utc>,
    /// When someone acknowledged it.
    pub acked_at: Option<DateTime<Utc>>,
    /// Who acknowledged it.
    pub acked_by: Option<String>,
    /// When it escalated (nobody acknowledged it in time).
    pub escalated_at: Option<DateTime<Utc>>,
    /// When its condition cleared.
    pub resolved_at: Option<DateTime<Utc>>,
}

impl Alert {
    /// Resolved wins over acknowledged: a cleared condition is the end of the story.
    pub fn state(&self) -> AlertState {
        if self.resolved_at.is_some() {
            AlertState::Resolved
        } else if self.acked_at.is_some() {
            AlertState::Acknowledged
        } else {
            AlertState::Open
        }
    }
}

/// `GET /api/v1/alerts` response: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertList {
    /// One page of alerts.
    pub items: Vec<Alert>,
    /// Pass as `before` for the next page; `null` on the last page.
    pub next_before: Option<i64>,
}

/// The format a channel speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// Generic JSON, signed with HMAC-SHA256 in `X-MaskGate-Signature-256` when a secret is set.
    Webhook,
    /// A Slack-compatible incoming webhook (`{"text": …}`).
    Slack,
    /// An ntfy topic URL (plain text body, `Title`, `Priority` and `Tags` headers).
    Ntfy,
}

/// A channel as written by an admin (`POST`/`PUT /api/v1/alert-channels`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AlertChannelSpec {
    /// A unique name rules refer to, such as `ops-slack`.
    pub name: String,
    /// The format.
    pub kind: ChannelKind,
    /// Where to POST (`http` or `https`).
    pub url: String,
    /// Webhook signing secret; never shown again once stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Whether the channel also gets the daily digest.
    #[serde(default)]
    pub digest: bool,
    /// Whether anything is sent to it.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

/// A stored channel, as the API shows it (without its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertChannel {
    /// The server's id.
    pub id: i64,
    /// The unique name.
    pub name: String,
    /// The format.
    pub kind: ChannelKind,
    /// Where it posts.
    pub url: String,
    /// Whether a signing secret is set.
    pub has_secret: bool,
    /// Whether it gets the daily digest.
    pub digest: bool,
    /// Whether anything is sent to it.
    pub enabled: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// `GET /api/v1/alert-channels` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertChannelList {
    /// All channels, by name.
    pub items: Vec<AlertChannel>,
}

/// What a delivery told a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryEvent {
    /// The alert fired.
    Fired,
    /// Nobody acknowledged it in time.
    Escalated,
    /// Its condition cleared.
    Resolved,
    /// The daily digest.
    Digest,
}

impl DeliveryEvent {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fired => "fired",
            Self::Escalated => "escalated",
            Self::Resolved => "resolved",
            Self::Digest => "digest",
        }
    }
}

impl std::str::FromStr for DeliveryEvent {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fired" => Ok(Self::Fired),
            "escalated" => Ok(Self::Escalated),
            "resolved" => Ok(Self::Resolved),
            "digest" => Ok(Self::Digest),
            other => Err(format!("unknown delivery event `{other}`")),
        }
    }
}

/// One attempt to send an alert (or a digest) to a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertDelivery {
    /// The server's id.
    pub id: i64,
    /// The alert; `null` for a digest.
    pub alert_id: Option<i64>,
    /// The channel's name.
    pub channel: String,
    /// What was sent.
    pub event: DeliveryEvent,
    /// 1 for the first try, 2 for the first retry, …
    pub attempt: u32,
    /// Whether the endpoint accepted it (a 2xx answer).
    pub ok: bool,
    /// The HTTP status the endpoint answered, if it answered.
    pub http_status: Option<u16>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// When the attempt ended.
    pub at: DateTime<Utc>,
}

/// `GET /api/v1/alerts/{id}/deliveries` response: oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertDeliveryList {
    /// Every attempt.
    pub items: Vec<AlertDelivery>,
}
