// `definePlugin`: a plugin's description and handlers, turned into what the
// component exports for the WIT interface `handler` (`describe` and
// `handle`), with the event read, dispatched by kind, and the outcome mapped
// to the WIT `result<verdict, failure>`.

import type * as eventsWit from "switchboard:plugin/events@0.2.0";
import type * as handlerWit from "switchboard:plugin/handler@0.2.0";
import { Context } from "./context";
import { failureError } from "./errors";
import {
  readEvent,
  type AppRole,
  type BusinessEvent,
  type Delivery,
  type Echo,
  type Event,
  type EventKindName,
  type Message,
  type Optin,
  type Postback,
  type Reaction,
  type Read,
  type Referral,
  type ThreadControlChange,
  type ThreadControlRequest,
} from "./event";
import * as log from "./log";

/** What the host does after this plugin handled an event: `"continue"` or `"stop"`. */
export type Verdict = handlerWit.Verdict;

export const Verdict = {
  /** Pass the event on to the next plugin configured for the Page. */
  Continue: "continue",
  /** The event is handled; later plugins do not see it. */
  Stop: "stop",
} as const satisfies Record<string, Verdict>;

/**
 * What a handler returns: nothing (or `"continue"`) passes the event on to
 * the Page's next plugin, `"stop"` ends it here; a Promise of either for an
 * async handler. To fail, throw (see `PermanentError`).
 */
export type Outcome = Verdict | void | Promise<Verdict | void>;

/** A change of thread ownership, for `onHandover`. */
export type Handover =
  /** An app passed the thread (to this app or a third one). */
  | { kind: "pass"; change: ThreadControlChange }
  /** An app took the thread. */
  | { kind: "take"; change: ThreadControlChange }
  /** An app asks the thread owner for control. */
  | { kind: "request"; request: ThreadControlRequest }
  /** The Page's app roles changed. */
  | { kind: "app-roles"; roles: AppRole[] };

/** A plugin: its description and the handlers of the event kinds it cares about. */
export interface PluginSpec {
  /** Shown in the host's logs and metrics (the host knows the plugin by the id its config gives it). */
  name: string;
  version: string;
  /**
   * The event kinds to receive (`message`, `postback`, `optin`,
   * `pass-thread-control`, `business`...): the host does not even
   * instantiate the plugin for the others. Empty or absent: every kind.
   */
  eventKinds?: readonly (EventKindName | (string & {}))[];

  /**
   * Handles every event; the default calls the `on*` handler of the
   * event's kind. Define it to see every event whole.
   */
  handle?(cx: Context, event: Event): Outcome;

  /** A person's message: text, quick-reply tap (`message.quickReplyPayload`), attachments. */
  onMessage?(cx: Context, message: Message): Outcome;
  /** A message the Page sent, echoed back (by this app, another, or a person). */
  onEcho?(cx: Context, echo: Echo): Outcome;
  /** A postback button, Get Started, or a persistent-menu item. */
  onPostback?(cx: Context, postback: Postback): Outcome;
  /** A plugin opt-in, or a one-time / recurring notification opt-in. */
  onOptin?(cx: Context, optin: Optin): Outcome;
  /** An m.me link, ad or chat-plugin referral into an existing thread. */
  onReferral?(cx: Context, referral: Referral): Outcome;
  onDelivery?(cx: Context, delivery: Delivery): Outcome;
  onRead?(cx: Context, read: Read): Outcome;
  onReaction?(cx: Context, reaction: Reaction): Outcome;
  /** Thread control passed, taken or requested, or app roles changed. */
  onHandover?(cx: Context, handover: Handover): Outcome;
  /**
   * An event from a system outside Messenger, posted to the host's
   * `POST /api/pages/{page}/events`: `event.json` is the body, `event.kind`
   * its top-level `"type"`. `cx.psid` is set when the caller named a person.
   */
  onBusiness?(cx: Context, event: BusinessEvent): Outcome;
  /**
   * The host erased what it kept about `cx.psid` (an operator's `switchboard
   * people erase`, or Meta's data deletion callback): delete what the plugin
   * keeps about them. Add `person-erased` to `eventKinds` (or list none).
   */
  onPersonErased?(cx: Context): Outcome;
  /** Every other kind (account linking, message edits, game plays...), and kinds newer than this SDK (`unknown`). */
  onOther?(cx: Context, event: Event): Outcome;
}

