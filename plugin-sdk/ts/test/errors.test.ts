// Error mapping: host `result` errors → typed errors; thrown values → the WIT `failure`.

import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";
import { Context, KvError, MessengerError, PermanentError, kv } from "../src/index";
import { readEvent } from "../src/event";
import { failureError, toFailure } from "../src/errors";
import { calls, failWith, fakeEvent, reset } from "./fake-host";

beforeEach(reset);

const cx = () => new Context(readEvent(fakeEvent({ kind: "message", psid: "42", message: { mid: "m", text: "hi", attachments: [] } })));

test("a Graph error keeps code, subcode, status and fbtrace id", () => {
  failWith("messenger", "send", {
    tag: "graph",
    val: { httpStatus: 400, code: 10, subcode: 2018300, message: "(#10) outside of allowed window", fbtraceId: "AbC" },
  });
  const e = assert.throws(() => cx().reply("hi"), (e: unknown) => {
    assert.ok(e instanceof MessengerError);
    assert.equal(e.kind, "graph");
    assert.equal(e.code, 10);
    assert.equal(e.subcode, 2018300);
    assert.equal(e.httpStatus, 400);
    assert.equal(e.fbtraceId, "AbC");
    assert.equal(e.message, "graph error 10 (subcode 2018300): (#10) outside of allowed window");
    return true;
  });
  void e;
});

test("every messenger-error case becomes a MessengerError with its kind", () => {
  const cases: [unknown, string, string][] = [
    [{ tag: "invalid-request", val: "text over 2000 characters" }, "invalid-request", "invalid request: text over 2000 characters"],
    [{ tag: "unavailable", val: "timeout" }, "unavailable", "Graph API unavailable: timeout"],
    [{ tag: "outside-window" }, "outside-window", "outside the 24-hour messaging window"],
    [{ tag: "not-thread-owner" }, "not-thread-owner", "another app owns the thread"],
    [{ tag: "notification-token-used" }, "notification-token-used", "the one-time notification token was already used"],
    [{ tag: "notification-token-expired" }, "notification-token-expired", "the one-time notification token has expired"],
    [{ tag: "page-circuit-open" }, "page-circuit-open", "the host paused Graph API calls for this Page"],
    [{ tag: "quota-exceeded" }, "quota-exceeded", "the plugin used up its host calls for this event"],
  ];
  for (const [payload, kind, message] of cases) {
    failWith("handover", "passThreadControl", payload);
    try {
      cx().passToPageInbox("asked");
      assert.fail("no error");
    } catch (e) {
      assert.ok(e instanceof MessengerError);
      assert.equal(e.kind, kind);
      assert.equal(e.message, message);
      assert.equal(e.graph, undefined);
      assert.deepEqual(e.wit, payload);
    }
  }
  assert.deepEqual(calls.at(-1)?.args, ["42", "263902037430900", "asked"]);
  failWith("profile", "get", { tag: "unavailable", val: "x" });
  assert.throws(() => cx().userProfile(), (e: unknown) => e instanceof MessengerError && e.detail === "x");
});

test("kv errors become KvError", () => {
  failWith("kv", "increment", { tag: "not-a-number" });
  assert.throws(() => kv.increment("count:42"), (e: unknown) => e instanceof KvError && e.kind === "not-a-number");
  failWith("kv", "set", { tag: "too-large", val: "value over 65536 bytes" });
  assert.throws(() => kv.set("k", "v"), (e: unknown) => e instanceof KvError && e.message === "key-value limit: value over 65536 bytes");
});

test("errors that are not host errors pass through", () => {
  failWith("messenger", "send", "not a variant");
  assert.throws(() => cx().reply("x"), (e: unknown) => !(e instanceof MessengerError));
});

test("a thrown value's failure: PermanentError is permanent, the rest transient", () => {
  assert.deepEqual(toFailure(new Error("service down")), { tag: "transient", val: "service down" });
  assert.deepEqual(toFailure(new PermanentError("bad data")), { tag: "permanent", val: "bad data" });
  assert.deepEqual(toFailure("plain string"), { tag: "transient", val: "plain string" });
  assert.deepEqual(toFailure(new MessengerError({ tag: "outside-window" })), {
    tag: "transient",
    val: "outside the 24-hour messaging window",
  });
  assert.deepEqual(toFailure(new TypeError("")), { tag: "transient", val: "TypeError" });
  assert.deepEqual(toFailure(new TypeError("x is undefined")), { tag: "transient", val: "TypeError: x is undefined" });
  // What the bindings read as the export's error: an own `payload`.
  const thrown = failureError(new PermanentError("no"));
  assert.ok(Object.prototype.hasOwnProperty.call(thrown, "payload"));
  assert.deepEqual(thrown.payload, { tag: "permanent", val: "no" });
});
