//! The server's MQTT transport against a real Mosquitto: visits and heartbeats in, acks out,
//! and everything a door must not do refused (another door's visits, malformed and oversized
//! payloads, unknown doors), with the broker ACL of docs/mqtt.md enforcing topics.
//!
//! Each test starts its own `mosquitto` on a free port. Where Mosquitto is not installed the
//! tests say so and step aside, unless `MASKGATE_REQUIRE_MQTT=1` (set by `.ci/run`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use maskgate_api::mqtt::{MqttSettings, spawn};
use maskgate_api_types::mqtt::{Leaf, VisitAck, topic};
use maskgate_api_types::{Device, VisitBatch};
use reqwest::StatusCode;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{Backend, TestApp, spawn_app, visit};

const MOSQUITTO: &str = "/usr/sbin/mosquitto";

/// A Mosquitto of one test, in its own folder, stopped on drop.
struct Broker {
    port: u16,
    folder: PathBuf,
    child: Child,
}

impl Broker {
    /// Starts a broker; `acl`: door users and the ACL of docs/mqtt.md instead of anonymous.
    fn start(acl: bool) -> Option<Self> {
        if !std::path::Path::new(MOSQUITTO).exists() {
            assert!(
                std::env::var("MASKGATE_REQUIRE_MQTT").as_deref() != Ok("1"),
                "MASKGATE_REQUIRE_MQTT=1 but {MOSQUITTO} is missing (apt-get install mosquitto)"
            );
            eprintln!("skipping: mosquitto is not installed (apt-get install mosquitto)");
            return None;
        }
        let folder =
            std::env::temp_dir().join(format!("maskgate-mqtt-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&folder).expect("broker folder");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut config = format!("listener {port} 127.0.0.1\npersistence false\n");
        if acl {
            let passwords = folder.join("passwords");
            for (user, password) in [
                ("maskgate-api", "server-pw"),
                ("front", "front-pw"),
                ("back", "back-pw"),
            ] {
                let mut cmd = Command::new("mosquitto_passwd");
                if !passwords.exists() {
                    cmd.arg("-c");
                }
                let status = cmd
                    .arg("-b")
                    .arg(&passwords)
                    .arg(user)
                    .arg(password)
                    .status()
                    .expect("mosquitto_passwd");
                assert!(status.success());
            }
            let acl_file = folder.join("acl");
            std::fs::write(
                &acl_file,
                include_str!("../../../docs/mosquitto/maskgate.acl"),
            )
            .expect("acl");
            config.push_str(&format!(
                "allow_anonymous false\npassword_file {}\nacl_file {}\n",
                passwords.display(),
                acl_file.display()
            ));
        } else {
            config.push_str("allow_anonymous true\n");
        }
        let config_file = folder.join("mosquitto.conf");
        std::fs::write(&config_file, config).expect("config");
        let child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(&config_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        let deadline = Instant::now() + StdDuration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {port}"
            );
            std::thread::sleep(StdDuration::from_millis(50));
        }
        Some(Self {
            port,
            folder,
            child,
        })
    }

    fn url(&self, credentials: &str) -> String {
        format!("mqtt://{credentials}127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// A door's MQTT client: publishes and hears its acks.
struct DoorClient {
    client: AsyncClient,
    acks: tokio::sync::mpsc::UnboundedReceiver<VisitAck>,
}

impl DoorClient {
    async fn connect(broker: &Broker, door: &str, credentials: Option<(&str, &str)>) -> Self {
        let mut options = MqttOptions::new(
            format!("test-{door}-{}", Uuid::new_v4().simple()),
            "127.0.0.1",
            broker.port,
        );
        options.set_keep_alive(StdDuration::from_secs(5));
        options.set_max_packet_size(8 * 1024 * 1024, 8 * 1024 * 1024);
        if let Some((user, password)) = credentials {
            options.set_credentials(user, password);
        }
        let (client, eventloop) = AsyncClient::new(options, 64);
        let (tx, acks) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(pump(eventloop, tx));
        client
            .subscribe(topic("hq", door, Leaf::Ack), QoS::AtLeastOnce)
            .await
            .expect("subscribe");
        // Let the subscription land before anything is published.
        tokio::time::sleep(StdDuration::from_millis(200)).await;
        Self { client, acks }
    }

    async fn publish(&self, door: &str, leaf: Leaf, payload: Vec<u8>) {
        self.client
            .publish(topic("hq", door, leaf), QoS::AtLeastOnce, false, payload)
            .await
            .expect("publish");
    }

    async fn ack(&mut self, within: StdDuration) -> Option<VisitAck> {
        tokio::time::timeout(within, self.acks.recv())
            .await
            .ok()
            .flatten()
    }
}

async fn pump(mut eventloop: EventLoop, acks: tokio::sync::mpsc::UnboundedSender<VisitAck>) {
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if let Ok(ack) = serde_json::from_slice(&p.payload) {
                    let _ = acks.send(ack);
                }
            }
            Ok(_) => {}
            Err(_) => tokio::time::sleep(StdDuration::from_millis(100)).await,
        }
    }
}

/// The app with its MQTT transport on `broker`.
async fn app_on(broker: &Broker, credentials: &str) -> Option<TestApp> {
    app_with(broker, credentials, None).await
}

/// The app with its MQTT transport on `broker`, announcing doors to Home Assistant under
/// `home_assistant` when given.
async fn app_with(
    broker: &Broker,
    credentials: &str,
    home_assistant: Option<&str>,
) -> Option<TestApp> {
    let app = spawn_app(Backend::Sqlite, |_| {}).await?;
    spawn(
        app.state.clone(),
        MqttSettings {
            url: broker.url(credentials),
            client_id: format!("maskgate-api-{}", Uuid::new_v4().simple()),
            share_group: Some("maskgate".into()),
            ca_file: None,
            home_assistant: home_assistant.map(str::to_owned),
        },
    )
    .expect("mqtt transport");
    // The server subscribes once connected.
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    Some(app)
}

fn batch(visits: &[maskgate_api_types::NewVisit]) -> Vec<u8> {
    serde_json::to_vec(&VisitBatch {
        visits: visits.to_vec(),
    })
    .expect("json")
}

async fn device(app: &TestApp, admin: &str, name: &str) -> Device {
    let (status, body) = app.get_json("/api/v1/devices", admin).await;
    assert_eq!(status, StatusCode::OK);
    let devices: Vec<Device> = serde_json::from_value(body["items"].clone()).expect("devices");
    devices
        .into_iter()
        .find(|d| d.name == name)
        .expect("device")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visits_over_mqtt_are_stored_once_and_acknowledged_by_id() {
    let Some(broker) = Broker::start(false) else {
        return;
    };
    let Some(app) = app_on(&broker, "").await else {
        return;
    };
    let admin = app.admin_token().await;
    app.device(&admin, "front").await;
    let mut door = DoorClient::connect(&broker, "front", None).await;

    let visits = vec![
        visit(&app, Duration::seconds(5), true),
        visit(&app, Duration::seconds(3), false),
    ];
    door.publish("front", Leaf::Visits, batch(&visits)).await;
    let ack = door.ack(StdDuration::from_secs(5)).await.expect("an ack");
    assert_eq!(ack.ids, visits.iter().map(|v| v.id).collect::<Vec<_>>());
    assert_eq!((ack.accepted, ack.duplicates, ack.error), (2, 0, None));

    // A resend (the door missed the ack) stores nothing new and is acknowledged again.
    door.publish("front", Leaf::Visits, batch(&visits)).await;
    let again = door.ack(StdDuration::from_secs(5)).await.expect("an ack");
    assert_eq!((again.accepted, again.duplicates), (0, 2));
    assert_eq!(app.stored_visit_count().await, 2);

    door.publish(
        "front",
        Leaf::Heartbeat,
        serde_json::to_vec(&json!({
            "queue_depth": 7, "camera_state": "too_dark", "model_version": "m@1"
        }))
        .expect("json"),
    )
    .await;
    let deadline = Instant::now() + StdDuration::from_secs(5);
    loop {
        let front = device(&app, &admin, "front").await;
        if let Some(status) = front.status {
            assert_eq!(status.queue_depth, 7);
            break;
        }
        assert!(Instant::now() < deadline, "the heartbeat did not arrive");
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_door_s_last_will_marks_it_offline() {
    let Some(broker) = Broker::start(false) else {
        return;
    };
    let Some(app) = app_on(&broker, "").await else {
        return;
    };
    let admin = app.admin_token().await;
    app.device(&admin, "front").await;
    let mut options = MqttOptions::new("door-front", "127.0.0.1", broker.port);
    options
        .set_keep_alive(StdDuration::from_secs(5))
        .set_last_will(rumqttc::LastWill::new(
            topic("hq", "front", Leaf::Status),
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
    let (client, eventloop) = AsyncClient::new(options, 16);
    let (tx, _acks) = tokio::sync::mpsc::unbounded_channel();
    let pump = tokio::spawn(pump(eventloop, tx));
    client
        .publish(
            topic("hq", "front", Leaf::Status),
            QoS::AtLeastOnce,
            true,
            "online",
        )
        .await
        .expect("publish");
    let link = |online: bool| {
        let app = &app;
        let admin = &admin;
        async move {
            let deadline = Instant::now() + StdDuration::from_secs(5);
            loop {
                let front = device(app, admin, "front").await;
                if front.link.is_some_and(|l| l.online == online) {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "front is not {}",
                    if online { "online" } else { "offline" }
                );
                tokio::time::sleep(StdDuration::from_millis(50)).await;
            }
        }
    };
    link(true).await;
    // The door's connection dies without a goodbye: the broker publishes its last will.
    pump.abort();
    link(false).await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_are_refused_and_the_server_keeps_going() {
    let Some(broker) = Broker::start(false) else {
        return;
    };
    let Some(app) = app_on(&broker, "").await else {
        return;
    };
    let admin = app.admin_token().await;
    app.device(&admin, "front").await;
    app.device(&admin, "back").await;
    let mut door = DoorClient::connect(&broker, "front", None).await;

    // Visits that name another door than the topic's: refused, with the reason in the ack.
    let mut other = visit(&app, Duration::seconds(1), true);
    other.device = Some("back".into());
    door.publish("front", Leaf::Visits, batch(std::slice::from_ref(&other)))
        .await;
    let ack = door.ack(StdDuration::from_secs(5)).await.expect("an ack");
    let error = ack.error.expect("refused");
    assert_eq!(error.code, "forbidden");
    assert!(error.message.contains("back"), "{}", error.message);
    assert_eq!(ack.ids, vec![other.id]);

    // Malformed, oversized, invalid values, unknown doors, strange topics: nothing stored.
    door.publish("front", Leaf::Visits, b"{not json".to_vec())
        .await;
    door.publish("front", Leaf::Visits, vec![b' '; 3 * 1024 * 1024])
        .await;
    let mut bad = visit(&app, Duration::seconds(1), true);
    bad.mask_score = 7.0;
    door.publish("front", Leaf::Visits, batch(&[bad])).await;
    let refused = door.ack(StdDuration::from_secs(5)).await.expect("an ack");
    assert_eq!(refused.error.map(|e| e.code), Some("validation".into()));
    // A door the server does not know hears why, so it backs off instead of resending.
    let mut ghost = DoorClient::connect(&broker, "ghost", None).await;
    let stranger = visit(&app, Duration::seconds(1), true);
    ghost
        .publish(
            "ghost",
            Leaf::Visits,
            batch(std::slice::from_ref(&stranger)),
        )
        .await;
    let ack = ghost.ack(StdDuration::from_secs(5)).await.expect("an ack");
    assert_eq!(ack.ids, vec![stranger.id]);
    let error = ack.error.expect("refused");
    assert_eq!(error.code, "unauthorized");
    assert!(
        error.message.contains("not registered"),
        "{}",
        error.message
    );
    door.client
        .publish(
            "maskgate/hq/front/visits/extra",
            QoS::AtLeastOnce,
            false,
            batch(&[visit(&app, Duration::seconds(1), true)]),
        )
        .await
        .expect("publish");
    door.publish("front", Leaf::Heartbeat, b"[]".to_vec()).await;

    // The server is still there: a good batch goes through.
    let good = visit(&app, Duration::seconds(1), true);
    door.publish("front", Leaf::Visits, batch(std::slice::from_ref(&good)))
        .await;
    let ack = door.ack(StdDuration::from_secs(5)).await.expect("an ack");
    assert_eq!((ack.ids, ack.accepted), (vec![good.id], 1));
    assert_eq!(app.stored_visit_count().await, 1, "only the good visit");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_acl_keeps_each_door_under_its_own_topic() {
    let Some(broker) = Broker::start(true) else {
        return;
    };
    let Some(app) = app_on(&broker, "maskgate-api:server-pw@").await else {
        return;
    };
    let admin = app.admin_token().await;
    app.device(&admin, "front").await;
    app.device(&admin, "back").await;
    let mut front = DoorClient::connect(&broker, "front", Some(("front", "front-pw"))).await;
    // Trying to listen in on `back`'s acks is denied by the broker.
    let _ = front
        .client
        .subscribe(topic("hq", "back", Leaf::Ack), QoS::AtLeastOnce)
        .await;

    // `front` posing as `back`: the broker drops it (MQTT 3.1.1 still acknowledges).
    front
        .publish(
            "back",
            Leaf::Visits,
            batch(&[visit(&app, Duration::seconds(1), true)]),
        )
        .await;
    // …and `front` cannot read `back`'s acks either.
    let mut back = DoorClient::connect(&broker, "back", Some(("back", "back-pw"))).await;
    let own = visit(&app, Duration::seconds(1), false);
    back.publish("back", Leaf::Visits, batch(std::slice::from_ref(&own)))
        .await;
    let ack = back
        .ack(StdDuration::from_secs(5))
        .await
        .expect("back's ack");
    assert_eq!(ack.ids, vec![own.id]);
    assert!(
        front.ack(StdDuration::from_millis(500)).await.is_none(),
        "front heard nothing"
    );
    assert_eq!(app.stored_visit_count().await, 1, "only back's own visit");

    let mine = visit(&app, Duration::seconds(1), true);
    front
        .publish("front", Leaf::Visits, batch(std::slice::from_ref(&mine)))
        .await;
    assert_eq!(
        front.ack(StdDuration::from_secs(5)).await.map(|a| a.ids),
        Some(vec![mine.id])
    );
    app.shutdown().await;
}

/// Retained messages on `filter`, by topic, as Home Assistant would read them on subscribing.
async fn retained(
    broker: &Broker,
    filter: &str,
    want: usize,
) -> BTreeMap<String, serde_json::Value> {
    let options = MqttOptions::new(
        format!("ha-{}", Uuid::new_v4().simple()),
        "127.0.0.1",
        broker.port,
    );
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    client
        .subscribe(filter, QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let mut seen = BTreeMap::new();
    let _ = tokio::time::timeout(StdDuration::from_secs(5), async {
        while seen.len() < want {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) if p.retain => {
                    let value = serde_json::from_slice(&p.payload)
                        .unwrap_or_else(|_| json!(String::from_utf8_lossy(&p.payload)));
                    seen.insert(p.topic.clone(), value);
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(StdDuration::from_millis(100)).await,
            }
        }
    })
    .await;
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_assistant_finds_each_door_with_its_last_decision_and_pass_rate() {
    let Some(broker) = Broker::start(false) else {
        return;
    };
    let Some(app) = app_with(&broker, "", Some("homeassistant")).await else {
        return;
    };
    // Midday, so every visit below is today's in the site's (UTC) day.
    let noon = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 6, 1, 12, 0, 0)
        .single()
        .expect("a time");
    app.clock.set(noon);
    let admin = app.admin_token().await;
    app.device(&admin, "front").await;
    let mut door = DoorClient::connect(&broker, "front", None).await;
    let visits = [
        visit(&app, Duration::seconds(30), true),
        visit(&app, Duration::seconds(10), false),
        visit(&app, Duration::seconds(20), true),
    ];
    door.publish("front", Leaf::Visits, batch(&visits)).await;
    let ack = door.ack(StdDuration::from_secs(5)).await.expect("an ack");
    assert_eq!(ack.accepted, 3);

    let configs = retained(&broker, "homeassistant/#", 3).await;
    let topics: Vec<&str> = configs.keys().map(String::as_str).collect();
    assert_eq!(
        topics,
        [
            "homeassistant/binary_sensor/maskgate_hq_front/online/config",
            "homeassistant/sensor/maskgate_hq_front/last_decision/config",
            "homeassistant/sensor/maskgate_hq_front/pass_rate_today/config",
        ]
    );
    let rate = &configs["homeassistant/sensor/maskgate_hq_front/pass_rate_today/config"];
    assert_eq!(rate["state_topic"], "maskgate/hq/front/state");
    assert_eq!(rate["unit_of_measurement"], "%");
    let online = &configs["homeassistant/binary_sensor/maskgate_hq_front/online/config"];
    assert_eq!(online["state_topic"], "maskgate/hq/front/status");

    let state = retained(&broker, "maskgate/hq/front/state", 1).await;
    let state = &state["maskgate/hq/front/state"];
    assert_eq!(state["last_decision"], "fail", "{state}");
    assert_eq!(state["visits_today"], 3);
    assert_eq!(state["pass_rate_today"], 66.7);

    // A late batch of an older pass changes today's counts, not the last decision.
    let late = visit(&app, Duration::seconds(600), true);
    door.publish("front", Leaf::Visits, batch(std::slice::from_ref(&late)))
        .await;
    door.ack(StdDuration::from_secs(5)).await.expect("an ack");
    let state = retained(&broker, "maskgate/hq/front/state", 1).await;
    let state = &state["maskgate/hq/front/state"];
    assert_eq!(state["last_decision"], "fail", "{state}");
    assert_eq!(
        (
            state["visits_today"].as_i64(),
            state["pass_rate_today"].as_f64()
        ),
        (Some(4), Some(75.0))
    );
    app.shutdown().await;
}
