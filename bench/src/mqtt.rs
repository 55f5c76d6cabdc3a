//! `maskgate-bench mqtt`: visits per second through MQTT (door → Mosquitto → server → ack
//! on the door's topic) against the HTTP path (`POST /api/v1/visits`), same machine, same
//! run, same server code, each phase on a fresh SQLite file.
//!
//! Every simulated door works as the real agent does: one batch in flight, the next one only
//! after the server's answer (the HTTP response, or the MQTT ack naming the batch's ids).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use maskgate_api::credentials::{self, DEVICE_TOKEN_PREFIX};
use maskgate_api::db::{self, Store};
use maskgate_api::mqtt::MqttSettings;
use maskgate_api_types::VisitBatch;
use maskgate_api_types::mqtt::{Leaf, VisitAck, topic};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;
use tokio::time::Instant;
use uuid::Uuid;

use crate::latency::{Summary, ms};
use crate::server;
use crate::visits::batch_now;

/// Arguments of `mqtt`.
#[derive(Debug, clap::Args)]
pub struct MqttArgs {
    /// The Mosquitto binary (a broker of the benchmark's own is started on a free port).
    #[arg(long, default_value = "/usr/sbin/mosquitto")]
    mosquitto: PathBuf,
    /// Folder for the phases' SQLite files and the broker's configuration.
    #[arg(long, default_value = "/tmp/mgbench/mqtt")]
    dir: PathBuf,
    /// How long each measurement runs, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Warm-up before each measurement, in seconds (not measured).
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Door counts to measure (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    doors: Vec<usize>,
    /// Visits per batch to measure (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,500")]
    batch: Vec<usize>,
    /// Also measure one door sending one visit at a time through a broker with Nagle's
    /// algorithm on (Mosquitto's default), to show what `set_tcp_nodelay true` buys.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    nagle_phase: bool,
}

/// One phase's outcome.
#[derive(Debug, Default)]
struct Phase {
    visits: u64,
    batches: u64,
    elapsed: Duration,
    round_trips: Vec<Duration>,
    failed: u64,
    first_error: Option<String>,
}

impl Phase {
    fn visits_per_second(&self) -> f64 {
        self.visits as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn merge(&mut self, other: Phase) {
        self.visits += other.visits;
        self.batches += other.batches;
        self.round_trips.extend(other.round_trips);
        self.failed += other.failed;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// A Mosquitto of the benchmark's own, killed on drop.
struct Mosquitto {
    child: Child,
    port: u16,
}

impl Mosquitto {
    async fn start(program: &Path, dir: &Path, nodelay: bool) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let config = dir.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\n\
                 allow_anonymous true\n\
                 persistence false\n\
                 max_queued_messages 100000\n\
                 set_tcp_nodelay {nodelay}\n\
                 log_dest none\n\
                 user root\n"
            ),
        )?;
        let child = Command::new(program)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("start {} (apt-get install mosquitto)", program.display()))?;
        let mut broker = Self { child, port };
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if let Some(status) = broker.child.try_wait()? {
                bail!("mosquitto exited at start: {status}");
            }
            ensure!(
                started.elapsed() < Duration::from_secs(10),
                "mosquitto did not listen within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(broker)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh database in `dir` with `doors` registered doors; their names and tokens.
async fn fresh_site(
    dir: &Path,
    name: &str,
    doors: usize,
) -> Result<(Arc<dyn Store>, Vec<(String, String)>)> {
    let file = dir.join(format!("{name}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    let store = db::connect(&format!("sqlite://{}", file.display()))
        .await
        .with_context(|| format!("open {}", file.display()))?;
    let mut registered = Vec::with_capacity(doors);
    for i in 0..doors {
        let name = format!("door-{i}");
        let token = credentials::new_token(DEVICE_TOKEN_PREFIX);
        store
            .create_device(
                &name,
                &credentials::token_hash(token.expose()),
                chrono::Utc::now(),
            )
            .await
            .context("register a door")?;
        registered.push((name, token.expose().to_owned()));
    }
    Ok((store, registered))
}

/// Runs `door` for every door, first for `warmup` (not counted), then for `seconds`.
async fn measure<F, Fut>(
    doors: usize,
    warmup: Duration,
    seconds: Duration,
    door: F,
) -> Result<Phase>
where
    F: Fn(usize, Instant, Instant) -> Fut,
    Fut: std::future::Future<Output = Phase> + Send + 'static,
{
    let begin = Instant::now() + warmup;
    let end = begin + seconds;
    let tasks: Vec<_> = (0..doors)
        .map(|i| tokio::spawn(door(i, begin, end)))
        .collect();
    let mut total = Phase::default();
    for task in tasks {
        total.merge(task.await.context("a door panicked")?);
    }
    total.elapsed = seconds;
    Ok(total)
}

/// Counts one answered batch if it was sent inside the measured window.
fn count(done: &mut Phase, sent: Instant, begin: Instant, end: Instant, visits: usize) {
    if sent >= begin && Instant::now() <= end {
        done.visits += visits as u64;
        done.batches += 1;
        done.round_trips.push(sent.elapsed());
    }
}

async fn http_phase(args: &MqttArgs, doors: usize, batch: usize) -> Result<Phase> {
    let (store, registered) =
        fresh_site(&args.dir, &format!("http-{doors}x{batch}"), doors).await?;
    let running = server::start_maskgate(store).await?;
    let url = running.url("/api/v1/visits");
    let registered = Arc::new(registered);
    let phase = measure(
        doors,
        Duration::from_secs(args.warmup),
        Duration::from_secs(args.seconds),
        |i, begin, end| {
            let url = url.clone();
            let token = registered[i].1.clone();
            async move {
                let mut done = Phase::default();
                let client = reqwest::Client::new();
                while Instant::now() < end {
                    let body = VisitBatch {
                        visits: batch_now(batch),
                    };
                    let sent = Instant::now();
                    let answer = client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await;
                    match answer {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            count(&mut done, sent, begin, end, batch);
                        }
                        Ok(r) => {
                            done.failed += 1;
                            done.first_error.get_or_insert(r.status().to_string());
                        }
                        Err(e) => {
                            done.failed += 1;
                            done.first_error.get_or_insert(e.to_string());
                        }
                    }
                }
                done
            }
        },
    )
    .await?;
    running.stop().await?;
    Ok(phase)
}

/// A door's MQTT client, connected and subscribed to its acks.
async fn mqtt_door(
    port: u16,
    name: &str,
) -> Result<(AsyncClient, mpsc::UnboundedReceiver<VisitAck>)> {
    let mut options = MqttOptions::new(
        format!("bench-{name}-{}", Uuid::new_v4().simple()),
        "127.0.0.1",
        port,
    );
    options.set_max_packet_size(4 << 20, 4 << 20);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    // As the agent does: a batch waits for its ack, so Nagle would only delay it.
    eventloop.network_options.set_tcp_nodelay(true);
    let (acks, received) = mpsc::unbounded_channel();
    let (subscribed, ready) = tokio::sync::oneshot::channel();
    tokio::spawn(pump(eventloop, acks, subscribed));
    client
        .subscribe(topic("bench", name, Leaf::Ack), QoS::AtLeastOnce)
        .await
        .context("subscribe")?;
    tokio::time::timeout(Duration::from_secs(10), ready)
        .await
        .context("no SUBACK within 10 s")?
        .context("the connection ended")?;
    Ok((client, received))
}

async fn pump(
    mut eventloop: EventLoop,
    acks: mpsc::UnboundedSender<VisitAck>,
    subscribed: tokio::sync::oneshot::Sender<()>,
) {
    let mut subscribed = Some(subscribed);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                if let Some(s) = subscribed.take() {
                    let _ = s.send(());
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if let Ok(ack) = serde_json::from_slice::<VisitAck>(&p.payload)
                    && acks.send(ack).is_err()
                {
                    return;
                }
            }
            Ok(_) => {}
            Err(_) if acks.is_closed() => return,
            Err(e) => {
                eprintln!("bench door: MQTT connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn mqtt_phase(args: &MqttArgs, doors: usize, batch: usize, nodelay: bool) -> Result<Phase> {
    let label = format!(
        "mqtt-{doors}x{batch}{}",
        if nodelay { "" } else { "-nagle" }
    );
    let (store, registered) = fresh_site(&args.dir, &label, doors).await?;
    let broker = Mosquitto::start(&args.mosquitto, &args.dir.join(&label), nodelay).await?;
    let running = server::start_maskgate(store).await?;
    let state = running
        .state
        .clone()
        .context("the MaskGate server has its state")?;
    maskgate_api::mqtt::spawn(
        state,
        MqttSettings {
            url: format!("mqtt://127.0.0.1:{}", broker.port),
            client_id: format!("bench-api-{}", Uuid::new_v4().simple()),
            share_group: Some("maskgate".into()),
            ca_file: None,
            home_assistant: None,
        },
    )
    .context("the server's MQTT transport")?;
    let mut clients = Vec::with_capacity(doors);
    for (name, _) in &registered {
        clients.push(Some(mqtt_door(broker.port, name).await?));
    }
    let clients = Arc::new(std::sync::Mutex::new(clients));
    let phase = measure(
        doors,
        Duration::from_secs(args.warmup),
        Duration::from_secs(args.seconds),
        |i, begin, end| {
            let name = registered[i].0.clone();
            let taken = clients.lock().ok().and_then(|mut c| c[i].take());
            async move {
                let mut done = Phase::default();
                let Some((client, mut acks)) = taken else {
                    done.failed += 1;
                    return done;
                };
                let visits_topic = topic("bench", &name, Leaf::Visits);
                while Instant::now() < end {
                    let visits = batch_now(batch);
                    let mut want: Vec<Uuid> = visits.iter().map(|v| v.id).collect();
                    want.sort_unstable();
                    let body = match serde_json::to_vec(&VisitBatch { visits }) {
                        Ok(body) => body,
                        Err(e) => {
                            done.first_error.get_or_insert(e.to_string());
                            break;
                        }
                    };
                    let sent = Instant::now();
                    if let Err(e) = client
                        .publish(&visits_topic, QoS::AtLeastOnce, false, body)
                        .await
                    {
                        done.failed += 1;
                        done.first_error.get_or_insert(e.to_string());
                        break;
                    }
                    // The first batches may go before the server has subscribed: sent again
                    // after a second without an ack, as the agent does.
                    let answered = tokio::time::timeout(Duration::from_secs(1), async {
                        while let Some(mut ack) = acks.recv().await {
                            ack.ids.sort_unstable();
                            if ack.ids == want {
                                return Some(ack);
                            }
                        }
                        None
                    })
                    .await;
                    match answered {
                        Ok(Some(ack)) if ack.error.is_none() => {
                            count(&mut done, sent, begin, end, batch)
                        }
                        Ok(Some(ack)) => {
                            done.failed += 1;
                            done.first_error.get_or_insert(format!("{:?}", ack.error));
                        }
                        Ok(None) => {
                            done.first_error
                                .get_or_insert("the door's connection ended".into());
                            break;
                        }
                        Err(_) => {
                            done.failed += 1;
                            if Instant::now() >= begin {
                                done.first_error.get_or_insert("no ack within 1 s".into());
                            }
                        }
                    }
                }
                let _ = client.disconnect().await;
                done
            }
        },
    )
    .await?;
    running.stop().await?;
    drop(broker);
    Ok(phase)
}

fn report_line(transport: &str, doors: usize, batch: usize, phase: &Phase) -> String {
    let rt = Summary::of(phase.round_trips.clone());
    let (p50, p99) = rt.map_or(("-".into(), "-".into()), |s| (ms(s.p50), ms(s.p99)));
    format!(
        "| {transport} | {doors} | {batch} | {:.0} | {} | {p50} | {p99} | {} |",
        phase.visits_per_second(),
        phase.batches,
        phase.failed
    )
}

/// Runs every phase and prints the report.
pub async fn run(args: MqttArgs) -> Result<()> {
    std::fs::create_dir_all(&args.dir).with_context(|| format!("create {}", args.dir.display()))?;
    let started = chrono::Utc::now();
    crate::print_run_header(
        "maskgate-bench mqtt",
        &format!("sqlite://{}/*.db", args.dir.display()),
        "sqlite",
        started,
    );
    println!(
        "| transport | doors | visits/batch | visits/s | batches | round trip p50 ms | p99 ms | failed |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut ratios = Vec::new();
    for &doors in &args.doors {
        for &batch in &args.batch {
            eprintln!("http {doors} door(s) x {batch} visit(s)/batch");
            let http = http_phase(&args, doors, batch).await?;
            println!("{}", report_line("HTTP", doors, batch, &http));
            eprintln!("mqtt {doors} door(s) x {batch} visit(s)/batch");
            let mqtt = mqtt_phase(&args, doors, batch, true).await?;
            println!("{}", report_line("MQTT", doors, batch, &mqtt));
            for (what, phase) in [("HTTP", &http), ("MQTT", &mqtt)] {
                if let Some(e) = &phase.first_error {
                    eprintln!("{what} {doors}x{batch}: first error: {e}");
                }
            }
            ratios.push((
                doors,
                batch,
                mqtt.visits_per_second(),
                mqtt.visits_per_second() / http.visits_per_second().max(1e-9),
            ));
        }
    }
    let mut nagle = None;
    if args.nagle_phase {
        eprintln!("mqtt 1 door x 1 visit/batch, broker with Nagle on");
        let phase = mqtt_phase(&args, 1, 1, false).await?;
        println!("{}", report_line("MQTT, broker Nagle on", 1, 1, &phase));
        nagle = Some(phase.visits_per_second());
    }
    println!();
    println!("| doors | visits/batch | MQTT / HTTP |");
    println!("|---|---|---|");
    for (doors, batch, _, ratio) in &ratios {
        println!("| {doors} | {batch} | {ratio:.2} |");
    }
    let one_by_one = ratios.iter().find(|r| r.0 == 1 && r.1 == 1).map(|r| r.2);
    if let (Some(nagle), Some(nodelay)) = (nagle, one_by_one) {
        println!();
        println!(
            "1 door × 1 visit/batch through a broker with Nagle on: {nagle:.0} visits/s, {:.2}× \
             the same through a broker with `set_tcp_nodelay true`.",
            nagle / nodelay.max(1e-9)
        );
    }
    Ok(())
}
