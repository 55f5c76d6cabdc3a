//! The servers under test, started in this process: the real MaskGate app and a bare axum
//! baseline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum::routing::post;
use maskgate_api::clock::SystemClock;
use maskgate_api::db::Store;
use maskgate_api::{AppState, Settings};
use maskgate_api_types::VisitBatch;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server running on 127.0.0.1 in this process.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The app's state (the real server's; a default one for the baseline), for transports
    /// started beside HTTP.
    pub state: Option<AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// The absolute URL of a path on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Stops the server and waits (up to 10 s) for it to finish.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            // The server may have ended already; then there is no one to tell.
            let _ = stop.send(());
        }
        match tokio::time::timeout(Duration::from_secs(10), &mut self.task).await {
            Ok(joined) => joined
                .context("server task panicked")?
                .context("server failed"),
            Err(_) => {
                self.task.abort();
                Ok(())
            }
        }
    }
}

/// Starts the real MaskGate app (default settings, system clock) over `store`.
pub async fn start_maskgate(store: Arc<dyn Store>) -> Result<Running> {
    let state = AppState::new(store, Settings::default(), Arc::new(SystemClock));
    let app_state = state.clone();
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("bind 127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(maskgate_api::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Ok(Running {
        addr,
        state: Some(app_state),
        stop: Some(stop),
        task,
    })
}

/// The baseline handler: parses the same body as `POST /api/v1/visits`, stores nothing and
/// answers a fixed small JSON.
async fn bare(axum::Json(batch): axum::Json<VisitBatch>) -> axum::Json<serde_json::Value> {
    drop(batch);
    axum::Json(serde_json::json!({"accepted": 1, "duplicates": 0}))
}

/// Starts a bare axum server with one route, `POST /bare`.
pub async fn start_bare() -> Result<Running> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("bind 127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let app = Router::new().route("/bare", post(bare));
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    Ok(Running {
        addr,
        state: None,
        stop: Some(stop),
        task,
    })
}
