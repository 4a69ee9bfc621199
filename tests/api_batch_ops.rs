//! The four batch operations beyond the state table: per-desktop refusals in one batch and
//! whole refusals, logoff of sessions with a message, rebuild (image, data volumes, power
//! state, `delay_time` in simulated time), batch-delete with users and e-mail records,
//! forced delete, and the action history.

mod common;

use common::desktops::{
    act_ok, action, advance, clear_fault, create, create_body, create_with, desktop,
    desktop_sub_jobs, job_id, must_desktop, notifications, put_fault, session, snapshot, state,
    sub_jobs, wait_gone, wait_idle, wait_job_status,
};
use common::{AK, Api, LINUX_IMAGE, Options, PRIVATE_IMAGE, Server, poll, q};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

const UNKNOWN: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

/// Puts desktops in ERROR: a rebuild that fails through an injected fault.
async fn break_desktops(api: &Api, ids: &[&str]) {
    for id in ids {
        let fault = json!({"fail_next": 1, "ops": ["rebuild"], "error_code": "SIM.BROKEN"});
        put_fault(api, id, &fault).await;
    }
    let body = json!({"desktop_ids": ids, "image_type": "gold", "image_id": LINUX_IMAGE});
    let job = job_id(&api.post("desktops/rebuild", &body).await, 200);
    wait_job_status(api, &job, "FAIL").await;
    for id in ids {
        clear_fault(api, id).await;
        assert_eq!(must_desktop(api, id).await["status"], "ERROR");
    }
}

/// Makes desktops busy: a rebuild waiting `delay_time` of simulated time (the tests that
/// use this never advance the clock far enough). Returns the rebuild's job id.
async fn hold_desktops(api: &Api, ids: &[&str]) -> String {
    let body = json!({"desktop_ids": ids, "image_type": "gold", "image_id": LINUX_IMAGE,
        "delay_time": 600});
    let job = job_id(&api.post("desktops/rebuild", &body).await, 200);
    for id in ids {
        assert_eq!(must_desktop(api, id).await["task_status"], "rebuilding");
    }
    job
}

