// The event being handled, read from the host's `event` resource once per
// call, as a discriminated union on `kind`.

import type * as wit from "switchboard:plugin/events@0.2.0";

/**
 * A WIT record as this SDK hands it out: the 64-bit integers (`u64`/`s64`:
 * timestamps, watermarks, sticker ids) as plain `number`s, exact below 2^53.
 */
export type Plain<T> = T extends bigint
  ? number
  : T extends Uint8Array
    ? T
    : T extends readonly (infer U)[]
      ? Plain<U>[]
      : T extends object
        ? { [K in keyof T]: Plain<T[K]> }
        : T;

/** Turns every bigint inside a WIT value into a number (see `Plain`). */
export function plain<T>(value: T): Plain<T> {
  if (typeof value === "bigint") return Number(value) as Plain<T>;
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return value as Plain<T>;
  if (Array.isArray(value)) return value.map(plain) as Plain<T>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = plain(v);
  return out as Plain<T>;
}

export type Coordinates = Plain<wit.Coordinates>;
export type Attachment = Plain<wit.Attachment>;
export type Referral = Plain<wit.Referral>;
export type Message = Plain<wit.Message>;
export type Echo = Plain<wit.Echo>;
export type Postback = Plain<wit.Postback>;
export type Optin = Plain<wit.Optin>;
export type AccountLinking = Plain<wit.AccountLinking>;
export type Delivery = Plain<wit.Delivery>;
export type Read = Plain<wit.Read>;
export type Reaction = Plain<wit.Reaction>;
export type MessageEdit = Plain<wit.MessageEdit>;
export type ThreadControlChange = Plain<wit.ThreadControlChange>;
export type ThreadControlRequest = Plain<wit.ThreadControlRequest>;
export type AppRole = Plain<wit.AppRole>;
export type PolicyEnforcement = Plain<wit.PolicyEnforcement>;
export type GamePlay = Plain<wit.GamePlay>;
export type ResponseFeedback = Plain<wit.ResponseFeedback>;
export type BusinessEvent = Plain<wit.BusinessEvent>;

/** What happened, by kind, with what Messenger said about it. */
export type EventBody =
  | { kind: "message"; message: Message }
  | { kind: "echo"; echo: Echo }
  | { kind: "postback"; postback: Postback }
  | { kind: "optin"; optin: Optin }
  | { kind: "referral"; referral: Referral }
  | { kind: "account-linking"; accountLinking: AccountLinking }
  | { kind: "delivery"; delivery: Delivery }
  | { kind: "read"; read: Read }
  | { kind: "reaction"; reaction: Reaction }
  | { kind: "message-edit"; messageEdit: MessageEdit }
  | { kind: "pass-thread-control"; passThreadControl: ThreadControlChange }
  | { kind: "take-thread-control"; takeThreadControl: ThreadControlChange }
  | { kind: "request-thread-control"; requestThreadControl: ThreadControlRequest }
  | { kind: "app-roles"; appRoles: AppRole[] }
  | { kind: "policy-enforcement"; policyEnforcement: PolicyEnforcement }
  | { kind: "game-play"; gamePlay: GamePlay }
  | { kind: "response-feedback"; responseFeedback: ResponseFeedback }
  /** Not from Messenger: posted to the host's `POST /api/pages/{page}/events`. */
  | { kind: "business"; business: BusinessEvent }
  /**
   * Not from Messenger: the host erased what it kept about the event's
   * person (`psid`), on an operator's or Meta's request; delete what the
   * plugin keeps about them (its key-value entries).
   */
  | { kind: "person-erased" }
  /**
   * A kind this SDK does not model: `name` is the event's JSON key
   * (`messaging_feedback`...) or the name a newer host gave it.
   */
  | { kind: "unknown"; name: string };

/** The event kinds this SDK knows, as `PluginInfo.eventKinds` and the host spell them. */
export type EventKindName = EventBody["kind"];

/** One messaging event for one Page (or a business event). */
export type Event = EventBody & {
  /** Host-assigned, stable across webhook redeliveries. */
  readonly id: string;
  /** The Page that received it. */
  readonly pageId: string;
  /** The person's page-scoped id; for echoes, the person the Page wrote to. */
  readonly psid?: string;
  /** Set instead of a PSID by the checkbox and chat plugins. */
  readonly userRef?: string;
  /** Epoch milliseconds, as Messenger stamped it. */
  readonly timestamp: number;
  /** True when it came in `standby`: another app owns the thread. */
  readonly standby: boolean;
  /** The event object exactly as received, for fields this SDK does not model (asked of the host when called). */
  rawJson(): string;
};

function body(event: wit.Event): EventBody {
  const name = event.kind();
  const of = <K extends string, V>(kind: K, key: string, value: V | undefined) =>
    value === undefined ? undefined : ({ kind, [key]: plain(value) } as unknown as EventBody);
  let known: EventBody | undefined;
  switch (name) {
    case "message": known = of(name, "message", event.message()); break;
    case "echo": known = of(name, "echo", event.echo()); break;
    case "postback": known = of(name, "postback", event.postback()); break;
    case "optin": known = of(name, "optin", event.optin()); break;
    case "referral": known = of(name, "referral", event.referral()); break;
    case "account-linking": known = of(name, "accountLinking", event.accountLinking()); break;
    case "delivery": known = of(name, "delivery", event.delivery()); break;
    case "read": known = of(name, "read", event.read()); break;
    case "reaction": known = of(name, "reaction", event.reaction()); break;
    case "message-edit": known = of(name, "messageEdit", event.messageEdit()); break;
    case "pass-thread-control": known = of(name, "passThreadControl", event.passThreadControl()); break;
    case "take-thread-control": known = of(name, "takeThreadControl", event.takeThreadControl()); break;
    case "request-thread-control": known = of(name, "requestThreadControl", event.requestThreadControl()); break;
    case "app-roles": known = of(name, "appRoles", event.appRoles()); break;
    case "policy-enforcement": known = of(name, "policyEnforcement", event.policyEnforcement()); break;
    case "game-play": known = of(name, "gamePlay", event.gamePlay()); break;
    case "response-feedback": known = of(name, "responseFeedback", event.responseFeedback()); break;
    case "business": known = of(name, "business", event.business()); break;
    case "person-erased": known = { kind: "person-erased" }; break;
    case "unknown": {
      const key = event.unknownKey();
      if (key !== undefined) known = { kind: "unknown", name: key };
      break;
    }
  }
  return known ?? { kind: "unknown", name };
}

/** Reads the host's `event` resource (borrowed for this call) into an `Event`. */
export function readEvent(resource: wit.Event): Event {
  return {
    ...body(resource),
    id: resource.id(),
    pageId: resource.pageId(),
    psid: resource.psid(),
    userRef: resource.userRef(),
    timestamp: Number(resource.timestamp()),
    standby: resource.standby(),
    rawJson: () => resource.rawJson(),
  };
}
