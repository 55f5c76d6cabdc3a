//! `maskgate-bench ingest`: how fast the real server stores visits, against a bare axum
//! baseline in the same process, and its latency at a fixed offered load.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use chrono::Utc;
use futures::FutureExt;
use futures::future::BoxFuture;
use maskgate_api::credentials::{self, DEVICE_TOKEN_PREFIX};
use maskgate_api::db::Store;
use maskgate_api_types::{MAX_VISITS_PER_BATCH, VisitBatch};
use tokio::sync::Mutex;
use tokio::time::{Instant, MissedTickBehavior};
use uuid::Uuid;

use crate::latency::{Summary, ms};
use crate::server;
use crate::visits::batch_now;

/// Arguments of `ingest`.
#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// The database to store into, such as `sqlite:///tmp/mgbench/ingest.db` or
    /// `postgres://postgres@127.0.0.1:5432/mgbench`.
    #[arg(long)]
    database_url: String,
    /// How long each measurement runs, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent clients (one keep-alive connection each) for the closed-loop phases.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Concurrent clients for the batched phase.
    #[arg(long, default_value_t = 4)]
    batch_concurrency: usize,
    /// Visits per request in the batched phase (at most 1000).
    #[arg(long, default_value_t = MAX_VISITS_PER_BATCH)]
    batch_size: usize,
    /// Offered load of the fixed-rate latency phase, in requests per second.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// Warm-up before each closed-loop phase, in seconds (not measured).
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Devices to post as (each with its own token); client or request `i` uses device
    /// `i % devices`.
    #[arg(long, default_value_t = 1)]
    devices: usize,
    /// Skip the diagnostic phases that call the store directly, without HTTP.
    #[arg(long)]
    skip_diagnostics: bool,
}

/// Where a load generator sends its requests.
#[derive(Debug, Clone)]
struct Target {
    /// The absolute URL to POST to.
    url: String,
    /// The bearer tokens to send: call `i` uses token `i % len`, one per device.
    tokens: Arc<[String]>,
}

/// What a closed-loop phase achieved.
#[derive(Debug, Default, Clone)]
struct Throughput {
    /// Requests answered with a 2xx status.
    ok: u64,
    /// Requests that failed or were answered with another status.
    failed: u64,
    /// Visits carried by the successful requests.
    visits: u64,
    /// Wall time from the first request to the last answer.
    elapsed: Duration,
    /// The first failure, for the report.
    first_error: Option<String>,
}

impl Throughput {
    fn requests_per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    fn visits_per_second(&self) -> f64 {
        self.visits as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    fn merge(&mut self, other: Throughput) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.visits += other.visits;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// What a fixed-rate phase achieved.
#[derive(Debug)]
struct FixedRate {
    /// Latency from the moment each request was due to its full answer (free of coordinated
    /// omission: a late start counts against the server).
    from_schedule: Summary,
    /// Latency from the moment each request was actually started.
    from_send: Summary,
    /// Requests sent.
    sent: u64,
    /// Requests that failed or were answered with a non-2xx status.
    failed: u64,
    /// Requests answered per second over the phase.
    achieved: f64,
    /// The first failure, for the report.
    first_error: Option<String>,
}

/// The outcome of one call: `Err` carries a description of the failure.
type CallResult = std::result::Result<(), String>;

/// One HTTP request, its body read to the end so the connection is kept alive.
async fn send(client: reqwest::Client, target: Target, index: usize, visits: usize) -> CallResult {
    let body = VisitBatch {
        visits: batch_now(visits),
    };
    let response = client
        .post(&target.url)
        .bearer_auth(&target.tokens[index % target.tokens.len()])
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| format!("reading the answer failed: {e}"))?;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)))
    }
}

fn client(pool_idle: usize) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(pool_idle)
        .timeout(Duration::from_secs(30))
        .build()
        .context("build the HTTP client")
}

