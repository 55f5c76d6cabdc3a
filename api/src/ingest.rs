//! Group commit for visits.
//!
//! Every acknowledged visit must be durable (the door deletes it from its queue), so each
//! commit waits for an fsync. Committing each request on its own would cap the server at a
//! few hundred requests per second on SQLite. Instead, requests hand their visits to a
//! writer task that takes everything waiting, stores it in one transaction, and then
//! answers each request: under load, many requests share one fsync; when idle, a request is
//! committed at once.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use maskgate_api_types::NewVisit;
use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::db::{DeviceVisits, Store, StoreError};

/// The most visits one group commit takes in.
const MAX_VISITS_PER_COMMIT: usize = 5_000;

/// Visits of one request waiting to be stored.
struct Job {
    device_id: i64,
    visits: Vec<NewVisit>,
    reply: oneshot::Sender<Result<Stored, StoreError>>,
}

/// The outcome of one request's visits.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// Per visit: `true` if stored now, `false` if its id was stored already.
    pub stored: Vec<bool>,
    /// The `received_at` recorded for the stored visits.
    pub received_at: DateTime<Utc>,
    /// The submitted visits, handed back.
    pub visits: Vec<NewVisit>,
}

/// Errors of [`Ingest::submit`].
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The writer tasks are gone (the server is shutting down).
    #[error("the visit writer has stopped")]
    Stopped,
}

/// The handle requests submit visits through.
#[derive(Clone)]
pub struct Ingest {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest").finish_non_exhaustive()
    }
}

impl Ingest {
    /// Starts the writer task on the current tokio runtime. One writer per server: a group
    /// locks device and slot rows in the order its requests arrived, so two writers could
    /// lock the same rows in opposite orders and deadlock (seen on PostgreSQL under load);
    /// one writer with large groups is as fast and cannot.
    pub fn start(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        let (jobs, receiver) = mpsc::channel::<Job>(1024);
        tokio::spawn(writer(store, clock, receiver));
        Self { jobs }
    }

    /// Stores one device's visits (distinct ids) and waits until they are committed.
    pub async fn submit(
        &self,
        device_id: i64,
        visits: Vec<NewVisit>,
    ) -> Result<Stored, IngestError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job {
                device_id,
                visits,
                reply,
            })
            .await
            .map_err(|_| IngestError::Stopped)?;
        Ok(answer.await.map_err(|_| IngestError::Stopped)??)
    }
}

async fn writer(store: Arc<dyn Store>, clock: Arc<dyn Clock>, mut receiver: mpsc::Receiver<Job>) {
    loop {
        let mut jobs = Vec::new();
        {
            // Everything that waits goes into this commit.
            let Some(first) = receiver.recv().await else {
                return;
            };
            let mut count = first.visits.len();
            jobs.push(first);
            while count < MAX_VISITS_PER_COMMIT {
                match receiver.try_recv() {
                    Ok(job) => {
                        count += job.visits.len();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
        }
        commit(store.as_ref(), clock.as_ref(), jobs).await;
    }
}

async fn commit(store: &dyn Store, clock: &dyn Clock, jobs: Vec<Job>) {
    let received_at = clock.now();
    let batches: Vec<DeviceVisits<'_>> = jobs
        .iter()
        .map(|job| DeviceVisits {
            device_id: job.device_id,
            visits: &job.visits,
        })
        .collect();
    match store.insert_visit_batches(&batches, received_at).await {
        Ok(results) => {
            for (job, stored) in jobs.into_iter().zip(results) {
                let _ = job.reply.send(Ok(Stored {
                    stored,
                    received_at,
                    visits: job.visits,
                }));
            }
        }
        Err(err) if jobs.len() == 1 => {
            if let Some(job) = jobs.into_iter().next() {
                let _ = job.reply.send(Err(err));
            }
        }
        Err(err) => {
            // One request must not fail the others: store each on its own.
            tracing::warn!(error = %err, jobs = jobs.len(), "group commit failed; retrying one by one");
            for job in jobs {
                let result = store
                    .insert_visits(job.device_id, &job.visits, received_at)
                    .await
                    .map(|stored| Stored {
                        stored,
                        received_at,
                        visits: job.visits,
                    });
                let _ = job.reply.send(result);
            }
        }
    }
}
