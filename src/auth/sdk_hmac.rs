//! `SDK-HMAC-SHA256`, the request signature of Huawei Cloud's official SDKs, verified by the
//! server and produced by our client.
//!
//! Upstream: `huaweicloudsdkcore/signer/signer.py` (huaweicloudsdkcore 3.1.219). The SDK sends the
//! query string in its canonical form (sorted, every pair escaped with only `~` safe), so what the
//! server receives canonicalises back to exactly what the SDK signed. One known gap: the SDK sorts
//! repeated query values as Python objects, so a list of *integers* sorts numerically (`9` before
//! `10`) where we sort text; no Workspace v2 query parameter is a list of integers.

use std::time::Duration;

use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, percent_encode};
use sha2::{Digest, Sha256};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset, macros::format_description};

pub use super::AuthError;

/// The algorithm token that opens the `Authorization` header.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
/// The header carrying the signing time, `YYYYMMDDTHHMMSSZ` in UTC.
pub const DATE_HEADER: &str = "x-sdk-date";
/// The header by which a client declares the payload hash (the SDK only ever says `UNSIGNED-PAYLOAD`).
pub const CONTENT_SHA256_HEADER: &str = "x-sdk-content-sha256";
/// The declared payload hash meaning "the body is not signed".
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// How far `X-Sdk-Date` may be from the server clock, as Huawei's gateway allows.
pub const MAX_SKEW: Duration = Duration::from_mins(15);

/// Hex SHA-256 of the empty string: the SDK uses it for an absent body, whatever else it declares.
const EMPTY_HASH: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Python's `urllib.parse.quote(s, safe='~')`: everything but ALPHA, DIGIT and `-._~` is escaped.
const SDK_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The access key id (`Access=`).
    pub access_key: String,
    /// Lower-case header names, in the order the client signed them (`SignedHeaders=`).
    pub signed_headers: Vec<String>,
    /// Hex HMAC-SHA256 (`Signature=`).
    pub signature: String,
}

/// Parses `SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b;c, Signature=hex`, tolerating extra
/// whitespace and any order of the three parameters.
///
/// # Errors
/// [`AuthError::UnsupportedAlgorithm`] for another scheme, [`AuthError::MalformedAuthorization`]
/// (with the reason) for anything else that is not exactly those three parameters.
pub fn parse_authorization(value: &str) -> Result<Authorization, AuthError> {
    let bad = |reason: &str| AuthError::MalformedAuthorization(reason.to_owned());
    let value = value.trim();
    let (scheme, params) = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((value, ""));
    if scheme.is_empty() {
        return Err(bad("empty header"));
    }
    if scheme != ALGORITHM {
        // Bounded, so a hostile header is not echoed back whole into logs.
        return Err(AuthError::UnsupportedAlgorithm(
            scheme.chars().take(40).collect(),
        ));
    }
    let (mut access, mut signed, mut signature) = (None, None, None);
    for param in params.split(',') {
        let param = param.trim();
        if param.is_empty() {
            return Err(bad(
                "empty parameter (expected Access, SignedHeaders, Signature)",
            ));
        }
        let (name, val) = param
            .split_once('=')
            .ok_or_else(|| bad("parameter without '='"))?;
        let val = val.trim();
        let slot = match name.trim() {
            "Access" => &mut access,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => {
                return Err(bad(
                    "unknown parameter (expected Access, SignedHeaders, Signature)",
                ));
            }
        };
        if slot.replace(val).is_some() {
            return Err(bad("repeated parameter"));
        }
    }
    let access = access
        .filter(|a| !a.is_empty())
        .ok_or_else(|| bad("missing Access"))?;
    if access.contains(|c: char| c.is_whitespace()) {
        return Err(bad(
            "Access contains whitespace (parameters are separated by commas)",
        ));
    }
    let signed = signed.ok_or_else(|| bad("missing SignedHeaders"))?;
    let signed_headers = signed
        .split(';')
        .map(|h| {
            let h = h.trim();
            let valid = !h.is_empty()
                && h.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.!#$%&'*+^`|~".contains(&b)
                });
            valid
                .then(|| h.to_owned())
                .ok_or_else(|| bad("SignedHeaders must be non-empty lower-case header names"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let signature = signature.ok_or_else(|| bad("missing Signature"))?;
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("Signature must be 64 hex digits"));
    }
    Ok(Authorization {
        access_key: access.to_owned(),
        signed_headers,
        signature: signature.to_owned(),
    })
}