/// Calls that POST `visits` visits to `target`: worker `i` of `workers` uses its own client
/// (and so its own keep-alive connection).
fn http_calls(
    target: &Target,
    workers: usize,
    visits: usize,
) -> Result<impl Fn(usize) -> BoxFuture<'static, CallResult> + Send + Sync + 'static> {
    let clients = (0..workers)
        .map(|_| client(1))
        .collect::<Result<Vec<_>>>()?;
    let target = target.clone();
    Ok(move |worker: usize| {
        let client = clients[worker % clients.len()].clone();
        send(client, target.clone(), worker, visits).boxed()
    })
}

/// Calls that store `visits` visits straight through `Store::insert_visits` (no HTTP);
/// with `serialize`, one at a time behind an in-process mutex.
fn store_calls(
    store: &Arc<dyn Store>,
    device_ids: &[i64],
    visits: usize,
    serialize: bool,
) -> impl Fn(usize) -> BoxFuture<'static, CallResult> + Send + Sync + 'static {
    let store = store.clone();
    let lock = Arc::new(Mutex::new(()));
    let device_ids: Arc<[i64]> = device_ids.into();
    move |index| {
        let device_id = device_ids[index % device_ids.len()];
        let store = store.clone();
        let lock = lock.clone();
        async move {
            let batch = batch_now(visits);
            let _guard = if serialize {
                Some(lock.lock().await)
            } else {
                None
            };
            store
                .insert_visits(device_id, &batch, Utc::now())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        .boxed()
    }
}

/// `concurrency` workers, each making calls back to back for `duration`; each call
/// carries `visits` visits.
async fn closed_loop<F>(
    concurrency: usize,
    visits: usize,
    duration: Duration,
    call: F,
) -> Result<Throughput>
where
    F: Fn(usize) -> BoxFuture<'static, CallResult> + Send + Sync + 'static,
{
    let call = Arc::new(call);
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let call = call.clone();
        workers.push(tokio::spawn(async move {
            let mut done = Throughput::default();
            while Instant::now() < deadline {
                match call(worker).await {
                    Ok(()) => {
                        done.ok += 1;
                        done.visits += visits as u64;
                    }
                    Err(e) => {
                        done.failed += 1;
                        done.first_error.get_or_insert(e);
                    }
                }
            }
            done
        }));
    }
    let mut total = Throughput::default();
    for worker in workers {
        total.merge(worker.await.context("load worker panicked")?);
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

/// Calls at a fixed `rate` for `duration`, each spawned at its due time whether or not
/// earlier ones have finished (open loop).
async fn fixed_rate<F>(rate: u32, duration: Duration, call: F) -> Result<FixedRate>
where
    F: Fn(usize) -> BoxFuture<'static, CallResult>,
{
    ensure!(rate > 0, "--rate must be positive");
    let total = (u64::from(rate) * duration.as_secs()).max(1);
    let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    interval.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut calls = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for i in 0..total {
        let due = interval.tick().await;
        let future = call(usize::try_from(i).unwrap_or(0));
        calls.push(tokio::spawn(async move {
            let sent = Instant::now();
            let result = future.await;
            (due.elapsed(), sent.elapsed(), result)
        }));
    }
    let mut from_schedule = Vec::with_capacity(calls.len());
    let mut from_send = Vec::with_capacity(calls.len());
    let mut failed = 0;
    let mut first_error = None;
    for call in calls {
        let (schedule_latency, send_latency, result) = call.await.context("call task panicked")?;
        from_schedule.push(schedule_latency);
        from_send.push(send_latency);
        if let Err(e) = result {
            failed += 1;
            first_error.get_or_insert(e);
        }
    }
    let elapsed = started.elapsed();
    Ok(FixedRate {
        from_schedule: Summary::of(from_schedule).context("no samples")?,
        from_send: Summary::of(from_send).context("no samples")?,
        sent: total,
        failed,
        achieved: (total - failed) as f64 / elapsed.as_secs_f64().max(1e-9),
        first_error,
    })
}

/// Calls that POST one visit to `target` over a shared client whose pool opens as many
/// connections as there are requests in flight.
fn shared_http_calls(
    target: &Target,
) -> Result<impl Fn(usize) -> BoxFuture<'static, CallResult> + 'static> {
    let client = client(usize::MAX)?;
    let target = target.clone();
    Ok(move |index| send(client.clone(), target.clone(), index, 1).boxed())
}

/// Registers a fresh device directly through the store; returns its id and token.
async fn bench_device(store: &Arc<dyn Store>) -> Result<(i64, String)> {
    let token = credentials::new_token(DEVICE_TOKEN_PREFIX);
    let name = format!("bench-ingest-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let device = store
        .create_device(&name, &credentials::token_hash(token.expose()), Utc::now())
        .await
        .with_context(|| format!("create device {name}"))?;
    Ok((device.id, token.expose().to_owned()))
}

/// Closed-loop results, with the header of their table.
fn print_throughput_table(rows: &[(String, usize, &Throughput, Option<&Throughput>)]) {
    println!("| measurement | workers | calls/s | visits/s | failed | vs. baseline |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, workers, t, baseline) in rows {
        let ratio = baseline.map_or_else(
            || "1.00 (baseline)".to_owned(),
            |b| {
                format!(
                    "{:.3}",
                    t.requests_per_second() / b.requests_per_second().max(1e-9)
                )
            },
        );
        println!(
            "| {name} | {workers} | {:.0} | {:.0} | {} | {ratio} |",
            t.requests_per_second(),
            t.visits_per_second(),
            t.failed
        );
    }
    println!();
}

/// Fixed-rate results, with the header of their table.
fn print_fixed_rate_table(rows: &[(&str, &FixedRate)]) {
    println!(
        "| target | sent | failed | answered/s | p50 | p95 | p99 | max | p99 (sent) | max (sent) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, f) in rows {
        let s = &f.from_schedule;
        println!(
            "| {name} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} |",
            f.sent,
            f.failed,
            f.achieved,
            ms(s.p50),
            ms(s.p95),
            ms(s.p99),
            ms(s.max),
            ms(f.from_send.p99),
            ms(f.from_send.max)
        );
    }
    println!();
}

/// The diagnostic phases: the store without HTTP.
struct Diagnostics {
    auth: Throughput,
    single: Throughput,
    single_serialized: Throughput,
    batched: Throughput,
    fixed: FixedRate,
    fixed_serialized: FixedRate,
}

async fn diagnose(
    args: &IngestArgs,
    store: &Arc<dyn Store>,
    device_ids: &[i64],
    token_hash: String,
    seconds: Duration,
) -> Result<Diagnostics> {
    let c = args.concurrency;
    eprintln!("(e) store only: device_by_token, {c} workers ...");
    let auth = {
        let store = store.clone();
        let hash: Arc<str> = token_hash.into();
        closed_loop(c, 0, seconds, move |_| {
            let store = store.clone();
            let hash = hash.clone();
            async move {
                match store.device_by_token(&hash).await {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => Err("device not found".to_owned()),
                    Err(e) => Err(e.to_string()),
                }
            }
            .boxed()
        })
        .await?
    };
    eprintln!("(f) store only: insert_visits of 1, {c} workers ...");
    let single = closed_loop(c, 1, seconds, store_calls(store, device_ids, 1, false)).await?;
    eprintln!("(g) store only: insert_visits of 1, {c} workers behind one mutex ...");
    let single_serialized =
        closed_loop(c, 1, seconds, store_calls(store, device_ids, 1, true)).await?;
    eprintln!(
        "(i) store only: insert_visits of 1 at {} calls/s ...",
        args.rate
    );
    let fixed = fixed_rate(args.rate, seconds, store_calls(store, device_ids, 1, false)).await?;
    eprintln!(
        "(j) store only: insert_visits of 1 at {} calls/s behind one mutex ...",
        args.rate
    );
    let fixed_serialized =
        fixed_rate(args.rate, seconds, store_calls(store, device_ids, 1, true)).await?;
    Ok(Diagnostics {
        auth,
        single,
        single_serialized,
        // Measured after the HTTP batched phase; see `run`.
        batched: Throughput::default(),
        fixed,
        fixed_serialized,
    })
}

/// Runs `ingest`.
pub async fn run(args: IngestArgs) -> Result<()> {
    ensure!(args.concurrency > 0, "--concurrency must be positive");
    ensure!(args.devices > 0, "--devices must be positive");
    ensure!(
        args.batch_concurrency > 0,
        "--batch-concurrency must be positive"
    );
    ensure!(
        (1..=MAX_VISITS_PER_BATCH).contains(&args.batch_size),
        "--batch-size must be 1 to {MAX_VISITS_PER_BATCH}"
    );
    let seconds = Duration::from_secs(args.seconds.max(1));
    let warmup = Duration::from_secs(args.warmup);
    let c = args.concurrency;
    let bc = args.batch_concurrency;
    let bs = args.batch_size;
    let store = maskgate_api::db::connect(&args.database_url)
        .await
        .context("connect to the database")?;
    let started = Utc::now();
    let backend = store.backend();
    let mut device_ids = Vec::with_capacity(args.devices);
    let mut tokens = Vec::with_capacity(args.devices);
    for _ in 0..args.devices {
        let (id, token) = bench_device(&store).await?;
        device_ids.push(id);
        tokens.push(token);
    }
    let token_hash = credentials::token_hash(&tokens[0]);
    let tokens: Arc<[String]> = tokens.into();
    let app = server::start_maskgate(store.clone()).await?;
    let bare = server::start_bare().await?;
    let real = Target {
        url: app.url("/api/v1/visits"),
        tokens: tokens.clone(),
    };
    let baseline = Target {
        url: bare.url("/bare"),
        tokens,
    };

    eprintln!("(a0) bare axum baseline, 1 visit/request, {c} clients ...");
    closed_loop(c, 1, warmup, http_calls(&baseline, c, 1)?).await?;
    let bare_single = closed_loop(c, 1, seconds, http_calls(&baseline, c, 1)?).await?;

    eprintln!("(a) MaskGate, 1 visit/request, {c} clients ...");
    closed_loop(c, 1, warmup, http_calls(&real, c, 1)?).await?;
    let single = closed_loop(c, 1, seconds, http_calls(&real, c, 1)?).await?;

    eprintln!("(d0) bare axum baseline at {} req/s ...", args.rate);
    let bare_fixed = fixed_rate(args.rate, seconds, shared_http_calls(&baseline)?).await?;
    eprintln!("(d) MaskGate at {} req/s ...", args.rate);
    let fixed = fixed_rate(args.rate, seconds, shared_http_calls(&real)?).await?;

    // The single-visit diagnostics run before the batched phases, so that neither they
    // nor the fixed-rate phase follow right after a bulk load (checkpoints, WAL growth).
    let mut diagnostics = if args.skip_diagnostics {
        None
    } else {
        Some(diagnose(&args, &store, &device_ids, token_hash, seconds).await?)
    };

    eprintln!("(b0) bare axum baseline, {bs} visits/request, {bc} clients ...");
    closed_loop(bc, bs, warmup, http_calls(&baseline, bc, bs)?).await?;
    let bare_batched = closed_loop(bc, bs, seconds, http_calls(&baseline, bc, bs)?).await?;

    eprintln!("(b) MaskGate, {bs} visits/request, {bc} clients ...");
    closed_loop(bc, bs, warmup, http_calls(&real, bc, bs)?).await?;
    let batched = closed_loop(bc, bs, seconds, http_calls(&real, bc, bs)?).await?;

    if let Some(d) = diagnostics.as_mut() {
        eprintln!("(h) store only: insert_visits of {bs}, {bc} workers ...");
        d.batched =
            closed_loop(bc, bs, seconds, store_calls(&store, &device_ids, bs, false)).await?;
    }

    app.stop().await?;
    bare.stop().await?;

    if single.ok == 0 {
        bail!(
            "no single-visit request succeeded: {}",
            single.first_error.unwrap_or_default()
        );
    }

    crate::print_run_header(
        "maskgate-bench ingest",
        &args.database_url,
        backend,
        started,
    );
    println!(
        "Closed loop: each phase runs {} s after a {} s warm-up; each client has its own \
         keep-alive connection; every request carries fresh UUID v4 visits captured now; \
         {} device(s), client or request i posting as device i % {}.",
        seconds.as_secs(),
        warmup.as_secs(),
        args.devices,
        args.devices
    );
    println!();
    print_throughput_table(&[
        ("bare axum, 1 visit/request".into(), c, &bare_single, None),
        (
            "MaskGate `POST /api/v1/visits`, 1 visit/request".into(),
            c,
            &single,
            Some(&bare_single),
        ),
        (
            format!("bare axum, {bs} visits/request"),
            bc,
            &bare_batched,
            None,
        ),
        (
            format!("MaskGate `POST /api/v1/visits`, {bs} visits/request"),
            bc,
            &batched,
            Some(&bare_batched),
        ),
    ]);
    println!(
        "Open loop at {} requests/s of 1 visit each for {} s, one shared client (latency in \
         ms; p50..max count from when each request was due, so a late start counts against \
         the server; \"sent\" columns count from when it actually started):",
        args.rate,
        seconds.as_secs()
    );
    println!();
    print_fixed_rate_table(&[("bare axum", &bare_fixed), ("MaskGate", &fixed)]);

    if let Some(d) = &diagnostics {
        println!(
            "Diagnostics, no HTTP: the same work called straight on the store (`Store` trait, \
             bypassing the server's group commit), {} s each; \"behind one mutex\" serialises the calls in this process. Phase \
             order of the whole run: bare and MaskGate single-visit, bare and MaskGate fixed \
             rate, these diagnostics except the last row, bare and MaskGate batched, then the \
             last row:",
            seconds.as_secs()
        );
        println!();
        print_throughput_table(&[
            ("`device_by_token` (auth lookup)".into(), c, &d.auth, None),
            ("`insert_visits`, 1 visit".into(), c, &d.single, None),
            (
                "`insert_visits`, 1 visit, behind one mutex".into(),
                c,
                &d.single_serialized,
                Some(&d.single),
            ),
            (
                format!("`insert_visits`, {bs} visits"),
                bc,
                &d.batched,
                None,
            ),
        ]);
        print_fixed_rate_table(&[
            ("`insert_visits` of 1, fixed rate", &d.fixed),
            (
                "`insert_visits` of 1, fixed rate, behind one mutex",
                &d.fixed_serialized,
            ),
        ]);
    }

    let ratio = single.requests_per_second() / bare_single.requests_per_second().max(1e-9);
    let p99_ms = fixed.from_schedule.p99.as_secs_f64() * 1000.0;
    println!("| goal | measured | met |");
    println!("|---|---:|---|");
    let verdict = |met: bool| if met { "yes" } else { "**no**" };
    let batched_goal = if backend == "sqlite" {
        verdict(batched.visits_per_second() >= 20_000.0)
    } else {
        "(goal is for SQLite)"
    };
    println!(
        "| batched ingest >= 20,000 visits/s on SQLite | {:.0} visits/s | {batched_goal} |",
        batched.visits_per_second()
    );
    println!(
        "| single-visit rate >= 0.5 x bare axum | {ratio:.3} x | {} |",
        verdict(ratio >= 0.5)
    );
    println!(
        "| p99 <= 20 ms at {} req/s | {p99_ms:.2} ms | {} |",
        args.rate,
        verdict(p99_ms <= 20.0 && fixed.failed == 0)
    );
    let mut errors = vec![
        ("bare single", bare_single.first_error),
        ("single", single.first_error),
        ("batched", batched.first_error),
        ("bare batched", bare_batched.first_error),
        ("bare fixed-rate", bare_fixed.first_error),
        ("fixed-rate", fixed.first_error),
    ];
    if let Some(d) = diagnostics {
        errors.extend([
            ("store auth", d.auth.first_error),
            ("store single", d.single.first_error),
            ("store single serialised", d.single_serialized.first_error),
            ("store batched", d.batched.first_error),
            ("store fixed-rate", d.fixed.first_error),
            (
                "store fixed-rate serialised",
                d.fixed_serialized.first_error,
            ),
        ]);
    }
    for (name, error) in errors {
        if let Some(error) = error {
            println!();
            println!("First failure of the {name} phase: {error}");
        }
    }
    Ok(())
}
