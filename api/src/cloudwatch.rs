//! Amazon CloudWatch metrics: passes, fails and pass rate per door and for the whole site,
//! and whether each door is up, published with `PutMetricData` every interval, so CloudWatch
//! alarms work as they did in the original design ("a failed check at the front door").
//!
//! The [`Exporter`] subscribes to the server's live events and counts each accepted visit
//! once, as it arrives. Every interval it turns the counts, and the devices' last contact,
//! into datums:
//!
//! | metric | unit | dimensions | value |
//! |---|---|---|---|
//! | `Passes`, `Fails` | Count | `Site`, `Door` | visits of the interval (0 for a quiet door) |
//! | `PassRate` | Percent | `Site`, `Door` | passes / visits × 100; only when the door had visits |
//! | `DeviceUp` | None | `Site`, `Door` | 1 if the door was heard from within `silent_after`, else 0 |
//! | `Passes`, `Fails`, `PassRate` | as above | `Site` | the same over all doors |
//!
//! A publish that fails is logged, and its datums are kept (with their own timestamps) and
//! sent again with the next one, up to [`MAX_BACKLOG_INTERVALS`] intervals.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::error::{DisplayErrorContext, SdkError};
use aws_sdk_cloudwatch::operation::put_metric_data::PutMetricDataError;
use aws_sdk_cloudwatch::primitives::DateTime as AwsDateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use chrono::{DateTime, Utc};
use maskgate_api_types::{Device, StreamEvent, Visit};
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::db::Store;
use crate::http::AppState;

/// The most datums one `PutMetricData` call may carry (CloudWatch's limit).
pub const MAX_DATUMS_PER_CALL: usize = 1000;

/// The most intervals whose datums are kept while CloudWatch cannot be reached; older ones
/// are dropped (with a warning).
pub const MAX_BACKLOG_INTERVALS: usize = 60;

/// How long the last publish at shutdown may take.
const FINAL_PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest one `PutMetricData` call (with its retries) may take, so a hung endpoint
/// cannot stall the exporter.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Metric names.
mod metric {
    pub const PASSES: &str = "Passes";
    pub const FAILS: &str = "Fails";
    pub const PASS_RATE: &str = "PassRate";
    pub const DEVICE_UP: &str = "DeviceUp";
}

/// What the exporter publishes, where, and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudWatchConfig {
    /// The CloudWatch namespace, such as `MaskGate`.
    pub namespace: String,
    /// The site's name: the value of the `Site` dimension.
    pub site: String,
    /// Time between publishes.
    pub interval: Duration,
    /// A door not heard from (heartbeat or visits) for longer than this reports `DeviceUp` 0.
    pub silent_after: chrono::Duration,
}

impl CloudWatchConfig {
    /// Checks the values against CloudWatch's rules.
    pub fn validate(&self) -> Result<(), CloudWatchError> {
        let bad = |why: String| Err(CloudWatchError::Config(why));
        let ns = &self.namespace;
        if ns.is_empty() || ns.chars().count() > 255 {
            return bad(format!(
                "the namespace must be 1 to 255 characters, not `{ns}`"
            ));
        }
        if ns.starts_with("AWS/") {
            return bad(format!(
                "the namespace `{ns}` is reserved: AWS/ is for AWS services"
            ));
        }
        if self.site.trim().is_empty() || self.site.chars().count() > 1024 {
            return bad("the site name must be 1 to 1024 characters".into());
        }
        if self.interval.is_zero() {
            return bad("the interval must be at least one second".into());
        }
        if self.silent_after < chrono::Duration::zero() {
            return bad("silent_after must not be negative".into());
        }
        Ok(())
    }
}

/// Errors of the CloudWatch exporter.
#[derive(Debug, thiserror::Error)]
pub enum CloudWatchError {
    /// The configuration cannot work (see [`CloudWatchConfig::validate`]).
    #[error("invalid CloudWatch configuration: {0}")]
    Config(String),
    /// The AWS configuration chain found no region.
    #[error(
        "no AWS region is configured for CloudWatch: set AWS_REGION, or a region in the AWS \
         profile"
    )]
    NoRegion,
    /// `PutMetricData` failed; the datums not sent are kept for the next publish.
    #[error(
        "PutMetricData failed; {unsent} datums are kept for the next attempt: {}",
        DisplayErrorContext(source)
    )]
    Publish {
        /// Datums waiting for the next publish.
        unsent: usize,
        /// What the SDK reported (it never holds credentials).
        source: Box<SdkError<PutMetricDataError>>,
    },
}

