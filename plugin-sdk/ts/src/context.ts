// `Context`: the event being handled, and the host calls that act on it
// (send, sender actions, handover) or tell about its person (conversation
// state, notification tokens, profile).

import * as conversation from "switchboard:plugin/conversation@0.2.0";
import * as handover from "switchboard:plugin/handover@0.2.0";
import * as messenger from "switchboard:plugin/messenger@0.2.0";
import * as profile from "switchboard:plugin/profile@0.2.0";
import { messengerCall } from "./errors";
import { plain, type Event, type Plain } from "./event";
import { Outgoing, Recipient, type Sendable, type SenderAction, type Sent } from "./outgoing";

/** The Page Inbox app: pass the thread to it to hand the person over to the Page's human agents. */
export const PAGE_INBOX_APP_ID = "263902037430900";

/** Who owns the thread, as the host knows it. */
export type ThreadOwner =
  /** No handover event or thread-control call seen yet. */
  | { kind: "unknown" }
  /** Nobody owns the thread (released). */
  | { kind: "idle" }
  /** The Page's app in this host's config. */
  | { kind: "this-app" }
  /** Another app; its id when known. */
  | { kind: "other-app"; appId?: string };

/** An unused one-time-notification token (times in epoch milliseconds). */
export type NotificationToken = Plain<conversation.NotificationToken>;
/** What the person last did that opens the messaging window. */
export type Interaction = Plain<conversation.Interaction>;
export type InteractionSource = conversation.InteractionSource;
export type ReceiverRole = conversation.ReceiverRole;
export type AccountLink = conversation.AccountLink;

/** What the host knows of one conversation (one Page, one person); times in epoch milliseconds. */
export type ConversationState = Omit<Plain<conversation.ConversationState>, "threadOwner"> & { threadOwner: ThreadOwner };

/** The person's public profile (the picture URL expires: do not store it). */
export type UserProfile = profile.UserProfile;

/** A secondary receiver of the Page. */
export interface SecondaryReceiver {
  appId: string;
  name: string;
}

function threadOwner(owner: conversation.ThreadOwner): ThreadOwner {
  return owner.tag === "other-app" ? { kind: "other-app", appId: owner.val } : { kind: owner.tag };
}

/**
 * The event being handled. Messages go out from its Page; `reply`, the
 * sender actions and the handover calls address its person.
 *
 * Every host call can throw a `MessengerError`: let it propagate to give up
 * on the event (the host retries it later, or finishes it when a retry cannot
 * help), or catch it to carry on.
 */
export class Context {
  constructor(
    /** The whole event (see `Event`), `rawJson()` included. */
    readonly event: Event,
  ) {}

  /** The host's id for the event, stable across webhook redeliveries. */
  get id(): string {
    return this.event.id;
  }
  /** The Page that received the event. */
  get pageId(): string {
    return this.event.pageId;
  }
  /** The person's page-scoped id, when Messenger gave one (for echoes, the person the Page wrote to). */
  get psid(): string | undefined {
    return this.event.psid;
  }
  /** The checkbox / chat plugin `user_ref`, given instead of a PSID. */
  get userRef(): string | undefined {
    return this.event.userRef;
  }
  /** True when the event came in `standby`: another app owns the thread, so watch but do not reply. */
  get standby(): boolean {
    return this.event.standby;
  }
  /** When Messenger stamped the event, in epoch milliseconds. */
  get timestamp(): number {
    return this.event.timestamp;
  }
  /** The event's kind: `message`, `postback`, `business`... (`unknown` for kinds this SDK does not model). */
  get kind(): Event["kind"] {
    return this.event.kind;
  }
  /** The event object exactly as received, for fields this SDK does not model. */
  rawJson(): string {
    return this.event.rawJson();
  }

  /** The person the event came from, as a recipient: their PSID, else their `user_ref`. */
  sender(): Recipient {
    if (this.event.psid !== undefined) return Recipient.psid(this.event.psid);
    if (this.event.userRef !== undefined) return Recipient.userRef(this.event.userRef);
    throw new Error("this event has no sender to reply to");
  }

