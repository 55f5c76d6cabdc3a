//! The daily digest: the last 24 hours of a site at a set local time — visits, pass rate,
//! peak hour, alerts and how fast they were acknowledged, door uptime.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use maskgate_api_types::Alert;
use serde::Serialize;

use super::Context;
use super::deliver::Delivery;
use crate::db::{AlertFilter, Store, StoreError, slot_of};

/// One door's day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DoorDay {
    /// The door.
    pub door: String,
    /// Visits that passed.
    pub passed: i64,
    /// Visits that failed.
    pub failed: i64,
    /// Share of the day the door was not silent (from its device-silent alerts), 0 to 100.
    pub uptime_percent: f64,
}

/// The digest of one site's day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Digest {
    /// The local date the digest was made on.
    pub day: String,
    /// The site's time zone.
    pub tz: String,
    /// Start of the period (24 hours before `to`).
    pub from: DateTime<Utc>,
    /// End of the period: the digest time.
    pub to: DateTime<Utc>,
    /// Visits that passed.
    pub passed: i64,
    /// Visits that failed.
    pub failed: i64,
    /// Passed share of all visits, 0 to 100; `null` without visits.
    pub pass_rate: Option<f64>,
    /// The local hour (0–23) with the most visits, `null` without visits.
    pub peak_hour: Option<u32>,
    /// Visits in that hour.
    pub peak_hour_visits: i64,
    /// Alerts fired in the period.
    pub alerts: i64,
    /// Of those, how many were acknowledged.
    pub acknowledged: i64,
    /// Median minutes from firing to acknowledgement, over the acknowledged ones.
    pub median_ack_minutes: Option<f64>,
    /// Per door.
    pub doors: Vec<DoorDay>,
}

impl Digest {
    /// The digest as a few lines for chat and push channels.
    pub fn text(&self) -> String {
        let rate = self
            .pass_rate
            .map_or("no visits".into(), |r| format!("{r:.1} % passed"));
        let mut lines = vec![format!(
            "MaskGate digest for {} ({}): {} visits, {rate}",
            self.day,
            self.tz,
            self.passed + self.failed
        )];
        if let Some(hour) = self.peak_hour {
            lines.push(format!(
                "Peak hour {hour:02}:00–{:02}:00 with {} visits",
                (hour + 1) % 24,
                self.peak_hour_visits
            ));
        }
        let ack = self.median_ack_minutes.map_or(String::new(), |m| {
            format!(", median {m:.0} min to acknowledge")
        });
        lines.push(format!(
            "Alerts: {} fired, {} acknowledged{ack}",
            self.alerts, self.acknowledged
        ));
        for door in &self.doors {
            lines.push(format!(
                "{}: {} passed, {} failed, up {:.1} %",
                door.door, door.passed, door.failed, door.uptime_percent
            ));
        }
        lines.join("\n")
    }
}

/// The latest digest instant at or before `now`: today's `at` in `tz`, or yesterday's.
pub(crate) fn latest_digest_time(now: DateTime<Utc>, tz: Tz, at: NaiveTime) -> DateTime<Utc> {
    let local = now.with_timezone(&tz).date_naive();
    let instant = |date: chrono::NaiveDate| {
        let naive = date.and_time(at);
        tz.from_local_datetime(&naive)
            .earliest()
            .or_else(|| {
                tz.from_local_datetime(&(naive + Duration::hours(1)))
                    .earliest()
            })
            .map(|t| t.with_timezone(&Utc))
    };
    match instant(local) {
        Some(today) if today <= now => today,
        _ => local
            .pred_opt()
            .and_then(instant)
            .unwrap_or(now - Duration::days(1)),
    }
}

/// Sends the digest when its time has come and it was not sent for that time yet.
pub(super) async fn send_if_due(context: &Context) -> Result<(), StoreError> {
    let Some(at) = context.settings.digest_at else {
        return Ok(());
    };
    let now = context.clock.now();
    let due = latest_digest_time(now, context.tz, at);
    {
        let sent = context
            .digest_sent
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if sent.is_some_and(|s| s >= due) {
            return Ok(());
        }
    }
    let channels = context.store.list_alert_channels().await?;
    if !channels.iter().any(|c| c.spec.enabled && c.spec.digest) {
        return Ok(());
    }
    if context
        .store
        .last_digest_at()
        .await?
        .is_some_and(|last| last >= due)
    {
        *context
            .digest_sent
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(due);
        return Ok(());
    }
    let digest = build(context.store.as_ref(), context.tz, due).await?;
    tracing::info!(day = %digest.day, "sending the daily digest");
    *context
        .digest_sent
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = Some(due);
    let _ = context.deliveries.send(Delivery::Digest(Box::new(digest)));
    Ok(())
}

