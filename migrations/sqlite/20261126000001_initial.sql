-- MaskGate schema, SQLite. Timestamps are UTC, stored as RFC 3339 text with six fractional
-- digits and a `Z`, so text order is time order.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    created_at    TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Failed logins, keyed by `user:<name>` or `ip:<address>`, for rate limiting that holds
-- across several api instances.
CREATE TABLE login_failures (
    subject   TEXT NOT NULL,
    failed_at TEXT NOT NULL
);
CREATE INDEX login_failures_by_subject ON login_failures (subject, failed_at);

CREATE TABLE devices (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT NOT NULL UNIQUE,
    token_hash       TEXT NOT NULL UNIQUE,
    created_at       TEXT NOT NULL,
    last_seen_at     TEXT,
    reported_at      TEXT,
    queue_depth      INTEGER,
    oldest_queued_at TEXT,
    last_upload_at   TEXT,
    camera_state     TEXT,
    model_version    TEXT
);

CREATE TABLE visits (
    id          TEXT PRIMARY KEY,          -- UUID made on the device
    device_id   INTEGER NOT NULL REFERENCES devices (id),
    captured_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    passed      INTEGER NOT NULL CHECK (passed IN (0, 1)),
    mask_score  REAL NOT NULL CHECK (mask_score >= 0 AND mask_score <= 1),
    model       TEXT NOT NULL,
    decision_ms INTEGER
);
-- History: newest first, keyset (captured_at, id), optionally for one device.
CREATE INDEX visits_by_time ON visits (captured_at DESC, id DESC);
CREATE INDEX visits_by_device_time ON visits (device_id, captured_at DESC, id DESC);

-- Pass/fail counts per device and UTC 15-minute slot (unix seconds), kept in step with
-- `visits` in the same transaction. Every real time zone's offset is a multiple of 15
-- minutes, so local hours and days are sums of whole slots, and stats never scan `visits`.
CREATE TABLE visit_slots (
    slot_start INTEGER NOT NULL,
    device_id  INTEGER NOT NULL REFERENCES devices (id),
    passed     INTEGER NOT NULL DEFAULT 0,
    failed     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (slot_start, device_id)
) WITHOUT ROWID;
-- Stats for one door read its slots without scanning the other doors'.
CREATE INDEX visit_slots_by_device ON visit_slots (device_id, slot_start);

-- The original design's table shape, for anyone who queried it.
CREATE VIEW history (id, ispass, visited) AS
    SELECT id, passed, captured_at FROM visits;
