//! Meta's `signed_request`: what the data deletion callback POSTs (and the
//! deauthorize callback, and Facebook Login), as
//! `base64url(signature).base64url(payload)`, where the signature is the
//! HMAC-SHA256 of the payload's base64url text with the app secret, and the
//! payload is JSON with `algorithm` (`HMAC-SHA256`), `issued_at` (epoch
//! seconds) and the app-scoped `user_id`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;

use super::signature::SignatureVerifier;
use crate::model::id_string;

/// A verified `signed_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// The person's app-scoped id (not a PSID).
    pub user_id: String,
    /// Epoch seconds.
    pub issued_at: u64,
    /// The payload part as received: what identifies this request.
    pub payload: String,
}

/// Why a `signed_request` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignedRequestError {
    #[error("signed_request is not `<signature>.<payload>` in base64url")]
    Malformed,
    #[error("signed_request's signature does not match (is the app secret right?)")]
    Mismatch,
    #[error("signed_request's payload is not JSON with `algorithm`, `issued_at` and `user_id`")]
    BadPayload,
    #[error("signed_request uses algorithm `{0}`; only HMAC-SHA256 is accepted")]
    Algorithm(String),
}

impl SignedRequest {
    /// Verifies `field` (the form field's value) with the app's secret.
    pub fn verify(field: &str, app: &SignatureVerifier) -> Result<SignedRequest, SignedRequestError> {
        let (signature, payload) = field.trim().split_once('.').ok_or(SignedRequestError::Malformed)?;
        // Meta pads neither part; a padded one is accepted all the same.
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).map_err(|_| SignedRequestError::Malformed);
        let signature = decode(signature)?;
        let json = decode(payload)?;
        // The signature covers the payload's text, not its decoded bytes.
        if !app.verify_sha256_digest(payload.as_bytes(), &signature) {
            return Err(SignedRequestError::Mismatch);
        }
        let value: Value = serde_json::from_slice(&json).map_err(|_| SignedRequestError::BadPayload)?;
        match value["algorithm"].as_str() {
            Some(a) if a.eq_ignore_ascii_case("HMAC-SHA256") => {}
            Some(other) => return Err(SignedRequestError::Algorithm(other.chars().take(40).collect())),
            None => return Err(SignedRequestError::BadPayload),
        }
        let user_id = id_string(&value["user_id"]).filter(|u| u.len() <= 64 && u.bytes().all(|b| b.is_ascii_alphanumeric()));
        let issued_at = crate::model::millis(&value["issued_at"]).map(|ms| ms / 1000);
        match (user_id, issued_at) {
            (Some(user_id), Some(issued_at)) => Ok(SignedRequest { user_id, issued_at, payload: payload.to_string() }),
            _ => Err(SignedRequestError::BadPayload),
        }
    }
}

/// Makes a `signed_request` as Meta does; for tests and local tools.
pub fn sign_request(secret: &str, payload: &Value) -> String {
    let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
    let digest = SignatureVerifier::new(crate::config::Secret::new(secret)).sha256(payload.as_bytes());
    format!("{}.{payload}", URL_SAFE_NO_PAD.encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use serde_json::json;

    fn app() -> SignatureVerifier {
        SignatureVerifier::new(Secret::new("s3cret"))
    }

    #[test]
    fn a_request_signed_with_the_secret_verifies() {
        let field = sign_request("s3cret", &json!({"algorithm": "HMAC-SHA256", "issued_at": 1_796_000_000, "user_id": "218471"}));
        let verified = SignedRequest::verify(&field, &app()).expect("verifies");
        assert_eq!((verified.user_id.as_str(), verified.issued_at), ("218471", 1_796_000_000));
    }

    #[test]
    fn forged_tampered_and_odd_requests_are_refused() {
        let payload = json!({"algorithm": "HMAC-SHA256", "issued_at": 1_796_000_000, "user_id": "218471"});
        let other_secret = sign_request("another", &payload);
        assert_eq!(SignedRequest::verify(&other_secret, &app()), Err(SignedRequestError::Mismatch));
        // The signature of one payload on another.
        let (sig, _) = sign_request("s3cret", &payload).split_once('.').map(|(a, b)| (a.to_string(), b.to_string())).expect("two parts");
        let swapped =
            format!("{sig}.{}", URL_SAFE_NO_PAD.encode(json!({"algorithm": "HMAC-SHA256", "issued_at": 1, "user_id": "9"}).to_string()));
        assert_eq!(SignedRequest::verify(&swapped, &app()), Err(SignedRequestError::Mismatch));
        for bad in ["", "nodot", "!!.??", "a.b.c"] {
            assert!(SignedRequest::verify(bad, &app()).is_err(), "{bad}");
        }
        let md5 = sign_request("s3cret", &json!({"algorithm": "MD5", "issued_at": 1, "user_id": "1"}));
        assert_eq!(SignedRequest::verify(&md5, &app()), Err(SignedRequestError::Algorithm("MD5".into())));
        let no_user = sign_request("s3cret", &json!({"algorithm": "HMAC-SHA256", "issued_at": 1}));
        assert_eq!(SignedRequest::verify(&no_user, &app()), Err(SignedRequestError::BadPayload));
        let odd_user = sign_request("s3cret", &json!({"algorithm": "HMAC-SHA256", "issued_at": 1, "user_id": "../1"}));
        assert_eq!(SignedRequest::verify(&odd_user, &app()), Err(SignedRequestError::BadPayload));
    }
}