/// Passes and fails at one door.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DoorCounts {
    /// Visits that passed.
    pub passes: u64,
    /// Visits that failed.
    pub fails: u64,
}

impl DoorCounts {
    fn add(&mut self, other: DoorCounts) {
        self.passes += other.passes;
        self.fails += other.fails;
    }

    /// Passes as a percentage of all visits; `None` without visits.
    pub fn pass_rate(&self) -> Option<f64> {
        let total = self.passes + self.fails;
        (total > 0).then(|| self.passes as f64 * 100.0 / total as f64)
    }
}

/// Visits counted per door since the last publish.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    doors: BTreeMap<String, DoorCounts>,
}

impl Tally {
    /// Counts one accepted visit.
    pub fn record(&mut self, visit: &Visit) {
        let door = self.doors.entry(visit.device.clone()).or_default();
        if visit.passed {
            door.passes += 1;
        } else {
            door.fails += 1;
        }
    }

    /// The counts per door name.
    pub fn doors(&self) -> &BTreeMap<String, DoorCounts> {
        &self.doors
    }
}

/// The datums of one interval ending at `at`: every door of `devices` (with zero counts
/// when quiet, and `DeviceUp`), doors that only appear in `tally`, and the site as a whole.
/// `devices` is `None` when they could not be listed: then `DeviceUp` is left out.
pub fn interval_datums(
    config: &CloudWatchConfig,
    tally: &Tally,
    devices: Option<&[Device]>,
    at: DateTime<Utc>,
) -> Vec<MetricDatum> {
    let timestamp = AwsDateTime::from_millis(at.timestamp_millis());
    let site = Dimension::builder()
        .name("Site")
        .value(&config.site)
        .build();
    let datum = |name: &str, unit: StandardUnit, value: f64, door: Option<&str>| {
        let mut builder = MetricDatum::builder()
            .metric_name(name)
            .unit(unit)
            .value(value)
            .timestamp(timestamp)
            .dimensions(site.clone());
        if let Some(door) = door {
            builder = builder.dimensions(Dimension::builder().name("Door").value(door).build());
        }
        builder.build()
    };

    let mut doors: BTreeMap<&str, (DoorCounts, Option<bool>)> = BTreeMap::new();
    for device in devices.unwrap_or_default() {
        let up = device
            .last_seen_at
            .is_some_and(|seen| at - seen <= config.silent_after);
        doors.entry(device.name.as_str()).or_default().1 = Some(up);
    }
    for (name, counts) in &tally.doors {
        doors.entry(name.as_str()).or_default().0 = *counts;
    }

    let mut site_counts = DoorCounts::default();
    let mut datums = Vec::with_capacity(doors.len() * 4 + 3);
    let counts_of = |door: Option<&str>, counts: DoorCounts, datums: &mut Vec<MetricDatum>| {
        datums.push(datum(
            metric::PASSES,
            StandardUnit::Count,
            counts.passes as f64,
            door,
        ));
        datums.push(datum(
            metric::FAILS,
            StandardUnit::Count,
            counts.fails as f64,
            door,
        ));
        if let Some(rate) = counts.pass_rate() {
            datums.push(datum(metric::PASS_RATE, StandardUnit::Percent, rate, door));
        }
    };
    for (door, (counts, up)) in &doors {
        site_counts.add(*counts);
        counts_of(Some(*door), *counts, &mut datums);
        if let Some(up) = up {
            datums.push(datum(
                metric::DEVICE_UP,
                StandardUnit::None,
                if *up { 1.0 } else { 0.0 },
                Some(*door),
            ));
        }
    }
    counts_of(None, site_counts, &mut datums);
    datums
}

/// Datums not yet accepted by CloudWatch, oldest interval first.
#[derive(Debug, Default)]
pub struct Backlog {
    intervals: VecDeque<Vec<MetricDatum>>,
}

impl Backlog {
    /// Adds an interval's datums; drops the oldest interval beyond
    /// [`MAX_BACKLOG_INTERVALS`].
    pub fn push(&mut self, datums: Vec<MetricDatum>) {
        if datums.is_empty() {
            return;
        }
        self.intervals.push_back(datums);
        while self.intervals.len() > MAX_BACKLOG_INTERVALS {
            if let Some(dropped) = self.intervals.pop_front() {
                tracing::warn!(
                    datums = dropped.len(),
                    "CloudWatch has been unreachable for {MAX_BACKLOG_INTERVALS} intervals; \
                     dropping the oldest interval's metrics"
                );
            }
        }
    }

