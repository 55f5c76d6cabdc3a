//! The CloudWatch exporter against a real moto server: visits posted over HTTP come back
//! from `ListMetrics` and `GetMetricData` with the right dimensions and sums.
//!
//! moto is reached at `MASKGATE_TEST_MOTO_URL` (default `http://127.0.0.1:5000`; start one
//! with `moto_server -p 5000`). When it does not answer, each test prints one line and
//! passes, unless `MASKGATE_REQUIRE_MOTO=1` (set by `.ci/run`) makes that a failure.
//! Each test publishes under a namespace and site of its own, so tests sharing one moto
//! server never see each other's metrics.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_cloudwatch::primitives::DateTime as AwsDateTime;
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat, StandardUnit,
};
use maskgate_api::cloudwatch::{
    CloudWatchConfig, Exporter, MAX_DATUMS_PER_CALL, Publisher, spawn_with_client,
};
use maskgate_api_types::NewVisit;
use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::{Backend, TestApp, ok_heartbeat, spawn_app, visit};

fn moto_url() -> String {
    std::env::var("MASKGATE_TEST_MOTO_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".into())
}

/// The moto URL when a server answers there; `None` (after saying so) when not.
async fn moto() -> Option<String> {
    let url = moto_url();
    let answer = reqwest::Client::new()
        .get(format!("{url}/moto-api/"))
        .timeout(Duration::from_secs(3))
        .send()
        .await;
    match answer {
        Ok(_) => Some(url),
        Err(err) if std::env::var("MASKGATE_REQUIRE_MOTO").is_ok_and(|v| v == "1") => {
            panic!("MASKGATE_REQUIRE_MOTO=1 but moto does not answer at {url}: {err}")
        }
        Err(err) => {
            eprintln!(
                "skipping: moto does not answer at {url} ({err}); start `moto_server -p 5000` \
                 or set MASKGATE_REQUIRE_MOTO=1 to make this a failure"
            );
            None
        }
    }
}

/// A CloudWatch client of moto with its own dummy credentials (never the process's).
fn moto_client(url: &str) -> Client {
    let config = aws_sdk_cloudwatch::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "maskgate-tests",
        ))
        .endpoint_url(url)
        .build();
    Client::from_conf(config)
}

/// A namespace and site no other test uses.
fn fresh_config() -> CloudWatchConfig {
    let id = Uuid::new_v4().simple().to_string();
    CloudWatchConfig {
        namespace: format!("MaskGateTest/{id}"),
        site: format!("site-{id}"),
        interval: Duration::from_secs(3600),
        silent_after: chrono::Duration::minutes(5),
    }
}

/// A fresh SQLite app and moto, or `None` when moto is missing (the test passes).
async fn app_and_moto() -> Option<(TestApp, Client)> {
    let url = moto().await?;
    let app = spawn_app(Backend::Sqlite, |_| {})
        .await
        .expect("SQLite is always available");
    Some((app, moto_client(&url)))
}

/// Posts `passes` passed and `fails` failed visits from one door.
async fn post(app: &TestApp, door_token: &str, passes: usize, fails: usize) -> Vec<NewVisit> {
    let visits: Vec<NewVisit> = std::iter::repeat_n(true, passes)
        .chain(std::iter::repeat_n(false, fails))
        .map(|passed| visit(app, chrono::Duration::seconds(5), passed))
        .collect();
    let response = app.post_visits(door_token, &visits).await;
    assert_eq!(response.status(), StatusCode::OK);
    visits
}

async fn heartbeat(app: &TestApp, door_token: &str) {
    let response = app
        .client
        .post(app.url("/api/v1/devices/heartbeat"))
        .bearer_auth(door_token)
        .json(&ok_heartbeat())
        .send()
        .await
        .expect("heartbeat");
    assert_eq!(response.status(), StatusCode::OK);
}

