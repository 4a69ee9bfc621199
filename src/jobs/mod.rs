//! The durable job engine. Jobs and sub-jobs are committed by the API before it
//! answers; this engine claims runnable sub-jobs from the store in batches with a
//! lease, runs each through the compute driver concurrently, and records results
//! in batches (one transaction per batch, fenced by the lease holder). Leases
//! belong to this process's incarnation, never to the node id alone: a heartbeat
//! renews only the sub-jobs this process holds, and orphans (a dead node's, or a
//! crashed process's, also one that had our node id) are re-queued with
//! attempt + 1, or failed cleanly past the attempt limit, so no desktop is left
//! in a transitional `task_status`.

mod leases;
pub mod pools;
pub mod provision;
pub mod reconcile;
mod run;

pub use crate::domain::job::JobParams;
pub use leases::TaskLease;

use crate::catalog::Catalog;
use crate::domain::completion::Outcome;
use crate::domain::error_code::Code;
use crate::domain::ids::{ClaimId, SubJobId};
use crate::domain::time::now_ms;
use crate::drivers::ComputeDriver;
use crate::store::health::Health;
use crate::store::{Claimed, Completion, Holder, OrphanScope, Store, StoreError};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

/// One claim of a sub-job.
type Held = (SubJobId, ClaimId);

/// Job engine settings (`[jobs]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// Sub-jobs running at once on this node.
    pub max_in_flight: usize,
    /// Sub-jobs claimed per store round trip.
    pub claim_batch: usize,
    /// Completions recorded per transaction at most.
    pub complete_batch: usize,
    /// Lease length; renewed every third of it.
    pub lease_secs: u64,
    /// Attempts before an interrupted sub-job is failed.
    pub max_attempts: i64,
    /// Idle poll interval (work submitted on other nodes).
    pub poll_ms: u64,
    /// How long shutdown waits for running sub-jobs.
    pub shutdown_grace_secs: u64,
    /// Seconds between reconciliations with the compute driver (libvirt).
    pub reconcile_secs: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 2048,
            claim_batch: 512,
            complete_batch: 2048,
            lease_secs: 30,
            max_attempts: 3,
            poll_ms: 200,
            shutdown_grace_secs: 20,
            reconcile_secs: 10,
        }
    }
}

/// Handle to the engine: wakes it and cancels running sub-jobs.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    driver: Arc<dyn ComputeDriver>,
    catalog: Arc<Catalog>,
    cfg: JobsConfig,
    holder: Holder,
    /// Sole writer of its store (SQLite): every RUNNING sub-job of another owner is an orphan.
    exclusive: bool,
    /// Where failed writes are reported (`/ready`).
    health: Arc<Health>,
    wake: Notify,
    /// Claims of sub-jobs this process holds: running (with the token that
    /// cancels them), or finished with their result not yet recorded (`None`).
    /// Their leases are the ones the heartbeat renews. By claim, as a sub-job
    /// whose lease lapsed may be claimed here again while its first run goes on.
    held: Mutex<HashMap<Held, Option<CancellationToken>>>,
}

impl Engine {
    /// An engine for `holder` (this node, this process). `exclusive` when no other node shares the store.
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        driver: Arc<dyn ComputeDriver>,
        catalog: Arc<Catalog>,
        cfg: JobsConfig,
        holder: Holder,
        exclusive: bool,
        health: Arc<Health>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                driver,
                catalog,
                cfg,
                holder,
                exclusive,
                health,
                wake: Notify::new(),
                held: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// This node and process (the `host` of the sub-jobs it runs, and its incarnation).
    #[must_use]
    pub fn holder(&self) -> &Holder {
        &self.inner.holder
    }

    /// New work was submitted: claim now rather than at the next poll.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Stop sub-jobs (taken over by a forced delete) if they run in this process.
    pub fn cancel(&self, sub_job_ids: &[SubJobId]) {
        let held = self.lock_held();
        for ((id, _), token) in held.iter() {
            if let (true, Some(t)) = (sub_job_ids.contains(id), token) {
                t.cancel();
            }
        }
    }