    /// Datums waiting.
    pub fn len(&self) -> usize {
        self.intervals.iter().map(Vec::len).sum()
    }

    /// `true` when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.intervals.is_empty()
    }

    /// Intervals waiting.
    pub fn intervals(&self) -> usize {
        self.intervals.len()
    }

    /// Every datum waiting, oldest first.
    pub fn datums(&self) -> impl Iterator<Item = &MetricDatum> {
        self.intervals.iter().flatten()
    }

    /// Sends everything waiting through `put`, at most [`MAX_DATUMS_PER_CALL`] datums a
    /// call, oldest first. Stops at the first failure and keeps what was not sent. Returns
    /// the number of datums sent.
    pub async fn flush<E, Put, Sent>(&mut self, mut put: Put) -> Result<usize, E>
    where
        Put: FnMut(Vec<MetricDatum>) -> Sent,
        Sent: Future<Output = Result<(), E>>,
    {
        let mut sent = 0;
        while !self.intervals.is_empty() {
            let batch: Vec<MetricDatum> =
                self.datums().take(MAX_DATUMS_PER_CALL).cloned().collect();
            let n = batch.len();
            put(batch).await?;
            self.remove_oldest(n);
            sent += n;
        }
        Ok(sent)
    }

    fn remove_oldest(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.intervals.front_mut() else {
                return;
            };
            if front.len() <= n {
                n -= front.len();
                self.intervals.pop_front();
            } else {
                front.drain(..n);
                n = 0;
            }
        }
    }
}

/// Sends datums to one namespace and keeps what could not be sent.
#[derive(Debug)]
pub struct Publisher {
    client: Client,
    namespace: String,
    backlog: Backlog,
}

impl Publisher {
    /// A publisher to `namespace` through `client`.
    pub fn new(client: Client, namespace: impl Into<String>) -> Self {
        Self {
            client,
            namespace: namespace.into(),
            backlog: Backlog::default(),
        }
    }

    /// Sends `datums` after anything left from failed publishes; returns the number of
    /// datums sent. On failure everything not sent stays for the next call.
    pub async fn publish(&mut self, datums: Vec<MetricDatum>) -> Result<usize, CloudWatchError> {
        self.backlog.push(datums);
        let (client, namespace) = (&self.client, &self.namespace);
        let result = self
            .backlog
            .flush(|batch| {
                // Owned, so the exporter's task stays `Send`.
                let request = client
                    .put_metric_data()
                    .namespace(namespace)
                    .set_metric_data(Some(batch));
                async move { request.send().await.map(|_| ()) }
            })
            .await;
        result.map_err(|err| CloudWatchError::Publish {
            unsent: self.backlog.len(),
            source: Box::new(err),
        })
    }

    /// What waits for the next publish.
    pub fn backlog(&self) -> &Backlog {
        &self.backlog
    }
}

/// Counts visits from the server's live events and publishes them to CloudWatch.
pub struct Exporter {
    config: CloudWatchConfig,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    events: broadcast::Receiver<StreamEvent>,
    tally: Tally,
    publisher: Publisher,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("config", &self.config)
            .field("tally", &self.tally)
            .field("unsent", &self.publisher.backlog.len())
            .finish_non_exhaustive()
    }
}

impl Exporter {
    /// An exporter over the server's state, publishing through `client`. It counts visits
    /// accepted from now on.
    pub fn new(
        state: &AppState,
        config: CloudWatchConfig,
        client: Client,
    ) -> Result<Self, CloudWatchError> {
        config.validate()?;
        Ok(Self {
            publisher: Publisher::new(client, config.namespace.clone()),
            config,
            store: state.store.clone(),
            clock: state.clock.clone(),
            events: state.events.subscribe(),
            tally: Tally::default(),
        })
    }

