//! Storage: one [`Store`] trait, one implementation per database backend.
//!
//! The backend is picked by the scheme of the database URL (`sqlite:`, `mysql:`/`mariadb:`,
//! `postgres:`). Each backend has its own migrations under `migrations/<backend>/`, embedded
//! at build time and run by [`connect`]. Queries are checked at run time (`query` +
//! `try_get`), so building needs no live database.

mod mysql;
mod postgres;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use maskgate_api_types::{
    Alert, AlertChannelSpec, AlertDelivery, AlertRule, AlertRuleSpec, AlertState, AssignmentAction,
    DeliveryEvent, Device, Heartbeat, Model, ModelAssignment, ModelRun, NewVisit, Role, Severity,
    Visit,
};
use uuid::Uuid;

pub use mysql::MySqlStore;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// The width of the UTC slots that `visit_slots` counts in, in seconds.
pub const SLOT_SECONDS: i64 = 15 * 60;

/// The UTC slot (unix seconds of its start) that an instant falls in.
pub fn slot_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(SLOT_SECONDS) * SLOT_SECONDS
}

/// Errors from the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique value (user name, device name) is taken.
    #[error("{0} already exists")]
    Conflict(String),
    /// The database URL names no supported backend.
    #[error("unsupported database URL scheme `{0}` (use sqlite:, mysql:, mariadb: or postgres:)")]
    UnsupportedScheme(String),
    /// The database failed or could not be reached.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back (a corrupt or hand-edited row).
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
}

/// A user account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The server's id.
    pub id: i64,
    /// The unique name.
    pub username: String,
    /// The argon2 PHC string.
    pub password_hash: String,
    /// The account's role.
    pub role: Role,
}

/// Filters of a history query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VisitFilter {
    /// Visits captured at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Visits captured before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Only visits of the device with this name.
    pub device: Option<String>,
    /// Only passed (`true`) or failed (`false`) visits.
    pub passed: Option<bool>,
}

/// A keyset position in history: the page continues with visits strictly older than this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The `captured_at` of the last visit of the previous page.
    pub captured_at: DateTime<Utc>,
    /// The id of the last visit of the previous page.
    pub id: Uuid,
}

/// Visits posted by one device.
#[derive(Debug, Clone, Copy)]
pub struct DeviceVisits<'a> {
    /// The posting device.
    pub device_id: i64,
    /// Its visits, with distinct ids.
    pub visits: &'a [NewVisit],
}

/// Pass/fail counts of one UTC slot, summed over the devices asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotCount {
    /// Unix seconds of the slot's start.
    pub slot_start: i64,
    /// Visits that passed.
    pub passed: i64,
    /// Visits that failed.
    pub failed: i64,
}

/// A validated model to store in the registry.
#[derive(Debug, Clone, Copy)]
pub struct NewModel<'a> {
    /// The manifest's name.
    pub name: &'a str,
    /// The manifest's version.
    pub version: &'a str,
    /// SHA-256 of `content`, lowercase hex.
    pub sha256: &'a str,
    /// The manifest's JSON text, as uploaded.
    pub manifest: &'a str,
    /// The ONNX file.
    pub content: &'a [u8],
    /// The uploading user's name.
    pub uploaded_by: &'a str,
}

/// Visits of one device judged by one model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelUsage {
    /// The device.
    pub device_id: i64,
    /// The model as `name@version`.
    pub model: String,
    /// Visits counted.
    pub visits: i64,
    /// Passes among them.
    pub passed: i64,
    /// The sum of their mask scores.
    pub score_sum: f64,
}

/// Visits of one device in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceCount {
    /// The device.
    pub device_id: i64,
    /// Visits that passed.
    pub passed: i64,
    /// Visits that failed.
    pub failed: i64,
}

/// An alert to store.
#[derive(Debug, Clone)]
pub struct NewAlert<'a> {
    /// The rule that fired.
    pub rule_id: i64,
    /// Its name.
    pub rule_name: &'a str,
    /// Its condition kind.
    pub kind: &'a str,
    /// Its severity.
    pub severity: Severity,
    /// The door, by id and name; `None` for a site-wide alert.
    pub device: Option<(i64, &'a str)>,
    /// One line for people.
    pub message: &'a str,
    /// The numbers behind it.
    pub evidence: &'a serde_json::Value,
    /// When it fired.
    pub fired_at: DateTime<Utc>,
}

