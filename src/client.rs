//! A small async client for deskplane's own API that signs requests exactly as the official
//! Python SDK does (`SDK-HMAC-SHA256`, same headers), for the CLI, the tests and the benchmarks.
//!
//! What is signed is read back from the parsed URL and the header map that is sent, so the
//! signature always covers the bytes on the wire. [`Client::send`] takes a hook that runs after
//! signing, for tests that need a tampered, stale or missing signature.

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use reqwest::Url;
use time::OffsetDateTime;

use crate::auth::sdk_hmac::{self, AuthError};

/// The `User-Agent` this client sends (signed, as the SDK signs its own).
pub const USER_AGENT_VALUE: &str = "deskplane-client";
/// The header carrying the project id, set by the SDK from its credentials.
const PROJECT_HEADER: &str = "x-project-id";
/// How many idle connections per host are kept by default.
const DEFAULT_POOL_SIZE: usize = 32;

/// Why a request could not be made or its answer not read.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL or request path does not form a valid `http(s)` URL.
    #[error("invalid URL {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A header (project id, credentials) cannot be sent as given.
    #[error("invalid value for header {0}")]
    BadHeader(&'static str),
    /// Signing failed.
    #[error("cannot sign request: {0}")]
    Sign(#[from] AuthError),
    /// The request body could not be serialised.
    #[error("cannot encode request body: {0}")]
    Encode(#[source] serde_json::Error),
    /// Connecting, sending or receiving failed.
    #[error("HTTP request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The response body is not JSON.
    #[error("response (HTTP {status}) is not JSON: {source}")]
    NotJson {
        /// The response status.
        status: u16,
        /// The parse error.
        source: serde_json::Error,
    },
}

/// A response, fully read.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Response headers (e.g. `X-Request-Id`).
    pub headers: HeaderMap,
    /// The complete body.
    pub body: Bytes,
}

impl Response {
    /// The body parsed as JSON.
    ///
    /// # Errors
    /// [`ClientError::NotJson`] if it is not JSON.
    pub fn json(&self) -> Result<serde_json::Value, ClientError> {
        serde_json::from_slice(&self.body).map_err(|source| ClientError::NotJson {
            status: self.status,
            source,
        })
    }
}

/// One request in full; [`Client::request`] and friends fill it from simpler arguments.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// HTTP method.
    pub method: Method,
    /// The full path, e.g. `/v2/{project}/desktops`; characters a URL path cannot hold are
    /// escaped by the URL parser, and the escaped form is what is signed.
    pub path: &'a str,
    /// Query pairs; sent sorted and escaped as the SDK sends them, repeated keys allowed.
    pub query: &'a [(&'a str, String)],
    /// Raw body bytes (empty: no body).
    pub body: Vec<u8>,
    /// Signing time; `None` means now. Lets tests send stale or future dates.
    pub signed_at: Option<OffsetDateTime>,
}

