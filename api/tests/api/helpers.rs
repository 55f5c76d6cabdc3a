//! `spawn_app()`: the real server on 127.0.0.1:0 over a fresh database of the chosen
//! backend, and typed helpers to talk to it over HTTP.
//!
//! Backends other than SQLite are reached at `MASKGATE_TEST_POSTGRES_URL` and
//! `MASKGATE_TEST_MYSQL_URL` (defaults: the local servers); each test gets its own database.
//! When one is unreachable its tests say so and pass, unless `MASKGATE_REQUIRE_DBS=1`
//! (set by `.ci/run`) turns that into a failure.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use maskgate_api::clock::ManualClock;
use maskgate_api::credentials::hash_password;
use maskgate_api::{AppState, Settings, db};
use maskgate_api_types::{
    CameraState, CreatedDevice, Heartbeat, LoginResponse, NewVisit, Role, VisitBatch,
};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use sqlx::Connection;
use tokio::sync::oneshot;
use uuid::Uuid;

/// A database backend the suite runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery";

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    /// The app's alert engine, to evaluate rules at the manual clock's time.
    pub alerts: maskgate_api::alerts::AlertEngine,
    /// The running server's state (a clone), for parts that run beside it.
    pub state: AppState,
    database_url: String,
    store: Arc<dyn db::Store>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    cleanup: Cleanup,
}

enum Cleanup {
    Folder(PathBuf),
    Postgres { admin_url: String, name: String },
    MySql { admin_url: String, name: String },
}

fn require_dbs() -> bool {
    std::env::var("MASKGATE_REQUIRE_DBS").is_ok_and(|v| v == "1")
}

fn postgres_admin_url() -> String {
    std::env::var("MASKGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn mysql_admin_url() -> String {
    std::env::var("MASKGATE_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// `base` with its database name replaced.
fn with_database(base: &str, name: &str) -> String {
    let (before, after) = match base.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (base, String::new()),
    };
    let root = before.rsplit_once('/').map_or(before, |(root, _)| root);
    format!("{root}/{name}{after}")
}

/// Creates a fresh database for one test; `None` when the server cannot be reached.
async fn fresh_database(backend: Backend) -> Option<(String, Cleanup)> {
    let name = format!("mgtest_{}", Uuid::new_v4().simple());
    match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(&name);
            let url = format!("sqlite://{}", dir.join("maskgate.db").display());
            Some((url, Cleanup::Folder(dir)))
        }
        Backend::Postgres => {
            let admin_url = postgres_admin_url();
            let mut conn = unavailable(
                backend,
                &admin_url,
                sqlx::PgConnection::connect(&admin_url).await,
            )?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("create a PostgreSQL test database");
            Some((
                with_database(&admin_url, &name),
                Cleanup::Postgres { admin_url, name },
            ))
        }
        Backend::MySql => {
            let admin_url = mysql_admin_url();
            let mut conn = unavailable(
                backend,
                &admin_url,
                sqlx::MySqlConnection::connect(&admin_url).await,
            )?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("create a MySQL test database");
            Some((
                with_database(&admin_url, &name),
                Cleanup::MySql { admin_url, name },
            ))
        }
    }
}

fn unavailable<C>(backend: Backend, url: &str, result: Result<C, sqlx::Error>) -> Option<C> {
    match result {
        Ok(conn) => Some(conn),
        Err(err) if !require_dbs() => {
            eprintln!(
                "skipping: {backend:?} is not reachable at {url} ({err}); set \
                 MASKGATE_REQUIRE_DBS=1 to make this a failure"
            );
            None
        }
        Err(err) => panic!("{backend:?} is required but not reachable at {url}: {err}"),
    }
}

