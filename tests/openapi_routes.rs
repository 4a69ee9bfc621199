//! Route drift: the OpenAPI document served at `/openapi.json` lists exactly the
//! operations the server routes.
//!
//! - The served document's `(method, path)` set equals `api::registered_routes`, read
//!   from the route table the router is built from (with the simulator, as started here).
//! - Over HTTP, every documented operation is routed: it answers neither the router's
//!   404 (`WKS.00000404`) nor 405; and every other method on a documented path answers
//!   405, so no method is served without being documented.
//! - In `src/api`, routes are registered only through `utoipa_axum::routes!` (which takes
//!   path and method from the handler's `#[utoipa::path]`): a plain `.route(...)` would
//!   add a route the document does not know.

mod common;

use common::{Options, PROJECT, Server};
use http::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;

type Routes = BTreeSet<(String, String)>;

const METHODS: &[&str] = &["GET", "PUT", "POST", "DELETE", "PATCH"];

fn documented(doc: &Value) -> Routes {
    let mut out = Routes::new();
    let paths = doc["paths"].as_object().expect("the document has paths");
    for (path, item) in paths {
        for m in [
            "get", "put", "post", "delete", "patch", "head", "options", "trace",
        ] {
            if item.get(m).is_some() {
                out.insert((m.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// `path` with its parameters filled: the test project, and a fresh UUID for any id.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| match seg {
            "{project_id}" => PROJECT.to_owned(),
            s if s.starts_with('{') => uuid::Uuid::new_v4().to_string(),
            s => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn the_document_lists_exactly_the_routes_the_server_serves() {
    let server = Server::start(Options::default()).await;
    let api = server.api();
    let raw = reqwest::get(format!("{}/openapi.json", server.base()))
        .await
        .expect("GET /openapi.json answers");
    assert_eq!(raw.status(), 200, "/openapi.json is served unauthenticated");
    let doc: Value = raw.json().await.expect("/openapi.json is JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "an OpenAPI 3 document: {}",
        doc["openapi"]
    );

    let documented_routes = documented(&doc);
    let registered = deskplane::api::registered_routes(true);
    let undocumented: Vec<_> = registered.difference(&documented_routes).collect();
    let unregistered: Vec<_> = documented_routes.difference(&registered).collect();
    assert!(
        undocumented.is_empty() && unregistered.is_empty(),
        "registered but not in /openapi.json: {undocumented:?}; documented but not registered: {unregistered:?}"
    );
    for prefix in ["/v2/", "/v3/auth/tokens", "/health", "/ready", "/sim/v1/"] {
        assert!(
            documented_routes.iter().any(|(_, p)| p.starts_with(prefix)),
            "no documented operation under {prefix}"
        );
    }

    let paths: BTreeSet<&String> = documented_routes.iter().map(|(_, p)| p).collect();
    for path in paths {
        let url = concrete(path);
        for m in METHODS {
            let method = Method::from_bytes(m.as_bytes()).expect("a method");
            let body = matches!(*m, "POST" | "PUT" | "PATCH").then(|| json!({}));
            let r = api.call(method, &url, &[], body.as_ref()).await;
            let code = r.body["error_code"].as_str().unwrap_or_default();
            if documented_routes.contains(&((*m).to_owned(), path.clone())) {
                assert!(
                    r.status != 405 && code != "WKS.00000404",
                    "{m} {path} is documented but not routed: {} {}",
                    r.status,
                    r.text
                );
            } else {
                assert_eq!(
                    (r.status, code),
                    (405, "WKS.00000405"),
                    "{m} {path} is served but not documented: {}",
                    r.text
                );
            }
        }
    }
}

#[test]
fn without_the_simulator_only_sim_routes_are_gone() {
    let with = deskplane::api::registered_routes(true);
    let without = deskplane::api::registered_routes(false);
    assert!(without.is_subset(&with));
    let gone: Vec<_> = with.difference(&without).collect();
    assert!(
        !gone.is_empty() && gone.iter().all(|(_, p)| p.starts_with("/sim/v1/")),
        "{gone:?}"
    );
}

/// The `.rs` files under `dir`, recursively.
fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source directory is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn routes_are_registered_only_through_routes_macro() {
    let mut files = Vec::new();
    sources(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src/api")),
        &mut files,
    );
    assert!(files.len() > 5, "src/api has its modules: {files:?}");
    let mut offending = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("a source file is readable");
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for call in [".route(", ".route_service(", ".nest(", ".nest_service("] {
                if code.contains(call) {
                    offending.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offending.is_empty(),
        "register routes with `.routes(routes!(handler))` so they are documented:\n{}",
        offending.join("\n")
    );
}