/// A request as the server received it.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// HTTP method, e.g. `GET`.
    pub method: &'a str,
    /// The path as received, still percent-encoded.
    pub raw_path: &'a str,
    /// The query string as received (without `?`), if any.
    pub raw_query: Option<&'a str>,
    /// All request headers.
    pub headers: &'a HeaderMap,
    /// The complete body.
    pub body: &'a [u8],
}

/// Builds the canonical request `METHOD\nURI\nQUERY\nHEADERS\nSIGNED\nPAYLOAD_HASH` over the given
/// signed headers, in their given order.
///
/// # Errors
/// A signed header that is absent, repeated or not UTF-8, or an `X-Sdk-Content-Sha256` that
/// contradicts the body.
pub fn canonical_request(
    parts: &RequestParts<'_>,
    signed_headers: &[String],
) -> Result<String, AuthError> {
    let mut out = String::with_capacity(512);
    out.push_str(&parts.method.to_ascii_uppercase());
    out.push('\n');
    push_canonical_uri(parts.raw_path, &mut out);
    out.push('\n');
    push_canonical_query(parts.raw_query.unwrap_or(""), &mut out);
    out.push('\n');
    for name in signed_headers {
        let value = single_header(parts.headers, name)?
            .ok_or_else(|| AuthError::SignedHeaderMissing(name.clone()))?;
        out.push_str(name);
        out.push(':');
        out.push_str(value.trim());
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers.join(";"));
    out.push('\n');
    out.push_str(&payload_hash(parts.headers, parts.body)?);
    Ok(out)
}

/// Hex HMAC-SHA256, keyed by the secret key itself, of
/// `SDK-HMAC-SHA256\n{sdk_date}\n{hex sha256(canonical_request)}`.
#[must_use]
pub fn signature(canonical_request: &str, sdk_date: &str, secret_key: &[u8]) -> String {
    hex::encode(
        keyed_mac(canonical_request, sdk_date, secret_key)
            .finalize()
            .into_bytes(),
    )
}

/// Checks a request's signature: date present, well-formed and within `max_skew` of `now`, `host`
/// and `x-sdk-date` signed, and the signature equal (compared in constant time).
///
/// # Errors
/// The first check that fails, as an [`AuthError`].
pub fn verify(
    parts: &RequestParts<'_>,
    auth: &Authorization,
    secret_key: &[u8],
    now: OffsetDateTime,
    max_skew: Duration,
) -> Result<(), AuthError> {
    let date = single_header(parts.headers, DATE_HEADER)?.ok_or(AuthError::MissingDate)?;
    let signed_at = parse_sdk_date(date)?;
    let skew = signed_at - now;
    if skew.unsigned_abs() > max_skew {
        return Err(AuthError::DateSkew {
            skew_secs: skew.whole_seconds(),
            max_secs: max_skew.as_secs(),
        });
    }
    for required in ["host", DATE_HEADER] {
        if !auth.signed_headers.iter().any(|h| h == required) {
            return Err(AuthError::RequiredHeaderNotSigned(required));
        }
    }
    let canonical = canonical_request(parts, &auth.signed_headers)?;
    let sent = hex::decode(&auth.signature).map_err(|_| AuthError::SignatureMismatch)?;
    keyed_mac(&canonical, date, secret_key)
        .verify_slice(&sent)
        .map_err(|_| AuthError::SignatureMismatch)
}

