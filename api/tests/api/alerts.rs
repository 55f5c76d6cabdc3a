//! Alerts: each rule kind with scripted visits and heartbeats on the manual clock (fires
//! once, cooldown, quiet hours, escalation, resolution), acknowledgement, filters, the live
//! stream, and delivery to real local HTTP receivers (signed webhooks, retries, Slack and
//! ntfy formats, the daily digest).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use maskgate_api::Settings;
use maskgate_api::alerts::{SIGNATURE_HEADER, sign};
use maskgate_api_types::{Alert, AlertChannel, AlertDeliveryList, AlertList, AlertState};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, visit, visit_at};

fn configure(settings: &mut Settings) {
    // Tests evaluate on demand; the timer stays out of the way.
    settings.alerts.interval = StdDuration::from_secs(3600);
    settings.alerts.delivery_backoff = StdDuration::from_millis(50);
    settings.alerts.delivery_attempts = 3;
    settings.alerts.digest_at = NaiveTime::from_hms_opt(7, 0, 0);
    // Tests move the clock by days.
    settings.session_ttl = Duration::days(30);
}

/// Like `backend_tests!`, with the alert settings above.
macro_rules! alert_tests {
    ($(
        async fn $name:ident($app:ident) $body:block
    )*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use crate::helpers::{Backend, TestApp, run_with};

            async fn body($app: TestApp) -> TestApp $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { run_with(Backend::Sqlite, configure, body).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { run_with(Backend::Postgres, configure, body).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql() { run_with(Backend::MySql, configure, body).await }
        }
    )*};
}

async fn create_rule(app: &TestApp, admin: &str, rule: Value) -> i64 {
    let response = app
        .client
        .post(app.url("/api/v1/alert-rules"))
        .bearer_auth(admin)
        .json(&rule)
        .send()
        .await
        .expect("create rule");
    let status = response.status();
    let body: Value = response.json().await.expect("rule body");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_i64().expect("rule id")
}

async fn create_channel(app: &TestApp, admin: &str, channel: Value) -> AlertChannel {
    let response = app
        .client
        .post(app.url("/api/v1/alert-channels"))
        .bearer_auth(admin)
        .json(&channel)
        .send()
        .await
        .expect("create channel");
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.expect("channel body")
}

async fn alerts(app: &TestApp, token: &str, query: &str) -> Vec<Alert> {
    let (status, body) = app.get_json(&format!("/api/v1/alerts{query}"), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value::<AlertList>(body)
        .expect("alert list")
        .items
}

async fn evaluate(app: &TestApp) {
    app.alerts.evaluate_now().await.expect("evaluation");
}

async fn heartbeat(app: &TestApp, device: &str, queue_depth: u64, camera: &str) {
    let response = app
        .client
        .post(app.url("/api/v1/devices/heartbeat"))
        .bearer_auth(device)
        .json(&json!({ "queue_depth": queue_depth, "camera_state": camera }))
        .send()
        .await
        .expect("heartbeat");
    assert_eq!(response.status(), StatusCode::OK);
}

async fn fail(app: &TestApp, device: &str) {
    let response = app
        .post_visits(device, &[visit(app, Duration::zero(), false)])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

fn advance(app: &TestApp, minutes: i64) {
    app.clock.advance(Duration::minutes(minutes));
}

/// A request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    query: Option<String>,
    body: Bytes,
}

/// A real HTTP endpoint on 127.0.0.1 that records what it gets and answers the statuses
/// it is given in turn (then 200).
#[derive(Clone)]
struct Receiver {
    address: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(answers: Vec<u16>) -> Self {
        type Shared = (Arc<Mutex<Vec<Received>>>, Arc<Mutex<Vec<u16>>>);
        async fn receive(
            State((got, answers)): State<Shared>,
            headers: HeaderMap,
            RawQuery(query): RawQuery,
            body: Bytes,
        ) -> AxumStatus {
            got.lock().expect("lock").push(Received {
                headers,
                query,
                body,
            });
            let mut answers = answers.lock().expect("lock");
            let code = if answers.is_empty() {
                200
            } else {
                answers.remove(0)
            };
            AxumStatus::from_u16(code).expect("valid")
        }
        let got = Arc::new(Mutex::new(Vec::new()));
        let shared: Shared = (got.clone(), Arc::new(Mutex::new(answers)));
        let app = axum::Router::new()
            .route("/{*path}", axum::routing::post(receive))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { address, got }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Waits until `n` requests arrived.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + StdDuration::from_secs(10);
        loop {
            let got = self.got.lock().expect("lock").clone();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} requests arrived",
                got.len()
            );
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
    }
}

