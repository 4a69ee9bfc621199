//! The closing-note benchmark of issue 7: starting 10 real desktops through
//! the API versus starting the same 10 domains with libvirt directly.
//!
//! Run it (it is `#[ignore]`d: ~2 minutes of 10 TCG guests on 2 cores):
//! `cargo test --features libvirt --test libvirt_api -- --ignored --nocapture bench`
//! `DESKPLANE_BENCH_ROUNDS` (default 5) sets the rounds; each round times one
//! API start and one direct start, in alternating order. docs/libvirt.md has
//! the method and the numbers.

use crate::api::{action, create, expect_status, get, wait_job};
use crate::hv::{Hv, Leftovers};
use crate::real_env::{data_dir, say, skip, test_guest, unavailable};
use crate::server::{Server, Settings};
use sqlx::Connection as _;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use virt::connect::Connect;
use virt::domain::Domain;
use virt::sys;

const DESKTOPS: usize = 10;

/// One API round, timed by the client and, from the server's own records
/// (milliseconds since the epoch), split into its parts.
struct ApiRound {
    /// Request sent → the client sees the job SUCCESS.
    total: Duration,
    /// Request sent → job row committed (HTTP, auth, validation, insert).
    accept_ms: i64,
    /// Job committed → first sub-job began (claim).
    claim_ms: i64,
    /// First sub-job began → last sub-job ended (the libvirt calls).
    work_ms: i64,
    /// Last sub-job ended → job SUCCESS recorded.
    record_ms: i64,
    /// Job SUCCESS → the client's poll saw it.
    seen_ms: i64,
    /// Sum of sub-job durations over `work_ms`: ~1 when serial, ~n when parallel.
    concurrency: f64,
    /// Every sub-job began before any ended.
    overlapped: bool,
    /// Mean sub-job duration: one desktop's start, libvirt calls included.
    mean_start_ms: f64,
}

/// One direct round.
struct DirectRound {
    /// First call made → all 10 report running.
    total: Duration,
    /// Mean duration of one `virDomainCreate` (with its lookup).
    mean_start_ms: f64,
}

