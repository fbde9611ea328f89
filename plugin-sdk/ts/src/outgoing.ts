// Builders for what a plugin sends: `Outgoing` messages (text, `Media` or a
// `Template`) with `QuickReply`s, messaging type and tag, and the
// `Recipient` they go to. Each turns into the WIT record `messenger.send`
// takes (`toWit`); the host checks the documented limits (2000 characters of
// text, 13 quick replies, 3 buttons...) and refuses a message that breaks
// one with an `invalid-request` MessengerError.

import type * as wit from "switchboard:plugin/messenger@0.2.0";
import type * as types from "switchboard:plugin/types@0.2.0";

export type MessagingType = wit.MessagingType;
export type NotificationType = wit.NotificationType;
export type SenderAction = wit.SenderAction;
export type MediaKind = wit.MediaKind;
/** What the Send API returned. */
export type Sent = wit.Sent;

/** Who a message goes to (the Send API's `recipient`). Make one with `Recipient.psid(...)` and friends. */
export type Recipient = types.Recipient;

export const Recipient = {
  /** A page-scoped user id. */
  psid: (psid: string): Recipient => ({ tag: "psid", val: psid }),
  /** A checkbox-plugin / chat-plugin `user_ref`. */
  userRef: (userRef: string): Recipient => ({ tag: "user-ref", val: userRef }),
  /** Customer matching by phone number. */
  phoneNumber: (phone: string): Recipient => ({ tag: "phone-number", val: phone }),
  /** A private reply to a post. */
  postId: (postId: string): Recipient => ({ tag: "post-id", val: postId }),
  /** A private reply to a comment. */
  commentId: (commentId: string): Recipient => ({ tag: "comment-id", val: commentId }),
  /** A one-time-notification token (from `cx.notificationTokens(topic)`): one message, outside the window. */
  oneTimeNotifToken: (token: string): Recipient => ({ tag: "one-time-notif-token", val: token }),
  /** A recurring-notification token. */
  notificationMessagesToken: (token: string): Recipient => ({ tag: "notification-messages-token", val: token }),
};

/** A quick-reply chip under a message; a tap comes back as a message with `quickReplyPayload` set. */
export class QuickReply {
  private constructor(private readonly value: wit.QuickReply) {}

  /** A text chip: title (at most 20 characters) and the payload you get back. */
  static text(title: string, payload: string): QuickReply {
    return new QuickReply({ kind: "text", title, payload });
  }
  /** Offers the person's email address from their profile. */
  static userEmail(): QuickReply {
    return new QuickReply({ kind: "user-email" });
  }
  /** Offers the person's phone number from their profile. */
  static userPhoneNumber(): QuickReply {
    return new QuickReply({ kind: "user-phone-number" });
  }
  /** Adds an icon to a text chip. */
  imageUrl(url: string): this {
    this.value.imageUrl = url;
    return this;
  }
  /** The WIT record. */
  toWit(): wit.QuickReply {
    return { ...this.value };
  }
}

/** An image, audio, video or file attachment, by public URL or saved attachment id. */
export class Media {
  private constructor(private readonly value: wit.Media) {}

  /** Media of any kind at a public URL. */
  static url(kind: MediaKind, url: string): Media {
    return new Media({ kind, url, isReusable: false });
  }
  static imageUrl(url: string): Media {
    return Media.url("image", url);
  }
  static audioUrl(url: string): Media {
    return Media.url("audio", url);
  }
  static videoUrl(url: string): Media {
    return Media.url("video", url);
  }
  static fileUrl(url: string): Media {
    return Media.url("file", url);
  }
  /** A saved asset, by its id from the Attachment Upload API or an earlier reusable send (`Sent.attachmentId`). */
  static attachment(kind: MediaKind, attachmentId: string): Media {
    return new Media({ kind, attachmentId, isReusable: false });
  }
  /** Asks Messenger for an attachment id to send the same media again. */
  reusable(): this {
    this.value.isReusable = true;
    return this;
  }
  toWit(): wit.Media {
    return { ...this.value };
  }
}

/** A button of a button template or a generic-template card. */
export type Button = wit.Button;

export const Button = {
  /** Sends a `postback` event with `payload`. */
  postback: (title: string, payload: string): Button => ({ tag: "postback", val: [title, payload] }),
  /** Opens `url`. */
  webUrl: (title: string, url: string): Button => ({ tag: "web-url", val: [title, url] }),
  /** Calls `phoneNumber` (`+` and country code). */
  phoneNumber: (title: string, phoneNumber: string): Button => ({ tag: "phone-number", val: [title, phoneNumber] }),
  /** A log-in button to the account-linking `url`. */
  accountLink: (url: string): Button => ({ tag: "account-link", val: url }),
  /** A log-out button. */
  accountUnlink: (): Button => ({ tag: "account-unlink" }),
};

