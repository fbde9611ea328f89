//! The User Profile API's answers, cached per (Page, PSID) for
//! `graph.profile_cache_secs`, so a chatty plugin does not spend the Page's
//! rate limit on the same person.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

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
    cache: Mutex<HashMap<(String, String), (Instant, Value)>>,
}

impl UserProfiles {
    /// `fields` is what to ask for (`first_name,last_name,profile_pic`...;
    /// `locale`, `timezone` and `gender` need extra permissions).
    pub fn new(ttl: Duration, fields: &[String]) -> Self {
        UserProfiles { inner: Arc::new(ProfilesInner { ttl, fields: fields.join(","), cache: Mutex::default() }) }
    }

    /// The `fields` parameter of a User Profile API call.
    pub fn fields(&self) -> &str {
        &self.inner.fields
    }

    /// The Graph API's answer for (Page, PSID), if fetched recently.
    pub fn cached(&self, key: &(String, String)) -> Option<Value> {
        let cache = self.inner.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(key).filter(|(at, _)| at.elapsed() < self.inner.ttl).map(|(_, p)| p.clone())
    }

    pub fn keep(&self, key: (String, String), profile: Value) {
        let mut cache = self.inner.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, (Instant::now(), profile));
    }
}
