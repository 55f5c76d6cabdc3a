-- Alerts, the channels they go out on, and every delivery attempt.

-- Since when a door's camera has been in its current state, and since when its queue has
-- kept growing: blind-door rules ask "for how long", which the last heartbeat alone
-- cannot tell.
ALTER TABLE devices ADD COLUMN camera_since DATETIME(6) NULL;
ALTER TABLE devices ADD COLUMN queue_growing_since DATETIME(6) NULL;

-- One row per incident. `rule_id` is cleared when its rule is deleted; the name stays.
CREATE TABLE alerts (
    id           BIGINT AUTO_INCREMENT PRIMARY KEY,
    rule_id      BIGINT NULL,
    rule_name    VARCHAR(100) NOT NULL,
    kind         VARCHAR(40) NOT NULL,
    severity     VARCHAR(20) NOT NULL,
    device_id    BIGINT NULL,
    device       VARCHAR(64) NULL,
    message      TEXT NOT NULL,
    evidence     MEDIUMTEXT NOT NULL,
    fired_at     DATETIME(6) NOT NULL,
    acked_at     DATETIME(6) NULL,
    acked_by     VARCHAR(100) NULL,
    escalated_at DATETIME(6) NULL,
    resolved_at  DATETIME(6) NULL,
    INDEX alerts_by_rule (rule_id, device_id, fired_at),
    INDEX alerts_by_time (fired_at),
    INDEX alerts_unresolved (resolved_at),
    CONSTRAINT alerts_device FOREIGN KEY (device_id) REFERENCES devices (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Where alerts go. The channel as written (kind, URL, secret, …) is kept as JSON.
CREATE TABLE alert_channels (
    id         BIGINT AUTO_INCREMENT PRIMARY KEY,
    name       VARCHAR(100) NOT NULL UNIQUE,
    spec       MEDIUMTEXT NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Every attempt to send an alert or a digest to a channel.
CREATE TABLE alert_deliveries (
    id          BIGINT AUTO_INCREMENT PRIMARY KEY,
    alert_id    BIGINT NULL,
    channel     VARCHAR(100) NOT NULL,
    event       VARCHAR(20) NOT NULL,
    attempt     INT NOT NULL,
    ok          BOOLEAN NOT NULL,
    http_status INT NULL,
    error       TEXT NULL,
    at          DATETIME(6) NOT NULL,
    INDEX alert_deliveries_by_alert (alert_id, id),
    INDEX alert_deliveries_by_event (event, at),
    CONSTRAINT alert_deliveries_alert FOREIGN KEY (alert_id) REFERENCES alerts (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