/// Every metric of the namespace as (name, {dimension: value}).
async fn list_metrics(
    client: &Client,
    namespace: &str,
) -> BTreeSet<(String, Vec<(String, String)>)> {
    let mut found = BTreeSet::new();
    let mut next = None;
    loop {
        let page = client
            .list_metrics()
            .namespace(namespace)
            .set_next_token(next)
            .send()
            .await
            .expect("ListMetrics");
        for metric in page.metrics() {
            let mut dims: Vec<(String, String)> = metric
                .dimensions()
                .iter()
                .map(|d| {
                    (
                        d.name().unwrap_or_default().to_owned(),
                        d.value().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            dims.sort();
            found.insert((metric.metric_name().unwrap_or_default().to_owned(), dims));
        }
        next = page.next_token().map(str::to_owned);
        if next.is_none() {
            return found;
        }
    }
}

/// What to read back: a metric, its door (`None`: the site-wide one) and the statistic.
struct Read<'a> {
    metric: &'a str,
    door: Option<&'a str>,
    stat: &'a str,
}

/// Reads each query's statistic over two hours around the app's clock, as one value (the
/// whole window is one period); `None` where no data arrived.
async fn read(
    client: &Client,
    app: &TestApp,
    config: &CloudWatchConfig,
    reads: &[Read<'_>],
) -> Vec<Option<f64>> {
    let now = app.now().timestamp();
    let mut request = client
        .get_metric_data()
        .start_time(AwsDateTime::from_secs(now - 3600))
        .end_time(AwsDateTime::from_secs(now + 3600));
    for (i, r) in reads.iter().enumerate() {
        let mut metric = Metric::builder()
            .namespace(&config.namespace)
            .metric_name(r.metric)
            .dimensions(
                Dimension::builder()
                    .name("Site")
                    .value(&config.site)
                    .build(),
            );
        if let Some(door) = r.door {
            metric = metric.dimensions(Dimension::builder().name("Door").value(door).build());
        }
        request = request.metric_data_queries(
            MetricDataQuery::builder()
                .id(format!("q{i}"))
                .metric_stat(
                    MetricStat::builder()
                        .metric(metric.build())
                        .period(7200)
                        .stat(r.stat)
                        .build(),
                )
                .build(),
        );
    }
    let output = request.send().await.expect("GetMetricData");
    let by_id: BTreeMap<&str, Vec<f64>> = output
        .metric_data_results()
        .iter()
        .map(|r| (r.id().unwrap_or_default(), r.values().to_vec()))
        .collect();
    (0..reads.len())
        .map(|i| {
            let values = by_id.get(format!("q{i}").as_str())?;
            assert!(values.len() <= 1, "one period, one value: {values:?}");
            values.first().copied()
        })
        .collect()
}

fn dims(site: &str, door: Option<&str>) -> Vec<(String, String)> {
    let mut dims = vec![("Site".to_owned(), site.to_owned())];
    if let Some(door) = door {
        dims.insert(0, ("Door".to_owned(), door.to_owned()));
    }
    dims
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visits_posted_over_http_reach_cloudwatch_per_door_and_for_the_site() {
    let Some((app, client)) = app_and_moto().await else {
        return;
    };
    let config = fresh_config();
    let mut exporter =
        Exporter::new(&app.state, config.clone(), client.clone()).expect("an exporter");
    let admin = app.admin_token().await;
    let front = app.device(&admin, "front").await;
    let back = app.device(&admin, "back").await;
    app.device(&admin, "side").await; // registered, never heard from

    let front_visits = post(&app, &front, 3, 1).await;
    post(&app, &back, 1, 2).await;
    // A retried batch stores nothing new, so it counts for nothing.
    app.post_visits(&front, &front_visits).await;

    // Ten minutes on, only the front door is still heard from.
    app.clock.advance(chrono::Duration::minutes(10));
    heartbeat(&app, &front).await;

    let sent = exporter.publish_once().await.expect("publish to moto");
    // front and back: Passes, Fails, PassRate, DeviceUp; side: no PassRate; site: 3.
    assert_eq!(sent, 4 + 4 + 3 + 3);
    assert_eq!(exporter.unsent(), 0);

    let listed = list_metrics(&client, &config.namespace).await;
    let site = config.site.as_str();
    let mut expected = BTreeSet::new();
    for door in ["front", "back", "side"] {
        for metric in ["Passes", "Fails", "DeviceUp"] {
            expected.insert((metric.to_owned(), dims(site, Some(door))));
        }
    }
    for door in [Some("front"), Some("back"), None] {
        expected.insert(("PassRate".to_owned(), dims(site, door)));
    }
    for metric in ["Passes", "Fails"] {
        expected.insert((metric.to_owned(), dims(site, None)));
    }
    assert_eq!(listed, expected);

    let reads = [
        ("Passes", Some("front"), "Sum", Some(3.0)),
        ("Fails", Some("front"), "Sum", Some(1.0)),
        ("PassRate", Some("front"), "Average", Some(75.0)),
        ("DeviceUp", Some("front"), "Maximum", Some(1.0)),
        ("Passes", Some("back"), "Sum", Some(1.0)),
        ("Fails", Some("back"), "Sum", Some(2.0)),
        ("DeviceUp", Some("back"), "Maximum", Some(0.0)),
        ("Passes", Some("side"), "Sum", Some(0.0)),
        ("Fails", Some("side"), "Sum", Some(0.0)),
        ("PassRate", Some("side"), "Average", None),
        ("DeviceUp", Some("side"), "Maximum", Some(0.0)),
        ("Passes", None, "Sum", Some(4.0)),
        ("Fails", None, "Sum", Some(3.0)),
    ];
    let queries: Vec<Read> = reads
        .iter()
        .map(|(metric, door, stat, _)| Read {
            metric,
            door: *door,
            stat,
        })
        .collect();
    let values = read(&client, &app, &config, &queries).await;
    for ((metric, door, stat, want), got) in reads.iter().zip(&values) {
        assert_eq!(got, want, "{stat} of {metric} at {door:?}");
    }
    let site_rate = read(
        &client,
        &app,
        &config,
        &[Read {
            metric: "PassRate",
            door: None,
            stat: "Average",
        }],
    )
    .await;
    let rate = site_rate[0].expect("a site-wide pass rate");
    assert!(
        (rate - 4.0 / 7.0 * 100.0).abs() < 1e-9,
        "site pass rate {rate}"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_visit_is_counted_in_exactly_one_publish() {
    let Some((app, client)) = app_and_moto().await else {
        return;
    };
    let config = fresh_config();
    let mut exporter =
        Exporter::new(&app.state, config.clone(), client.clone()).expect("an exporter");
    let admin = app.admin_token().await;
    let front = app.device(&admin, "front").await;

    post(&app, &front, 2, 1).await;
    exporter.publish_once().await.expect("first publish");
    app.clock.advance(chrono::Duration::minutes(1));
    post(&app, &front, 1, 1).await;
    exporter.publish_once().await.expect("second publish");
    app.clock.advance(chrono::Duration::minutes(1));
    exporter.publish_once().await.expect("a quiet publish");

    let reads = [
        Read {
            metric: "Passes",
            door: Some("front"),
            stat: "Sum",
        },
        Read {
            metric: "Fails",
            door: Some("front"),
            stat: "Sum",
        },
        Read {
            metric: "Passes",
            door: Some("front"),
            stat: "SampleCount",
        },
    ];
    let values = read(&client, &app, &config, &reads).await;
    assert_eq!(
        values,
        [Some(3.0), Some(2.0), Some(3.0)],
        "sums, and 3 publishes"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_was_counted_is_published_when_the_server_stops() {
    let Some((mut app, client)) = app_and_moto().await else {
        return;
    };
    let config = fresh_config();
    // An hour between publishes: only the one at shutdown can carry these visits.
    let exporter =
        spawn_with_client(&app.state, config.clone(), client.clone()).expect("an exporter");
    let admin = app.admin_token().await;
    let front = app.device(&admin, "front").await;
    post(&app, &front, 4, 2).await;

    app.stop_server().await;
    tokio::time::timeout(Duration::from_secs(30), exporter)
        .await
        .expect("the exporter ends with the server")
        .expect("the exporter does not panic");

    let reads = [
        Read {
            metric: "Passes",
            door: Some("front"),
            stat: "Sum",
        },
        Read {
            metric: "Fails",
            door: None,
            stat: "Sum",
        },
    ];
    let values = read(&client, &app, &config, &reads).await;
    assert_eq!(values, [Some(4.0), Some(2.0)]);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_larger_than_one_call_arrives_whole_and_once() {
    let Some((app, client)) = app_and_moto().await else {
        return;
    };
    let config = fresh_config();
    let n = 2 * MAX_DATUMS_PER_CALL + 500;
    let start = app.now().timestamp() - 1800;
    let datums: Vec<MetricDatum> = (0..n)
        .map(|i| {
            MetricDatum::builder()
                .metric_name("Passes")
                .unit(StandardUnit::Count)
                .value(1.0)
                .timestamp(AwsDateTime::from_secs(start + i as i64))
                .dimensions(
                    Dimension::builder()
                        .name("Site")
                        .value(&config.site)
                        .build(),
                )
                .dimensions(Dimension::builder().name("Door").value("busy").build())
                .build()
        })
        .collect();
    let mut publisher = Publisher::new(client.clone(), &config.namespace);
    assert_eq!(publisher.publish(datums).await.expect("publish"), n);
    assert!(publisher.backlog().is_empty());

    let door = Some("busy");
    let reads = [
        Read {
            metric: "Passes",
            door,
            stat: "SampleCount",
        },
        Read {
            metric: "Passes",
            door,
            stat: "Sum",
        },
    ];
    let values = read(&client, &app, &config, &reads).await;
    assert_eq!(values, [Some(n as f64), Some(n as f64)]);
    app.shutdown().await;
}
