//! Conversation tests for plugin authors, in any language: a TOML file of
//! steps, each sending one thing to the plugin (a message, a quick-reply
//! tap, a postback, an opt-in, a business event) and saying what must come
//! back (replies, handover calls, KV state, a failure). `switchboard test
//! DIR` runs every `tests/*.toml` of a project, each on a fresh
//! [`LocalHost`]: the real runtime, the real store, a fake Graph API.
//!
//! ```toml
//! [[step]]
//! send = "hi"                       # from "42" unless `from = "…"`
//! replies = ["You said: hi"]        # texts, or tables: { text, to, quick_replies, buttons, template, attachment, messaging_type, tag }
//!
//! [[step]]
//! postback = "SHOW_COUNT"           # or { payload = "…", title = "…" }
//! kv = { "count:42" = 1 }           # the plugin's KV values (text); false: absent
//!
//! [[step]]
//! business = { type = "announce", psid = "42", text = "hello" }
//! replies = [{ to = "42", text = "hello", messaging_type = "UPDATE" }]
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;

use super::local_host::{LocalHost, USER};
use super::replies::{Action, Reply};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conversation {
    #[serde(rename = "step", default)]
    pub steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The person's PSID (default "42"); for a business event, the
    /// `?psid=` it is about, if given.
    from: Option<String>,
    send: Option<String>,
    quick_reply: Option<QuickReplyTap>,
    postback: Option<PostbackTap>,
    /// The topic (payload) of a one-time-notification opt-in.
    optin: Option<String>,
    business: Option<toml::Table>,
    replies: Option<Vec<Expected>>,
    /// The handover calls made, in order (`pass_thread_control`, …).
    handover: Option<Vec<String>>,
    kv: Option<BTreeMap<String, toml::Value>>,
    /// The event must end as a dead letter (the plugin failed for good).
    #[serde(default)]
    fails: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuickReplyTap {
    title: String,
    payload: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PostbackTap {
    Payload(String),
    Button { payload: String, title: Option<String> },
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Expected {
    Text(String),
    Reply(ExpectedReply),
}

/// A reply's expected fields; those left out are not checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedReply {
    to: Option<String>,
    text: Option<String>,
    template: Option<String>,
    attachment: Option<String>,
    quick_replies: Option<Vec<String>>,
    buttons: Option<Vec<String>>,
    messaging_type: Option<String>,
    tag: Option<String>,
}

impl Conversation {
    pub fn parse(text: &str) -> anyhow::Result<Conversation> {
        let conversation: Conversation = toml::from_str(text)?;
        anyhow::ensure!(!conversation.steps.is_empty(), "no [[step]]: a conversation needs at least one");
        for (n, step) in conversation.steps.iter().enumerate() {
            let inputs =
                [step.send.is_some(), step.quick_reply.is_some(), step.postback.is_some(), step.optin.is_some(), step.business.is_some()];
            anyhow::ensure!(
                inputs.iter().filter(|i| **i).count() == 1,
                "step {} must send exactly one of: send, quick_reply, postback, optin, business",
                n + 1
            );
        }
        Ok(conversation)
    }

    /// Runs every step on `host`; the first step whose expectations fail
    /// ends the run, with what was expected and what happened.
    pub async fn run(&self, host: &mut LocalHost) -> anyhow::Result<()> {
        for (n, step) in self.steps.iter().enumerate() {
            let what = step.describe();
            step.send(host).await.with_context(|| format!("step {} ({what})", n + 1))?;
            let outcome = host.outcome().await.with_context(|| format!("step {} ({what})", n + 1))?;
            let failure = outcome.failures.into_iter().next();
            step.check(host, &outcome.actions, failure).await.with_context(|| format!("step {} ({what})", n + 1))?;
        }
        Ok(())
    }
}

/// Runs the conversation in `file` on a fresh local host serving `wasm`,
/// its store in `data`, compiled plugins in `compile_cache`.
pub async fn run_file(file: &Path, wasm: &Path, data: &Path, compile_cache: &Path) -> anyhow::Result<usize> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let conversation = Conversation::parse(&text).with_context(|| format!("{} is not a conversation test", file.display()))?;
    let mut host = LocalHost::start(wasm, data, compile_cache).await?;
    let outcome = conversation.run(&mut host).await;
    host.stop().await?;
    outcome.map(|()| conversation.steps.len())
}

impl Step {
    fn psid(&self) -> &str {
        self.from.as_deref().unwrap_or(USER)
    }

    fn describe(&self) -> String {
        match (&self.send, &self.quick_reply, &self.postback, &self.optin, &self.business) {
            (Some(text), ..) => format!("send {text:?}"),
            (_, Some(tap), ..) => format!("quick reply {:?}", tap.payload),
            (_, _, Some(PostbackTap::Payload(p) | PostbackTap::Button { payload: p, .. }), ..) => format!("postback {p:?}"),
            (.., Some(topic), _) => format!("optin {topic:?}"),
            (.., Some(event)) => format!("business {}", toml_to_json(&toml::Value::Table(event.clone()))),
            _ => "nothing".into(),
        }
    }

    async fn send(&self, host: &LocalHost) -> anyhow::Result<()> {
        let psid = self.psid();
        if let Some(text) = &self.send {
            return host.message(psid, text).await;
        }
        if let Some(tap) = &self.quick_reply {
            return host.quick_reply(psid, &tap.title, &tap.payload).await;
        }
        if let Some(postback) = &self.postback {
            let (payload, title) = match postback {
                PostbackTap::Payload(p) => (p.as_str(), p.as_str()),
                PostbackTap::Button { payload, title } => (payload.as_str(), title.as_deref().unwrap_or(payload)),
            };
            return host.postback(psid, title, payload).await;
        }
        if let Some(topic) = &self.optin {
            return host.optin(psid, topic).await.map(drop);
        }
        if let Some(event) = &self.business {
            return host.business(&toml_to_json(&toml::Value::Table(event.clone())), self.from.as_deref()).await;
        }
        Ok(())
    }

    async fn check(&self, host: &LocalHost, actions: &[Action], failure: Option<String>) -> anyhow::Result<()> {
        match (&failure, self.fails) {
            (Some(error), false) => anyhow::bail!("the plugin failed: {error}"),
            (None, true) => anyhow::bail!("expected the plugin to fail (fails = true), but it did not"),
            _ => {}
        }
        let replies: Vec<&Reply> = actions.iter().filter_map(|a| if let Action::Message(r) = a { Some(r) } else { None }).collect();
        if let Some(expected) = &self.replies {
            let shown = || actions.iter().map(|a| format!("\n  {}", a.render(0).replace('\n', "\n  "))).collect::<String>();
            anyhow::ensure!(
                expected.len() == replies.len(),
                "expected {} repl{}, the bot sent {}:{}",
                expected.len(),
                if expected.len() == 1 { "y" } else { "ies" },
                replies.len(),
                shown()
            );
            for (i, (want, got)) in expected.iter().zip(&replies).enumerate() {
                if let Err(why) = want.matches(got, self.psid()) {
                    anyhow::bail!("reply {}: {why}; the bot sent:{}", i + 1, shown());
                }
            }
        }
        if let Some(expected) = &self.handover {
            let made: Vec<&str> =
                actions.iter().filter_map(|a| if let Action::Handover { call, .. } = a { Some(call.as_str()) } else { None }).collect();
            anyhow::ensure!(
                made == expected.iter().map(String::as_str).collect::<Vec<_>>(),
                "expected the handover calls {expected:?}, the bot made {made:?}"
            );
        }
        for (key, want) in self.kv.iter().flatten() {
            let got = host.kv(key).await?;
            let got_text = got.as_deref().map(String::from_utf8_lossy);
            let ok = match want {
                toml::Value::Boolean(false) => got.is_none(),
                toml::Value::String(s) => got_text.as_deref() == Some(s.as_str()),
                toml::Value::Integer(n) => got_text.as_deref().and_then(|t| t.trim().parse::<i64>().ok()) == Some(*n),
                other => anyhow::bail!("kv {key:?}: expected a string, an integer or false, not {other}"),
            };
            anyhow::ensure!(
                ok,
                "kv {key:?}: expected {want}, found {}",
                got_text.map(|t| format!("{t:?}")).unwrap_or_else(|| "nothing".into())
            );
        }
        Ok(())
    }
}

impl Expected {
    fn matches(&self, got: &Reply, sender: &str) -> Result<(), String> {
        let want = match self {
            Expected::Text(text) => &ExpectedReply { to: Some(sender.to_string()), text: Some(text.clone()), ..ExpectedReply::default() },
            Expected::Reply(want) => want,
        };
        let check = |field: &str, want: &Option<String>, got: Option<&str>| match want {
            Some(w) if Some(w.as_str()) != got => {
                Err(format!("expected {field} {w:?}, got {}", got.map(|g| format!("{g:?}")).unwrap_or_else(|| "none".into())))
            }
            _ => Ok(()),
        };
        check("to", &want.to, Some(&got.to))?;
        check("text", &want.text, got.text.as_deref())?;
        check("template", &want.template, got.template.as_deref())?;
        check("attachment", &want.attachment, got.attachment.as_deref())?;
        check("messaging_type", &want.messaging_type, Some(&got.messaging_type))?;
        check("tag", &want.tag, got.tag.as_deref())?;
        let titles = |t: &[super::replies::Tappable]| t.iter().map(|t| t.title.clone()).collect::<Vec<_>>();
        if let Some(w) = &want.quick_replies {
            let g = titles(&got.quick_replies);
            if *w != g {
                return Err(format!("expected quick replies {w:?}, got {g:?}"));
            }
        }
        if let Some(w) = &want.buttons {
            let g = titles(&got.buttons);
            if *w != g {
                return Err(format!("expected buttons {w:?}, got {g:?}"));
            }
        }
        Ok(())
    }
}

fn toml_to_json(value: &toml::Value) -> serde_json::Value {
    match value {
        toml::Value::String(s) => s.clone().into(),
        toml::Value::Integer(n) => (*n).into(),
        toml::Value::Float(f) => (*f).into(),
        toml::Value::Boolean(b) => (*b).into(),
        toml::Value::Datetime(d) => d.to_string().into(),
        toml::Value::Array(a) => a.iter().map(toml_to_json).collect(),
        toml::Value::Table(t) => t.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect::<serde_json::Map<_, _>>().into(),
    }
}
