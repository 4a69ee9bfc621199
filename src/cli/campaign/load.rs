//! The load of a trial: a few concurrent tasks sending mixed bursts to random
//! nodes (power actions SOFT and HARD on random subsets, rebuilds, logoffs,
//! small deletes and creates, users connecting) until stopped. Every answer is
//! judged: an accepted job is remembered, a refusal is fine, a 503 naming a
//! storage fault is fine while one is injected, a connection error is fine
//! while its node is down; anything else is unexpected and fails the trial.

use super::node::{Slot, SlotState};
use super::{LINUX_IMAGE, PRODUCT, PROJECT_ID, WINDOWS_IMAGE};
use crate::client::Client;
use anyhow::{Context as _, bail};
use rand::rngs::StdRng;
use rand::seq::SliceRandom as _;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The error codes of a 503 that names a storage fault (docs/error-codes.md).
pub const STORAGE_CODES: &[&str] = &[
    "WKS.00050903",
    "WKS.00050904",
    "WKS.00050905",
    "WKS.00050906",
    "WKS.00050907",
    "WKS.00050908",
];
/// How many unexpected answers are described in full.
const DESCRIBED: usize = 10;

/// Every answer the load got, judged.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Requests sent.
    pub requests: u64,
    /// Job ids answered 200/202.
    pub acked: Vec<String>,
    /// Accepted requests that name no job (logoff answers 200 with no body).
    pub acked_no_id: u64,
    /// 400/404/409 refusals (and users who could not connect).
    pub refused: u64,
    /// 503s naming a storage fault, by code.
    pub storage_503: BTreeMap<String, u64>,
    /// Connection errors while the node was down.
    pub down_errors: u64,
    /// Anything else: count and the first few, described.
    pub unexpected: u64,
    pub unexpected_seen: Vec<String>,
}

impl Tally {
    fn odd(&mut self, what: String) {
        self.unexpected += 1;
        if self.unexpected_seen.len() < DESCRIBED {
            self.unexpected_seen.push(what);
        }
    }

    /// All 503s that named a storage fault.
    pub fn storage_503_total(&self) -> u64 {
        self.storage_503.values().sum()
    }
}

/// Whether a storage fault is injected now (503s naming one are expected).
#[derive(Default)]
pub struct FaultFlag(AtomicBool);

