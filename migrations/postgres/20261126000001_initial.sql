-- MaskGate schema, PostgreSQL. Timestamps are timestamptz (UTC).
CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Failed logins, keyed by `user:<name>` or `ip:<address>`, for rate limiting that holds
-- across several api instances.
CREATE TABLE login_failures (
    subject   TEXT NOT NULL,
    failed_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_failures_by_subject ON login_failures (subject, failed_at);

CREATE TABLE devices (
    id               BIGSERIAL PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    token_hash       TEXT NOT NULL UNIQUE,
    created_at       TIMESTAMPTZ NOT NULL,
    last_seen_at     TIMESTAMPTZ,
    reported_at      TIMESTAMPTZ,
    queue_depth      BIGINT,
    oldest_queued_at TIMESTAMPTZ,
    last_upload_at   TIMESTAMPTZ,
    camera_state     TEXT,
    model_version    TEXT
);

CREATE TABLE visits (
    id          UUID PRIMARY KEY,          -- made on the device
    device_id   BIGINT NOT NULL REFERENCES devices (id),
    captured_at TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    passed      BOOLEAN NOT NULL,
    mask_score  DOUBLE PRECISION NOT NULL CHECK (mask_score >= 0 AND mask_score <= 1),
    model       TEXT NOT NULL,
    decision_ms INTEGER
);
-- History: newest first, keyset (captured_at, id), optionally for one device.
CREATE INDEX visits_by_time ON visits (captured_at DESC, id DESC);
CREATE INDEX visits_by_device_time ON visits (device_id, captured_at DESC, id DESC);

-- Pass/fail counts per device and UTC 15-minute slot (unix seconds), kept in step with
-- `visits` in the same transaction, so stats never scan `visits`.
CREATE TABLE visit_slots (
    slot_start BIGINT NOT NULL,
    device_id  BIGINT NOT NULL REFERENCES devices (id),
    passed     BIGINT NOT NULL DEFAULT 0,
    failed     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (slot_start, device_id)
);
-- Stats for one door read its slots without scanning the other doors'.
CREATE INDEX visit_slots_by_device ON visit_slots (device_id, slot_start);

-- The original design's table shape, for anyone who queried it.
CREATE VIEW history (id, ispass, visited) AS
    SELECT id, passed, captured_at FROM visits;
