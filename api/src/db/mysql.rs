//! The MySQL / MariaDB backend (Amazon RDS and Aurora MySQL work unchanged).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use maskgate_api_types::{
    Alert, AlertChannelSpec, AlertDelivery, AlertRule, AlertRuleSpec, AlertState, AssignmentAction,
    Device, DeviceStatus, Heartbeat, Model, ModelAssignment, ModelRun, NewVisit, Role, Visit,
};
use sqlx::mysql::{MySqlConnection, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::{Connection, Executor, QueryBuilder, Row};
use uuid::Uuid;

use super::{
    AlertFilter, DeviceCount, DeviceVisits, ModelUsage, NewAlert, NewDelivery, NewModel, Position,
    SlotCount, Store, StoreError, StoredChannel, Trend, UserRecord, VisitFilter, channel_json,
    close_runs, conflict_as, devices_in_lock_order, link_status, lock_order, next_trend,
    parse_action, parse_camera_state, parse_channel, parse_event, parse_evidence, parse_manifest,
    parse_role, parse_severity, parse_spec, severity_str, spec_json, tally_slots,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/mysql");

/// Storage in a MySQL database.
#[derive(Debug, Clone)]
pub struct MySqlStore {
    pool: MySqlPool,
}

/// How long a released connection may take to roll back and answer before it is dropped.
const RELEASE_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Ends any transaction a released connection is still in, and checks that its reading
/// of the protocol is in step with the server's.
///
/// sqlx's MySQL driver is not cancel-safe: a task cancelled while a statement was being
/// prepared, or between a packet's header and body, leaves answers unread that the next
/// command takes for its own. It then waits for packets that never come (holding its
/// transaction's row locks for good) or reads someone else's result. So the ROLLBACK goes
/// with a `SELECT` of a number never used before: only a connection that reads that number
/// back within [`RELEASE_CHECK_TIMEOUT`] is pooled again; any other is closed, which makes
/// the server roll back whatever it held.
async fn roll_back_in_step(conn: &mut MySqlConnection) -> Result<(), sqlx::Error> {
    static NEXT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);
    let nonce = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let sql = format!("ROLLBACK; SELECT {nonce}");
    let answer = tokio::time::timeout(RELEASE_CHECK_TIMEOUT, conn.fetch_all(sql.as_str()))
        .await
        .map_err(|_| {
            sqlx::Error::Protocol(format!(
                "a released connection did not answer within {RELEASE_CHECK_TIMEOUT:?}"
            ))
        })??;
    match answer.as_slice() {
        [row] if row.try_get::<i64, _>(0)? == nonce => Ok(()),
        _ => Err(sqlx::Error::Protocol(
            "a released connection read an answer meant for an earlier command".into(),
        )),
    }
}

impl MySqlStore {
    /// Connects to the MySQL database at `url` and runs migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = MySqlPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(std::time::Duration::from_secs(10))
            // A task cancelled while its BEGIN was in flight returns its connection inside
            // a transaction sqlx does not know of (its depth is raised only after the
            // answer), whose row locks then stall every later write to those rows; see
            // `roll_back_in_step`. A connection sqlx itself still counts as in a
            // transaction is closed.
            .after_release(|conn, _| {
                Box::pin(async move {
                    if conn.is_in_transaction() {
                        return Ok(false);
                    }
                    roll_back_in_step(conn).await?;
                    Ok(true)
                })
            })
            .connect(url)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// The connection pool, for tools such as the bench generator.
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// Inserts one device's visits inside `tx`, whose device row is locked already; see
    /// [`Store::insert_visit_batches`].
    async fn insert_batch(
        tx: &mut sqlx::Transaction<'_, sqlx::MySql>,
        device_id: i64,
        visits: &[NewVisit],
        received_at: DateTime<Utc>,
    ) -> Result<Vec<bool>, StoreError> {
        let mut stored = Vec::with_capacity(visits.len());
        for visit in visits {
            // IGNORE skips a row whose id is stored already; `rows_affected` tells which.
            let done = sqlx::query(
                "INSERT IGNORE INTO visits (id, device_id, captured_at, received_at, passed, \
                 mask_score, model, decision_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(visit.id.hyphenated().to_string())
            .bind(device_id)
            .bind(visit.captured_at)
            .bind(received_at)
            .bind(visit.passed)
            .bind(visit.mask_score)
            .bind(&visit.model)
            .bind(visit.decision_ms)
            .execute(&mut **tx)
            .await?;
            stored.push(done.rows_affected() == 1);
        }
        for (slot, passed, failed) in tally_slots(visits, &stored) {
            sqlx::query(
                "INSERT INTO visit_slots (slot_start, device_id, passed, failed) \
                 VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE \
                 passed = passed + VALUES(passed), failed = failed + VALUES(failed)",
            )
            .bind(slot)
            .bind(device_id)
            .bind(passed)
            .bind(failed)
            .execute(&mut **tx)
            .await?;
        }
        Ok(stored)
    }

    async fn fetch_device(&self, id: i64) -> Result<Device, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?"
        ))
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        device_from_row(&row)
    }
}

