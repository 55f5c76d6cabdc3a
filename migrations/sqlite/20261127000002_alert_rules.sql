-- Alert rules. The rule as written (condition, doors, quiet hours, cooldown, …) is kept as
-- JSON, so new rule options need no migration; the name is unique.
CREATE TABLE alert_rules (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL UNIQUE,
    spec       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