const copyButton = (b: Button): Button => ("val" in b && Array.isArray(b.val) ? { ...b, val: [...b.val] } : { ...b }) as Button;

/** One card of a `Template.generic()` carousel. */
export class Element {
  private readonly value: wit.GenericElement;

  /** A card with a title (at most 80 characters). */
  constructor(title: string) {
    this.value = { title, buttons: [] };
  }
  subtitle(subtitle: string): this {
    this.value.subtitle = subtitle;
    return this;
  }
  imageUrl(url: string): this {
    this.value.imageUrl = url;
    return this;
  }
  /** The URL opened when the card itself is tapped. */
  defaultActionUrl(url: string): this {
    this.value.defaultActionUrl = url;
    return this;
  }
  /** Adds any button (at most three per card). */
  button(button: Button): this {
    this.value.buttons.push(button);
    return this;
  }
  postback(title: string, payload: string): this {
    return this.button(Button.postback(title, payload));
  }
  webUrl(title: string, url: string): this {
    return this.button(Button.webUrl(title, url));
  }
  toWit(): wit.GenericElement {
    return { ...this.value, buttons: this.value.buttons.map(copyButton) };
  }
}

/**
 * A structured message: buttons, a carousel of cards, a one-time
 * notification request, or any other template as raw JSON.
 *
 * The button methods (`postback`, `webUrl`...) add a button to a button
 * template, or to the last card of a generic template; other templates
 * ignore them.
 */
export class Template {
  private constructor(private readonly value: wit.Template) {}

  /** Text (at most 640 characters) with one to three buttons. */
  static button(text: string): Template {
    return new Template({ tag: "button", val: [text, []] });
  }
  /** A carousel of one to ten `Element`s. */
  static generic(...elements: Element[]): Template {
    return new Template({ tag: "generic", val: elements.map((e) => e.toWit()) });
  }
  /**
   * Asks the person for permission to send one message outside the 24-hour
   * window: title (at most 65 characters) and a payload (the topic). The
   * answer arrives as an `optin` event; the host keeps its token for
   * `cx.notificationTokens(topic)`.
   */
  static oneTimeNotifRequest(title: string, payload: string): Template {
    return new Template({ tag: "one-time-notif-request", val: [title, payload] });
  }
  /** Any other template: the `attachment.payload` object, as JSON text or as an object. */
  static raw(payload: string | object): Template {
    return new Template({ tag: "raw", val: jsonObject(payload, "Template.raw") });
  }

  /** Adds a card to a generic template. */
  element(element: Element): this {
    if (this.value.tag === "generic") this.value.val.push(element.toWit());
    return this;
  }
  /** Adds any button (to the template, or to the last card of a generic one). */
  button(button: Button): this {
    if (this.value.tag === "button") this.value.val[1].push(button);
    else if (this.value.tag === "generic") this.value.val.at(-1)?.buttons.push(button);
    return this;
  }
  /** A button that sends a `postback` event with `payload`. */
  postback(title: string, payload: string): this {
    return this.button(Button.postback(title, payload));
  }
  /** A button that opens `url`. */
  webUrl(title: string, url: string): this {
    return this.button(Button.webUrl(title, url));
  }
  /** A button that calls `phoneNumber`. */
  phoneNumber(title: string, phoneNumber: string): this {
    return this.button(Button.phoneNumber(title, phoneNumber));
  }
  /** A log-in button to the account-linking `url`. */
  accountLink(url: string): this {
    return this.button(Button.accountLink(url));
  }
  /** A log-out button. */
  accountUnlink(): this {
    return this.button(Button.accountUnlink());
  }
  toWit(): wit.Template {
    const v = this.value;
    switch (v.tag) {
      case "button":
        return { tag: "button", val: [v.val[0], v.val[1].map(copyButton)] };
      case "generic":
        return { tag: "generic", val: v.val.map((e) => ({ ...e, buttons: e.buttons.map(copyButton) })) };
      case "one-time-notif-request":
        return { tag: v.tag, val: [v.val[0], v.val[1]] };
      default:
        return { ...v };
    }
  }
}

/** Text, an `Outgoing`, a `Template` or `Media`: what `cx.reply` and `cx.send` take. */
export type Sendable = string | Outgoing | Template | Media;

