"""The tally bot: counts a person's messages, in the plugin's key-value state.

* A text message gets "Message #n" and a "Reset" quick reply; tapping it
  (payload RESET) deletes the count: "Counter reset."
* The GET_STARTED postback gets a button template with a "Show count"
  button, whose SHOW_COUNT postback answers "You have sent n messages."
* A business event {"type": "announce", "psid": "...", "text": "..."}
  sends that text to that person as an UPDATE.
* When the host erases a person (``switchboard people erase``), their count
  goes too.
"""

import json

from switchboard_plugin import BusinessEvent, Context, Message, Outgoing, Plugin, Postback, QuickReply, Template, export, kv, log


def count_key(psid: str) -> str:
    return f"count:{psid}"


class Tally(Plugin):
    name, version = "tally", "0.1.0"
    event_kinds = ["message", "postback", "business", "person-erased"]

    def on_message(self, cx: Context, message: Message) -> None:
        if cx.standby or cx.psid is None:
            return
        if message.quick_reply_payload == "RESET":
            kv.delete(count_key(cx.psid))
            cx.reply("Counter reset.")
        elif message.text is not None:
            n = kv.increment(count_key(cx.psid), 1)
            cx.reply(Outgoing.text(f"Message #{n}").quick_reply(QuickReply.text("Reset", "RESET")))

    def on_postback(self, cx: Context, postback: Postback) -> None:
        if cx.standby or cx.psid is None:
            return
        if postback.payload == "GET_STARTED":
            cx.reply(
                Template.button("Welcome! Send me anything and I will count.").postback("Show count", "SHOW_COUNT")
            )
        elif postback.payload == "SHOW_COUNT":
            n = int(kv.get_str(count_key(cx.psid)) or 0)
            cx.reply(f"You have sent {n} messages.")

    def on_person_erased(self, cx: Context) -> None:
        # The host erased what it kept about this person: so does the plugin.
        if cx.psid is not None:
            kv.delete(count_key(cx.psid))

    def on_business(self, cx: Context, event: BusinessEvent) -> None:
        if event.kind != "announce":
            return
        body = json.loads(event.json)
        psid, text = body.get("psid"), body.get("text")
        if not isinstance(psid, str) or not isinstance(text, str):
            log.warn("announce event without a \"psid\" and a \"text\"; ignored")
            return
        cx.send(psid, Outgoing.text(text).update())


Handler = export(Tally)
