//! Wire types of the MaskGate HTTP API (v1).
//!
//! One definition shared by the server, the door agent and the admin UI. This crate has no
//! server or database dependency, so it builds for `wasm32-unknown-unknown`. With the
//! `openapi` feature the types also derive OpenAPI schemas.
//!
//! Request bodies reject unknown fields: a typo in a field name is an error, not a silent
//! default.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub mod alerts;
pub mod mqtt;
pub use alerts::{
    Alert, AlertChannel, AlertChannelList, AlertChannelSpec, AlertDelivery, AlertDeliveryList,
    AlertList, AlertRule, AlertRuleList, AlertRuleSpec, AlertState, ChannelKind, Condition,
    DeliveryEvent, OpeningHours, Scope, Severity, TimeRange,
};

/// The most visits one `POST /api/v1/visits` request may carry.
pub const MAX_VISITS_PER_BATCH: usize = 1_000;
/// The largest `limit` accepted by `GET /api/v1/visits`.
pub const MAX_PAGE_LIMIT: u32 = 500;
/// The `limit` used by `GET /api/v1/visits` when none is given.
pub const DEFAULT_PAGE_LIMIT: u32 = 100;

/// The body of every error response: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The code and human-readable message of an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// A stable, machine-readable code such as `validation`, `unauthorized` or `rate_limited`.
    pub code: String,
    /// A message for people; never contains internal details.
    pub message: String,
}

/// `GET /healthz` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok` when the database answers.
    pub status: String,
}

/// The role of a user account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May read everything and change devices, models and rules.
    Admin,
    /// May read history, stats, devices and the live stream.
    Viewer,
}

impl Role {
    /// The lowercase name used on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "viewer" => Ok(Role::Viewer),
            other => Err(format!("unknown role `{other}` (expected admin or viewer)")),
        }
    }
}

/// `POST /api/v1/auth/login` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The account name.
    pub username: String,
    /// The account password.
    pub password: String,
}

/// `POST /api/v1/auth/login` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    /// An opaque bearer token: send it as `Authorization: Bearer <token>`.
    pub token: String,
    /// The role of the account.
    pub role: Role,
    /// When the token stops working.
    pub expires_at: DateTime<Utc>,
}

/// One visit as a door reports it: a single decision about one person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewVisit {
    /// Made on the device, so a retried upload never creates a duplicate.
    pub id: Uuid,
    /// When the decision was made (RFC 3339; stored in UTC).
    pub captured_at: DateTime<Utc>,
    /// `true` if the person wore a mask and the door opened.
    pub passed: bool,
    /// The mean probability of a mask over the frames voted on, in `0..=1`.
    pub mask_score: f64,
    /// The model that decided, as `name@version`.
    pub model: String,
    /// Optional: the name of the posting device. When given it must be the device the token
    /// belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Optional: milliseconds from the first sight of the face to the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_ms: Option<u32>,
}

/// `POST /api/v1/visits` request: a batch of 1 to [`MAX_VISITS_PER_BATCH`] visits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VisitBatch {
    /// The visits to store.
    pub visits: Vec<NewVisit>,
}

/// `POST /api/v1/visits` response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VisitBatchResult {
    /// Visits stored by this request.
    pub accepted: u32,
    /// Visits whose id was already stored (or repeated within the batch); nothing changed.
    pub duplicates: u32,
}

/// A stored visit, as history and the live stream show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Visit {
    /// The id made on the device.
    pub id: Uuid,
    /// The name of the door's device.
    pub device: String,
    /// When the decision was made (UTC).
    pub captured_at: DateTime<Utc>,
    /// When the server stored it (UTC).
    pub received_at: DateTime<Utc>,
    /// `true` if the person passed.
    pub passed: bool,
    /// The mean probability of a mask, in `0..=1`.
    pub mask_score: f64,
    /// The model that decided, as `name@version`.
    pub model: String,
    /// Milliseconds from the first sight of the face to the decision, when reported.
    pub decision_ms: Option<u32>,
}

/// `GET /api/v1/visits` response: one page of history, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VisitPage {
    /// The visits of this page.
    pub items: Vec<Visit>,
    /// Pass it as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The width of a statistics bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    /// One local hour.
    #[default]
    Hour,
    /// One local calendar day (23 or 25 hours long on a DST change).
    Day,
}

