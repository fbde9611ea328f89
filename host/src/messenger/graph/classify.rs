//! What a Graph failure means for the caller: try again, slow down, give up,
//! or stop calling for this Page altogether.
//!
//! The table follows the reference's error list
//! (`shared/docs/messenger-platform.md` §6). Anything it does not name is
//! permanent unless the HTTP status is 5xx or the body says `is_transient`:
//! repeating a request Meta refused for a reason we do not know only burns
//! the Page's rate limit.

use super::GraphError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Retry after a backoff: codes 1, 2, 1200, 2018321, any 5xx, no answer.
    Transient,
    /// Retry after the wait Meta asks for (or a backoff): 4, 9/2018352, 17,
    /// 32, 341, 613 and their rate-limit subcodes.
    RateLimited,
    /// Do not retry: the request itself is refused (10/2018278, 10/2018108,
    /// 10/2018300, 100/2018001, 551, the 200 family...).
    Permanent,
    /// The Page's token is invalid (190, 102): every call will fail until
    /// an operator fixes it.
    Auth,
    /// The Page may not send for now (10/1893063).
    PageRestricted,
}

impl ErrorClass {
    /// The class as a metric label.
    pub fn label(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::Permanent => "permanent",
            ErrorClass::Auth => "auth",
            ErrorClass::PageRestricted => "page_restricted",
        }
    }

    pub fn retryable(self) -> bool {
        matches!(self, ErrorClass::Transient | ErrorClass::RateLimited)
    }

    /// Whether the whole Page, not just this call, is affected.
    pub fn trips_circuit(self) -> bool {
        matches!(self, ErrorClass::Auth | ErrorClass::PageRestricted)
    }
}

pub fn classify(error: &GraphError) -> ErrorClass {
    use ErrorClass::*;
    let GraphError::Api { http_status, code, subcode, is_transient, .. } = error else {
        return Transient;
    };
    match (*code, *subcode) {
        (190 | 102, _) => Auth,
        (10, Some(1893063)) => PageRestricted,
        // Privacy terms not accepted: retrying cannot help.
        (2, Some(2018344)) => Permanent,
        (1 | 2 | 1200 | 2018321, _) => Transient,
        // Marketing-message minimum delay, tag-abuse warning, duplicate
        // opt-in topic: refusals dressed as rate limits.
        (4, Some(2018354)) | (613, Some(2018338 | 1893016)) => Permanent,
        (4 | 17 | 32 | 341 | 613, _) | (9, Some(2018352)) => RateLimited,
        _ if *http_status >= 500 || *is_transient => Transient,
        _ => Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: i32, subcode: Option<i32>, http_status: u16) -> GraphError {
        GraphError::Api { http_status, code, subcode, message: String::new(), fbtrace_id: None, is_transient: false, retry_after: None }
    }

    #[test]
    fn follows_the_reference_table() {
        use ErrorClass::*;
        let cases = [
            (api(1200, Some(2018024), 400), Transient),
            (api(2, None, 500), Transient),
            (api(1, Some(99), 400), Transient),
            (api(613, None, 400), RateLimited),
            (api(613, Some(2534040), 400), RateLimited),
            (api(4, Some(2018022), 400), RateLimited),
            (api(17, Some(2446079), 400), RateLimited),
            (api(32, None, 400), RateLimited),
            (api(613, Some(2018338), 400), Permanent),
            (api(10, Some(2018278), 400), Permanent),
            (api(10, Some(2018108), 400), Permanent),
            (api(10, Some(2018300), 400), Permanent),
            (api(100, Some(2018001), 400), Permanent),
            (api(551, Some(1545041), 400), Permanent),
            (api(200, None, 403), Permanent),
            (api(190, Some(460), 400), Auth),
            (api(10, Some(1893063), 400), PageRestricted),
            (api(100, None, 503), Transient),
            (GraphError::Unavailable("connection refused".into()), Transient),
        ];
        for (error, class) in cases {
            assert_eq!(classify(&error), class, "{error}");
        }
    }
}
