-- API users (Keystone-style password auth) and the tokens issued to them.

CREATE TABLE api_users (
    project_id     TEXT NOT NULL REFERENCES projects(id),
    user_name      TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    created_ms     INTEGER NOT NULL,
    PRIMARY KEY (project_id, user_name)
);

-- Only a SHA-256 of each token is kept.
CREATE TABLE tokens (
    token_hash  TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL,
    user_name   TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL,
    revoked     INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);
CREATE INDEX tokens_user ON tokens (project_id, user_name);