fn epoch_ms() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo test --features libvirt --test libvirt_api -- --ignored --nocapture bench"]
async fn bench_start_10_desktops_api_vs_libvirt() {
    if let Some(why) = unavailable() {
        return skip("bench_start_10_desktops_api_vs_libvirt", &why);
    }
    let rounds: usize = std::env::var("DESKPLANE_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let guest = test_guest();
    let data = data_dir();
    // No reconcile during the run: the direct rounds start domains behind
    // deskplane's back, and the API's view of them must stay SHUTOFF.
    let s = Server::start(&Settings {
        guest: &guest,
        libvirt_data: data.path(),
        reconcile_secs: 3600,
    });
    let job = wait_job(&s, &create(&s, DESKTOPS, "bench").await).await;
    let ids: Vec<String> = job["sub_jobs"]
        .as_array()
        .expect("sub_jobs")
        .iter()
        .map(|j| j["entities"]["desktop_id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), DESKTOPS);
    let _leftovers = Leftovers(ids.clone());
    wait_job(&s, &action(&s, &ids, "os-stop", "HARD").await).await;
    let hv = Hv::open();

    let (mut api, mut direct) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate the order so neither side always runs on a warmer host.
        for api_first in [round % 2 == 0, round % 2 == 1] {
            if api_first {
                let r = api_round(&s, &ids).await;
                say(&format!(
                    "    [bench] round {round} API: {:?} (accept {} ms, claim {} ms, sub-jobs {} ms, record {} ms, poll {} ms; mean start {:.0} ms; concurrency {:.1}, overlapped {})",
                    r.total,
                    r.accept_ms,
                    r.claim_ms,
                    r.work_ms,
                    r.record_ms,
                    r.seen_ms,
                    r.mean_start_ms,
                    r.concurrency,
                    r.overlapped
                ));
                api.push(r);
                wait_job(&s, &action(&s, &ids, "os-stop", "HARD").await).await;
            } else {
                let r = direct_round(&hv, &ids);
                say(&format!(
                    "    [bench] round {round} libvirt directly: {:?} (mean start {:.0} ms)",
                    r.total, r.mean_start_ms
                ));
                direct.push(r);
                destroy_all(&hv, &ids);
            }
        }
    }
    expect_status(&s, &ids, "SHUTOFF").await;
    let body = serde_json::json!({"desktop_ids": ids, "email_notification": false});
    let r = crate::api::post(&s, "desktops/batch-delete", &body, 202).await;
    wait_job(&s, r["job_id"].as_str().expect("job_id")).await;
    assert!(ids.iter().all(|id| hv.domain(id).is_none()));
    s.stop();
    summary(&api, &direct);
}

/// Prints the comparison and checks what must hold whatever the host's load:
/// the sub-jobs ran in parallel, and deskplane's own share (the time outside
/// its sub-jobs) is under 10% of the total.
fn summary(api: &[ApiRound], direct: &[DirectRound]) {
    let a = median(api.iter().map(|r| r.total.as_secs_f64()).collect());
    let b = median(direct.iter().map(|r| r.total.as_secs_f64()).collect());
    let end_to_end = (a - b) / a * 100.0;
    let outside = median(
        api.iter()
            .map(|r| (r.total.as_secs_f64() * 1000.0 - r.work_ms as f64) / 1000.0)
            .collect(),
    );
    let share = median(
        api.iter()
            .map(|r| 100.0 - r.work_ms as f64 / (r.total.as_secs_f64() * 1000.0) * 100.0)
            .collect(),
    );
    let start_api = median(api.iter().map(|r| r.mean_start_ms).collect());
    let start_direct = median(direct.iter().map(|r| r.mean_start_ms).collect());
    let conc = api
        .iter()
        .map(|r| r.concurrency)
        .fold(f64::INFINITY, f64::min);
    say(&format!(
        "    [bench] start {DESKTOPS} desktops, median of {} rounds: API {a:.2} s, libvirt directly {b:.2} s \
         (difference {end_to_end:.1}% of the API total); deskplane outside its sub-jobs {:.0} ms ({share:.1}%); \
         one start: {start_api:.0} ms in a sub-job, {start_direct:.0} ms direct; lowest concurrency {conc:.1} of {DESKTOPS}",
        api.len(),
        outside * 1000.0
    ));
    assert!(
        api.iter().all(|r| r.overlapped),
        "every round's sub-jobs must overlap (run in parallel)"
    );
    assert!(
        share < 10.0,
        "deskplane's own share {share:.1}% is not under 10%"
    );
}

/// `POST /desktops/action os-start` for all, polled every 20 ms until SUCCESS.
async fn api_round(s: &Server, ids: &[String]) -> ApiRound {
    let sent = epoch_ms();
    let t = Instant::now();
    let job_id = action(s, ids, "os-start", "SOFT").await;
    let seen = loop {
        let job = get(s, &format!("workspace-jobs/{job_id}")).await;
        match job["status"].as_str() {
            Some("SUCCESS") => break epoch_ms(),
            Some("FAIL") => panic!("os-start failed: {job}\n{}", s.log_tail()),
            _ => {}
        }
        assert!(
            t.elapsed() < Duration::from_mins(3),
            "os-start still running: {job}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let total = t.elapsed();
    let (created, end, subs) = timeline(&s.database(), &job_id).await;
    let first_begin = subs.iter().map(|s| s.0).min().unwrap_or(created);
    let last_begin = subs.iter().map(|s| s.0).max().unwrap_or(created);
    let first_end = subs.iter().map(|s| s.1).min().unwrap_or(end);
    let last_end = subs.iter().map(|s| s.1).max().unwrap_or(end);
    let busy: i64 = subs.iter().map(|s| s.1 - s.0).sum();
    let span = (last_end - first_begin).max(1);
    ApiRound {
        total,
        accept_ms: created - sent,
        claim_ms: first_begin - created,
        work_ms: span,
        record_ms: end - last_end,
        seen_ms: seen - end,
        concurrency: busy as f64 / span as f64,
        overlapped: last_begin < first_end,
        mean_start_ms: busy as f64 / subs.len().max(1) as f64,
    }
}

/// The job's created and end times and its sub-jobs' (begin, end), in ms,
/// from the server's database (the API shows them to the second only).
async fn timeline(db: &Path, job_id: &str) -> (i64, i64, Vec<(i64, i64)>) {
    let url = format!("sqlite://{}?mode=ro", db.display());
    let mut conn = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open db");
    let (created, end): (i64, Option<i64>) =
        sqlx::query_as("SELECT created_ms, end_ms FROM jobs WHERE id = ?")
            .bind(job_id)
            .fetch_one(&mut conn)
            .await
            .expect("job row");
    let subs: Vec<(Option<i64>, Option<i64>)> =
        sqlx::query_as("SELECT begin_ms, end_ms FROM sub_jobs WHERE job_id = ?")
            .bind(job_id)
            .fetch_all(&mut conn)
            .await
            .expect("sub-job rows");
    let _ = conn.close().await;
    let subs = subs
        .into_iter()
        .map(|(b, e)| (b.expect("begin_ms"), e.expect("end_ms")))
        .collect();
    (created, end.expect("job end_ms"), subs)
}

/// Starts every domain with libvirt, one thread and one connection each
/// (opened before the clock starts: libvirtd serves at most 5 calls of one
/// connection at a time), until all report running. The best a caller of
/// libvirt can do; the engine likewise runs each sub-job's calls on its own
/// blocking thread, over connections it keeps open.
fn direct_round(hv: &Hv, ids: &[String]) -> DirectRound {
    let conns: Vec<Connect> = ids
        .iter()
        .map(|_| Connect::open(Some(crate::support::SYSTEM_URI)).expect("connect"))
        .collect();
    let t = Instant::now();
    let each: Vec<Duration> = std::thread::scope(|scope| {
        let threads: Vec<_> = ids
            .iter()
            .zip(&conns)
            .map(|(id, conn)| {
                scope.spawn(move || {
                    let t = Instant::now();
                    let dom =
                        Domain::lookup_by_name(conn, &format!("deskplane-{id}")).expect("lookup");
                    dom.create().expect("start");
                    t.elapsed()
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|h| h.join().expect("start thread"))
            .collect()
    });
    for id in ids {
        while hv.state(id).0 != sys::VIR_DOMAIN_RUNNING {
            assert!(
                t.elapsed() < Duration::from_mins(3),
                "{id} never reported running"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let total = t.elapsed();
    for mut conn in conns {
        let _ = conn.close();
    }
    let sum: f64 = each.iter().map(|d| d.as_secs_f64() * 1000.0).sum();
    DirectRound {
        total,
        mean_start_ms: sum / each.len().max(1) as f64,
    }
}

/// Powers every domain off again behind deskplane's back (whose records say
/// SHUTOFF throughout a direct round).
fn destroy_all(hv: &Hv, ids: &[String]) {
    for id in ids {
        hv.dom(id).destroy().expect("destroy");
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}