const DEVICE_COLUMNS: &str = "id, name, created_at, last_seen_at, reported_at, queue_depth, \
     oldest_queued_at, last_upload_at, camera_state, model_version, model_sha256, model_error, \
     assigned_model_id, camera_since, queue_growing_since, link_status, link_status_at";

const RULE_COLUMNS: &str = "id, spec, created_by, created_at, updated_at";

fn rule_from_row(row: &MySqlRow) -> Result<AlertRule, StoreError> {
    Ok(AlertRule {
        id: row.try_get("id")?,
        spec: parse_spec(&row.try_get::<String, _>("spec")?)?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const ALERT_COLUMNS: &str = "id, rule_id, rule_name, kind, severity, device, message, \
     evidence, fired_at, acked_at, acked_by, escalated_at, resolved_at";

fn alert_from_row(row: &MySqlRow) -> Result<Alert, StoreError> {
    Ok(Alert {
        id: row.try_get("id")?,
        rule_id: row.try_get("rule_id")?,
        rule_name: row.try_get("rule_name")?,
        kind: row.try_get("kind")?,
        severity: parse_severity(&row.try_get::<String, _>("severity")?)?,
        device: row.try_get("device")?,
        message: row.try_get("message")?,
        evidence: parse_evidence(&row.try_get::<String, _>("evidence")?)?,
        fired_at: row.try_get("fired_at")?,
        acked_at: row.try_get("acked_at")?,
        acked_by: row.try_get("acked_by")?,
        escalated_at: row.try_get("escalated_at")?,
        resolved_at: row.try_get("resolved_at")?,
    })
}

const CHANNEL_COLUMNS: &str = "id, spec, created_at, updated_at";

fn channel_from_row(row: &MySqlRow) -> Result<StoredChannel, StoreError> {
    Ok(StoredChannel {
        id: row.try_get("id")?,
        spec: parse_channel(&row.try_get::<String, _>("spec")?)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn delivery_from_row(row: &MySqlRow) -> Result<AlertDelivery, StoreError> {
    // `attempt` and `http_status` are INT.
    let attempt: i32 = row.try_get("attempt")?;
    let status: Option<i32> = row.try_get("http_status")?;
    Ok(AlertDelivery {
        id: row.try_get("id")?,
        alert_id: row.try_get("alert_id")?,
        channel: row.try_get("channel")?,
        event: parse_event(&row.try_get::<String, _>("event")?)?,
        attempt: attempt.max(0) as u32,
        ok: row.try_get("ok")?,
        http_status: status.and_then(|s| u16::try_from(s).ok()),
        error: row.try_get("error")?,
        at: row.try_get("at")?,
    })
}

const MODEL_COLUMNS: &str =
    "id, name, version, sha256, size_bytes, manifest, uploaded_at, uploaded_by";

fn model_from_row(row: &MySqlRow) -> Result<Model, StoreError> {
    let size: i64 = row.try_get("size_bytes")?;
    Ok(Model {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        version: row.try_get("version")?,
        sha256: row.try_get("sha256")?,
        size_bytes: size.max(0) as u64,
        uploaded_at: row.try_get("uploaded_at")?,
        uploaded_by: row.try_get("uploaded_by")?,
        manifest: parse_manifest(&row.try_get::<String, _>("manifest")?)?,
    })
}

fn device_from_row(row: &MySqlRow) -> Result<Device, StoreError> {
    let reported_at: Option<DateTime<Utc>> = row.try_get("reported_at")?;
    let status = match reported_at {
        Some(reported_at) => {
            let camera_state: String = row.try_get("camera_state")?;
            let queue_depth: i64 = row.try_get("queue_depth")?;
            Some(DeviceStatus {
                reported_at,
                queue_depth: queue_depth.max(0) as u64,
                oldest_queued_at: row.try_get("oldest_queued_at")?,
                last_upload_at: row.try_get("last_upload_at")?,
                camera_state: parse_camera_state(&camera_state)?,
                model_version: row.try_get("model_version")?,
                model_sha256: row.try_get("model_sha256")?,
                model_error: row.try_get("model_error")?,
                camera_since: row.try_get("camera_since")?,
                queue_growing_since: row.try_get("queue_growing_since")?,
            })
        }
        None => None,
    };
    Ok(Device {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        status,
        assigned_model_id: row.try_get("assigned_model_id")?,
        link: link_status(row.try_get("link_status")?, row.try_get("link_status_at")?),
    })
}

fn user_from_row(row: &MySqlRow) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
        role: parse_role(&row.try_get::<String, _>("role")?)?,
    })
}

fn visit_from_row(row: &MySqlRow) -> Result<Visit, StoreError> {
    let id: String = row.try_get("id")?;
    Ok(Visit {
        id: Uuid::parse_str(&id).map_err(|e| StoreError::Corrupt(format!("visit id: {e}")))?,
        device: row.try_get("device")?,
        captured_at: row.try_get("captured_at")?,
        received_at: row.try_get("received_at")?,
        passed: row.try_get("passed")?,
        mask_score: row.try_get("mask_score")?,
        model: row.try_get("model")?,
        decision_ms: row.try_get("decision_ms")?,
    })
}

#[async_trait]
impl Store for MySqlStore {
    fn backend(&self) -> &'static str {
        "mysql"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<UserRecord, StoreError> {
        let done = sqlx::query(
            "INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(username)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(conflict_as(format!("user `{username}`")))?;
        let row = sqlx::query("SELECT id, username, password_hash, role FROM users WHERE id = ?")
            .bind(done.last_insert_id() as i64)
            .fetch_one(&self.pool)
            .await?;
        user_from_row(&row)
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        sqlx::query("SELECT id, username, password_hash, role FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at < ?")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session_user(
        &self,
        token_hash: &str,
    ) -> Result<Option<(UserRecord, DateTime<Utc>)>, StoreError> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.password_hash, u.role, s.expires_at \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| Ok((user_from_row(&row)?, row.try_get("expires_at")?)))
            .transpose()
    }

    async fn record_login_failure(
        &self,
        subject: &str,
        at: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM login_failures WHERE subject = ? AND failed_at < ?")
            .bind(subject)
            .bind(forget_before)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO login_failures (subject, failed_at) VALUES (?, ?)")
            .bind(subject)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn login_failures_since(
        &self,
        subject: &str,
        since: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM login_failures WHERE subject = ? AND failed_at >= ?",
        )
        .bind(subject)
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        Ok(count.max(0) as u64)
    }

    async fn create_device(
        &self,
        name: &str,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Device, StoreError> {
        let done =
            sqlx::query("INSERT INTO devices (name, token_hash, created_at) VALUES (?, ?, ?)")
                .bind(name)
                .bind(token_hash)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(conflict_as(format!("device `{name}`")))?;
        self.fetch_device(done.last_insert_id() as i64).await
    }

    async fn device_by_token(&self, token_hash: &str) -> Result<Option<Device>, StoreError> {
        sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE token_hash = ?"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(device_from_row)
        .transpose()
    }

    async fn list_devices(&self) -> Result<Vec<Device>, StoreError> {
        sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(device_from_row)
        .collect()
    }

    async fn record_heartbeat(
        &self,
        device_id: i64,
        heartbeat: &Heartbeat,
        now: DateTime<Utc>,
    ) -> Result<Device, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT model_version, camera_state, camera_since, queue_depth, \
             queue_growing_since FROM devices WHERE id = ? FOR UPDATE",
        )
        .bind(device_id)
        .fetch_one(&mut *tx)
        .await?;
        let before: Option<String> = row.try_get("model_version")?;
        let trend = Trend {
            camera_state: row.try_get("camera_state")?,
            camera_since: row.try_get("camera_since")?,
            queue_depth: row.try_get("queue_depth")?,
            queue_growing_since: row.try_get("queue_growing_since")?,
        };
        let (camera_since, growing_since) = next_trend(&trend, heartbeat, now);
        if let Some(model) = &heartbeat.model_version
            && before.as_ref() != Some(model)
        {
            sqlx::query(
                "INSERT INTO model_runs (device_id, model, sha256, started_at) VALUES (?, ?, ?, ?)",
            )
            .bind(device_id)
            .bind(model)
            .bind(heartbeat.model_sha256.as_deref())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE devices SET last_seen_at = ?, reported_at = ?, queue_depth = ?, \
             oldest_queued_at = ?, last_upload_at = ?, camera_state = ?, model_version = ?, \
             model_sha256 = ?, model_error = ?, camera_since = ?, queue_growing_since = ? \
             WHERE id = ?",
        )
        .bind(now)
        .bind(now)
        .bind(i64::try_from(heartbeat.queue_depth).unwrap_or(i64::MAX))
        .bind(heartbeat.oldest_queued_at)
        .bind(heartbeat.last_upload_at)
        .bind(heartbeat.camera_state.as_str())
        .bind(heartbeat.model_version.as_deref())
        .bind(heartbeat.model_sha256.as_deref())
        .bind(heartbeat.model_error.as_deref())
        .bind(camera_since)
        .bind(growing_since)
        .bind(device_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.fetch_device(device_id).await
    }

    async fn set_link_status(
        &self,
        device_id: i64,
        online: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let status = if online { "online" } else { "offline" };
        sqlx::query("UPDATE devices SET link_status = ?, link_status_at = ? WHERE id = ?")
            .bind(status)
            .bind(now)
            .bind(device_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn device_by_id(&self, id: i64) -> Result<Option<Device>, StoreError> {
        sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(device_from_row)
        .transpose()
    }

    async fn create_model(
        &self,
        model: &NewModel<'_>,
        now: DateTime<Utc>,
    ) -> Result<Model, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO model_files (sha256, content) VALUES (?, ?) \
             ON DUPLICATE KEY UPDATE sha256 = sha256",
        )
        .bind(model.sha256)
        .bind(model.content)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query(
            "INSERT INTO models (name, version, sha256, size_bytes, manifest, uploaded_at, \
             uploaded_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(model.name)
        .bind(model.version)
        .bind(model.sha256)
        .bind(model.content.len() as i64)
        .bind(model.manifest)
        .bind(now)
        .bind(model.uploaded_by)
        .execute(&mut *tx)
        .await
        .map_err(conflict_as(format!(
            "model `{}@{}`",
            model.name, model.version
        )))?;
        tx.commit().await?;
        self.model_by_id(done.last_insert_id() as i64)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a stored model vanished".into()))
    }

    async fn list_models(&self) -> Result<Vec<Model>, StoreError> {
        sqlx::query(&format!(
            "SELECT {MODEL_COLUMNS} FROM models ORDER BY id DESC"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(model_from_row)
        .collect()
    }

    async fn model_by_id(&self, id: i64) -> Result<Option<Model>, StoreError> {
        sqlx::query(&format!("SELECT {MODEL_COLUMNS} FROM models WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(model_from_row)
            .transpose()
    }

    async fn model_file(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT content FROM model_files WHERE sha256 = ?")
                .bind(sha256)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn assign_model(
        &self,
        device_ids: &[i64],
        model_id: Option<i64>,
        action: AssignmentAction,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<i64>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Rows are locked in id order, as a visit upload locks them; the answer keeps the
        // order asked.
        let mut previous = vec![None; device_ids.len()];
        for i in lock_order(device_ids) {
            let device_id = device_ids[i];
            let before: Option<i64> =
                sqlx::query_scalar("SELECT assigned_model_id FROM devices WHERE id = ? FOR UPDATE")
                    .bind(device_id)
                    .fetch_one(&mut *tx)
                    .await?;
            sqlx::query("UPDATE devices SET assigned_model_id = ? WHERE id = ?")
                .bind(model_id)
                .bind(device_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO model_assignments (device_id, model_id, previous_model_id, action, \
                 assigned_at, assigned_by) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(device_id)
            .bind(model_id)
            .bind(before)
            .bind(action.as_str())
            .bind(now)
            .bind(by)
            .execute(&mut *tx)
            .await?;
            previous[i] = before;
        }
        tx.commit().await?;
        Ok(previous)
    }

    async fn assignments(&self, device_id: i64) -> Result<Vec<ModelAssignment>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.device_id, d.name AS device, a.model_id, a.previous_model_id, a.action, \
             a.assigned_at, a.assigned_by FROM model_assignments a \
             JOIN devices d ON d.id = a.device_id WHERE a.device_id = ? ORDER BY a.id DESC",
        )
        .bind(device_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ModelAssignment {
                    device_id: row.try_get("device_id")?,
                    device: row.try_get("device")?,
                    model_id: row.try_get("model_id")?,
                    previous_model_id: row.try_get("previous_model_id")?,
                    action: parse_action(&row.try_get::<String, _>("action")?)?,
                    assigned_at: row.try_get("assigned_at")?,
                    assigned_by: row.try_get("assigned_by")?,
                })
            })
            .collect()
    }

    async fn model_runs(&self, device_id: i64) -> Result<Vec<ModelRun>, StoreError> {
        let rows = sqlx::query(
            "SELECT model, sha256, started_at FROM model_runs WHERE device_id = ? \
             ORDER BY id DESC",
        )
        .bind(device_id)
        .fetch_all(&self.pool)
        .await?;
        let runs = rows
            .iter()
            .map(|row| {
                Ok(ModelRun {
                    model: row.try_get("model")?,
                    sha256: row.try_get("sha256")?,
                    started_at: row.try_get("started_at")?,
                    ended_at: None,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(close_runs(runs))
    }

    async fn model_usage(&self, since: DateTime<Utc>) -> Result<Vec<ModelUsage>, StoreError> {
        let rows = sqlx::query(
            "SELECT device_id, model, COUNT(*) AS visits, CAST(SUM(passed) AS SIGNED) AS passed, \
             SUM(mask_score) AS score_sum FROM visits WHERE captured_at >= ? \
             GROUP BY device_id, model",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ModelUsage {
                    device_id: row.try_get("device_id")?,
                    model: row.try_get("model")?,
                    visits: row.try_get("visits")?,
                    passed: row.try_get("passed")?,
                    score_sum: row.try_get("score_sum")?,
                })
            })
            .collect()
    }

    async fn create_alert_rule(
        &self,
        spec: &AlertRuleSpec,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<AlertRule, StoreError> {
        let done = sqlx::query(
            "INSERT INTO alert_rules (name, spec, created_by, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&spec.name)
        .bind(spec_json(spec))
        .bind(by)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(conflict_as(format!("alert rule `{}`", spec.name)))?;
        self.alert_rule(done.last_insert_id() as i64)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a stored rule vanished".into()))
    }

    async fn list_alert_rules(&self) -> Result<Vec<AlertRule>, StoreError> {
        sqlx::query(&format!(
            "SELECT {RULE_COLUMNS} FROM alert_rules ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rule_from_row)
        .collect()
    }

    async fn alert_rule(&self, id: i64) -> Result<Option<AlertRule>, StoreError> {
        sqlx::query(&format!(
            "SELECT {RULE_COLUMNS} FROM alert_rules WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rule_from_row)
        .transpose()
    }

    async fn update_alert_rule(
        &self,
        id: i64,
        spec: &AlertRuleSpec,
        now: DateTime<Utc>,
    ) -> Result<Option<AlertRule>, StoreError> {
        // MySQL counts only changed rows (an update to the same values affects none), so
        // whether the rule exists is read back, not taken from the count.
        sqlx::query("UPDATE alert_rules SET name = ?, spec = ?, updated_at = ? WHERE id = ?")
            .bind(&spec.name)
            .bind(spec_json(spec))
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(conflict_as(format!("alert rule `{}`", spec.name)))?;
        self.alert_rule(id).await
    }

    async fn delete_alert_rule(&self, id: i64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE alerts SET rule_id = NULL WHERE rule_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM alert_rules WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn visit_counts_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<DeviceCount>, StoreError> {
        // SUM is DECIMAL in MySQL: cast to BIGINT.
        sqlx::query(
            "SELECT device_id, CAST(SUM(CASE WHEN passed THEN 1 ELSE 0 END) AS SIGNED) AS passed, \
             CAST(SUM(CASE WHEN passed THEN 0 ELSE 1 END) AS SIGNED) AS failed \
             FROM visits WHERE captured_at >= ? GROUP BY device_id",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(DeviceCount {
                device_id: row.try_get("device_id")?,
                passed: row.try_get("passed")?,
                failed: row.try_get("failed")?,
            })
        })
        .collect()
    }

    async fn failed_visits_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(i64, DateTime<Utc>)>, StoreError> {
        sqlx::query(
            "SELECT device_id, captured_at FROM visits \
             WHERE captured_at >= ? AND passed = 0 ORDER BY captured_at",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("device_id")?, row.try_get("captured_at")?)))
        .collect()
    }

    async fn insert_alert(&self, alert: &NewAlert<'_>) -> Result<Alert, StoreError> {
        let done = sqlx::query(
            "INSERT INTO alerts (rule_id, rule_name, kind, severity, device_id, device, \
             message, evidence, fired_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(alert.rule_id)
        .bind(alert.rule_name)
        .bind(alert.kind)
        .bind(severity_str(alert.severity))
        .bind(alert.device.map(|d| d.0))
        .bind(alert.device.map(|d| d.1))
        .bind(alert.message)
        .bind(alert.evidence.to_string())
        .bind(alert.fired_at)
        .execute(&self.pool)
        .await?;
        self.alert(done.last_insert_id() as i64)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a stored alert vanished".into()))
    }

    async fn alert(&self, id: i64) -> Result<Option<Alert>, StoreError> {
        sqlx::query(&format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(alert_from_row)
            .transpose()
    }

    async fn list_alerts(
        &self,
        filter: &AlertFilter,
        limit: u32,
    ) -> Result<Vec<Alert>, StoreError> {
        let mut q = QueryBuilder::new(format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE 1 = 1"));
        match filter.state {
            Some(AlertState::Open) => q.push(" AND resolved_at IS NULL AND acked_at IS NULL"),
            Some(AlertState::Acknowledged) => {
                q.push(" AND resolved_at IS NULL AND acked_at IS NOT NULL")
            }
            Some(AlertState::Resolved) => q.push(" AND resolved_at IS NOT NULL"),
            None => &mut q,
        };
        if let Some(device) = &filter.device {
            q.push(" AND device = ").push_bind(device.clone());
        }
        if let Some(rule) = filter.rule_id {
            q.push(" AND rule_id = ").push_bind(rule);
        }
        if let Some(severity) = filter.severity {
            q.push(" AND severity = ").push_bind(severity_str(severity));
        }
        if let Some(from) = filter.from {
            q.push(" AND fired_at >= ").push_bind(from);
        }
        if let Some(to) = filter.to {
            q.push(" AND fired_at < ").push_bind(to);
        }
        if let Some(before) = filter.before {
            q.push(" AND id < ").push_bind(before);
        }
        q.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(limit));
        q.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(alert_from_row)
            .collect()
    }

    async fn recent_alerts(&self, since: DateTime<Utc>) -> Result<Vec<Alert>, StoreError> {
        sqlx::query(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE fired_at >= ? \
             OR (resolved_at IS NULL AND kind <> 'failed_check') ORDER BY id"
        ))
        .bind(since)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(alert_from_row)
        .collect()
    }

    async fn ack_alert(
        &self,
        id: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Alert>, StoreError> {
        sqlx::query(
            "UPDATE alerts SET acked_at = ?, acked_by = ? WHERE id = ? AND acked_at IS NULL",
        )
        .bind(now)
        .bind(by)
        .bind(id)
        .execute(&self.pool)
        .await?;
        self.alert(id).await
    }

    async fn escalate_alert(&self, id: i64, now: DateTime<Utc>) -> Result<Alert, StoreError> {
        // No RETURNING: update, then read back (`RowNotFound` if there is no such alert).
        sqlx::query("UPDATE alerts SET escalated_at = ? WHERE id = ?")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        let row = sqlx::query(&format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?"))
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        alert_from_row(&row)
    }

    async fn resolve_alert(&self, id: i64, now: DateTime<Utc>) -> Result<Alert, StoreError> {
        // No RETURNING: update, then read back (`RowNotFound` if there is no such alert).
        sqlx::query("UPDATE alerts SET resolved_at = ? WHERE id = ?")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        let row = sqlx::query(&format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?"))
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        alert_from_row(&row)
    }

    async fn create_alert_channel(
        &self,
        spec: &AlertChannelSpec,
        now: DateTime<Utc>,
    ) -> Result<StoredChannel, StoreError> {
        let done = sqlx::query(
            "INSERT INTO alert_channels (name, spec, created_at, updated_at) VALUES (?, ?, ?, ?)",
        )
        .bind(&spec.name)
        .bind(channel_json(spec))
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(conflict_as(format!("alert channel `{}`", spec.name)))?;
        self.alert_channel(done.last_insert_id() as i64)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a stored channel vanished".into()))
    }

    async fn list_alert_channels(&self) -> Result<Vec<StoredChannel>, StoreError> {
        sqlx::query(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM alert_channels ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(channel_from_row)
        .collect()
    }

    async fn alert_channel(&self, id: i64) -> Result<Option<StoredChannel>, StoreError> {
        sqlx::query(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM alert_channels WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(channel_from_row)
        .transpose()
    }

    async fn update_alert_channel(
        &self,
        id: i64,
        spec: &AlertChannelSpec,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredChannel>, StoreError> {
        // MySQL counts only changed rows (an update to the same values affects none), so
        // whether the channel exists is read back, not taken from the count.
        sqlx::query("UPDATE alert_channels SET name = ?, spec = ?, updated_at = ? WHERE id = ?")
            .bind(&spec.name)
            .bind(channel_json(spec))
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(conflict_as(format!("alert channel `{}`", spec.name)))?;
        self.alert_channel(id).await
    }

    async fn delete_alert_channel(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM alert_channels WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn record_delivery(&self, d: &NewDelivery<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO alert_deliveries (alert_id, channel, event, attempt, ok, http_status, \
             error, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(d.alert_id)
        .bind(d.channel)
        .bind(d.event.as_str())
        .bind(i32::try_from(d.attempt).unwrap_or(i32::MAX))
        .bind(d.ok)
        .bind(d.http_status.map(i32::from))
        .bind(d.error)
        .bind(d.at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn deliveries(&self, alert_id: i64) -> Result<Vec<AlertDelivery>, StoreError> {
        sqlx::query(
            "SELECT id, alert_id, channel, event, attempt, ok, http_status, error, at \
             FROM alert_deliveries WHERE alert_id = ? ORDER BY id",
        )
        .bind(alert_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(delivery_from_row)
        .collect()
    }

    async fn last_digest_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT MAX(at) FROM alert_deliveries WHERE event = 'digest'")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn insert_visit_batches(
        &self,
        batches: &[DeviceVisits<'_>],
        received_at: DateTime<Utc>,
    ) -> Result<Vec<Vec<bool>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The doors' rows are marked seen first, in id order (as `assign_model` locks
        // them), just as a heartbeat locks its row before anything else. Marked last, the
        // shared lock each visit's foreign key takes on its door's row had to become
        // exclusive, and a heartbeat waiting in between made that a deadlock (MariaDB then
        // failed one of the two).
        let device_ids = devices_in_lock_order(batches);
        let mut seen = QueryBuilder::new("UPDATE devices SET last_seen_at = ");
        seen.push_bind(received_at).push(" WHERE id IN (");
        let mut ids = seen.separated(", ");
        for id in &device_ids {
            ids.push_bind(*id);
        }
        ids.push_unseparated(")");
        seen.build().execute(&mut *tx).await?;
        let mut stored = Vec::with_capacity(batches.len());
        for batch in batches {
            stored.push(
                Self::insert_batch(&mut tx, batch.device_id, batch.visits, received_at).await?,
            );
        }
        tx.commit().await?;
        Ok(stored)
    }

    async fn list_visits(
        &self,
        filter: &VisitFilter,
        after: Option<Position>,
        limit: u32,
    ) -> Result<Vec<Visit>, StoreError> {
        let mut q = QueryBuilder::new(
            "SELECT v.id, d.name AS device, v.captured_at, v.received_at, v.passed, \
             v.mask_score, v.model, v.decision_ms FROM visits v \
             JOIN devices d ON d.id = v.device_id WHERE 1 = 1",
        );
        if let Some(from) = filter.from {
            q.push(" AND v.captured_at >= ").push_bind(from);
        }
        if let Some(to) = filter.to {
            q.push(" AND v.captured_at < ").push_bind(to);
        }
        if let Some(device) = &filter.device {
            q.push(" AND v.device_id = (SELECT id FROM devices WHERE name = ")
                .push_bind(device.clone())
                .push(")");
        }
        if let Some(passed) = filter.passed {
            q.push(" AND v.passed = ").push_bind(passed);
        }
        if let Some(pos) = after {
            let id = pos.id.hyphenated().to_string();
            q.push(" AND (v.captured_at < ")
                .push_bind(pos.captured_at)
                .push(" OR (v.captured_at = ")
                .push_bind(pos.captured_at)
                .push(" AND v.id < ")
                .push_bind(id)
                .push("))");
        }
        q.push(" ORDER BY v.captured_at DESC, v.id DESC LIMIT ")
            .push_bind(i64::from(limit));
        q.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(visit_from_row)
            .collect()
    }

    async fn slot_counts(
        &self,
        from_slot: i64,
        to_slot: i64,
        device: Option<&str>,
    ) -> Result<Vec<SlotCount>, StoreError> {
        let mut q = QueryBuilder::new(
            "SELECT slot_start, CAST(SUM(passed) AS SIGNED) AS passed, \
             CAST(SUM(failed) AS SIGNED) AS failed \
             FROM visit_slots WHERE slot_start >= ",
        );
        q.push_bind(from_slot)
            .push(" AND slot_start < ")
            .push_bind(to_slot);
        if let Some(device) = device {
            q.push(" AND device_id = (SELECT id FROM devices WHERE name = ")
                .push_bind(device.to_owned())
                .push(")");
        }
        q.push(" GROUP BY slot_start ORDER BY slot_start");
        q.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(SlotCount {
                    slot_start: row.try_get("slot_start")?,
                    passed: row.try_get("passed")?,
                    failed: row.try_get("failed")?,
                })
            })
            .collect()
    }
}
