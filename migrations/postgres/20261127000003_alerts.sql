-- Alerts, the channels they go out on, and every delivery attempt.

-- Since when a door's camera has been in its current state, and since when its queue has
-- kept growing: blind-door rules ask "for how long", which the last heartbeat alone
-- cannot tell.
ALTER TABLE devices ADD COLUMN camera_since TIMESTAMPTZ;
ALTER TABLE devices ADD COLUMN queue_growing_since TIMESTAMPTZ;

-- One row per incident. `rule_id` is cleared when its rule is deleted; the name stays.
CREATE TABLE alerts (
    id           BIGSERIAL PRIMARY KEY,
    rule_id      BIGINT,
    rule_name    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    severity     TEXT NOT NULL,
    device_id    BIGINT REFERENCES devices (id),
    device       TEXT,
    message      TEXT NOT NULL,
    evidence     TEXT NOT NULL,
    fired_at     TIMESTAMPTZ NOT NULL,
    acked_at     TIMESTAMPTZ,
    acked_by     TEXT,
    escalated_at TIMESTAMPTZ,
    resolved_at  TIMESTAMPTZ
);
CREATE INDEX alerts_by_rule ON alerts (rule_id, device_id, fired_at);
CREATE INDEX alerts_by_time ON alerts (fired_at);
CREATE INDEX alerts_unresolved ON alerts (resolved_at);

-- Where alerts go. The channel as written (kind, URL, secret, …) is kept as JSON.
CREATE TABLE alert_channels (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    spec       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Every attempt to send an alert or a digest to a channel.
CREATE TABLE alert_deliveries (
    id          BIGSERIAL PRIMARY KEY,
    alert_id    BIGINT REFERENCES alerts (id),
    channel     TEXT NOT NULL,
    event       TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    ok          BOOLEAN NOT NULL,
    http_status INTEGER,
    error       TEXT,
    at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX alert_deliveries_by_alert ON alert_deliveries (alert_id, id);
CREATE INDEX alert_deliveries_by_event ON alert_deliveries (event, at);
