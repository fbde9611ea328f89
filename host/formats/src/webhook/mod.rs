//! What Meta POSTs to the webhook: the body's envelope, and the signature
//! headers that vouch for it.

pub mod envelope;
pub mod signature;