    /// Counts the visits waiting in the event stream, then publishes the interval that ends
    /// now (and anything left from failed publishes). Returns the number of datums sent.
    pub async fn publish_once(&mut self) -> Result<usize, CloudWatchError> {
        loop {
            match self.events.try_recv() {
                Ok(event) => count(&mut self.tally, &event),
                Err(TryRecvError::Lagged(skipped)) => warn_lagged(skipped),
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        let datums = self.close_interval().await;
        self.publisher.publish(datums).await
    }

    /// Datums waiting after failed publishes.
    pub fn unsent(&self) -> usize {
        self.publisher.backlog.len()
    }

    /// Ends the interval: its datums, with the tally reset.
    async fn close_interval(&mut self) -> Vec<MetricDatum> {
        let devices = match self.store.list_devices().await {
            Ok(devices) => Some(devices),
            Err(err) => {
                tracing::warn!(error = %err, "cannot list devices; publishing visit counts without DeviceUp");
                None
            }
        };
        let tally = std::mem::take(&mut self.tally);
        interval_datums(&self.config, &tally, devices.as_deref(), self.clock.now())
    }

    /// Counts events and publishes every interval until `shutdown` turns `true`, then
    /// publishes what is left (for at most [`FINAL_PUBLISH_TIMEOUT`]).
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let period = self.config.interval;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = self.events.recv() => match event {
                    Ok(event) => count(&mut self.tally, &event),
                    Err(RecvError::Lagged(skipped)) => warn_lagged(skipped),
                    Err(RecvError::Closed) => break,
                },
                _ = ticker.tick() => {
                    let datums = self.close_interval().await;
                    // Keep counting while the publish is on the wire.
                    let publish = self.publisher.publish(datums);
                    tokio::pin!(publish);
                    let mut events_open = true;
                    loop {
                        tokio::select! {
                            result = &mut publish => {
                                log_publish(result);
                                break;
                            }
                            event = self.events.recv(), if events_open => match event {
                                Ok(event) => count(&mut self.tally, &event),
                                Err(RecvError::Lagged(skipped)) => warn_lagged(skipped),
                                Err(RecvError::Closed) => events_open = false,
                            },
                        }
                    }
                }
                // (The guard `wait_for` returns must not live across an await.)
                () = async { drop(shutdown.wait_for(|stopping| *stopping).await) } => break,
            }
        }
        match tokio::time::timeout(FINAL_PUBLISH_TIMEOUT, self.publish_once()).await {
            Ok(result) => log_publish(result),
            Err(_) => tracing::warn!(
                unsent = self.unsent(),
                "the last CloudWatch publish did not finish in time; its metrics are lost"
            ),
        }
        tracing::info!("CloudWatch exporter stopped");
    }
}

fn count(tally: &mut Tally, event: &StreamEvent) {
    if let StreamEvent::Visit(visit) = event {
        tally.record(visit);
    }
}

fn warn_lagged(skipped: u64) {
    tracing::warn!(
        skipped,
        "the CloudWatch exporter fell behind the live events; {skipped} events were skipped \
         and their visits are missing from the counts"
    );
}

fn log_publish(result: Result<usize, CloudWatchError>) {
    match result {
        Ok(datums) => tracing::debug!(datums, "published to CloudWatch"),
        Err(err) => tracing::warn!(error = %err, "CloudWatch publish failed"),
    }
}

/// Starts an exporter with `client` that runs until the server shuts down.
pub fn spawn_with_client(
    state: &AppState,
    config: CloudWatchConfig,
    client: Client,
) -> Result<JoinHandle<()>, CloudWatchError> {
    let exporter = Exporter::new(state, config, client)?;
    Ok(tokio::spawn(exporter.run(state.shutdown_signal())))
}

