//! Desktops end to end: create 100 in one request (and more by `size`), read the job to
//! the end, list / filter / page / sort, show one, delete one. The catalog and users are
//! in `api_catalog_users.rs`.

mod common;

use common::desktops::{
    act_ok, create_body, job_id, must_desktop, sub_jobs, submit_create, wait_gone, wait_job_status,
};
use common::{Api, LINUX_IMAGE, Options, PRODUCT, Server, WINDOWS_IMAGE, q};
use serde_json::{Value, json};
use std::collections::HashSet;

/// Desktops of a list answer.
fn items(v: &Value) -> &[Value] {
    v["desktops"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn field<'a>(list: &'a [Value], key: &str) -> Vec<&'a str> {
    list.iter()
        .map(|d| d[key].as_str().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn create_hundred_list_filter_page_show_delete() {
    // Creation takes a little simulated time so BUILD/spawning can be seen; deletion too.
    let server = Server::start(
        Options::default()
            .sim_ms("CREATE", 400)
            .sim_ms("DELETE", 400),
    )
    .await;
    let api = server.api();
    let (job_a, job_b) = submit_120(&api).await;

    // Under creation: BUILD / spawning (the create takes 400 ms of simulated time).
    let building = api
        .get("desktops", &q(&[("status", "BUILD"), ("limit", "1000")]))
        .await;
    let building = items(building.expect(200)).to_vec();
    assert!(!building.is_empty(), "no desktop was seen under creation");
    for d in &building {
        assert_eq!(d["task_status"], "spawning", "{d}");
    }

    let job = wait_job_status(&api, &job_a, "SUCCESS").await;
    assert_eq!(job["job_type"], "createDesktops");
    assert_eq!(job["sub_jobs_total"], 100);
    let subs = sub_jobs(&api, &[("job_id", job_a.clone())]).await;
    assert_eq!(subs.len(), 100);
    assert!(subs.iter().all(|s| s["status"] == "SUCCESS"), "{subs:?}");
    let ids_a: HashSet<&str> = subs
        .iter()
        .map(|s| s["entities"]["desktop_id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ids_a.len(), 100, "one sub-job per desktop");
    let job = wait_job_status(&api, &job_b, "SUCCESS").await;
    assert_eq!(job["sub_jobs_total"], 20);
    check_listed(&api).await;
}

/// 100 desktops with users in one request, 20 more by size and name prefix.
async fn submit_120(api: &Api) -> (String, String) {
    let names: Vec<String> = (0..100).map(|i| format!("pc-{i:03}")).collect();
    let users: Vec<String> = (0..100).map(|i| format!("u{i:03}")).collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let user_refs: Vec<Option<&str>> = users.iter().map(|u| Some(u.as_str())).collect();
    let body = create_body(
        &name_refs,
        &user_refs,
        &json!({
            "availability_zone": "cn-north-4a",
            "root_volume": {"type": "SSD", "size": 100},
            "data_volumes": [{"type": "SAS", "size": 50}],
            "tags": [{"key": "team", "value": "alpha"}],
        }),
    );
    let job_a = submit_create(api, &body).await;

    // 20 more by size + desktop_name prefix, without users, elsewhere, from another image.
    let r = api
        .post(
            "desktops",
            &json!({
                "product_id": PRODUCT, "image_id": LINUX_IMAGE, "image_type": "gold",
                "size": 20, "desktop_name": "bulk", "availability_zone": "cn-north-4b",
                "tags": [{"key": "team", "value": "beta"}],
            }),
        )
        .await;
    (job_a, job_id(&r, 200))
}

/// The whole list, filtered and paged; one shown, then deleted.
async fn check_listed(api: &Api) {
    let all = api.get("desktops", &[]).await;
    let all = all.expect(200).clone();
    assert_eq!(all["total_count"], 120);
    assert_eq!(items(&all).len(), 120);
    for d in items(&all) {
        assert_eq!(d["status"], "ACTIVE", "{d}");
        assert_eq!(d["task_status"], "", "{d}");
    }
    let bulk: Vec<&str> = field(items(&all), "computer_name")
        .into_iter()
        .filter(|n| n.starts_with("bulk"))
        .collect();
    assert_eq!(bulk.len(), 20, "size + desktop_name makes prefixed names");
    assert!(bulk.iter().all(|n| n.len() <= 15), "{bulk:?}");

    check_filters(api, &all).await;
    check_paging_and_sorting(api).await;
    let pc7 = items(&all)
        .iter()
        .find(|d| d["computer_name"] == "pc-007")
        .expect("pc-007 is listed")
        .clone();
    let id = pc7["desktop_id"].as_str().unwrap_or_default().to_owned();
    check_shown(api, &pc7, &id).await;
    check_deleted(api, &id).await;
}

/// One desktop shown: every field the SDK's Desktop detail has.
async fn check_shown(api: &Api, pc7: &Value, id: &str) {
    let shown = api.get(&format!("desktops/{id}"), &[]).await;
    let d = &shown.expect(200)["desktop"];
    assert_eq!(d["desktop_id"], id);
    assert_eq!(d["computer_name"], "pc-007");
    assert_eq!(d["status"], "ACTIVE");
    assert_eq!(d["task_status"], "");
    assert_eq!(d["login_status"], "REGISTERED");
    assert_eq!(d["user_name"], "u007");
    assert_eq!(d["user_list"], json!(["u007"]));
    assert_eq!(d["attach_user_infos"][0]["user_name"], "u007");
    assert_eq!(d["desktop_type"], "DEDICATED");
    assert_eq!(d["metadata"]["image_name"], "Windows 10 Enterprise 64bit");
    assert_eq!(d["metadata"]["metering.image_id"], WINDOWS_IMAGE);
    assert_eq!(d["root_volume"]["type"], "SSD");
    assert_eq!(d["root_volume"]["size"], 100);
    assert_eq!(d["data_volumes"].as_array().map(Vec::len), Some(1));
    assert_eq!(d["data_volumes"][0]["size"], 50);
    assert_eq!(d["product_id"], PRODUCT);
    assert_eq!(d["product"]["product_id"], PRODUCT);
    assert_eq!(d["product"]["cpu"], "2");
    assert_eq!(d["product"]["memory"], "4");
    assert_eq!(d["availability_zone"], "cn-north-4a");
    assert_eq!(d["tags"], json!([{"key": "team", "value": "alpha"}]));
    assert_eq!(d["ip_addresses"], json!([pc7["ip_address"]]));
    assert!(
        d.get("process").is_none(),
        "an idle desktop shows no progress: {d}"
    );
}

/// Delete it: 204 at once, gone once its sub-job succeeds.
async fn check_deleted(api: &Api, id: &str) {
    let r = api.delete(&format!("desktops/{id}"), &[]).await;
    r.expect(204);
    assert!(r.text.is_empty(), "204 has no body: {}", r.text);
    let deleting = must_desktop(api, id).await;
    assert_eq!(
        deleting["task_status"], "deleting",
        "deletion is asynchronous"
    );
    let del = sub_jobs(
        api,
        &[
            ("desktop_id", id.to_owned()),
            ("job_type", "deleteDesktops".into()),
        ],
    )
    .await;
    assert_eq!(del.len(), 1, "{del:?}");
    let del_job = del[0]["job_id"].as_str().unwrap_or_default().to_owned();
    let j = wait_job_status(api, &del_job, "SUCCESS").await;
    assert_eq!(j["job_type"], "deleteDesktops");
    wait_gone(api, id).await;
    let after = api.get("desktops", &q(&[("limit", "0")])).await;
    assert_eq!(after.expect(200)["total_count"], 119);
    let again = api.delete(&format!("desktops/{id}"), &[]).await;
    again.expect_error(404, "WKS.00010404");
}

/// Each filter of the SDK's ListDesktopsRequest against what the full list says.
async fn check_filters(api: &Api, all: &Value) {
    let count = async |pairs: &[(&'static str, &str)]| -> Vec<Value> {
        let mut qs = q(pairs);
        qs.push(("limit", "1000".into()));
        let r = api.get("desktops", &qs).await;
        let body = r.expect(200);
        let list = items(body).to_vec();
        assert_eq!(
            body["total_count"].as_u64(),
            Some(list.len() as u64),
            "total_count of {pairs:?}"
        );
        list
    };
    assert_eq!(count(&[("status", "ACTIVE")]).await.len(), 120);
    assert_eq!(count(&[("status", "SHUTOFF")]).await.len(), 0);

    let u7 = count(&[("user_name", "u007")]).await;
    assert_eq!(field(&u7, "user_name"), ["u007"]);
    let pc01 = count(&[("computer_name", "pc-01")]).await;
    let mut names = field(&pc01, "computer_name");
    names.sort_unstable();
    let want: Vec<String> = (10..20).map(|i| format!("pc-0{i}")).collect();
    assert_eq!(names, want);

    let first = &items(all)[0];
    let ip = first["ip_address"].as_str().unwrap_or_default();
    let by_ip = count(&[("desktop_ip", ip)]).await;
    assert!(by_ip.iter().any(|d| d["desktop_id"] == first["desktop_id"]));
    assert!(by_ip.iter().all(|d| d["ip_address"] == ip), "{by_ip:?}");

    check_repeated_ids(api, all).await;
    check_other_filters(api, all).await;
}

/// A repeated `desktop_id` selects exactly those desktops.
async fn check_repeated_ids(api: &Api, all: &Value) {
    let three: Vec<&str> = field(items(all), "desktop_id")
        .into_iter()
        .take(3)
        .collect();
    let r = api
        .get(
            "desktops",
            &q(&[
                ("desktop_id", three[0]),
                ("desktop_id", three[1]),
                ("desktop_id", three[2]),
            ]),
        )
        .await;
    let mut got = field(items(r.expect(200)), "desktop_id");
    got.sort_unstable();
    let mut want = three.clone();
    want.sort_unstable();
    assert_eq!(got, want, "repeated desktop_id selects exactly those");
}

/// Type, image, tag and zone filters; the detail list; a stopped desktop moving
/// between status filters.
async fn check_other_filters(api: &Api, all: &Value) {
    let count = async |pairs: &[(&'static str, &str)]| -> Vec<Value> {
        let mut qs = q(pairs);
        qs.push(("limit", "1000".into()));
        items(api.get("desktops", &qs).await.expect(200)).to_vec()
    };

    assert_eq!(count(&[("desktop_type", "DEDICATED")]).await.len(), 120);
    assert_eq!(count(&[("desktop_type", "POOLED")]).await.len(), 0);
    let linux = count(&[("image_id", LINUX_IMAGE)]).await;
    assert_eq!(linux.len(), 20);
    assert!(
        field(&linux, "computer_name")
            .iter()
            .all(|n| n.starts_with("bulk"))
    );
    assert_eq!(count(&[("tag", "team=beta")]).await.len(), 20);
    assert_eq!(count(&[("tag", "team=alpha")]).await.len(), 100);
    assert_eq!(count(&[("tag", "team=gamma")]).await.len(), 0);
    assert_eq!(
        count(&[("availability_zone", "cn-north-4b")]).await.len(),
        20
    );
    assert_eq!(
        count(&[("availability_zone", "cn-north-4a")]).await.len(),
        100
    );
    let combined = count(&[("availability_zone", "cn-north-4a"), ("user_name", "u05")]).await;
    assert_eq!(combined.len(), 10, "filters combine with AND");

    // The detail list takes the same filters and answers DesktopDetailInfo.
    let r = api
        .get(
            "desktops/detail",
            &q(&[("tag", "team=beta"), ("limit", "5")]),
        )
        .await;
    let body = r.expect(200);
    assert_eq!(body["total_count"], 20);
    assert_eq!(items(body).len(), 5);
    for d in items(body) {
        assert_eq!(d["metadata"]["image_name"], "Ubuntu 22.04 Desktop", "{d}");
        assert_eq!(d["availability_zone"], "cn-north-4b");
        assert_eq!(d["login_status"], "REGISTERED");
    }

    // A stopped desktop moves between status filters.
    let stop: Vec<&str> = field(items(all), "desktop_id")
        .into_iter()
        .skip(3)
        .take(3)
        .collect();
    act_ok(api, &stop, "os-stop", Some("HARD")).await;
    let off = count(&[("status", "SHUTOFF")]).await;
    let mut off_ids = field(&off, "desktop_id");
    off_ids.sort_unstable();
    let mut want = stop.clone();
    want.sort_unstable();
    assert_eq!(off_ids, want);
    assert_eq!(count(&[("status", "ACTIVE")]).await.len(), 117);
}

async fn check_paging_and_sorting(api: &Api) {
    let page = async |offset: usize, limit: usize, sort: &[(&'static str, &str)]| {
        let mut qs = q(sort);
        qs.push(("offset", offset.to_string()));
        qs.push(("limit", limit.to_string()));
        let r = api.get("desktops", &qs).await;
        let body = r.expect(200).clone();
        assert_eq!(body["total_count"], 120, "total_count ignores paging");
        items(&body).to_vec()
    };
    let by_name = [("sort_field", "computer_name"), ("sort_type", "ASC")];
    let mut paged = Vec::new();
    for offset in (0..120).step_by(25) {
        let p = page(offset, 25, &by_name).await;
        assert_eq!(
            p.len(),
            if offset == 100 { 20 } else { 25 },
            "page at {offset}"
        );
        paged.extend(p);
    }
    let names = field(&paged, "computer_name");
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "pages in computer_name order");
    let unique: HashSet<&str> = field(&paged, "desktop_id").into_iter().collect();
    assert_eq!(unique.len(), 120, "pages neither repeat nor skip");
    assert!(page(120, 25, &by_name).await.is_empty());

    let desc = page(
        0,
        1000,
        &[("sort_field", "computer_name"), ("sort_type", "DESC")],
    )
    .await;
    let names = field(&desc, "computer_name");
    let mut want = names.clone();
    want.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(names, want);

    let created = page(0, 1000, &[("sort_field", "created"), ("sort_type", "ASC")]).await;
    let times = field(&created, "created");
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "created ascending");
    let created_desc = page(0, 1000, &[("sort_field", "created"), ("sort_type", "DESC")]).await;
    let mut reversed = field(&created_desc, "desktop_id");
    reversed.reverse();
    assert_eq!(
        reversed,
        field(&created, "desktop_id"),
        "DESC is ASC reversed"
    );
}