    /// Recover orphans, then run until `shutdown` fires and in-flight work settles.
    pub async fn run(self, shutdown: CancellationToken) {
        // Whatever an earlier process of this node (or, alone on the store, any
        // other process) left RUNNING has no worker any more: orphans at once.
        let scope = if self.inner.exclusive {
            OrphanScope::AllOthers
        } else {
            OrphanScope::EarlierIncarnations
        };
        if !self.recover_at_start(scope, &shutdown).await {
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel::<Completion>();
        let completer = tokio::spawn(self.clone().complete_loop(rx));
        let heartbeat = tokio::spawn(self.clone().heartbeat_loop());
        let orphans = tokio::spawn(self.clone().orphan_loop());
        let permits = Arc::new(Semaphore::new(self.inner.cfg.max_in_flight.max(1)));
        self.claim_loop(&shutdown, &permits, &tx).await;

        // Safe point: stop claiming, let running sub-jobs finish within the grace period.
        let all = u32::try_from(self.inner.cfg.max_in_flight.max(1)).unwrap_or(u32::MAX);
        let grace = Duration::from_secs(self.inner.cfg.shutdown_grace_secs);
        if tokio::time::timeout(grace, permits.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!("shutdown grace elapsed with sub-jobs running; they resume on restart");
            // Each running task holds a sender: stop them, or the completer
            // below would wait for them forever and SIGTERM would never exit.
            // Their sub-jobs stay leased to this node and are recovered as orphans.
            for token in self.lock_held().values().flatten() {
                token.cancel();
            }
        }
        drop(tx);
        // Results the store will not take (a full disk that stays full) must not
        // keep the process from exiting: after the grace period they are left
        // unrecorded, and their sub-jobs run again after the restart.
        if tokio::time::timeout(grace, completer).await.is_err() {
            tracing::warn!(
                "shutdown grace elapsed with results unrecorded; their sub-jobs run again on restart"
            );
        }
        heartbeat.abort();
        orphans.abort();
    }

    /// Startup recovery, retried until it succeeds: claiming before it would
    /// leave an earlier process's work RUNNING until its lease ran out. False
    /// when `shutdown` fired first.
    async fn recover_at_start(&self, scope: OrphanScope, shutdown: &CancellationToken) -> bool {
        let mut delay = Duration::from_millis(100);
        loop {
            match self.recover(scope).await {
                Ok(_) => {
                    self.inner.health.healthy();
                    return true;
                }
                Err(e) => self.store_failed(&e, "startup recovery failed; retrying"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return false,
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    async fn claim_loop(
        &self,
        shutdown: &CancellationToken,
        permits: &Arc<Semaphore>,
        tx: &mpsc::UnboundedSender<Completion>,
    ) {
        let cfg = &self.inner.cfg;
        while !shutdown.is_cancelled() {
            let free = permits.available_permits().min(cfg.claim_batch);
            let claimed = if free == 0 {
                Vec::new()
            } else {
                let now = now_ms();
                let lease = now + lease_ms(cfg);
                let limit = i64::try_from(free).unwrap_or(i64::MAX);
                match self
                    .inner
                    .store
                    .claim(&self.inner.holder, limit, now, lease)
                    .await
                {
                    Ok(c) => c,
                    Err(e) => {
                        self.store_failed(&e, "claiming sub-jobs failed");
                        Vec::new()
                    }
                }
            };
            let got = claimed.len();
            for c in claimed {
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    break;
                };
                let token = CancellationToken::new();
                let key = (c.sub_job_id, c.claim);
                self.lock_held().insert(key, Some(token.clone()));
                let engine = self.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let done = tokio::select! {
                        d = run::execute(&engine.inner.driver, &engine.inner.catalog, &engine.inner.holder.node, c) => Some(d),
                        () = token.cancelled() => None,
                    };
                    engine.finished(&key, done.is_some());
                    // Free the slot before reporting: the wake that follows the
                    // recorded result must find it free.
                    drop(permit);
                    if let Some(d) = done {
                        let _ = tx.send(d);
                    }
                });
            }
            if got > 0 && got == free {
                tokio::task::yield_now().await;
                continue;
            }
            let idle = if free == 0 {
                // Every slot is taken: only a finished sub-job makes room, and its
                // recorded result wakes us. Waiting for the next due sub-job instead
                // would spin (it is already due) while the slots stay full.
                Duration::from_millis(cfg.poll_ms)
            } else {
                self.idle_wait().await
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(idle) => {}
            }
        }
    }

    /// How long to sleep when nothing is claimable: until the next delayed sub-job or the poll interval.
    async fn idle_wait(&self) -> Duration {
        let poll = Duration::from_millis(self.inner.cfg.poll_ms);
        match self.inner.store.next_due_ms().await {
            Ok(Some(due)) => {
                let wait = u64::try_from(due - now_ms()).unwrap_or(0);
                poll.min(Duration::from_millis(wait))
            }
            _ => poll,
        }
    }

    async fn complete_loop(self, mut rx: mpsc::UnboundedReceiver<Completion>) {
        let max = self.inner.cfg.complete_batch.max(1);
        let mut batch = Vec::with_capacity(max);
        while rx.recv_many(&mut batch, max).await > 0 {
            self.record(&batch).await;
            batch.clear();
        }
    }

    /// Record completions, retrying transient store failures so no result is lost
    /// while the process lives (after a crash, the sub-jobs re-run instead).
    async fn record(&self, done: &[Completion]) {
        let mut delay = Duration::from_millis(50);
        loop {
            match self
                .inner
                .store
                .complete(&self.inner.holder, done, now_ms())
                .await
            {
                Ok(_) => {
                    self.inner.health.healthy();
                    let mut held = self.lock_held();
                    for c in done {
                        held.remove(&(c.sub_job_id, c.claim));
                    }
                    drop(held);
                    self.wake();
                    return;
                }
                Err(e) => {
                    // The transaction rolled back whole; the same results are
                    // recorded again from a clean connection.
                    self.store_failed(&e, "recording sub-job results failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Report a failed store call: a storage fault goes to `health` (which logs
    /// when it begins and ends, not on every retry); anything else is logged.
    pub(crate) fn store_failed(&self, e: &StoreError, what: &str) {
        if let Some(fault) = e.fault() {
            self.inner.health.failed(fault, now_ms());
            tracing::debug!(error = %e, "{what}");
        } else {
            tracing::error!(error = %e, "{what}");
        }
    }

    /// A sub-job's task ended: its result (if any) now waits to be recorded;
    /// a cancelled one is no longer ours.
    fn finished(&self, key: &Held, reported: bool) {
        let mut held = self.lock_held();
        if reported {
            if let Some(entry) = held.get_mut(key) {
                *entry = None;
            }
        } else {
            held.remove(key);
        }
    }

    fn lock_held(&self) -> std::sync::MutexGuard<'_, HashMap<Held, Option<CancellationToken>>> {
        self.inner
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

pub(crate) fn lease_ms(cfg: &JobsConfig) -> i64 {
    i64::try_from(cfg.lease_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// A sub-job that ran out of attempts: failed, its desktop settled as for any failure.
pub(crate) fn interrupted(node: &str, c: Claimed) -> Completion {
    let code = Code::Interrupted;
    Completion {
        sub_job_id: c.sub_job_id,
        claim: c.claim,
        job_id: c.job_id,
        desktop_id: c.desktop_id,
        project_id: c.project_id,
        host: node.to_owned(),
        settled: c.operation.failed(c.prev_status, c.prev_login),
        outcome: Outcome::Failed {
            code: code.wire().to_owned(),
            reason: code.default_message().to_owned(),
        },
    }
}
