//! Signed requests and their answers, with helpers that fail loudly.

use deskplane::client::{Call, Client};
use http::{HeaderMap, Method};
use serde_json::Value;

/// A response, read whole; the body parsed as JSON (`Null` when empty or not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// The body as JSON.
    pub body: Value,
    /// The body as text.
    pub text: String,
    /// What was asked, for failure messages.
    pub asked: String,
}

impl Reply {
    /// The body, after checking the status.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status, status,
            "{}: expected HTTP {status}, got {} with {}",
            self.asked, self.status, self.text
        );
        &self.body
    }

    /// Checks an error answer: status, `error_code`, a non-empty `error_msg` and the
    /// `X-Request-Id` header; returns `error_msg`.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> String {
        self.expect(status);
        assert_eq!(
            self.body["error_code"], code,
            "{}: wrong error_code in {}",
            self.asked, self.text
        );
        let msg = self.body["error_msg"].as_str().unwrap_or_default();
        assert!(
            !msg.is_empty(),
            "{}: no error_msg in {}",
            self.asked,
            self.text
        );
        assert!(
            self.request_id().is_some(),
            "{}: no X-Request-Id on the error",
            self.asked
        );
        msg.to_owned()
    }

    /// The `X-Request-Id` header.
    #[must_use]
    pub fn request_id(&self) -> Option<&str> {
        self.headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
    }
}

/// A signing client for one project, with JSON helpers that fail loudly.
#[derive(Clone, Debug)]
pub struct Api {
    /// The underlying client.
    pub client: Client,
    /// The project of the paths.
    pub project: String,
    logs: String,
}

impl Api {
    /// A client for `project`; `logs` names where the server's logs are.
    #[must_use]
    pub fn new(client: Client, project: &str, logs: &str) -> Self {
        Self {
            client,
            project: project.to_owned(),
            logs: logs.to_owned(),
        }
    }

    /// `/v2/{project}/{rest}`.
    #[must_use]
    pub fn v2(&self, rest: &str) -> String {
        format!("/v2/{}/{rest}", self.project)
    }

    /// Where the server's logs are, for failure messages.
    #[must_use]
    pub fn logs(&self) -> &str {
        &self.logs
    }

    /// A signed request to a full path (`/v2/...` or `/sim/v1/...`).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Reply {
        self.call_with(method, path, query, body, |_| {}).await
    }

    /// Like [`Api::call`], letting `tweak` change the headers after signing.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        tweak: impl FnOnce(&mut HeaderMap),
    ) -> Reply {
        let asked = format!("{method} {path}");
        let r = self
            .client
            .request_with(method, path, query, body, tweak)
            .await;
        self.reply(&asked, r)
    }

    /// Sends a raw body (malformed JSON, chosen signing time ...).
    pub async fn send(&self, call: Call<'_>, tweak: impl FnOnce(&mut HeaderMap)) -> Reply {
        let asked = format!("{} {}", call.method, call.path);
        let r = self.client.send(call, tweak).await;
        self.reply(&asked, r)
    }

    /// Wraps a raw client result (e.g. of [`Client::unsigned`]) as a [`Reply`].
    pub fn reply(
        &self,
        asked: &str,
        r: Result<deskplane::client::Response, deskplane::client::ClientError>,
    ) -> Reply {
        let r = r.unwrap_or_else(|e| panic!("{asked}: request failed: {e}; logs in {}", self.logs));
        let text = String::from_utf8_lossy(&r.body).into_owned();
        let body = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        Reply {
            status: r.status,
            headers: r.headers,
            body,
            text,
            asked: format!("{asked} (server logs in {})", self.logs),
        }
    }

    /// `GET /v2/{project}/{rest}`.
    pub async fn get(&self, rest: &str, query: &[(&str, String)]) -> Reply {
        self.call(Method::GET, &self.v2(rest), query, None).await
    }

    /// `POST /v2/{project}/{rest}` with a JSON body.
    pub async fn post(&self, rest: &str, body: &Value) -> Reply {
        self.call(Method::POST, &self.v2(rest), &[], Some(body))
            .await
    }

    /// `DELETE /v2/{project}/{rest}`.
    pub async fn delete(&self, rest: &str, query: &[(&str, String)]) -> Reply {
        self.call(Method::DELETE, &self.v2(rest), query, None).await
    }

    /// A `/sim/v1/{rest}` call.
    pub async fn sim(&self, method: Method, rest: &str, body: Option<&Value>) -> Reply {
        self.call(method, &format!("/sim/v1/{rest}"), &[], body)
            .await
    }
}