/// Signs a request the way the SDK does: sets `X-Sdk-Date` from `now`, marks a non-JSON body
/// `UNSIGNED-PAYLOAD`, signs every header present whose name has no `_`, and sets `Authorization`
/// (replacing any earlier one). The caller sets `Host`, `Content-Type` and the rest beforehand.
///
/// # Errors
/// A header value that is not UTF-8 or an access key that cannot be a header value.
#[expect(
    clippy::too_many_arguments,
    reason = "mirrors the parts of a request one to one"
)]
pub fn sign(
    method: &str,
    raw_path: &str,
    raw_query: Option<&str>,
    headers: &mut HeaderMap,
    body: &[u8],
    access_key: &str,
    secret_key: &[u8],
    now: OffsetDateTime,
) -> Result<(), AuthError> {
    headers.remove(http::header::AUTHORIZATION);
    let date = format_sdk_date(now);
    headers.insert(
        DATE_HEADER,
        HeaderValue::from_str(&date).map_err(|_| invalid(DATE_HEADER))?,
    );
    // Upstream `_process_content_header`: only JSON and BSON bodies are hashed.
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .map(HeaderValue::as_bytes);
    if content_type.is_some_and(|ct| {
        !ct.starts_with(b"application/json") && !ct.starts_with(b"application/bson")
    }) {
        headers.insert(
            CONTENT_SHA256_HEADER,
            HeaderValue::from_static(UNSIGNED_PAYLOAD),
        );
    }
    let mut signed: Vec<String> = headers
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| !k.contains('_'))
        .collect();
    signed.sort();
    let parts = RequestParts {
        method,
        raw_path,
        raw_query,
        headers,
        body,
    };
    let canonical = canonical_request(&parts, &signed)?;
    let value = format!(
        "{ALGORITHM} Access={access_key}, SignedHeaders={}, Signature={}",
        signed.join(";"),
        signature(&canonical, &date, secret_key)
    );
    let value = HeaderValue::from_str(&value).map_err(|_| invalid("authorization"))?;
    headers.insert(http::header::AUTHORIZATION, value);
    Ok(())
}

/// Encodes query pairs as the SDK puts them on the wire: sorted by key then value, each escaped
/// with only `~` safe. Signing this string and sending it unchanged keeps both sides equal.
#[must_use]
pub fn encode_query<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut sorted: Vec<(&[u8], &[u8])> = pairs
        .iter()
        .map(|(k, v)| (k.as_ref().as_bytes(), v.as_ref().as_bytes()))
        .collect();
    sorted.sort_unstable();
    join_pairs(&sorted)
}

/// Formats a time as `X-Sdk-Date` (`%Y%m%dT%H%M%SZ`, UTC).
#[must_use]
pub fn format_sdk_date(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Parses `X-Sdk-Date` (`%Y%m%dT%H%M%SZ`, UTC).
///
/// # Errors
/// [`AuthError::MalformedDate`] for anything else.
pub fn parse_sdk_date(value: &str) -> Result<OffsetDateTime, AuthError> {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    PrimitiveDateTime::parse(value, format)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|_| AuthError::MalformedDate(value.chars().take(40).collect()))
}

fn invalid(name: &str) -> AuthError {
    AuthError::InvalidHeaderValue(name.to_owned())
}

fn keyed_mac(canonical_request: &str, sdk_date: &str, secret_key: &[u8]) -> Hmac<Sha256> {
    let digest = hex::encode(Sha256::digest(canonical_request.as_bytes()));
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret_key).expect("HMAC accepts keys of any length");
    mac.update(format!("{ALGORITHM}\n{sdk_date}\n{digest}").as_bytes());
    mac
}

/// The one value of a header, `None` if absent; several values are refused, since the
/// application might read a different one than the signature covered.
fn single_header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, AuthError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::DuplicateHeader(name.to_owned()));
    }
    // The SDK sends header text as UTF-8; anything else it cannot have signed.
    std::str::from_utf8(first.as_bytes())
        .map(Some)
        .map_err(|_| invalid(name))
}

/// Upstream `_process_hash_payload`: an empty body always hashes as empty; otherwise a declared
/// `X-Sdk-Content-Sha256` is used as is, which we only accept if it is `UNSIGNED-PAYLOAD` or true.
fn payload_hash(headers: &HeaderMap, body: &[u8]) -> Result<String, AuthError> {
    if body.is_empty() {
        return Ok(EMPTY_HASH.to_owned());
    }
    let actual = hex::encode(Sha256::digest(body));
    match single_header(headers, CONTENT_SHA256_HEADER)? {
        None => Ok(actual),
        Some(UNSIGNED_PAYLOAD) => Ok(UNSIGNED_PAYLOAD.to_owned()),
        Some(declared) if declared.eq_ignore_ascii_case(&actual) => Ok(declared.to_owned()),
        Some(_) => Err(AuthError::PayloadHashMismatch),
    }
}

