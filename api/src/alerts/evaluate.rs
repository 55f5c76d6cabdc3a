//! One evaluation: every enabled rule against every door it covers.
//!
//! A failed-check rule counts events: fails newer than its last alert (and inside its
//! window) fire a new alert, so each incident alerts once and nothing is counted twice.
//! Every other rule watches a state: while the state holds there is one open alert; when
//! it clears the alert resolves itself. Cooldown keeps a rule quiet at a door for a while
//! after it fired there; quiet hours hold back new alerts (open ones still escalate).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use maskgate_api_types::{
    Alert, AlertRule, CameraState, Condition, DeliveryEvent, Device, Scope, StreamEvent,
};
use serde_json::{Value, json};

use super::Context;
use super::deliver::Delivery;
use crate::alert_rules::{in_range, open_since};
use crate::db::{DeviceCount, NewAlert, StoreError};

/// What a state condition found at a door (or the site): a message and its evidence.
struct Finding {
    message: String,
    evidence: Value,
}

pub(super) async fn evaluate(context: &Context) -> Result<(), StoreError> {
    let started = context.clock.now();
    let rules = context.store.list_alert_rules().await?;
    let horizon = rules
        .iter()
        .map(|r| {
            let spec = &r.spec;
            let escalation = spec.escalate_after_minutes.unwrap_or(0);
            spec.cooldown_minutes
                .max(window_minutes(&spec.condition))
                .max(escalation)
        })
        .max()
        .unwrap_or(0);
    let recent = context
        .store
        .recent_alerts(started - Duration::minutes(horizon + 1))
        .await?;
    let devices = context.store.list_devices().await?;
    // Read after the doors' state, so no heartbeat in that state is newer than `now`.
    let now = context.clock.now();
    let mut counts: HashMap<i64, Vec<DeviceCount>> = HashMap::new();
    for rule in rules.iter().filter(|r| r.spec.enabled) {
        let mut pass = RulePass {
            context,
            rule,
            now,
            recent: &recent,
            tz: rule
                .spec
                .tz
                .as_deref()
                .and_then(|tz| tz.parse().ok())
                .unwrap_or(context.tz),
        };
        let doors: Vec<&Device> = devices
            .iter()
            .filter(|d| rule.spec.devices.is_empty() || rule.spec.devices.contains(&d.name))
            .collect();
        pass.run(&doors, &mut counts).await?;
    }
    retire(context, &rules, &recent, now).await?;
    escalate(context, &rules, &recent, now).await
}

/// Resolves open state alerts whose rule was deleted or disabled: nothing watches their
/// condition any more, so nothing else would ever close them.
async fn retire(
    context: &Context,
    rules: &[AlertRule],
    recent: &[Alert],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for alert in recent
        .iter()
        .filter(|a| a.resolved_at.is_none() && a.kind != "failed_check")
    {
        let watched = rules
            .iter()
            .any(|r| Some(r.id) == alert.rule_id && r.spec.enabled);
        if !watched {
            let resolved = context.store.resolve_alert(alert.id, now).await?;
            tracing::info!(alert = resolved.id, rule = %resolved.rule_name, "alert resolved: its rule is gone or disabled");
            announce(context, &resolved, &[], DeliveryEvent::Resolved);
        }
    }
    Ok(())
}

/// The longest look back a condition needs, in minutes.
fn window_minutes(condition: &Condition) -> i64 {
    match condition {
        Condition::FailedCheck { within_minutes, .. } => *within_minutes,
        Condition::PassRateBelow { window_minutes, .. } => *window_minutes,
        _ => 0,
    }
}

struct RulePass<'a> {
    context: &'a Context,
    rule: &'a AlertRule,
    now: DateTime<Utc>,
    recent: &'a [Alert],
    tz: Tz,
}

