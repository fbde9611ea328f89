//! What a plugin did, read back from the Graph API calls the host made for
//! it: messages (text, quick replies, templates, media), sender actions and
//! handover calls. `switchboard dev` prints them for people to read;
//! `switchboard test` compares them with a conversation's expectations.

use serde_json::Value;
use switchboard_fake_graph::RecordedCall;

/// One thing the bot did, as a person would see it.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Message(Reply),
    /// `typing_on`, `typing_off`, `mark_seen`.
    SenderAction {
        to: String,
        action: String,
    },
    /// `pass_thread_control`, `take_thread_control`, `request_thread_control`
    /// or `release_thread_control`, with the app it passed to, if any.
    Handover {
        call: String,
        psid: String,
        target_app_id: Option<String>,
    },
}

/// A message the bot sent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reply {
    pub to: String,
    /// The text, or a button template's text, or a card's title.
    pub text: Option<String>,
    /// `button`, `generic`, `one_time_notif_req`, … for templates.
    pub template: Option<String>,
    /// `image`, `audio`, `video`, `file` for media.
    pub attachment: Option<String>,
    pub quick_replies: Vec<Tappable>,
    /// Buttons of a button template or of every card, in order.
    pub buttons: Vec<Tappable>,
    pub messaging_type: String,
    pub tag: Option<String>,
    /// Whatever `message` held, for what the fields above do not show.
    pub raw: Value,
}

/// A quick reply or a button.
#[derive(Debug, Clone, PartialEq)]
pub struct Tappable {
    pub title: String,
    /// The postback or quick-reply payload; a URL button's URL.
    pub payload: Option<String>,
    /// `postback`, `web_url`, `quick_reply`, …
    pub kind: String,
}

impl Action {
    /// The action a Graph call was, if it was one a person would notice
    /// (not a profile lookup or the Messenger Profile).
    pub fn of(call: &RecordedCall) -> Option<Action> {
        let body = &call.body;
        let recipient = || body["recipient"]["id"].as_str().or(body["recipient"]["user_ref"].as_str()).unwrap_or("?").to_string();
        if call.path.ends_with("/messages") {
            if let Some(action) = body["sender_action"].as_str() {
                return Some(Action::SenderAction { to: recipient(), action: action.to_string() });
            }
            let message = body.get("message")?;
            return Some(Action::Message(Reply::of(recipient(), body, message)));
        }
        let call_name = call.path.rsplit('/').next()?;
        if call_name.ends_with("_thread_control") {
            return Some(Action::Handover {
                call: call_name.to_string(),
                psid: recipient(),
                target_app_id: body["target_app_id"]
                    .as_str()
                    .map(String::from)
                    .or_else(|| body["target_app_id"].as_u64().map(|n| n.to_string())),
            });
        }
        None
    }

    /// The action for a terminal, with numbered quick replies and buttons
    /// counted from `first` (what `/tap N` taps).
    pub fn render(&self, first: usize) -> String {
        match self {
            Action::SenderAction { action, .. } if action == "typing_on" => "bot is typing…".into(),
            Action::SenderAction { action, .. } => format!("bot: ({action})"),
            Action::Handover { call, target_app_id: Some(app), .. } => format!("bot: {} to app {app}", call.replace('_', " ")),
            Action::Handover { call, .. } => format!("bot: {}", call.replace('_', " ")),
            Action::Message(reply) => reply.render(first),
        }
    }
}

impl Reply {
    fn of(to: String, body: &Value, message: &Value) -> Reply {
        let mut reply = Reply {
            to,
            messaging_type: body["messaging_type"].as_str().unwrap_or("RESPONSE").to_string(),
            tag: body["tag"].as_str().map(String::from),
            text: message["text"].as_str().map(String::from),
            raw: message.clone(),
            ..Reply::default()
        };
        reply.quick_replies = message["quick_replies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|q| Tappable {
                title: q["title"].as_str().unwrap_or_else(|| q["content_type"].as_str().unwrap_or("?")).to_string(),
                payload: q["payload"].as_str().map(String::from),
                kind: "quick_reply".into(),
            })
            .collect();
        let attachment = &message["attachment"];
        match attachment["type"].as_str() {
            Some("template") => {
                let payload = &attachment["payload"];
                reply.template = payload["template_type"].as_str().map(String::from);
                reply.text = payload["text"].as_str().or(payload["title"].as_str()).map(String::from);
                let elements = payload["elements"].as_array().cloned().unwrap_or_default();
                if reply.text.is_none() {
                    reply.text = elements.first().and_then(|e| e["title"].as_str()).map(String::from);
                }
                let buttons = payload["buttons"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .chain(elements.iter().flat_map(|e| e["buttons"].as_array().into_iter().flatten()));
                reply.buttons = buttons.map(button).collect();
            }
            Some(media) => reply.attachment = Some(media.to_string()),
            None => {}
        }
        reply
    }

    fn render(&self, first: usize) -> String {
        let mut out = String::from("bot: ");
        match (&self.template, &self.attachment) {
            (Some(template), _) if template == "button" => {}
            (Some(template), _) => out.push_str(&format!("[{}] ", template.replace('_', " "))),
            (None, Some(media)) => {
                let url = self.raw["attachment"]["payload"]["url"].as_str().unwrap_or("(uploaded)");
                out.push_str(&format!("[{media}] {url}"));
            }
            (None, None) if self.text.is_none() => out.push_str(&format!("[raw] {}", self.raw)),
            _ => {}
        }
        if let Some(text) = &self.text {
            out.push_str(text);
        }
        if self.messaging_type != "RESPONSE" {
            out.push_str(&format!("  ({}{})", self.messaging_type, self.tag.as_ref().map(|t| format!(" {t}")).unwrap_or_default()));
        }
        let mut n = first;
        for button in &self.buttons {
            n += 1;
            let target = match (button.kind.as_str(), &button.payload) {
                ("postback", Some(p)) => format!("postback {p}"),
                (kind, Some(p)) => format!("{kind} {p}"),
                (kind, None) => kind.to_string(),
            };
            out.push_str(&format!("\n     ({n}) {}  → {target}", button.title));
        }
        if !self.quick_replies.is_empty() {
            let chips: Vec<String> = self
                .quick_replies
                .iter()
                .map(|q| {
                    n += 1;
                    format!("[{n}: {}]", q.title)
                })
                .collect();
            out.push_str(&format!("\n     {}", chips.join(" ")));
        }
        out
    }

    /// What `/tap N` can tap, numbered in render order: buttons, then
    /// quick replies.
    pub fn tappables(&self) -> impl Iterator<Item = &Tappable> {
        self.buttons.iter().chain(&self.quick_replies)
    }
}

fn button(b: &Value) -> Tappable {
    Tappable {
        title: b["title"].as_str().unwrap_or("?").to_string(),
        payload: b["payload"].as_str().or(b["url"].as_str()).map(String::from),
        kind: b["type"].as_str().unwrap_or("?").to_string(),
    }
}
