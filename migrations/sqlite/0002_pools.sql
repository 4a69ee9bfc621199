-- Desktop pools, their authorized users/groups, and session timing for pool bindings.

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
    disconnected_retention_period  INTEGER NOT NULL DEFAULT 0,
    enable_autoscale               INTEGER NOT NULL DEFAULT 0 CHECK (enable_autoscale IN (0, 1)),
    autoscale_policy               TEXT,
    created_ms                     INTEGER NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE pool_members (
    pool_id      TEXT NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
    object_type  TEXT NOT NULL CHECK (object_type IN ('USER','USER_GROUP')),
    object_id    TEXT NOT NULL,
    object_name  TEXT NOT NULL,
    user_group   TEXT,
    created_ms   INTEGER NOT NULL,
    PRIMARY KEY (pool_id, object_type, object_name)
);

-- When a pooled desktop's user dropped their session (DYNAMIC pools unbind after the retention).
ALTER TABLE desktops ADD COLUMN disconnected_ms INTEGER;