  /**
   * Sends `message` to the person the event came from: text, an
   * `Outgoing`, a `Template` or `Media`. The messaging type is RESPONSE
   * unless the message says otherwise (`.update()`, `.tag()`).
   */
  reply(message: Sendable): Sent {
    return this.send(this.sender(), message);
  }

  /**
   * Sends `message` from the event's Page to any recipient: a PSID (a plain
   * string is one), or `Recipient.oneTimeNotifToken(token)`, a `user_ref`, a
   * comment...
   */
  send(recipient: Recipient | string, message: Sendable): Sent {
    const to = typeof recipient === "string" ? Recipient.psid(recipient) : recipient;
    const outgoing = Outgoing.from(message).toWit(to);
    return messengerCall(() => messenger.send(outgoing));
  }

  /** Shows the typing indicator to the sender. */
  typingOn(): void {
    this.senderAction("typing-on");
  }
  /** Hides the typing indicator. */
  typingOff(): void {
    this.senderAction("typing-off");
  }
  /** Marks the sender's last message as seen. */
  markSeen(): void {
    this.senderAction("mark-seen");
  }
  /** Sends a sender action (`typing-on`, `typing-off`, `mark-seen`) to the sender. */
  senderAction(action: SenderAction): void {
    const to = this.sender();
    messengerCall(() => messenger.sendAction(to, action));
  }

  private handoverPsid(): string {
    if (this.event.psid === undefined) throw new Error("handover needs a PSID and this event has none");
    return this.event.psid;
  }

  /** Passes the person's thread to another app, with metadata for its `pass-thread-control` event. */
  passThreadControl(targetAppId: string, metadata?: string): void {
    const psid = this.handoverPsid();
    messengerCall(() => handover.passThreadControl(psid, targetAppId, metadata));
  }
  /** Hands the person over to the Page's human agents: passes the thread to the Page Inbox. */
  passToPageInbox(metadata?: string): void {
    this.passThreadControl(PAGE_INBOX_APP_ID, metadata);
  }
  /** Takes the thread back (this app must be the primary receiver). */
  takeThreadControl(metadata?: string): void {
    const psid = this.handoverPsid();
    messengerCall(() => handover.takeThreadControl(psid, metadata));
  }
  /** Asks the primary receiver for the thread. */
  requestThreadControl(metadata?: string): void {
    const psid = this.handoverPsid();
    messengerCall(() => handover.requestThreadControl(psid, metadata));
  }
  /** Gives the thread up, leaving it idle. */
  releaseThreadControl(metadata?: string): void {
    const psid = this.handoverPsid();
    messengerCall(() => handover.releaseThreadControl(psid, metadata));
  }
  /** The app id owning the person's thread; `undefined` when the thread is idle. */
  threadOwner(): string | undefined {
    const psid = this.handoverPsid();
    return messengerCall(() => handover.threadOwner(psid));
  }
  /** The Page's secondary receivers. */
  secondaryReceivers(): SecondaryReceiver[] {
    return messengerCall(() => handover.secondaryReceivers()).map(([appId, name]) => ({ appId, name }));
  }

  /**
   * What the host knows of the conversation with `psid` (default: the
   * event's person) on this Page: last interaction and the window it
   * opened, thread owner, this app's role, open one-time-notification
   * tokens, account-link status.
   */
  conversation(psid: string = this.handoverPsid()): ConversationState {
    const state = conversation.state(psid);
    return { ...plain(state), threadOwner: threadOwner(state.threadOwner) };
  }
  /**
   * The open one-time-notification tokens of this Page for `topic` (the
   * payload of the request template people accepted): who asked to be
   * told. Send to each with `cx.send(Recipient.oneTimeNotifToken(t.token), ...)`.
   */
  notificationTokens(topic: string): NotificationToken[] {
    return plain(conversation.notificationTokens(topic));
  }
  /** The person's public profile (name, picture...), cached by the host; default: the event's person. */
  userProfile(psid: string = this.handoverPsid()): UserProfile {
    return messengerCall(() => profile.get(psid));
  }
}
