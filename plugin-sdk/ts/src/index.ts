/// <reference path="../generated/plugin.d.ts" />
// Write Switchboard plugins in TypeScript.
//
// A plugin is a WebAssembly component of the WIT world
// `switchboard:plugin/plugin@0.2.0` (the SDK carries it in `wit/`). This
// package wraps the bindings componentize-js gives the component in a small
// API: `definePlugin` with `on*` handlers, a `Context` to act through,
// builders for what to send, `kv` and `log`. The types of the WIT world are
// generated from it at build time (into `generated/`, by build.mjs), never
// written by hand. See README.md.

export { definePlugin, dispatch, Verdict } from "./plugin";
export type { Handler, Handover, Outcome, PluginSpec } from "./plugin";
export { Context, PAGE_INBOX_APP_ID } from "./context";
export type {
  AccountLink,
  ConversationState,
  Interaction,
  InteractionSource,
  NotificationToken,
  ReceiverRole,
  SecondaryReceiver,
  ThreadOwner,
  UserProfile,
} from "./context";
export { plain } from "./event";
export type {
  AccountLinking,
  AppRole,
  Attachment,
  BusinessEvent,
  Coordinates,
  Delivery,
  Echo,
  Event,
  EventBody,
  EventKindName,
  GamePlay,
  Message,
  MessageEdit,
  Optin,
  Plain,
  PolicyEnforcement,
  Postback,
  Reaction,
  Read,
  Referral,
  ResponseFeedback,
  ThreadControlChange,
  ThreadControlRequest,
} from "./event";
export { Button, Element, Media, Outgoing, QuickReply, Recipient, Template } from "./outgoing";
export type { MediaKind, MessagingType, NotificationType, Sendable, SenderAction, Sent } from "./outgoing";
export { KvError, MessengerError, PermanentError } from "./errors";
export type { GraphError, KvErrorKind, MessengerErrorKind } from "./errors";
export * as kv from "./kv";
export type { KvValue, KvWriteOptions } from "./kv";
export * as log from "./log";
export type { Level } from "./log";
