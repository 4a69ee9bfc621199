//! Bad input, end to end: every case asserts the HTTP status and `error_code` (and, where
//! the contract says so, that `error_msg` names the field or the allowed values), and
//! that nothing was written: desktops, their states, sub-jobs, users and notifications
//! are exactly as before. Authentication failures are in `api_auth.rs`.

mod common;

use common::desktops::{Snapshot, create, snapshot};
use common::{AK, Api, Options, PRIVATE_IMAGE, PRODUCT, Reply, SK, Server, WINDOWS_IMAGE, q};
use deskplane::client::Call;
use http::{HeaderMap, HeaderValue, Method};
use serde_json::{Value, json};
use time::OffsetDateTime;

const UNKNOWN_DESKTOP: &str = "6b0d4a4e-1f3b-4d0c-9a51-0f6e0c2d7a11";
const UNKNOWN_JOB: &str = "0d7e5f0c-8a8b-4f7e-bb4e-2a8f5b0d9c33";

/// One bad request and what it must be answered with.
struct Case {
    method: Method,
    /// Under `/v2/{project}/`, or a full path when it starts with `/`.
    path: String,
    query: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
    /// Texts `error_msg` must contain.
    msg_has: Vec<String>,
}

fn case(
    method: Method,
    path: &str,
    body: impl Into<Vec<u8>>,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        method,
        path: path.to_owned(),
        query: Vec::new(),
        body: body.into(),
        status,
        code,
        msg_has: Vec::new(),
    }
}

fn post(path: &str, body: &Value, status: u16, code: &'static str) -> Case {
    case(Method::POST, path, body.to_string(), status, code)
}

fn get(path: &str, query: &[(&'static str, &str)], status: u16, code: &'static str) -> Case {
    Case {
        query: q(query),
        ..case(Method::GET, path, Vec::new(), status, code)
    }
}

impl Case {
    fn naming(mut self, texts: &[&str]) -> Self {
        self.msg_has = texts.iter().map(|t| (*t).to_owned()).collect();
        self
    }
}

/// The bad requests, given three existing ACTIVE desktops (the first named `e2e-0`).
// A table reads best one case per line.
#[rustfmt::skip]
fn cases(ids: &[String]) -> Vec<Case> {
    let a = ids[0].as_str();
    [batch_cases(a), create_and_job_cases(), list_and_route_cases(a)]
        .into_iter()
        .flatten()
        .collect()
}

/// A 400 `WKS.00211102` naming `field`.
#[allow(
    clippy::needless_pass_by_value,
    reason = "the table of cases reads best without a borrow in every row"
)]
fn bad(path: &str, body: Value, field: &str) -> Case {
    post(path, &body, 400, "WKS.00211102").naming(&[field])
}

const UNKNOWN_IMAGE: &str = "11111111-2222-4333-8444-555555555555";

