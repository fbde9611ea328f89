//! Webhook signature verification.
//!
//! Meta signs the exact request bytes with the app secret:
//! `X-Hub-Signature-256: sha256=<hex>` (current) and, on older deliveries,
//! `X-Hub-Signature: sha1=<hex>`. The SHA-256 header wins whenever it is
//! present: a wrong SHA-256 is refused even if a SHA-1 header is right, so a
//! downgrade to SHA-1 is impossible. Comparison is constant-time
//! (`Mac::verify_slice`).

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

use crate::config::Secret;

pub const SHA256_HEADER: &str = "x-hub-signature-256";
pub const SHA1_HEADER: &str = "x-hub-signature";

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no X-Hub-Signature-256 or X-Hub-Signature header")]
    Missing,
    #[error("the {0} header is not of the form `<algorithm>=<hex digest>`")]
    Malformed(&'static str),
    #[error("the {0} signature does not match the body (is the app secret right?)")]
    Mismatch(&'static str),
}

/// Verifies webhook bodies for one app.
#[derive(Clone)]
pub struct SignatureVerifier {
    secret: Secret,
}

impl SignatureVerifier {
    pub fn new(secret: Secret) -> Self {
        SignatureVerifier { secret }
    }

    /// Checks `body` against the header values as received.
    pub fn verify(&self, body: &[u8], sha256_header: Option<&str>, sha1_header: Option<&str>) -> Result<(), SignatureError> {
        if let Some(header) = sha256_header {
            let digest = parse(header, "sha256").ok_or(SignatureError::Malformed("X-Hub-Signature-256"))?;
            return self.verify_sha256_digest(body, &digest).then_some(()).ok_or(SignatureError::Mismatch("X-Hub-Signature-256"));
        }
        if let Some(header) = sha1_header {
            let digest = parse(header, "sha1").ok_or(SignatureError::Malformed("X-Hub-Signature"))?;
            let mut mac = Hmac::<Sha1>::new_from_slice(self.secret.expose().as_bytes()).expect("HMAC accepts keys of any length");
            mac.update(body);
            return mac.verify_slice(&digest).map_err(|_| SignatureError::Mismatch("X-Hub-Signature"));
        }
        Err(SignatureError::Missing)
    }

    /// The HMAC-SHA256 of `data` with the app secret (what `signed_request`
    /// and `appsecret_proof` are made of).
    pub fn sha256(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.expose().as_bytes()).expect("HMAC accepts keys of any length");
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// Whether `digest` is the HMAC-SHA256 of `data`, compared in constant time.
    pub fn verify_sha256_digest(&self, data: &[u8], digest: &[u8]) -> bool {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.expose().as_bytes()).expect("HMAC accepts keys of any length");
        mac.update(data);
        mac.verify_slice(digest).is_ok()
    }
}

/// `sha256=AbC1...` → digest bytes; the algorithm name and hex are
/// case-insensitive.
fn parse(header: &str, algorithm: &str) -> Option<Vec<u8>> {
    let (name, hex_digest) = header.trim().split_once('=')?;
    if !name.eq_ignore_ascii_case(algorithm) {
        return None;
    }
    hex::decode(hex_digest).ok()
}

/// Signs `body` like Meta does; used by tests, benchmarks and load tools.
pub fn sign(secret: &str, body: &[u8]) -> (String, String) {
    let mut sha256 = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    sha256.update(body);
    let mut sha1 = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("any key length");
    sha1.update(body);
    (format!("sha256={}", hex::encode(sha256.finalize().into_bytes())), format!("sha1={}", hex::encode(sha1.finalize().into_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(secret: &str) -> SignatureVerifier {
        SignatureVerifier::new(Secret::new(secret))
    }

    // Vectors from the reference (Bottender's and messenger4j's tests).
    #[test]
    fn reference_vectors() {
        let v = verifier("FAKE_SECRET");
        assert_eq!(v.verify(b"{}", None, Some("sha1=1c99183cb7c44ea27fb834746086b65b89800db8")), Ok(()));
        assert_eq!(v.verify(b"{}", Some("sha256=448df8785dd36742e43fa3cad9de2eca8ceb6391e79c742e33e52c6637f32dac"), None), Ok(()));
        assert_eq!(v.verify(b"rawBody", None, Some("sha1=0d814d436b45c33ef664a317ff4b8dc2d3d8fe2a")), Ok(()));
    }

    #[test]
    fn sha256_wins_over_a_correct_sha1() {
        let v = verifier("FAKE_SECRET");
        let wrong = "sha256=0000000000000000000000000000000000000000000000000000000000000000";
        let right_sha1 = "sha1=1c99183cb7c44ea27fb834746086b65b89800db8";
        assert_eq!(v.verify(b"{}", Some(wrong), Some(right_sha1)), Err(SignatureError::Mismatch("X-Hub-Signature-256")));
    }

    #[test]
    fn missing_and_malformed() {
        let v = verifier("k");
        assert_eq!(v.verify(b"{}", None, None), Err(SignatureError::Missing));
        assert_eq!(v.verify(b"{}", Some("md5=00"), None), Err(SignatureError::Malformed("X-Hub-Signature-256")));
        assert_eq!(v.verify(b"{}", None, Some("sha1=zz")), Err(SignatureError::Malformed("X-Hub-Signature")));
    }

    #[test]
    fn sign_round_trips_and_uppercase_hex_verifies() {
        let (s256, s1) = sign("k", b"body");
        let v = verifier("k");
        assert_eq!(v.verify(b"body", Some(&s256.to_uppercase().replacen("SHA256", "sha256", 1)), None), Ok(()));
        assert_eq!(v.verify(b"body", None, Some(&s1)), Ok(()));
        assert!(v.verify(b"body!", Some(&s256), None).is_err());
    }
}
