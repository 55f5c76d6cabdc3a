-- The door's durable queue of decided visits, waiting for the server's acknowledgement.
CREATE TABLE queued_visits (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,     -- the visit's UUID, made here
    captured_at TEXT NOT NULL,            -- RFC 3339 UTC, fixed width
    body        TEXT NOT NULL             -- the visit as the server's JSON
);

-- Visits the server refused as invalid (422), kept for a person to look at instead of
-- blocking the queue or being thrown away silently.
CREATE TABLE rejected_visits (
    id          TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    rejected_at TEXT NOT NULL
);

-- Counters that survive restarts: visits dropped because the queue was full.
CREATE TABLE queue_counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO queue_counters (name, value) VALUES ('dropped_when_full', 0);
