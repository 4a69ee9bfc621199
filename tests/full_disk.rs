//! A full disk under a running SQLite server (issue 12): the database lives on a
//! small tmpfs that the test fills to the last byte during batches, then frees.
//! Meanwhile every request either gets a 503 naming the storage fault or names a
//! job that exists afterwards; `/ready` says the store cannot write. After the
//! space is freed every job ends and no desktop stays busy, without a restart and
//! after one. A server does not start on storage it cannot write (a read-only
//! mount). Needs root (to mount the tmpfs); skips loudly otherwise.

mod common;

use common::desktops::{create, sub_jobs};
use common::{Api, Options, Server, poll, q};
use serde_json::json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmpfs mounted for the test, unmounted on drop.
struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    fn mount(mib: u32) -> Option<SmallFs> {
        let dir = tempfile::Builder::new()
            .prefix("deskplane-fullfs-")
            .tempdir()
            .ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            Some(SmallFs { dir })
        } else {
            eprintln!("*** SKIP full_disk: cannot mount a tmpfs here (needs root) ***");
            None
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a filler file until the filesystem has no byte left.
    fn fill(&self) -> PathBuf {
        use std::io::Write as _;
        let filler = self.path().join("filler");
        let mut f = std::fs::File::create(&filler).expect("the filler file can be created");
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let byte = [0u8; 1];
        while f.write_all(&byte).is_ok() {}
        let _ = f.flush();
        filler
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

const STORAGE_CODES: &[&str] = &["WKS.00050903", "WKS.00050905", "WKS.00050908"];

/// One request during the fault: a 503 naming the storage, or an accepted job.
fn judge(status: u16, body: &serde_json::Value, accepted: &mut Vec<String>) {
    eprintln!(
        "during the fault: {status} {}",
        body["error_code"].as_str().unwrap_or("")
    );
    match status {
        200 | 202 => {
            let id = body["job_id"]
                .as_str()
                .expect("an accepted request names its job");
            accepted.push(id.to_owned());
        }
        // Refusals of the request itself stay what they are (a desktop busy
        // with an operation accepted before the disk filled).
        409 => {}
        503 => {
            let code = body["error_code"].as_str().unwrap_or_default();
            assert!(
                STORAGE_CODES.contains(&code),
                "a 503 names the storage fault: {body}"
            );
        }
        other => panic!("neither accepted nor a storage 503: {other} {body}"),
    }
}

/// Alternating power actions and creates for `span`, recording accepted jobs.
async fn hammer(api: &Api, ids: &[String], span: Duration, accepted: &mut Vec<String>) -> u32 {
    let started = Instant::now();
    let mut round = 0u32;
    while started.elapsed() < span {
        let op = ["os-stop", "os-start"][(round % 2) as usize];
        let r = api
            .post(
                "desktops/action",
                &json!({"desktop_ids": ids, "op_type": op, "type": "HARD"}),
            )
            .await;
        judge(r.status, &r.body, accepted);
        let names: Vec<String> = (0..20).map(|i| format!("full-{round}-{i}")).collect();
        let r = api
            .post(
                "desktops",
                &common::desktops::create_body(
                    &names.iter().map(String::as_str).collect::<Vec<_>>(),
                    &[],
                    &json!({}),
                ),
            )
            .await;
        judge(r.status, &r.body, accepted);
        round += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    round
}

/// `GET /ready`: status and body.
async fn ready(api: &Api) -> (u16, String) {
    let r = api
        .client
        .unsigned(http::Method::GET, "/ready", &[], None)
        .await
        .expect("/ready answers");
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

/// Every accepted job exists and ends; nothing is left running or busy.
async fn everything_settles(api: &Api, accepted: &[String]) {
    for id in accepted {
        let j = poll(
            &format!("job {id} to end"),
            Duration::from_mins(1),
            api.logs(),
            async || {
                let r = api.get(&format!("workspace-jobs/{id}"), &[]).await;
                assert!(
                    r.status != 404,
                    "accepted job {id} does not exist: {}",
                    r.text
                );
                let j = r.expect(200).clone();
                match j["status"].as_str() {
                    Some("SUCCESS" | "FAIL") => Ok(j),
                    _ => Err(j.to_string()),
                }
            },
        )
        .await;
        // The job's status agrees with its sub-jobs, every one of them ended.
        let subs = j["sub_jobs"].as_array().cloned().unwrap_or_default();
        let ok = subs.iter().filter(|s| s["status"] == "SUCCESS").count();
        let failed = subs.iter().filter(|s| s["status"] == "FAILED").count();
        let total = usize::try_from(j["sub_jobs_total"].as_u64().unwrap_or(0)).unwrap_or(0);
        assert_eq!(
            (ok + failed, subs.len()),
            (total, total),
            "job {id}: {ok} + {failed} of {total}"
        );
        let want = if failed == 0 { "SUCCESS" } else { "FAIL" };
        assert_eq!(
            j["status"], want,
            "job {id}: {ok} succeeded, {failed} failed"
        );
    }
    for status in ["RUNNING", "WAITING"] {
        let left = sub_jobs(api, &[("status", status.into())]).await;
        assert!(left.is_empty(), "{} sub-jobs {status}", left.len());
    }
    let page = api.get("desktops/detail", &q(&[("limit", "1000")])).await;
    let busy: Vec<String> = page.expect(200)["desktops"]
        .as_array()
        .expect("desktops")
        .iter()
        .filter(|d| d["task_status"] != "")
        .map(|d| d["id"].to_string())
        .collect();
    assert!(busy.is_empty(), "busy desktops: {busy:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_loses_no_acknowledged_job() {
    let Some(fs) = SmallFs::mount(24) else {
        return;
    };
    let db = fs.path().join("d.db");
    let mut server = Server::start(
        Options::default()
            .set(
                "DESKPLANE_DATABASE_URL",
                &format!("sqlite://{}", db.display()),
            )
            .all_sim_ms(300)
            .sim_ms("CREATE", 0),
    )
    .await;
    let api = server.api();
    let names: Vec<String> = (0..40).map(|i| format!("base-{i:02}")).collect();
    let ids = create(&api, &names.iter().map(String::as_str).collect::<Vec<_>>()).await;

    // Work in flight when the disk fills: its results are recorded after.
    let mut accepted = Vec::new();
    let r = api
        .post(
            "desktops/action",
            &json!({"desktop_ids": ids, "op_type": "os-stop", "type": "HARD"}),
        )
        .await;
    judge(r.status, &r.body, &mut accepted);
    let filler = fs.fill();
    let mut refused_ready = false;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        hammer(&api, &ids, Duration::from_millis(500), &mut accepted).await;
        let ready = ready(&api).await;
        if ready.0 == 503 {
            refused_ready = true;
            assert!(
                STORAGE_CODES.iter().any(|c| ready.1.contains(c)),
                "/ready names the fault: {}",
                ready.1
            );
        }
    }
    assert!(refused_ready, "/ready never said the store cannot write");
    std::fs::remove_file(&filler).expect("the filler can be removed");

    // Without a restart: writes succeed again by themselves.
    poll(
        "/ready to come back",
        Duration::from_secs(30),
        api.logs(),
        async || {
            let (status, body) = ready(&api).await;
            if status == 200 { Ok(()) } else { Err(body) }
        },
    )
    .await;
    // New work is accepted and done again.
    let r = api
        .post(
            "desktops/action",
            &json!({"desktop_ids": ids, "op_type": "reboot", "type": "HARD"}),
        )
        .await;
    if r.status == 200 {
        accepted.push(r.body["job_id"].as_str().expect("job_id").to_owned());
    }
    everything_settles(&api, &accepted).await;
    let unique: BTreeSet<&String> = accepted.iter().collect();
    assert_eq!(unique.len(), accepted.len(), "job ids are unique");

    // After a restart: the same jobs, still there and ended.
    let status = server.terminate(Duration::from_secs(30)).await;
    assert!(status.success(), "SIGTERM exits cleanly: {status}");
    server.restart().await;
    everything_settles(&server.api(), &accepted).await;
}

/// Storage that cannot be written at start (here a read-only mount, after a
/// SIGKILL left the WAL behind): the server refuses to start and names the
/// database, rather than listen and refuse every write for good. Once the
/// storage is writable it starts, and the work it had is still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_does_not_start_on_storage_it_cannot_write() {
    let Some(fs) = SmallFs::mount(64) else {
        return;
    };
    let db = fs.path().join("d.db");
    let mut server = Server::start(Options::default().set(
        "DESKPLANE_DATABASE_URL",
        &format!("sqlite://{}", db.display()),
    ))
    .await;
    let ids = create(&server.api(), &["ro-1", "ro-2"]).await;
    server.kill();
    let remount = |how: &str| {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{how}")])
            .arg(fs.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "the tmpfs can be remounted {how}");
    };
    remount("ro");
    let log = server.start_refused().await;
    assert!(
        log.contains(&*db.to_string_lossy()),
        "the refusal names the database: {log}"
    );
    remount("rw");
    server.restart().await;
    let api = server.api();
    for id in &ids {
        assert!(
            common::desktops::wait_idle(&api, id).await.is_some(),
            "desktop {id} survived"
        );
    }
}
