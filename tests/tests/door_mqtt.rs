//! A door on MQTT end to end: the real `edge-agent` (uplink = "mqtt", no device token) on real
//! photos, a Mosquitto of the test's own, and the real `maskgate serve --mqtt-url`. Every
//! decision must be stored exactly once: through the broker, through broker restarts (killed,
//! and stopped cleanly) while the door publishes, and through a server outage while the
//! broker stays up.
//!
//! Needs ../shared (photos and the UltraFace detector) and `mosquitto`; without either the
//! tests say so and step aside, unless MASKGATE_REQUIRE_SHARED=1 / MASKGATE_REQUIRE_MQTT=1
//! (set by .ci/run).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use maskgate_api_types::Heartbeat;
use maskgate_tests::broker::{Broker, mosquitto};
use maskgate_tests::door::{Agent, log_tail, mqtt_door_config, setup};
use maskgate_tests::shared;
use maskgate_tests::site::Site;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use uuid::Uuid;

/// One door test at a time, as in door.rs: a door runs at camera speed on 2 cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Listens to everything under the door's topics and keeps the last message of each.
struct Observer {
    latest: Arc<Mutex<HashMap<String, String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Observer {
    fn start(port: u16) -> Self {
        let mut options = MqttOptions::new(
            format!("e2e-observer-{}", Uuid::new_v4()),
            "127.0.0.1",
            port,
        );
        options
            .set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(4 << 20, 4 << 20);
        let (client, mut eventloop) = AsyncClient::new(options, 16);
        let latest = Arc::new(Mutex::new(HashMap::new()));
        let sink = latest.clone();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = client.try_subscribe("maskgate/hq/front-door/#", QoS::AtLeastOnce);
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let leaf = p.topic.rsplit('/').next().unwrap_or_default().to_owned();
                        let text = String::from_utf8_lossy(&p.payload).into_owned();
                        sink.lock().expect("lock").insert(leaf, text);
                    }
                    Ok(_) => {}
                    // The broker is being restarted.
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
        Self { latest, task }
    }

    fn latest(&self, leaf: &str) -> Option<String> {
        self.latest.lock().expect("lock").get(leaf).cloned()
    }

