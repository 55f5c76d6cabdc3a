-- The model registry: uploaded classifiers, which door should run which, and which each ran.
-- ONNX files live in their own table, keyed by hash, so listing models never reads them.
-- A file must fit in the server's max_allowed_packet (16 MiB by default in MariaDB 10.11).
CREATE TABLE model_files (
    sha256  CHAR(64) CHARACTER SET ascii PRIMARY KEY,
    content LONGBLOB NOT NULL
) ENGINE = InnoDB;

CREATE TABLE models (
    id          BIGINT AUTO_INCREMENT PRIMARY KEY,
    name        VARCHAR(64) NOT NULL,
    version     VARCHAR(63) NOT NULL,
    sha256      CHAR(64) CHARACTER SET ascii NOT NULL,
    size_bytes  BIGINT NOT NULL,
    manifest    MEDIUMTEXT NOT NULL,
    uploaded_at DATETIME(6) NOT NULL,
    uploaded_by VARCHAR(64) NOT NULL,
    UNIQUE KEY models_by_name (name, version),
    FOREIGN KEY (sha256) REFERENCES model_files (sha256)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- NULL: the door runs the model it was installed with.
ALTER TABLE devices
    ADD COLUMN assigned_model_id BIGINT NULL,
    ADD COLUMN model_sha256 CHAR(64) CHARACTER SET ascii NULL,
    ADD COLUMN model_error VARCHAR(1024) NULL,
    ADD FOREIGN KEY (assigned_model_id) REFERENCES models (id);

CREATE TABLE model_assignments (
    id                BIGINT AUTO_INCREMENT PRIMARY KEY,
    device_id         BIGINT NOT NULL,
    model_id          BIGINT NULL,
    previous_model_id BIGINT NULL,
    action            VARCHAR(16) NOT NULL CHECK (action IN ('assign', 'rollback')),
    assigned_at       DATETIME(6) NOT NULL,
    assigned_by       VARCHAR(64) NOT NULL,
    INDEX model_assignments_by_device (device_id, id),
    FOREIGN KEY (device_id) REFERENCES devices (id),
    FOREIGN KEY (model_id) REFERENCES models (id),
    FOREIGN KEY (previous_model_id) REFERENCES models (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- A row per change of the model a door reports in its heartbeats.
CREATE TABLE model_runs (
    id         BIGINT AUTO_INCREMENT PRIMARY KEY,
    device_id  BIGINT NOT NULL,
    model      VARCHAR(128) NOT NULL,
    sha256     CHAR(64) CHARACTER SET ascii NULL,
    started_at DATETIME(6) NOT NULL,
    INDEX model_runs_by_device (device_id, id),
    FOREIGN KEY (device_id) REFERENCES devices (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