/// Runs a test body against a fresh app on `backend`, then drops its database.
pub async fn run<F, Fut>(backend: Backend, body: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = TestApp>,
{
    run_with(backend, |_| {}, body).await;
}

/// Like [`run`], with settings changed by `configure`.
pub async fn run_with<F, Fut>(backend: Backend, configure: impl FnOnce(&mut Settings), body: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = TestApp>,
{
    let Some(app) = spawn_app(backend, configure).await else {
        return;
    };
    let app = body(app).await;
    app.shutdown().await;
}

/// Starts the real server on 127.0.0.1:0 over a fresh database.
pub async fn spawn_app(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    let (url, cleanup) = fresh_database(backend).await?;
    let store = db::connect(&url).await.expect("connect and migrate");
    let mut settings = Settings::default();
    configure(&mut settings);
    let clock = Arc::new(ManualClock::new(Utc::now().trunc_subsecs(6)));
    let state = AppState::new(store.clone(), settings, clock.clone());
    let alerts = state.alerts.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(maskgate_api::serve(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
    Some(TestApp {
        address,
        client: reqwest::Client::new(),
        clock,
        alerts,
        state,
        database_url: url,
        store,
        stop: Some(stop),
        server: Some(server),
        cleanup,
    })
}

impl TestApp {
    /// The absolute URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    /// The clock's current time.
    pub fn now(&self) -> DateTime<Utc> {
        use maskgate_api::clock::Clock;
        self.clock.now()
    }

    /// Creates a user directly in the store.
    pub async fn create_user(&self, name: &str, role: Role) {
        let hash = hash_password(PASSWORD).expect("hash");
        self.store
            .create_user(name, &hash, role, self.now())
            .await
            .expect("create user");
    }

    /// Logs in over HTTP.
    pub async fn login(&self, name: &str, password: &str) -> Response {
        self.client
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"username": name, "password": password}))
            .send()
            .await
            .expect("login request")
    }

    /// Creates a user with the given role and returns a session token.
    pub async fn token_for(&self, name: &str, role: Role) -> String {
        self.create_user(name, role).await;
        let response = self.login(name, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "login of {name}");
        response
            .json::<LoginResponse>()
            .await
            .expect("login body")
            .token
    }

    /// An admin's token (creating the admin `admin` on first use).
    pub async fn admin_token(&self) -> String {
        self.token_for("admin", Role::Admin).await
    }

    /// Registers a device over HTTP and returns its token.
    pub async fn device(&self, admin_token: &str, name: &str) -> String {
        let response = self
            .client
            .post(self.url("/api/v1/devices"))
            .bearer_auth(admin_token)
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await
            .expect("create device");
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "create device {name}"
        );
        response
            .json::<CreatedDevice>()
            .await
            .expect("device body")
            .token
    }

    /// Posts a batch of visits with a device token.
    pub async fn post_visits(&self, device_token: &str, visits: &[NewVisit]) -> Response {
        self.client
            .post(self.url("/api/v1/visits"))
            .bearer_auth(device_token)
            .json(&VisitBatch {
                visits: visits.to_vec(),
            })
            .send()
            .await
            .expect("post visits")
    }

    /// GETs a path with a token and returns status and JSON body.
    pub async fn get_json(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("get");
        let status = response.status();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// Visits stored, as the store sees them (all devices, up to 10,000).
    pub async fn stored_visit_count(&self) -> usize {
        self.store
            .list_visits(&Default::default(), None, 10_000)
            .await
            .expect("list visits")
            .len()
    }

    /// Runs SQL on the test database over a connection of its own, behind the server's back.
    pub async fn execute_sql(&self, sql: &str) {
        let url = &self.database_url;
        if url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(url).await.expect("connect");
            sqlx::query(sql).execute(&mut conn).await.expect(sql);
        } else if url.starts_with("postgres:") {
            let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
            sqlx::query(sql).execute(&mut conn).await.expect(sql);
        } else {
            let mut conn = sqlx::MySqlConnection::connect(url).await.expect("connect");
            sqlx::query(sql).execute(&mut conn).await.expect(sql);
        }
    }

    /// Stops the server (as SIGTERM would) but keeps the test database.
    pub async fn stop_server(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), server).await;
        }
    }

    /// Stops the server and drops the test database.
    pub async fn shutdown(mut self) {
        self.stop_server().await;
        drop(self.state);
        drop(self.store);
        match self.cleanup {
            Cleanup::Folder(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { admin_url, name } => {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            }
            Cleanup::MySql { admin_url, name } => {
                if let Ok(mut conn) = sqlx::MySqlConnection::connect(&admin_url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                        .execute(&mut conn)
                        .await;
                }
            }
        }
    }
}

/// The heartbeat of a door with nothing queued, its camera fine and no model reported.
pub fn ok_heartbeat() -> Heartbeat {
    Heartbeat {
        queue_depth: 0,
        oldest_queued_at: None,
        last_upload_at: None,
        camera_state: CameraState::Ok,
        model_version: None,
        model_sha256: None,
        model_error: None,
    }
}

/// A valid visit captured `ago` before `now`.
pub fn visit_at(captured_at: DateTime<Utc>, passed: bool) -> NewVisit {
    NewVisit {
        id: Uuid::new_v4(),
        captured_at,
        passed,
        mask_score: if passed { 0.93 } else { 0.12 },
        model: "maskgate-cnn@1.0.0".into(),
        device: None,
        decision_ms: Some(240),
    }
}

/// A valid visit captured `ago` before the app's clock.
pub fn visit(app: &TestApp, ago: Duration, passed: bool) -> NewVisit {
    visit_at(app.now() - ago, passed)
}

/// The error code of a JSON error body.
pub fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

/// Declares async tests that run once per backend: `name::sqlite`, `name::postgres`,
/// `name::mysql`.
#[macro_export]
macro_rules! backend_tests {
    ($(
        $(#[$meta:meta])*
        async fn $name:ident($app:ident) $body:block
    )*) => {$(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use $crate::helpers::{Backend, TestApp, run};

            async fn body($app: TestApp) -> TestApp $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { run(Backend::Sqlite, body).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { run(Backend::Postgres, body).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql() { run(Backend::MySql, body).await }
        }
    )*};
}

/// Like [`backend_tests!`], with the server's settings changed before it starts:
/// `async fn name(app, |s| s.tz = chrono_tz::Asia::Seoul) { … }`.
#[macro_export]
macro_rules! backend_tests_with {
    ($(
        $(#[$meta:meta])*
        async fn $name:ident($app:ident, $configure:expr) $body:block
    )*) => {$(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use $crate::helpers::{Backend, TestApp, run_with};

            async fn body($app: TestApp) -> TestApp $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { run_with(Backend::Sqlite, $configure, body).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { run_with(Backend::Postgres, $configure, body).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql() { run_with(Backend::MySql, $configure, body).await }
        }
    )*};
}