/** What the component exports as `handler`: the WIT interface's `describe` and `handle`. */
export interface Handler {
  describe(): handlerWit.PluginInfo;
  handle(event: eventsWit.Event): handlerWit.Verdict;
}

// The export must match the WIT world's `handler` interface, as generated.
type Assignable<T extends U, U> = T;
export type _HandlerMatchesWit = Assignable<Handler, typeof import("switchboard:plugin/handler@0.2.0")>;

/** Calls the `on*` handler of the event's kind, if the plugin has one. */
export function dispatch(spec: PluginSpec, cx: Context, event: Event): Outcome {
  switch (event.kind) {
    case "message": return spec.onMessage?.(cx, event.message);
    case "echo": return spec.onEcho?.(cx, event.echo);
    case "postback": return spec.onPostback?.(cx, event.postback);
    case "optin": return spec.onOptin?.(cx, event.optin);
    case "referral": return spec.onReferral?.(cx, event.referral);
    case "delivery": return spec.onDelivery?.(cx, event.delivery);
    case "read": return spec.onRead?.(cx, event.read);
    case "reaction": return spec.onReaction?.(cx, event.reaction);
    case "pass-thread-control": return spec.onHandover?.(cx, { kind: "pass", change: event.passThreadControl });
    case "take-thread-control": return spec.onHandover?.(cx, { kind: "take", change: event.takeThreadControl });
    case "request-thread-control": return spec.onHandover?.(cx, { kind: "request", request: event.requestThreadControl });
    case "app-roles": return spec.onHandover?.(cx, { kind: "app-roles", roles: event.appRoles });
    case "business": return spec.onBusiness?.(cx, event.business);
    case "person-erased": return spec.onPersonErased?.(cx);
    default: return spec.onOther?.(cx, event);
  }
}

function verdict(value: unknown): Verdict {
  if (value === undefined || value === Verdict.Continue) return Verdict.Continue;
  if (value === Verdict.Stop) return Verdict.Stop;
  throw new Error(`a handler returned ${JSON.stringify(value)}: return nothing, "continue" or "stop"`);
}

/** The failure to return for a thrown value; an unexpected error's stack goes to the host's log at debug level. */
function fail(thrown: unknown): never {
  if (thrown instanceof Error && thrown.stack) log.debug(`${thrown.name}: ${thrown.message}\n${thrown.stack}`);
  throw failureError(thrown);
}

/**
 * Makes a plugin of `spec`: export the result as `handler` from
 * `src/index.ts`.
 *
 * ```ts
 * import { definePlugin } from "@switchboard/plugin-sdk";
 *
 * export const handler = definePlugin({
 *   name: "echo", version: "0.1.0", eventKinds: ["message"],
 *   onMessage(cx, message) {
 *     if (message.text && !cx.standby) cx.reply(`You said: ${message.text}`);
 *   },
 * });
 * ```
 *
 * A handler that returns normally lets the event go on to the Page's next
 * plugin (return `"stop"` to end it here). A thrown error is a transient
 * failure, with the error's message: the host retries the event, then moves
 * it to the dead letters. A thrown `PermanentError` goes to the dead letters
 * at once. The host instantiates the plugin afresh for every event: keep
 * state in `kv`, not in variables.
 */
export function definePlugin(spec: PluginSpec): Handler {
  const info: handlerWit.PluginInfo = {
    name: spec.name,
    version: spec.version,
    eventKinds: [...(spec.eventKinds ?? [])],
  };
  return {
    describe: () => ({ ...info, eventKinds: [...info.eventKinds] }),
    handle(resource: eventsWit.Event): Verdict {
      let outcome: Outcome;
      try {
        const event = readEvent(resource);
        const cx = new Context(event);
        outcome = spec.handle ? spec.handle.call(spec, cx, event) : dispatch(spec, cx, event);
        if (!(outcome instanceof Promise)) return verdict(outcome);
      } catch (e) {
        fail(e);
      }
      // An async handler: the component runs the event loop until the
      // promise settles, within this call.
      return outcome.then(verdict, fail) as unknown as Verdict;
    },
  };
}