/// The digest of the 24 hours before `to`.
pub(crate) async fn build(
    store: &dyn Store,
    tz: Tz,
    to: DateTime<Utc>,
) -> Result<Digest, StoreError> {
    let from = to - Duration::days(1);
    // Whole 15-minute slots: the digest time is on a slot boundary in every real zone
    // when set to a whole quarter hour.
    let (from_slot, to_slot) = (slot_of(from), slot_of(to));
    let mut by_hour = [0i64; 24];
    let mut passed = 0;
    let mut failed = 0;
    for slot in store.slot_counts(from_slot, to_slot, None).await? {
        passed += slot.passed;
        failed += slot.failed;
        let hour = Utc
            .timestamp_opt(slot.slot_start, 0)
            .single()
            .map_or(0, |t| t.with_timezone(&tz).hour());
        by_hour[hour as usize] += slot.passed + slot.failed;
    }
    let total = passed + failed;
    let peak = (0..24u32).max_by_key(|h| (by_hour[*h as usize], std::cmp::Reverse(*h)));
    let peak_hour = peak.filter(|_| total > 0);
    let alerts = store
        .list_alerts(
            &AlertFilter {
                from: Some(from),
                to: Some(to),
                ..Default::default()
            },
            100_000,
        )
        .await?;
    let mut ack_minutes: Vec<f64> = alerts
        .iter()
        .filter_map(|a| Some((a.acked_at? - a.fired_at).num_seconds() as f64 / 60.0))
        .collect();
    ack_minutes.sort_by(f64::total_cmp);
    let median_ack_minutes = match ack_minutes.len() {
        0 => None,
        n if n % 2 == 1 => Some(ack_minutes[n / 2]),
        n => Some((ack_minutes[n / 2 - 1] + ack_minutes[n / 2]) / 2.0),
    };
    let silent = store
        .list_alerts(
            &AlertFilter {
                to: Some(to),
                ..Default::default()
            },
            100_000,
        )
        .await?;
    let mut doors = Vec::new();
    for device in store.list_devices().await? {
        let counts = store
            .slot_counts(from_slot, to_slot, Some(&device.name))
            .await?;
        let down = silent_seconds(&silent, &device.name, from, to);
        let span = (to - from).num_seconds().max(1) as f64;
        doors.push(DoorDay {
            passed: counts.iter().map(|c| c.passed).sum(),
            failed: counts.iter().map(|c| c.failed).sum(),
            uptime_percent: ((span - down as f64) * 100.0 / span).clamp(0.0, 100.0),
            door: device.name,
        });
    }
    Ok(Digest {
        day: to.with_timezone(&tz).date_naive().to_string(),
        tz: tz.name().to_owned(),
        from,
        to,
        passed,
        failed,
        pass_rate: (total > 0).then(|| passed as f64 * 100.0 / total as f64),
        peak_hour,
        peak_hour_visits: peak_hour.map_or(0, |h| by_hour[h as usize]),
        alerts: alerts.len() as i64,
        acknowledged: ack_minutes.len() as i64,
        median_ack_minutes,
        doors,
    })
}

/// Seconds of `[from, to)` a door was silent, by its device-silent alerts: each covers the
/// silence before it fired (its rule's minutes) until it resolved.
fn silent_seconds(alerts: &[Alert], door: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = alerts
        .iter()
        .filter(|a| a.kind == "device_silent" && a.device.as_deref() == Some(door))
        .map(|a| {
            let minutes = a
                .evidence
                .get("silent_minutes")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(0);
            let start = (a.fired_at - Duration::minutes(minutes)).max(from);
            let end = a.resolved_at.unwrap_or(to).min(to);
            (start, end)
        })
        .filter(|(s, e)| s < e)
        .collect();
    spans.sort();
    let mut total = 0;
    let mut covered_to = from;
    for (start, end) in spans {
        let start = start.max(covered_to);
        if end > start {
            total += (end - start).num_seconds();
            covered_to = end;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, h, m, 0)
            .single()
            .expect("valid")
    }

    #[test]
    fn the_digest_time_is_today_once_passed_and_yesterday_before() {
        let seven = NaiveTime::from_hms_opt(7, 0, 0).expect("valid");
        assert_eq!(latest_digest_time(at(8, 0), Tz::UTC, seven), at(7, 0));
        assert_eq!(latest_digest_time(at(7, 0), Tz::UTC, seven), at(7, 0));
        assert_eq!(
            latest_digest_time(at(6, 59), Tz::UTC, seven),
            at(7, 0) - Duration::days(1)
        );
        // 07:00 in Seoul is 22:00 UTC the day before.
        let seoul: Tz = "Asia/Seoul".parse().expect("valid");
        assert_eq!(latest_digest_time(at(23, 0), seoul, seven), at(22, 0));
    }

    #[test]
    fn silence_is_counted_once_where_alerts_overlap() {
        let alert = |fired: DateTime<Utc>, resolved: Option<DateTime<Utc>>, minutes: i64| Alert {
            id: 1,
            rule_id: Some(1),
            rule_name: "silent".into(),
            kind: "device_silent".into(),
            severity: Default::default(),
            device: Some("front".into()),
            message: String::new(),
            evidence: serde_json::json!({ "silent_minutes": minutes }),
            fired_at: fired,
            acked_at: None,
            acked_by: None,
            escalated_at: None,
            resolved_at: resolved,
        };
        let alerts = [
            alert(at(10, 10), Some(at(10, 30)), 10),
            alert(at(10, 20), Some(at(10, 40)), 10),
            alert(at(11, 50), None, 5),
        ];
        // 10:00–10:40 and 11:45–12:00.
        assert_eq!(
            silent_seconds(&alerts, "front", at(9, 0), at(12, 0)),
            55 * 60
        );
        assert_eq!(silent_seconds(&alerts, "back", at(9, 0), at(12, 0)), 0);
    }
}
