//! The uplink against the real server: exactly once through outages and refusals.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use maskgate_api::clock::SystemClock;
use maskgate_api::credentials::{DEVICE_TOKEN_PREFIX, new_token, token_hash};
use maskgate_api::{AppState, Settings, db};
use maskgate_api_types::NewVisit;
use maskgate_edge_agent::queue::Queue;
use maskgate_edge_agent::uplink::{Uplink, UplinkConfig};
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

struct Server {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start_server(store: Arc<dyn db::Store>, addr: std::net::SocketAddr) -> Server {
    let listener = loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => break l,
            // The old listener's port may take a moment to free.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let state = AppState::new(store, Settings::default(), Arc::new(SystemClock));
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

fn temp_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mg-uplink-{}", Uuid::new_v4().simple()))
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

/// A server database with one registered door, and a free port to serve it on.
struct Site {
    dir: std::path::PathBuf,
    store: Arc<dyn db::Store>,
    token: String,
    addr: std::net::SocketAddr,
}

async fn site() -> Site {
    let dir = temp_dir();
    let store = db::connect(&format!("sqlite://{}", dir.join("server.db").display()))
        .await
        .expect("server db");
    let token = new_token(DEVICE_TOKEN_PREFIX);
    store
        .create_device("door", &token_hash(token.expose()), Utc::now())
        .await
        .expect("device");
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    Site {
        dir,
        store,
        token: token.expose().to_owned(),
        addr,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_visit_arrives_exactly_once_across_a_server_outage() {
    let Site {
        dir,
        store,
        token,
        addr,
    } = site().await;
    let queue = Queue::open(&dir.join("queue.db"), 100_000)
        .await
        .expect("queue");
    let uplink = Uplink::new(
        queue.clone(),
        UplinkConfig {
            server_url: format!("http://{addr}"),
            token: token.clone(),
            batch_size: 50,
            min_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            ..UplinkConfig::default()
        },
    )
    .expect("uplink");
    let (stop_uplink, stop) = watch::channel(false);
    let runner = tokio::spawn(uplink.clone().run(stop));

    let mut sent = HashSet::new();
    // Server up: the first visits go through.
    let server = start_server(store.clone(), addr).await;
    for i in 0..300 {
        let v = visit(i);
        sent.insert(v.id);
        queue.push(&v).await.expect("push");
        uplink.wake();
    }
    wait_until_empty(&queue, Duration::from_secs(20)).await;
    // Server down: decisions keep being queued.
    server.stop().await;
    for i in 300..700 {
        let v = visit(i);
        sent.insert(v.id);
        queue.push(&v).await.expect("push");
        uplink.wake();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        queue.depth().await.expect("depth") > 0,
        "nothing can be sent while the server is down"
    );
    assert!(uplink.status().last_error.is_some());
    // Server back: the backlog drains.
    let server = start_server(store.clone(), addr).await;
    wait_until_empty(&queue, Duration::from_secs(30)).await;

    let stored = store
        .list_visits(&Default::default(), None, 10_000)
        .await
        .expect("list");
    let ids: Vec<Uuid> = stored.iter().map(|v| v.id).collect();
    let unique: HashSet<Uuid> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "no visit stored twice");
    assert_eq!(unique, sent, "every visit arrived");
    assert!(uplink.status().last_upload_at.is_some());

    stop_uplink.send_replace(true);
    runner.await.expect("uplink stops");
    server.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_the_server_refuses_is_set_aside_and_the_rest_go_through() {
    let Site {
        dir,
        store,
        token,
        addr,
    } = site().await;
    let server = start_server(store.clone(), addr).await;
    let queue = Queue::open(&dir.join("queue.db"), 1000)
        .await
        .expect("queue");
    let mut good = HashSet::new();
    for i in 0..20 {
        let mut v = visit(i);
        if i == 7 {
            v.mask_score = 1.5; // a bug elsewhere must not block the queue
        } else {
            good.insert(v.id);
        }
        queue.push(&v).await.expect("push");
    }
    let uplink = Uplink::new(
        queue.clone(),
        UplinkConfig {
            server_url: format!("http://{addr}"),
            token: token.clone(),
            ..UplinkConfig::default()
        },
    )
    .expect("uplink");
    let (stop_uplink, stop) = watch::channel(false);
    let runner = tokio::spawn(uplink.run(stop));
    wait_until_empty(&queue, Duration::from_secs(20)).await;
    let rejected = queue.rejected().await.expect("rejected");
    assert_eq!(rejected.len(), 1);
    assert!(rejected[0].1.contains("mask_score"), "{rejected:?}");
    let stored: HashSet<Uuid> = store
        .list_visits(&Default::default(), None, 1000)
        .await
        .expect("list")
        .iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(stored, good);
    stop_uplink.send_replace(true);
    runner.await.expect("uplink stops");
    server.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// A server that misbehaves: answers 500, then 200 with a body that is not the API's, then
/// cuts the connection after reading the request. Counts the requests it saw.
async fn bad_server(
    addr: std::net::SocketAddr,
) -> (Arc<std::sync::atomic::AtomicUsize>, oneshot::Sender<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (stop, mut stopped) = oneshot::channel::<()>();
    let counter = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = tokio::select! {
                accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
                _ = &mut stopped => return,
            };
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = vec![0u8; 64 * 1024];
            let _ = socket.read(&mut buf).await;
            let reply: &[u8] = match n % 3 {
                0 => b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 5\r\nconnection: close\r\n\r\noops!",
                1 => b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 9\r\nconnection: close\r\n\r\n{garbage}",
                _ => b"",
            };
            let _ = socket.write_all(reply).await;
            let _ = socket.shutdown().await;
        }
    });
    (seen, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_answering_500_or_garbage_loses_nothing() {
    let Site {
        dir,
        store,
        token,
        addr,
    } = site().await;
    let queue = Queue::open(&dir.join("queue.db"), 1000)
        .await
        .expect("queue");
    let uplink = Uplink::new(
        queue.clone(),
        UplinkConfig {
            server_url: format!("http://{addr}"),
            token,
            batch_size: 10,
            min_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            ..UplinkConfig::default()
        },
    )
    .expect("uplink");
    let (bad_requests, stop_bad) = bad_server(addr).await;
    let (stop_uplink, stop) = watch::channel(false);
    let runner = tokio::spawn(uplink.clone().run(stop));
    let mut sent = HashSet::new();
    for i in 0..25 {
        let v = visit(i);
        sent.insert(v.id);
        queue.push(&v).await.expect("push");
    }
    uplink.wake();
    let started = Instant::now();
    while bad_requests.load(std::sync::atomic::Ordering::SeqCst) < 9 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the uplink gave up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        queue.depth().await.expect("depth"),
        25,
        "nothing left the queue"
    );
    let error = uplink.status().last_error.expect("the failure is reported");
    assert!(!error.is_empty());

    let _ = stop_bad.send(());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let server = start_server(store.clone(), addr).await;
    wait_until_empty(&queue, Duration::from_secs(20)).await;
    let stored = store
        .list_visits(&Default::default(), None, 1000)
        .await
        .expect("list");
    let ids: HashSet<Uuid> = stored.iter().map(|v| v.id).collect();
    assert_eq!(stored.len(), 25);
    assert_eq!(ids, sent);

    stop_uplink.send_replace(true);
    runner.await.expect("uplink stops");
    server.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}
