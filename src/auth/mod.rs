//! Authentication: who is calling, and how their secrets are kept.
//!
//! Clients sign each request with an access key (AK) and secret key (SK) using Huawei's
//! `SDK-HMAC-SHA256` scheme ([`sdk_hmac`]); the server looks up the SK by the AK, recomputes the
//! signature and compares. Because verification needs the SK itself (HMAC, not a public key), the
//! server must be able to read SKs back: [`sealing`] keeps them encrypted at rest under a key that
//! lives outside the database, so a copy of the database alone reveals none of them.
//!
//! Every failure is an [`AuthError`]; the API answers all of them with 401 `APIGW.0301` and
//! [`AuthError::gateway_message`], as Huawei's gateway does.

pub mod passwords;
pub mod sdk_hmac;
pub mod sealing;

use rand::{Rng, rngs::OsRng};

pub use sdk_hmac::{Authorization, RequestParts, parse_authorization, verify};
pub use sealing::{SealError, Sealer};

/// Why a request's signature was refused (or could not be produced).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header at all.
    #[error("missing Authorization header")]
    MissingAuthorization,
    /// The header does not follow `SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…`.
    #[error("malformed Authorization header: {0}")]
    MalformedAuthorization(String),
    /// A signing scheme other than `SDK-HMAC-SHA256` (e.g. `SDK-HMAC-SM3`).
    #[error("unsupported signing algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// No `X-Sdk-Date` header.
    #[error("missing X-Sdk-Date header")]
    MissingDate,
    /// `X-Sdk-Date` is not `YYYYMMDDTHHMMSSZ`.
    #[error("malformed X-Sdk-Date {0:?}: expected YYYYMMDDTHHMMSSZ")]
    MalformedDate(String),
    /// `X-Sdk-Date` is too far from the server clock (positive: in the future).
    #[error(
        "X-Sdk-Date is {skew_secs} s from the server clock, more than the {max_secs} s allowed"
    )]
    DateSkew {
        /// Request date minus server time, in seconds.
        skew_secs: i64,
        /// The allowed skew, in seconds.
        max_secs: u64,
    },
    /// `host` or `x-sdk-date` is not signed, so the request could be replayed elsewhere or later.
    #[error("header {0:?} must be among the signed headers")]
    RequiredHeaderNotSigned(&'static str),
    /// A header named in `SignedHeaders` is absent from the request.
    #[error("signed header {0:?} is missing from the request")]
    SignedHeaderMissing(String),
    /// A signed header appears more than once, so which value was signed is ambiguous.
    #[error("signed header {0:?} appears more than once")]
    DuplicateHeader(String),
    /// A header value is not UTF-8 text, or a credential cannot be put in a header.
    #[error("header {0:?} has a value that cannot be signed")]
    InvalidHeaderValue(String),
    /// `X-Sdk-Content-Sha256` declares a hash other than the body's.
    #[error("X-Sdk-Content-Sha256 does not match the body")]
    PayloadHashMismatch,
    /// The recomputed signature differs from the one sent.
    #[error("signature mismatch")]
    SignatureMismatch,
    /// The access key is not known to the server.
    #[error("unknown access key")]
    UnknownAccessKey,
}

impl AuthError {
    /// The `error_msg` Huawei's API gateway sends with `APIGW.0301` for this failure.
    #[must_use]
    pub fn gateway_message(&self) -> &'static str {
        match self {
            Self::MissingAuthorization => {
                "Incorrect IAM authentication information: x-auth-token not found"
            }
            Self::MissingDate => "Incorrect IAM authentication information: x-sdk-date not found",
            Self::MalformedDate(_) => {
                "Incorrect IAM authentication information: x-sdk-date format error"
            }
            Self::DateSkew { .. } => "Incorrect IAM authentication information: x-sdk-date expired",
            Self::UnknownAccessKey => "Incorrect IAM authentication information: ak not exist",
            Self::MalformedAuthorization(_)
            | Self::UnsupportedAlgorithm(_)
            | Self::RequiredHeaderNotSigned(_)
            | Self::SignedHeaderMissing(_)
            | Self::DuplicateHeader(_)
            | Self::InvalidHeaderValue(_)
            | Self::PayloadHashMismatch
            | Self::SignatureMismatch => {
                "Incorrect IAM authentication information: verify aksk signature fail"
            }
        }
    }
}

/// A new access key id: 20 upper-case letters and digits, shaped like Huawei's AKs.
#[must_use]
pub fn generate_access_key() -> String {
    random_text(20, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
}

/// A new secret key: 40 letters and digits (about 238 bits), shaped like Huawei's SKs.
#[must_use]
pub fn generate_secret_key() -> String {
    random_text(
        40,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    )
}

fn random_text(len: usize, alphabet: &[u8]) -> String {
    // `gen_range` is uniform (rejection sampling), so no character is favoured.
    (0..len)
        .map(|_| char::from(alphabet[OsRng.gen_range(0..alphabet.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_huawei_shape_and_differ() {
        let (ak, sk) = (generate_access_key(), generate_secret_key());
        assert_eq!(ak.len(), 20);
        assert!(
            ak.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
            "{ak}"
        );
        assert_eq!(sk.len(), 40);
        assert!(sk.bytes().all(|b| b.is_ascii_alphanumeric()), "{sk}");
        assert_ne!(ak, generate_access_key());
        assert_ne!(sk, generate_secret_key());
    }

    #[test]
    fn gateway_messages_name_the_cause() {
        let skew = AuthError::DateSkew {
            skew_secs: 960,
            max_secs: 900,
        };
        assert!(skew.gateway_message().ends_with("x-sdk-date expired"));
        assert!(
            AuthError::UnknownAccessKey
                .gateway_message()
                .ends_with("ak not exist")
        );
        assert!(
            AuthError::SignatureMismatch
                .gateway_message()
                .ends_with("verify aksk signature fail")
        );
    }
}
