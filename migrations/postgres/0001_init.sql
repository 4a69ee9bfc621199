-- deskplane schema (PostgreSQL). Mirrors migrations/sqlite/0001_init.sql:
-- times are UTC milliseconds (BIGINT), status columns are CHECKed, JSON is kept
-- as the exact TEXT the API wrote (tag filters cast it to jsonb).
-- Migrations are applied under sqlx's advisory lock, so nodes starting together
-- apply each one exactly once.

CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_ms  BIGINT NOT NULL
);

CREATE TABLE credentials (
    access_key     TEXT PRIMARY KEY,
    project_id     TEXT NOT NULL REFERENCES projects(id),
    secret_sealed  BYTEA NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    created_ms     BIGINT NOT NULL
);

CREATE TABLE users (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects(id),
    user_name    TEXT NOT NULL,
    user_email   TEXT,
    user_phone   TEXT,
    description  TEXT NOT NULL DEFAULT '',
    created_ms   BIGINT NOT NULL,
    UNIQUE (project_id, user_name)
);

-- One monotonic order for desktops, sub-jobs and notifications. Values may
-- interleave between concurrent transactions; only their order is used.
CREATE SEQUENCE deskplane_seq;

CREATE TABLE desktops (
    id                 TEXT PRIMARY KEY,
    project_id         TEXT NOT NULL,
    seq                BIGINT NOT NULL DEFAULT nextval('deskplane_seq'),
    computer_name      TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('ACTIVE','SHUTOFF','HIBERNATED','ERROR','BUILD')),
    task_status        TEXT,
    login_status       TEXT NOT NULL CHECK (login_status IN ('UNREGISTER','REGISTERED','CONNECTED','DISCONNECTED')),
    busy_sub_job       TEXT,
    user_name          TEXT,
    user_email         TEXT,
    desktop_type       TEXT NOT NULL CHECK (desktop_type IN ('DEDICATED','POOLED')),
    pool_id            TEXT,
    product_id         TEXT NOT NULL,
    image_id           TEXT NOT NULL,
    image_type         TEXT NOT NULL,
    availability_zone  TEXT NOT NULL,
    ip_address         TEXT NOT NULL,
    host               TEXT,
    root_volume        TEXT NOT NULL,
    data_volumes       TEXT NOT NULL,
    tags               TEXT NOT NULL,
    created_ms         BIGINT NOT NULL,
    CHECK ((task_status IS NULL) = (busy_sub_job IS NULL))
) WITH (fillfactor = 80);
-- fillfactor: taking and settling a desktop changes no indexed column, so
-- with room left on the page those updates are HOT (no index writes).
CREATE INDEX desktops_project_seq ON desktops (project_id, seq);
CREATE INDEX desktops_project_name ON desktops (project_id, computer_name COLLATE "C");
CREATE INDEX desktops_pool ON desktops (pool_id) WHERE pool_id IS NOT NULL;
CREATE INDEX desktops_user ON desktops (project_id, user_name);

CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL,
    job_type      TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('WAITING','RUNNING','SUCCESS','FAIL')),
    params        TEXT NOT NULL,
    requested_by  TEXT NOT NULL,
    total         BIGINT NOT NULL,
    succeeded     BIGINT NOT NULL DEFAULT 0,
    failed        BIGINT NOT NULL DEFAULT 0,
    error_code    TEXT,
    fail_reason   TEXT,
    created_ms    BIGINT NOT NULL,
    begin_ms      BIGINT,
    end_ms        BIGINT,
    pool_id       TEXT
);
CREATE INDEX jobs_project ON jobs (project_id, created_ms);

CREATE TABLE sub_jobs (
    id             TEXT PRIMARY KEY,
    seq            BIGINT NOT NULL DEFAULT nextval('deskplane_seq'),
    job_id         TEXT NOT NULL REFERENCES jobs(id),
    project_id     TEXT NOT NULL,
    job_type       TEXT NOT NULL,
    desktop_id     TEXT NOT NULL,
    desktop_name   TEXT NOT NULL,
    user_name      TEXT,
    product_id     TEXT,
    ip_address     TEXT,
    operation      TEXT NOT NULL,
    prev_status    TEXT NOT NULL,
    prev_login     TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('WAITING','RUNNING','SUCCESS','FAILED')),
    attempt        BIGINT NOT NULL DEFAULT 1,
    progress       BIGINT NOT NULL DEFAULT 0,
    run_after_ms   BIGINT NOT NULL DEFAULT 0,
    lease_owner    TEXT,
    lease_until    BIGINT,
    claim_token    TEXT,
    host           TEXT,
    error_code     TEXT,
    fail_reason    TEXT,
    created_ms     BIGINT NOT NULL,
    begin_ms       BIGINT,
    end_ms         BIGINT
);
-- Queue updates change `status`, so they are never HOT: every index costs a
-- write per claim and per completion. Hence few, partial ones.
-- The queue: claiming walks WAITING rows in submission order; workers deciding
-- to sleep read the earliest due time from the same index.
CREATE INDEX sub_jobs_waiting ON sub_jobs (seq) INCLUDE (run_after_ms) WHERE status = 'WAITING';
-- Leases: renewal and fencing by owner; orphan recovery scans this small set.
CREATE INDEX sub_jobs_running ON sub_jobs (lease_owner, lease_until) WHERE status = 'RUNNING';
CREATE INDEX sub_jobs_job ON sub_jobs (job_id, desktop_id);
CREATE INDEX sub_jobs_desktop ON sub_jobs (desktop_id, seq);
CREATE INDEX sub_jobs_project_type ON sub_jobs (project_id, job_type, seq);

CREATE TABLE notifications (
    id           TEXT PRIMARY KEY,
    seq          BIGINT NOT NULL DEFAULT nextval('deskplane_seq'),
    project_id   TEXT NOT NULL,
    desktop_id   TEXT NOT NULL,
    desktop_name TEXT NOT NULL,
    user_name    TEXT,
    user_email   TEXT,
    kind         TEXT NOT NULL,
    message      TEXT NOT NULL,
    job_id       TEXT,
    created_ms   BIGINT NOT NULL
);
CREATE INDEX notifications_project ON notifications (project_id, seq);
CREATE INDEX notifications_desktop ON notifications (desktop_id, seq);

CREATE TABLE sim_faults (
    desktop_id      TEXT PRIMARY KEY,
    fail_remaining  BIGINT NOT NULL DEFAULT 0,
    fail_ops        TEXT,
    error_code      TEXT,
    error_msg       TEXT,
    ignore_soft     BOOLEAN NOT NULL DEFAULT FALSE
);