    async fn wait_for(&self, leaf: &str, what: &str, ok: impl Fn(&str) -> bool, door: &Path) {
        let started = Instant::now();
        loop {
            if self.latest(leaf).is_some_and(|m| ok(&m)) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{what}: not within 60 s; last `{leaf}`: {:?}; agent log:\n{}",
                self.latest(leaf),
                log_tail(&door.join("agent.log"))
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A site whose server listens to `broker`, started.
async fn mqtt_site(site: &mut Site, broker: &Broker) {
    site.mqtt_url = Some(broker.url());
    site.start().await;
}

/// Every stored id once, and exactly the decided ones.
async fn assert_stored_exactly_once(site: &Site, decided: &[Uuid], door: &Path) {
    let stored = site.visit_ids().await;
    let stored_set: HashSet<Uuid> = stored.iter().copied().collect();
    let decided_set: HashSet<Uuid> = decided.iter().copied().collect();
    assert_eq!(decided_set.len(), decided.len(), "ids are unique");
    assert_eq!(stored.len(), stored_set.len(), "nothing stored twice");
    let lost: Vec<&Uuid> = decided_set.difference(&stored_set).collect();
    assert!(
        lost.is_empty(),
        "decisions lost: {lost:?}; agent log:\n{}",
        log_tail(&door.join("agent.log"))
    );
    assert_eq!(stored_set, decided_set, "nothing but the decisions arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decision_goes_through_the_broker_and_is_stored_once() {
    let Some(shared) = shared() else { return };
    let Some(mosquitto) = mosquitto() else { return };
    let _serial = SERIAL.lock().await;
    let (door, mut site, frames) = setup(&shared, 8);
    let dir = door.parent().expect("dir").to_path_buf();
    let broker = Broker::start(&mosquitto, &dir.join("broker"));
    mqtt_site(&mut site, &broker).await;
    let observer = Observer::start(broker.port());
    let once = mqtt_door_config(&door, "once.toml", &frames, &shared, &broker.url(), false);

    let agent = Agent::start(&door, &once, true);
    observer
        .wait_for("status", "the door says online", |s| s == "online", &door)
        .await;
    let decided = agent.finish(Duration::from_secs(120), &door);
    assert!(decided.len() >= 4, "the door decided: {}", decided.len());
    assert_stored_exactly_once(&site, &decided, &door).await;
    observer
        .wait_for(
            "status",
            "a door that stops says offline",
            |s| s == "offline",
            &door,
        )
        .await;

    // Heartbeats came over MQTT (the door has no token for HTTP) and reached the server.
    let heartbeat: Heartbeat =
        serde_json::from_str(&observer.latest("heartbeat").expect("a heartbeat")).expect("json");
    assert_eq!(
        heartbeat.model_version.as_deref(),
        Some("maskgate-cnn@1.0.0")
    );
    let status = site.devices().await.items[0]
        .status
        .clone()
        .expect("the server stored a heartbeat");
    assert_eq!(status.model_version.as_deref(), Some("maskgate-cnn@1.0.0"));

    // kill -9: the broker announces the door's last will.
    let endless = mqtt_door_config(&door, "endless.toml", &frames, &shared, &broker.url(), true);
    let agent = Agent::start(&door, &endless, false);
    observer
        .wait_for(
            "status",
            "the door is back online",
            |s| s == "online",
            &door,
        )
        .await;
    agent.kill();
    observer
        .wait_for(
            "status",
            "the last will says offline",
            |s| s == "offline",
            &door,
        )
        .await;
    eprintln!(
        "through the broker: {} decisions, each stored once",
        decided.len()
    );
    site.kill();
    drop(broker);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restarts_while_the_door_publishes_lose_and_duplicate_nothing() {
    let Some(shared) = shared() else { return };
    let Some(mosquitto) = mosquitto() else { return };
    let _serial = SERIAL.lock().await;
    let (door, mut site, frames) = setup(&shared, 12);
    let dir = door.parent().expect("dir").to_path_buf();
    let mut broker = Broker::start(&mosquitto, &dir.join("broker"));
    mqtt_site(&mut site, &broker).await;
    let config = mqtt_door_config(&door, "edge.toml", &frames, &shared, &broker.url(), false);

    let agent = Agent::start(&door, &config, true);
    agent
        .wait_for_decisions(2, Duration::from_secs(60), &door)
        .await;
    // kill -9: whatever the broker held since its last autosave is gone.
    broker.kill();
    let at_kill = agent.decided();
    agent
        .wait_for_decisions(at_kill + 3, Duration::from_secs(60), &door)
        .await;
    broker.start_again();
    let at_restart = agent.decided();
    agent
        .wait_for_decisions(at_restart + 2, Duration::from_secs(60), &door)
        .await;
    // A clean stop: the broker saves its sessions and queued messages, then comes back.
    broker.stop();
    tokio::time::sleep(Duration::from_millis(500)).await;
    broker.start_again();
    let decided = agent.finish(Duration::from_secs(180), &door);

    assert_stored_exactly_once(&site, &decided, &door).await;
    let log = std::fs::read_to_string(door.join("agent.log")).unwrap_or_default();
    assert!(log.contains("MQTT connection lost"), "the door noticed");
    assert!(
        site.server_log().contains("MQTT connection lost"),
        "the server noticed"
    );
    eprintln!(
        "broker restarts: {} decisions, {} while the broker was down, each stored once",
        decided.len(),
        at_restart - at_kill
    );
    site.kill();
    drop(broker);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_server_down_visits_wait_at_the_door_then_arrive_once() {
    let Some(shared) = shared() else { return };
    let Some(mosquitto) = mosquitto() else { return };
    let _serial = SERIAL.lock().await;
    let (door, mut site, frames) = setup(&shared, 8);
    let dir = door.parent().expect("dir").to_path_buf();
    let broker = Broker::start(&mosquitto, &dir.join("broker"));
    mqtt_site(&mut site, &broker).await;
    let observer = Observer::start(broker.port());
    let config = mqtt_door_config(&door, "edge.toml", &frames, &shared, &broker.url(), false);

    let mut agent = Agent::start(&door, &config, true);
    agent
        .wait_for_decisions(2, Duration::from_secs(60), &door)
        .await;
    let stored_at_outage = site.visit_ids().await.len();
    site.kill();
    // The folder plays to its end with the server gone; the decisions wait at the door, and
    // the door keeps reporting its queue to the broker.
    let started = Instant::now();
    while !std::fs::read_to_string(door.join("agent.log"))
        .unwrap_or_default()
        .contains("the camera source has no more frames")
    {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the folder did not end; agent log:\n{}",
            log_tail(&door.join("agent.log"))
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    observer
        .wait_for(
            "heartbeat",
            "the door reports visits waiting",
            |h| {
                serde_json::from_str::<Heartbeat>(h)
                    .is_ok_and(|h| h.queue_depth > 0 && h.oldest_queued_at.is_some())
            },
            &door,
        )
        .await;
    // Longer than the ack timeout (2 s): batches go again, unanswered, and stay queued.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(agent.running(), "the door waits for its acks");
    let waiting: Heartbeat =
        serde_json::from_str(&observer.latest("heartbeat").expect("heartbeat")).expect("json");
    assert!(waiting.queue_depth > 0, "{waiting:?}");

    site.start().await;
    let decided = agent.finish(Duration::from_secs(120), &door);
    assert_stored_exactly_once(&site, &decided, &door).await;
    let log = std::fs::read_to_string(door.join("agent.log")).unwrap_or_default();
    assert!(log.contains("no ack from the server"), "batches went again");
    eprintln!(
        "server outage: {} decisions, {stored_at_outage} stored before it, {} waiting at the door during it",
        decided.len(),
        waiting.queue_depth
    );
    site.kill();
    drop(broker);
    std::fs::remove_dir_all(dir).ok();
}
