//! `switchboard:plugin/profile`: the User Profile API
//! (`GET /{psid}?fields=...`), with answers cached per (Page, PSID) for
//! `graph.profile_cache_secs` so a chatty plugin does not spend the Page's
//! rate limit on the same person.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{to_wit_error, CallContext};
use crate::runtime::bindings::switchboard::plugin::profile::{Host, UserProfile};
use crate::runtime::bindings::switchboard::plugin::types::MessengerError;

/// Profiles kept at most; past this the cache starts afresh.
const CACHE_MAX: usize = 100_000;

/// The shared profile cache (one for the host; keys carry the Page).
#[derive(Clone)]
pub struct UserProfiles {
    inner: Arc<ProfilesInner>,
}

struct ProfilesInner {
    ttl: Duration,
    fields: String,
    cache: Mutex<HashMap<(String, String), (Instant, UserProfile)>>,
}

impl UserProfiles {
    /// `fields` is what to ask for (`first_name,last_name,profile_pic`...;
    /// `locale`, `timezone` and `gender` need extra permissions).
    pub fn new(ttl: Duration, fields: &[String]) -> Self {
        UserProfiles { inner: Arc::new(ProfilesInner { ttl, fields: fields.join(","), cache: Mutex::default() }) }
    }

    fn cached(&self, key: &(String, String)) -> Option<UserProfile> {
        let cache = self.inner.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(key).filter(|(at, _)| at.elapsed() < self.inner.ttl).map(|(_, p)| p.clone())
    }

    fn keep(&self, key: (String, String), profile: UserProfile) {
        let mut cache = self.inner.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, (Instant::now(), profile));
    }
}

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
        if psid.is_empty() || !psid.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(MessengerError::InvalidRequest(format!("{psid:?} is not a PSID")));
        }
        let key = (page.page_id.clone(), psid);
        if let Some(found) = page.profiles.cached(&key) {
            return Ok(found);
        }
        let fields = page.profiles.inner.fields.clone();
        let query = [("fields", fields.as_str())];
        let reply =
            self.call.graph(page, Some(&key.1), || page.graph.get(&page.access_token, &key.1, &query)).await.map_err(to_wit_error)?;
        let found = profile(&reply);
        page.profiles.keep(key, found.clone());
        Ok(found)
    }
}
