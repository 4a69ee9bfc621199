-- API users (Keystone-style password auth) and the tokens issued to them.
-- Mirrors migrations/sqlite/0003_tokens.sql.

CREATE TABLE api_users (
    project_id     TEXT NOT NULL REFERENCES projects(id),
    user_name      TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    created_ms     BIGINT NOT NULL,
    PRIMARY KEY (project_id, user_name)
);

CREATE TABLE tokens (
    token_hash  TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL,
    user_name   TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL,
    revoked     BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX tokens_user ON tokens (project_id, user_name);