impl FaultFlag {
    pub fn set(&self, on: bool) {
        self.0.store(on, Ordering::SeqCst);
    }
    fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What the load tasks share.
struct Shared {
    nodes: Vec<Arc<Slot>>,
    ids: Vec<String>,
    fault: Arc<FaultFlag>,
    tally: Mutex<Tally>,
}

/// The running load.
pub struct Load {
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Load {
    /// Starts `tasks` tasks over `nodes`, drawing subsets of `ids`, each with
    /// its own generator seeded from `rng`; answers add to `earlier`.
    pub fn start(
        nodes: Vec<Arc<Slot>>,
        ids: Vec<String>,
        fault: Arc<FaultFlag>,
        tasks: usize,
        earlier: Tally,
        rng: &mut StdRng,
    ) -> Self {
        let shared = Arc::new(Shared {
            nodes,
            ids,
            fault,
            tally: Mutex::new(earlier),
        });
        let stop = CancellationToken::new();
        let tasks = (0..tasks)
            .map(|n| {
                let task = Task {
                    n,
                    rng: StdRng::seed_from_u64(rng.r#gen()),
                    shared: shared.clone(),
                    made: 0,
                };
                tokio::spawn(task.run(stop.clone()))
            })
            .collect();
        Self {
            stop,
            tasks,
            shared,
        }
    }

    /// Stops the tasks (each finishes the request it is in) and returns the tally.
    pub async fn stop(self) -> Tally {
        self.stop.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
        lock(&self.shared.tally).clone()
    }
}

fn lock(m: &Mutex<Tally>) -> std::sync::MutexGuard<'_, Tally> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One request: where, what, and whether its answer names a job.
struct Request {
    path: String,
    body: Value,
    signed: bool,
    names_job: bool,
}

struct Task {
    n: usize,
    rng: StdRng,
    shared: Arc<Shared>,
    made: u32,
}

impl Task {
    async fn run(mut self, stop: CancellationToken) {
        while !stop.is_cancelled() {
            let req = self.next_request();
            let node = self.rng.gen_range(0..self.shared.nodes.len());
            let pause = Duration::from_millis(self.rng.gen_range(0..=30));
            let slot = self.shared.nodes[node].clone();
            if !self.send(&slot, &req).await {
                // The node is down: do not spin on refused connections.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tokio::time::sleep(pause).await;
        }
    }

    /// The next request of the mix.
    fn next_request(&mut self) -> Request {
        let roll = self.rng.gen_range(0..100);
        let project = format!("/v2/{PROJECT_ID}");
        let (path, body) = match roll {
            0..60 => (format!("{project}/desktops/action"), self.action()),
            60..70 => (format!("{project}/desktops/rebuild"), self.rebuild()),
            70..78 => (format!("{project}/desktops/logoff"), self.logoff()),
            78..82 => (format!("{project}/desktops/batch-delete"), self.delete()),
            82..88 => (format!("{project}/desktops"), self.create()),
            _ => {
                let id = self.subset(1).remove(0);
                return Request {
                    path: format!("/sim/v1/desktops/{id}/session"),
                    body: json!({"login_status": "CONNECTED"}),
                    signed: false,
                    names_job: false,
                };
            }
        };
        Request {
            names_job: !path.ends_with("/logoff"),
            path,
            body,
            signed: true,
        }
    }

    fn subset(&mut self, max: usize) -> Vec<String> {
        let n = self
            .rng
            .gen_range(1..=max.min(self.shared.ids.len()).max(1));
        self.shared
            .ids
            .choose_multiple(&mut self.rng, n)
            .cloned()
            .collect()
    }

    fn action(&mut self) -> Value {
        let ops = ["os-start", "os-stop", "reboot", "os-hibernate"];
        let op = ops[self.rng.gen_range(0..ops.len())];
        let mode = if self.rng.gen_bool(0.5) {
            "SOFT"
        } else {
            "HARD"
        };
        json!({"desktop_ids": self.subset(200), "op_type": op, "type": mode})
    }

    fn rebuild(&mut self) -> Value {
        let image = if self.rng.gen_bool(0.5) {
            WINDOWS_IMAGE
        } else {
            LINUX_IMAGE
        };
        json!({"desktop_ids": self.subset(100), "image_type": "gold", "image_id": image, "delay_time": 0})
    }

    fn logoff(&mut self) -> Value {
        json!({"desktop_ids": self.subset(50), "message": "campaign logoff"})
    }

    fn delete(&mut self) -> Value {
        json!({"desktop_ids": self.subset(5), "delete_users": false, "email_notification": false})
    }

    fn create(&mut self) -> Value {
        let count = self.rng.gen_range(1..=5);
        let desktops: Vec<Value> = (0..count)
            .map(|_| {
                self.made += 1;
                json!({"computer_name": format!("c{}-{}", self.n, self.made)})
            })
            .collect();
        json!({"product_id": PRODUCT, "image_id": WINDOWS_IMAGE, "image_type": "gold", "desktops": desktops})
    }

    /// Sends `req` to `slot` and judges the answer; false when the node was down.
    async fn send(&self, slot: &Slot, req: &Request) -> bool {
        let before = slot.snapshot();
        let fault_before = self.shared.fault.get();
        let Some(client) = before.client.clone().filter(|_| before.up) else {
            lock(&self.shared.tally).down_errors += 1;
            return false;
        };
        let answer = if req.signed {
            client.post(&req.path, &req.body).await
        } else {
            client
                .unsigned(http::Method::POST, &req.path, &[], Some(&req.body))
                .await
        };
        let after = slot.snapshot();
        let fault = fault_before || self.shared.fault.get();
        let mut t = lock(&self.shared.tally);
        t.requests += 1;
        match answer {
            Ok(r) => judge(&mut t, req, r.status, &r.body, fault, &slot.name),
            Err(_) if went_down(&before, &after) => {
                t.down_errors += 1;
                return false;
            }
            Err(e) => t.odd(format!("{} {}: {e}", slot.name, req.path)),
        }
        true
    }
}

/// Whether the node stopped or restarted between sending and answering.
fn went_down(before: &SlotState, after: &SlotState) -> bool {
    !before.up || !after.up || before.generation != after.generation
}

/// Files one answer in the tally.
fn judge(t: &mut Tally, req: &Request, status: u16, body: &[u8], fault: bool, node: &str) {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = v["error_code"].as_str().unwrap_or_default();
    match status {
        200 | 202 if req.names_job => match v["job_id"].as_str().filter(|j| !j.is_empty()) {
            Some(job) => t.acked.push(job.to_owned()),
            None => t.odd(format!(
                "{node} {}: {status} without a job_id: {v}",
                req.path
            )),
        },
        200 | 202 => t.acked_no_id += 1,
        204 if !req.signed => t.acked_no_id += 1,
        400 | 404 | 409 => t.refused += 1,
        503 if fault && STORAGE_CODES.contains(&code) => {
            *t.storage_503.entry(code.to_owned()).or_default() += 1;
        }
        _ => {
            let when = if fault {
                "during the fault"
            } else {
                "outside any storage fault"
            };
            t.odd(format!(
                "{node} {}: {status} {code} {when}: {}",
                req.path,
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ));
        }
    }
}

/// Submits the creation of `n` desktops (`d00000` ...); its job id.
pub async fn create_desktops(client: &Client, n: usize) -> anyhow::Result<String> {
    let desktops: Vec<Value> = (0..n)
        .map(|i| json!({"computer_name": format!("d{i:05}")}))
        .collect();
    let body = json!({"product_id": PRODUCT, "image_id": WINDOWS_IMAGE, "image_type": "gold", "desktops": desktops});
    let r = client
        .post(&format!("/v2/{PROJECT_ID}/desktops"), &body)
        .await?;
    r.json()?["job_id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| {
            format!(
                "creating the desktops: {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            )
        })
}

/// Polls the job until it succeeds (a failure or the bound is an error).
pub async fn wait_job(client: &Client, job: &str, bound: Duration) -> anyhow::Result<()> {
    let began = std::time::Instant::now();
    loop {
        let r = client
            .get(&format!("/v2/{PROJECT_ID}/workspace-jobs/{job}"), &[])
            .await?;
        match r.json()?["status"].as_str() {
            Some("SUCCESS") => return Ok(()),
            Some("FAIL") => bail!("job {job} failed: {}", String::from_utf8_lossy(&r.body)),
            _ if began.elapsed() > bound => bail!("job {job} did not succeed within {bound:?}"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The ids of (up to `n` of) the project's desktops.
pub async fn desktop_ids(client: &Client, n: usize) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    while ids.len() < n {
        let q = [
            ("limit", "1000".to_owned()),
            ("offset", ids.len().to_string()),
        ];
        let page = client
            .get(&format!("/v2/{PROJECT_ID}/desktops"), &q)
            .await?
            .json()?;
        let got: Vec<String> = page["desktops"]
            .as_array()
            .context("listing desktops")?
            .iter()
            .filter_map(|d| d["desktop_id"].as_str().map(str::to_owned))
            .collect();
        if got.is_empty() {
            break;
        }
        ids.extend(got);
    }
    Ok(ids)
}

/// A user connects to desktop `id` (through the simulator).
pub async fn connect(client: &Client, id: &str) -> anyhow::Result<()> {
    let body = json!({"login_status": "CONNECTED"});
    let path = format!("/sim/v1/desktops/{id}/session");
    let r = client
        .unsigned(http::Method::POST, &path, &[], Some(&body))
        .await?;
    if r.status != 204 {
        bail!("{path}: {} {}", r.status, String::from_utf8_lossy(&r.body));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Request, Tally, judge};
    use serde_json::json;

    fn action() -> Request {
        Request {
            path: "/v2/p/desktops/action".into(),
            body: json!({}),
            signed: true,
            names_job: true,
        }
    }

    #[test]
    fn answers_are_judged() {
        let mut t = Tally::default();
        let req = action();
        judge(&mut t, &req, 200, br#"{"job_id":"j1"}"#, false, "n");
        judge(
            &mut t,
            &req,
            409,
            br#"{"error_code":"WKS.00010032"}"#,
            false,
            "n",
        );
        let full = br#"{"error_code":"WKS.00050903"}"#;
        judge(&mut t, &req, 503, full, true, "n");
        assert_eq!(t.acked, ["j1"]);
        assert_eq!((t.refused, t.storage_503_total(), t.unexpected), (1, 1, 0));
        // A storage 503 with no fault injected, another 5xx, a 200 without a job.
        judge(&mut t, &req, 503, full, false, "n");
        judge(
            &mut t,
            &req,
            500,
            br#"{"error_code":"WKS.00050901"}"#,
            true,
            "n",
        );
        judge(&mut t, &req, 200, b"{}", false, "n");
        assert_eq!(t.unexpected, 3, "{:?}", t.unexpected_seen);
    }
}