/// Pass and fail counts of one bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatsBucket {
    /// The start of the bucket in the requested time zone, RFC 3339 with its UTC offset.
    pub start: String,
    /// Visits that passed.
    pub passed: u64,
    /// Visits that failed.
    pub failed: u64,
}

/// `GET /api/v1/stats` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stats {
    /// The IANA time zone the buckets were cut in.
    pub tz: String,
    /// The bucket width.
    pub bucket: Bucket,
    /// Every bucket from `from` to `to`, empty ones included, oldest first.
    pub buckets: Vec<StatsBucket>,
    /// Passed over all visits in the range; `null` when there were none.
    pub pass_rate: Option<f64>,
}

/// What a door's camera reports about its picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    /// Frames arrive and look usable.
    Ok,
    /// The source delivers no frames.
    NoFrames,
    /// Frames are too dark to see faces.
    TooDark,
    /// Something covers the lens.
    Covered,
}

impl CameraState {
    /// The snake_case name used on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            CameraState::Ok => "ok",
            CameraState::NoFrames => "no_frames",
            CameraState::TooDark => "too_dark",
            CameraState::Covered => "covered",
        }
    }
}

impl std::str::FromStr for CameraState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ok" => Ok(CameraState::Ok),
            "no_frames" => Ok(CameraState::NoFrames),
            "too_dark" => Ok(CameraState::TooDark),
            "covered" => Ok(CameraState::Covered),
            other => Err(format!("unknown camera state `{other}`")),
        }
    }
}

/// `POST /api/v1/devices/heartbeat` request, sent by a door every 30 s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// Visits waiting in the device's local queue.
    pub queue_depth: u64,
    /// When the oldest queued visit was captured, if any wait.
    #[serde(default)]
    pub oldest_queued_at: Option<DateTime<Utc>>,
    /// When the device last uploaded visits successfully.
    #[serde(default)]
    pub last_upload_at: Option<DateTime<Utc>>,
    /// The state of the camera.
    pub camera_state: CameraState,
    /// The model the device runs, as `name@version`.
    #[serde(default)]
    pub model_version: Option<String>,
    /// SHA-256 of the ONNX file the device runs.
    #[serde(default)]
    pub model_sha256: Option<String>,
    /// Why the last update to the assigned model failed (the device keeps its old model);
    /// `null` when the device runs what it was assigned.
    #[serde(default)]
    pub model_error: Option<String>,
}

/// `POST /api/v1/devices/heartbeat` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeartbeatAck {
    /// The server's clock when it stored the heartbeat, so a device can notice clock drift.
    pub server_time: DateTime<Utc>,
}

/// A door's device, as the devices list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Device {
    /// The server's id of the device.
    pub id: i64,
    /// The unique name, such as `front-door`.
    pub name: String,
    /// When the device was registered.
    pub created_at: DateTime<Utc>,
    /// When the device last sent a heartbeat or visits; `null` if never.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// The last heartbeat's report, if any arrived.
    pub status: Option<DeviceStatus>,
    /// The registry model assigned to the device; `null`: it runs the model it was
    /// installed with.
    pub assigned_model_id: Option<i64>,
    /// For a door on MQTT: whether its status topic says it is connected (its last will
    /// says `offline` when the broker loses it); `null` for doors on HTTP.
    #[serde(default)]
    pub link: Option<LinkStatus>,
}

/// What an MQTT door's status topic last said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkStatus {
    /// `true` after `online`, `false` after `offline`.
    pub online: bool,
    /// When the server heard it.
    pub since: DateTime<Utc>,
}

/// What a device reported in its last heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceStatus {
    /// When the heartbeat arrived.
    pub reported_at: DateTime<Utc>,
    /// Visits waiting in the device's local queue.
    pub queue_depth: u64,
    /// When the oldest queued visit was captured.
    pub oldest_queued_at: Option<DateTime<Utc>>,
    /// When the device last uploaded visits.
    pub last_upload_at: Option<DateTime<Utc>>,
    /// The state of the camera.
    pub camera_state: CameraState,
    /// The model the device runs.
    pub model_version: Option<String>,
    /// SHA-256 of the model file the device runs.
    pub model_sha256: Option<String>,
    /// Why the device could not switch to its assigned model, if it could not.
    pub model_error: Option<String>,
    /// Since when the camera has been in its current state.
    #[serde(default)]
    pub camera_since: Option<DateTime<Utc>>,
    /// Since when the queue has been growing (never shrinking, never empty); `null` while it
    /// drains or is empty.
    #[serde(default)]
    pub queue_growing_since: Option<DateTime<Utc>>,
}

