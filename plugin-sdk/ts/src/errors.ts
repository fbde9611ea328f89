// Errors: why a host call failed (the WIT `messenger-error` and `kv-error`),
// why the plugin gave up on an event (`PermanentError`, or anything thrown),
// and how both cross the component boundary.

import type * as types from "switchboard:plugin/types@0.2.0";
import type * as kvWit from "switchboard:plugin/kv@0.2.0";
import type * as handlerWit from "switchboard:plugin/handler@0.2.0";

/** The Graph API's error, exactly as it reported it. */
export type GraphError = types.GraphError;

/**
 * What went wrong in a host call, by the WIT case name:
 * `graph`, `invalid-request`, `unavailable`, `outside-window`,
 * `not-thread-owner`, `notification-token-used`,
 * `notification-token-expired`, `page-circuit-open`, `quota-exceeded`.
 */
export type MessengerErrorKind = types.MessengerError["tag"];

/** What went wrong in a key-value call: `too-large`, `not-a-number`, `quota-exceeded`, `unavailable`. */
export type KvErrorKind = kvWit.KvError["tag"];

/** The text a variant case carries, if it carries text. */
function caseText(value: { tag: string; val?: unknown }): string | undefined {
  return "val" in value && typeof value.val === "string" ? value.val : undefined;
}

function describeMessengerError(error: types.MessengerError): string {
  switch (error.tag) {
    case "graph": {
      const g = error.val;
      const sub = g.subcode === undefined ? "" : ` (subcode ${g.subcode})`;
      return `graph error ${g.code}${sub}: ${g.message}`;
    }
    case "invalid-request":
      return `invalid request: ${error.val}`;
    case "unavailable":
      return `Graph API unavailable: ${error.val}`;
    case "outside-window":
      return "outside the 24-hour messaging window";
    case "not-thread-owner":
      return "another app owns the thread";
    case "notification-token-used":
      return "the one-time notification token was already used";
    case "notification-token-expired":
      return "the one-time notification token has expired";
    case "page-circuit-open":
      return "the host paused Graph API calls for this Page";
    case "quota-exceeded":
      return "the plugin used up its host calls for this event";
    default:
      return `messenger error ${(error as { tag: string }).tag}`;
  }
}

/**
 * The host or the Graph API refused a host call (send, sender action,
 * handover, profile). Thrown by the `Context` methods; left uncaught it fails
 * the event like any error (the host knows which refusals a retry cannot fix
 * and finishes those events instead of retrying them).
 *
 * ```ts
 * try {
 *   cx.reply("Still there?");
 * } catch (e) {
 *   if (e instanceof MessengerError && e.kind === "outside-window") log.info("too late to answer");
 *   else throw e;
 * }
 * ```
 */
export class MessengerError extends Error {
  /** The WIT case: `graph`, `outside-window`, `not-thread-owner`... */
  readonly kind: MessengerErrorKind;
  /** The Graph API's error, for `kind === "graph"`. */
  readonly graph?: GraphError;
  /** The host's explanation, for `invalid-request` and `unavailable`. */
  readonly detail?: string;
  /** The WIT value, as the host returned it. */
  readonly wit: types.MessengerError;

  constructor(error: types.MessengerError) {
    super(describeMessengerError(error));
    this.name = "MessengerError";
    this.kind = error.tag;
    this.wit = error;
    if (error.tag === "graph") this.graph = error.val;
    this.detail = caseText(error);
  }

  /** `error.code` of a Graph error (10, 100, 190, 551, 613...). */
  get code(): number | undefined {
    return this.graph?.code;
  }
  /** `error.error_subcode` of a Graph error (2018278, 2018300...). */
  get subcode(): number | undefined {
    return this.graph?.subcode;
  }
  /** HTTP status of the Graph response (0 when it did not answer). */
  get httpStatus(): number | undefined {
    return this.graph?.httpStatus;
  }
  /** `error.fbtrace_id`: quote it when asking Meta for help. */
  get fbtraceId(): string | undefined {
    return this.graph?.fbtraceId;
  }
}

