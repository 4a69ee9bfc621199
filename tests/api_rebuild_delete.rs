//! Rebuild and delete end to end: the image changes while data volumes and the power
//! state are kept; `delay_time` waits in simulated time and the user is told; batch-delete
//! removes users left without desktops and records e-mails; a forced delete cancels the
//! operation holding a desktop and takes desktops in ERROR.

mod common;

use common::desktops::{
    act_ok, advance, break_desktops, create, create_body, create_with, desktop, desktop_sub_jobs,
    hold_desktops, job_id, must_desktop, notifications, snapshot, state, sub_jobs, wait_gone,
    wait_job_status,
};
use common::{LINUX_IMAGE, Options, Server, poll, q};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn rebuild_changes_the_image_and_keeps_data_and_power_state() {
    let server = Server::start(Options::default()).await;
    let api = server.api();
    let extra =
        json!({"data_volumes": [{"type": "SAS", "size": 50}, {"type": "SSD", "size": 100}]});
    let ids = create_with(&api, &create_body(&["rb-on", "rb-off"], &[], &extra)).await;
    let [on, off] = [&ids[0], &ids[1]].map(String::as_str);
    act_ok(&api, &[off], "os-stop", Some("HARD")).await;
    let before_on = must_desktop(&api, on).await;
    let before_off = must_desktop(&api, off).await;
    assert_eq!(
        before_on["metadata"]["image_name"],
        "Windows 10 Enterprise 64bit"
    );

    let body = json!({"desktop_ids": [on, off], "image_type": "gold", "image_id": LINUX_IMAGE,
        "os_type": "Linux"});
    let r = api.post("desktops/rebuild", &body).await;
    assert!(r.expect(200).get("error_code").is_none(), "{}", r.text);
    let job = wait_job_status(&api, &job_id(&r, 200), "SUCCESS").await;
    assert_eq!(job["job_type"], "rebuildDesktops");
    assert_eq!(job["sub_jobs_total"], 2);

    for (before, status, login) in [
        (&before_on, "ACTIVE", "REGISTERED"),
        (&before_off, "SHUTOFF", "UNREGISTER"),
    ] {
        let id = before["desktop_id"].as_str().unwrap_or_default();
        let d = must_desktop(&api, id).await;
        assert_eq!(d["image_id"], LINUX_IMAGE);
        assert_eq!(d["metadata"]["image_name"], "Ubuntu 22.04 Desktop");
        assert_eq!(d["metadata"]["metering.image_id"], LINUX_IMAGE);
        assert_eq!(d["metadata"]["os_type"], "Linux");
        assert_eq!(
            d["data_volumes"], before["data_volumes"],
            "data volumes are kept"
        );
        assert_eq!(d["data_volumes"].as_array().map(Vec::len), Some(2));
        assert_eq!(d["root_volume"]["size"], before["root_volume"]["size"]);
        assert_eq!(
            d["status"],
            status,
            "the power state is kept: {}",
            state(&d)
        );
        assert_eq!(d["login_status"], login);
        assert_eq!(d["task_status"], "");
    }
    let linux = api.get("desktops", &q(&[("image_id", LINUX_IMAGE)])).await;
    assert_eq!(linux.expect(200)["total_count"], 2);
}

#[tokio::test]
async fn rebuild_delay_waits_in_simulated_time_and_notifies() {
    let server = Server::start(Options::default()).await;
    let api = server.api();
    let ids = create_with(&api, &create_body(&["rb-late"], &[Some("ola")], &json!({}))).await;
    let id = ids[0].as_str();
    let body = json!({"desktop_ids": [id], "image_type": "gold", "image_id": LINUX_IMAGE,
        "delay_time": 30, "message": "Save your work"});
    let job = job_id(&api.post("desktops/rebuild", &body).await, 200);

    let notes = notifications(&api).await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["type"], "MESSAGE");
    assert_eq!(notes[0]["user_name"], "ola");
    let text = notes[0]["error_message"].as_str().unwrap_or_default();
    assert!(
        text.contains("30 minutes") && text.contains("Save your work"),
        "{text}"
    );

    // Advance the simulated clock a minute at a time: the rebuild waits 30 of them.
    let mut minutes = 0;
    loop {
        let subs = desktop_sub_jobs(&api, id).await;
        let rebuild = subs.last().cloned().unwrap_or_default();
        if rebuild["status"] == "SUCCESS" {
            break;
        }
        assert_eq!(
            rebuild["status"]
                .as_str()
                .map(|s| s == "WAITING" || s == "RUNNING"),
            Some(true),
            "{rebuild}"
        );
        if minutes == 10 {
            let d = must_desktop(&api, id).await;
            assert_eq!(d["task_status"], "rebuilding", "{}", state(&d));
            assert_ne!(d["image_id"], LINUX_IMAGE, "not rebuilt before the delay");
        }
        assert!(
            minutes < 200,
            "the rebuild did not finish after {minutes} simulated minutes"
        );
        advance(&api, 60.0).await;
        minutes += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        minutes >= 30,
        "the rebuild finished after {minutes} of its 30 minutes"
    );
    wait_job_status(&api, &job, "SUCCESS").await;
    assert_eq!(must_desktop(&api, id).await["image_id"], LINUX_IMAGE);
}

