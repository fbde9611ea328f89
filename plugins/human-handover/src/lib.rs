//! The human-handover bot: the handover protocol with the Page Inbox.
//!
//! * A person who asks for a human (`human`, `agent`, `person`, `talk to
//!   someone`..., or the `HUMAN` postback of a persistent menu) is told so
//!   and the thread is passed to the Page Inbox (app 263902037430900), where
//!   the Page's people answer. From then on their messages reach this app
//!   in `standby`, and the host refuses the bot's own sends.
//! * Writing `bot` while the Page Inbox has the thread takes it back; so
//!   does the inbox passing it back (an agent marking the conversation
//!   done), after which the bot says it is back.
//! * Everything else goes on to the next plugin of the Page.

use switchboard_plugin_sdk::prelude::*;
use switchboard_plugin_sdk::ThreadOwner;

struct HumanHandover;

const ASKS_FOR_A_PERSON: [&str; 7] = ["human", "agent", "person", "a person", "real person", "talk to someone", "operator"];

fn asks_for_a_person(text: &str) -> bool {
    let text = text.trim().to_lowercase();
    ASKS_FOR_A_PERSON.iter().any(|p| text == *p || text.starts_with(&format!("{p} ")) || text.ends_with(&format!(" {p}")))
}

fn hand_over(cx: &Context) -> Result<Verdict, Error> {
    cx.reply("I'm connecting you with a person; they will answer here. Write \"bot\" anytime to come back to me.")?;
    cx.pass_to_page_inbox(Some("the person asked for a human"))?;
    Ok(Verdict::Stop)
}

impl Plugin for HumanHandover {
    fn info() -> PluginInfo {
        PluginInfo::new("human-handover", env!("CARGO_PKG_VERSION")).event_kinds(["message", "postback", "pass-thread-control"])
    }

    fn on_message(cx: &Context, message: &Message) -> Result<Verdict, Error> {
        let Some(text) = message.text.as_deref() else { return Ok(Verdict::Continue) };
        if cx.standby() {
            // The Page Inbox has the thread: stay quiet unless asked back.
            if text.trim().eq_ignore_ascii_case("bot") {
                cx.take_thread_control(Some("the person asked for the bot"))?;
                cx.reply("I'm back. How can I help?")?;
            }
            return Ok(Verdict::Stop);
        }
        if asks_for_a_person(text) {
            return hand_over(cx);
        }
        Ok(Verdict::Continue)
    }

    fn on_postback(cx: &Context, postback: &Postback) -> Result<Verdict, Error> {
        if postback.payload.as_deref() == Some("HUMAN") && !cx.standby() {
            return hand_over(cx);
        }
        Ok(Verdict::Continue)
    }

    fn on_handover(cx: &Context, handover: Handover<'_>) -> Result<Verdict, Error> {
        let Handover::Pass(_) = handover else { return Ok(Verdict::Continue) };
        let Some(psid) = cx.psid() else { return Ok(Verdict::Continue) };
        // The host already applied this event: ThisApp means it came back to us.
        if cx.conversation(psid).thread_owner == ThreadOwner::ThisApp {
            cx.reply(Outgoing::text("You're back with the bot. How can I help?").update())?;
        }
        Ok(Verdict::Stop)
    }
}

export_plugin!(HumanHandover);