/// A signing client for one deskplane endpoint and one set of credentials.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    access_key: String,
    secret_key: String,
    project_id: String,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret key stays out of logs and panic messages.
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("access_key", &self.access_key)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `base_url` (e.g. `http://127.0.0.1:8080`) signing with these credentials.
    ///
    /// # Errors
    /// [`ClientError::BadUrl`] if `base_url` is not an `http(s)` URL with a host.
    pub fn new(
        base_url: &str,
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
        project_id: impl Into<String>,
    ) -> Result<Self, ClientError> {
        let base = base_url.trim_end_matches('/').to_owned();
        parse_url(&format!("{base}/"))?;
        Ok(Self {
            http: build_http(DEFAULT_POOL_SIZE)?,
            base,
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            project_id: project_id.into(),
            timeout: None,
        })
    }

    /// Keeps up to `max_idle` idle connections to the server (default 32); benchmarks raise it
    /// to their concurrency so connections are reused rather than reopened.
    ///
    /// # Errors
    /// [`ClientError::Http`] if the HTTP client cannot be built.
    pub fn with_pool_size(mut self, max_idle: usize) -> Result<Self, ClientError> {
        self.http = build_http(max_idle)?;
        Ok(self)
    }

    /// Fails requests that take longer than `timeout` (default: no limit).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The project id sent in `X-Project-Id`.
    #[must_use]
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// The base URL, without a trailing `/`.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends a signed request with an optional JSON body.
    ///
    /// # Errors
    /// See [`ClientError`]; an HTTP error status is a normal [`Response`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Response, ClientError> {
        self.request_with(method, path, query, body, |_| {}).await
    }

    /// Like [`Client::request`], then lets `tweak` change the headers after signing (drop
    /// `Authorization`, alter a signed header, …).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn request_with(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        tweak: impl FnOnce(&mut HeaderMap),
    ) -> Result<Response, ClientError> {
        let body = match body {
            Some(value) => serde_json::to_vec(value).map_err(ClientError::Encode)?,
            None => Vec::new(),
        };
        let call = Call {
            method,
            path,
            query,
            body,
            signed_at: None,
        };
        self.send(call, tweak).await
    }

    /// Sends the same request as [`Client::request`] with no `X-Sdk-Date` or `Authorization`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn unsigned(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Response, ClientError> {
        self.request_with(method, path, query, body, |headers| {
            headers.remove(http::header::AUTHORIZATION);
            headers.remove(sdk_hmac::DATE_HEADER);
        })
        .await
    }

    /// Signed `GET`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Response, ClientError> {
        self.request(Method::GET, path, query, None).await
    }

    /// Signed `POST` with a JSON body.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Response, ClientError> {
        self.request(Method::POST, path, &[], Some(body)).await
    }

    /// Signed `PUT` with a JSON body.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn put(&self, path: &str, body: &serde_json::Value) -> Result<Response, ClientError> {
        self.request(Method::PUT, path, &[], Some(body)).await
    }

    /// Signed `DELETE`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn delete(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Response, ClientError> {
        self.request(Method::DELETE, path, query, None).await
    }

    /// Sends `call` signed, after `tweak` has had its way with the headers; the most general
    /// form, for raw (e.g. malformed JSON) bodies and chosen signing times.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn send(
        &self,
        call: Call<'_>,
        tweak: impl FnOnce(&mut HeaderMap),
    ) -> Result<Response, ClientError> {
        let mut url = parse_url(&format!("{}{}", self.base, call.path))?;
        let query = sdk_hmac::encode_query(call.query);
        url.set_query((!query.is_empty()).then_some(query.as_str()));
        let mut headers = self.base_headers(&url)?;
        sdk_hmac::sign(
            call.method.as_str(),
            url.path(),
            url.query(),
            &mut headers,
            &call.body,
            &self.access_key,
            self.secret_key.as_bytes(),
            call.signed_at.unwrap_or_else(OffsetDateTime::now_utc),
        )?;
        tweak(&mut headers);
        let mut builder = self.http.request(call.method, url).headers(headers);
        if !call.body.is_empty() {
            builder = builder.body(call.body);
        }
        if let Some(timeout) = self.timeout {
            builder = builder.timeout(timeout);
        }
        let response = builder.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// The headers the SDK sets before signing: `Content-Type`, `Host` (with the port unless it
    /// is the scheme's default, exactly as hyper would write it), `User-Agent`, `X-Project-Id`.
    fn base_headers(&self, url: &Url) -> Result<HeaderMap, ClientError> {
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => return Err(bad_url(url.as_str(), "no host")),
        };
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            HOST,
            HeaderValue::from_str(&host).map_err(|_| ClientError::BadHeader("Host"))?,
        );
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        let project = HeaderValue::from_str(&self.project_id)
            .map_err(|_| ClientError::BadHeader("X-Project-Id"))?;
        headers.insert(HeaderName::from_static(PROJECT_HEADER), project);
        Ok(headers)
    }
}

fn build_http(max_idle: usize) -> Result<reqwest::Client, ClientError> {
    // Loopback only: never route through a proxy taken from the environment.
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(max_idle)
        .build()?;
    Ok(http)
}

