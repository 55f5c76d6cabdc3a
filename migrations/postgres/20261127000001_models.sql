-- The model registry: uploaded classifiers, which door should run which, and which each ran.
-- ONNX files live in their own table, keyed by hash, so listing models never reads them.
CREATE TABLE model_files (
    sha256  TEXT PRIMARY KEY,
    content BYTEA NOT NULL
);

CREATE TABLE models (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,
    sha256      TEXT NOT NULL REFERENCES model_files (sha256),
    size_bytes  BIGINT NOT NULL,
    manifest    TEXT NOT NULL,
    uploaded_at TIMESTAMPTZ NOT NULL,
    uploaded_by TEXT NOT NULL,
    UNIQUE (name, version)
);

-- NULL: the door runs the model it was installed with.
ALTER TABLE devices ADD COLUMN assigned_model_id BIGINT REFERENCES models (id);
ALTER TABLE devices ADD COLUMN model_sha256 TEXT;
ALTER TABLE devices ADD COLUMN model_error TEXT;

CREATE TABLE model_assignments (
    id                BIGSERIAL PRIMARY KEY,
    device_id         BIGINT NOT NULL REFERENCES devices (id),
    model_id          BIGINT REFERENCES models (id),
    previous_model_id BIGINT REFERENCES models (id),
    action            TEXT NOT NULL CHECK (action IN ('assign', 'rollback')),
    assigned_at       TIMESTAMPTZ NOT NULL,
    assigned_by       TEXT NOT NULL
);
CREATE INDEX model_assignments_by_device ON model_assignments (device_id, id);

-- A row per change of the model a door reports in its heartbeats.
CREATE TABLE model_runs (
    id         BIGSERIAL PRIMARY KEY,
    device_id  BIGINT NOT NULL REFERENCES devices (id),
    model      TEXT NOT NULL,
    sha256     TEXT,
    started_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX model_runs_by_device ON model_runs (device_id, id);