/**
 * A message to send: content plus delivery options. The recipient comes
 * from `cx.reply` (the event's person) or `cx.send(recipient, ...)`.
 *
 * The messaging type is RESPONSE unless `update()` or `tag()` says otherwise.
 *
 * ```ts
 * Outgoing.text("Still there?").quickReply(QuickReply.text("Yes", "YES")).quickReply(QuickReply.text("No", "NO"));
 * Outgoing.text("Your order shipped").update();       // proactive, inside the 24-hour window
 * Outgoing.text(agentText).humanAgent();              // a person wrote it: HUMAN_AGENT tag, 7 days
 * Outgoing.raw({ sticker_id: 369239263222822 });      // what the SDK does not model
 * ```
 */
export class Outgoing {
  private quickReplies: wit.QuickReply[] = [];
  private messagingType: MessagingType = "response";
  private tagName?: string;
  private writtenByHuman = false;
  private notificationType?: NotificationType;
  private metadataText?: string;
  private replyToMid?: string;
  private personaId?: string;

  private constructor(private readonly content: wit.Content) {}

  /** A text message (at most 2000 characters). */
  static text(text: string): Outgoing {
    return new Outgoing({ tag: "text", val: text });
  }
  /** An image, audio, video or file. */
  static media(media: Media): Outgoing {
    return new Outgoing({ tag: "media", val: media.toWit() });
  }
  /** A structured template. */
  static template(template: Template): Outgoing {
    return new Outgoing({ tag: "template", val: template.toWit() });
  }
  /**
   * `message` keys this SDK does not model, as a JSON object (text or
   * object): `Outgoing.raw({ sticker_id: 369239263222822 })`. Quick replies
   * and metadata still come from this message's own methods; the host
   * refuses the raw object if it names them.
   */
  static raw(message: string | object): Outgoing {
    return new Outgoing({ tag: "raw", val: jsonObject(message, "Outgoing.raw") });
  }
  /** A `Sendable` as an `Outgoing` (text becomes a text message). */
  static from(message: Sendable): Outgoing {
    if (message instanceof Outgoing) return message;
    if (message instanceof Template) return Outgoing.template(message);
    if (message instanceof Media) return Outgoing.media(message);
    if (typeof message === "string") return Outgoing.text(message);
    throw new TypeError(`cannot send ${Object.prototype.toString.call(message)}: pass text, an Outgoing, a Template or Media`);
  }

  /** Adds a quick reply (at most 13). */
  quickReply(reply: QuickReply): this {
    this.quickReplies.push(reply.toWit());
    return this;
  }
  /** A proactive message inside the 24-hour window: messaging type UPDATE. */
  update(): this {
    this.messagingType = "update";
    this.tagName = undefined;
    return this;
  }
  /**
   * A tagged message outside the 24-hour window: messaging type
   * MESSAGE_TAG. The host only sends tags its operator allows (`HUMAN_AGENT`
   * by default). For `HUMAN_AGENT` use `humanAgent()`.
   */
  tag(tag: string): this {
    this.messagingType = "message-tag";
    this.tagName = tag;
    return this;
  }
  /**
   * Text a person (an agent) wrote, sent with the `HUMAN_AGENT` tag: up to
   * 7 days after the person's last message. Only for human-written text;
   * the host refuses the tag otherwise.
   */
  humanAgent(): this {
    this.tag("HUMAN_AGENT");
    this.writtenByHuman = true;
    return this;
  }
  /** How the person's device notifies them: `regular`, `silent-push` or `no-push`. */
  notification(kind: NotificationType): this {
    this.notificationType = kind;
    return this;
  }
  /** Developer data echoed back in the `echo` event (under 1000 characters). */
  metadata(metadata: string): this {
    this.metadataText = metadata;
    return this;
  }
  /** Shows the message as a reply to the message `mid`. */
  replyTo(mid: string): this {
    this.replyToMid = mid;
    return this;
  }
  /** Sends as a persona of the Page. */
  persona(personaId: string): this {
    this.personaId = personaId;
    return this;
  }

  /** The WIT record for `messenger.send`. */
  toWit(recipient: Recipient): wit.OutgoingMessage {
    return {
      recipient,
      content: this.content,
      quickReplies: this.quickReplies.map((q) => ({ ...q })),
      messagingType: this.messagingType,
      tag: this.tagName,
      writtenByHuman: this.writtenByHuman,
      notificationType: this.notificationType,
      metadata: this.metadataText,
      replyTo: this.replyToMid,
      personaId: this.personaId,
    };
  }
}

/** JSON text of an object, checked to be one. */
function jsonObject(value: string | object, what: string): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new TypeError(`${what}: not JSON: ${(e as Error).message}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new TypeError(`${what}: not a JSON object: ${text.slice(0, 80)}`);
  }
  return text;
}
