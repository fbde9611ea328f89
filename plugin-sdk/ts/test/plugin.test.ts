// definePlugin: describe, reading the event, dispatch, verdicts, failures;
// Context host calls; kv conversions.

import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";
import { Outgoing, PermanentError, QuickReply, Recipient, Verdict, definePlugin, kv, log } from "../src/index";
import type { Handover } from "../src/index";
import { calls, fakeEvent, host, reset } from "./fake-host";

beforeEach(reset);

const message = (text: string, extra: object = {}) =>
  fakeEvent({ kind: "message", psid: "42", message: { mid: "m.1", text, attachments: [], ...extra } });

/** What `handle` threw as the WIT error, or undefined when it returned. */
function failure(run: () => unknown): unknown {
  try {
    run();
  } catch (e) {
    return (e as { payload?: unknown }).payload;
  }
  return undefined;
}

test("describe gives name, version and event kinds", () => {
  const p = definePlugin({ name: "tally", version: "1.0.0", eventKinds: ["message", "business"] });
  assert.deepEqual(p.describe(), { name: "tally", version: "1.0.0", eventKinds: ["message", "business"] });
  assert.deepEqual(definePlugin({ name: "all", version: "0" }).describe().eventKinds, []);
});

test("the echo bot replies to text and stays quiet in standby", () => {
  const echo = definePlugin({
    name: "echo",
    version: "0.1.0",
    eventKinds: ["message"],
    onMessage(cx, message) {
      if (message.text && !cx.standby) cx.reply(`You said: ${message.text}`);
    },
  });
  assert.equal(echo.handle(message("hi")), "continue");
  assert.equal(calls.length, 1);
  const sent = calls[0].args[0] as { recipient: unknown; content: unknown; messagingType: string };
  assert.deepEqual(sent.recipient, { tag: "psid", val: "42" });
  assert.deepEqual(sent.content, { tag: "text", val: "You said: hi" });
  assert.equal(sent.messagingType, "response");

  reset();
  echo.handle(fakeEvent({ kind: "message", psid: "42", standby: true, message: { mid: "m", text: "hi", attachments: [] } }));
  assert.equal(calls.length, 0);
});

test("verdicts: nothing or continue → continue, stop → stop, anything else fails", () => {
  const returning = (value: unknown) => definePlugin({ name: "v", version: "0", onMessage: () => value as Verdict });
  assert.equal(returning(undefined).handle(message("x")), "continue");
  assert.equal(returning(Verdict.Stop).handle(message("x")), "stop");
  assert.equal(returning("continue").handle(message("x")), "continue");
  assert.deepEqual(failure(() => returning(42).handle(message("x"))), {
    tag: "transient",
    val: 'a handler returned 42: return nothing, "continue" or "stop"',
  });
});

test("a throw is a transient failure with its message; PermanentError is permanent", () => {
  const failing = definePlugin({
    name: "f",
    version: "0",
    onMessage(_cx, m) {
      if (m.text === "perm") throw new PermanentError("cannot parse order");
      throw new Error("inventory service down");
    },
  });
  assert.deepEqual(failure(() => failing.handle(message("x"))), { tag: "transient", val: "inventory service down" });
  assert.deepEqual(failure(() => failing.handle(message("perm"))), { tag: "permanent", val: "cannot parse order" });
  // The stack went to the host's log at debug level.
  assert.equal((calls.find((c) => c.fn === "log.log")?.args[0]), "debug");
});

test("async handlers resolve to a verdict or reject with the failure", async () => {
  const p = definePlugin({
    name: "a",
    version: "0",
    async onMessage(_cx, m) {
      await Promise.resolve();
      if (m.text === "fail") throw new PermanentError("later");
      return Verdict.Stop; // a bare "stop" from an async function widens to string

    },
  });
  assert.equal(await (p.handle(message("x")) as unknown as Promise<string>), "stop");
  await assert.rejects(p.handle(message("fail")) as unknown as Promise<string>, (e: { payload?: unknown }) => {
    assert.deepEqual(e.payload, { tag: "permanent", val: "later" });
    return true;
  });
});

