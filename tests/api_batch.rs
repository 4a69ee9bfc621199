//! The state table of `docs/state-table.md`, checked row by row against the server: the
//! test parses the document, puts one fresh desktop in each row's starting state, applies
//! the row's operation, and compares the answer (refusal code, or the `task_status` while
//! running and the state after) with the row. Every (starting state × operation) pair
//! must have a row.

mod common;

use common::desktops::{
    JOB_BOUND, act_ok, break_desktops, create, desktop, desktop_sub_jobs, hold_desktops, job_id,
    must_desktop, session, state, wait_idle,
};
use common::{Api, LINUX_IMAGE, Options, Reply, Server, poll};
use futures::StreamExt as _;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Starting states every operation must have a row for.
const FROM: &[&str] = &[
    "ACTIVE",
    "ACTIVE CONNECTED",
    "SHUTOFF",
    "HIBERNATED",
    "ERROR",
    "busy",
];
/// Operations every starting state must have a row for.
const OPS: &[&str] = &[
    "os-start",
    "os-stop SOFT",
    "os-stop HARD",
    "reboot SOFT",
    "reboot HARD",
    "os-hibernate",
    "rebuild",
    "logoff",
    "delete",
    "delete force",
];

/// One row of the table.
#[derive(Debug, Clone)]
struct Row {
    from: String,
    op: String,
    running: Option<String>,
    after: Option<(String, String)>,
    refused: Option<String>,
}

impl Row {
    fn gone(&self) -> bool {
        self.after.as_ref().is_some_and(|(s, _)| s == "(gone)")
    }
}

/// The rows of the table under `## The table`.
fn parse_table(doc: &str) -> Vec<Row> {
    let section = doc
        .split("## The table")
        .nth(1)
        .expect("docs/state-table.md has a '## The table' section");
    let mut rows = Vec::new();
    for line in section.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 6, "a row has six cells: {line}");
        if cells[0] == "from" || cells[0].starts_with("---") {
            continue;
        }
        let opt = |s: &str| (!s.is_empty() && s != "—").then(|| s.to_owned());
        let row = Row {
            from: cells[0].to_owned(),
            op: cells[1].to_owned(),
            running: opt(cells[2]),
            after: opt(cells[3]).map(|s| (s, cells[4].to_owned())),
            refused: opt(cells[5]),
        };
        assert!(
            row.refused.is_some() != row.after.is_some(),
            "a row is either refused or has a state after: {line}"
        );
        assert!(
            row.refused.is_none() || row.running.is_none(),
            "a refused row runs nothing: {line}"
        );
        rows.push(row);
    }
    rows
}

/// Sends the row's operation for one desktop.
async fn submit(api: &Api, op: &str, id: &str) -> Reply {
    let (name, mode) = op.split_once(' ').map_or((op, None), |(n, m)| (n, Some(m)));
    match (name, mode) {
        ("rebuild", None) => {
            let body = json!({"desktop_ids": [id], "image_type": "gold", "image_id": LINUX_IMAGE});
            api.post("desktops/rebuild", &body).await
        }
        ("logoff", None) => {
            api.post("desktops/logoff", &json!({"desktop_ids": [id]}))
                .await
        }
        ("delete", None) => {
            api.post("desktops/batch-delete", &json!({"desktop_ids": [id]}))
                .await
        }
        ("delete", Some("force")) => {
            let body = json!({"desktop_ids": [id], "is_force_delete": true});
            api.post("desktops/batch-delete", &body).await
        }
        (op_type, mode) => common::desktops::action(api, &[id], op_type, mode).await,
    }
}

/// The HTTP status of an accepted request of this operation.
fn accepted_status(op: &str) -> u16 {
    if op.starts_with("delete") { 202 } else { 200 }
}

