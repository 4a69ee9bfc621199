//! The read scenario: signed `GET /desktops/{id}` beside a bare axum hello-world
//! measured the same way in the same run (the ceiling), and one 1,000-desktop list.

use super::report::{self, Row};
use super::server::Spawned;
use super::{Target, api};
use anyhow::bail;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the signed read is held to, as a share of the ceiling's rate.
const CEILING_SHARE: f64 = 0.5;
/// Timed requests of the list case.
const LIST_REPS: usize = 30;

/// Requests made by `concurrency` tasks for a measured window, after one second of warm-up.
struct Load {
    samples: Vec<Duration>,
    errors: usize,
    window: Duration,
    cpu_secs: Option<f64>,
}

impl Load {
    fn rate(&self) -> f64 {
        self.samples.len() as f64 / self.window.as_secs_f64()
    }

    fn row(&self, parameter: String, target: Option<f64>, rss: Option<u64>) -> Row {
        let mut row = Row::rate(
            "get",
            parameter,
            self.samples.len(),
            self.window,
            target,
            rss,
        )
        .with_cpu(self.cpu_secs, self.samples.len());
        row.median_ms = report::percentile_ms(&self.samples, 50.0);
        row.p95_ms = report::percentile_ms(&self.samples, 95.0);
        let note = if self.errors > 0 {
            format!("{} failed", self.errors)
        } else {
            String::new()
        };
        row.noting(&note)
    }
}

/// Runs `request(n)` from `concurrency` tasks; `cpu` reads the server's CPU seconds.
async fn hammer<F, Fut>(
    concurrency: usize,
    secs: u64,
    cpu: impl Fn() -> Option<f64>,
    request: F,
) -> anyhow::Result<Load>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let measure_from = Instant::now() + Duration::from_secs(1);
    let until = measure_from + Duration::from_secs(secs.max(1));
    let mut tasks = Vec::with_capacity(concurrency);
    for task in 0..concurrency {
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let (mut samples, mut errors) = (Vec::new(), 0usize);
            let mut n = task;
            while Instant::now() < until {
                let sent = Instant::now();
                let ok = request(n).await;
                n += concurrency;
                let done = Instant::now();
                if sent >= measure_from && done <= until {
                    if ok {
                        samples.push(done - sent);
                    } else {
                        errors += 1;
                    }
                }
            }
            (samples, errors)
        }));
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu_from = cpu();
    tokio::time::sleep_until(until.into()).await;
    let cpu_secs = cpu_from.zip(cpu()).map(|(a, b)| b - a);
    let (mut samples, mut errors) = (Vec::new(), 0);
    for task in tasks {
        let (s, e) = task.await?;
        samples.extend(s);
        errors += e;
    }
    if samples.is_empty() {
        bail!("no request succeeded ({errors} failed)");
    }
    Ok(Load {
        samples,
        errors,
        window: until - measure_from,
        cpu_secs,
    })
}

/// `GET /desktops/{id}` from `--concurrency` tasks for `--get-secs`; then the ceiling, the
/// same way (when the bench spawned the server, so that both share the machine alike); then
/// a 1,000-desktop list.
pub async fn get(
    t: &Target,
    args: &super::Args,
    ids: &[String],
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let ids = if ids.is_empty() {
        api::some_desktops(&t.client, Instant::now() + t.timeout).await?
    } else {
        ids.to_vec()
    };
    let project = t.client.project_id().to_owned();
    let paths: Arc<Vec<String>> = Arc::new(
        ids.iter()
            .map(|id| format!("/v2/{project}/desktops/{id}"))
            .collect(),
    );
    let concurrency = args.concurrency.max(1);
    let client = t.client.clone();
    let signed = hammer(
        concurrency,
        args.get_secs,
        || t.cpu_secs(),
        move |n| {
            let (client, paths) = (client.clone(), paths.clone());
            async move {
                let path = &paths[n % paths.len()];
                client.get(path, &[]).await.is_ok_and(|r| r.status == 200)
            }
        },
    )
    .await?;
    let param = format!("GET /desktops/{{id}}, {concurrency} tasks");
    rows.push(signed.row(param, Some(10_000.0), t.peak_rss()));
    if !t.spawned.is_empty() {
        let ceiling = ceiling(concurrency, args.get_secs).await?;
        let param = format!("GET /x, bare axum hello-world (ceiling), {concurrency} tasks");
        rows.push(ceiling.row(param, None, None));
        let param = "signed GET /desktops/{id} ÷ ceiling".to_owned();
        rows.push(Row::ratio(
            "get",
            param,
            signed.rate(),
            ceiling.rate(),
            CEILING_SHARE,
        ));
    }
    rows.push(list(t).await?);
    Ok(())
}

/// The ceiling, spawned for the measurement and stopped after it.
async fn ceiling(concurrency: usize, secs: u64) -> anyhow::Result<Load> {
    let hello = Spawned::start_ceiling().await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let url: Arc<str> = format!("{}/x", hello.url()).into();
    let load = hammer(
        concurrency,
        secs,
        || hello.cpu_secs(),
        move |_| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                match http.get(&*url).send().await {
                    Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                    Err(_) => false,
                }
            }
        },
    )
    .await;
    hello.stop(false).await;
    load
}

/// `GET /desktops?limit=1000`, one request at a time, `LIST_REPS` times.
async fn list(t: &Target) -> anyhow::Result<Row> {
    let query = [("limit", "1000".to_owned())];
    let path = format!("/v2/{}/desktops", t.client.project_id());
    let mut samples = Vec::with_capacity(LIST_REPS);
    let mut listed = 0;
    for _ in 0..LIST_REPS {
        let sent = Instant::now();
        let r = t.client.get(&path, &query).await?;
        samples.push(sent.elapsed());
        if r.status != 200 {
            bail!("listing desktops: HTTP {}", r.status);
        }
        let body: serde_json::Value = r.json()?;
        listed = body["desktops"].as_array().map_or(0, Vec::len);
    }
    let param = format!("GET /desktops, {listed} desktops in one page");
    Ok(Row::latency("get", param, &samples, 5.0, t.peak_rss()))
}
