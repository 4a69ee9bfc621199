//! Faults injected through `/sim/v1`: exactly the faulty desktops' sub-jobs fail with the
//! injected error, the job reports them, and `retry` re-runs them in the same job once
//! the fault is gone. A guest that ignores SOFT requests fails them after the configured
//! timeout (in simulated time) while HARD succeeds.

mod common;

use common::desktops::{
    act_ok, action, advance, clear_fault, create, desktop_sub_jobs, job, job_id, must_desktop,
    put_fault, state, sub_jobs, wait_job_status,
};
use common::{Api, LINUX_IMAGE, Options, Server, poll};
use http::Method;
use serde_json::{Value, json};
use std::time::Duration;

const CODE: &str = "SIM.DISK_STUCK";
const MSG: &str = "the disk controller is stuck";

async fn retry(api: &Api, job: &str) -> common::Reply {
    api.post(
        &format!("workspace-jobs/{job}/actions"),
        &json!({"op_type": "retry"}),
    )
    .await
}

#[tokio::test]
async fn injected_failures_fail_exactly_those_sub_jobs_and_retry_recovers() {
    let server = Server::start(Options::default()).await;
    let api = server.api();
    let names: Vec<String> = (0..10).map(|i| format!("flt-{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let ids = create(&api, &refs).await;
    let faulty: Vec<&str> = [1, 4, 7].iter().map(|&i| ids[i].as_str()).collect();
    for id in &faulty {
        // Two failures armed: the first run and the first retry both fail.
        let fault =
            json!({"fail_next": 2, "ops": ["os-stop"], "error_code": CODE, "error_msg": MSG});
        put_fault(&api, id, &fault).await;
    }
    let seen = api
        .sim(Method::GET, &format!("desktops/{}/fault", faulty[0]), None)
        .await;
    assert_eq!(seen.expect(200)["fail_next"], 2);

    let all: Vec<&str> = ids.iter().map(String::as_str).collect();
    let r = action(&api, &all, "os-stop", Some("HARD")).await;
    assert_eq!(r.expect(200)["failed_operation_list"], json!([]));
    let job_id = job_id(&r, 200);
    let j = wait_job_status(&api, &job_id, "FAIL").await;
    assert_eq!(j["sub_jobs_total"], 10);
    assert_eq!(j["job_error_code"], CODE);
    let reason = j["fail_reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("3 of 10 sub-jobs failed; first: "),
        "{reason}"
    );
    assert!(reason.contains(MSG), "{reason}");
    check_outcome(&api, &job_id, &faulty, "FAILED").await;
    check_failed_stop(&api, &ids, &faulty).await;
    retry_until_clean(&api, &job_id, &ids, &faulty).await;
}

/// A failed stop leaves its desktop as it was and uses one armed failure.
async fn check_failed_stop(api: &Api, ids: &[String], faulty: &[&str]) {
    for id in ids {
        let d = must_desktop(api, id).await;
        let want = if faulty.contains(&id.as_str()) {
            "ACTIVE"
        } else {
            "SHUTOFF"
        };
        assert_eq!(
            d["status"],
            want,
            "a failed stop leaves the desktop as it was: {}",
            state(&d)
        );
        assert_eq!(d["task_status"], "");
    }
    let left = api
        .sim(Method::GET, &format!("desktops/{}/fault", faulty[0]), None)
        .await;
    assert_eq!(
        left.expect(200)["fail_next"],
        1,
        "one armed failure was used"
    );
}

/// Retry with the fault still armed: the same sub-jobs fail again, in the same job;
/// cleared, the retry succeeds under the same job id.
async fn retry_until_clean(api: &Api, job_id: &str, ids: &[String], faulty: &[&str]) {
    retry(api, job_id).await.expect(200);
    let j = wait_job_status(api, job_id, "FAIL").await;
    assert!(
        j["fail_reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3 of 10 sub-jobs failed"),
        "{j}"
    );

    // Clear the fault: the retry succeeds, same job id, every sub-job SUCCESS.
    for id in faulty {
        clear_fault(api, id).await;
    }
    let r = retry(api, job_id).await;
    assert_eq!(r.expect(200)["job_id"], job_id);
    let j = wait_job_status(api, job_id, "SUCCESS").await;
    assert_eq!(j["sub_jobs_total"], 10);
    assert!(j.get("fail_reason").is_none(), "{j}");
    check_outcome(api, job_id, &[], "FAILED").await;
    for id in ids {
        assert_eq!(must_desktop(api, id).await["status"], "SHUTOFF");
    }
    let history = api
        .get(&format!("desktops/{}/actions", faulty[0]), &[])
        .await;
    let newest = history.expect(200)["desktop_actions"][0].clone();
    assert_eq!(newest["result"], "SUCCESS");
    assert!(
        newest["message"]
            .as_str()
            .unwrap_or_default()
            .contains("attempt 3"),
        "{newest}"
    );

    // Nothing left to retry.
    retry(api, job_id).await.expect_error(409, "WKS.00010032");
}

/// Checks that exactly the sub-jobs of `failing` have `status_of_failing` (with the
/// injected code and message) and every other sub-job of the job succeeded.
async fn check_outcome(api: &Api, job: &str, failing: &[&str], status_of_failing: &str) {
    let subs = sub_jobs(api, &[("job_id", job.to_owned())]).await;
    assert_eq!(subs.len(), 10);
    for s in &subs {
        let desktop = s["entities"]["desktop_id"].as_str().unwrap_or_default();
        if failing.contains(&desktop) {
            assert_eq!(s["status"], status_of_failing, "{s}");
            assert_eq!(s["error_code"], CODE, "{s}");
            assert!(
                s["fail_reason"].as_str().unwrap_or_default().contains(MSG),
                "{s}"
            );
        } else {
            assert_eq!(s["status"], "SUCCESS", "{s}");
            assert!(s.get("error_code").is_none(), "{s}");
        }
    }
}

#[tokio::test]
async fn retry_is_refused_while_the_job_runs() {
    let server = Server::start(Options::default()).await;
    let api = server.api();
    let id = create(&api, &["rt-1"]).await.remove(0);
    let body = json!({"desktop_ids": [id], "image_type": "gold", "image_id": LINUX_IMAGE, "delay_time": 5});
    let job = job_id(&api.post("desktops/rebuild", &body).await, 200);
    let running = job_now(&api, &job).await;
    assert!(
        ["WAITING", "RUNNING"].contains(&running.as_str()),
        "{running}"
    );
    retry(&api, &job).await.expect_error(409, "WKS.00010037");
    advance(&api, 5.0 * 60.0).await;
    poll(
        "the delayed rebuild to finish",
        Duration::from_secs(30),
        api.logs(),
        async || {
            let s = job_now(&api, &job).await;
            if s == "SUCCESS" {
                Ok(())
            } else {
                // The wait may have begun after the advance: move the clock again.
                advance(&api, 5.0 * 60.0).await;
                Err(s)
            }
        },
    )
    .await;
    retry(&api, &job).await.expect_error(409, "WKS.00010032");
    let unknown = "3e1c9a7b-2d4f-4e6a-8b0c-1d2e3f4a5b6c";
    retry(&api, unknown).await.expect_error(404, "WKS.00010405");
}

async fn job_now(api: &Api, id: &str) -> String {
    job(api, id).await["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn soft_requests_ignored_by_the_guest_time_out_and_hard_ones_succeed() {
    // Two simulated minutes before a SOFT request is given up.
    let timeout_s = 120.0;
    let server =
        Server::start(Options::default().set("DESKPLANE_SIM__SOFT_TIMEOUT_MS", "120000")).await;
    let api = server.api();
    let ids = create(&api, &["soft-1", "soft-2", "soft-3", "soft-ok"]).await;
    let [deaf, deaf2, deaf3, fine] = [&ids[0], &ids[1], &ids[2], &ids[3]].map(String::as_str);
    for id in [deaf, deaf2, deaf3] {
        put_fault(&api, id, &json!({"ignore_soft": true})).await;
    }

    // A guest that listens stops at once with SOFT; HARD forces one that does not.
    act_ok(&api, &[fine], "os-stop", Some("SOFT")).await;
    act_ok(&api, &[deaf2], "os-stop", Some("HARD")).await;
    assert_eq!(must_desktop(&api, deaf2).await["status"], "SHUTOFF");

    let stop = job_id(&action(&api, &[deaf], "os-stop", Some("SOFT")).await, 200);
    let reboot = job_id(&action(&api, &[deaf3], "reboot", Some("SOFT")).await, 200);
    // HARD work on other desktops completes while the SOFT requests hang.
    act_ok(&api, &[deaf2], "os-start", None).await;
    for (id, task) in [(deaf, "powering-off"), (deaf3, "rebooting")] {
        let d = must_desktop(&api, id).await;
        assert_eq!(d["task_status"], task, "{}", state(&d));
        assert_eq!(
            desktop_sub_jobs(&api, id)
                .await
                .last()
                .cloned()
                .unwrap_or_default()["status"],
            "RUNNING"
        );
    }

    // Advance simulated time ten seconds at a time until both give up.
    let mut waited = 0.0;
    let mut ended: Vec<Value> = Vec::new();
    while ended.len() < 2 {
        assert!(
            waited < timeout_s * 5.0,
            "still running after {waited} simulated seconds"
        );
        advance(&api, 10.0).await;
        waited += 10.0;
        tokio::time::sleep(Duration::from_millis(5)).await;
        ended = Vec::new();
        for j in [&stop, &reboot] {
            let j = job(&api, j).await;
            if j["status"] == "FAIL" || j["status"] == "SUCCESS" {
                ended.push(j);
            }
        }
        if waited < timeout_s - 10.0 {
            assert!(
                ended.is_empty(),
                "a SOFT request ended after {waited} of {timeout_s} s: {ended:?}"
            );
        }
    }
    for j in &ended {
        assert_eq!(j["status"], "FAIL", "{j}");
        assert_eq!(j["job_error_code"], "WKS.00211402", "{j}");
        let sub = &j["sub_jobs"][0];
        assert_eq!(sub["error_code"], "WKS.00211402", "{sub}");
        assert!(
            sub["fail_reason"]
                .as_str()
                .unwrap_or_default()
                .contains("120000 ms"),
            "{sub}"
        );
    }
    for id in [deaf, deaf3] {
        let d = must_desktop(&api, id).await;
        assert_eq!(
            d["status"],
            "ACTIVE",
            "a timed-out SOFT request changes nothing: {}",
            state(&d)
        );
        assert_eq!(d["task_status"], "");
        assert_eq!(d["login_status"], "REGISTERED");
    }
    act_ok(&api, &[deaf], "os-stop", Some("HARD")).await;
    act_ok(&api, &[deaf3], "reboot", Some("HARD")).await;
    assert_eq!(must_desktop(&api, deaf).await["status"], "SHUTOFF");
    assert_eq!(must_desktop(&api, deaf3).await["status"], "ACTIVE");
}
