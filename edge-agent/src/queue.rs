//! The durable queue: every decision is written here (and fsync'd) before the door acts on
//! it or sends it. The uplink deletes a visit only after the server acknowledged it.

use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use maskgate_api_types::NewVisit;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Errors of the queue.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// SQLite failed (disk full, permissions, corruption).
    #[error("queue database: {0}")]
    Database(#[from] sqlx::Error),
    /// The queue's migrations failed.
    #[error("queue migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row could not be read back.
    #[error("corrupt queue row: {0}")]
    Corrupt(String),
    /// The queue's folder could not be created.
    #[error("cannot create the queue folder {path}: {source}")]
    Folder {
        /// The folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// What happened to a pushed visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Stored.
    Queued,
    /// Stored, and the oldest queued visit was dropped to make room: the queue was full.
    QueuedDroppingOldest,
    /// A visit with this id was queued already; nothing changed.
    Duplicate,
}

/// A visit waiting to be sent, with its place in the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    /// Queue order.
    pub seq: i64,
    /// The visit.
    pub visit: NewVisit,
}

/// The queue in an SQLite file.
#[derive(Debug, Clone)]
pub struct Queue {
    pool: SqlitePool,
    capacity: u64,
}

fn ts(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

impl Queue {
    /// Opens (creating) the queue at `path`, holding at most `capacity` visits. When full,
    /// the oldest visit is dropped for the newest, and the drop is counted and logged: a
    /// door that was offline for weeks keeps its most recent history.
    pub async fn open(path: &Path, capacity: u64) -> Result<Self, QueueError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| QueueError::Folder {
                path: parent.display().to_string(),
                source,
            })?;
        }
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // A decision must survive a power cut the moment it is written.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self {
            pool,
            capacity: capacity.max(1),
        })
    }

    /// Appends a visit, durably.
    pub async fn push(&self, visit: &NewVisit) -> Result<Pushed, QueueError> {
        let body = serde_json::to_string(visit).map_err(|e| QueueError::Corrupt(e.to_string()))?;
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO queued_visits (id, captured_at, body) VALUES (?, ?, ?) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(visit.id.to_string())
        .bind(ts(visit.captured_at))
        .bind(body)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            return Ok(Pushed::Duplicate);
        }
        let depth: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM queued_visits")
            .fetch_one(&mut *tx)
            .await?;
        let over = depth - self.capacity as i64;
        let outcome = if over > 0 {
            sqlx::query(
                "DELETE FROM queued_visits WHERE seq IN \
                 (SELECT seq FROM queued_visits ORDER BY seq LIMIT ?)",
            )
            .bind(over)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE queue_counters SET value = value + ? WHERE name = 'dropped_when_full'",
            )
            .bind(over)
            .execute(&mut *tx)
            .await?;
            Pushed::QueuedDroppingOldest
        } else {
            Pushed::Queued
        };
        tx.commit().await?;
        if outcome == Pushed::QueuedDroppingOldest {
            tracing::warn!(
                capacity = self.capacity,
                "the visit queue is full: dropped the oldest visit to keep the newest"
            );
        }
        Ok(outcome)
    }

    /// The oldest `limit` visits, in queue order.
    pub async fn peek(&self, limit: u32) -> Result<Vec<Queued>, QueueError> {
        sqlx::query("SELECT seq, body FROM queued_visits ORDER BY seq LIMIT ?")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let body: String = row.try_get("body")?;
                let visit = serde_json::from_str(&body)
                    .map_err(|e| QueueError::Corrupt(format!("visit body: {e}")))?;
                Ok(Queued {
                    seq: row.try_get("seq")?,
                    visit,
                })
            })
            .collect()
    }

    /// Deletes visits the server acknowledged.
    pub async fn remove(&self, seqs: &[i64]) -> Result<(), QueueError> {
        let mut tx = self.pool.begin().await?;
        for seq in seqs {
            sqlx::query("DELETE FROM queued_visits WHERE seq = ?")
                .bind(seq)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Moves a visit the server refused as invalid out of the queue, keeping it and the
    /// reason for a person to look at.
    pub async fn reject(&self, queued: &Queued, reason: &str) -> Result<(), QueueError> {
        let body =
            serde_json::to_string(&queued.visit).map_err(|e| QueueError::Corrupt(e.to_string()))?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO rejected_visits (id, body, reason, rejected_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(queued.visit.id.to_string())
        .bind(body)
        .bind(reason)
        .bind(ts(Utc::now()))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM queued_visits WHERE seq = ?")
            .bind(queued.seq)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Visits waiting.
    pub async fn depth(&self) -> Result<u64, QueueError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM queued_visits")
            .fetch_one(&self.pool)
            .await?;
        Ok(n.max(0) as u64)
    }

    /// When the oldest waiting visit was captured.
    pub async fn oldest_captured_at(&self) -> Result<Option<DateTime<Utc>>, QueueError> {
        let oldest: Option<String> =
            sqlx::query_scalar("SELECT MIN(captured_at) FROM queued_visits")
                .fetch_one(&self.pool)
                .await?;
        oldest
            .map(|s| {
                DateTime::parse_from_rfc3339(&s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| QueueError::Corrupt(format!("captured_at: {e}")))
            })
            .transpose()
    }

    /// Visits dropped because the queue was full, since the queue was created.
    pub async fn dropped_when_full(&self) -> Result<u64, QueueError> {
        let n: i64 =
            sqlx::query_scalar("SELECT value FROM queue_counters WHERE name = 'dropped_when_full'")
                .fetch_one(&self.pool)
                .await?;
        Ok(n.max(0) as u64)
    }

    /// Visits the server refused, newest first: `(id, reason)`.
    pub async fn rejected(&self) -> Result<Vec<(String, String)>, QueueError> {
        Ok(
            sqlx::query_as("SELECT id, reason FROM rejected_visits ORDER BY rejected_at DESC")
                .fetch_all(&self.pool)
                .await?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn visit(minute: i64) -> NewVisit {
        NewVisit {
            id: Uuid::new_v4(),
            captured_at: Utc::now() - chrono::Duration::minutes(100 - minute),
            passed: minute % 2 == 0,
            mask_score: 0.5,
            model: "m@1".into(),
            device: None,
            decision_ms: Some(200),
        }
    }

    fn temp_path() -> std::path::PathBuf {
        std::env::temp_dir()
            .join(format!("mg-queue-{}", Uuid::new_v4().simple()))
            .join("queue.db")
    }

    #[tokio::test]
    async fn visits_survive_reopening_in_order_and_leave_only_when_removed() {
        let path = temp_path();
        let queue = Queue::open(&path, 100).await.unwrap();
        let visits: Vec<_> = (0..5).map(visit).collect();
        for v in &visits {
            assert_eq!(queue.push(v).await.unwrap(), Pushed::Queued);
        }
        assert_eq!(queue.push(&visits[0]).await.unwrap(), Pushed::Duplicate);
        drop(queue);
        let queue = Queue::open(&path, 100).await.unwrap();
        let waiting = queue.peek(10).await.unwrap();
        assert_eq!(
            waiting.iter().map(|q| q.visit.clone()).collect::<Vec<_>>(),
            visits
        );
        assert_eq!(
            queue
                .oldest_captured_at()
                .await
                .unwrap()
                .map(|t| t.timestamp()),
            Some(visits[0].captured_at.timestamp())
        );
        queue
            .remove(&[waiting[0].seq, waiting[1].seq])
            .await
            .unwrap();
        assert_eq!(queue.depth().await.unwrap(), 3);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[tokio::test]
    async fn a_full_queue_drops_the_oldest_and_counts_it() {
        let path = temp_path();
        let queue = Queue::open(&path, 3).await.unwrap();
        let visits: Vec<_> = (0..5).map(visit).collect();
        let outcomes: Vec<_> = {
            let mut o = Vec::new();
            for v in &visits {
                o.push(queue.push(v).await.unwrap());
            }
            o
        };
        assert_eq!(outcomes[2], Pushed::Queued);
        assert_eq!(outcomes[3], Pushed::QueuedDroppingOldest);
        let ids: Vec<_> = queue
            .peek(10)
            .await
            .unwrap()
            .into_iter()
            .map(|q| q.visit.id)
            .collect();
        assert_eq!(ids, visits[2..].iter().map(|v| v.id).collect::<Vec<_>>());
        assert_eq!(queue.dropped_when_full().await.unwrap(), 2);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[tokio::test]
    async fn a_rejected_visit_leaves_the_queue_with_its_reason() {
        let path = temp_path();
        let queue = Queue::open(&path, 10).await.unwrap();
        queue.push(&visit(1)).await.unwrap();
        let q = queue.peek(1).await.unwrap().remove(0);
        queue
            .reject(&q, "mask_score must be between 0 and 1")
            .await
            .unwrap();
        assert_eq!(queue.depth().await.unwrap(), 0);
        assert_eq!(
            queue.rejected().await.unwrap(),
            vec![(
                q.visit.id.to_string(),
                "mask_score must be between 0 and 1".to_string()
            )]
        );
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
