//! What Meta POSTs to the webhook: the body's envelope, and the signature
//! headers that vouch for it; and the `signed_request` of Meta's callbacks.

pub mod envelope;
pub mod signature;
pub mod signed_request;