test("dispatch by kind, handovers, business events, unknown kinds", () => {
  const seen: string[] = [];
  const p = definePlugin({
    name: "d",
    version: "0",
    onPostback: (_cx, pb) => void seen.push(`postback:${pb.payload}`),
    onHandover: (_cx, h: Handover) => void seen.push(`handover:${h.kind}`),
    onBusiness: (cx, b) => void seen.push(`business:${b.kind}:${JSON.parse(b.json).text}:${cx.psid}`),
    onDelivery: (_cx, d) => void seen.push(`delivery:${typeof d.watermark}:${d.watermark}`),
    onOther: (cx, e) => void seen.push(`other:${e.kind}:${e.kind === "unknown" ? e.name : ""}:${cx.rawJson()}`),
  });
  p.handle(fakeEvent({ kind: "postback", psid: "42", postback: { payload: "GET_STARTED" } }));
  p.handle(fakeEvent({ kind: "pass-thread-control", psid: "42", passThreadControl: { newOwnerAppId: "1" } }));
  p.handle(fakeEvent({ kind: "app-roles", appRoles: [{ appId: "1", roles: ["primary_receiver"] }] }));
  p.handle(fakeEvent({ kind: "business", psid: "7", business: { kind: "announce", json: '{"type":"announce","text":"hello"}' } }));
  p.handle(fakeEvent({ kind: "delivery", psid: "42", delivery: { mids: [], watermark: 1_700_000_000_123n } }));
  p.handle(fakeEvent({ kind: "unknown", unknownKey: "messaging_feedback", raw: '{"x":1}' }));
  p.handle(fakeEvent({ kind: "brand-new-kind" }));
  p.handle(fakeEvent({ kind: "message", message: { mid: "m", attachments: [] } })); // no onMessage: continue
  assert.deepEqual(seen, [
    "postback:GET_STARTED",
    "handover:pass",
    "handover:app-roles",
    "business:announce:hello:7",
    "delivery:number:1700000000123",
    'other:unknown:messaging_feedback:{"x":1}',
    "other:unknown:brand-new-kind:{}",
  ]);
});

test("handle(cx) sees every event, with the context's fields", () => {
  let got: unknown;
  const p = definePlugin({
    name: "h",
    version: "0",
    handle(cx, event) {
      got = [cx.id, cx.pageId, cx.psid, cx.standby, cx.timestamp, cx.kind, event.kind === "message" && event.message.text];
      return "stop";
    },
    onMessage: () => assert.fail("handle overrides dispatch"),
  });
  assert.equal(p.handle(message("hey")), "stop");
  assert.deepEqual(got, ["ev-1", "1001", "42", false, 1_700_000_000_000, "message", "hey"]);
});