/// Checks one row on desktop `id`, already in the row's starting state.
async fn check_row(api: &Api, row: &Row, id: &str) {
    let what = format!("[{} | {}] on {id}", row.from, row.op);
    let before = must_desktop(api, id).await;
    let subs_before = desktop_sub_jobs(api, id).await.len();
    let r = submit(api, &row.op, id).await;
    if let Some(code) = &row.refused {
        r.expect_error(409, code);
        let detail: Value = serde_json::from_str(r.body["error_detail"].as_str().unwrap_or(""))
            .unwrap_or_else(|e| panic!("{what}: error_detail is not JSON ({e}): {}", r.text));
        assert_eq!(detail[0]["desktop_id"], id, "{what}: {detail}");
        assert_eq!(detail[0]["error_code"], code.as_str(), "{what}: {detail}");
        if code == "WKS.00010032" {
            let msg = detail[0]["error_msg"].as_str().unwrap_or_default();
            let want = format!(
                "Operation conflict. The desktop current instance status is [{}] and deny operation [",
                before["status"].as_str().unwrap_or_default()
            );
            assert!(msg.starts_with(&want) && msg.contains(id), "{what}: {msg}");
        }
        let after = must_desktop(api, id).await;
        assert_eq!(
            state(&after),
            state(&before),
            "{what}: a refusal changes nothing"
        );
        assert_eq!(
            desktop_sub_jobs(api, id).await.len(),
            subs_before,
            "{what}: nothing queued"
        );
        return;
    }
    r.expect(accepted_status(&row.op));
    if row.op != "logoff" {
        job_id(&r, accepted_status(&row.op));
    }
    if let Some(task) = &row.running {
        // Set when the request is accepted; the operation takes 500 ms of simulated time.
        let now = must_desktop(api, id).await;
        assert_eq!(
            now["task_status"],
            task.as_str(),
            "{what}: while running: {}",
            state(&now)
        );
    }
    let settled = wait_idle(api, id).await;
    let (status, login) = row.after.clone().unwrap_or_default();
    match settled {
        None => assert!(
            row.gone(),
            "{what}: the desktop is gone, the table says {status}"
        ),
        Some(d) => {
            assert!(
                !row.gone(),
                "{what}: the table says gone, the desktop is {}",
                state(&d)
            );
            assert_eq!(d["status"], status.as_str(), "{what}: {}", state(&d));
            assert_eq!(d["login_status"], login.as_str(), "{what}: {}", state(&d));
            assert_eq!(d["task_status"], "", "{what}");
        }
    }
    let subs = desktop_sub_jobs(api, id).await;
    let last = subs.last().cloned().unwrap_or_default();
    assert_eq!(last["status"], "SUCCESS", "{what}: last sub-job {last}");
    if row.from == "busy" {
        // The forced delete cancelled the rebuild that held the desktop.
        let cancelled = subs
            .iter()
            .find(|s| s["job_type"] == "rebuildDesktops")
            .unwrap_or_else(|| panic!("{what}: no rebuild sub-job in {subs:?}"));
        assert_eq!(cancelled["status"], "FAILED", "{what}: {cancelled}");
        assert_eq!(
            cancelled["error_code"], "WKS.00211405",
            "{what}: {cancelled}"
        );
    }
}

/// Puts each desktop of `by_from` into its starting state.
async fn prepare(api: &Api, by_from: &BTreeMap<String, Vec<String>>) {
    let ids = |from: &str| -> Vec<&str> {
        by_from
            .get(from)
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default()
    };
    let (shutoff, hibernated, broken) = (ids("SHUTOFF"), ids("HIBERNATED"), ids("ERROR"));
    tokio::join!(
        act_ok(api, &shutoff, "os-stop", Some("HARD")),
        act_ok(api, &hibernated, "os-hibernate", None),
        break_desktops(api, &broken),
    );
    for id in ids("ACTIVE CONNECTED") {
        session(api, id, "CONNECTED").await;
    }
    for id in ids("ACTIVE DISCONNECTED") {
        session(api, id, "CONNECTED").await;
        session(api, id, "DISCONNECTED").await;
    }
    // The clock is never advanced here, so these stay busy.
    hold_desktops(api, &ids("busy")).await;
}

/// The state a desktop must show for a `from` cell.
fn starting_state(from: &str) -> (&str, &str, &str) {
    match from {
        "ACTIVE" => ("ACTIVE", "", "REGISTERED"),
        "ACTIVE CONNECTED" => ("ACTIVE", "", "CONNECTED"),
        "ACTIVE DISCONNECTED" => ("ACTIVE", "", "DISCONNECTED"),
        "SHUTOFF" => ("SHUTOFF", "", "UNREGISTER"),
        "HIBERNATED" => ("HIBERNATED", "", "UNREGISTER"),
        "ERROR" => ("ERROR", "", "UNREGISTER"),
        "busy" => ("ACTIVE", "rebuilding", "REGISTERED"),
        other => panic!("docs/state-table.md: unknown starting state {other:?}"),
    }
}

#[tokio::test]
async fn every_row_of_the_documented_state_table_holds() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/state-table.md"))
        .expect("docs/state-table.md is readable");
    let rows = parse_table(&doc);
    let mut seen = BTreeSet::new();
    for r in &rows {
        assert!(
            seen.insert((r.from.clone(), r.op.clone())),
            "duplicate row {r:?}"
        );
        assert!(OPS.contains(&r.op.as_str()), "unknown operation in {r:?}");
    }
    for from in FROM {
        for op in OPS {
            assert!(
                seen.contains(&((*from).to_owned(), (*op).to_owned())),
                "no row for {from} × {op}"
            );
        }
    }

    // Every operation takes 500 ms of simulated time, so `while running` can be read.
    let server = Server::start(Options::default().all_sim_ms(500)).await;
    let api = server.api();
    let names: Vec<String> = (0..rows.len()).map(|i| format!("st-{i:03}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let ids = create(&api, &refs).await;
    let mut by_from: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (row, id) in rows.iter().zip(&ids) {
        by_from
            .entry(row.from.clone())
            .or_default()
            .push(id.clone());
    }
    prepare(&api, &by_from).await;
    for (row, id) in rows.iter().zip(&ids) {
        let (status, task, login) = starting_state(&row.from);
        poll(
            &format!("{id} to be {}", row.from),
            JOB_BOUND,
            api.logs(),
            async || {
                let d = desktop(&api, id).await.ok_or("gone")?;
                let ok =
                    d["status"] == status && d["task_status"] == task && d["login_status"] == login;
                if ok { Ok(()) } else { Err(state(&d)) }
            },
        )
        .await;
    }

    // The rows, a dozen at a time (each polls its own desktop).
    futures::stream::iter(rows.iter().zip(&ids))
        .for_each_concurrent(12, |(row, id)| check_row(&api, row, id))
        .await;
}