/// Starts the exporter with a client from the standard AWS configuration chain (region,
/// credentials and endpoint from `AWS_*` variables, profiles, or the instance's role;
/// `AWS_ENDPOINT_URL` or `AWS_ENDPOINT_URL_CLOUDWATCH` point it elsewhere). It runs until
/// the server shuts down, then publishes what is left; await the handle to let it finish.
pub async fn spawn(
    state: AppState,
    config: CloudWatchConfig,
) -> Result<JoinHandle<()>, CloudWatchError> {
    config.validate()?;
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let region = sdk.region().cloned().ok_or(CloudWatchError::NoRegion)?;
    let timeouts = sdk
        .timeout_config()
        .map(|t| t.to_builder())
        .unwrap_or_default()
        .operation_timeout(OPERATION_TIMEOUT)
        .build();
    let client = Client::from_conf(
        aws_sdk_cloudwatch::config::Builder::from(&sdk)
            .timeout_config(timeouts)
            .build(),
    );
    tracing::info!(
        namespace = %config.namespace,
        region = %region,
        interval_s = config.interval.as_secs_f64(),
        site = %config.site,
        endpoint = sdk.endpoint_url().unwrap_or("default"),
        "CloudWatch exporter on"
    );
    spawn_with_client(&state, config, client)
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudwatch::config::retry::RetryConfig;
    use aws_sdk_cloudwatch::config::{BehaviorVersion, Credentials, Region};
    use chrono::TimeZone;
    use uuid::Uuid;

    use super::*;

    fn config() -> CloudWatchConfig {
        CloudWatchConfig {
            namespace: "MaskGate".into(),
            site: "seoul".into(),
            interval: Duration::from_secs(60),
            silent_after: chrono::Duration::minutes(5),
        }
    }

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, minute, 0)
            .single()
            .expect("a valid time")
    }

    fn visit(door: &str, passed: bool) -> Visit {
        Visit {
            id: Uuid::new_v4(),
            device: door.into(),
            captured_at: at(0),
            received_at: at(0),
            passed,
            mask_score: if passed { 0.9 } else { 0.1 },
            model: "maskgate-cnn@1.0.0".into(),
            decision_ms: None,
        }
    }

    fn device(name: &str, last_seen_at: Option<DateTime<Utc>>) -> Device {
        Device {
            id: 1,
            name: name.into(),
            created_at: at(0),
            last_seen_at,
            status: None,
            assigned_model_id: None,
            link: None,
        }
    }

    /// (metric, door or "" for the site, value) of each datum.
    fn rows(datums: &[MetricDatum]) -> Vec<(String, String, f64)> {
        datums
            .iter()
            .map(|d| {
                let door = d
                    .dimensions()
                    .iter()
                    .find(|dim| dim.name() == Some("Door"))
                    .and_then(|dim| dim.value())
                    .unwrap_or_default();
                (
                    d.metric_name().unwrap_or_default().to_owned(),
                    door.to_owned(),
                    d.value().unwrap_or(f64::NAN),
                )
            })
            .collect()
    }

    fn datums(n: usize) -> Vec<MetricDatum> {
        (0..n)
            .map(|i| {
                MetricDatum::builder()
                    .metric_name("Passes")
                    .value(i as f64)
                    .build()
            })
            .collect()
    }

    #[test]
    fn an_interval_has_counts_for_every_door_rates_where_there_were_visits_and_device_up() {
        let mut tally = Tally::default();
        for passed in [true, true, true, false] {
            tally.record(&visit("front", passed));
        }
        let devices = [
            device("front", Some(at(9))),
            device("back", Some(at(0))),
            device("new", None),
        ];
        let datums = interval_datums(&config(), &tally, Some(&devices), at(10));
        let expected = [
            ("Passes", "back", 0.0),
            ("Fails", "back", 0.0),
            ("DeviceUp", "back", 0.0),
            ("Passes", "front", 3.0),
            ("Fails", "front", 1.0),
            ("PassRate", "front", 75.0),
            ("DeviceUp", "front", 1.0),
            ("Passes", "new", 0.0),
            ("Fails", "new", 0.0),
            ("DeviceUp", "new", 0.0),
            ("Passes", "", 3.0),
            ("Fails", "", 1.0),
            ("PassRate", "", 75.0),
        ];
        let expected: Vec<_> = expected
            .iter()
            .map(|(m, d, v)| (m.to_string(), d.to_string(), *v))
            .collect();
        assert_eq!(rows(&datums), expected);
        for d in &datums {
            let dims: Vec<_> = d.dimensions().iter().filter_map(|d| d.name()).collect();
            assert_eq!(dims[0], "Site", "{d:?}");
            assert_eq!(d.dimensions()[0].value(), Some("seoul"));
            assert_eq!(d.timestamp().map(|t| t.secs()), Some(at(10).timestamp()));
        }
    }

    #[test]
    fn a_door_is_up_until_silent_after_has_passed() {
        let config = config();
        for (seen_minutes_ago, up) in [(0, 1.0), (5, 1.0), (6, 0.0)] {
            let devices = [device("front", Some(at(10 - seen_minutes_ago)))];
            let datums = interval_datums(&config, &Tally::default(), Some(&devices), at(10));
            let device_up = rows(&datums)
                .into_iter()
                .find(|(m, _, _)| m == "DeviceUp")
                .map(|(_, _, v)| v);
            assert_eq!(device_up, Some(up), "seen {seen_minutes_ago} min ago");
        }
    }

    #[test]
    fn without_the_device_list_counts_are_still_published() {
        let mut tally = Tally::default();
        tally.record(&visit("front", false));
        let datums = interval_datums(&config(), &tally, None, at(10));
        let names: Vec<_> = rows(&datums)
            .into_iter()
            .map(|(m, d, _)| format!("{m}/{d}"))
            .collect();
        assert_eq!(
            names,
            [
                "Passes/front",
                "Fails/front",
                "PassRate/front",
                "Passes/",
                "Fails/",
                "PassRate/"
            ]
        );
    }

    #[test]
    fn bad_configurations_are_refused() {
        type Change = fn(&mut CloudWatchConfig);
        let cases: [(&str, Change); 5] = [
            ("empty namespace", |c| c.namespace.clear()),
            ("AWS/ namespace", |c| c.namespace = "AWS/EC2".into()),
            ("blank site", |c| c.site = " ".into()),
            ("zero interval", |c| c.interval = Duration::ZERO),
            ("negative silence", |c| {
                c.silent_after = chrono::Duration::seconds(-1)
            }),
        ];
        assert!(config().validate().is_ok());
        for (case, change) in cases {
            let mut config = config();
            change(&mut config);
            assert!(
                matches!(config.validate(), Err(CloudWatchError::Config(_))),
                "{case} was accepted"
            );
        }
    }

    #[tokio::test]
    async fn a_large_backlog_goes_out_in_calls_of_at_most_1000_datums() {
        let mut backlog = Backlog::default();
        backlog.push(datums(2500));
        let mut calls = Vec::new();
        let sent = backlog
            .flush(|batch| {
                calls.push(batch);
                async { Ok::<_, ()>(()) }
            })
            .await;
        assert_eq!(sent, Ok(2500));
        let sizes: Vec<usize> = calls.iter().map(Vec::len).collect();
        assert_eq!(sizes, [1000, 1000, 500]);
        let values: Vec<f64> = calls.iter().flatten().filter_map(|d| d.value()).collect();
        let expected: Vec<f64> = (0..2500).map(|i| i as f64).collect();
        assert_eq!(values, expected, "every datum once, in order");
        assert!(backlog.is_empty());
    }

    #[tokio::test]
    async fn a_failed_call_keeps_exactly_the_datums_not_sent() {
        let mut backlog = Backlog::default();
        backlog.push(datums(700));
        backlog.push(datums(800));
        let mut calls = 0;
        let result = backlog
            .flush(|_batch| {
                calls += 1;
                let result = if calls == 2 { Err("down") } else { Ok(()) };
                async move { result }
            })
            .await;
        assert_eq!(result, Err("down"));
        // The first call took the first interval and 300 of the second.
        assert_eq!((backlog.len(), backlog.intervals()), (500, 1));
        assert_eq!(backlog.datums().next().and_then(|d| d.value()), Some(300.0));
    }

    #[test]
    fn the_backlog_keeps_at_most_60_intervals() {
        let mut backlog = Backlog::default();
        for _ in 0..MAX_BACKLOG_INTERVALS + 5 {
            backlog.push(datums(3));
        }
        assert_eq!(backlog.intervals(), MAX_BACKLOG_INTERVALS);
        backlog.push(Vec::new());
        assert_eq!(backlog.intervals(), MAX_BACKLOG_INTERVALS);
    }

    /// A client of an endpoint where nothing listens.
    async fn unreachable_client() -> Client {
        let port = {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            listener.local_addr().expect("address").port()
        };
        let config = aws_sdk_cloudwatch::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .retry_config(RetryConfig::disabled())
            .build();
        Client::from_conf(config)
    }

    #[tokio::test]
    async fn counts_of_a_failed_publish_are_carried_into_the_next_one() {
        let mut publisher = Publisher::new(unreachable_client().await, "MaskGate");
        let config = config();
        let mut tally = Tally::default();
        tally.record(&visit("front", true));
        tally.record(&visit("front", false));
        let first = interval_datums(&config, &tally, None, at(1));
        let err = publisher
            .publish(first.clone())
            .await
            .expect_err("nothing listens");
        assert!(
            matches!(err, CloudWatchError::Publish { unsent: 6, .. }),
            "{err}"
        );
        assert!(!err.to_string().contains("secret"), "{err}");

        let mut tally = Tally::default();
        tally.record(&visit("front", true));
        let second = interval_datums(&config, &tally, None, at(2));
        publisher
            .publish(second.clone())
            .await
            .expect_err("still nothing listens");
        let kept: Vec<MetricDatum> = publisher.backlog().datums().cloned().collect();
        assert_eq!(kept, [first, second].concat());
        let passes: f64 = rows(&kept)
            .into_iter()
            .filter(|(m, d, _)| m == "Passes" && d == "front")
            .map(|(_, _, v)| v)
            .sum();
        assert_eq!(passes, 2.0);
    }
}