#[tokio::test]
async fn batch_delete_removes_users_left_without_desktops_and_records_emails() {
    let server = Server::start(Options::default()).await;
    let api = server.api();
    let names = ["ann-1", "ann-2", "bob-1", "cat-1", "free-1"];
    let users = [Some("ann"), Some("ann"), Some("bob"), Some("cat"), None];
    let ids = create_with(&api, &create_body(&names, &users, &json!({}))).await;
    let [ann1, ann2, bob1, cat1, free1] =
        [&ids[0], &ids[1], &ids[2], &ids[3], &ids[4]].map(String::as_str);
    let user = async |name: &str| {
        let r = api.get("users", &q(&[("user_name", name)])).await;
        let body = r.expect(200).clone();
        body["users"]
            .as_array()
            .and_then(|u| u.iter().find(|u| u["user_name"] == name).cloned())
    };
    assert_eq!(user("ann").await.unwrap_or_default()["total_desktops"], 2);

    let body = json!({"desktop_ids": [ann1, bob1, free1], "delete_users": true});
    let r = api.post("desktops/batch-delete", &body).await;
    let job = wait_job_status(&api, &job_id(&r, 202), "SUCCESS").await;
    assert_eq!(job["job_type"], "deleteDesktops");
    assert_eq!(job["sub_jobs_total"], 3);
    for id in [ann1, bob1, free1] {
        wait_gone(&api, id).await;
    }
    assert!(user("bob").await.is_none(), "bob had no desktop left");
    let ann = user("ann").await.expect("ann still has a desktop");
    assert_eq!(ann["total_desktops"], 1);
    let emails = |notes: &[Value]| {
        let mut v: Vec<(String, String)> = notes
            .iter()
            .filter(|n| n["type"] == "EMAIL")
            .map(|n| {
                let s = |k: &str| n[k].as_str().unwrap_or_default().to_owned();
                (s("desktop_name"), s("user_name"))
            })
            .collect();
        v.sort();
        v
    };
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        emails(&notifications(&api).await),
        [pair("ann-1", "ann"), pair("bob-1", "bob")]
    );

    // Without e-mail and without delete_users: no record, the user stays.
    let body = json!({"desktop_ids": [cat1], "email_notification": false});
    let r = api.post("desktops/batch-delete", &body).await;
    wait_job_status(&api, &job_id(&r, 202), "SUCCESS").await;
    wait_gone(&api, cat1).await;
    assert_eq!(emails(&notifications(&api).await).len(), 2);
    assert_eq!(user("cat").await.unwrap_or_default()["total_desktops"], 0);

    // The single delete takes the same flags as query parameters.
    api.delete(&format!("desktops/{ann2}"), &q(&[("delete_users", "true")]))
        .await
        .expect(204);
    wait_gone(&api, ann2).await;
    poll(
        "ann to be deleted",
        Duration::from_secs(10),
        api.logs(),
        async || user("ann").await.map_or(Ok(()), |u| Err(u.to_string())),
    )
    .await;
    assert_eq!(emails(&notifications(&api).await).len(), 3);
    let r = api.get("desktops", &[]).await;
    assert_eq!(r.expect(200)["total_count"], 0);
}

#[tokio::test]
async fn forced_delete_cancels_running_work_and_takes_errors() {
    let server = Server::start(Options::default()).await;
    let api = server.api();
    let ids = create(&api, &["fd-busy", "fd-err", "fd-err2", "fd-other"]).await;
    let [busy, err, err2, other] = [&ids[0], &ids[1], &ids[2], &ids[3]].map(String::as_str);
    break_desktops(&api, &[err, err2]).await;
    let held = hold_desktops(&api, &[busy, other]).await;
    poll(
        "the rebuild to run",
        Duration::from_secs(30),
        api.logs(),
        async || {
            let subs = sub_jobs(&api, &[("job_id", held.clone())]).await;
            if subs.iter().all(|s| s["status"] == "RUNNING") {
                Ok(())
            } else {
                Err(format!("{subs:?}"))
            }
        },
    )
    .await;

    // Without force, a desktop mid-operation is refused, whole request and single delete.
    let before = snapshot(&api).await;
    api.post(
        "desktops/batch-delete",
        &json!({"desktop_ids": [busy, err]}),
    )
    .await
    .expect_error(409, "WKS.00010033");
    api.delete(&format!("desktops/{busy}"), &[])
        .await
        .expect_error(409, "WKS.00010033");
    assert_eq!(snapshot(&api).await, before);

    let body = json!({"desktop_ids": [busy, err], "is_force_delete": true});
    let r = api.post("desktops/batch-delete", &body).await;
    wait_job_status(&api, &job_id(&r, 202), "SUCCESS").await;
    wait_gone(&api, busy).await;
    wait_gone(&api, err).await;
    let cancelled = desktop_sub_jobs(&api, busy)
        .await
        .into_iter()
        .find(|s| s["job_id"] == held.as_str())
        .expect("the rebuild sub-job is still listed");
    assert_eq!(cancelled["status"], "FAILED", "{cancelled}");
    assert_eq!(cancelled["error_code"], "WKS.00211405", "{cancelled}");
    // The other desktop's rebuild is untouched and still waiting.
    let other_sub = desktop_sub_jobs(&api, other)
        .await
        .last()
        .cloned()
        .unwrap_or_default();
    assert_eq!(other_sub["status"], "RUNNING", "{other_sub}");
    assert_eq!(must_desktop(&api, other).await["task_status"], "rebuilding");

    // A desktop in ERROR is deleted without force, too.
    api.delete(&format!("desktops/{err2}"), &[])
        .await
        .expect(204);
    wait_gone(&api, err2).await;

    // Once the other rebuild ends, its job reports the cancelled sub-job as failed.
    advance(&api, 600.0 * 60.0).await;
    let job = wait_job_status(&api, &held, "FAIL").await;
    let reason = job["fail_reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("1 of 2 sub-jobs failed; first: "),
        "{job}"
    );
    assert_eq!(job["job_error_code"], "WKS.00211405");
    assert!(desktop(&api, other).await.is_some());
}