/// `POST /api/v1/devices` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    /// A unique name: 1 to 64 characters of letters, digits, `-`, `_` and `.`.
    pub name: String,
}

/// `POST /api/v1/devices` response: the device and its token, shown only this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedDevice {
    /// The registered device.
    pub device: Device,
    /// The device's bearer token. The server keeps only its hash: store it now.
    pub token: String,
}

/// `GET /api/v1/devices` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceList {
    /// All registered devices, by name.
    pub items: Vec<Device>,
}

/// One event on `GET /api/v1/stream` (Server-Sent Events). The SSE event name is the
/// `type` of the variant; the data is the JSON of its payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", content = "data", rename_all = "lowercase")]
pub enum StreamEvent {
    /// A visit was accepted.
    Visit(Visit),
    /// A device sent a heartbeat.
    Device(Device),
    /// A model was assigned to a device (or a device rolled back).
    Assignment(ModelAssignment),
    /// An alert fired, escalated, was acknowledged or resolved; its state says which.
    Alert(Alert),
}

impl StreamEvent {
    /// The SSE event name of this event.
    pub fn name(&self) -> &'static str {
        match self {
            StreamEvent::Visit(_) => "visit",
            StreamEvent::Device(_) => "device",
            StreamEvent::Assignment(_) => "assignment",
            StreamEvent::Alert(_) => "alert",
        }
    }
}

/// The largest model file the server accepts by default, in bytes.
pub const DEFAULT_MAX_MODEL_BYTES: u64 = 16 * 1024 * 1024;

/// A classifier model in the server's registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Model {
    /// The server's id of the model.
    pub id: i64,
    /// The model's name, from its manifest.
    pub name: String,
    /// The model's version, from its manifest; `name@version` is unique.
    pub version: String,
    /// SHA-256 of the ONNX file, lowercase hex.
    pub sha256: String,
    /// Size of the ONNX file in bytes.
    pub size_bytes: u64,
    /// When it was uploaded.
    pub uploaded_at: DateTime<Utc>,
    /// Who uploaded it.
    pub uploaded_by: String,
    /// The manifest as uploaded (input size, preprocessing, labels, metrics, …).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub manifest: serde_json::Value,
}

impl Model {
    /// `name@version`, as visits and heartbeats name the model.
    pub fn model_id(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// `GET /api/v1/models` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelList {
    /// All models, newest first.
    pub items: Vec<Model>,
}

/// `GET /api/v1/devices/me/model` response: what the calling door should run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssignedModel {
    /// The assigned model; `null`: run the model the door was installed with.
    pub model: Option<Model>,
}

/// `PUT /api/v1/devices/{id}/model` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AssignModel {
    /// The registry model to run; `null`: the model the door was installed with.
    pub model_id: Option<i64>,
}

/// `POST /api/v1/models/{id}/rollout` request: the doors that get the model. Give either
/// `devices` (names) or `all: true`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    /// Names of the doors, for a canary or a staged rollout.
    #[serde(default)]
    pub devices: Vec<String>,
    /// Every registered door.
    #[serde(default)]
    pub all: bool,
}

/// Why an assignment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AssignmentAction {
    /// An admin assigned the model.
    Assign,
    /// An admin rolled the door back to the model it ran before.
    Rollback,
}

impl AssignmentAction {
    /// The snake_case name used on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            AssignmentAction::Assign => "assign",
            AssignmentAction::Rollback => "rollback",
        }
    }
}

impl std::str::FromStr for AssignmentAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "assign" => Ok(AssignmentAction::Assign),
            "rollback" => Ok(AssignmentAction::Rollback),
            other => Err(format!("unknown assignment action `{other}`")),
        }
    }
}

/// One change of the model assigned to a door.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelAssignment {
    /// The door's id.
    pub device_id: i64,
    /// The door's name.
    pub device: String,
    /// The model assigned; `null`: the model the door was installed with.
    pub model_id: Option<i64>,
    /// The model assigned before; `null`: the installed one.
    pub previous_model_id: Option<i64>,
    /// Assign or rollback.
    pub action: AssignmentAction,
    /// When.
    pub assigned_at: DateTime<Utc>,
    /// Who.
    pub assigned_by: String,
}

/// `POST /api/v1/models/{id}/rollout` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssignmentList {
    /// One assignment per door.
    pub items: Vec<ModelAssignment>,
}

