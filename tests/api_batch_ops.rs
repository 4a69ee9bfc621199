//! Batch operations beyond the state table: per-desktop refusals in one batch and whole
//! refusals, logoff of user sessions with a message, and the action history.

mod common;

use common::desktops::{
    act_ok, action, break_desktops, create, create_body, create_with, error_detail, hold_desktops,
    job_id, must_desktop, notifications, put_fault, session, snapshot, state, sub_jobs, wait_idle,
    wait_job_status,
};
use common::{AK, Api, LINUX_IMAGE, Options, PRIVATE_IMAGE, Server, q};
use serde_json::{Value, json};
use std::collections::HashMap;

const UNKNOWN: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

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
    whole_refusals(&api, [act, off, busy], &foreign).await;
    rebuild_queues_what_it_can(&api, act, busy).await;
}

/// None can be queued: one error, chosen by the reasons; all-or-nothing requests
/// write nothing when one desktop is refused.
async fn whole_refusals(api: &Api, [act, off, busy]: [&str; 3], foreign: &str) {
    let r = action(api, &[UNKNOWN], "os-stop", None).await;
    r.expect_error(404, "WKS.00010404");
    let r = action(api, &[UNKNOWN, foreign], "os-stop", None).await;
    r.expect_error(403, "WKS.00081102");
    let r = action(api, &[off, UNKNOWN], "os-stop", None).await;
    r.expect_error(409, "WKS.00010032");
    let reasons = error_detail(&r);
    assert_eq!(reasons.len(), 2);
    assert_eq!(reasons[0]["desktop_id"], off);
    assert_eq!(reasons[1]["error_code"], "WKS.00010404");

    // Logoff and batch-delete are all-or-nothing; nothing is written when one is refused.
    let before = snapshot(api).await;
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
        &json!({"desktop_ids": [act, foreign]}),
    )
    .await
    .expect_error(403, "WKS.00081102");
    assert_eq!(
        snapshot(api).await,
        before,
        "a refused all-or-nothing request wrote something"
    );
}

/// Rebuild queues what it can and names the rest in the 200 body.
async fn rebuild_queues_what_it_can(api: &Api, act: &str, busy: &str) {
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
    let job = wait_job_status(api, &job_id(&r, 200), "SUCCESS").await;
    assert_eq!(job["job_type"], "rebuildDesktops");
    assert_eq!(job["sub_jobs_total"], 1);
    let body = json!({"desktop_ids": [busy], "image_type": "gold", "image_id": LINUX_IMAGE});
    api.post("desktops/rebuild", &body)
        .await
        .expect_error(409, "WKS.00010033");
}

#[tokio::test]
async fn logoff_ends_sessions_with_a_message_and_skips_idle_desktops() {
    let server = Server::start(Options::default().sim_ms("LOGOFF", 400)).await;
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
    assert_eq!(
        column(&actions, "action"),
        [
            "os-hibernate",
            "reboot (SOFT)",
            "os-start",
            "os-stop (HARD)",
            "create"
        ]
    );
    assert_eq!(
        column(&actions, "result"),
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
    let times = column(&actions, "start_time");
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
    let page = page["desktop_actions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    assert_eq!(column(page, "action"), ["reboot (SOFT)", "os-start"]);
}

/// One string field of each item.
fn column<'a>(items: &'a [Value], key: &str) -> Vec<&'a str> {
    items
        .iter()
        .map(|item| item[key].as_str().unwrap_or_default())
        .collect()
}
