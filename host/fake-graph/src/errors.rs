//! Graph API errors the fake can return, and rules to inject them.

use serde_json::{json, Value};

/// An error response: HTTP status, Graph code and subcode, message, extra
/// headers (rate-limit usage headers, for instance).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct GraphErrorSpec {
    pub http_status: u16,
    pub code: i32,
    #[serde(default)]
    pub subcode: Option<i32>,
    pub message: String,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
}

impl GraphErrorSpec {
    pub fn new(http_status: u16, code: i32, subcode: Option<i32>, message: &str) -> Self {
        GraphErrorSpec { http_status, code, subcode, message: message.into(), headers: Vec::new() }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn rate_limited_613() -> Self {
        Self::new(400, 613, None, "(#613) Calls to this api have exceeded the rate limit.")
    }
    pub fn app_rate_limit_4() -> Self {
        Self::new(400, 4, None, "(#4) Application request limit reached")
            .header("X-App-Usage", r#"{"call_count":100,"total_time":25,"total_cputime":25}"#)
    }
    pub fn page_rate_limit_32() -> Self {
        Self::new(400, 32, None, "(#32) Page request limit reached")
    }
    pub fn transient_2() -> Self {
        Self::new(500, 2, None, "An unexpected error has occurred. Please retry your request later.")
    }
    pub fn temporary_1200() -> Self {
        Self::new(400, 1200, Some(2018024), "(#1200) Temporary send message failure. Please try again later.")
    }
    pub fn user_unavailable_551() -> Self {
        Self::new(400, 551, Some(1545041), "(#551) This person isn't available right now.")
    }
    pub fn invalid_token_190() -> Self {
        Self::new(400, 190, Some(460), "Error validating access token: The session has been invalidated.")
    }
    pub fn outside_window_2018278() -> Self {
        Self::new(400, 10, Some(2018278), "(#10) This message is sent outside of allowed window.")
    }
    pub fn not_thread_owner_2018300() -> Self {
        Self::new(400, 10, Some(2018300), "(#10) Message failed to send because another app is controlling this thread now.")
    }
    pub fn page_restricted_1893063() -> Self {
        Self::new(400, 10, Some(1893063), "(#10) This Page is temporarily restricted from sending messages.")
    }
    pub fn no_matching_user_2018001() -> Self {
        Self::new(400, 100, Some(2018001), "(#100) No matching user found")
    }

    /// The response body, with a fresh `fbtrace_id`.
    pub fn body(&self, fbtrace_id: &str) -> Value {
        let mut error = json!({
            "message": self.message,
            "type": "OAuthException",
            "code": self.code,
            "fbtrace_id": fbtrace_id,
        });
        if let Some(sub) = self.subcode {
            error["error_subcode"] = json!(sub);
        }
        if matches!(self.code, 1 | 2) {
            error["is_transient"] = json!(true);
        }
        json!({ "error": error })
    }
}

/// When to answer with an injected error instead of the normal response.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct ErrorRule {
    pub error: GraphErrorSpec,
    /// Only calls whose path (without version) ends with this.
    #[serde(default)]
    pub path_suffix: Option<String>,
    /// Only calls with this access token.
    #[serde(default)]
    pub access_token: Option<String>,
    /// Only calls whose body's `recipient.id` is this PSID.
    #[serde(default)]
    pub recipient: Option<String>,
    /// How many times it fires; None for every matching call.
    #[serde(default)]
    pub times: Option<usize>,
}

impl ErrorRule {
    pub fn new(error: GraphErrorSpec) -> Self {
        ErrorRule { error, path_suffix: None, access_token: None, recipient: None, times: None }
    }
    pub fn path(mut self, suffix: &str) -> Self {
        self.path_suffix = Some(suffix.into());
        self
    }
    pub fn token(mut self, token: &str) -> Self {
        self.access_token = Some(token.into());
        self
    }
    pub fn recipient(mut self, psid: &str) -> Self {
        self.recipient = Some(psid.into());
        self
    }
    pub fn times(mut self, n: usize) -> Self {
        self.times = Some(n);
        self
    }

    pub(crate) fn matches(&self, path: &str, token: Option<&str>, body: &Value) -> bool {
        self.times != Some(0)
            && self.path_suffix.as_deref().is_none_or(|s| path.ends_with(s))
            && self.access_token.as_deref().is_none_or(|t| token == Some(t))
            && self.recipient.as_deref().is_none_or(|r| body["recipient"]["id"].as_str() == Some(r))
    }
}
