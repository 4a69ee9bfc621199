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
mod tests;
