-- Desktop pools, their authorized users/groups, and session timing for pool bindings.
-- Mirrors migrations/sqlite/0002_pools.sql.

CREATE TABLE pools (
    id                             TEXT PRIMARY KEY,
    project_id                     TEXT NOT NULL REFERENCES projects(id),
    name                           TEXT NOT NULL,
    pool_type                      TEXT NOT NULL CHECK (pool_type IN ('DYNAMIC','STATIC')),
    description                    TEXT NOT NULL DEFAULT '',
    product_id                     TEXT NOT NULL,
    image_id                       TEXT NOT NULL,
    image_type                     TEXT NOT NULL,
    availability_zone              TEXT NOT NULL,
    root_volume                    TEXT NOT NULL,
    data_volumes                   TEXT NOT NULL,
    tags                           TEXT NOT NULL,
    disconnected_retention_period  BIGINT NOT NULL DEFAULT 0,
    enable_autoscale               BOOLEAN NOT NULL DEFAULT FALSE,
    autoscale_policy               TEXT,
    created_ms                     BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE pool_members (
    pool_id      TEXT NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
    object_type  TEXT NOT NULL CHECK (object_type IN ('USER','USER_GROUP')),
    object_id    TEXT NOT NULL,
    object_name  TEXT NOT NULL,
    user_group   TEXT,
    created_ms   BIGINT NOT NULL,
    PRIMARY KEY (pool_id, object_type, object_name)
);

-- Adding a nullable column takes a brief lock and rewrites nothing: safe while
-- other nodes run (see docs/postgres.md, "Upgrades").
ALTER TABLE desktops ADD COLUMN disconnected_ms BIGINT;