/// The batch operations on desktop `a`.
#[rustfmt::skip]
fn batch_cases(a: &str) -> Vec<Case> {
    let too_many: Vec<String> = (0..101).map(|i| format!("00000000-0000-4000-8000-{i:012}")).collect();
    let rebuild = |extra: Value| {
        let mut body = json!({"desktop_ids": [a], "image_type": "gold", "image_id": WINDOWS_IMAGE});
        common::desktops::merge(&mut body, &extra);
        body
    };
    let unknown_image = UNKNOWN_IMAGE;
    vec![
        // POST /desktops/action
        case(Method::POST, "desktops/action", r#"{"desktop_ids": ["#, 400, "WKS.00211103"),
        case(Method::POST, "desktops/action", "", 400, "WKS.0001"),
        case(Method::POST, "desktops/action", "  \n", 400, "WKS.0001"),
        bad("desktops/action", json!({"desktop_ids": "x", "op_type": "os-stop"}), "desktop_ids"),
        bad("desktops/action", json!({"desktop_ids": [1, 2], "op_type": "os-stop"}), "desktop_ids"),
        bad("desktops/action", json!({"desktop_ids": [a], "op_type": 5}), "op_type"),
        bad("desktops/action", json!({"desktop_ids": [a]}), "op_type"),
        bad("desktops/action", json!({"op_type": "os-stop"}), "desktop_ids"),
        bad("desktops/action", json!({"desktop_ids": [], "op_type": "os-stop"}), "desktop_ids"),
        post("desktops/action", &json!({"desktop_ids": too_many, "op_type": "os-stop"}), 400, "WKS.00211104").naming(&["100"]),
        bad("desktops/action", json!({"desktop_ids": [a, a], "op_type": "os-stop"}), a),
        bad("desktops/action", json!({"desktop_ids": [a], "op_type": "os-explode"}), "os-start, os-stop, reboot, os-hibernate"),
        bad("desktops/action", json!({"desktop_ids": [a], "op_type": "reboot", "type": "MEDIUM"}), "SOFT, HARD"),
        post("desktops/action", &json!([a]), 400, "WKS.00211102"),
        post("desktops/action", &json!({"desktop_ids": [UNKNOWN_DESKTOP], "op_type": "os-stop"}), 404, "WKS.00010404").naming(&[UNKNOWN_DESKTOP]),
        // POST /desktops/rebuild
        bad("desktops/rebuild", json!({"desktop_ids": [a], "image_type": "gold"}), "image_id"),
        bad("desktops/rebuild", json!({"desktop_ids": [a], "image_id": WINDOWS_IMAGE}), "image_type"),
        post("desktops/rebuild", &rebuild(json!({"image_id": unknown_image})), 400, "WKS.00211105").naming(&[unknown_image]),
        bad("desktops/rebuild", rebuild(json!({"image_id": PRIVATE_IMAGE})), "image_type"),
        bad("desktops/rebuild", rebuild(json!({"image_type": "bogus"})), "gold, private, market"),
        bad("desktops/rebuild", rebuild(json!({"delay_time": -1})), "delay_time"),
        bad("desktops/rebuild", rebuild(json!({"delay_time": "ten"})), "delay_time"),
        bad("desktops/rebuild", rebuild(json!({"message": "x".repeat(401)})), "message"),
        bad("desktops/rebuild", rebuild(json!({"os_type": "Linux"})), "os_type"),
        bad("desktops/rebuild", rebuild(json!({"desktop_ids": [a, a]})), a),
        // POST /desktops/logoff: an absent list is refused, never "every desktop".
        bad("desktops/logoff", json!({}), "desktop_ids"),
        bad("desktops/logoff", json!({"desktop_ids": null, "message": "bye"}), "desktop_ids"),
        bad("desktops/logoff", json!({"desktop_ids": [a], "message": 7}), "message"),
        bad("desktops/logoff", json!({"desktop_ids": [a, a]}), a),
        // POST /desktops/batch-delete
        bad("desktops/batch-delete", json!({"desktop_ids": [a], "delete_users": "yes"}), "delete_users"),
        bad("desktops/batch-delete", json!({"desktop_ids": [a], "is_force_delete": 1}), "is_force_delete"),
        bad("desktops/batch-delete", json!({"desktop_ids": []}), "desktop_ids"),
        bad("desktops/batch-delete", json!({"desktop_ids": [a, a]}), a),
        post("desktops/batch-delete", &json!({"desktop_ids": [UNKNOWN_DESKTOP]}), 404, "WKS.00010404"),
    ]
}

/// Creation and jobs.
#[rustfmt::skip]
fn create_and_job_cases() -> Vec<Case> {
    let create = |extra: Value| {
        let mut body = json!({"product_id": PRODUCT, "image_id": WINDOWS_IMAGE, "image_type": "gold",
            "desktops": [{"computer_name": "fresh-1"}]});
        common::desktops::merge(&mut body, &extra);
        body
    };
    let unknown_image = UNKNOWN_IMAGE;
    let many_desktops: Vec<Value> = (0..101).map(|i| json!({"computer_name": format!("n{i}")})).collect();
    vec![
        // POST /desktops
        post("desktops", &create(json!({"image_id": unknown_image})), 400, "WKS.00211105"),
        post("desktops", &create(json!({"product_id": "workspace.x86.huge"})), 400, "WKS.00211106"),
        post("desktops", &create(json!({"availability_zone": "mars-1a"})), 400, "WKS.00211107"),
        bad("desktops", create(json!({"desktops": [{"computer_name": "bad_name!"}]})), "computer_name"),
        bad("desktops", create(json!({"desktops": [{"computer_name": "sixteen-chars-xx"}]})), "computer_name"),
        bad("desktops", create(json!({"desktops": [{"computer_name": "twin"}, {"computer_name": "twin"}]})), "twin"),
        bad("desktops", create(json!({"desktops": [{"computer_name": "ok-1", "user_name": "a b"}]})), "user_name"),
        post("desktops", &create(json!({"desktops": [{"computer_name": "e2e-0"}]})), 409, "WKS.00010040").naming(&["e2e-0"]),
        bad("desktops", create(json!({"size": 2, "desktop_name": "x"})), "size"),
        bad("desktops", json!({"product_id": PRODUCT, "image_id": WINDOWS_IMAGE, "size": 101, "desktop_name": "x"}), "size"),
        bad("desktops", json!({"product_id": PRODUCT, "image_id": WINDOWS_IMAGE, "size": "many", "desktop_name": "x"}), "size"),
        bad("desktops", json!({"image_id": WINDOWS_IMAGE, "desktops": [{"computer_name": "p1"}]}), "product_id"),
        bad("desktops", create(json!({"root_volume": {"type": "SAS", "size": 85}})), "root_volume"),
        bad("desktops", create(json!({"root_volume": {"type": "TAPE", "size": 80}})), "root_volume"),
        bad("desktops", create(json!({"desktops": many_desktops})), "desktops"),
        // Jobs
        get(&format!("workspace-jobs/{UNKNOWN_JOB}"), &[], 404, "WKS.00010405"),
        post(&format!("workspace-jobs/{UNKNOWN_JOB}/actions"), &json!({"op_type": "retry"}), 404, "WKS.00010405"),
        bad(&format!("workspace-jobs/{UNKNOWN_JOB}/actions"), json!({"op_type": "cancel"}), "retry"),
        get("workspace-sub-jobs", &[("status", "BOGUS")], 400, "WKS.00211102").naming(&["status"]),
        get("workspace-sub-jobs", &[("job_type", "explode")], 400, "WKS.00211102").naming(&["job_type"]),
    ]
}

/// Lists, single desktops (`a` exists), routes and methods, limits.
#[rustfmt::skip]
fn list_and_route_cases(a: &str) -> Vec<Case> {
    vec![
        // Lists and single desktops
        get("desktops", &[("status", "FOO")], 400, "WKS.00211102").naming(&["status"]),
        get("desktops", &[("limit", "abc")], 400, "WKS.00211102").naming(&["limit"]),
        get("desktops", &[("limit", "100000")], 400, "WKS.00211102").naming(&["limit"]),
        get("desktops", &[("offset", "-1")], 400, "WKS.00211102").naming(&["offset"]),
        get("desktops", &[("sort_field", "ram")], 400, "WKS.00211102").naming(&["sort_field"]),
        get("desktops", &[("sort_type", "UP")], 400, "WKS.00211102").naming(&["sort_type"]),
        get("desktops/detail", &[("tag", "novalue")], 400, "WKS.00211102").naming(&["tag"]),
        get(&format!("desktops/{UNKNOWN_DESKTOP}"), &[], 404, "WKS.00010404"),
        get(&format!("desktops/{UNKNOWN_DESKTOP}/actions"), &[], 404, "WKS.00010404"),
        case(Method::DELETE, &format!("desktops/{UNKNOWN_DESKTOP}"), Vec::new(), 404, "WKS.00010404"),
        Case { query: q(&[("is_force_delete", "maybe")]), ..case(Method::DELETE, &format!("desktops/{a}"), Vec::new(), 400, "WKS.00211102") }
            .naming(&["is_force_delete"]),
        // Routes and methods
        get("no-such-thing", &[], 404, "WKS.00000404"),
        get("/nowhere", &[], 404, "WKS.00000404"),
        case(Method::DELETE, "desktops", Vec::new(), 405, "WKS.00000405"),
        case(Method::PUT, "desktops/action", json!({}).to_string(), 405, "WKS.00000405"),
        // Over the 1 MiB default body limit.
        post("desktops/action", &json!({"desktop_ids": ["x".repeat(1_500_000)], "op_type": "os-stop"}), 413, "APIGW.0201"),
    ]
}

/// Sends a case and checks the answer.
async fn run(api: &Api, c: &Case) -> Reply {
    let path = if c.path.starts_with('/') {
        c.path.clone()
    } else {
        api.v2(&c.path)
    };
    let call = Call {
        method: c.method.clone(),
        path: &path,
        query: &c.query,
        body: c.body.clone(),
        signed_at: None,
    };
    let r = api.send(call, |_| {}).await;
    let msg = r.expect_error(c.status, c.code);
    for text in &c.msg_has {
        assert!(
            msg.contains(text.as_str()),
            "{}: error_msg {msg:?} does not name {text:?}",
            r.asked
        );
    }
    let keys: Vec<&String> = r
        .body
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    // The gateway's own codes (APIGW.*) also carry the request id, as Huawei's gateway does.
    let gateway = c.code.starts_with("APIGW.");
    for k in &keys {
        assert!(
            ["error_code", "error_msg", "error_detail"].contains(&k.as_str())
                || (gateway && k.as_str() == "request_id"),
            "{}: unexpected field {k} in {}",
            r.asked,
            r.text
        );
    }
    r
}

#[tokio::test]
async fn bad_input_is_refused_precisely_and_writes_nothing() {
    let server = Server::start(Options::default()).await;
    let api = server.api();
    let ids = create(&api, &["e2e-0", "e2e-1", "e2e-2"]).await;
    let before: Snapshot = snapshot(&api).await;
    assert_eq!(before.desktops.len(), 3);
    assert!(
        before
            .desktops
            .iter()
            .all(|d| d.1 == "ACTIVE" && d.2.is_empty())
    );

    for c in cases(&ids) {
        run(&api, &c).await;
        let after = snapshot(&api).await;
        assert_eq!(after, before, "{} {} wrote something", c.method, c.path);
    }

    // A refused request with a detail: every desktop's reason as JSON text.
    let r = api
        .post(
            "desktops/action",
            &json!({"desktop_ids": [UNKNOWN_DESKTOP, "another-unknown"], "op_type": "reboot"}),
        )
        .await;
    r.expect_error(404, "WKS.00010404");
    let detail: Value = serde_json::from_str(r.body["error_detail"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("error_detail is not JSON ({e}): {}", r.text));
    assert_eq!(detail.as_array().map(Vec::len), Some(2), "{detail}");
    assert_eq!(detail[1]["desktop_id"], "another-unknown");
    assert_eq!(detail[1]["error_code"], "WKS.00010404");
    assert_eq!(snapshot(&api).await, before);
}

#[tokio::test]
async fn non_json_content_type_is_415() {
    let server = Server::start(Options::default()).await;
    let api = server.api();
    let path = api.v2("desktops/action");
    let body = br#"{"desktop_ids": ["x"], "op_type": "os-stop"}"#.to_vec();
    let signed_body = body.clone();
    let signed_path = path.clone();
    // Sign with the text/plain content type, as a client sending it would.
    let resign = move |h: &mut HeaderMap| {
        h.insert("content-type", HeaderValue::from_static("text/plain"));
        deskplane::auth::sdk_hmac::sign(
            "POST",
            &signed_path,
            None,
            h,
            &signed_body,
            AK,
            SK.as_bytes(),
            OffsetDateTime::now_utc(),
        )
        .expect("the request can be re-signed");
    };
    let call = Call {
        method: Method::POST,
        path: &path,
        query: &[],
        body,
        signed_at: None,
    };
    let r = api.send(call, resign).await;
    let msg = r.expect_error(415, "WKS.00000415");
    assert!(msg.contains("text/plain"), "{msg}");
}

#[tokio::test]
async fn configured_limits_apply() {
    let server = Server::start(
        Options::default()
            .set("DESKPLANE_LIMITS__MAX_BATCH_IDS", "3")
            .set("DESKPLANE_LIMITS__MAX_CREATE", "2")
            .set("DESKPLANE_LIMITS__MAX_BODY_BYTES", "4096")
            .set("DESKPLANE_LIMITS__MAX_PAGE", "10"),
    )
    .await;
    let api = server.api();
    let ids = |n: usize| -> Vec<String> {
        (0..n)
            .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
            .collect()
    };
    let r = api
        .post(
            "desktops/action",
            &json!({"desktop_ids": ids(4), "op_type": "os-stop"}),
        )
        .await;
    let msg = r.expect_error(400, "WKS.00211104");
    assert!(msg.contains("at most 3"), "{msg}");
    let r = api
        .post(
            "desktops/action",
            &json!({"desktop_ids": ids(3), "op_type": "os-stop"}),
        )
        .await;
    r.expect_error(404, "WKS.00010404");

    let body = common::desktops::create_body(&["lim-1", "lim-2", "lim-3"], &[], &json!({}));
    let msg = api
        .post("desktops", &body)
        .await
        .expect_error(400, "WKS.00211102");
    assert!(msg.contains("1 to 2"), "{msg}");
    // (The helpers page sub-jobs 1000 at a time: too many for this server.)
    let body = common::desktops::create_body(&["lim-1", "lim-2"], &[], &json!({}));
    let job = common::desktops::submit_create(&api, &body).await;
    common::desktops::wait_job_status(&api, &job, "SUCCESS").await;

    let big = json!({"desktop_ids": ["x".repeat(5000)], "op_type": "os-stop"});
    let msg = api
        .post("desktops/action", &big)
        .await
        .expect_error(413, "APIGW.0201");
    assert!(msg.contains("4096"), "{msg}");
    // Far past the limit: the server reads the rest before answering, so the
    // client gets the 413 instead of a connection reset mid-upload.
    let huge = json!({"desktop_ids": ["x".repeat(16 << 20)], "op_type": "os-stop"});
    for _ in 0..3 {
        api.post("desktops/action", &huge)
            .await
            .expect_error(413, "APIGW.0201");
    }

    let r = api.get("desktops", &q(&[("limit", "11")])).await;
    let msg = r.expect_error(400, "WKS.00211102");
    assert!(msg.contains("limit"), "{msg}");
    let r = api.get("desktops", &q(&[("limit", "10")])).await;
    assert_eq!(r.expect(200)["total_count"], 2);
}
