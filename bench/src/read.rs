//! `maskgate-bench read`: history and stats latency against a seeded database.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use maskgate_api::credentials::hash_password;
use maskgate_api::db::{Store, StoreError, VisitFilter, slot_of};
use maskgate_api::stats::BucketPlan;
use maskgate_api_types::{Bucket, LoginResponse, Role};
use serde_json::Value;

use crate::latency::{Summary, ms};
use crate::seed::device_name;
use crate::server;

/// The user the benchmark logs in as.
const USERNAME: &str = "bench-admin";
/// Its password (a throwaway account in a benchmark database).
const PASSWORD: &str = "bench-admin-password";

/// Arguments of `read`.
#[derive(Debug, clap::Args)]
pub struct ReadArgs {
    /// A database loaded by `maskgate-bench seed`.
    #[arg(long)]
    database_url: String,
    /// Measured requests per query.
    #[arg(long, default_value_t = 500)]
    iterations: usize,
    /// Unmeasured requests per query before the measured ones.
    #[arg(long, default_value_t = 50)]
    warmup: usize,
    /// The device of the filtered queries (default: `bench-door-01`, else the first).
    #[arg(long)]
    device: Option<String>,
    /// The 7-day history window ends this many days before now.
    #[arg(long, default_value_t = 90)]
    window_end_days_ago: i64,
}

/// One query to measure.
struct Query {
    /// What the report calls it.
    name: &'static str,
    /// The path, without query string.
    path: &'static str,
    /// The query string's pairs.
    params: Vec<(&'static str, String)>,
    /// Whether a goal (p99 <= 10 ms) applies.
    goal: bool,
    /// The same work called straight on the store, without HTTP.
    direct: Direct,
}

/// The store call behind a query.
#[derive(Debug, Clone)]
enum Direct {
    /// `Store::ping`.
    Ping,
    /// `Store::list_visits` of 101 rows (the handler asks for one more than `limit`).
    History(VisitFilter),
    /// `Store::slot_counts` over the slots of a bucket plan.
    Stats {
        /// The plan's first slot.
        from_slot: i64,
        /// The slot after the plan's last.
        to_slot: i64,
        /// Only this device.
        device: Option<String>,
    },
}

impl Direct {
    /// The slot range of hour or day buckets of `[from, to)` in `tz`, as the handler plans it.
    fn stats(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket: Bucket,
        tz: Tz,
        device: Option<String>,
    ) -> Result<Self> {
        let plan = BucketPlan::new(from, to, bucket, tz)?;
        Ok(Direct::Stats {
            from_slot: slot_of(plan.start()),
            to_slot: slot_of(plan.end()),
            device,
        })
    }

