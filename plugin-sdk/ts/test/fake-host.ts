// A stand-in for the host's WIT imports, for the unit tests: test/run.mjs
// bundles every `switchboard:plugin/<iface>@0.2.0` import to the functions of
// `host[<iface>]` here. Tests replace those functions and read `calls`.

import type * as eventsWit from "switchboard:plugin/events@0.2.0";

/** Every import call, in order: `kv.increment`, `messenger.send`... with its arguments. */
export const calls: { fn: string; args: unknown[] }[] = [];

type Impl = Record<string, (...args: any[]) => unknown>;

const defaults = (): Record<string, Impl> => ({
  messenger: {
    send: () => ({ recipientId: "42", messageId: "m.1" }),
    sendAction: () => undefined,
  },
  handover: {
    passThreadControl: () => undefined,
    takeThreadControl: () => undefined,
    requestThreadControl: () => undefined,
    releaseThreadControl: () => undefined,
    threadOwner: () => undefined,
    secondaryReceivers: () => [],
  },
  conversation: {
    state: () => ({ threadOwner: { tag: "unknown" }, role: "unknown", notificationTokens: [], accountLink: "unknown" }),
    notificationTokens: () => [],
  },
  profile: { get: () => ({}) },
  kv: {
    get: () => undefined,
    set: () => undefined,
    delete: () => false,
    compareAndSwap: () => true,
    increment: (_key: string, delta: bigint) => delta,
    listKeys: () => [],
  },
  log: { log: () => undefined },
});

export const host: Record<string, Impl> = defaults();

/** Puts the default implementations back and forgets the calls. */
export function reset(): void {
  Object.assign(host, defaults());
  calls.length = 0;
}

/** Called by the generated import modules. */
export function call(iface: string, fn: string, args: unknown[]): unknown {
  calls.push({ fn: `${iface}.${fn}`, args });
  const impl = host[iface]?.[fn];
  if (!impl) throw new Error(`fake host: no ${iface}.${fn}`);
  return impl(...args);
}

/** What the component bindings throw for a host call's `result` error. */
export class ComponentError extends Error {
  readonly payload: unknown;
  constructor(value: unknown) {
    super(typeof value === "string" ? value : `${String(value)} (see error.payload)`);
    this.payload = value;
  }
}

/** Fails the next calls of `iface.fn` with `payload`, as the bindings would. */
export function failWith(iface: string, fn: string, payload: unknown): void {
  host[iface][fn] = () => {
    throw new ComponentError(payload);
  };
}

/** An `event` resource with these fields; accessors of other kinds answer undefined. */
export function fakeEvent(fields: {
  kind: string;
  psid?: string;
  standby?: boolean;
  timestamp?: bigint;
  unknownKey?: string;
  raw?: string;
  [accessor: string]: unknown;
}): eventsWit.Event {
  const accessor = (name: string) => () => fields[name];
  const resource = {
    id: () => "ev-1",
    pageId: () => "1001",
    psid: () => fields.psid,
    userRef: () => undefined,
    timestamp: () => fields.timestamp ?? 1_700_000_000_000n,
    standby: () => fields.standby ?? false,
    kind: () => fields.kind,
    unknownKey: () => fields.unknownKey,
    rawJson: () => fields.raw ?? "{}",
  };
  const accessors = [
    "message", "echo", "postback", "optin", "referral", "accountLinking", "delivery", "read", "reaction",
    "messageEdit", "passThreadControl", "takeThreadControl", "requestThreadControl", "appRoles",
    "policyEnforcement", "gamePlay", "responseFeedback", "business",
  ];
  return Object.assign(resource, Object.fromEntries(accessors.map((a) => [a, accessor(a)]))) as unknown as eventsWit.Event;
}
