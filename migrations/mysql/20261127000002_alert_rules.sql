-- Alert rules. The rule as written (condition, doors, quiet hours, cooldown, …) is kept as
-- JSON, so new rule options need no migration; the name is unique.
CREATE TABLE alert_rules (
    id         BIGINT AUTO_INCREMENT PRIMARY KEY,
    name       VARCHAR(100) NOT NULL UNIQUE,
    spec       MEDIUMTEXT NOT NULL,
    created_by VARCHAR(100) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
