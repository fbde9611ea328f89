// The tally bot: counts each person's messages in kv.
//
// * A text message increments `count:{psid}` and answers `Message #{n}`,
//   with a `Reset` quick reply (payload `RESET`).
// * Tapping `Reset` deletes the counter: `Counter reset.`
// * The `GET_STARTED` postback answers a button template with a
//   `Show count` button (payload `SHOW_COUNT`), which answers
//   `You have sent {n} messages.`
// * A business event `{"type":"announce","psid":"…","text":"…"}` sends that
//   text to that person, as an UPDATE:
//
//     curl -X POST -H "Authorization: Bearer $API_TOKEN" \
//       -d '{"type":"announce","psid":"42","text":"hello"}' \
//       http://127.0.0.1:8080/api/pages/$PAGE_ID/events
// * When the host erases a person (`switchboard people erase`), their
//   counter goes too.

import { Outgoing, QuickReply, Recipient, Template, definePlugin, kv, log } from "@switchboard/plugin-sdk";

const counter = (psid: string) => `count:${psid}`;

export const handler = definePlugin({
  name: "tally",
  version: "0.1.0",
  eventKinds: ["message", "postback", "business", "person-erased"],

  onMessage(cx, message) {
    if (cx.standby || !cx.psid) return;
    if (message.quickReplyPayload === "RESET") {
      kv.delete(counter(cx.psid));
      cx.reply("Counter reset.");
      return;
    }
    if (message.text === undefined) return;
    const n = kv.increment(counter(cx.psid), 1);
    cx.reply(Outgoing.text(`Message #${n}`).quickReply(QuickReply.text("Reset", "RESET")));
  },

  onPostback(cx, postback) {
    if (cx.standby || !cx.psid) return;
    if (postback.payload === "GET_STARTED") {
      cx.reply(Template.button("Welcome! Send me anything and I will count.").postback("Show count", "SHOW_COUNT"));
    } else if (postback.payload === "SHOW_COUNT") {
      const n = Number(kv.getString(counter(cx.psid)) ?? 0);
      cx.reply(`You have sent ${n} messages.`);
    }
  },

  // The host erased what it kept about this person: so does the plugin.
  onPersonErased(cx) {
    if (cx.psid) kv.delete(counter(cx.psid));
  },

  onBusiness(cx, event) {
    if (event.kind !== "announce") return;
    const body = JSON.parse(event.json) as { psid?: unknown; text?: unknown };
    if (typeof body.psid !== "string" || typeof body.text !== "string") {
      log.warn('announce event without a "psid" and a "text"; ignored');
      return;
    }
    cx.send(Recipient.psid(body.psid), Outgoing.text(body.text).update());
  },
});
