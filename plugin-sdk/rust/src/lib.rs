//! Write Switchboard plugins in idiomatic Rust.
//!
//! A plugin is a WebAssembly component (`wasm32-wasip2`) that the Switchboard
//! host runs for every Messenger event of the Pages it is configured for.
//! This crate generates the guest bindings from the WIT contract it
//! carries (`wit/`, `switchboard:plugin@0.2.0`, world `plugin`; nothing
//! outside the crate is read, so it works as a path, git or registry
//! dependency from any directory) and wraps them in a small
//! API: implement [`Plugin`], override the `on_*` methods you care about,
//! act through the [`Context`], and export the type with [`export_plugin!`].
//!
//! # Example
//!
//! A complete plugin (`Cargo.toml`: `crate-type = ["cdylib"]` and a
//! dependency on `switchboard-plugin-sdk`):
//!
//! ```
//! use switchboard_plugin_sdk::prelude::*;
//!
//! struct Greeter;
//!
//! impl Plugin for Greeter {
//!     fn info() -> PluginInfo {
//!         PluginInfo::new("greeter", env!("CARGO_PKG_VERSION")).event_kinds(["message", "postback"])
//!     }
//!
//!     fn on_message(cx: &Context, message: &Message) -> Result<Verdict, Error> {
//!         let Some(text) = &message.text else { return Ok(Verdict::Continue) };
//!         if text.eq_ignore_ascii_case("agent") {
//!             cx.reply("Connecting you to a person…")?;
//!             cx.pass_to_page_inbox(Some("asked for an agent"))?;
//!             return Ok(Verdict::Stop); // later plugins of the Page skip this event
//!         }
//!         cx.reply(
//!             Outgoing::text(format!("Hello! You said: {text}"))
//!                 .quick_reply(QuickReply::text("Menu", "MENU"))
//!                 .quick_reply(QuickReply::text("Agent", "AGENT")),
//!         )?;
//!         Ok(Verdict::Continue)
//!     }
//!
//!     fn on_postback(cx: &Context, postback: &Postback) -> Result<Verdict, Error> {
//!         log::info(format!("postback {:?}", postback.payload));
//!         cx.reply(Template::button("What next?").postback("Start over", "START").web_url("Help", "https://example.com"))?;
//!         Ok(Verdict::Continue)
//!     }
//! }
//!
//! export_plugin!(Greeter);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` and list
//! `target/wasm32-wasip2/release/<crate>.wasm` under the Page's `plugins`.
//!
//! # Overview
//!
//! * Incoming: [`Event`] and its [`EventKind`] (with [`Message`],
//!   [`Postback`]...), read from the host's `event` resource (the records
//!   are the WIT's); [`Context`] gives the event's Page, person, standby
//!   flag and timestamp. A kind newer than this SDK arrives as
//!   [`EventKind::Unknown`] with its name; [`Event::raw_json`] has it all.
//! * Outgoing: [`Outgoing`] (text, [`Media`], [`Template`]) with
//!   [`QuickReply`]s, messaging type and tag, sent with [`Context::reply`]
//!   or [`Context::send`].
//! * Handover: [`Context::pass_to_page_inbox`] and friends.
//! * What the host knows: [`Context::conversation`] (window, thread owner,
//!   tokens), [`Context::notification_tokens`], [`Context::user_profile`].
//! * Events from outside Messenger: [`Plugin::on_business`].
//! * Failures: [`Error`], wrapping the host's typed [`MessengerError`].
//! * Logs: [`log::info`] and friends write to the host's log, tagged with
//!   the plugin, Page and event.
//!
//! * State: [`kv`], this plugin's own durable key-value namespace.
//!
//! The host creates a fresh instance for every event, so a plugin keeps no
//! state in memory between events: keep it in [`kv`].

mod context;
mod error;
mod event;
pub mod kv;
pub mod log;
mod outgoing;
mod plugin;

/// The raw bindings `wit_bindgen` generates from `wit/switchboard.wit`
/// (WASI's included: the world declares every import the host links).
/// Everything a plugin needs is re-exported at the crate root; these are
/// here for the rare case the SDK does not wrap.
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "plugin",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_raw",
        default_bindings_module: "switchboard_plugin_sdk::bindings",
        additional_derives: [PartialEq],
        // WASI types holding resources, which cannot be compared.
        additional_derives_ignore: ["stream-error"],
    });
}

pub use bindings::exports::switchboard::plugin::handler::Verdict;
pub use bindings::switchboard::plugin::conversation::{
    AccountLink, ConversationState, Interaction, InteractionSource, NotificationToken, ReceiverRole, ThreadOwner,
};
pub use bindings::switchboard::plugin::events::{
    AccountLinking, AppRole, Attachment, BusinessEvent, Coordinates, Delivery, Echo, GamePlay, Message, MessageEdit, Optin,
    PolicyEnforcement, Postback, Reaction, Read, Referral, ResponseFeedback, ThreadControlChange, ThreadControlRequest,
};
pub use bindings::switchboard::plugin::kv::KvError;
pub use bindings::switchboard::plugin::messenger::{Button, MediaKind, MessagingType, NotificationType, SenderAction, Sent};
pub use bindings::switchboard::plugin::profile::UserProfile;
pub use bindings::switchboard::plugin::types::{GraphError, MessengerError, Recipient};
pub use context::Context;
pub use error::Error;
pub use event::{Event, EventKind};
pub use outgoing::{Element, Media, Outgoing, QuickReply, Template};
pub use plugin::{Handover, Plugin, PluginInfo};

#[doc(hidden)]
pub use plugin::{__describe, __handle};

/// The Page Inbox app: pass the thread to it to hand the person over to the
/// Page's human agents.
pub const PAGE_INBOX_APP_ID: &str = "263902037430900";

/// Exports a [`Plugin`] implementation as the component's `handler`.
/// Use it once per plugin crate.
///
/// A [`PluginInfo`] left with an empty name or version is completed with
/// the plugin crate's Cargo package name and version.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            struct __SwitchboardExport;

            impl $crate::bindings::exports::switchboard::plugin::handler::Guest for __SwitchboardExport {
                fn describe() -> $crate::bindings::exports::switchboard::plugin::handler::PluginInfo {
                    $crate::__describe::<$plugin>(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
                }
                fn handle(
                    event: &$crate::bindings::switchboard::plugin::events::Event,
                ) -> ::core::result::Result<$crate::Verdict, $crate::bindings::exports::switchboard::plugin::handler::Failure> {
                    $crate::__handle::<$plugin>(event)
                }
            }

            $crate::bindings::__export_raw!(__SwitchboardExport);
        };
    };
}

/// Everything a plugin usually needs: `use switchboard_plugin_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::{
        export_plugin, kv, log, BusinessEvent, Context, Element, Error, Event, EventKind, Handover, KvError, Media, Message,
        MessengerError, Optin, Outgoing, Plugin, PluginInfo, Postback, QuickReply, Recipient, Template, ThreadOwner, Verdict,
        PAGE_INBOX_APP_ID,
    };
}
