//! The MQTT transport's topics and payloads, shared by the door agent and the server.
//!
//! Every door publishes under `maskgate/{site}/{door}/`:
//!
//! | topic | direction | payload |
//! |---|---|---|
//! | `…/visits` | door → server, QoS 1 | a [`crate::VisitBatch`] (JSON) |
//! | `…/heartbeat` | door → server, QoS 1 | a [`crate::Heartbeat`] (JSON) |
//! | `…/status` | door → everyone, QoS 1, retained | `online`; the last will says `offline` |
//! | `…/ack` | server → door, QoS 1 | a [`VisitAck`] (JSON) |
//!
//! A door removes a queued visit only when an ack naming its id arrives, never on the
//! broker's PUBACK alone.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ErrorDetail;

/// The first level of every MaskGate topic.
pub const TOPIC_ROOT: &str = "maskgate";

/// The largest payload the server reads; larger ones are refused without parsing.
pub const MAX_PAYLOAD_BYTES: usize = 2 * 1024 * 1024;

/// What a topic is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    /// A batch of visits.
    Visits,
    /// A heartbeat.
    Heartbeat,
    /// `online` / `offline`.
    Status,
    /// The server's acknowledgement.
    Ack,
}

impl Leaf {
    /// The topic's last level.
    pub fn as_str(self) -> &'static str {
        match self {
            Leaf::Visits => "visits",
            Leaf::Heartbeat => "heartbeat",
            Leaf::Status => "status",
            Leaf::Ack => "ack",
        }
    }
}

/// `maskgate/{site}/{door}/{leaf}`.
pub fn topic(site: &str, door: &str, leaf: Leaf) -> String {
    format!("{TOPIC_ROOT}/{site}/{door}/{}", leaf.as_str())
}

/// Splits a MaskGate topic into site, door and leaf; `None` for anything else.
pub fn parse_topic(topic: &str) -> Option<(&str, &str, Leaf)> {
    let mut parts = topic.split('/');
    let (root, site, door, leaf) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if root != TOPIC_ROOT || parts.next().is_some() || site.is_empty() || door.is_empty() {
        return None;
    }
    let leaf = match leaf {
        "visits" => Leaf::Visits,
        "heartbeat" => Leaf::Heartbeat,
        "status" => Leaf::Status,
        "ack" => Leaf::Ack,
        _ => return None,
    };
    Some((site, door, leaf))
}

/// The server's answer to one visits message, on `…/ack`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitAck {
    /// The ids of the batch this answers (all of them, stored or duplicate).
    pub ids: Vec<Uuid>,
    /// Visits stored now.
    pub accepted: u32,
    /// Visits stored before.
    pub duplicates: u32,
    /// Set when the batch was refused (nothing stored); the door then sends its visits one
    /// by one to set the bad one aside, as over HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_round_trip_and_strangers_are_refused() {
        let t = topic("hq", "front-door", Leaf::Visits);
        assert_eq!(t, "maskgate/hq/front-door/visits");
        assert_eq!(parse_topic(&t), Some(("hq", "front-door", Leaf::Visits)));
        assert_eq!(parse_topic("maskgate/hq/front-door/visits/extra"), None);
        assert_eq!(parse_topic("maskgate/hq//visits"), None);
        assert_eq!(parse_topic("other/hq/front-door/visits"), None);
        assert_eq!(parse_topic("maskgate/hq/front-door/secrets"), None);
    }
}
