//! The MQTT uplink against the real server's MQTT transport and a real Mosquitto: a visit
//! leaves the queue only on the server's ack (never on the broker's PUBACK), a refused visit
//! is set aside as over HTTP, and the door connects with TLS client certificates or a
//! password.
//!
//! Without `mosquitto` these tests say so and step aside, unless MASKGATE_REQUIRE_MQTT=1.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use maskgate_api::clock::SystemClock;
use maskgate_api::credentials::{DEVICE_TOKEN_PREFIX, new_token, token_hash};
use maskgate_api::mqtt::MqttSettings;
use maskgate_api::{AppState, Settings, db};
use maskgate_api_types::NewVisit;
use maskgate_edge_agent::config::{MqttConfig, Secret};
use maskgate_edge_agent::queue::Queue;
use maskgate_edge_agent::uplink::mqtt::MqttTransport;
use maskgate_edge_agent::uplink::{Transport, Uplink, UplinkConfig};
use maskgate_tests::broker::{Broker, mosquitto};
use maskgate_tests::free_port;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

/// The server: its HTTP side (unused by the door) and its MQTT transport.
struct Server {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start_server(store: Arc<dyn db::Store>, broker_url: &str) -> Server {
    start_server_with_ca(store, broker_url, None).await
}

/// The server, trusting `ca_file` for an `mqtts://` broker.
async fn start_server_with_ca(
    store: Arc<dyn db::Store>,
    broker_url: &str,
    ca_file: Option<std::path::PathBuf>,
) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let state = AppState::new(store, Settings::default(), Arc::new(SystemClock));
    maskgate_api::mqtt::spawn(
        state.clone(),
        MqttSettings {
            url: broker_url.to_owned(),
            client_id: "maskgate-api-test".into(),
            share_group: Some("maskgate".into()),
            ca_file,
            home_assistant: None,
        },
    )
    .expect("MQTT transport");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(maskgate_api::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Server { stop, task }
}

impl Server {
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

fn visit(i: i64) -> NewVisit {
    NewVisit {
        id: Uuid::new_v4(),
        captured_at: Utc::now() - chrono::Duration::seconds(10_000 - i),
        passed: i % 3 != 0,
        mask_score: if i % 3 != 0 { 0.9 } else { 0.1 },
        model: "test@1".into(),
        device: None,
        decision_ms: Some(150),
    }
}

/// A test's folder, its server database with the door `door` registered, and its queue.
struct Site {
    dir: std::path::PathBuf,
    store: Arc<dyn db::Store>,
    queue: Queue,
}

async fn site() -> Site {
    let dir = std::env::temp_dir().join(format!("mg-uplink-mqtt-{}", Uuid::new_v4().simple()));
    let store = db::connect(&format!("sqlite://{}", dir.join("server.db").display()))
        .await
        .expect("server db");
    let token = new_token(DEVICE_TOKEN_PREFIX);
    store
        .create_device("door", &token_hash(token.expose()), Utc::now())
        .await
        .expect("device");
    let queue = Queue::open(&dir.join("queue.db"), 100_000)
        .await
        .expect("queue");
    Site { dir, store, queue }
}

impl Site {
    async fn stored(&self) -> Vec<Uuid> {
        self.store
            .list_visits(&Default::default(), None, 10_000)
            .await
            .expect("list")
            .iter()
            .map(|v| v.id)
            .collect()
    }
}

fn door_config(url: String) -> MqttConfig {
    MqttConfig {
        url,
        site: "hq".into(),
        door: "door".into(),
        ack_timeout_s: 1,
        ..MqttConfig::default()
    }
}

/// A running uplink over MQTT and how to stop it.
struct Door {
    uplink: Uplink,
    transport: MqttTransport,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn start_door(queue: &Queue, config: &MqttConfig, password: Option<&Secret>) -> Door {
    let (stop, stopped) = watch::channel(false);
    let (transport, connection) = MqttTransport::start(
        config,
        password,
        Duration::from_millis(200),
        stopped.clone(),
    )
    .expect("MQTT uplink");
    let uplink = Uplink::with_transport(
        queue.clone(),
        Transport::Mqtt(transport.clone()),
        UplinkConfig {
            batch_size: 50,
            min_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            ..UplinkConfig::default()
        },
    );
    let runner = tokio::spawn(uplink.clone().run(stopped));
    Door {
        uplink,
        transport,
        stop,
        tasks: vec![runner, connection],
    }
}

impl Door {
    async fn stop(self) {
        self.stop.send_replace(true);
        for task in self.tasks {
            task.await.expect("the door's tasks stop");
        }
    }
}

async fn wait_until_empty(queue: &Queue, within: Duration) {
    let started = Instant::now();
    while queue.depth().await.expect("depth") > 0 {
        assert!(
            started.elapsed() < within,
            "the queue did not drain in {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Counts the batches published on the door's visits topic. A lost connection is made
/// again (and said on stderr): on a loaded machine a first connect can time out, and a
/// counter that gave up would make the door look silent.
fn count_batches(port: u16) -> Arc<AtomicUsize> {
    let mut options = MqttOptions::new(format!("counter-{}", Uuid::new_v4()), "127.0.0.1", port);
    options.set_max_packet_size(4 << 20, 4 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = client.try_subscribe("maskgate/hq/door/visits", QoS::AtLeastOnce);
                }
                Ok(Event::Incoming(Packet::Publish(_))) => {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("batch counter: {e}; connecting again");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_the_broker_took_but_no_server_answered_stays_queued_and_goes_again() {
    let Some(mosquitto) = mosquitto() else { return };
    let site = site().await;
    let broker = Broker::start(&mosquitto, &site.dir.join("broker"));
    let batches = count_batches(broker.port());
    let mut sent = HashSet::new();
    for i in 0..120 {
        let v = visit(i);
        sent.insert(v.id);
        site.queue.push(&v).await.expect("push");
    }
    // No server yet: the broker acknowledges every publish, nobody acks the visits.
    let door = start_door(&site.queue, &door_config(broker.url()), None);
    let started = Instant::now();
    while batches.load(Ordering::SeqCst) < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the batch did not go again: {} publishes seen, door ready: {}, uplink: {:?}",
            batches.load(Ordering::SeqCst),
            door.transport.is_ready(),
            door.uplink.status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        site.queue.depth().await.expect("depth"),
        120,
        "PUBACK is not an ack"
    );
    let error = door.uplink.status().last_error.expect("reported");
    assert!(error.contains("no ack"), "{error}");

    let server = start_server(site.store.clone(), &broker.url()).await;
    wait_until_empty(&site.queue, Duration::from_secs(30)).await;
    let stored = site.stored().await;
    let unique: HashSet<Uuid> = stored.iter().copied().collect();
    assert_eq!(stored.len(), unique.len(), "no visit stored twice");
    assert_eq!(unique, sent, "every visit arrived");
    let status = door.uplink.status();
    assert!(status.last_upload_at.is_some() && status.last_error.is_none());
    assert_eq!(status.acknowledged, 120);

    door.stop().await;
    server.stop().await;
    drop(broker);
    let _ = std::fs::remove_dir_all(&site.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_the_server_refuses_over_mqtt_is_set_aside_and_the_rest_go_through() {
    let Some(mosquitto) = mosquitto() else { return };
    let site = site().await;
    let broker = Broker::start(&mosquitto, &site.dir.join("broker"));
    let server = start_server(site.store.clone(), &broker.url()).await;
    let mut good = HashSet::new();
    for i in 0..20 {
        let mut v = visit(i);
        if i == 7 {
            v.mask_score = 1.5; // a bug elsewhere must not block the queue
        } else {
            good.insert(v.id);
        }
        site.queue.push(&v).await.expect("push");
    }
    let door = start_door(&site.queue, &door_config(broker.url()), None);
    wait_until_empty(&site.queue, Duration::from_secs(30)).await;
    let rejected = site.queue.rejected().await.expect("rejected");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert!(rejected[0].1.contains("mask_score"), "{rejected:?}");
    let stored: HashSet<Uuid> = site.stored().await.into_iter().collect();
    assert_eq!(stored, good);

    door.stop().await;
    server.stop().await;
    drop(broker);
    let _ = std::fs::remove_dir_all(&site.dir);
}

/// Runs openssl in `dir`; `false` when openssl is missing (the test steps aside).
fn openssl(dir: &Path, args: &[&str]) -> bool {
    match Command::new("openssl").current_dir(dir).args(args).output() {
        Ok(out) => {
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            true
        }
        Err(_) => false,
    }
}

/// A CA, a certificate for the broker at 127.0.0.1 and one for the door, all signed by it.
fn make_certificates(dir: &Path) -> bool {
    std::fs::create_dir_all(dir).expect("cert folder");
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca = [
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=maskgate-test-ca",
        ],
    ]
    .concat();
    if !openssl(dir, &ca) {
        eprintln!("skipping: openssl is not installed");
        return false;
    }
    std::fs::write(
        dir.join("broker.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    std::fs::write(dir.join("door.ext"), "extendedKeyUsage=clientAuth\n").expect("ext");
    for (name, subject) in [("broker", "/CN=127.0.0.1"), ("door", "/CN=door")] {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let pem = format!("{name}.pem");
        let ext = format!("{name}.ext");
        let request = [
            &["req"][..],
            &ec,
            &["-keyout", &key, "-out", &csr, "-subj", subject],
        ]
        .concat();
        assert!(openssl(dir, &request));
        assert!(openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &ext,
            ]
        ));
    }
    true
}

async fn wait_ready(transport: &MqttTransport, within: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < within {
        if transport.is_ready() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_a_door_needs_its_client_certificate_and_the_server_trusts_a_private_ca() {
    // The server reaches the broker over TLS too (its own listener, no client certificate),
    // trusting the test's CA.
    let Some(mosquitto) = mosquitto() else { return };
    let site = site().await;
    let certs = site.dir.join("certs");
    if !make_certificates(&certs) {
        return;
    }
    let tls_port = free_port();
    let server_port = free_port();
    let broker = Broker::start_with(
        &mosquitto,
        &site.dir.join("broker"),
        &format!(
            "listener {tls_port} 127.0.0.1\n\
             cafile {certs}/ca.pem\n\
             certfile {certs}/broker.pem\n\
             keyfile {certs}/broker.key\n\
             require_certificate true\n\
             use_identity_as_username true\n\
             listener {server_port} 127.0.0.1\n\
             certfile {certs}/broker.pem\n\
             keyfile {certs}/broker.key\n",
            certs = certs.display()
        ),
    );
    let server = start_server_with_ca(
        site.store.clone(),
        &format!("mqtts://127.0.0.1:{server_port}"),
        Some(certs.join("ca.pem")),
    )
    .await;
    let mut config = door_config(format!("mqtts://127.0.0.1:{tls_port}"));
    config.ca_file = Some(certs.join("ca.pem"));

    let (stop, stopped) = watch::channel(false);
    let (anonymous, task) =
        MqttTransport::start(&config, None, Duration::from_millis(200), stopped).expect("start");
    assert!(
        !wait_ready(&anonymous, Duration::from_secs(2)).await,
        "the broker requires a client certificate"
    );
    stop.send_replace(true);
    task.await.expect("stops");

    config.cert_file = Some(certs.join("door.pem"));
    config.key_file = Some(certs.join("door.key"));
    let mut sent = HashSet::new();
    for i in 0..30 {
        let v = visit(i);
        sent.insert(v.id);
        site.queue.push(&v).await.expect("push");
    }
    let door = start_door(&site.queue, &config, None);
    assert!(
        wait_ready(&door.transport, Duration::from_secs(10)).await,
        "connected over TLS; broker log:\n{}",
        broker.log()
    );
    wait_until_empty(&site.queue, Duration::from_secs(30)).await;
    let stored: HashSet<Uuid> = site.stored().await.into_iter().collect();
    assert_eq!(stored, sent);

    door.stop().await;
    server.stop().await;
    drop(broker);
    let _ = std::fs::remove_dir_all(&site.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_door_with_the_right_password_publishes_and_a_wrong_one_is_refused() {
    let Some(mosquitto) = mosquitto() else { return };
    let site = site().await;
    std::fs::create_dir_all(&site.dir).expect("dir");
    let passwords = site.dir.join("passwords");
    let made = Command::new("mosquitto_passwd")
        .args(["-b", "-c"])
        .arg(&passwords)
        .args(["door", "door-secret"])
        .status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipping: mosquitto_passwd did not run");
        return;
    }
    let broker = Broker::start_with(
        &mosquitto,
        &site.dir.join("broker"),
        &format!("password_file {}\n", passwords.display()),
    );
    let server = start_server(site.store.clone(), &broker.url()).await;
    let mut config = door_config(broker.url());
    config.username = Some("door".into());

    let (stop, stopped) = watch::channel(false);
    let wrong = Secret::new("guess");
    let (refused, task) =
        MqttTransport::start(&config, Some(&wrong), Duration::from_millis(200), stopped)
            .expect("start");
    assert!(
        !wait_ready(&refused, Duration::from_secs(2)).await,
        "a wrong password is refused"
    );
    stop.send_replace(true);
    task.await.expect("stops");

    let v = visit(1);
    site.queue.push(&v).await.expect("push");
    let door = start_door(&site.queue, &config, Some(&Secret::new("door-secret")));
    wait_until_empty(&site.queue, Duration::from_secs(30)).await;
    assert_eq!(site.stored().await, vec![v.id]);

    door.stop().await;
    server.stop().await;
    drop(broker);
    let _ = std::fs::remove_dir_all(&site.dir);
}
