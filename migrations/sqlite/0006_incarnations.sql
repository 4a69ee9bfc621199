-- Leases belong to a process incarnation (a fresh id per start), not to the
-- configured node id: a restarted node must not renew, nor wait for, the leases
-- of the process it replaces. `lease_owner` keeps the node id for display.
ALTER TABLE sub_jobs ADD COLUMN lease_incarnation TEXT;
ALTER TABLE nodes ADD COLUMN incarnation TEXT NOT NULL DEFAULT '';

-- Cluster-wide singleton work (pool upkeep, reconciliation): one holder at a time.
CREATE TABLE task_leases (
    name         TEXT PRIMARY KEY,
    node         TEXT NOT NULL,
    incarnation  TEXT NOT NULL,
    until_ms     INTEGER NOT NULL
);