async fn deliveries(app: &TestApp, token: &str, alert: i64, n: usize) -> AlertDeliveryList {
    let deadline = Instant::now() + StdDuration::from_secs(10);
    loop {
        let (status, body) = app
            .get_json(&format!("/api/v1/alerts/{alert}/deliveries"), token)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let list: AlertDeliveryList = serde_json::from_value(body).expect("deliveries");
        if list.items.len() >= n {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} deliveries logged",
            list.items.len()
        );
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
}

/// A Wednesday, 10:00 UTC.
fn wednesday_ten() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0)
        .single()
        .expect("valid")
}

alert_tests! {
    async fn n_fails_within_m_minutes_fire_one_alert_per_incident(app) {
        let admin = app.admin_token().await;
        let door = app.device(&admin, "front").await;
        let other = app.device(&admin, "back").await;
        create_rule(&app, &admin, json!({
            "name": "two fails", "severity": "critical", "cooldown_minutes": 0,
            "condition": {"kind": "failed_check", "fails": 2, "within_minutes": 10},
        })).await;
        fail(&app, &door).await;
        fail(&app, &other).await;
        evaluate(&app).await;
        assert!(alerts(&app, &admin, "").await.is_empty(), "one fail per door is not two");

        advance(&app, 3);
        fail(&app, &door).await;
        evaluate(&app).await;
        evaluate(&app).await;
        let list = alerts(&app, &admin, "").await;
        assert_eq!(list.len(), 1, "{list:?}");
        let alert = &list[0];
        assert_eq!((alert.device.as_deref(), alert.kind.as_str()), (Some("front"), "failed_check"));
        assert_eq!(alert.evidence["fails"], 2);
        assert_eq!(alert.state(), AlertState::Open);
        assert_eq!(alert.message, "2 failed checks within 10 min at front");

        // The fails already alerted on do not count again.
        advance(&app, 1);
        fail(&app, &door).await;
        evaluate(&app).await;
        assert_eq!(alerts(&app, &admin, "").await.len(), 1);
        fail(&app, &door).await;
        evaluate(&app).await;
        assert_eq!(alerts(&app, &admin, "").await.len(), 2);

        // Fails outside the window are stale.
        advance(&app, 11);
        fail(&app, &other).await;
        evaluate(&app).await;
        assert_eq!(alerts(&app, &admin, "?device=back").await.len(), 0);
        app
    }

    async fn cooldown_keeps_one_incident_one_alert_and_quiet_hours_hold_alerts_back(app) {
        app.clock.set(Utc.with_ymd_and_hms(2026, 11, 25, 23, 0, 0).single().expect("valid"));
        let admin = app.admin_token().await;
        let door = app.device(&admin, "front").await;
        create_rule(&app, &admin, json!({
            "name": "every fail", "cooldown_minutes": 30, "tz": "UTC",
            "quiet_hours": {"start": "22:00", "end": "06:00"},
            "condition": {"kind": "failed_check", "fails": 1, "within_minutes": 60},
        })).await;
        fail(&app, &door).await;
        evaluate(&app).await;
        assert!(alerts(&app, &admin, "").await.is_empty(), "quiet hours");

        app.clock.set(Utc.with_ymd_and_hms(2026, 11, 26, 6, 30, 0).single().expect("valid"));
        fail(&app, &door).await;
        evaluate(&app).await;
        let list = alerts(&app, &admin, "").await;
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].message, "failed check at front");

        advance(&app, 10);
        fail(&app, &door).await;
        evaluate(&app).await;
        assert_eq!(alerts(&app, &admin, "").await.len(), 1, "cooling down");

        advance(&app, 21);
        fail(&app, &door).await;
        evaluate(&app).await;
        let list = alerts(&app, &admin, "").await;
        assert_eq!(list.len(), 2, "after the cooldown");
        assert_eq!(list[0].evidence["fails"], 2, "the fail during the cooldown counts in");
        app
    }

    async fn a_silent_door_alerts_once_and_resolves_when_it_is_heard_again(app) {
        let admin = app.admin_token().await;
        let door = app.device(&admin, "front").await;
        app.device(&admin, "back").await;
        create_rule(&app, &admin, json!({
            "name": "front silent", "devices": ["front"],
            "condition": {"kind": "device_silent", "minutes": 10},
        })).await;
        heartbeat(&app, &door, 0, "ok").await;
        advance(&app, 9);
        evaluate(&app).await;
        assert!(alerts(&app, &admin, "").await.is_empty());
        advance(&app, 2);
        evaluate(&app).await;
        evaluate(&app).await;
        let list = alerts(&app, &admin, "").await;
        assert_eq!(list.len(), 1, "one alert for one silence, and `back` is not covered");
        assert_eq!(list[0].message, "front has sent nothing for 11 min");

        advance(&app, 5);
        heartbeat(&app, &door, 0, "ok").await;
        evaluate(&app).await;
        let list = alerts(&app, &admin, "").await;
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].state(), AlertState::Resolved);
        assert_eq!(list[0].resolved_at, Some(app.now()));
        assert_eq!(alerts(&app, &admin, "?state=resolved").await.len(), 1);
        assert_eq!(alerts(&app, &admin, "?state=open").await.len(), 0);

        // Silent again past the cooldown, then the rule is deleted: its open alert is closed,
        // not left open forever.
        advance(&app, 26);
        evaluate(&app).await;
        let open = alerts(&app, &admin, "?state=open").await;
        assert_eq!(open.len(), 1);
        let rule = open[0].rule_id.expect("rule");
        let deleted = app.client.delete(app.url(&format!("/api/v1/alert-rules/{rule}")))
            .bearer_auth(&admin).send().await.expect("delete");
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        evaluate(&app).await;
        let all = alerts(&app, &admin, "").await;
        assert!(all.iter().all(|a| a.state() == AlertState::Resolved && a.rule_id.is_none()), "{all:?}");
        app
    }

    async fn a_dark_camera_and_a_growing_queue_alert_after_their_minutes(app) {
        let admin = app.admin_token().await;
        let door = app.device(&admin, "front").await;
        create_rule(&app, &admin, json!({
            "name": "camera", "cooldown_minutes": 0,
            "condition": {"kind": "camera_problem", "minutes": 5},
        })).await;
        create_rule(&app, &admin, json!({
            "name": "queue", "cooldown_minutes": 0,
            "condition": {"kind": "queue_growing", "minutes": 10},
        })).await;
        heartbeat(&app, &door, 0, "too_dark").await;
        advance(&app, 3);
        heartbeat(&app, &door, 4, "too_dark").await;
        evaluate(&app).await;
        assert!(alerts(&app, &admin, "").await.is_empty());
        advance(&app, 3);
        heartbeat(&app, &door, 9, "too_dark").await;
        evaluate(&app).await;
        let list = alerts(&app, &admin, "").await;
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].message, "front's camera reports too dark for 6 min");

        // Level is not draining: the queue has grown since minute 3.
        advance(&app, 7);
        heartbeat(&app, &door, 9, "ok").await;
        evaluate(&app).await;
        let open = alerts(&app, &admin, "?state=open").await;
        assert_eq!(open.len(), 1, "{open:?}");
        assert_eq!(open[0].kind, "queue_growing");
        assert_eq!(alerts(&app, &admin, "?state=resolved").await[0].kind, "camera_problem");

        heartbeat(&app, &door, 2, "ok").await;
        evaluate(&app).await;
        assert_eq!(alerts(&app, &admin, "?state=resolved").await.len(), 2);
        app
    }

    async fn no_visits_while_open_alerts_in_opening_hours_only(app) {
        app.clock.set(wednesday_ten());
        let admin = app.admin_token().await;
        let door = app.device(&admin, "front").await;
        create_rule(&app, &admin, json!({
            "name": "nobody comes", "tz": "UTC", "cooldown_minutes": 0,
            "condition": {"kind": "no_visits_while_open", "minutes": 60,
                "opening": {"days": ["mon", "tue", "wed", "thu", "fri"],
                            "hours": {"start": "08:00", "end": "18:00"}}},
        })).await;
        evaluate(&app).await;
        let list = alerts(&app, &admin, "").await;
        assert_eq!(list.len(), 1, "open since 08:00, nobody for an hour");
        let response = app.post_visits(&door, &[visit(&app, Duration::zero(), true)]).await;
        assert_eq!(response.status(), StatusCode::OK);
        evaluate(&app).await;
        assert_eq!(alerts(&app, &admin, "?state=resolved").await.len(), 1);

        // Saturday: closed, so silence is expected.
        app.clock.set(wednesday_ten() + Duration::days(3));
        evaluate(&app).await;
        assert_eq!(alerts(&app, &admin, "").await.len(), 1);
        // Monday 08:30: open, but only for half an hour.
        app.clock.set(wednesday_ten() + Duration::days(5) - Duration::minutes(90));
        evaluate(&app).await;
        assert_eq!(alerts(&app, &admin, "").await.len(), 1);
        app
    }

    async fn a_low_pass_rate_alerts_per_door_and_per_site(app) {
        let admin = app.admin_token().await;
        let front = app.device(&admin, "front").await;
        let back = app.device(&admin, "back").await;
        let mix = |passes: usize, fails: usize| {
            let mut v: Vec<_> = (0..passes).map(|_| visit(&app, Duration::minutes(5), true)).collect();
            v.extend((0..fails).map(|_| visit(&app, Duration::minutes(5), false)));
            v
        };
        // Visits first: an evaluation between the two doors' posts would rightly see the
        // site at 60 % for a moment.
        app.post_visits(&front, &mix(3, 2)).await;
        app.post_visits(&back, &mix(5, 0)).await;
        create_rule(&app, &admin, json!({
            "name": "door rate", "cooldown_minutes": 0,
            "condition": {"kind": "pass_rate_below", "percent": 80, "window_minutes": 60, "min_visits": 5},
        })).await;
        create_rule(&app, &admin, json!({
            "name": "site rate", "cooldown_minutes": 0,
            "condition": {"kind": "pass_rate_below", "percent": 80, "window_minutes": 60,
                          "min_visits": 5, "scope": "site"},
        })).await;
        evaluate(&app).await;
        let list = alerts(&app, &admin, "").await;
        assert_eq!(list.len(), 1, "front is at 60 %, the site at 80 %: {list:?}");
        assert_eq!(list[0].device.as_deref(), Some("front"));
        assert_eq!(list[0].evidence["passed"], 3);

        app.post_visits(&back, &mix(0, 1)).await;
        evaluate(&app).await;
        let site = alerts(&app, &admin, "?state=open").await;
        assert_eq!(site.len(), 2, "back is at 83 %, the site at 73 %: {site:?}");
        assert_eq!(site[0].device, None);

        // The window moves past the bad visits: both resolve.
        advance(&app, 61);
        evaluate(&app).await;
        assert_eq!(alerts(&app, &admin, "?state=resolved").await.len(), 2);
        app
    }

    async fn unacknowledged_alerts_escalate_and_acknowledged_ones_do_not(app) {
        let admin = app.admin_token().await;
        let door = app.device(&admin, "front").await;
        let pager = Receiver::start(vec![]).await;
        create_channel(&app, &admin, json!({
            "name": "pager", "kind": "webhook", "url": pager.url("/pager"),
        })).await;
        create_rule(&app, &admin, json!({
            "name": "every fail", "cooldown_minutes": 0, "escalate_after_minutes": 15,
            "escalation_channels": ["pager"],
            "condition": {"kind": "failed_check", "fails": 1, "within_minutes": 5},
        })).await;
        fail(&app, &door).await;
        evaluate(&app).await;
        advance(&app, 1);
        fail(&app, &door).await;
        evaluate(&app).await;
        let list = alerts(&app, &admin, "").await;
        assert_eq!(list.len(), 2);
        let (newer, older) = (list[0].id, list[1].id);

        let viewer = app.token_for("vera", maskgate_api_types::Role::Viewer).await;
        let response = app.client.post(app.url(&format!("/api/v1/alerts/{newer}/ack")))
            .bearer_auth(&viewer).send().await.expect("ack");
        assert_eq!(response.status(), StatusCode::OK);
        let acked: Alert = response.json().await.expect("alert");
        assert_eq!((acked.acked_by.as_deref(), acked.acked_at), (Some("vera"), Some(app.now())));

        advance(&app, 15);
        evaluate(&app).await;
        let (_, body) = app.get_json(&format!("/api/v1/alerts/{older}"), &admin).await;
        let escalated: Alert = serde_json::from_value(body).expect("alert");
        assert_eq!(escalated.escalated_at, Some(app.now()));
        let (_, body) = app.get_json(&format!("/api/v1/alerts/{newer}"), &admin).await;
        let calm: Alert = serde_json::from_value(body).expect("alert");
        assert_eq!(calm.escalated_at, None, "acknowledged in time");

        let got = pager.wait_for(1).await;
        let body: Value = serde_json::from_slice(&got[0].body).expect("json");
        assert_eq!((body["event"].as_str(), body["alert"]["id"].as_i64()), (Some("escalated"), Some(older)));
        evaluate(&app).await;
        tokio::time::sleep(StdDuration::from_millis(200)).await;
        assert_eq!(pager.got.lock().expect("lock").len(), 1, "escalates once");

        // Acknowledging again keeps the first acknowledgement; unknown alerts are 404.
        let again: Alert = app.client.post(app.url(&format!("/api/v1/alerts/{newer}/ack")))
            .bearer_auth(&admin).send().await.expect("ack").json().await.expect("alert");
        assert_eq!(again.acked_by.as_deref(), Some("vera"));
        let missing = app.client.post(app.url("/api/v1/alerts/999999/ack"))
            .bearer_auth(&admin).send().await.expect("ack");
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        let anonymous = app.client.post(app.url(&format!("/api/v1/alerts/{newer}/ack")))
            .send().await.expect("ack");
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(alerts(&app, &admin, "?state=acknowledged").await.len(), 1);
        app
    }

    async fn a_webhook_is_signed_and_retried_after_a_500_with_every_attempt_logged(app) {
        let admin = app.admin_token().await;
        let door = app.device(&admin, "front").await;
        let hook = Receiver::start(vec![500]).await;
        let channel = create_channel(&app, &admin, json!({
            "name": "ops", "kind": "webhook", "url": hook.url("/hook"), "secret": "s3cret",
        })).await;
        assert!(channel.has_secret);
        let (_, listed) = app.get_json("/api/v1/alert-channels", &admin).await;
        assert!(!listed.to_string().contains("s3cret"), "secrets are write-only: {listed}");
        create_rule(&app, &admin, json!({
            "name": "every fail", "channels": ["ops"],
            "condition": {"kind": "failed_check", "fails": 1, "within_minutes": 5},
        })).await;
        fail(&app, &door).await;
        evaluate(&app).await;
        let got = hook.wait_for(2).await;
        for request in &got {
            let signature = request.headers[SIGNATURE_HEADER].to_str().expect("ascii");
            assert_eq!(signature, sign("s3cret", &request.body));
            assert_ne!(signature, sign("other", &request.body));
        }
        assert_eq!(got[0].body, got[1].body, "a retry sends the same body");
        let body: Value = serde_json::from_slice(&got[1].body).expect("json");
        assert_eq!(body["event"], "fired");
        assert_eq!(body["alert"]["device"], "front");
        let alert = body["alert"]["id"].as_i64().expect("id");
        let log = deliveries(&app, &admin, alert, 2).await.items;
        assert_eq!(log.len(), 2);
        assert_eq!((log[0].attempt, log[0].ok, log[0].http_status), (1, false, Some(500)));
        assert_eq!((log[1].attempt, log[1].ok, log[1].http_status), (2, true, Some(200)));
        assert_eq!(log[0].channel, "ops");
        app
    }

    async fn slack_and_ntfy_channels_get_their_own_formats_and_hear_of_resolution(app) {
        let admin = app.admin_token().await;
        let door = app.device(&admin, "front").await;
        let receiver = Receiver::start(vec![]).await;
        create_channel(&app, &admin, json!({
            "name": "slack", "kind": "slack", "url": receiver.url("/slack"),
        })).await;
        create_channel(&app, &admin, json!({
            "name": "phones", "kind": "ntfy", "url": receiver.url("/maskgate-alerts"),
        })).await;
        create_rule(&app, &admin, json!({
            "name": "Kamera dunkel – Eingang", "severity": "critical", "channels": ["slack", "phones"],
            "condition": {"kind": "camera_problem", "minutes": 1},
        })).await;
        heartbeat(&app, &door, 0, "covered").await;
        advance(&app, 2);
        evaluate(&app).await;
        let got = receiver.wait_for(2).await;
        let slack = got.iter().find(|r| r.query.is_none()).expect("slack request");
        let text: Value = serde_json::from_slice(&slack.body).expect("slack json");
        let text = text["text"].as_str().expect("text");
        assert!(text.contains(":rotating_light:") && text.contains("covered"), "{text}");
        let ntfy = got.iter().find(|r| r.query.is_some()).expect("ntfy request");
        let query = ntfy.query.as_deref().unwrap_or_default();
        assert!(query.contains("priority=5"), "{query}");
        assert!(query.contains("title=MaskGate%3A+Kamera+dunkel+%E2%80%93+Eingang"), "{query}");
        assert_eq!(String::from_utf8_lossy(&ntfy.body), "Kamera dunkel – Eingang: front's camera reports covered for 2 min");

        heartbeat(&app, &door, 0, "ok").await;
        evaluate(&app).await;
        let got = receiver.wait_for(4).await;
        assert!(got[2..].iter().any(|r| String::from_utf8_lossy(&r.body).contains("Resolved at front")));
        app
    }

    async fn the_daily_digest_sums_up_the_day_for_digest_channels(app) {
        // 08:00 UTC: the 07:00 digest is due, covering the day before it.
        app.clock.set(Utc.with_ymd_and_hms(2026, 11, 27, 8, 0, 0).single().expect("valid"));
        let admin = app.admin_token().await;
        let door = app.device(&admin, "front").await;
        let at = |h, m| Utc.with_ymd_and_hms(2026, 11, 27, h, m, 0).single().expect("valid");
        let visits = vec![
            visit_at(at(6, 10), true), visit_at(at(6, 20), true), visit_at(at(6, 30), false),
            visit_at(at(3, 0), true), visit_at(at(7, 30), false),
        ];
        assert_eq!(app.post_visits(&door, &visits).await.status(), StatusCode::OK);
        let receiver = Receiver::start(vec![]).await;
        create_channel(&app, &admin, json!({
            "name": "digest", "kind": "webhook", "url": receiver.url("/digest"), "digest": true,
        })).await;
        create_channel(&app, &admin, json!({
            "name": "alerts only", "kind": "webhook", "url": receiver.url("/alerts"),
        })).await;
        evaluate(&app).await;
        let got = receiver.wait_for(1).await;
        let body: Value = serde_json::from_slice(&got[0].body).expect("json");
        let digest = &body["digest"];
        assert_eq!(body["event"], "digest");
        assert_eq!((digest["passed"].as_i64(), digest["failed"].as_i64()), (Some(3), Some(1)), "{digest}");
        assert_eq!(digest["peak_hour"], 6);
        assert_eq!(digest["day"], "2026-11-27");
        assert_eq!(digest["doors"][0]["door"], "front");
        evaluate(&app).await;
        tokio::time::sleep(StdDuration::from_millis(300)).await;
        assert_eq!(receiver.got.lock().expect("lock").len(), 1, "one digest a day, to digest channels only");
        app
    }

    async fn channels_and_rules_refuse_bad_references_with_clear_errors(app) {
        let admin = app.admin_token().await;
        let bad = app.client.post(app.url("/api/v1/alert-channels")).bearer_auth(&admin)
            .json(&json!({"name": "x", "kind": "webhook", "url": "ftp://example.com/"}))
            .send().await.expect("create");
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = bad.json().await.expect("json");
        assert!(body["error"]["message"].as_str().unwrap_or_default().contains("url"), "{body}");
        let unknown = app.client.post(app.url("/api/v1/alert-rules")).bearer_auth(&admin)
            .json(&json!({"name": "r", "channels": ["nope"],
                          "condition": {"kind": "device_silent", "minutes": 5}}))
            .send().await.expect("create");
        assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = unknown.json().await.expect("json");
        assert_eq!(body["error"]["message"], "channels: no such channels: nope");

        let channel = create_channel(&app, &admin, json!({
            "name": "ops", "kind": "ntfy", "url": "https://ntfy.example.com/door", "secret": "k",
        })).await;
        create_rule(&app, &admin, json!({"name": "r", "channels": ["ops"],
            "condition": {"kind": "device_silent", "minutes": 5}})).await;
        let delete = app.client.delete(app.url(&format!("/api/v1/alert-channels/{}", channel.id)))
            .bearer_auth(&admin).send().await.expect("delete");
        assert_eq!(delete.status(), StatusCode::CONFLICT);
        let body: Value = delete.json().await.expect("json");
        assert_eq!(error_code(&body), "conflict");

        // Replacing without a secret keeps it; "" removes it.
        let put = |secret: Value| {
            let mut spec = json!({"name": "ops", "kind": "ntfy", "url": "https://ntfy.example.com/door2"});
            if !secret.is_null() { spec["secret"] = secret; }
            app.client.put(app.url(&format!("/api/v1/alert-channels/{}", channel.id)))
                .bearer_auth(&admin).json(&spec).send()
        };
        let kept: AlertChannel = put(Value::Null).await.expect("put").json().await.expect("json");
        assert!(kept.has_secret);
        let removed: AlertChannel = put(json!("")).await.expect("put").json().await.expect("json");
        assert!(!removed.has_secret);

        let viewer = app.token_for("vera", maskgate_api_types::Role::Viewer).await;
        let (status, _) = app.get_json("/api/v1/alert-channels", &viewer).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, body) = app.get_json("/api/v1/alerts?state=sleeping", &admin).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        app
    }

    async fn a_failed_check_reaches_the_live_stream_within_a_second_and_so_does_its_acknowledgement(app) {
        let admin = app.admin_token().await;
        let door = app.device(&admin, "front").await;
        create_rule(&app, &admin, json!({
            "name": "every fail", "condition": {"kind": "failed_check", "fails": 1, "within_minutes": 5},
        })).await;
        let mut stream = app.client.get(app.url("/api/v1/stream")).bearer_auth(&admin)
            .send().await.expect("stream");
        assert_eq!(stream.status(), StatusCode::OK);
        let posted = Instant::now();
        fail(&app, &door).await;
        let data = crate::stream::next_event(&mut stream, "alert", StdDuration::from_secs(2))
            .await
            .expect("an alert event");
        assert!(posted.elapsed() < StdDuration::from_secs(1), "{:?}", posted.elapsed());
        let alert: Alert = serde_json::from_str(&data).expect("alert json");
        assert_eq!((alert.device.as_deref(), alert.state()), (Some("front"), AlertState::Open));

        // A real clock has nanoseconds, the databases keep microseconds: the
        // acknowledgement reaches the stream all the same.
        app.clock.set(app.now() + Duration::nanoseconds(789));
        let response = app.client.post(app.url(&format!("/api/v1/alerts/{}/ack", alert.id)))
            .bearer_auth(&admin).send().await.expect("ack");
        assert_eq!(response.status(), StatusCode::OK);
        let data = crate::stream::next_event(&mut stream, "alert", StdDuration::from_secs(2))
            .await
            .expect("an acknowledgement event");
        let acked: Alert = serde_json::from_str(&data).expect("alert json");
        assert_eq!((acked.id, acked.state(), acked.acked_by.as_deref()),
            (alert.id, AlertState::Acknowledged, Some("admin")));
        app
    }
}