test("Context: send, sender actions, handover, conversation, tokens, profile", () => {
  host.conversation.state = () => ({
    lastInteraction: { at: 5n, source: "message" },
    windowOpenUntil: 86_400_005n,
    threadOwner: { tag: "other-app", val: "263902037430900" },
    role: "primary",
    notificationTokens: [{ token: "t", psid: "42", topic: "x", issuedAt: 1n, expiresAt: 2n }],
    accountLink: "unknown",
  });
  host.conversation.notificationTokens = () => [{ token: "t1", psid: "9", topic: "restock:lamp", issuedAt: 1n, expiresAt: 2n }];
  host.handover.secondaryReceivers = () => [["123", "Inbox"]];
  host.handover.threadOwner = () => "123";
  host.profile.get = () => ({ firstName: "Ann" });
  let result: unknown[] = [];
  definePlugin({
    name: "c",
    version: "0",
    onMessage(cx) {
      cx.typingOn();
      cx.markSeen();
      cx.send("7", Outgoing.text("hello").update());
      cx.send(Recipient.oneTimeNotifToken("tok"), "back in stock");
      cx.takeThreadControl();
      result = [
        cx.conversation(),
        cx.notificationTokens("restock:lamp")[0].issuedAt,
        cx.secondaryReceivers(),
        cx.threadOwner(),
        cx.userProfile().firstName,
      ];
    },
  }).handle(message("x"));
  assert.deepEqual(
    calls.map((c) => c.fn),
    [
      "messenger.sendAction", "messenger.sendAction", "messenger.send", "messenger.send", "handover.takeThreadControl",
      "conversation.state", "conversation.notificationTokens", "handover.secondaryReceivers", "handover.threadOwner", "profile.get",
    ],
  );
  assert.deepEqual(calls[0].args, [{ tag: "psid", val: "42" }, "typing-on"]);
  assert.deepEqual(calls[1].args[1], "mark-seen");
  const update = calls[2].args[0] as { recipient: unknown; messagingType: string };
  assert.deepEqual([update.recipient, update.messagingType], [{ tag: "psid", val: "7" }, "update"]);
  assert.deepEqual((calls[3].args[0] as { recipient: unknown }).recipient, { tag: "one-time-notif-token", val: "tok" });
  assert.deepEqual(result, [
    {
      lastInteraction: { at: 5, source: "message" },
      windowOpenUntil: 86_400_005,
      threadOwner: { kind: "other-app", appId: "263902037430900" },
      role: "primary",
      notificationTokens: [{ token: "t", psid: "42", topic: "x", issuedAt: 1, expiresAt: 2 }],
      accountLink: "unknown",
    },
    1,
    [{ appId: "123", name: "Inbox" }],
    "123",
    "Ann",
  ]);
});

test("reply without a sender fails the event", () => {
  const p = definePlugin({ name: "n", version: "0", onBusiness: (cx) => void cx.reply("x") });
  assert.deepEqual(failure(() => p.handle(fakeEvent({ kind: "business", business: { json: "{}" } }))), {
    tag: "transient",
    val: "this event has no sender to reply to",
  });
});

test("kv: strings, JSON, TTLs and counters as numbers", () => {
  const store = new Map<string, Uint8Array>();
  host.kv.get = (k: string) => store.get(k);
  host.kv.set = (k: string, v: Uint8Array) => void store.set(k, v);
  host.kv.delete = (k: string) => store.delete(k);
  host.kv.increment = (_k: string, d: bigint) => 41n + d;
  kv.set("a", "héllo", { ttlMs: 1500.2 });
  assert.equal(kv.getString("a"), "héllo");
  assert.deepEqual(calls[0].args, ["a", new TextEncoder().encode("héllo"), 1501n]);
  kv.setJson("j", { n: 1 });
  assert.deepEqual(kv.getJson("j"), { n: 1 });
  assert.equal(kv.getString("missing"), undefined);
  assert.equal(kv.increment("count:42"), 42);
  assert.deepEqual(calls.at(-1)?.args, ["count:42", 1n]);
  assert.equal(kv.delete("a"), true);
  assert.equal(kv.delete("a"), false);
  kv.compareAndSwap("w", undefined, "1");
  assert.deepEqual(calls.at(-1)?.args, ["w", undefined, new TextEncoder().encode("1"), undefined]);
  kv.listKeys("count:");
  assert.deepEqual(calls.at(-1)?.args, ["count:", 1000]);
  assert.throws(() => kv.increment("x", 0.5), RangeError);
  log.info("hi");
  assert.deepEqual(calls.at(-1), { fn: "log.log", args: ["info", "hi"] });
});

test("quick reply taps arrive as quickReplyPayload", () => {
  let payload: string | undefined;
  definePlugin({ name: "q", version: "0", onMessage: (_cx, m) => void (payload = m.quickReplyPayload) }).handle(
    message("Reset", { quickReplyPayload: "RESET" }),
  );
  assert.equal(payload, "RESET");
  void QuickReply;
});
