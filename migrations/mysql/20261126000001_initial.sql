-- MaskGate schema, MySQL 8 / MariaDB 10.5+ (Amazon RDS and Aurora included).
-- Timestamps are DATETIME(6) in UTC (the server sets the session time zone to +00:00).
CREATE TABLE users (
    id            BIGINT AUTO_INCREMENT PRIMARY KEY,
    username      VARCHAR(64) NOT NULL UNIQUE,
    password_hash VARCHAR(255) NOT NULL,
    role          VARCHAR(16) NOT NULL CHECK (role IN ('admin', 'viewer')),
    created_at    DATETIME(6) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE sessions (
    token_hash CHAR(64) CHARACTER SET ascii PRIMARY KEY,
    user_id    BIGINT NOT NULL,
    created_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    INDEX sessions_by_expiry (expires_at),
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB;

-- Failed logins, keyed by `user:<name>` or `ip:<address>`, for rate limiting that holds
-- across several api instances.
CREATE TABLE login_failures (
    id        BIGINT AUTO_INCREMENT PRIMARY KEY,
    subject   VARCHAR(200) NOT NULL,
    failed_at DATETIME(6) NOT NULL,
    INDEX login_failures_by_subject (subject, failed_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE devices (
    id               BIGINT AUTO_INCREMENT PRIMARY KEY,
    name             VARCHAR(64) NOT NULL UNIQUE,
    token_hash       CHAR(64) CHARACTER SET ascii NOT NULL UNIQUE,
    created_at       DATETIME(6) NOT NULL,
    last_seen_at     DATETIME(6) NULL,
    reported_at      DATETIME(6) NULL,
    queue_depth      BIGINT NULL,
    oldest_queued_at DATETIME(6) NULL,
    last_upload_at   DATETIME(6) NULL,
    camera_state     VARCHAR(16) NULL,
    model_version    VARCHAR(128) NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- InnoDB clusters rows by primary key: an increasing `seq` keeps inserts at the end of the
-- tree, where random UUID keys would split pages all over it.
CREATE TABLE visits (
    seq         BIGINT AUTO_INCREMENT PRIMARY KEY,
    id          CHAR(36) CHARACTER SET ascii NOT NULL UNIQUE,
    device_id   BIGINT NOT NULL,
    captured_at DATETIME(6) NOT NULL,
    received_at DATETIME(6) NOT NULL,
    passed      BOOLEAN NOT NULL,
    mask_score  DOUBLE NOT NULL CHECK (mask_score >= 0 AND mask_score <= 1),
    model       VARCHAR(128) NOT NULL,
    decision_ms INT UNSIGNED NULL,
    INDEX visits_by_time (captured_at, id),
    INDEX visits_by_device_time (device_id, captured_at, id),
    FOREIGN KEY (device_id) REFERENCES devices (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Pass/fail counts per device and UTC 15-minute slot (unix seconds), kept in step with
-- `visits` in the same transaction, so stats never scan `visits`.
CREATE TABLE visit_slots (
    slot_start BIGINT NOT NULL,
    device_id  BIGINT NOT NULL,
    passed     BIGINT NOT NULL DEFAULT 0,
    failed     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (slot_start, device_id),
    FOREIGN KEY (device_id) REFERENCES devices (id)
) ENGINE = InnoDB;
-- Stats for one door read its slots without scanning the other doors'.
CREATE INDEX visit_slots_by_device ON visit_slots (device_id, slot_start);

-- The original design's table shape, for anyone who queried it.
CREATE VIEW history (id, ispass, visited) AS
    SELECT id, passed, captured_at FROM visits;
