//! The simulator: the embedded default driver. Machines exist only as desktop
//! rows; operations take configurable (simulated) time; faults injected through
//! `/sim/v1` live in the store, so every node of a cluster sees them.

use super::{ComputeDriver, DriverError, ImageSpec, MachineRef, MachineSpec, Observed, Placement};
use crate::domain::desktop::{DesktopStatus, PowerMode};
use crate::domain::error_code::Code;
use crate::domain::ids::{DesktopId, SubJobId};
use crate::store::{SimApplied, Store};
use async_trait::async_trait;
use serde::Deserialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Simulator settings (`[sim]` in the config file, `DESKPLANE_SIM_*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Simulated milliseconds each operation takes (0 = instant).
    pub create_ms: u64,
    /// os-start.
    pub start_ms: u64,
    /// os-stop.
    pub stop_ms: u64,
    /// reboot.
    pub reboot_ms: u64,
    /// hibernate.
    pub hibernate_ms: u64,
    /// rebuild.
    pub rebuild_ms: u64,
    /// logoff.
    pub logoff_ms: u64,
    /// delete.
    pub delete_ms: u64,
    /// How long a SOFT stop/reboot waits for a guest that ignores it before failing.
    pub soft_timeout_ms: u64,
    /// Real seconds per simulated second: 1 = real time, 0.001 = a thousand times faster.
    pub time_scale: f64,
    /// Record every operation carried out in the store (`GET /sim/v1/applied`),
    /// and carry out a sub-job re-run after a crash only once, as a hypervisor
    /// that already did it would. Off by default: two store calls per operation.
    pub record_applied: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            create_ms: 800,
            start_ms: 300,
            stop_ms: 300,
            reboot_ms: 400,
            hibernate_ms: 400,
            rebuild_ms: 800,
            logoff_ms: 100,
            delete_ms: 300,
            soft_timeout_ms: 60_000,
            time_scale: 1.0,
            record_applied: false,
        }
    }
}

impl SimConfig {
    /// Every duration zero: the engine's own speed.
    #[must_use]
    pub fn instant() -> Self {
        Self {
            create_ms: 0,
            start_ms: 0,
            stop_ms: 0,
            reboot_ms: 0,
            hibernate_ms: 0,
            rebuild_ms: 0,
            logoff_ms: 0,
            delete_ms: 0,
            soft_timeout_ms: 1_000,
            time_scale: 1.0,
            record_applied: false,
        }
    }
}

/// The simulator's clock: runs at `time_scale` and can be moved forward by the API.
pub struct SimClock {
    started: Instant,
    scale: f64,
    skipped_ms: AtomicI64,
    moved: Notify,
}

impl SimClock {
    /// A clock that runs `1/scale` times faster than real time.
    #[must_use]
    pub fn new(scale: f64) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        Self {
            started: Instant::now(),
            scale,
            skipped_ms: AtomicI64::new(0),
            moved: Notify::new(),
        }
    }

    /// Simulated time elapsed since start.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        let real = self.started.elapsed().as_secs_f64() / self.scale;
        let skipped = self.skipped_ms.load(Ordering::SeqCst).max(0);
        Duration::from_secs_f64(real) + Duration::from_millis(skipped.unsigned_abs())
    }

    /// How far the clock was moved forward by `advance`, in milliseconds.
    #[must_use]
    pub fn skipped_ms(&self) -> i64 {
        self.skipped_ms.load(Ordering::SeqCst)
    }

    /// Move simulated time forward, waking every sleeper whose time has come.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.skipped_ms.fetch_add(ms, Ordering::SeqCst);
        self.moved.notify_waiters();
    }

    /// Sleep `d` of simulated time.
    pub async fn sleep(&self, d: Duration) {
        if d.is_zero() {
            return;
        }
        let deadline = self.elapsed() + d;
        loop {
            let moved = self.moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            let now = self.elapsed();
            if now >= deadline {
                return;
            }
            let real = deadline.checked_sub(now).unwrap().mul_f64(self.scale);
            tokio::select! {
                () = tokio::time::sleep(real) => {}
                () = moved => {}
            }
        }
    }
}

/// The simulator driver.
pub struct SimDriver {
    cfg: SimConfig,
    store: Arc<dyn Store>,
    /// This node's id, for the record of what was applied.
    node: String,
    clock: Arc<SimClock>,
    /// Cached "any fault injected anywhere", refreshed at most once a second so the
    /// fault-free fast path costs no database read.
    faults_seen: AtomicBool,
    faults_checked_ms: AtomicI64,
}

impl SimDriver {
    /// A simulator over `store` (where injected faults live) on node `node`.
    #[must_use]
    pub fn new(cfg: SimConfig, store: Arc<dyn Store>, node: String) -> Self {
        let clock = Arc::new(SimClock::new(cfg.time_scale));
        Self {
            cfg,
            store,
            node,
            clock,
            faults_seen: AtomicBool::new(false),
            faults_checked_ms: AtomicI64::new(i64::MIN),
        }
    }

    /// The simulator's clock (for `/sim/v1/clock`).
    #[must_use]
    pub fn clock(&self) -> Arc<SimClock> {
        self.clock.clone()
    }

    /// Call after injecting a fault on this node so it is seen at once.
    pub fn fault_injected(&self) {
        self.faults_seen.store(true, Ordering::SeqCst);
    }

    async fn faults_possible(&self) -> bool {
        let now = crate::domain::time::now_ms();
        let checked = self.faults_checked_ms.load(Ordering::Relaxed);
        if now.saturating_sub(checked) >= 1_000 {
            self.faults_checked_ms.store(now, Ordering::Relaxed);
            if let Ok(any) = self.store.any_sim_faults().await {
                self.faults_seen.store(any, Ordering::SeqCst);
            }
        }
        self.faults_seen.load(Ordering::SeqCst)
    }

    /// Run one simulated operation: injected failure, then the operation's duration.
    async fn run(&self, m: Op<'_>, ms: u64, soft: bool) -> Result<(), DriverError> {
        let Ok(desktop_id) = m.desktop_id.parse::<DesktopId>() else {
            return Err(DriverError::new(
                Code::DriverFailed,
                "no such simulated machine",
            ));
        };
        // Outside a sub-job (no id) nothing is recorded.
        let op_id = m
            .sub_job
            .parse::<SubJobId>()
            .ok()
            .filter(|_| self.cfg.record_applied);
        if let Some(op_id) = &op_id
            && self.store.sim_applied(op_id).await.map_err(store_err)?
        {
            // Carried out before its worker died: done, not done again.
            return Ok(());
        }
        if self.faults_possible().await {
            self.injected(&desktop_id, m, ms, soft).await?;
        }
        self.clock.sleep(Duration::from_millis(ms)).await;
        if let Some(op_id) = op_id {
            self.store
                .record_sim_applied(&SimApplied {
                    op_id,
                    desktop_id,
                    operation: m.name.to_owned(),
                    node: self.node.clone(),
                    at_ms: crate::domain::time::now_ms(),
                })
                .await
                .map_err(store_err)?;
        }
        Ok(())
    }

    /// An injected failure of `m`, if one is armed (after the operation's time),
    /// or the timeout of a SOFT request the guest ignores.
    async fn injected(
        &self,
        desktop_id: &DesktopId,
        m: Op<'_>,
        ms: u64,
        soft: bool,
    ) -> Result<(), DriverError> {
        let failure = self
            .store
            .take_sim_failure(desktop_id, m.name)
            .await
            .map_err(store_err)?;
        if let Some((code, msg)) = failure {
            self.clock.sleep(Duration::from_millis(ms)).await;
            return Err(DriverError::custom(code, msg));
        }
        if soft {
            let ignores = self
                .store
                .get_sim_fault(desktop_id)
                .await
                .map_err(store_err)?
                .is_some_and(|f| f.ignore_soft);
            if ignores {
                self.clock
                    .sleep(Duration::from_millis(self.cfg.soft_timeout_ms))
                    .await;
                return Err(DriverError::new(
                    Code::OperationTimeout,
                    format!(
                        "the guest ignored the SOFT {} request for {} ms",
                        m.name, self.cfg.soft_timeout_ms
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// One simulated operation: which sub-job, on which desktop, what.
#[derive(Clone, Copy)]
struct Op<'a> {
    /// The sub-job (the idempotency key of what is applied).
    sub_job: &'a str,
    desktop_id: &'a str,
    name: &'a str,
}

impl<'a> Op<'a> {
    fn on(m: &'a MachineRef, name: &'a str) -> Self {
        Self {
            sub_job: &m.op_id,
            desktop_id: &m.desktop_id,
            name,
        }
    }
}

// By value: it is the callback of `map_err`.
#[allow(clippy::needless_pass_by_value)]
fn store_err(e: crate::store::StoreError) -> DriverError {
    tracing::error!(error = %e, "simulator store access failed");
    DriverError::new(Code::DriverFailed, "simulator state unavailable")
}

#[async_trait]
impl ComputeDriver for SimDriver {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn tracks_sessions(&self) -> bool {
        true
    }

    async fn create(&self, spec: &MachineSpec) -> Result<Placement, DriverError> {
        let op = Op {
            sub_job: &spec.op_id,
            desktop_id: &spec.desktop_id,
            name: "create",
        };
        self.run(op, self.cfg.create_ms, false).await?;
        Ok(Placement::default())
    }

    async fn start(&self, m: &MachineRef) -> Result<(), DriverError> {
        self.run(Op::on(m, "os-start"), self.cfg.start_ms, false)
            .await
    }

    async fn stop(&self, m: &MachineRef, mode: PowerMode) -> Result<(), DriverError> {
        // A hibernated machine has no guest to ask: its saved state is discarded.
        let soft = mode == PowerMode::Soft && m.status == DesktopStatus::Active;
        self.run(Op::on(m, "os-stop"), self.cfg.stop_ms, soft).await
    }

    async fn reboot(&self, m: &MachineRef, mode: PowerMode) -> Result<(), DriverError> {
        let soft = mode == PowerMode::Soft;
        self.run(Op::on(m, "reboot"), self.cfg.reboot_ms, soft)
            .await
    }

    async fn hibernate(&self, m: &MachineRef) -> Result<(), DriverError> {
        self.run(Op::on(m, "os-hibernate"), self.cfg.hibernate_ms, false)
            .await
    }

    async fn rebuild(&self, m: &MachineRef, _image: &ImageSpec) -> Result<(), DriverError> {
        self.run(Op::on(m, "rebuild"), self.cfg.rebuild_ms, false)
            .await
    }

    async fn logoff(&self, m: &MachineRef, _message: Option<&str>) -> Result<(), DriverError> {
        self.run(Op::on(m, "logoff"), self.cfg.logoff_ms, false)
            .await
    }

    async fn delete(&self, m: &MachineRef) -> Result<(), DriverError> {
        self.run(Op::on(m, "delete"), self.cfg.delete_ms, false)
            .await
    }

    async fn observe(&self, m: &MachineRef) -> Result<Observed, DriverError> {
        Ok(match m.status {
            DesktopStatus::Active => Observed::Running,
            DesktopStatus::Hibernated => Observed::Saved,
            DesktopStatus::Shutoff | DesktopStatus::Error | DesktopStatus::Build => Observed::Off,
        })
    }

    async fn wait(&self, d: Duration) {
        self.clock.sleep(d).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn advancing_the_clock_wakes_a_long_sleep() {
        let clock = Arc::new(SimClock::new(1.0));
        let c = clock.clone();
        let sleeper = tokio::spawn(async move { c.sleep(Duration::from_hours(1)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!sleeper.is_finished());
        clock.advance(Duration::from_hours(1));
        tokio::time::timeout(Duration::from_secs(2), sleeper)
            .await
            .expect("woken")
            .expect("joined");
    }

    #[tokio::test]
    async fn a_scaled_clock_runs_faster() {
        let clock = SimClock::new(0.001);
        let t = Instant::now();
        clock.sleep(Duration::from_mins(1)).await;
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "60 simulated s took {:?}",
            t.elapsed()
        );
    }
}