/// A period in which a door reported running a model (from its heartbeats).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelRun {
    /// The model as `name@version`.
    pub model: String,
    /// SHA-256 of its file, when the door reported it.
    pub sha256: Option<String>,
    /// The first heartbeat that reported it.
    pub started_at: DateTime<Utc>,
    /// The first heartbeat that reported another model; `null`: still running.
    pub ended_at: Option<DateTime<Utc>>,
}

/// `GET /api/v1/devices/{id}/model-history` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelHistory {
    /// The door.
    pub device: Device,
    /// Assignments and rollbacks, newest first.
    pub assignments: Vec<ModelAssignment>,
    /// The models the door reported running, newest first.
    pub runs: Vec<ModelRun>,
}

/// Visits judged by one model (at one door, or at a group of doors).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelOutcome {
    /// Visits counted.
    pub visits: u64,
    /// Passes among them.
    pub passed: u64,
    /// passed / visits; `null` without visits.
    pub pass_rate: Option<f64>,
    /// The mean mask score; `null` without visits.
    pub mean_score: Option<f64>,
}

/// One door in a rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RolloutDevice {
    /// The door's name.
    pub device: String,
    /// The model is assigned to it.
    pub assigned: bool,
    /// Its last heartbeat says it runs the model.
    pub running: bool,
    /// Why it could not switch, if it reported so.
    pub model_error: Option<String>,
    /// Its visits judged by this model in the window.
    pub outcome: ModelOutcome,
}

/// `GET /api/v1/models/{id}/rollout` response: how a model does at the doors that run it,
/// against all visits judged by other models in the same window (the canary check).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RolloutStatus {
    /// The model.
    pub model: Model,
    /// The window's start (visits captured since then are counted).
    pub since: DateTime<Utc>,
    /// Doors the model is assigned to or that run it.
    pub devices: Vec<RolloutDevice>,
    /// All visits judged by this model in the window.
    pub model_outcome: ModelOutcome,
    /// All visits judged by other models in the window.
    pub others: ModelOutcome,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_visit_batch_with_an_unknown_field_is_rejected() {
        let body = r#"{"visits":[{"id":"7d3c1d2e-2f49-4f6a-9f3e-0c1f2a3b4c5d","captured_at":"2026-01-01T00:00:00Z","passed":true,"mask_score":0.9,"model":"m@1","colour":"red"}]}"#;
        let err = serde_json::from_str::<VisitBatch>(body).expect_err("unknown field accepted");
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn an_alert_rule_round_trips_flat_and_a_spec_rejects_unknown_fields() {
        let body =
            r#"{"name":"fails","condition":{"kind":"failed_check","fails":3,"within_minutes":10}}"#;
        let spec: AlertRuleSpec = serde_json::from_str(body).expect("spec");
        assert_eq!(spec.cooldown_minutes, 30);
        assert!(spec.enabled);
        let rule = AlertRule {
            id: 4,
            spec,
            created_by: "admin".into(),
            created_at: DateTime::<Utc>::default(),
            updated_at: DateTime::<Utc>::default(),
        };
        let json = serde_json::to_value(&rule).expect("serialises");
        assert_eq!(json["name"], "fails");
        assert_eq!(json["condition"]["kind"], "failed_check");
        let back: AlertRule = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, rule);
        let typo =
            r#"{"name":"x","condition":{"kind":"device_silent","minutes":5},"sevrity":"info"}"#;
        let err = serde_json::from_str::<AlertRuleSpec>(typo).expect_err("typo accepted");
        assert!(err.to_string().contains("sevrity"), "{err}");
    }

    #[test]
    fn the_error_body_has_the_documented_shape() {
        let body = ErrorBody {
            error: ErrorDetail {
                code: "validation".into(),
                message: "bad".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&body).expect("serialises"),
            serde_json::json!({"error": {"code": "validation", "message": "bad"}})
        );
    }

    #[test]
    fn roles_and_camera_states_round_trip_through_their_names() {
        for role in [Role::Admin, Role::Viewer] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        for state in [
            CameraState::Ok,
            CameraState::NoFrames,
            CameraState::TooDark,
            CameraState::Covered,
        ] {
            assert_eq!(state.as_str().parse::<CameraState>(), Ok(state));
            assert_eq!(
                serde_json::to_value(state).expect("serialises"),
                serde_json::json!(state.as_str())
            );
        }
    }
}
