//! `maskgate-bench seed`: loads millions of visits through the store, so that
//! `visit_slots` stays in step with `visits` exactly as it does for real uploads.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use chrono::{DateTime, Duration, Utc};
use futures::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use maskgate_api::credentials::{self, DEVICE_TOKEN_PREFIX};
use maskgate_api::db::{Store, VisitFilter};
use maskgate_api_types::NewVisit;
use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::visits::random_visit;

/// Arguments of `seed`.
#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    /// The database to load, such as `sqlite:///tmp/mgbench/read.db`.
    #[arg(long)]
    database_url: String,
    /// How many visits to load.
    #[arg(long)]
    visits: u64,
    /// Across how many devices (named `bench-door-01`, `bench-door-02`, ...).
    #[arg(long, default_value_t = 10)]
    devices: usize,
    /// Spread uniformly over this many days before now.
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Visits per `insert_visits` call (one transaction).
    #[arg(long, default_value_t = 2000)]
    batch: usize,
    /// Batches in flight at once (default: 1 on SQLite, which has a single writer; 4
    /// elsewhere).
    #[arg(long)]
    jobs: Option<usize>,
    /// Add to a database that already holds visits.
    #[arg(long)]
    append: bool,
}

/// The name of the `i`-th (0-based) bench device.
pub fn device_name(i: usize) -> String {
    format!("bench-door-{:02}", i + 1)
}

/// The ids of the bench devices, creating the missing ones.
async fn devices(store: &Arc<dyn Store>, count: usize) -> Result<Vec<i64>> {
    let existing: HashMap<String, i64> = store
        .list_devices()
        .await?
        .into_iter()
        .map(|d| (d.name, d.id))
        .collect();
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let name = device_name(i);
        let id = match existing.get(&name) {
            Some(id) => *id,
            None => {
                // The token is thrown away: seeded devices never post over HTTP.
                let token = credentials::new_token(DEVICE_TOKEN_PREFIX);
                store
                    .create_device(&name, &credentials::token_hash(token.expose()), Utc::now())
                    .await
                    .with_context(|| format!("create device {name}"))?
                    .id
            }
        };
        ids.push(id);
    }
    Ok(ids)
}

/// Batches of visits in time order: each chunk of `devices × batch` consecutive visits is
/// dealt out at random to the devices, one batch per device, so every device's history
/// covers the whole range, as real doors' histories do.
struct Batches {
    rng: StdRng,
    devices: Vec<i64>,
    batch: usize,
    start: DateTime<Utc>,
    span_micros: f64,
    total: u64,
    next: u64,
    pending: Vec<(i64, Vec<NewVisit>, DateTime<Utc>)>,
}

impl Batches {
    fn new(
        devices: Vec<i64>,
        batch: usize,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        total: u64,
    ) -> Self {
        Self {
            rng: StdRng::from_entropy(),
            devices,
            batch,
            start,
            span_micros: (end - start).num_microseconds().unwrap_or(i64::MAX) as f64,
            total,
            next: 0,
            pending: Vec::new(),
        }
    }

    fn refill(&mut self) {
        let chunk = (self.devices.len() * self.batch) as u64;
        let end = (self.next + chunk).min(self.total);
        let mut per_device: Vec<Vec<NewVisit>> =
            vec![Vec::with_capacity(self.batch + self.batch / 4); self.devices.len()];
        for i in self.next..end {
            // Uniform over the range, in order: visit i falls in the i-th of `total` equal
            // slices, at a random point in it.
            let offset =
                (i as f64 + self.rng.r#gen::<f64>()) / self.total as f64 * self.span_micros;
            let at = self.start + Duration::microseconds(offset as i64);
            let device = self.rng.gen_range(0..self.devices.len());
            let visit = random_visit(&mut self.rng, at);
            per_device[device].push(visit);
        }
        self.next = end;
        for (device, visits) in self.devices.iter().zip(per_device).rev() {
            if let Some(last) = visits.last() {
                // Doors upload a few seconds after capture.
                let received = last.captured_at + Duration::seconds(3);
                self.pending.push((*device, visits, received));
            }
        }
    }
}

impl Iterator for Batches {
    type Item = (i64, Vec<NewVisit>, DateTime<Utc>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pending.is_empty() && self.next < self.total {
            self.refill();
        }
        self.pending.pop()
    }
}

/// Runs `seed`.
pub async fn run(args: SeedArgs) -> Result<()> {
    ensure!(args.visits > 0, "--visits must be positive");
    ensure!(args.devices > 0, "--devices must be positive");
    ensure!(args.days > 0, "--days must be positive");
    ensure!(
        (1..=50_000).contains(&args.batch),
        "--batch must be 1 to 50000"
    );
    let store = maskgate_api::db::connect(&args.database_url)
        .await
        .context("connect to the database")?;
    let backend = store.backend();
    let holds_visits = !store
        .list_visits(&VisitFilter::default(), None, 1)
        .await?
        .is_empty();
    if holds_visits && !args.append {
        bail!(
            "{} already holds visits; refusing to seed into it (pass --append to add {} more)",
            args.database_url,
            args.visits
        );
    }
    let jobs = args
        .jobs
        .unwrap_or(if backend == "sqlite" { 1 } else { 4 })
        .max(1);
    let device_ids = devices(&store, args.devices).await?;
    let end = Utc::now();
    let start = end - Duration::days(i64::from(args.days));

    let progress = ProgressBar::new(args.visits);
    progress.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{wide_bar}] {human_pos}/{human_len} visits, {per_sec}, eta {eta}",
        )
        .context("progress bar template")?
        .progress_chars("=> "),
    );
    let began = Instant::now();
    let batches = Batches::new(device_ids, args.batch, start, end, args.visits);
    let stored: u64 = futures::stream::iter(batches)
        .map(|(device, visits, received)| {
            let store = store.clone();
            let progress = progress.clone();
            async move {
                let stored = store.insert_visits(device, &visits, received).await?;
                progress.inc(visits.len() as u64);
                anyhow::Ok(stored.iter().filter(|s| **s).count() as u64)
            }
        })
        .buffer_unordered(jobs)
        .try_fold(0u64, |sum, n| async move { Ok(sum + n) })
        .await?;
    let elapsed = began.elapsed();
    progress.finish();

    println!(
        "seeded {stored} visits ({} asked for) on {backend} across {} devices over {} days \
         in {:.1} s: {:.0} visits/s (batches of {}, {jobs} in flight)",
        args.visits,
        args.devices,
        args.days,
        elapsed.as_secs_f64(),
        stored as f64 / elapsed.as_secs_f64().max(1e-9),
        args.batch
    );
    if stored != args.visits {
        bail!("{} visits were duplicates", args.visits - stored);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cover_every_visit_in_order_across_devices() {
        let end = Utc::now();
        let start = end - Duration::days(10);
        let batches: Vec<_> = Batches::new(vec![1, 2, 3], 50, start, end, 1_000).collect();
        let total: usize = batches.iter().map(|b| b.1.len()).sum();
        assert_eq!(total, 1_000);
        for device in [1, 2, 3] {
            assert!(batches.iter().any(|b| b.0 == device));
        }
        let times: Vec<_> = batches
            .iter()
            .flat_map(|b| b.1.iter().map(|v| v.captured_at))
            .collect();
        assert!(times.iter().all(|t| *t >= start && *t <= end));
        for batch in &batches {
            assert!(
                batch
                    .1
                    .windows(2)
                    .all(|w| w[0].captured_at <= w[1].captured_at)
            );
        }
    }
}