fn detail(r: &common::Reply) -> Vec<Value> {
    serde_json::from_str(r.body["error_detail"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("error_detail is not a JSON list ({e}): {}", r.text))
}

#[tokio::test]
async fn batch_refusals_are_per_desktop_or_whole() {
    let server = Server::start(Options::default()).await;
    let api = server.api();
    let other = "4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f";
    let (ak2, sk2) = server.create_credential(other);
    let foreign = create(&server.api_as(&ak2, &sk2, other), &["theirs"])
        .await
        .remove(0);
    let ids = create(&api, &["b-act", "b-off", "b-bad", "b-busy"]).await;
    let [act, off, bad, busy] = [&ids[0], &ids[1], &ids[2], &ids[3]].map(String::as_str);
    act_ok(&api, &[off], "os-stop", Some("HARD")).await;
    break_desktops(&api, &[bad]).await;
    hold_desktops(&api, &[busy]).await;

    let r = action(
        &api,
        &[act, off, bad, busy, UNKNOWN, &foreign],
        "reboot",
        Some("SOFT"),
    )
    .await;
    let body = r.expect(200).clone();
    let failed: HashMap<&str, &Value> = body["failed_operation_list"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|f| (f["desktop_id"].as_str().unwrap_or_default(), f))
        .collect();
    assert_eq!(failed.len(), 5, "{}", r.text);
    for (id, code, name) in [
        (off, "WKS.00010032", Some("b-off")),
        (bad, "WKS.00010034", Some("b-bad")),
        (busy, "WKS.00010033", Some("b-busy")),
        (UNKNOWN, "WKS.00010404", None),
        (foreign.as_str(), "WKS.00081102", None),
    ] {
        let f = failed
            .get(id)
            .unwrap_or_else(|| panic!("{id} not in {}", r.text));
        assert_eq!(f["error_code"], code, "{f}");
        assert_eq!(f["desktop_name"].as_str(), name, "{f}");
        assert!(
            !f["error_msg"].as_str().unwrap_or_default().is_empty(),
            "{f}"
        );
    }
    assert_eq!(
        failed[off]["error_msg"],
        format!(
            "Operation conflict. The desktop current instance status is [SHUTOFF] and deny operation [reboot], resource id [{off}]."
        )
    );
    let job = wait_job_status(&api, &job_id(&r, 200), "SUCCESS").await;
    assert_eq!(job["job_type"], "operateDesktops");
    assert_eq!(job["sub_jobs_total"], 1);
    assert_eq!(job["sub_jobs"][0]["entities"]["desktop_id"], act);

    // None can be queued: one error, chosen by the reasons.
    let r = action(&api, &[UNKNOWN], "os-stop", None).await;
    r.expect_error(404, "WKS.00010404");
    let r = action(&api, &[UNKNOWN, &foreign], "os-stop", None).await;
    r.expect_error(403, "WKS.00081102");
    let r = action(&api, &[off, UNKNOWN], "os-stop", None).await;
    r.expect_error(409, "WKS.00010032");
    let reasons = detail(&r);
    assert_eq!(reasons.len(), 2);
    assert_eq!(reasons[0]["desktop_id"], off);
    assert_eq!(reasons[1]["error_code"], "WKS.00010404");

    // Logoff and batch-delete are all-or-nothing; nothing is written when one is refused.
    let before = snapshot(&api).await;
    api.post("desktops/logoff", &json!({"desktop_ids": [act, UNKNOWN]}))
        .await
        .expect_error(404, "WKS.00010404");
    api.post(
        "desktops/batch-delete",
        &json!({"desktop_ids": [act, busy]}),
    )
    .await
    .expect_error(409, "WKS.00010033");
    api.post(
        "desktops/batch-delete",
        &json!({"desktop_ids": [act, &foreign]}),
    )
    .await
    .expect_error(403, "WKS.00081102");
    assert_eq!(
        snapshot(&api).await,
        before,
        "a refused all-or-nothing request wrote something"
    );

    // Rebuild queues what it can and names the rest in the 200 body.
    let body =
        json!({"desktop_ids": [act, busy], "image_type": "private", "image_id": PRIVATE_IMAGE});
    let r = api.post("desktops/rebuild", &body).await;
    let reply = r.expect(200).clone();
    assert_eq!(reply["error_code"], "WKS.00010033", "{reply}");
    assert!(
        reply["error_msg"]
            .as_str()
            .unwrap_or_default()
            .contains(busy),
        "{reply}"
    );
    let job = wait_job_status(&api, &job_id(&r, 200), "SUCCESS").await;
    assert_eq!(job["job_type"], "rebuildDesktops");
    assert_eq!(job["sub_jobs_total"], 1);
    let body = json!({"desktop_ids": [busy], "image_type": "gold", "image_id": LINUX_IMAGE});
    api.post("desktops/rebuild", &body)
        .await
        .expect_error(409, "WKS.00010033");
}

#[tokio::test]
async fn logoff_ends_sessions_with_a_message_and_skips_idle_desktops() {
    let server = Server::start(Options::default().sim_ms("LOGOFF", 200)).await;
    let api = server.api();
    let body = create_body(
        &["lo-c", "lo-d", "lo-i"],
        &[Some("lia"), Some("ned"), Some("max")],
        &json!({}),
    );
    let ids = create_with(&api, &body).await;
    let [conn, disc, idle] = [&ids[0], &ids[1], &ids[2]].map(String::as_str);
    session(&api, conn, "CONNECTED").await;
    session(&api, disc, "CONNECTED").await;
    session(&api, disc, "DISCONNECTED").await;
    assert_eq!(must_desktop(&api, conn).await["login_status"], "CONNECTED");

    let msg = "Maintenance: please save your work";
    let r = api
        .post(
            "desktops/logoff",
            &json!({"desktop_ids": [conn, disc, idle], "message": msg}),
        )
        .await;
    r.expect(200);
    assert!(
        r.text.is_empty(),
        "logoff answers an empty body: {}",
        r.text
    );
    assert_eq!(must_desktop(&api, conn).await["task_status"], "logging-off");

    for id in [conn, disc, idle] {
        let d = wait_idle(&api, id).await.unwrap_or_default();
        assert_eq!(d["status"], "ACTIVE", "{}", state(&d));
        assert_eq!(d["login_status"], "REGISTERED", "{}", state(&d));
    }
    let subs = sub_jobs(&api, &[("job_type", "logoffDesktops".into())]).await;
    assert_eq!(
        subs.len(),
        3,
        "one logoffDesktops job with a sub-job per desktop: {subs:?}"
    );
    let job_ids: std::collections::HashSet<&Value> = subs.iter().map(|s| &s["job_id"]).collect();
    assert_eq!(job_ids.len(), 1);
    let job = wait_job_status(
        &api,
        subs[0]["job_id"].as_str().unwrap_or_default(),
        "SUCCESS",
    )
    .await;
    assert_eq!(job["job_type"], "logoffDesktops");

    // The message reaches the users who were logged in, not the idle desktop's.
    let notes = notifications(&api).await;
    let mut to: Vec<&str> = notes
        .iter()
        .filter(|n| n["type"] == "MESSAGE")
        .map(|n| n["desktop_name"].as_str().unwrap_or_default())
        .collect();
    to.sort_unstable();
    assert_eq!(to, ["lo-c", "lo-d"], "{notes:?}");
    assert!(notes.iter().all(|n| n["error_message"] == msg), "{notes:?}");

    let history = api.get(&format!("desktops/{conn}/actions"), &[]).await;
    let actions = history.expect(200)["desktop_actions"].clone();
    assert_eq!(actions[0]["action"], "logoff", "{actions}");
    assert_eq!(actions[0]["result"], "SUCCESS");
}

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

#[tokio::test]
async fn action_history_lists_operations_newest_first_with_who_asked() {
    let server = Server::start(Options::default()).await;
    let api = server.api();
    let (ak2, sk2) = server.create_credential(common::PROJECT);
    let api2 = server.api_as(&ak2, &sk2, common::PROJECT);
    let id = create(&api, &["hist-1"]).await.remove(0);
    act_ok(&api, &[&id], "os-stop", Some("HARD")).await;
    act_ok(&api2, &[&id], "os-start", None).await;
    act_ok(&api, &[&id], "reboot", Some("SOFT")).await;
    put_fault(
        &api,
        &id,
        &json!({"fail_next": 1, "ops": ["os-hibernate"], "error_msg": "no disk space"}),
    )
    .await;
    let r = action(&api, &[&id], "os-hibernate", None).await;
    wait_job_status(&api, &job_id(&r, 200), "FAIL").await;

    let r = api.get(&format!("desktops/{id}/actions"), &[]).await;
    let body = r.expect(200).clone();
    assert_eq!(body["total_count"], 5);
    let actions = body["desktop_actions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = actions
        .iter()
        .map(|a| a["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        [
            "os-hibernate",
            "reboot (SOFT)",
            "os-start",
            "os-stop (HARD)",
            "create"
        ]
    );
    let results: Vec<&str> = actions
        .iter()
        .map(|a| a["result"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        results,
        ["FAILED", "SUCCESS", "SUCCESS", "SUCCESS", "SUCCESS"]
    );
    assert!(
        actions[0]["traceback"]
            .as_str()
            .unwrap_or_default()
            .contains("no disk space"),
        "{}",
        actions[0]
    );
    for (i, who) in [(0, AK), (1, AK), (2, ak2.as_str()), (3, AK), (4, AK)] {
        let msg = actions[i]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(who), "entry {i} names {who}: {msg}");
    }
    assert!(
        !actions[2]["message"]
            .as_str()
            .unwrap_or_default()
            .contains(AK)
    );
    let times: Vec<&str> = actions
        .iter()
        .map(|a| a["start_time"].as_str().unwrap_or_default())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );

    let page = api
        .get(
            &format!("desktops/{id}/actions"),
            &q(&[("limit", "2"), ("offset", "1")]),
        )
        .await;
    let page = page.expect(200).clone();
    assert_eq!(page["total_count"], 5);
    let names: Vec<&str> = page["desktop_actions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|a| a["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["reboot (SOFT)", "os-start"]);
}
