//! Bad input, end to end: every case asserts the HTTP status and `error_code` (and, where
//! the contract says so, that `error_msg` names the field or the allowed values), and
//! that nothing was written: desktops, their states, sub-jobs, users and notifications
//! are exactly as before. Authentication and project failures, request ids.

mod common;

use common::desktops::{Snapshot, create, snapshot};
use common::{AK, Api, Options, PRIVATE_IMAGE, PRODUCT, Reply, SK, Server, WINDOWS_IMAGE, q};
use deskplane::client::Call;
use http::{HeaderMap, HeaderValue, Method};
use serde_json::{Value, json};
use std::time::Duration;
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

/// The bad requests, given three existing ACTIVE desktops.
fn cases(ids: &[String]) -> Vec<Case> {
    let a = ids[0].as_str();
    let too_many: Vec<String> = (0..101)
        .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
        .collect();
    let create = |extra: Value| {
        let mut body = json!({
            "product_id": PRODUCT, "image_id": WINDOWS_IMAGE, "image_type": "gold",
            "desktops": [{"computer_name": "fresh-1"}],
        });
        common::desktops::merge(&mut body, &extra);
        body
    };
    let p400 = |path: &str, body: Value, field: &str| {
        post(path, &body, 400, "WKS.00211102").naming(&[field])
    };
    vec![
        // POST /desktops/action
        case(
            Method::POST,
            "desktops/action",
            r#"{"desktop_ids": ["#,
            400,
            "WKS.00211103",
        ),
        case(Method::POST, "desktops/action", "", 400, "WKS.0001"),
        case(Method::POST, "desktops/action", "  \n", 400, "WKS.0001"),
        p400(
            "desktops/action",
            json!({"desktop_ids": "x", "op_type": "os-stop"}),
            "desktop_ids",
        ),
        p400(
            "desktops/action",
            json!({"desktop_ids": [1, 2], "op_type": "os-stop"}),
            "desktop_ids",
        ),
        p400(
            "desktops/action",
            json!({"desktop_ids": [a], "op_type": 5}),
            "op_type",
        ),
        p400("desktops/action", json!({"desktop_ids": [a]}), "op_type"),
        p400(
            "desktops/action",
            json!({"op_type": "os-stop"}),
            "desktop_ids",
        ),
        p400(
            "desktops/action",
            json!({"desktop_ids": [], "op_type": "os-stop"}),
            "desktop_ids",
        ),
        post(
            "desktops/action",
            &json!({"desktop_ids": too_many, "op_type": "os-stop"}),
            400,
            "WKS.00211104",
        )
        .naming(&["100"]),
        p400(
            "desktops/action",
            json!({"desktop_ids": [a, a], "op_type": "os-stop"}),
            a,
        ),
        p400(
            "desktops/action",
            json!({"desktop_ids": [a], "op_type": "os-explode"}),
            "os-start, os-stop, reboot, os-hibernate",
        ),
        p400(
            "desktops/action",
            json!({"desktop_ids": [a], "op_type": "reboot", "type": "MEDIUM"}),
            "SOFT, HARD",
        ),
        post("desktops/action", &json!([a]), 400, "WKS.00211102"),
        post(
            "desktops/action",
            &json!({"desktop_ids": [UNKNOWN_DESKTOP], "op_type": "os-stop"}),
            404,
            "WKS.00010404",
        )
        .naming(&[UNKNOWN_DESKTOP]),
        // POST /desktops/rebuild
        p400(
            "desktops/rebuild",
            json!({"desktop_ids": [a], "image_type": "gold"}),
            "image_id",
        ),
        p400(
            "desktops/rebuild",
            json!({"desktop_ids": [a], "image_id": WINDOWS_IMAGE}),
            "image_type",
        ),
        post(
            "desktops/rebuild",
            &json!({"desktop_ids": [a], "image_type": "gold",
            "image_id": "11111111-2222-4333-8444-555555555555"}),
            400,
            "WKS.00211105",
        ),
        p400(
            "desktops/rebuild",
            json!({"desktop_ids": [a], "image_type": "gold", "image_id": PRIVATE_IMAGE}),
            "image_type",
        ),
        p400(
            "desktops/rebuild",
            json!({"desktop_ids": [a], "image_type": "bogus", "image_id": WINDOWS_IMAGE}),
            "gold, private, market",
        ),
        p400(
            "desktops/rebuild",
            json!({"desktop_ids": [a], "image_type": "gold", "image_id": WINDOWS_IMAGE,
            "delay_time": -1}),
            "delay_time",
        ),
        p400(
            "desktops/rebuild",
            json!({"desktop_ids": [a], "image_type": "gold", "image_id": WINDOWS_IMAGE,
            "delay_time": "ten"}),
            "delay_time",
        ),
        p400(
            "desktops/rebuild",
            json!({"desktop_ids": [a], "image_type": "gold", "image_id": WINDOWS_IMAGE,
            "message": "x".repeat(401)}),
            "message",
        ),
        p400(
            "desktops/rebuild",
            json!({"desktop_ids": [a], "image_type": "gold", "image_id": WINDOWS_IMAGE,
            "os_type": "Linux"}),
            "os_type",
        ),
        // POST /desktops/logoff: an absent list is refused, never "everything".
        p400("desktops/logoff", json!({}), "desktop_ids"),
        p400(
            "desktops/logoff",
            json!({"desktop_ids": null, "message": "bye"}),
            "desktop_ids",
        ),
        p400(
            "desktops/logoff",
            json!({"desktop_ids": [a], "message": 7}),
            "message",
        ),
        // POST /desktops/batch-delete
        p400(
            "desktops/batch-delete",
            json!({"desktop_ids": [a], "delete_users": "yes"}),
            "delete_users",
        ),
        p400(
            "desktops/batch-delete",
            json!({"desktop_ids": [a], "is_force_delete": 1}),
            "is_force_delete",
        ),
        p400(
            "desktops/batch-delete",
            json!({"desktop_ids": []}),
            "desktop_ids",
        ),
        post(
            "desktops/batch-delete",
            &json!({"desktop_ids": [UNKNOWN_DESKTOP]}),
            404,
            "WKS.00010404",
        ),
        // POST /desktops
        post(
            "desktops",
            &create(json!({"image_id": "11111111-2222-4333-8444-555555555555"})),
            400,
            "WKS.00211105",
        ),
        post(
            "desktops",
            &create(json!({"product_id": "workspace.x86.huge"})),
            400,
            "WKS.00211106",
        ),
        post(
            "desktops",
            &create(json!({"availability_zone": "mars-1a"})),
            400,
            "WKS.00211107",
        ),
        p400(
            "desktops",
            create(json!({"desktops": [{"computer_name": "bad_name!"}]})),
            "computer_name",
        ),
        p400(
            "desktops",
            create(json!({"desktops": [{"computer_name": "sixteen-chars-xx"}]})),
            "computer_name",
        ),
        p400(
            "desktops",
            create(json!({"desktops": [{"computer_name": "twin"}, {"computer_name": "twin"}]})),
            "twin",
        ),
        p400(
            "desktops",
            create(json!({"desktops": [{"computer_name": "ok-1", "user_name": "a b"}]})),
            "user_name",
        ),
        post(
            "desktops",
            &create(json!({"desktops": [{"computer_name": "e2e-0"}]})),
            409,
            "WKS.00010040",
        ),
        p400(
            "desktops",
            create(json!({"size": 2, "desktop_name": "x"})),
            "size",
        ),
        p400(
            "desktops",
            json!({"product_id": PRODUCT, "image_id": WINDOWS_IMAGE, "size": 101, "desktop_name": "x"}),
            "size",
        ),
        p400(
            "desktops",
            json!({"product_id": PRODUCT, "image_id": WINDOWS_IMAGE, "size": "many",
            "desktop_name": "x"}),
            "size",
        ),
        p400(
            "desktops",
            json!({"image_id": WINDOWS_IMAGE, "desktops": [{"computer_name": "p1"}]}),
            "product_id",
        ),
        p400(
            "desktops",
            create(json!({"root_volume": {"type": "SAS", "size": 85}})),
            "root_volume",
        ),
        p400(
            "desktops",
            create(json!({"root_volume": {"type": "TAPE", "size": 80}})),
            "root_volume",
        ),
        p400(
            "desktops",
            create(
                json!({"desktops": (0..101).map(|i| json!({"computer_name": format!("n{i}")}))
            .collect::<Vec<_>>()}),
            ),
            "desktops",
        ),
        // Jobs
        get(
            &format!("workspace-jobs/{UNKNOWN_JOB}"),
            &[],
            404,
            "WKS.00010405",
        ),
        post(
            &format!("workspace-jobs/{UNKNOWN_JOB}/actions"),
            &json!({"op_type": "retry"}),
            404,
            "WKS.00010405",
        ),
        p400(
            &format!("workspace-jobs/{UNKNOWN_JOB}/actions"),
            json!({"op_type": "cancel"}),
            "retry",
        ),
        get(
            "workspace-sub-jobs",
            &[("status", "BOGUS")],
            400,
            "WKS.00211102",
        )
        .naming(&["status"]),
        get(
            "workspace-sub-jobs",
            &[("job_type", "explode")],
            400,
            "WKS.00211102",
        )
        .naming(&["job_type"]),
        // Lists and single desktops
        get("desktops", &[("status", "FOO")], 400, "WKS.00211102").naming(&["status"]),
        get("desktops", &[("limit", "abc")], 400, "WKS.00211102").naming(&["limit"]),
        get("desktops", &[("limit", "100000")], 400, "WKS.00211102").naming(&["limit"]),
        get("desktops", &[("offset", "-1")], 400, "WKS.00211102").naming(&["offset"]),
        get("desktops", &[("sort_field", "ram")], 400, "WKS.00211102").naming(&["sort_field"]),
        get("desktops", &[("sort_type", "UP")], 400, "WKS.00211102").naming(&["sort_type"]),
        get(
            "desktops/detail",
            &[("tag", "novalue")],
            400,
            "WKS.00211102",
        )
        .naming(&["tag"]),
        get(
            &format!("desktops/{UNKNOWN_DESKTOP}"),
            &[],
            404,
            "WKS.00010404",
        ),
        get(
            &format!("desktops/{UNKNOWN_DESKTOP}/actions"),
            &[],
            404,
            "WKS.00010404",
        ),
        case(
            Method::DELETE,
            &format!("desktops/{UNKNOWN_DESKTOP}"),
            Vec::new(),
            404,
            "WKS.00010404",
        ),
        Case {
            query: q(&[("is_force_delete", "maybe")]),
            ..case(
                Method::DELETE,
                &format!("desktops/{a}"),
                Vec::new(),
                400,
                "WKS.00211102",
            )
        }
        .naming(&["is_force_delete"]),
        // Routes and methods
        get("no-such-thing", &[], 404, "WKS.00000404"),
        get("/nowhere", &[], 404, "WKS.00000404"),
        case(Method::DELETE, "desktops", Vec::new(), 405, "WKS.00000405"),
        case(
            Method::PUT,
            "desktops/action",
            json!({}).to_string(),
            405,
            "WKS.00000405",
        ),
        // Over the 1 MiB default body limit.
        post(
            "desktops/action",
            &json!({"desktop_ids": ["x".repeat(1_500_000)], "op_type": "os-stop"}),
            413,
            "APIGW.0201",
        ),
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

/// The gateway's 401: `APIGW.0301` with the request id in the body as well.
#[track_caller]
fn expect_401(r: &Reply, msg_has: &str) {
    let msg = r.expect_error(401, "APIGW.0301");
    assert!(
        msg.contains(msg_has),
        "{}: {msg:?} lacks {msg_has:?}",
        r.asked
    );
    assert_eq!(
        r.body["request_id"].as_str(),
        r.request_id(),
        "{}: request_id in the body is the X-Request-Id header",
        r.asked
    );
}

#[tokio::test]
async fn authentication_and_project_failures() {
    let server = Server::start(Options::default()).await;
    let api = server.api();
    let path = api.v2("desktops");
    let before = snapshot(&api).await;

    let tampered = api
        .call_with(Method::GET, &path, &[], None, |h| {
            let auth = h["authorization"].to_str().unwrap_or_default().to_owned();
            let flipped = if auth.ends_with('0') { "1" } else { "0" };
            let bad = format!("{}{flipped}", &auth[..auth.len() - 1]);
            h.insert("authorization", HeaderValue::from_str(&bad).expect("ASCII"));
        })
        .await;
    expect_401(&tampered, "verify aksk signature fail");

    let header_changed = api
        .call_with(Method::GET, &path, &[], None, |h| {
            h.insert(
                "x-project-id",
                HeaderValue::from_static("ffffffffffffffffffffffffffffffff"),
            );
        })
        .await;
    expect_401(&header_changed, "verify aksk signature fail");

    let at = |offset: Duration, future: bool| {
        let now = OffsetDateTime::now_utc();
        Some(if future { now + offset } else { now - offset })
    };
    for (offset, future, ok) in [
        (Duration::from_secs(16 * 60), false, false),
        (Duration::from_secs(16 * 60), true, false),
        (Duration::from_secs(14 * 60), false, true),
    ] {
        let call = Call {
            method: Method::GET,
            path: &path,
            query: &[],
            body: Vec::new(),
            signed_at: at(offset, future),
        };
        let r = api.send(call, |_| {}).await;
        if ok {
            r.expect(200);
        } else {
            expect_401(&r, "x-sdk-date expired");
        }
    }

    let stranger = server.api_as("ZZZZZZZZZZZZZZZZZZZZ", SK, common::PROJECT);
    expect_401(&stranger.get("desktops", &[]).await, "ak not exist");
    let wrong_sk = server.api_as(
        AK,
        "0000000000000000000000000000000000000000",
        common::PROJECT,
    );
    expect_401(
        &wrong_sk.get("desktops", &[]).await,
        "verify aksk signature fail",
    );
    let unsigned = api.client.unsigned(Method::GET, &path, &[], None).await;
    let unsigned = api.reply("unsigned GET".to_owned(), unsigned);
    expect_401(&unsigned, "not found");
    let garbage = api
        .call_with(Method::GET, &path, &[], None, |h| {
            h.insert("authorization", HeaderValue::from_static("Bearer abc"));
        })
        .await;
    expect_401(&garbage, "Incorrect IAM authentication information");

    // Projects: another existing project is 403, an unknown one 404, no project 400.
    let other = "5d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a";
    let (ak2, sk2) = server.create_credential(other);
    let mine_on_theirs = server.api_as(AK, SK, other);
    mine_on_theirs
        .get("desktops", &[])
        .await
        .expect_error(403, "WKS.00081102");
    let theirs = server.api_as(&ak2, &sk2, other);
    let r = theirs.get("desktops", &[]).await;
    assert_eq!(
        r.expect(200)["total_count"],
        0,
        "projects do not see each other's desktops"
    );
    let theirs_on_mine = server.api_as(&ak2, &sk2, common::PROJECT);
    theirs_on_mine
        .get("desktops", &[])
        .await
        .expect_error(403, "WKS.00081102");
    let nowhere = server.api_as(AK, SK, "ffffffffffffffffffffffffffffffff");
    nowhere
        .get("desktops", &[])
        .await
        .expect_error(404, "WKS.00010408");
    let literal = server.api_as(AK, SK, "{project_id}");
    let r = literal.get("desktops", &[]).await;
    let msg = r.expect_error(400, "WKS.00211109");
    assert!(msg.contains("project"), "{msg}");
    let malformed = server.api_as(AK, SK, "bad project");
    malformed
        .get("desktops", &[])
        .await
        .expect_error(400, "WKS.00211109");

    assert_eq!(
        snapshot(&api).await,
        before,
        "refused requests wrote something"
    );
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let server = Server::start(Options::default()).await;
    let api = server.api();
    let with_id = |id: &'static str| {
        move |h: &mut HeaderMap| {
            h.insert("x-request-id", HeaderValue::from_static(id));
        }
    };
    let path = api.v2("desktops");
    let ok = api
        .call_with(Method::GET, &path, &[], None, with_id("trace-abc-123"))
        .await;
    ok.expect(200);
    assert_eq!(ok.request_id(), Some("trace-abc-123"));
    let bad = api
        .call_with(
            Method::GET,
            &path,
            &q(&[("limit", "x")]),
            None,
            with_id("trace-bad-1"),
        )
        .await;
    bad.expect_error(400, "WKS.00211102");
    assert_eq!(bad.request_id(), Some("trace-bad-1"));
    let unauth = api
        .call_with(Method::GET, &path, &[], None, |h| {
            h.remove("authorization");
            h.insert("x-request-id", HeaderValue::from_static("trace-401"));
        })
        .await;
    expect_401(&unauth, "not found");
    assert_eq!(unauth.request_id(), Some("trace-401"));
    assert_eq!(unauth.body["request_id"], "trace-401");

    let a = api.get("desktops", &[]).await;
    let b = api.get("desktops", &[]).await;
    let (a, b) = (a.request_id(), b.request_id());
    assert!(
        a.is_some() && b.is_some() && a != b,
        "generated ids differ: {a:?} {b:?}"
    );

    let long = "x".repeat(200);
    let r = api
        .call_with(Method::GET, &path, &[], None, |h| {
            h.insert("x-request-id", HeaderValue::from_str(&long).expect("ASCII"));
        })
        .await;
    let id = r.request_id().unwrap_or_default();
    assert!(
        !id.is_empty() && id != long,
        "an unreasonable id is replaced: {id}"
    );

    let health = api.call(Method::GET, "/health", &[], None).await;
    assert_eq!(health.expect(200)["status"], "ok");
    assert!(
        health.request_id().is_some(),
        "every response has X-Request-Id"
    );
}
