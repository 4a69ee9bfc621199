//! Authentication end to end: every way a signature can be wrong answers the gateway's
//! 401 (`APIGW.0301`, with the request id in the body); another existing project is 403,
//! an unknown one 404, a missing one 400; nothing is written by any of them. Request ids
//! are echoed when sane and generated otherwise, on every response.

mod common;

use common::desktops::snapshot;
use common::{AK, Api, Options, Reply, SK, Server, q};
use deskplane::client::Call;
use http::{HeaderMap, HeaderValue, Method};
use std::time::Duration;
use time::OffsetDateTime;

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
    signature_failures(&server, &api, &path).await;
    clock_skew_failures(&api, &path).await;
    project_failures(&server).await;
    assert_eq!(
        snapshot(&api).await,
        before,
        "refused requests wrote something"
    );
}

/// A tampered, re-targeted, foreign, wrongly keyed, unsigned or non-AK/SK request.
async fn signature_failures(server: &Server, api: &Api, path: &str) {
    let tampered = api
        .call_with(Method::GET, path, &[], None, |h| {
            let auth = h["authorization"].to_str().unwrap_or_default().to_owned();
            let flipped = if auth.ends_with('0') { "1" } else { "0" };
            let bad = format!("{}{flipped}", &auth[..auth.len() - 1]);
            h.insert("authorization", HeaderValue::from_str(&bad).expect("ASCII"));
        })
        .await;
    expect_401(&tampered, "verify aksk signature fail");

    let header_changed = api
        .call_with(Method::GET, path, &[], None, |h| {
            h.insert(
                "x-project-id",
                HeaderValue::from_static("ffffffffffffffffffffffffffffffff"),
            );
        })
        .await;
    expect_401(&header_changed, "verify aksk signature fail");
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
    let unsigned = api.client.unsigned(Method::GET, path, &[], None).await;
    let unsigned = api.reply("unsigned GET", unsigned);
    expect_401(&unsigned, "not found");
    let garbage = api
        .call_with(Method::GET, path, &[], None, |h| {
            h.insert("authorization", HeaderValue::from_static("Bearer abc"));
        })
        .await;
    expect_401(&garbage, "Incorrect IAM authentication information");
}

/// `X-Sdk-Date` more than 15 minutes away either way is refused; 14 minutes is fine.
async fn clock_skew_failures(api: &Api, path: &str) {
    let at = |offset: Duration, future: bool| {
        let now = OffsetDateTime::now_utc();
        Some(if future { now + offset } else { now - offset })
    };
    for (offset, future, ok) in [
        (Duration::from_mins(16), false, false),
        (Duration::from_mins(16), true, false),
        (Duration::from_mins(14), false, true),
    ] {
        let call = Call {
            method: Method::GET,
            path,
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
}

/// Another existing project is 403, an unknown one 404, no project 400.
async fn project_failures(server: &Server) {
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
