//! Leases: renewing the sub-jobs this process holds, re-queueing orphans as soon
//! as a lease ends, and cluster-wide task leases (one node runs pool upkeep or
//! reconciliation at a time). Every lease names the process incarnation that
//! took it, so a restarted node neither renews nor waits for its predecessor's.

use super::{Engine, interrupted, lease_ms};
use crate::domain::time::now_ms;
use crate::store::{Completion, Holder, OrphanScope, Store, StoreError};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// The shortest pause between two orphan scans.
const MIN_SCAN_GAP: Duration = Duration::from_millis(50);

impl Engine {
    /// Renews, every third of the lease, the leases of the sub-jobs this
    /// process holds (running, or finished and not yet recorded); nothing else.
    pub(super) async fn heartbeat_loop(self) {
        let every = Duration::from_millis(
            u64::try_from(lease_ms(&self.inner.cfg) / 3)
                .unwrap_or(1000)
                .max(100),
        );
        loop {
            // Leases are renewed through the shutdown grace period too (running
            // sub-jobs still hold them); `run` aborts this task at the end. The
            // sleep must not race a cancelled token: that made the loop spin
            // without ever pending, so the abort never landed.
            tokio::time::sleep(every).await;
            let ids: BTreeSet<_> = self.lock_held().keys().map(|(id, _)| *id).collect();
            let ids: Vec<_> = ids.into_iter().collect();
            if ids.is_empty() {
                continue;
            }
            let until = now_ms() + lease_ms(&self.inner.cfg);
            if let Err(e) = self
                .inner
                .store
                .renew_leases(&self.inner.holder, &ids, until)
                .await
            {
                self.store_failed(&e, "renewing leases failed");
            }
        }
    }

    /// Re-queues orphans the moment the first lease held elsewhere ends (not a
    /// scan interval later), so a dead node's work moves within its lease time.
    pub(super) async fn orphan_loop(self) {
        let lease =
            Duration::from_millis(u64::try_from(lease_ms(&self.inner.cfg)).unwrap_or(30_000));
        loop {
            let wait = match self.inner.store.next_lease_end(&self.inner.holder).await {
                // A lease ends at `end`: look just after it. It may have been
                // renewed by then; the next end is asked for again.
                Ok(Some(end)) => {
                    Duration::from_millis(u64::try_from(end + 1 - now_ms()).unwrap_or(0))
                }
                // Nothing runs elsewhere: a lease taken from now ends a lease from now.
                Ok(None) => lease,
                Err(e) => {
                    self.store_failed(&e, "reading lease ends failed");
                    lease / 10
                }
            };
            tokio::time::sleep(wait.clamp(MIN_SCAN_GAP, lease)).await;
            if let Err(e) = self.recover(OrphanScope::Expired).await {
                self.store_failed(&e, "orphan recovery failed");
            }
        }
    }

    /// Re-queue orphaned sub-jobs (`scope` says which besides expired leases);
    /// fail those out of attempts.
    pub async fn recover(&self, scope: OrphanScope) -> Result<u64, StoreError> {
        let inner = &self.inner;
        let now = now_ms();
        let (requeued, exhausted) = inner
            .store
            .requeue_orphans(
                &inner.holder,
                now,
                scope,
                inner.cfg.max_attempts,
                now + lease_ms(&inner.cfg),
            )
            .await?;
        if requeued > 0 || !exhausted.is_empty() {
            tracing::info!(
                requeued,
                failed = exhausted.len(),
                ?scope,
                "recovered interrupted sub-jobs"
            );
        }
        let failed: Vec<Completion> = exhausted
            .into_iter()
            .map(|c| interrupted(&inner.holder.node, c))
            .collect();
        inner
            .store
            .complete(&inner.holder, &failed, now_ms())
            .await?;
        if requeued > 0 {
            self.wake();
        }
        Ok(requeued)
    }
}

/// A cluster-wide lease on one recurring task: only its holder runs a pass.
/// Taken over when its holder stops renewing it, or at once from an earlier
/// process of the same node.
pub struct TaskLease {
    store: Arc<dyn Store>,
    name: &'static str,
    holder: Holder,
    length: Duration,
    /// Until the first successful call: an earlier process of this node may be
    /// replaced at once.
    starting: std::sync::atomic::AtomicBool,
}

impl TaskLease {
    /// The lease `name`, held for `length` after each pass that takes it.
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        name: &'static str,
        holder: Holder,
        length: Duration,
    ) -> Self {
        Self {
            store,
            name,
            holder,
            length,
            starting: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// Whether this process may run the task now (taking or renewing the lease).
    pub async fn hold(&self) -> bool {
        let now = now_ms();
        let until = now + i64::try_from(self.length.as_millis()).unwrap_or(i64::MAX / 2);
        let at_start = self.starting.load(std::sync::atomic::Ordering::Relaxed);
        match self
            .store
            .take_task_lease(self.name, &self.holder, now, until, at_start)
            .await
        {
            Ok(held) => {
                self.starting
                    .store(false, std::sync::atomic::Ordering::Relaxed);
                held
            }
            Err(e) => {
                tracing::error!(error = %e, task = self.name, "taking the task lease failed");
                false
            }
        }
    }
}
