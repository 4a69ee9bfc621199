-- The queue's partial index covered `status IN ('WAITING','RUNNING')`, which SQLite
-- cannot match to a query's `status = 'WAITING'`: every claim scanned all sub-jobs
-- ever made. One partial index per status instead (as on PostgreSQL), each holding
-- what its queries read.
DROP INDEX sub_jobs_queue;
CREATE INDEX sub_jobs_waiting ON sub_jobs (seq, run_after_ms) WHERE status = 'WAITING';
CREATE INDEX sub_jobs_running ON sub_jobs (lease_owner, lease_until) WHERE status = 'RUNNING';
-- Pool upkeep looks for disconnected desktops every few seconds.
CREATE INDEX desktops_disconnected ON desktops (disconnected_ms) WHERE login_status = 'DISCONNECTED';