/// Filters of `GET /api/v1/alerts`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFilter {
    /// Only alerts in this state.
    pub state: Option<AlertState>,
    /// Only alerts of the door with this name.
    pub device: Option<String>,
    /// Only alerts of this rule.
    pub rule_id: Option<i64>,
    /// Only alerts of this severity.
    pub severity: Option<Severity>,
    /// Fired at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Fired before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Only alerts with a smaller id (keyset paging, newest first).
    pub before: Option<i64>,
}

/// A stored channel, with its secret (the API never shows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChannel {
    /// The server's id.
    pub id: i64,
    /// The channel as written.
    pub spec: AlertChannelSpec,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// One delivery attempt to record.
#[derive(Debug, Clone)]
pub struct NewDelivery<'a> {
    /// The alert; `None` for a digest.
    pub alert_id: Option<i64>,
    /// The channel's name.
    pub channel: &'a str,
    /// What was sent.
    pub event: DeliveryEvent,
    /// 1 for the first try.
    pub attempt: u32,
    /// Whether the endpoint accepted it.
    pub ok: bool,
    /// The endpoint's HTTP status, if it answered.
    pub http_status: Option<u16>,
    /// Why it failed.
    pub error: Option<&'a str>,
    /// When the attempt ended.
    pub at: DateTime<Utc>,
}

/// What a device's previous heartbeat left, to tell how long a state has lasted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Trend {
    pub camera_state: Option<String>,
    pub camera_since: Option<DateTime<Utc>>,
    pub queue_depth: Option<i64>,
    pub queue_growing_since: Option<DateTime<Utc>>,
}

/// The new `(camera_since, queue_growing_since)` after `heartbeat`: the camera's time
/// restarts when its state changes; the queue grows from the first heartbeat that showed
/// it larger until it shrinks or empties (a queue that stays level is still not draining).
pub(crate) fn next_trend(
    before: &Trend,
    heartbeat: &Heartbeat,
    now: DateTime<Utc>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let camera_since = if before.camera_state.as_deref() == Some(heartbeat.camera_state.as_str()) {
        before.camera_since.or(Some(now))
    } else {
        Some(now)
    };
    let depth = i64::try_from(heartbeat.queue_depth).unwrap_or(i64::MAX);
    let growing_since = match before.queue_depth {
        _ if depth == 0 => None,
        Some(prev) if depth > prev => before.queue_growing_since.or(Some(now)),
        Some(prev) if depth == prev => before.queue_growing_since,
        _ => None,
    };
    (camera_since, growing_since)
}

