//! The signature headers: any header values and body are refused or
//! accepted without a panic, and only a correct signature is accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_formats::config::Secret;
use switchboard_formats::webhook::signature::{sign, SignatureVerifier};

const SECRET: &str = "60efff025951cddde78c8d03de52cc90";

/// The input: the `X-Hub-Signature-256` value, a newline, the
/// `X-Hub-Signature` value, a newline, then the body.
fn split(data: &[u8]) -> Option<(&str, &str, &[u8])> {
    let mut parts = data.splitn(3, |&b| b == b'\n');
    let sha256 = std::str::from_utf8(parts.next()?).ok()?;
    let sha1 = std::str::from_utf8(parts.next()?).ok()?;
    Some((sha256, sha1, parts.next().unwrap_or_default()))
}

fuzz_target!(|data: &[u8]| {
    let Some((sha256, sha1, body)) = split(data) else { return };
    let verifier = SignatureVerifier::new(Secret::new(SECRET));
    let accepted = verifier.verify(body, Some(sha256), Some(sha1)).is_ok();
    let (good256, _) = sign(SECRET, body);
    let digest = |h: &str| h.trim().split_once('=').map(|(_, hex)| hex.to_ascii_lowercase());
    if accepted {
        assert_eq!(digest(sha256), digest(&good256), "accepted a wrong X-Hub-Signature-256");
    }
    assert!(verifier.verify(body, Some(&good256), None).is_ok());
    let sha1_only = verifier.verify(body, None, Some(sha1)).is_ok();
    if sha1_only {
        let (_, good1) = sign(SECRET, body);
        assert_eq!(digest(sha1), digest(&good1), "accepted a wrong X-Hub-Signature");
    }
});