    async fn call(&self, store: &dyn Store) -> Result<()> {
        match self {
            Direct::Ping => store.ping().await?,
            Direct::History(filter) => {
                store.list_visits(filter, None, 101).await?;
            }
            Direct::Stats {
                from_slot,
                to_slot,
                device,
            } => {
                store
                    .slot_counts(*from_slot, *to_slot, device.as_deref())
                    .await?;
            }
        }
        Ok(())
    }
}

/// A query's measured latencies.
struct Measured {
    query: Query,
    summary: Summary,
    /// The store call alone.
    direct: Summary,
    /// Items (history) or buckets (stats) in the answer.
    size: String,
    /// Bytes in the answer.
    bytes: usize,
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Logs in as the bench admin, creating it first when missing.
async fn login(
    store: &std::sync::Arc<dyn maskgate_api::db::Store>,
    client: &reqwest::Client,
    url: &str,
) -> Result<String> {
    if store.user_by_name(USERNAME).await?.is_none() {
        let hash = hash_password(PASSWORD).context("hash the bench password")?;
        match store
            .create_user(USERNAME, &hash, Role::Admin, Utc::now())
            .await
        {
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e).context("create the bench admin"),
        }
    }
    let response = client
        .post(url)
        .json(&serde_json::json!({"username": USERNAME, "password": PASSWORD}))
        .send()
        .await
        .context("login request")?;
    let status = response.status();
    if !status.is_success() {
        bail!(
            "login as {USERNAME} failed with {status}: {}",
            response.text().await.unwrap_or_default()
        );
    }
    Ok(response.json::<LoginResponse>().await?.token)
}

/// One GET: its status is checked, its body read to the end.
async fn get(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    params: &[(&'static str, String)],
) -> Result<Vec<u8>> {
    let response = client
        .get(url)
        .bearer_auth(token)
        .query(params)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        bail!(
            "GET {url} {params:?}: {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(body.to_vec())
}

/// What a body holds: the number of history items or stats buckets.
fn size_of(body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => {
            if let Some(items) = v.get("items").and_then(Value::as_array) {
                format!("{} items", items.len())
            } else if let Some(buckets) = v.get("buckets").and_then(Value::as_array) {
                let total: u64 = buckets
                    .iter()
                    .map(|b| {
                        b.get("passed").and_then(Value::as_u64).unwrap_or(0)
                            + b.get("failed").and_then(Value::as_u64).unwrap_or(0)
                    })
                    .sum();
                format!("{} buckets, {total} visits", buckets.len())
            } else {
                "-".into()
            }
        }
        Err(_) => "not JSON".into(),
    }
}

/// Runs `read`.
pub async fn run(args: ReadArgs) -> Result<()> {
    ensure!(args.iterations > 0, "--iterations must be positive");
    let store = maskgate_api::db::connect(&args.database_url)
        .await
        .context("connect to the database")?;
    let started = Utc::now();
    let backend = store.backend();
    // The visit count, from the slot aggregate (cheap on any size).
    let total_visits: i64 = store
        .slot_counts(0, i64::MAX, None)
        .await?
        .iter()
        .map(|s| s.passed + s.failed)
        .sum();
    if total_visits == 0 {
        bail!(
            "{} holds no visits: run `maskgate-bench seed` first",
            args.database_url
        );
    }
    let devices = store.list_devices().await?;
    let device = match &args.device {
        Some(name) => name.clone(),
        None => devices
            .iter()
            .find(|d| d.name == device_name(0))
            .or_else(|| devices.first())
            .map(|d| d.name.clone())
            .context("no devices")?,
    };

    let app = server::start_maskgate(store.clone()).await?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let token = login(&store, &client, &app.url("/api/v1/auth/login")).await?;

    let now = Utc::now();
    let window_to = now - chrono::Duration::days(args.window_end_days_ago);
    let window_from = window_to - chrono::Duration::days(7);
    let d30 = now - chrono::Duration::days(30);
    let d365 = now - chrono::Duration::days(365);
    let seoul: Tz = "Asia/Seoul".parse().map_err(anyhow::Error::msg)?;
    let history = |device: Option<&str>, passed: Option<bool>, window: bool| {
        Direct::History(VisitFilter {
            from: window.then_some(window_from),
            to: window.then_some(window_to),
            device: device.map(str::to_owned),
            passed,
        })
    };
    let queries = vec![
        Query {
            name: "`GET /healthz` (baseline)",
            path: "/healthz",
            params: vec![],
            goal: false,
            direct: Direct::Ping,
        },
        Query {
            name: "history, first page",
            path: "/api/v1/visits",
            params: vec![("limit", "100".into())],
            goal: false,
            direct: history(None, None, false),
        },
        Query {
            name: "history, device + passed=false",
            path: "/api/v1/visits",
            params: vec![
                ("limit", "100".into()),
                ("device", device.clone()),
                ("passed", "false".into()),
            ],
            goal: true,
            direct: history(Some(&device), Some(false), false),
        },
        Query {
            name: "history, device + passed=false + 7-day window",
            path: "/api/v1/visits",
            params: vec![
                ("limit", "100".into()),
                ("device", device.clone()),
                ("passed", "false".into()),
                ("from", rfc3339(window_from)),
                ("to", rfc3339(window_to)),
            ],
            goal: true,
            direct: history(Some(&device), Some(false), true),
        },
        Query {
            name: "history, 7-day window",
            path: "/api/v1/visits",
            params: vec![
                ("limit", "100".into()),
                ("from", rfc3339(window_from)),
                ("to", rfc3339(window_to)),
            ],
            goal: true,
            direct: history(None, None, true),
        },
        Query {
            name: "history, passed=false",
            path: "/api/v1/visits",
            params: vec![("limit", "100".into()), ("passed", "false".into())],
            goal: false,
            direct: history(None, Some(false), false),
        },
        Query {
            name: "stats, 30 days hourly, Asia/Seoul",
            path: "/api/v1/stats",
            params: vec![
                ("bucket", "hour".into()),
                ("from", rfc3339(d30)),
                ("to", rfc3339(now)),
                ("tz", "Asia/Seoul".into()),
            ],
            goal: true,
            direct: Direct::stats(d30, now, Bucket::Hour, seoul, None)?,
        },
        Query {
            name: "stats, 30 days hourly, Asia/Seoul, device",
            path: "/api/v1/stats",
            params: vec![
                ("bucket", "hour".into()),
                ("from", rfc3339(d30)),
                ("to", rfc3339(now)),
                ("tz", "Asia/Seoul".into()),
                ("device", device.clone()),
            ],
            goal: true,
            direct: Direct::stats(d30, now, Bucket::Hour, seoul, Some(device.clone()))?,
        },
        Query {
            name: "stats, 365 days daily, Asia/Seoul",
            path: "/api/v1/stats",
            params: vec![
                ("bucket", "day".into()),
                ("from", rfc3339(d365)),
                ("to", rfc3339(now)),
                ("tz", "Asia/Seoul".into()),
            ],
            goal: false,
            direct: Direct::stats(d365, now, Bucket::Day, seoul, None)?,
        },
    ];

    let mut measured = Vec::with_capacity(queries.len());
    for query in queries {
        eprintln!("measuring {} ...", query.name);
        let url = app.url(query.path);
        let first = get(&client, &url, &token, &query.params).await?;
        for _ in 0..args.warmup {
            get(&client, &url, &token, &query.params).await?;
        }
        let mut samples = Vec::with_capacity(args.iterations);
        for _ in 0..args.iterations {
            let started = Instant::now();
            get(&client, &url, &token, &query.params).await?;
            samples.push(started.elapsed());
        }
        for _ in 0..args.warmup {
            query.direct.call(&*store).await?;
        }
        let mut direct = Vec::with_capacity(args.iterations);
        for _ in 0..args.iterations {
            let started = Instant::now();
            query.direct.call(&*store).await?;
            direct.push(started.elapsed());
        }
        measured.push(Measured {
            summary: Summary::of(samples).context("no samples")?,
            direct: Summary::of(direct).context("no samples")?,
            size: size_of(&first),
            bytes: first.len(),
            query,
        });
    }
    app.stop().await?;

    crate::print_run_header("maskgate-bench read", &args.database_url, backend, started);
    println!(
        "- {total_visits} visits across {} devices; filtered queries use device `{device}`; \
         7-day window [{}, {})",
        devices.len(),
        rfc3339(window_from),
        rfc3339(window_to)
    );
    println!(
        "- {} sequential requests per query over one keep-alive connection, after {} \
         unmeasured; latency in ms, measured by the client, including HTTP and JSON; \
         \"store only\" times the same store call (the SQL) without HTTP, auth or JSON",
        args.iterations, args.warmup
    );
    println!();
    let baseline = measured
        .first()
        .map(|m| m.summary.p99)
        .unwrap_or(Duration::ZERO);
    println!(
        "| query | answer | bytes | p50 | p95 | p99 | max | mean | p99 vs. healthz | goal p99 <= 10 ms | store only p50 | store only p99 |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|");
    for m in &measured {
        let s = &m.summary;
        let goal = if m.query.goal {
            if s.p99 <= Duration::from_millis(10) {
                "met"
            } else {
                "**missed**"
            }
        } else {
            "-"
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.1} x | {goal} | {} | {} |",
            m.query.name,
            m.size,
            m.bytes,
            ms(s.p50),
            ms(s.p95),
            ms(s.p99),
            ms(s.max),
            ms(s.mean),
            s.p99.as_secs_f64() / baseline.as_secs_f64().max(1e-9),
            ms(m.direct.p50),
            ms(m.direct.p99),
        );
    }
    Ok(())
}
