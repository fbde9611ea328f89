// Builders → the WIT values `messenger.send` takes.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Button, Element, Media, Outgoing, QuickReply, Recipient, Template } from "../src/index";

const psid = Recipient.psid("u1");

test("text is a RESPONSE with no tag, and a string is text", () => {
  const m = Outgoing.from("hi").toWit(psid);
  assert.deepEqual(m, {
    recipient: { tag: "psid", val: "u1" },
    content: { tag: "text", val: "hi" },
    quickReplies: [],
    messagingType: "response",
    tag: undefined,
    writtenByHuman: false,
    notificationType: undefined,
    metadata: undefined,
    replyTo: undefined,
    personaId: undefined,
  });
});

test("quick replies, update, tag and humanAgent", () => {
  const m = Outgoing.text("Message #1").quickReply(QuickReply.text("Reset", "RESET")).toWit(psid);
  assert.deepEqual(m.quickReplies, [{ kind: "text", title: "Reset", payload: "RESET" }]);
  assert.deepEqual(QuickReply.userEmail().toWit(), { kind: "user-email" });
  assert.equal(QuickReply.userPhoneNumber().toWit().kind, "user-phone-number");
  assert.equal(QuickReply.text("A", "B").imageUrl("https://x/i.png").toWit().imageUrl, "https://x/i.png");

  const u = Outgoing.text("x").tag("T").update().toWit(psid);
  assert.equal(u.messagingType, "update");
  assert.equal(u.tag, undefined);

  const t = Outgoing.text("late").tag("CONFIRMED_EVENT_UPDATE").toWit(psid);
  assert.equal(t.messagingType, "message-tag");
  assert.equal(t.tag, "CONFIRMED_EVENT_UPDATE");
  assert.equal(t.writtenByHuman, false);

  const h = Outgoing.text("from Ann").humanAgent().toWit(psid);
  assert.deepEqual([h.messagingType, h.tag, h.writtenByHuman], ["message-tag", "HUMAN_AGENT", true]);

  const o = Outgoing.text("x").notification("silent-push").metadata("md").replyTo("m.9").persona("p1").toWit(psid);
  assert.deepEqual([o.notificationType, o.metadata, o.replyTo, o.personaId], ["silent-push", "md", "m.9", "p1"]);
});

test("button template with postback and url buttons", () => {
  const t = Template.button("Welcome!").postback("Show count", "SHOW_COUNT").webUrl("Site", "https://example.com");
  assert.deepEqual(Outgoing.from(t).toWit(psid).content, {
    tag: "template",
    val: {
      tag: "button",
      val: ["Welcome!", [{ tag: "postback", val: ["Show count", "SHOW_COUNT"] }, { tag: "web-url", val: ["Site", "https://example.com"] }]],
    },
  });
  const more = Template.button("More").phoneNumber("Call", "+15550100").accountLink("https://x/login").accountUnlink().toWit();
  assert.deepEqual(more.tag === "button" && more.val[1].map((b) => b.tag), ["phone-number", "account-link", "account-unlink"]);
});

test("generic template: buttons go to the last card", () => {
  const t = Template.generic(new Element("one").subtitle("first"))
    .element(new Element("two").imageUrl("https://x/2.png").defaultActionUrl("https://x/2"))
    .postback("Buy", "BUY");
  const w = t.toWit();
  assert.equal(w.tag, "generic");
  if (w.tag !== "generic") return;
  assert.deepEqual(w.val.map((e) => e.buttons.length), [0, 1]);
  assert.deepEqual(w.val[0], { title: "one", subtitle: "first", buttons: [] });
  assert.deepEqual(w.val[1].buttons[0], Button.postback("Buy", "BUY"));
  assert.equal(w.val[1].defaultActionUrl, "https://x/2");
  // Buttons on the card itself.
  const card = new Element("c").postback("P", "PP").webUrl("W", "https://w").toWit();
  assert.deepEqual(card.buttons, [Button.postback("P", "PP"), Button.webUrl("W", "https://w")]);
});

test("one-time-notification request, raw template", () => {
  assert.deepEqual(Template.oneTimeNotifRequest("Back in stock", "restock:lamp").toWit(), {
    tag: "one-time-notif-request",
    val: ["Back in stock", "restock:lamp"],
  });
  assert.deepEqual(Template.raw({ template_type: "media" }).toWit(), { tag: "raw", val: '{"template_type":"media"}' });
  // Button methods leave other templates alone.
  assert.deepEqual(Template.oneTimeNotifRequest("t", "p").postback("x", "y").toWit().tag, "one-time-notif-request");
});

test("media by url or attachment id", () => {
  assert.deepEqual(Outgoing.from(Media.imageUrl("https://x/cat.png")).toWit(psid).content, {
    tag: "media",
    val: { kind: "image", url: "https://x/cat.png", isReusable: false },
  });
  assert.deepEqual(Media.fileUrl("https://x/a.pdf").reusable().toWit(), { kind: "file", url: "https://x/a.pdf", isReusable: true });
  assert.deepEqual(Media.attachment("video", "123").toWit(), { kind: "video", attachmentId: "123", isReusable: false });
  assert.equal(Media.audioUrl("https://x/a.mp3").toWit().kind, "audio");
  assert.equal(Media.videoUrl("https://x/v.mp4").toWit().kind, "video");
});

test("raw JSON must be an object", () => {
  assert.deepEqual(Outgoing.raw({ sticker_id: 369239263222822 }).toWit(psid).content, { tag: "raw", val: '{"sticker_id":369239263222822}' });
  assert.deepEqual(Outgoing.raw('{"sticker_id": 1}').toWit(psid).content, { tag: "raw", val: '{"sticker_id": 1}' });
  assert.throws(() => Outgoing.raw("[1]"), /not a JSON object/);
  assert.throws(() => Outgoing.raw("{nope"), /not JSON/);
  assert.throws(() => Outgoing.from(42 as unknown as string), TypeError);
});

test("recipients", () => {
  assert.deepEqual(Recipient.oneTimeNotifToken("tok"), { tag: "one-time-notif-token", val: "tok" });
  assert.deepEqual(Recipient.userRef("r"), { tag: "user-ref", val: "r" });
  assert.deepEqual(Recipient.commentId("c").tag, "comment-id");
  assert.deepEqual(Recipient.postId("p").tag, "post-id");
  assert.deepEqual(Recipient.phoneNumber("+1").tag, "phone-number");
  assert.deepEqual(Recipient.notificationMessagesToken("n").tag, "notification-messages-token");
});

test("a WIT value does not change when its builder does", () => {
  const t = Template.button("x").postback("A", "A");
  const first = t.toWit();
  t.postback("B", "B");
  assert.equal(first.tag === "button" && first.val[1].length, 1);
});