impl RulePass<'_> {
    async fn run(
        &mut self,
        doors: &[&Device],
        counts: &mut HashMap<i64, Vec<DeviceCount>>,
    ) -> Result<(), StoreError> {
        let now = self.now;
        match &self.rule.spec.condition {
            Condition::FailedCheck {
                fails,
                within_minutes,
            } => self.failed_checks(doors, *fails, *within_minutes).await,
            Condition::PassRateBelow {
                percent,
                window_minutes,
                min_visits,
                scope,
            } => {
                let window = counts_since(self.context, counts, *window_minutes, now).await?;
                let rate = |door: &[&Device]| {
                    let (passed, failed) = door
                        .iter()
                        .filter_map(|d| window.iter().find(|c| c.device_id == d.id))
                        .fold((0, 0), |(p, f), c| (p + c.passed, f + c.failed));
                    let total = passed + failed;
                    let rate = if total == 0 {
                        100.0
                    } else {
                        passed as f64 * 100.0 / total as f64
                    };
                    (total >= *min_visits && rate < *percent).then(|| Finding {
                        message: format!(
                            "pass rate {rate:.0} % over the last {window_minutes} min \
                             ({passed} of {total} passed) is below {percent} %"
                        ),
                        evidence: json!({
                            "passed": passed, "failed": failed, "pass_rate": rate,
                            "percent": percent, "window_minutes": window_minutes,
                        }),
                    })
                };
                match scope {
                    Scope::Door => {
                        for door in doors {
                            let found = rate(&[door]);
                            self.state(Some((door.id, &door.name)), found).await?;
                        }
                    }
                    Scope::Site => {
                        let found = rate(doors);
                        self.state(None, found).await?;
                    }
                }
                Ok(())
            }
            Condition::DeviceSilent { minutes } => {
                for door in doors {
                    let last = door.last_seen_at.unwrap_or(door.created_at);
                    let silent = (now - last).num_minutes();
                    let found = (silent >= *minutes).then(|| Finding {
                        message: format!("{} has sent nothing for {silent} min", door.name),
                        evidence: json!({
                            "last_seen_at": door.last_seen_at, "silent_minutes": silent,
                            "minutes": minutes,
                        }),
                    });
                    self.state(Some((door.id, &door.name)), found).await?;
                }
                Ok(())
            }
            Condition::CameraProblem { minutes } => {
                for door in doors {
                    let found = door.status.as_ref().and_then(|s| {
                        let since = s.camera_since?;
                        let lasted = (now - since).num_minutes();
                        (s.camera_state != CameraState::Ok && lasted >= *minutes).then(|| Finding {
                            message: format!(
                                "{}'s camera reports {} for {lasted} min",
                                door.name,
                                s.camera_state.as_str().replace('_', " ")
                            ),
                            evidence: json!({
                                "camera_state": s.camera_state, "since": since,
                                "minutes": minutes,
                            }),
                        })
                    });
                    self.state(Some((door.id, &door.name)), found).await?;
                }
                Ok(())
            }
            Condition::QueueGrowing { minutes } => {
                for door in doors {
                    let found = door.status.as_ref().and_then(|s| {
                        let since = s.queue_growing_since?;
                        let lasted = (now - since).num_minutes();
                        (lasted >= *minutes).then(|| Finding {
                            message: format!(
                                "{}'s queue has grown for {lasted} min ({} visits waiting)",
                                door.name, s.queue_depth
                            ),
                            evidence: json!({
                                "queue_depth": s.queue_depth, "growing_since": since,
                                "last_upload_at": s.last_upload_at, "minutes": minutes,
                            }),
                        })
                    });
                    self.state(Some((door.id, &door.name)), found).await?;
                }
                Ok(())
            }
            Condition::NoVisitsWhileOpen { minutes, opening } => {
                let opened = open_since(now, self.tz, opening);
                let window = counts_since(self.context, counts, *minutes, now).await?;
                for door in doors {
                    let seen = window.iter().any(|c| c.device_id == door.id);
                    let found = opened
                        .filter(|o| (now - *o).num_minutes() >= *minutes && !seen)
                        .map(|o| Finding {
                            message: format!(
                                "no visits at {} for {minutes} min while the site is open",
                                door.name
                            ),
                            evidence: json!({ "open_since": o, "minutes": minutes }),
                        });
                    self.state(Some((door.id, &door.name)), found).await?;
                }
                Ok(())
            }
        }
    }

    /// Alerts of this rule about a door (by name; `None`: site-wide), oldest first.
    fn alerts_of<'s>(&'s self, door: Option<&'s str>) -> impl Iterator<Item = &'s Alert> {
        let rule = self.rule.id;
        self.recent
            .iter()
            .filter(move |a| a.rule_id == Some(rule) && a.device.as_deref() == door)
    }

    fn cooling(&self, last: Option<&Alert>) -> bool {
        last.is_some_and(|a| {
            self.now - a.fired_at < Duration::minutes(self.rule.spec.cooldown_minutes)
        })
    }

    fn quiet(&self) -> bool {
        self.rule
            .spec
            .quiet_hours
            .as_ref()
            .is_some_and(|q| in_range(self.now.with_timezone(&self.tz).time(), q))
    }

    async fn failed_checks(
        &mut self,
        doors: &[&Device],
        fails: i64,
        within: i64,
    ) -> Result<(), StoreError> {
        if self.quiet() {
            return Ok(());
        }
        let since = self.now - Duration::minutes(within);
        let failed = self.context.store.failed_visits_since(since).await?;
        for door in doors {
            let last = self.alerts_of(Some(&door.name)).last();
            if self.cooling(last) {
                continue;
            }
            let after = last.map(|a| a.fired_at);
            let times: Vec<DateTime<Utc>> = failed
                .iter()
                // Up to now only: a fail captured after this evaluation began (or by a door
                // whose clock runs ahead) is counted by a later one, never twice.
                .filter(|(d, at)| *d == door.id && *at <= self.now && after.is_none_or(|a| *at > a))
                .map(|(_, at)| *at)
                .collect();
            if (times.len() as i64) < fails {
                continue;
            }
            let message = if fails == 1 && times.len() == 1 {
                format!("failed check at {}", door.name)
            } else {
                format!(
                    "{} failed checks within {within} min at {}",
                    times.len(),
                    door.name
                )
            };
            let evidence = json!({
                "fails": times.len(), "within_minutes": within,
                "first_at": times.first(), "last_at": times.last(),
            });
            self.fire(Some((door.id, &door.name)), &message, &evidence)
                .await?;
        }
        Ok(())
    }

    /// A state condition at `subject`: fire when it holds and no alert is open, resolve the
    /// open alert when it cleared.
    async fn state(
        &mut self,
        subject: Option<(i64, &str)>,
        found: Option<Finding>,
    ) -> Result<(), StoreError> {
        let key = subject.map(|s| s.1);
        let open = self
            .alerts_of(key)
            .find(|a| a.resolved_at.is_none())
            .cloned();
        let last = self.alerts_of(key).last();
        match (found, open) {
            (Some(found), None) if !self.quiet() && !self.cooling(last) => {
                self.fire(subject, &found.message, &found.evidence).await?;
            }
            (None, Some(open)) => {
                let resolved = self.context.store.resolve_alert(open.id, self.now).await?;
                tracing::info!(alert = resolved.id, rule = %resolved.rule_name, "alert resolved");
                announce(
                    self.context,
                    &resolved,
                    &self.rule.spec.channels,
                    DeliveryEvent::Resolved,
                );
            }
            _ => {}
        }
        Ok(())
    }

    async fn fire(
        &mut self,
        subject: Option<(i64, &str)>,
        message: &str,
        evidence: &Value,
    ) -> Result<(), StoreError> {
        let spec = &self.rule.spec;
        let alert = self
            .context
            .store
            .insert_alert(&NewAlert {
                rule_id: self.rule.id,
                rule_name: &spec.name,
                kind: condition_kind(&spec.condition),
                severity: spec.severity,
                device: subject,
                message,
                evidence,
                fired_at: self.now,
            })
            .await?;
        tracing::info!(alert = alert.id, rule = %spec.name, message, "alert fired");
        announce(self.context, &alert, &spec.channels, DeliveryEvent::Fired);
        Ok(())
    }
}

