//! The back-in-stock bot: a one-time notification, end to end.
//!
//! 1. A person writes `notify <product>` (say `notify red shoes`). The bot
//!    answers with Messenger's one-time-notification request
//!    (`Template::one_time_notif_request`) for the topic
//!    `restock:<product>`.
//! 2. The person taps "Notify me": Messenger sends an `optin` with a token,
//!    which the host stores under that topic. The bot thanks them.
//! 3. Days later the inventory service posts a business event to the host:
//!
//!    ```sh
//!    curl -X POST http://127.0.0.1:8080/api/pages/$PAGE_ID/events \
//!      -H "Authorization: Bearer $API_TOKEN" \
//!      -d '{"type":"restock","product":"red shoes"}'
//!    ```
//!
//!    The bot asks the host for the open tokens of `restock:red shoes` and
//!    sends each person one message with their token: outside the 24-hour
//!    window, which is what the token is for. The host refuses a second use
//!    of a token or an expired one, so a repeated restock event cannot spam
//!    anyone.
//!
//! Anything else gets a short help text.

use switchboard_plugin_sdk::prelude::*;

struct BackInStock;

const TOPIC_PREFIX: &str = "restock:";

/// The topic of one product: case and spacing do not matter.
fn topic(product: &str) -> String {
    let words: Vec<String> = product.split_whitespace().map(str::to_lowercase).collect();
    format!("{TOPIC_PREFIX}{}", words.join(" "))
}

/// The OTN request title is limited to 65 characters.
fn request_title(product: &str) -> String {
    let title = format!("Tell me when {product} is back");
    if title.chars().count() <= 65 {
        return title;
    }
    let mut cut: String = title.chars().take(64).collect();
    cut.push('…');
    cut
}

impl Plugin for BackInStock {
    fn info() -> PluginInfo {
        PluginInfo::new("back-in-stock", env!("CARGO_PKG_VERSION")).event_kinds(["message", "optin", "business"])
    }

    fn on_message(cx: &Context, message: &Message) -> Result<Verdict, Error> {
        let Some(text) = message.text.as_deref() else { return Ok(Verdict::Continue) };
        let Some(product) = text.trim().strip_prefix("notify ").map(str::trim).filter(|p| !p.is_empty()) else {
            cx.reply("Send \"notify <product>\" and I'll message you once when it is back in stock.")?;
            return Ok(Verdict::Continue);
        };
        cx.reply(Template::one_time_notif_request(request_title(product), topic(product)))?;
        Ok(Verdict::Stop)
    }

    fn on_optin(cx: &Context, optin: &Optin) -> Result<Verdict, Error> {
        if optin.kind.as_deref() != Some("one_time_notif_req") {
            return Ok(Verdict::Continue);
        }
        let product = optin.payload.as_deref().and_then(|p| p.strip_prefix(TOPIC_PREFIX)).unwrap_or("it");
        cx.reply(format!("Thanks! I'll message you once when {product} is back in stock."))?;
        Ok(Verdict::Stop)
    }

    fn on_business(cx: &Context, event: &BusinessEvent) -> Result<Verdict, Error> {
        if event.kind.as_deref() != Some("restock") {
            return Ok(Verdict::Continue);
        }
        let body: serde_json::Value = serde_json::from_str(&event.json).map_err(Error::msg)?;
        let Some(product) = body["product"].as_str() else {
            log::warn("restock event without a \"product\"; ignored");
            return Ok(Verdict::Continue);
        };
        let mut notified = 0;
        for token in cx.notification_tokens(&topic(product)) {
            let text = format!("Good news: {product} is back in stock!");
            match cx.send(Recipient::OneTimeNotifToken(token.token), Outgoing::text(text).update()) {
                Ok(_) => notified += 1,
                // Used or expired meanwhile, or the person is unreachable:
                // nothing more to do for them.
                Err(e) => log::warn(format!("could not notify {}: {e}", token.psid)),
            }
        }
        log::info(format!("{product} is back: notified {notified} people"));
        Ok(Verdict::Stop)
    }
}

export_plugin!(BackInStock);
