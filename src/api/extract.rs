//! Our extractors: JSON bodies and query strings whose failures are 400s naming
//! the field, never axum's plain-text defaults or a 500.

use super::error::ApiError;
use crate::domain::error_code::Code;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// A JSON body deserialized with the failing field's path in the error.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::code(Code::RequestTooLarge))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::code(Code::EmptyBody));
        }
        match json_type.as_deref() {
            Some(t) if t == "application/json" || t.ends_with("+json") => {}
            Some(t) => {
                return Err(ApiError::new(
                    Code::UnsupportedMediaType,
                    format!("Content-Type {t} is not supported: send application/json."),
                ));
            }
            None => {
                return Err(ApiError::new(
                    Code::UnsupportedMediaType,
                    "Content-Type is missing: send application/json.",
                ));
            }
        }
        parse_json(&bytes).map(Json)
    }
}

/// Deserialize `bytes`, naming the failing field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::new(
                Code::MalformedJson,
                format!("The request body is not valid JSON: {inner}"),
            )
        } else if path == "." {
            ApiError::invalid(format!("The request body has the wrong shape: {inner}"))
        } else {
            ApiError::invalid(format!("Invalid parameter {path}: {inner}"))
        }
    })
}

/// The query string as (name, value) pairs, with typed accessors whose errors name the parameter.
#[derive(Debug, Default)]
pub struct QueryParams(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        Ok(Self(
            form_urlencoded::parse(q.as_bytes()).into_owned().collect(),
        ))
    }
}

impl QueryParams {
    /// The last value of `name`, if non-empty.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name` (repeated keys and comma-separated lists).
    #[must_use]
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
            })
            .collect()
    }

    /// An integer in `min..=max`, or `default`.
    pub fn int(&self, name: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::invalid(format!(
                    "Invalid parameter {name}: {v:?} is not an integer in {min}..={max}."
                ))),
            },
        }
    }

    /// One of `allowed` (matched case-insensitively, returned as spelled in
    /// `allowed`), if present.
    pub fn one_of(&self, name: &str, allowed: &[&str]) -> Result<Option<String>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match allowed.iter().find(|a| a.eq_ignore_ascii_case(v)) {
                // The canonical spelling: callers compare with it.
                Some(a) => Ok(Some((*a).to_owned())),
                None => Err(ApiError::invalid(format!(
                    "Invalid parameter {name}: {v:?}; allowed: {}.",
                    allowed.join(", ")
                ))),
            },
        }
    }
}

/// Path parameters, whose failures (say, a segment that is not UTF-8 once
/// percent-decoded) are 400s in our body rather than axum's plain text.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e| ApiError::invalid(format!("Invalid path: {}", e.body_text())))
    }
}

/// An id of a path (`{desktop_id}`, `{job_id}` ...), parsed into its type. A
/// segment that cannot be such an id names nothing that exists: 404, exactly
/// as an unknown id.
pub struct Id<T>(pub T);

/// An id type that a path carries.
pub trait PathId: std::str::FromStr + Send + 'static {
    /// The path parameter's name.
    const PARAM: &'static str;
    /// The answer when nothing has this id (`raw` as the path gave it).
    fn not_found(raw: &str) -> ApiError;
}

impl<S: Send + Sync, T: PathId> FromRequestParts<S> for Id<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state).await?;
        let raw = params
            .iter()
            .find(|(name, _)| name == T::PARAM)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| ApiError::invalid(format!("Missing path parameter {}.", T::PARAM)))?;
        raw.parse().map(Id).map_err(|_| T::not_found(raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_of_answers_the_canonical_spelling() {
        let q = QueryParams(vec![("job_type".into(), "CREATEDESKTOPS".into())]);
        assert_eq!(
            q.one_of("job_type", &["createDesktops", "deleteDesktops"])
                .unwrap(),
            Some("createDesktops".to_owned())
        );
        assert!(q.one_of("job_type", &["deleteDesktops"]).is_err());
        assert_eq!(q.one_of("status", &["ACTIVE"]).unwrap(), None);
    }
}
