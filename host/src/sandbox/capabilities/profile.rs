//! `switchboard:plugin/profile`: the User Profile API
//! (`GET /{psid}?fields=...`), with answers cached per (Page, PSID) for
//! `graph.profile_cache_secs` so a chatty plugin does not spend the Page's
//! rate limit on the same person.

use std::sync::Arc;

use serde_json::Value;

use super::{to_wit_error, CallContext};
use crate::sandbox::bindings::v0_2::switchboard::plugin::profile::{Host, UserProfile};
use crate::sandbox::bindings::v0_2::switchboard::plugin::types::MessengerError;

fn profile(v: &Value) -> UserProfile {
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    UserProfile {
        name: text("name"),
        first_name: text("first_name"),
        last_name: text("last_name"),
        profile_pic: text("profile_pic"),
        locale: text("locale"),
        timezone: v.get("timezone").and_then(Value::as_f64).map(|t| t as f32),
    }
}

pub struct Profile {
    call: Arc<CallContext>,
}

impl Profile {
    pub fn new(call: Arc<CallContext>) -> Self {
        Profile { call }
    }
}

impl Host for Profile {
    async fn get(&mut self, psid: String) -> Result<UserProfile, MessengerError> {
        let page = self.call.page_for_call()?;
        super::wit_psid(&psid)?;
        // It becomes the request's path.
        if !psid.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(MessengerError::InvalidRequest(format!("{} is not a PSID", crate::bounds::quoted(&psid))));
        }
        let key = (page.page_id.clone(), psid);
        if let Some(found) = page.profiles.cached(&key) {
            return Ok(profile(&found));
        }
        let query = [("fields", page.profiles.fields())];
        let reply =
            self.call.graph(page, Some(&key.1), || page.graph.get(&page.access_token, &key.1, &query)).await.map_err(to_wit_error)?;
        let found = profile(&reply);
        page.profiles.keep(key, reply);
        Ok(found)
    }
}
