//! `maskgate-bench ingest`: how fast the real server stores visits, against a bare axum
//! baseline in the same process, and its latency at a fixed offered load.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use chrono::Utc;
use maskgate_api::credentials::{self, DEVICE_TOKEN_PREFIX};
use maskgate_api::db::Store;
use maskgate_api_types::{MAX_VISITS_PER_BATCH, VisitBatch};
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
}

/// Where a load generator sends its requests.
#[derive(Debug, Clone)]
struct Target {
    /// The absolute URL to POST to.
    url: String,
    /// The bearer token to send.
    token: Arc<str>,
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

/// One request, its body read to the end so the connection is kept alive.
async fn send(
    client: &reqwest::Client,
    target: &Target,
    visits: usize,
) -> std::result::Result<(), String> {
    let body = VisitBatch {
        visits: batch_now(visits),
    };
    let response = client
        .post(&target.url)
        .bearer_auth(&*target.token)
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

/// `concurrency` clients, each with its own keep-alive connection, sending requests of
/// `visits` visits back to back for `duration`.
async fn closed_loop(
    target: &Target,
    concurrency: usize,
    visits: usize,
    duration: Duration,
) -> Result<Throughput> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let client = client(1)?;
        let target = target.clone();
        workers.push(tokio::spawn(async move {
            let mut done = Throughput::default();
            while Instant::now() < deadline {
                match send(&client, &target, visits).await {
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

/// Single-visit requests at a fixed `rate` for `duration`, each spawned at its due time
/// whether or not earlier ones have been answered (open loop).
async fn fixed_rate(target: &Target, rate: u32, duration: Duration) -> Result<FixedRate> {
    ensure!(rate > 0, "--rate must be positive");
    let client = client(usize::MAX)?;
    let total = (u64::from(rate) * duration.as_secs()).max(1);
    let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    interval.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut requests = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for _ in 0..total {
        let due = interval.tick().await;
        let client = client.clone();
        let target = target.clone();
        requests.push(tokio::spawn(async move {
            let sent = Instant::now();
            let result = send(&client, &target, 1).await;
            (due.elapsed(), sent.elapsed(), result)
        }));
    }
    let mut from_schedule = Vec::with_capacity(requests.len());
    let mut from_send = Vec::with_capacity(requests.len());
    let mut failed = 0;
    let mut first_error = None;
    for request in requests {
        let (schedule_latency, send_latency, result) =
            request.await.context("request task panicked")?;
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

/// Registers a fresh device directly through the store and returns its token.
async fn bench_device(store: &Arc<dyn Store>) -> Result<String> {
    let token = credentials::new_token(DEVICE_TOKEN_PREFIX);
    let name = format!("bench-ingest-{}", &Uuid::new_v4().simple().to_string()[..8]);
    store
        .create_device(&name, &credentials::token_hash(token.expose()), Utc::now())
        .await
        .with_context(|| format!("create device {name}"))?;
    Ok(token.expose().to_owned())
}

/// Runs `ingest`.
pub async fn run(args: IngestArgs) -> Result<()> {
    ensure!(args.concurrency > 0, "--concurrency must be positive");
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
    let store = maskgate_api::db::connect(&args.database_url)
        .await
        .context("connect to the database")?;
    let backend = store.backend();
    let token: Arc<str> = bench_device(&store).await?.into();
    let app = server::start_maskgate(store.clone()).await?;
    let bare = server::start_bare().await?;
    let real = Target {
        url: app.url("/api/v1/visits"),
        token: token.clone(),
    };
    let baseline = Target {
        url: bare.url("/bare"),
        token,
    };

    eprintln!("(a0) bare axum baseline, {} clients ...", args.concurrency);
    closed_loop(&baseline, args.concurrency, 1, warmup).await?;
    let bare_single = closed_loop(&baseline, args.concurrency, 1, seconds).await?;

    eprintln!("(a) single-visit requests, {} clients ...", args.concurrency);
    closed_loop(&real, args.concurrency, 1, warmup).await?;
    let single = closed_loop(&real, args.concurrency, 1, seconds).await?;

    eprintln!(
        "(b) batches of {}, {} clients ...",
        args.batch_size, args.batch_concurrency
    );
    closed_loop(&real, args.batch_concurrency, args.batch_size, warmup).await?;
    let batched = closed_loop(&real, args.batch_concurrency, args.batch_size, seconds).await?;
    eprintln!("(b0) bare axum baseline with the same batches ...");
    let bare_batched =
        closed_loop(&baseline, args.batch_concurrency, args.batch_size, seconds).await?;

    eprintln!("(d0) bare axum baseline at {} req/s ...", args.rate);
    let bare_fixed = fixed_rate(&baseline, args.rate, seconds).await?;
    eprintln!("(d) single-visit requests at {} req/s ...", args.rate);
    let fixed = fixed_rate(&real, args.rate, seconds).await?;

    app.stop().await?;
    bare.stop().await?;

    if single.ok == 0 {
        bail!(
            "no single-visit request succeeded: {}",
            single.first_error.unwrap_or_default()
        );
    }

    crate::print_run_header("maskgate-bench ingest", &args.database_url, backend);
    println!(
        "Closed loop: each phase runs {} s after a {} s warm-up; every request carries fresh \
         UUID v4 visits captured now.",
        seconds.as_secs(),
        warmup.as_secs()
    );
    println!();
    println!("| measurement | clients | requests/s | visits/s | failed | vs. bare axum |");
    println!("|---|---:|---:|---:|---:|---:|");
    let row = |name: &str, clients: usize, t: &Throughput, baseline: Option<&Throughput>| {
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
            "| {name} | {clients} | {:.0} | {:.0} | {} | {ratio} |",
            t.requests_per_second(),
            t.visits_per_second(),
            t.failed
        );
    };
    row("bare axum, 1 visit/request", args.concurrency, &bare_single, None);
    row(
        "MaskGate, 1 visit/request",
        args.concurrency,
        &single,
        Some(&bare_single),
    );
    row(
        &format!("bare axum, {} visits/request", args.batch_size),
        args.batch_concurrency,
        &bare_batched,
        None,
    );
    row(
        &format!("MaskGate, {} visits/request", args.batch_size),
        args.batch_concurrency,
        &batched,
        Some(&bare_batched),
    );
    println!();
    println!(
        "Open loop at {} requests/s of 1 visit each for {} s (latency in ms; \"due\" counts \
         from when the request was scheduled, \"sent\" from when it actually started):",
        args.rate,
        seconds.as_secs()
    );
    println!();
    println!(
        "| server | sent | failed | answered/s | p50 | p95 | p99 | max | p99 (sent) | max (sent) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, f) in [("bare axum", &bare_fixed), ("MaskGate", &fixed)] {
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
    for (name, error) in [
        ("bare single", &bare_single.first_error),
        ("single", &single.first_error),
        ("batched", &batched.first_error),
        ("bare batched", &bare_batched.first_error),
        ("bare fixed-rate", &bare_fixed.first_error),
        ("fixed-rate", &fixed.first_error),
    ] {
        if let Some(error) = error {
            println!();
            println!("First failure of the {name} phase: {error}");
        }
    }
    Ok(())
}