/// The condition's wire name.
pub(crate) fn condition_kind(condition: &Condition) -> &'static str {
    match condition {
        Condition::FailedCheck { .. } => "failed_check",
        Condition::PassRateBelow { .. } => "pass_rate_below",
        Condition::DeviceSilent { .. } => "device_silent",
        Condition::CameraProblem { .. } => "camera_problem",
        Condition::NoVisitsWhileOpen { .. } => "no_visits_while_open",
        Condition::QueueGrowing { .. } => "queue_growing",
    }
}

/// Visit counts per device over the last `minutes`, queried once per window length.
async fn counts_since<'c>(
    context: &Context,
    cache: &'c mut HashMap<i64, Vec<DeviceCount>>,
    minutes: i64,
    now: DateTime<Utc>,
) -> Result<&'c [DeviceCount], StoreError> {
    if let std::collections::hash_map::Entry::Vacant(entry) = cache.entry(minutes) {
        let counts = context
            .store
            .visit_counts_since(now - Duration::minutes(minutes))
            .await?;
        entry.insert(counts);
    }
    Ok(cache.get(&minutes).map(Vec::as_slice).unwrap_or_default())
}

/// Puts an alert on the live stream and queues it for the named channels.
pub(super) fn announce(
    context: &Context,
    alert: &Alert,
    channels: &[String],
    event: DeliveryEvent,
) {
    let _ = context.events.send(StreamEvent::Alert(alert.clone()));
    if !channels.is_empty() {
        let _ = context.deliveries.send(Delivery::Alert {
            alert: Box::new(alert.clone()),
            channels: channels.to_vec(),
            event,
        });
    }
}

/// Escalates alerts nobody acknowledged in time.
async fn escalate(
    context: &Context,
    rules: &[AlertRule],
    recent: &[Alert],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let due: HashSet<i64> = recent
        .iter()
        .filter(|a| a.resolved_at.is_none() && a.acked_at.is_none() && a.escalated_at.is_none())
        .filter_map(|a| {
            let rule = rules.iter().find(|r| Some(r.id) == a.rule_id)?;
            let after = rule.spec.escalate_after_minutes?;
            (now - a.fired_at >= Duration::minutes(after)).then_some(a.id)
        })
        .collect();
    for id in due {
        let alert = context.store.escalate_alert(id, now).await?;
        let channels = rules
            .iter()
            .find(|r| Some(r.id) == alert.rule_id)
            .map(|r| r.spec.escalation_channels.clone())
            .unwrap_or_default();
        tracing::warn!(alert = alert.id, rule = %alert.rule_name, "alert escalated");
        announce(context, &alert, &channels, DeliveryEvent::Escalated);
    }
    Ok(())
}
