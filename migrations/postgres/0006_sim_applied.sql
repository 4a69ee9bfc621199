-- What the simulator applied, one row per operation carried out (when
-- `[sim] record_applied` is on): a sub-job re-run after a crash finds its own
-- row and is not applied twice; the fault campaign compares it with the sub-jobs.
CREATE TABLE sim_applied (
    seq         BIGSERIAL PRIMARY KEY,
    op_id       TEXT NOT NULL,
    desktop_id  TEXT NOT NULL,
    operation   TEXT NOT NULL,
    node        TEXT NOT NULL,
    at_ms       BIGINT NOT NULL
);
CREATE INDEX sim_applied_op ON sim_applied (op_id);
CREATE INDEX sim_applied_desktop ON sim_applied (desktop_id, seq);