/// Upstream `_process_canonical_uri`: decode the whole path (invalid UTF-8 becomes U+FFFD, as
/// Python's `unquote` does), split on `/` (so `%2F` splits too), re-escape each segment, and end
/// with `/`.
fn push_canonical_uri(raw_path: &str, out: &mut String) {
    let decoded = percent_decode_str(raw_path).decode_utf8_lossy();
    for (i, segment) in decoded.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.extend(percent_encode(segment.as_bytes(), SDK_ESCAPE));
    }
    if !out.ends_with('/') {
        out.push('/');
    }
}

/// Upstream `_process_canonical_query_string`, applied to the received query: decode each pair
/// (`+` stays a plus: the SDK escapes it), sort by key then value, re-escape.
fn push_canonical_query(raw_query: &str, out: &mut String) {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = raw_query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode_str(k).collect(),
                percent_decode_str(v).collect(),
            )
        })
        .collect();
    pairs.sort_unstable();
    let borrowed: Vec<(&[u8], &[u8])> = pairs
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect();
    out.push_str(&join_pairs(&borrowed));
}

fn join_pairs(pairs: &[(&[u8], &[u8])]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.extend(percent_encode(k, SDK_ESCAPE));
        out.push('=');
        out.extend(percent_encode(v, SDK_ESCAPE));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// A request given as wire header pairs, with its AK/SK.
    struct Vector {
        method: &'static str,
        path: &'static str,
        query: Option<&'static str>,
        headers: &'static [(&'static str, &'static str)],
        body: &'static str,
        ak: &'static str,
        sk: &'static str,
        canonical: &'static str,
        signature: &'static str,
    }

    impl Vector {
        fn header_map(&self) -> HeaderMap {
            let mut map = HeaderMap::new();
            for (k, v) in self.headers {
                map.append(
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            map
        }

        fn parts<'a>(&'a self, headers: &'a HeaderMap) -> RequestParts<'a> {
            RequestParts {
                method: self.method,
                raw_path: self.path,
                raw_query: self.query,
                headers,
                body: self.body.as_bytes(),
            }
        }

        fn auth(&self) -> Authorization {
            let mut signed: Vec<String> = self
                .headers
                .iter()
                .map(|(k, _)| k.to_ascii_lowercase())
                .collect();
            signed.sort();
            Authorization {
                access_key: self.ak.to_owned(),
                signed_headers: signed,
                signature: self.signature.to_owned(),
            }
        }
    }

    /// CONTRACT.md vector 1: Huawei's published example.
    const HUAWEI_EXAMPLE: Vector = Vector {
        method: "GET",
        path: "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
        query: Some("limit=2&marker=13551d6b-755d-4757-b956-536f674975c0"),
        headers: &[
            ("Content-Type", "application/json"),
            ("Host", "service.region.example.com"),
            ("X-Sdk-Date", "20191115T033655Z"),
        ],
        body: "",
        ak: "QTWAOYTTINDUT2QVKYUC",
        sk: "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc",
        canonical: "GET\n/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs/\n\
            limit=2&marker=13551d6b-755d-4757-b956-536f674975c0\n\
            content-type:application/json\nhost:service.region.example.com\n\
            x-sdk-date:20191115T033655Z\n\ncontent-type;host;x-sdk-date\n\
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe",
    };

    /// CONTRACT.md vector 2: a Workspace batch action.
    const DESKTOP_ACTION: Vector = Vector {
        method: "POST",
        path: "/v2/proj123/desktops/action",
        query: None,
        headers: &[
            ("Content-Type", "application/json"),
            ("Host", "127.0.0.1:8080"),
            ("User-Agent", "test-agent"),
            ("X-Project-Id", "proj123"),
            ("X-Sdk-Date", "20250101T000000Z"),
        ],
        body: r#"{"desktop_ids": ["d1", "d2"], "op_type": "os-stop", "type": "SOFT"}"#,
        ak: "AKTEST",
        sk: "SKTEST",
        canonical: "POST\n/v2/proj123/desktops/action/\n\ncontent-type:application/json\n\
            host:127.0.0.1:8080\nuser-agent:test-agent\nx-project-id:proj123\n\
            x-sdk-date:20250101T000000Z\n\ncontent-type;host;user-agent;x-project-id;x-sdk-date\n\
            6a2596badbed33a436460738e8db6b576d7e7d6e6c9c6aa05239f13ea89d3d40",
        signature: "70d5ede90cdb86e2060d4b86c31a7c28e50280d1e96b06854a5c6fbc2ec6406b",
    };

    fn check(v: &Vector, now: OffsetDateTime) -> Result<(), AuthError> {
        let headers = v.header_map();
        verify(
            &v.parts(&headers),
            &v.auth(),
            v.sk.as_bytes(),
            now,
            MAX_SKEW,
        )
    }

    #[test]
    fn contract_vectors_reproduce_canonical_request_and_signature() {
        for v in [&HUAWEI_EXAMPLE, &DESKTOP_ACTION] {
            let headers = v.header_map();
            let canonical =
                canonical_request(&v.parts(&headers), &v.auth().signed_headers).unwrap();
            assert_eq!(canonical, v.canonical);
            let date = headers[DATE_HEADER].to_str().unwrap();
            assert_eq!(signature(&canonical, date, v.sk.as_bytes()), v.signature);
        }
        assert_eq!(
            check(&HUAWEI_EXAMPLE, datetime!(2019-11-15 03:36:55 UTC)),
            Ok(())
        );
        assert_eq!(
            check(&DESKTOP_ACTION, datetime!(2025-01-01 00:00:00 UTC)),
            Ok(())
        );
    }

    #[test]
    fn verify_rejects_tampering_wrong_key_and_skew() {
        let v = &DESKTOP_ACTION;
        let now = datetime!(2025-01-01 00:00:00 UTC);
        let headers = v.header_map();
        let auth = v.auth();
        let sk = v.sk.as_bytes();
        let tampered_body = RequestParts {
            body: br#"{"desktop_ids": ["d1"]}"#,
            ..v.parts(&headers)
        };
        let err = verify(&tampered_body, &auth, sk, now, MAX_SKEW);
        assert_eq!(err, Err(AuthError::SignatureMismatch));
        let mut bad_sig = auth.clone();
        bad_sig.signature.replace_range(0..1, "8");
        let err = verify(&v.parts(&headers), &bad_sig, sk, now, MAX_SKEW);
        assert_eq!(err, Err(AuthError::SignatureMismatch));
        let err = verify(&v.parts(&headers), &auth, b"SKTESU", now, MAX_SKEW);
        assert_eq!(err, Err(AuthError::SignatureMismatch));
        let sixteen = time::Duration::minutes(16);
        let fifteen = time::Duration::minutes(15);
        assert_eq!(check(v, now + fifteen), Ok(()));
        assert_eq!(check(v, now - fifteen), Ok(()));
        let late = AuthError::DateSkew {
            skew_secs: -960,
            max_secs: 900,
        };
        assert_eq!(check(v, now + sixteen), Err(late));
        let early = AuthError::DateSkew {
            skew_secs: 960,
            max_secs: 900,
        };
        assert_eq!(check(v, now - sixteen), Err(early));
    }

    #[test]
    fn verify_requires_date_host_and_signed_headers() {
        let v = &DESKTOP_ACTION;
        let now = datetime!(2025-01-01 00:00:00 UTC);
        let sk = v.sk.as_bytes();
        let mut headers = v.header_map();
        headers.remove("x-project-id");
        let err = verify(&v.parts(&headers), &v.auth(), sk, now, MAX_SKEW);
        assert_eq!(
            err,
            Err(AuthError::SignedHeaderMissing("x-project-id".into()))
        );
        headers.insert(
            "x-sdk-date",
            HeaderValue::from_static("2025-01-01T00:00:00Z"),
        );
        let err = verify(&v.parts(&headers), &v.auth(), sk, now, MAX_SKEW);
        assert!(matches!(err, Err(AuthError::MalformedDate(_))), "{err:?}");
        headers.remove("x-sdk-date");
        let err = verify(&v.parts(&headers), &v.auth(), sk, now, MAX_SKEW);
        assert_eq!(err, Err(AuthError::MissingDate));
        let headers = v.header_map();
        let mut no_host = v.auth();
        no_host.signed_headers.retain(|h| h != "host");
        let err = verify(&v.parts(&headers), &no_host, sk, now, MAX_SKEW);
        assert_eq!(err, Err(AuthError::RequiredHeaderNotSigned("host")));
        let mut twice = v.header_map();
        twice.append("host", HeaderValue::from_static("evil.example"));
        let err = verify(&v.parts(&twice), &v.auth(), sk, now, MAX_SKEW);
        assert_eq!(err, Err(AuthError::DuplicateHeader("host".into())));
    }

    #[test]
    fn parse_authorization_accepts_sdk_form_and_spacing_variants() {
        let expected = Authorization {
            access_key: "AK1".into(),
            signed_headers: vec!["content-type".into(), "host".into(), "x-sdk-date".into()],
            signature: "ab".repeat(32),
        };
        let sig = "ab".repeat(32);
        for text in [
            format!(
                "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=content-type;host;x-sdk-date, Signature={sig}"
            ),
            format!(
                "  SDK-HMAC-SHA256   Access=AK1,SignedHeaders=content-type;host;x-sdk-date ,Signature={sig} "
            ),
            format!(
                "SDK-HMAC-SHA256 Signature = {sig}, Access = AK1, SignedHeaders = content-type;host;x-sdk-date"
            ),
        ] {
            assert_eq!(parse_authorization(&text), Ok(expected.clone()), "{text}");
        }
    }

    #[test]
    fn parse_authorization_rejects_with_reason() {
        let sig = "ab".repeat(32);
        let unsupported = parse_authorization(&format!(
            "SDK-HMAC-SM3 Access=A, SignedHeaders=host, Signature={sig}"
        ));
        assert_eq!(
            unsupported,
            Err(AuthError::UnsupportedAlgorithm("SDK-HMAC-SM3".into()))
        );
        let cases = [
            ("", "empty header"),
            ("SDK-HMAC-SHA256", "empty parameter"),
            (
                "SDK-HMAC-SHA256 Access=A, SignedHeaders=host",
                "missing Signature",
            ),
            (
                "SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature=ab",
                "missing Access",
            ),
            (
                "SDK-HMAC-SHA256 Access=A, SignedHeaders=host, Signature=xyz",
                "64 hex digits",
            ),
            (
                "SDK-HMAC-SHA256 Access=A, Access=B, SignedHeaders=host",
                "repeated parameter",
            ),
            (
                "SDK-HMAC-SHA256 Access=A, SignedHeaders=Host, Signature=ab",
                "lower-case",
            ),
            (
                "SDK-HMAC-SHA256 Access=A, SignedHeaders=a;;b, Signature=ab",
                "lower-case",
            ),
            (
                "SDK-HMAC-SHA256 Access=A, Region=x, Signature=ab",
                "unknown parameter",
            ),
            (
                "SDK-HMAC-SHA256 Access=A SignedHeaders=host",
                "Access contains whitespace",
            ),
            ("SDK-HMAC-SHA256 Access=A, SignedHeaders", "without '='"),
        ];
        for (text, reason) in cases {
            match parse_authorization(text) {
                Err(AuthError::MalformedAuthorization(r)) => {
                    assert!(r.contains(reason), "{text}: {r}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn canonical_uri_and_query_follow_the_sdk() {
        let mut uri = String::new();
        push_canonical_uri("/v2/%7Bproj%7D/a%20b%2Fc~d/x%2520y", &mut uri);
        assert_eq!(uri, "/v2/%7Bproj%7D/a%20b/c~d/x%2520y/");
        let mut root = String::new();
        push_canonical_uri("/", &mut root);
        assert_eq!(root, "/");
        let mut query = String::new();
        push_canonical_query("b=2&a=%7e&a=+&c&b=1&&d=x%3Dy", &mut query);
        assert_eq!(query, "a=%2B&a=~&b=1&b=2&c=&d=x%3Dy");
        assert_eq!(
            encode_query(&[("z", "a b"), ("k", "v=&"), ("k", "é")]),
            "k=v%3D%26&k=%C3%A9&z=a%20b"
        );
    }

    #[test]
    fn payload_hash_honours_unsigned_payload_only_when_true_or_declared() {
        let mut headers = HeaderMap::new();
        assert_eq!(payload_hash(&headers, b""), Ok(EMPTY_HASH.to_owned()));
        headers.insert(
            CONTENT_SHA256_HEADER,
            HeaderValue::from_static(UNSIGNED_PAYLOAD),
        );
        assert_eq!(payload_hash(&headers, b""), Ok(EMPTY_HASH.to_owned()));
        assert_eq!(
            payload_hash(&headers, b"x"),
            Ok(UNSIGNED_PAYLOAD.to_owned())
        );
        headers.insert(CONTENT_SHA256_HEADER, HeaderValue::from_static(EMPTY_HASH));
        assert_eq!(
            payload_hash(&headers, b"x"),
            Err(AuthError::PayloadHashMismatch)
        );
    }

    #[test]
    fn sign_then_verify_round_trips_and_reproduces_contract_vector() {
        let v = &DESKTOP_ACTION;
        let mut headers = v.header_map();
        headers.remove("x-sdk-date");
        headers.insert("authorization", HeaderValue::from_static("stale"));
        let now = datetime!(2025-01-01 00:00:00 UTC);
        sign(
            v.method,
            v.path,
            v.query,
            &mut headers,
            v.body.as_bytes(),
            v.ak,
            v.sk.as_bytes(),
            now,
        )
        .unwrap();
        let expected = format!(
            "SDK-HMAC-SHA256 Access=AKTEST, SignedHeaders=content-type;host;user-agent;x-project-id;x-sdk-date, Signature={}",
            v.signature
        );
        assert_eq!(headers["authorization"], expected.as_str());
        let auth = parse_authorization(headers["authorization"].to_str().unwrap()).unwrap();
        assert_eq!(
            verify(&v.parts(&headers), &auth, v.sk.as_bytes(), now, MAX_SKEW),
            Ok(())
        );
    }

    #[test]
    fn sign_marks_non_json_bodies_unsigned_like_the_sdk() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("h"));
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.insert("x_ignored", HeaderValue::from_static("not signed: has '_'"));
        let now = datetime!(2025-06-30 23:59:59 +2);
        sign("PUT", "/p", None, &mut headers, b"body", "AK", b"SK", now).unwrap();
        assert_eq!(headers[DATE_HEADER], "20250630T215959Z");
        assert_eq!(headers[CONTENT_SHA256_HEADER], UNSIGNED_PAYLOAD);
        let auth = parse_authorization(headers["authorization"].to_str().unwrap()).unwrap();
        assert_eq!(
            auth.signed_headers,
            ["content-type", "host", "x-sdk-content-sha256", "x-sdk-date"]
        );
        let parts = RequestParts {
            method: "PUT",
            raw_path: "/p",
            raw_query: None,
            headers: &headers,
            body: b"other",
        };
        assert_eq!(
            verify(&parts, &auth, b"SK", now, MAX_SKEW),
            Ok(()),
            "the body is not signed"
        );
    }

    /// Requests the official Python SDK (huaweicloudsdkcore 3.1.219, `Client.do_http_request`)
    /// sent to a capture server, as they arrived: path params with `/`, `{`, space and `%20`,
    /// list and dict query params (sent as repeated keys), `=`/`&`/`+`/space/UTF-8 in values,
    /// bools, an empty value, JSON bodies and empty bodies. All carry `content-type`, `host`,
    /// `user-agent`, `x-project-id` and `x-sdk-date`, signed in that order.
    struct SdkCapture {
        method: &'static str,
        path: &'static str,
        query: Option<&'static str>,
        date: &'static str,
        body: &'static str,
        signature: &'static str,
    }

    const SDK_AK: &str = "HPUAXKZ7WQ3NPRVLD2EM";
    const SDK_SK: &str = "q8Zr1mTnW4yXc0VbK6sJdLfH2gPeA9uRiO3tY7wE";
    const SDK_PROJECT: &str = "0a1b2c3d4e5f";
    const SDK_CAPTURES: [SdkCapture; 4] = [
        SdkCapture {
            method: "GET",
            path: "/v2/0a1b2c3d4e5f/desktops/a%20b%2F%7Bc%7D~d",
            query: Some(
                "A=upper&desktop_ids=a%20b&desktop_ids=m%3D%26n&desktop_ids=zeta&desktop_ids=%C3%A9&enterprise_project_id=x%20y%26z%3D1%2B2&flag=true&limit=10&marker=",
            ),
            date: "20250102T030405Z",
            body: "",
            signature: "ccc0fce7d9de9d98b228c10258d99db7fdf7e14c8f48997101d0ac930f7b7498",
        },
        SdkCapture {
            method: "POST",
            path: "/v2/0a1b2c3d4e5f/desktops/batch-reboot",
            query: None,
            date: "20250102T030406Z",
            body: r#"{"desktop_ids": ["d1", "d2"], "type": "SOFT", "name": "h\u00e9llo w\u00f6rld"}"#,
            signature: "7d6f6a2f28dd9b3ca5d822e2c67160a31a81d16667b7bd4c77a0699dcf89e5df",
        },
        SdkCapture {
            method: "DELETE",
            path: "/v2/0a1b2c3d4e5f/desktops/desk-01",
            query: Some("delete_users=false&email_notification=true"),
            date: "20250102T030407Z",
            body: "",
            signature: "c8b5a68148f23b1daed8fa7546972512650c15963fbc5c1eb3fbb67e282aa24c",
        },
        SdkCapture {
            method: "PUT",
            path: "/v2/%7Bproj%7D/users/u%2520x",
            query: Some("tags=k0%3Dv%200&tags=k1%3Dv1&zz=~tilde"),
            date: "20250102T030408Z",
            body: "{}",
            signature: "b4712401ab51178414debd486a4065718d6b0ffbd59d3dbe69e656e66fdcdeb1",
        },
    ];

    #[test]
    fn official_sdk_requests_verify_and_sign_identically() {
        for c in &SDK_CAPTURES {
            let mut headers = HeaderMap::new();
            for (k, v) in [
                ("content-type", "application/json"),
                ("host", "127.0.0.1:34483"),
                ("user-agent", "huaweicloud-usdk-python/3.0; vector-agent"),
                ("x-project-id", SDK_PROJECT),
            ] {
                headers.insert(k, HeaderValue::from_static(v));
            }
            let now = parse_sdk_date(c.date).unwrap();
            let (sk, body) = (SDK_SK.as_bytes(), c.body.as_bytes());
            let mut wire = headers.clone();
            sign(c.method, c.path, c.query, &mut wire, body, SDK_AK, sk, now).unwrap();
            let sdk_authorization = format!(
                "SDK-HMAC-SHA256 Access={SDK_AK}, \
                 SignedHeaders=content-type;host;user-agent;x-project-id;x-sdk-date, \
                 Signature={}",
                c.signature
            );
            assert_eq!(
                wire["authorization"],
                sdk_authorization.as_str(),
                "{}",
                c.path
            );
            // What `requests` adds after signing is on the wire but unsigned.
            for (k, v) in [
                ("accept", "*/*"),
                ("accept-encoding", "gzip, deflate"),
                ("connection", "keep-alive"),
            ] {
                wire.insert(k, HeaderValue::from_static(v));
            }
            let auth = parse_authorization(&sdk_authorization).unwrap();
            let parts = RequestParts {
                method: c.method,
                raw_path: c.path,
                raw_query: c.query,
                headers: &wire,
                body,
            };
            assert_eq!(
                verify(&parts, &auth, sk, now, MAX_SKEW),
                Ok(()),
                "{}",
                c.path
            );
            let moved = RequestParts {
                raw_path: "/v2/0a1b2c3d4e5f/desktops/other",
                ..parts
            };
            assert_eq!(
                verify(&moved, &auth, sk, now, MAX_SKEW),
                Err(AuthError::SignatureMismatch)
            );
        }
    }
}