/// What a backend must do for MaskGate. Every method is one short transaction at most.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The backend's name (`sqlite`, `mysql`, `postgres`), for logs and metrics.
    fn backend(&self) -> &'static str;

    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates a user; [`StoreError::Conflict`] if the name is taken.
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<UserRecord, StoreError>;

    /// Finds a user by name.
    async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>, StoreError>;

    /// Stores a session token hash for a user and deletes sessions that have expired.
    async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Finds the user and expiry of a session token hash.
    async fn session_user(
        &self,
        token_hash: &str,
    ) -> Result<Option<(UserRecord, DateTime<Utc>)>, StoreError>;

    /// Records a failed login for a subject (`user:<name>` or `ip:<addr>`) and forgets
    /// that subject's failures older than `forget_before`.
    async fn record_login_failure(
        &self,
        subject: &str,
        at: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Counts a subject's failed logins since an instant.
    async fn login_failures_since(
        &self,
        subject: &str,
        since: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Registers a device; [`StoreError::Conflict`] if the name is taken.
    async fn create_device(
        &self,
        name: &str,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Device, StoreError>;

    /// Finds a device by the hash of its token.
    async fn device_by_token(&self, token_hash: &str) -> Result<Option<Device>, StoreError>;

    /// All devices, by name.
    async fn list_devices(&self) -> Result<Vec<Device>, StoreError>;

    /// Stores a device's heartbeat and marks it seen; returns the updated device.
    async fn record_heartbeat(
        &self,
        device_id: i64,
        heartbeat: &Heartbeat,
        now: DateTime<Utc>,
    ) -> Result<Device, StoreError>;

    /// Stores the visits of several devices in one transaction (one commit, one fsync),
    /// skipping ids already stored, and counts the stored ones into `visit_slots`. Returns,
    /// per batch and visit, whether it was stored (`false`: a duplicate). Marks the devices
    /// seen. Each batch must hold distinct ids.
    async fn insert_visit_batches(
        &self,
        batches: &[DeviceVisits<'_>],
        received_at: DateTime<Utc>,
    ) -> Result<Vec<Vec<bool>>, StoreError>;

    /// Stores visits of one device in one transaction; see [`Store::insert_visit_batches`].
    async fn insert_visits(
        &self,
        device_id: i64,
        visits: &[NewVisit],
        received_at: DateTime<Utc>,
    ) -> Result<Vec<bool>, StoreError> {
        let mut stored = self
            .insert_visit_batches(&[DeviceVisits { device_id, visits }], received_at)
            .await?;
        Ok(stored.pop().unwrap_or_default())
    }

    /// One page of history, newest first, strictly after `after` when given.
    async fn list_visits(
        &self,
        filter: &VisitFilter,
        after: Option<Position>,
        limit: u32,
    ) -> Result<Vec<Visit>, StoreError>;

    /// Records what an MQTT door's status topic said (`online`: `true`).
    async fn set_link_status(
        &self,
        device_id: i64,
        online: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Finds a device by id.
    async fn device_by_id(&self, id: i64) -> Result<Option<Device>, StoreError>;

    /// Stores a model and its file; [`StoreError::Conflict`] if `name@version` exists.
    async fn create_model(
        &self,
        model: &NewModel<'_>,
        now: DateTime<Utc>,
    ) -> Result<Model, StoreError>;

    /// All models, newest first.
    async fn list_models(&self) -> Result<Vec<Model>, StoreError>;

    /// Finds a model by id.
    async fn model_by_id(&self, id: i64) -> Result<Option<Model>, StoreError>;

    /// The ONNX file with this SHA-256.
    async fn model_file(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Assigns `model_id` (`None`: the installed model) to each device in one transaction,
    /// recording each change in the assignment history. Returns, per device, the model it
    /// had before.
    async fn assign_model(
        &self,
        device_ids: &[i64],
        model_id: Option<i64>,
        action: AssignmentAction,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<i64>>, StoreError>;

    /// A device's assignment history, newest first.
    async fn assignments(&self, device_id: i64) -> Result<Vec<ModelAssignment>, StoreError>;

    /// The models a device reported running, newest first.
    async fn model_runs(&self, device_id: i64) -> Result<Vec<ModelRun>, StoreError>;

    /// Visits captured since `since`, counted per device and model.
    async fn model_usage(&self, since: DateTime<Utc>) -> Result<Vec<ModelUsage>, StoreError>;

    /// Stores an alert rule; [`StoreError::Conflict`] if its name is taken.
    async fn create_alert_rule(
        &self,
        spec: &AlertRuleSpec,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<AlertRule, StoreError>;

    /// All alert rules, by name.
    async fn list_alert_rules(&self) -> Result<Vec<AlertRule>, StoreError>;

    /// Finds an alert rule by id.
    async fn alert_rule(&self, id: i64) -> Result<Option<AlertRule>, StoreError>;

    /// Replaces a rule; `None` if there is no such rule, [`StoreError::Conflict`] if the new
    /// name is another rule's.
    async fn update_alert_rule(
        &self,
        id: i64,
        spec: &AlertRuleSpec,
        now: DateTime<Utc>,
    ) -> Result<Option<AlertRule>, StoreError>;

    /// Deletes a rule; `false` if there was none.
    async fn delete_alert_rule(&self, id: i64) -> Result<bool, StoreError>;

    /// Visits captured at or after `since`, counted per device (devices without any left out).
    async fn visit_counts_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<DeviceCount>, StoreError>;

    /// Capture times of failed visits captured at or after `since`: `(device_id, at)`.
    async fn failed_visits_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(i64, DateTime<Utc>)>, StoreError>;

    /// Stores an alert.
    async fn insert_alert(&self, alert: &NewAlert<'_>) -> Result<Alert, StoreError>;

    /// Finds an alert by id.
    async fn alert(&self, id: i64) -> Result<Option<Alert>, StoreError>;

    /// Alerts matching `filter`, newest (largest id) first, at most `limit`.
    async fn list_alerts(&self, filter: &AlertFilter, limit: u32)
    -> Result<Vec<Alert>, StoreError>;

    /// What the evaluator needs, oldest first: every alert fired since `since`, and every
    /// unresolved alert of a state condition (any kind but `failed_check`, whose alerts
    /// never resolve on their own).
    async fn recent_alerts(&self, since: DateTime<Utc>) -> Result<Vec<Alert>, StoreError>;

    /// Records who acknowledged an alert (the first acknowledgement stands); `None` if there
    /// is no such alert.
    async fn ack_alert(
        &self,
        id: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Alert>, StoreError>;

    /// Marks an alert escalated.
    async fn escalate_alert(&self, id: i64, now: DateTime<Utc>) -> Result<Alert, StoreError>;

    /// Marks an alert resolved.
    async fn resolve_alert(&self, id: i64, now: DateTime<Utc>) -> Result<Alert, StoreError>;

    /// Stores a channel; [`StoreError::Conflict`] if its name is taken.
    async fn create_alert_channel(
        &self,
        spec: &AlertChannelSpec,
        now: DateTime<Utc>,
    ) -> Result<StoredChannel, StoreError>;

    /// All channels, by name.
    async fn list_alert_channels(&self) -> Result<Vec<StoredChannel>, StoreError>;

    /// Finds a channel by id.
    async fn alert_channel(&self, id: i64) -> Result<Option<StoredChannel>, StoreError>;

    /// Replaces a channel; `None` if there is none, [`StoreError::Conflict`] if the new name
    /// is another channel's.
    async fn update_alert_channel(
        &self,
        id: i64,
        spec: &AlertChannelSpec,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredChannel>, StoreError>;

    /// Deletes a channel; `false` if there was none.
    async fn delete_alert_channel(&self, id: i64) -> Result<bool, StoreError>;

    /// Records one delivery attempt.
    async fn record_delivery(&self, delivery: &NewDelivery<'_>) -> Result<(), StoreError>;

    /// An alert's delivery attempts, oldest first.
    async fn deliveries(&self, alert_id: i64) -> Result<Vec<AlertDelivery>, StoreError>;

    /// When the last digest delivery was attempted, if ever.
    async fn last_digest_at(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Pass/fail counts per UTC slot in `[from_slot, to_slot)`, summed over all devices or
    /// the named one; slots without visits are left out.
    async fn slot_counts(
        &self,
        from_slot: i64,
        to_slot: i64,
        device: Option<&str>,
    ) -> Result<Vec<SlotCount>, StoreError>;
}

/// Connects to the database named by `url`, creating an SQLite file (and its folder) when
/// missing, and runs the backend's migrations.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    let scheme = url.split(':').next().unwrap_or_default();
    let store: Arc<dyn Store> = match scheme {
        "sqlite" => Arc::new(SqliteStore::connect(url).await?),
        "postgres" | "postgresql" => Arc::new(PostgresStore::connect(url).await?),
        "mysql" | "mariadb" => {
            let url = url.replacen("mariadb:", "mysql:", 1);
            Arc::new(MySqlStore::connect(&url).await?)
        }
        other => return Err(StoreError::UnsupportedScheme(other.to_owned())),
    };
    Ok(store)
}

/// The devices of a group commit, each once, in the order their rows are locked: by id,
/// as [`lock_order`] has `assign_model` lock them, so the two cannot deadlock.
pub(crate) fn devices_in_lock_order(batches: &[DeviceVisits<'_>]) -> Vec<i64> {
    let mut ids: Vec<i64> = batches.iter().map(|b| b.device_id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Indices into `device_ids` in the order their rows are to be locked (by id).
pub(crate) fn lock_order(device_ids: &[i64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..device_ids.len()).collect();
    order.sort_by_key(|&i| device_ids[i]);
    order
}

/// Adds up passes and fails of a batch per slot, for the stored visits only.
pub(crate) fn tally_slots(visits: &[NewVisit], stored: &[bool]) -> Vec<(i64, i64, i64)> {
    let mut slots: std::collections::BTreeMap<i64, (i64, i64)> = Default::default();
    for (visit, _) in visits.iter().zip(stored).filter(|(_, s)| **s) {
        let entry = slots.entry(slot_of(visit.captured_at)).or_default();
        if visit.passed {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
    }
    slots.into_iter().map(|(s, (p, f))| (s, p, f)).collect()
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`] naming `what`.
pub(crate) fn conflict_as(what: String) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |err| match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Database(err),
    }
}

pub(crate) fn parse_role(s: &str) -> Result<Role, StoreError> {
    s.parse().map_err(StoreError::Corrupt)
}

pub(crate) fn parse_action(s: &str) -> Result<AssignmentAction, StoreError> {
    s.parse().map_err(StoreError::Corrupt)
}

pub(crate) fn parse_manifest(s: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("model manifest: {e}")))
}

/// Turns runs (newest first, with start times) into periods: each ends where the next began.
pub(crate) fn close_runs(mut runs: Vec<ModelRun>) -> Vec<ModelRun> {
    for i in 1..runs.len() {
        let newer_start = runs[i - 1].started_at;
        runs[i].ended_at = Some(newer_start);
    }
    runs
}

pub(crate) fn spec_json(spec: &AlertRuleSpec) -> String {
    serde_json::to_string(spec).unwrap_or_default()
}

pub(crate) fn parse_spec(s: &str) -> Result<AlertRuleSpec, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("alert rule: {e}")))
}

pub(crate) fn channel_json(spec: &AlertChannelSpec) -> String {
    serde_json::to_string(spec).unwrap_or_default()
}

pub(crate) fn parse_channel(s: &str) -> Result<AlertChannelSpec, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("alert channel: {e}")))
}

pub(crate) fn parse_evidence(s: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("alert evidence: {e}")))
}

pub(crate) fn severity_str(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

pub(crate) fn parse_severity(s: &str) -> Result<Severity, StoreError> {
    match s {
        "info" => Ok(Severity::Info),
        "warning" => Ok(Severity::Warning),
        "critical" => Ok(Severity::Critical),
        other => Err(StoreError::Corrupt(format!("alert severity `{other}`"))),
    }
}

pub(crate) fn parse_event(s: &str) -> Result<DeliveryEvent, StoreError> {
    s.parse().map_err(StoreError::Corrupt)
}

/// `devices.link_status` and `link_status_at` as the wire's [`maskgate_api_types::LinkStatus`].
pub(crate) fn link_status(
    status: Option<String>,
    at: Option<DateTime<Utc>>,
) -> Option<maskgate_api_types::LinkStatus> {
    Some(maskgate_api_types::LinkStatus {
        online: status? == "online",
        since: at?,
    })
}

pub(crate) fn parse_camera_state(s: &str) -> Result<maskgate_api_types::CameraState, StoreError> {
    s.parse().map_err(StoreError::Corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn slots_are_aligned_to_fifteen_utc_minutes() {
        let at = Utc.with_ymd_and_hms(2026, 3, 8, 6, 59, 59).unwrap();
        let slot = slot_of(at);
        assert_eq!(
            slot,
            Utc.with_ymd_and_hms(2026, 3, 8, 6, 45, 0)
                .unwrap()
                .timestamp()
        );
        let before_epoch = Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 0).unwrap();
        assert_eq!(slot_of(before_epoch), -900);
    }

    #[test]
    fn tally_counts_only_stored_visits() {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let visit = |passed, minutes| NewVisit {
            id: Uuid::nil(),
            captured_at: at + chrono::Duration::minutes(minutes),
            passed,
            mask_score: 0.5,
            model: "m@1".into(),
            device: None,
            decision_ms: None,
        };
        let visits = [
            visit(true, 0),
            visit(false, 1),
            visit(true, 2),
            visit(true, 20),
        ];
        let tally = tally_slots(&visits, &[true, true, false, true]);
        let t = at.timestamp();
        assert_eq!(tally, vec![(t, 1, 1), (t + 900, 1, 0)]);
    }
}
