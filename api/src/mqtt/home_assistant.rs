//! Home Assistant MQTT discovery: each door shows up as a device with three entities —
//! its last decision, today's pass rate and whether it is online — without any YAML.
//!
//! The server announces a door (retained config messages under the discovery prefix) the
//! first time it hears from it, as only then does it know the door's site from the topic,
//! and after each visits batch publishes the door's retained `maskgate/{site}/{door}/state`.
//! "Online" reads the door's own retained `…/status` (`online`, or its last will `offline`).

use chrono::{DateTime, Utc};
use maskgate_api_types::NewVisit;
use maskgate_api_types::mqtt::{Leaf, topic};
use serde::Serialize;
use serde_json::{Value, json};

/// The retained state a door's sensors read.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct DoorState {
    /// `pass` or `fail`: the door's latest decision by capture time.
    pub last_decision: String,
    /// When that decision was taken.
    pub last_at: DateTime<Utc>,
    /// Visits today (site time zone).
    pub visits_today: i64,
    /// Share of today's visits that passed, in percent with one decimal; `None` before the
    /// day's first visit.
    pub pass_rate_today: Option<f64>,
}

impl DoorState {
    /// The state after `batch`, with today's counts.
    pub fn after(batch: &[NewVisit], passed_today: i64, failed_today: i64) -> Option<Self> {
        let last = batch.iter().max_by_key(|v| v.captured_at)?;
        let visits_today = passed_today + failed_today;
        Some(Self {
            last_decision: if last.passed { "pass" } else { "fail" }.into(),
            last_at: last.captured_at,
            visits_today,
            pass_rate_today: (visits_today > 0)
                .then(|| (1000.0 * passed_today as f64 / visits_today as f64).round() / 10.0),
        })
    }
}

/// The state topic of a door: `maskgate/{site}/{door}/state`.
pub fn state_topic(site: &str, door: &str) -> String {
    format!("maskgate/{site}/{door}/state")
}

/// A name Home Assistant accepts in a topic and an id: `[a-zA-Z0-9_-]`, others as `_`.
fn object_id(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The discovery messages of one door: `(topic, retained JSON config)`.
pub fn discovery(prefix: &str, site: &str, door: &str) -> Vec<(String, Value)> {
    let node = object_id(&format!("maskgate_{site}_{door}"));
    let state = state_topic(site, door);
    let status = topic(site, door, Leaf::Status);
    let device = json!({
        "identifiers": [node],
        "name": format!("MaskGate {door}"),
        "manufacturer": "MaskGate",
        "model": "edge-agent",
        "suggested_area": site,
    });
    let availability = json!([{ "topic": status, "payload_available": "online", "payload_not_available": "offline" }]);
    vec![
        (
            format!("{prefix}/sensor/{node}/last_decision/config"),
            json!({
                "name": "Last decision",
                "unique_id": format!("{node}_last_decision"),
                "state_topic": state,
                "value_template": "{{ value_json.last_decision }}",
                "json_attributes_topic": state,
                "icon": "mdi:face-mask",
                "availability": availability,
                "device": device,
            }),
        ),
        (
            format!("{prefix}/sensor/{node}/pass_rate_today/config"),
            json!({
                "name": "Pass rate today",
                "unique_id": format!("{node}_pass_rate_today"),
                "state_topic": state,
                "value_template": "{{ value_json.pass_rate_today }}",
                "unit_of_measurement": "%",
                "state_class": "measurement",
                "icon": "mdi:percent",
                "availability": availability,
                "device": device,
            }),
        ),
        (
            format!("{prefix}/binary_sensor/{node}/online/config"),
            json!({
                "name": "Online",
                "unique_id": format!("{node}_online"),
                "state_topic": status,
                "payload_on": "online",
                "payload_off": "offline",
                "device_class": "connectivity",
                "device": device,
            }),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn visit(passed: bool, seconds: i64) -> NewVisit {
        NewVisit {
            id: Uuid::new_v4(),
            captured_at: DateTime::from_timestamp(1_790_000_000 + seconds, 0).expect("time"),
            passed,
            mask_score: if passed { 0.9 } else { 0.1 },
            model: "m@1".into(),
            device: None,
            decision_ms: None,
        }
    }

    #[test]
    fn the_state_names_the_latest_decision_and_today_s_rate() {
        let batch = [visit(true, 5), visit(false, 9), visit(true, 7)];
        let state = DoorState::after(&batch, 2, 1).expect("a state");
        assert_eq!(state.last_decision, "fail");
        assert_eq!(state.last_at, batch[1].captured_at);
        assert_eq!((state.visits_today, state.pass_rate_today), (3, Some(66.7)));
        assert!(DoorState::after(&[], 0, 0).is_none());
    }

    #[test]
    fn a_door_is_announced_as_one_device_with_three_entities() {
        let messages = discovery("homeassistant", "hq", "front door");
        let topics: Vec<&str> = messages.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            topics,
            [
                "homeassistant/sensor/maskgate_hq_front_door/last_decision/config",
                "homeassistant/sensor/maskgate_hq_front_door/pass_rate_today/config",
                "homeassistant/binary_sensor/maskgate_hq_front_door/online/config",
            ]
        );
        for (_, config) in &messages {
            assert_eq!(config["device"]["identifiers"][0], "maskgate_hq_front_door");
        }
        assert_eq!(messages[0].1["state_topic"], "maskgate/hq/front door/state");
        assert_eq!(
            messages[2].1["state_topic"],
            "maskgate/hq/front door/status"
        );
    }
}