fn parse_url(text: &str) -> Result<Url, ClientError> {
    let url = Url::parse(text).map_err(|e| bad_url(text, &e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad_url(text, "expected http(s)://host[:port]"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad_url(text, "the path must not carry '?' or '#'"));
    }
    Ok(url)
}

fn bad_url(url: &str, reason: &str) -> ClientError {
    ClientError::BadUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::sdk_hmac::{MAX_SKEW, RequestParts, parse_authorization, verify};
    use serde_json::json;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;

    const AK: &str = "HPUAXKZ7WQ3NPRVLD2EM";
    const SK: &str = "q8Zr1mTnW4yXc0VbK6sJdLfH2gPeA9uRiO3tY7wE";

    /// One request exactly as it arrived, parsed by hand so nothing normalises it.
    struct Captured {
        method: String,
        path: String,
        query: Option<String>,
        headers: HeaderMap,
        body: Vec<u8>,
    }

    impl Captured {
        fn verify_at(&self, now: OffsetDateTime) -> Result<(), AuthError> {
            let authorization = self
                .headers
                .get("authorization")
                .ok_or(AuthError::MissingAuthorization)?;
            let auth = parse_authorization(authorization.to_str().unwrap())?;
            assert_eq!(auth.access_key, AK);
            let parts = RequestParts {
                method: &self.method,
                raw_path: &self.path,
                raw_query: self.query.as_deref(),
                headers: &self.headers,
                body: &self.body,
            };
            verify(&parts, &auth, SK.as_bytes(), now, MAX_SKEW)
        }
    }

    /// Answers `count` requests (one per connection) with `{"ok":true}` and returns them.
    async fn capture(count: usize) -> (String, tokio::task::JoinHandle<Vec<Captured>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..count {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut raw = Vec::new();
                let head_end = loop {
                    let mut chunk = [0u8; 4096];
                    let n = stream.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "connection closed mid-request");
                    raw.extend_from_slice(&chunk[..n]);
                    if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i;
                    }
                };
                let head = String::from_utf8(raw[..head_end].to_vec()).unwrap();
                let mut lines = head.split("\r\n");
                let mut request_line = lines.next().unwrap().split(' ');
                let method = request_line.next().unwrap().to_owned();
                let target = request_line.next().unwrap();
                let (path, query) = match target.split_once('?') {
                    Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
                    None => (target.to_owned(), None),
                };
                let mut headers = HeaderMap::new();
                for line in lines {
                    let (name, value) = line.split_once(':').unwrap();
                    let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
                    headers.append(name, HeaderValue::from_str(value.trim()).unwrap());
                }
                let length: usize = headers
                    .get("content-length")
                    .map_or(0, |v| v.to_str().unwrap().parse().unwrap());
                let mut body = raw[head_end + 4..].to_vec();
                while body.len() < length {
                    let mut chunk = [0u8; 4096];
                    let n = stream.read(&mut chunk).await.unwrap();
                    body.extend_from_slice(&chunk[..n]);
                }
                let reply = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                             x-request-id: r-1\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{\"ok\":true}";
                stream.write_all(reply.as_bytes()).await.unwrap();
                seen.push(Captured {
                    method,
                    path,
                    query,
                    headers,
                    body,
                });
            }
            seen
        });
        (base, task)
    }

    #[tokio::test]
    async fn signed_requests_verify_on_the_server_side() {
        let (base, server) = capture(2).await;
        let client = Client::new(&base, AK, SK, "proj-1").unwrap();
        let query = [
            ("desktop_id", "b b".to_owned()),
            ("desktop_id", "a=&z".to_owned()),
            ("limit", "10".to_owned()),
        ];
        let response = client
            .get("/v2/proj-1/desktops/x y{z}", &query)
            .await
            .unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.headers["x-request-id"], "r-1");
        assert_eq!(response.json().unwrap(), json!({"ok": true}));
        let body = json!({"desktop_ids": ["d1"], "op_type": "os-stop", "name": "é"});
        client
            .post("/v2/proj-1/desktops/action", &body)
            .await
            .unwrap();

        let seen = server.await.unwrap();
        let now = OffsetDateTime::now_utc();
        for request in &seen {
            assert_eq!(
                request.verify_at(now),
                Ok(()),
                "{} {}",
                request.method,
                request.path
            );
            let hosts: Vec<_> = request.headers.get_all("host").iter().collect();
            assert_eq!(hosts, [base.trim_start_matches("http://")]);
            assert_eq!(request.headers["user-agent"], USER_AGENT_VALUE);
            assert_eq!(request.headers["x-project-id"], "proj-1");
            let auth = parse_authorization(request.headers["authorization"].to_str().unwrap());
            let signed = auth.unwrap().signed_headers.join(";");
            assert_eq!(
                signed,
                "content-type;host;user-agent;x-project-id;x-sdk-date"
            );
        }
        let get = &seen[0];
        assert_eq!(get.path, "/v2/proj-1/desktops/x%20y%7Bz%7D");
        let sent_query = get.query.as_deref();
        assert_eq!(
            sent_query,
            Some("desktop_id=a%3D%26z&desktop_id=b%20b&limit=10")
        );
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&seen[1].body).unwrap(),
            body
        );
    }

    #[tokio::test]
    async fn tweaks_and_signing_time_reach_the_wire() {
        let (base, server) = capture(3).await;
        let client = Client::new(&format!("{base}/"), AK, SK, "proj-1").unwrap();
        client
            .unsigned(Method::GET, "/v2/proj-1/desktops", &[], None)
            .await
            .unwrap();
        let tamper = |h: &mut HeaderMap| {
            h.insert("x-project-id", HeaderValue::from_static("proj-2"));
        };
        let path = "/v2/proj-1/desktops";
        client
            .request_with(Method::GET, path, &[], None, tamper)
            .await
            .unwrap();
        let stale = OffsetDateTime::now_utc() - Duration::from_mins(20);
        let call = Call {
            method: Method::POST,
            path,
            query: &[],
            body: b"{not json".to_vec(),
            signed_at: Some(stale),
        };
        client.send(call, |_| {}).await.unwrap();

        let seen = server.await.unwrap();
        let now = OffsetDateTime::now_utc();
        assert!(seen[0].headers.get("x-sdk-date").is_none());
        assert_eq!(seen[0].verify_at(now), Err(AuthError::MissingAuthorization));
        assert_eq!(seen[1].verify_at(now), Err(AuthError::SignatureMismatch));
        assert!(matches!(
            seen[2].verify_at(now),
            Err(AuthError::DateSkew { .. })
        ));
        assert_eq!(seen[2].body, b"{not json");
        assert_eq!(
            seen[2].verify_at(stale),
            Ok(()),
            "raw bodies are signed as sent"
        );
    }

    #[test]
    fn debug_output_hides_the_secret_key() {
        let client = Client::new("http://127.0.0.1:1", AK, SK, "p").unwrap();
        let text = format!("{client:?}");
        assert!(text.contains(AK) && !text.contains(SK), "{text}");
    }

    #[test]
    fn base_url_is_checked() {
        for bad in ["127.0.0.1:8080", "ftp://h", "http://h/?q", "not a url"] {
            let err = Client::new(bad, AK, SK, "p").unwrap_err();
            assert!(matches!(err, ClientError::BadUrl { .. }), "{bad}: {err}");
        }
    }
}