function describeKvError(error: kvWit.KvError): string {
  switch (error.tag) {
    case "too-large":
      return `key-value limit: ${error.val}`;
    case "not-a-number":
      return "key-value increment on a value that is not an integer";
    case "quota-exceeded":
      return "the plugin used up its host calls for this event";
    case "unavailable":
      return `key-value store unavailable: ${error.val}`;
    default:
      return `key-value error ${(error as { tag: string }).tag}`;
  }
}

/** A key-value call failed (see `kv`). */
export class KvError extends Error {
  /** The WIT case: `too-large`, `not-a-number`, `quota-exceeded`, `unavailable`. */
  readonly kind: KvErrorKind;
  /** The host's explanation, for `too-large` and `unavailable`. */
  readonly detail?: string;
  /** The WIT value, as the host returned it. */
  readonly wit: kvWit.KvError;

  constructor(error: kvWit.KvError) {
    super(describeKvError(error));
    this.name = "KvError";
    this.kind = error.tag;
    this.wit = error;
    this.detail = caseText(error);
  }
}

/**
 * A failure that trying the event again would repeat (data the plugin cannot
 * handle, a bug): the host does not retry the event but moves it to the dead
 * letters at once, to replay once the plugin is fixed.
 *
 * Any other thrown value is a transient failure: the host retries the event
 * with backoff (sends that already succeeded are not repeated), then moves
 * it to the dead letters.
 */
export class PermanentError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PermanentError";
  }
}

/** The WIT bindings throw a host call's `result` error as an Error whose `payload` is the WIT value. */
function payloadOf(thrown: unknown): { tag: string } | undefined {
  if (thrown !== null && typeof thrown === "object" && "payload" in thrown) {
    const payload = (thrown as { payload: unknown }).payload;
    if (payload !== null && typeof payload === "object" && "tag" in payload) return payload as { tag: string };
  }
  return undefined;
}

/** Calls a `messenger`, `handover` or `profile` import, turning its error into a `MessengerError`. */
export function messengerCall<T>(call: () => T): T {
  try {
    return call();
  } catch (e) {
    const payload = payloadOf(e);
    if (payload) throw new MessengerError(payload as types.MessengerError);
    throw e;
  }
}

/** Calls a `kv` import, turning its error into a `KvError`. */
export function kvCall<T>(call: () => T): T {
  try {
    return call();
  } catch (e) {
    const payload = payloadOf(e);
    if (payload) throw new KvError(payload as kvWit.KvError);
    throw e;
  }
}

const BUILTIN_ERRORS = new Set(["TypeError", "RangeError", "ReferenceError", "SyntaxError", "URIError", "EvalError"]);

/** The WIT `failure` a thrown value stands for: `PermanentError` is permanent, the rest transient. */
export function toFailure(thrown: unknown): handlerWit.Failure {
  let text = thrown instanceof Error ? thrown.message || thrown.name : String(thrown);
  // A JavaScript engine error is a bug: say which kind.
  if (thrown instanceof Error && BUILTIN_ERRORS.has(thrown.name) && thrown.message) text = `${thrown.name}: ${thrown.message}`;
  return thrown instanceof PermanentError ? { tag: "permanent", val: text } : { tag: "transient", val: text };
}

/**
 * What `handle` throws to return `err(failure)`: the bindings read the
 * `payload` of a thrown value as the export's `result` error (a thrown
 * Error without one would trap the instance instead).
 */
export function failureError(thrown: unknown): Error & { payload: handlerWit.Failure } {
  const failure = toFailure(thrown);
  const error = new Error(failure.val) as Error & { payload: handlerWit.Failure };
  Object.defineProperty(error, "payload", { value: failure, enumerable: true });
  return error;
}
