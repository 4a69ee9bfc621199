//! The store alone, timed: submit_create of 1,000 desktops, then claim and
//! complete 10,000 sub-jobs in batches of 500. Ignored by default; run with
//! `cargo test --test store_conformance bench -- --ignored --nocapture`.

use crate::harness::{desktop, holder, job, postgres, project, sqlite, success};
use deskplane::domain::ids::ProjectId;
use deskplane::domain::job::JobType;
use deskplane::store::{Completion, NewDesktop, Store};
use std::time::{Duration, Instant};

const BATCH: i64 = 500;

fn desktops(project: &ProjectId, job_no: usize) -> Vec<NewDesktop> {
    (0..1_000)
        .map(|i| NewDesktop {
            row: desktop(project, &format!("b{job_no:02}-{i:04}")),
        })
        .collect()
}

async fn measure(backend: &str, store: &dyn Store) {
    let p = project(store).await;
    let first = desktops(&p, 0);
    let t = Instant::now();
    store
        .submit_create(&job(&p, JobType::CreateDesktops, 1_000), &first, &[])
        .await
        .expect("submit_create");
    let create = t.elapsed();
    for n in 1..10 {
        store
            .submit_create(
                &job(&p, JobType::CreateDesktops, 1_000),
                &desktops(&p, n),
                &[],
            )
            .await
            .expect("submit_create");
    }

    let t = Instant::now();
    let (mut total, mut claiming) = (0usize, Duration::ZERO);
    loop {
        let c = Instant::now();
        let claimed = store
            .claim(&holder("bench"), BATCH, 2_000, 600_000)
            .await
            .expect("claim");
        claiming += c.elapsed();
        if claimed.is_empty() {
            break;
        }
        let done: Vec<Completion> = claimed.iter().map(success).collect();
        total += store
            .complete(&holder("bench"), &done, 3_000)
            .await
            .expect("complete");
    }
    let work = t.elapsed();
    assert_eq!(total, 10_000, "every sub-job ran once");
    println!(
        "BENCH {backend}: submit_create(1,000 desktops) {:.1} ms; claim+complete 10,000 sub-jobs \
         in batches of {BATCH}: {:.0} ms ({:.0} sub-jobs/s; claiming {:.0} ms of it)",
        create.as_secs_f64() * 1e3,
        work.as_secs_f64() * 1e3,
        10_000.0 / work.as_secs_f64(),
        claiming.as_secs_f64() * 1e3
    );
}

#[tokio::test]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn bench_sqlite() {
    let db = sqlite().await;
    measure("sqlite", &db.store).await;
}

#[tokio::test]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn bench_postgres() {
    let Some(db) = postgres().await else {
        return;
    };
    let store = db.open().await;
    measure("postgres", &store).await;
}
