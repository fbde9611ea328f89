//! A Page's Messenger Profile as the operator declares it
//! (`[pages.messenger_profile]`), the limits `switchboard check` holds it
//! to, and the `/me/messenger_profile` body it becomes.
//!
//! ```toml
//! [pages.messenger_profile]
//! get_started = "GET_STARTED"
//! whitelisted_domains = ["https://shop.example.com"]
//! greeting = [{ locale = "default", text = "Hi {{user_first_name}}!" }]
//!
//! [[pages.messenger_profile.persistent_menu]]
//! locale = "default"
//! call_to_actions = [
//!   { type = "postback", title = "Talk to a person", payload = "HUMAN" },
//!   { type = "web_url", title = "Shop", url = "https://shop.example.com" },
//! ]
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MessengerProfileConfig {
    /// The Get Started button's postback payload.
    pub get_started: Option<String>,
    #[serde(default)]
    pub greeting: Vec<Greeting>,
    #[serde(default)]
    pub persistent_menu: Vec<PersistentMenu>,
    #[serde(default)]
    pub whitelisted_domains: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Greeting {
    pub locale: String,
    pub text: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PersistentMenu {
    pub locale: String,
    #[serde(default)]
    pub composer_input_disabled: bool,
    pub call_to_actions: Vec<MenuItem>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum MenuItem {
    Postback { title: String, payload: String },
    WebUrl { title: String, url: String },
}

/// The properties this module manages; others on the Page are left alone.
pub const FIELDS: [&str; 4] = ["get_started", "greeting", "persistent_menu", "whitelisted_domains"];

const GREETING_MAX: usize = 160;
const MENU_ITEMS_MAX: usize = 20;
const MENU_TITLE_MAX: usize = 30;
const PAYLOAD_MAX: usize = 1000;
const DOMAINS_MAX: usize = 50;

fn chars(s: &str) -> usize {
    s.chars().count()
}

impl MessengerProfileConfig {
    /// Every limit this profile breaks, one line each.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(payload) = &self.get_started {
            if payload.is_empty() || chars(payload) > PAYLOAD_MAX {
                problems.push(format!("get_started must be 1 to {PAYLOAD_MAX} characters"));
            }
        }
        let needs_default = |what: &str, locales: Vec<&str>, problems: &mut Vec<String>| {
            if !locales.is_empty() && !locales.contains(&"default") {
                problems.push(format!("{what} needs an entry with locale = \"default\""));
            }
            let mut seen = std::collections::HashSet::new();
            for l in locales {
                if !seen.insert(l) {
                    problems.push(format!("{what} lists locale {l:?} twice"));
                }
            }
        };
        needs_default("greeting", self.greeting.iter().map(|g| g.locale.as_str()).collect(), &mut problems);
        for g in &self.greeting {
            if g.text.is_empty() || chars(&g.text) > GREETING_MAX {
                problems.push(format!("greeting ({}) must be 1 to {GREETING_MAX} characters", g.locale));
            }
        }
        needs_default("persistent_menu", self.persistent_menu.iter().map(|m| m.locale.as_str()).collect(), &mut problems);
        if !self.persistent_menu.is_empty() && self.get_started.is_none() {
            problems.push("persistent_menu needs get_started: Messenger shows the menu only on Pages with a Get Started button".into());
        }
        for menu in &self.persistent_menu {
            let n = menu.call_to_actions.len();
            if n == 0 || n > MENU_ITEMS_MAX {
                problems.push(format!("persistent_menu ({}) must have 1 to {MENU_ITEMS_MAX} items, not {n}", menu.locale));
            }
            for item in &menu.call_to_actions {
                let (title, problem) = match item {
                    MenuItem::Postback { title, payload } => (
                        title,
                        (payload.is_empty() || chars(payload) > PAYLOAD_MAX)
                            .then(|| format!("payload must be 1 to {PAYLOAD_MAX} characters")),
                    ),
                    MenuItem::WebUrl { title, url } => {
                        (title, (!url.starts_with("https://")).then(|| format!("url {url:?} must start with https://")))
                    }
                };
                if title.is_empty() || chars(title) > MENU_TITLE_MAX {
                    problems
                        .push(format!("persistent_menu ({}) item {title:?}: title must be 1 to {MENU_TITLE_MAX} characters", menu.locale));
                }
                if let Some(problem) = problem {
                    problems.push(format!("persistent_menu ({}) item {title:?}: {problem}", menu.locale));
                }
            }
        }
        if self.whitelisted_domains.len() > DOMAINS_MAX {
            problems.push(format!("whitelisted_domains has {}; the limit is {DOMAINS_MAX}", self.whitelisted_domains.len()));
        }
        for d in &self.whitelisted_domains {
            if !d.starts_with("https://") {
                problems.push(format!("whitelisted domain {d:?} must start with https://"));
            }
        }
        problems
    }

    /// The `POST /me/messenger_profile` body: only the properties set.
    pub fn body(&self) -> Map<String, Value> {
        let mut body = Map::new();
        if let Some(payload) = &self.get_started {
            body.insert("get_started".into(), json!({ "payload": payload }));
        }
        if !self.greeting.is_empty() {
            body.insert("greeting".into(), json!(self.greeting));
        }
        if !self.persistent_menu.is_empty() {
            body.insert("persistent_menu".into(), json!(self.persistent_menu));
        }
        if !self.whitelisted_domains.is_empty() {
            body.insert("whitelisted_domains".into(), json!(self.whitelisted_domains));
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_the_documented_limits() {
        let profile: MessengerProfileConfig = toml::from_str(
            r#"
            greeting = [{ locale = "en_US", text = "hi" }]
            whitelisted_domains = ["http://plain.example.com"]
            [[persistent_menu]]
            locale = "default"
            call_to_actions = [{ type = "postback", title = "A title far longer than thirty characters", payload = "X" }]
            "#,
        )
        .expect("parses");
        let problems = profile.problems().join("\n");
        for expected in
            ["greeting needs an entry with locale = \"default\"", "needs get_started", "title must be 1 to 30", "must start with https://"]
        {
            assert!(problems.contains(expected), "{expected:?} missing from:\n{problems}");
        }
    }

    #[test]
    fn body_has_the_wire_shape() {
        let profile: MessengerProfileConfig = toml::from_str(
            r#"
            get_started = "GO"
            [[persistent_menu]]
            locale = "default"
            call_to_actions = [{ type = "web_url", title = "Shop", url = "https://shop.example.com" }]
            "#,
        )
        .expect("parses");
        assert!(profile.problems().is_empty(), "{:?}", profile.problems());
        assert_eq!(
            Value::Object(profile.body()),
            json!({
                "get_started": { "payload": "GO" },
                "persistent_menu": [{ "locale": "default", "composer_input_disabled": false,
                    "call_to_actions": [{ "type": "web_url", "title": "Shop", "url": "https://shop.example.com" }] }]
            })
        );
    }
}
