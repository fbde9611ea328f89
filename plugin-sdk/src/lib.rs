//! Write Switchboard plugins in idiomatic Rust.
//!
//! A plugin is a WebAssembly component (`wasm32-wasip2`) that the Switchboard
//! host runs for every Messenger event of the Pages it is configured for.
//! This crate generates the bindings from the WIT contract
//! (`switchboard:plugin@0.1.0`) and wraps them in a small API: implement
//! [`Plugin`], override the `on_*` methods you care about, and export it.
//!
//! ```ignore
//! use switchboard_plugin_sdk::prelude::*;
//!
//! struct Echo;
//!
//! impl Plugin for Echo {
//!     fn info() -> Info {
//!         Info::new("echo", env!("CARGO_PKG_VERSION")).kinds(["message"])
//!     }
//!
//!     fn on_message(cx: &Context, message: &Message) -> Result<Verdict, Error> {
//!         if let Some(text) = &message.text {
//!             cx.reply(format!("You said: {text}"))?;
//!         }
//!         Ok(Verdict::Continue)
//!     }
//! }
//!
//! export_plugin!(Echo);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`. The host
//! creates a fresh instance for every event, so a plugin keeps no state in
//! memory between events.

mod context;
mod error;
pub mod log;
mod outgoing;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_raw",
        default_bindings_module: "switchboard_plugin_sdk::bindings",
    });
}

pub use bindings::exports::switchboard::plugin::handler::Verdict;
pub use bindings::switchboard::plugin::events::{
    AccountLinking, AppRole, Attachment, Delivery, Echo, Event, EventKind, GamePlay, Message, MessageEdit, Optin,
    PolicyEnforcement, Postback, Reaction, Read, Referral, ThreadControlChange, ThreadControlRequest,
};
pub use bindings::switchboard::plugin::messenger::{
    Button, GenericElement, MediaKind, MessagingType, NotificationType, QuickReplyKind, SenderAction, Sent,
};
pub use bindings::switchboard::plugin::types::{GraphError, MessengerError, Recipient};
pub use context::Context;
pub use error::Error;
pub use outgoing::{Media, Outgoing, QuickReply, Template};

/// The Page Inbox app: pass the thread here to hand a person over to the
/// Page's human agents.
pub const PAGE_INBOX_APP_ID: &str = "263902037430900";

/// What a plugin tells the host about itself.
#[derive(Debug, Clone)]
pub struct Info {
    pub name: String,
    pub version: String,
    pub event_kinds: Vec<String>,
}

impl Info {
    /// A plugin that receives every event kind.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Info { name: name.into(), version: version.into(), event_kinds: Vec::new() }
    }

    /// Receive only these kinds (`message`, `postback`, `optin`...): the
    /// host skips the plugin for the others, which saves an instantiation.
    pub fn kinds<S: Into<String>>(mut self, kinds: impl IntoIterator<Item = S>) -> Self {
        self.event_kinds = kinds.into_iter().map(Into::into).collect();
        self
    }
}

/// A Switchboard plugin. Every method has a default that lets the event pass
/// on to the next plugin; override the ones you need.
pub trait Plugin {
    fn info() -> Info;

    /// Handles any event; the default calls the `on_*` method for its kind.
    fn handle(cx: &Context, event: &Event) -> Result<Verdict, Error> {
        match &event.kind {
            EventKind::Message(m) => Self::on_message(cx, m),
            EventKind::Echo(e) => Self::on_echo(cx, e),
            EventKind::Postback(p) => Self::on_postback(cx, p),
            EventKind::Optin(o) => Self::on_optin(cx, o),
            EventKind::Referral(r) => Self::on_referral(cx, r),
            EventKind::Delivery(d) => Self::on_delivery(cx, d),
            EventKind::Read(r) => Self::on_read(cx, r),
            EventKind::Reaction(r) => Self::on_reaction(cx, r),
            EventKind::PassThreadControl(_)
            | EventKind::TakeThreadControl(_)
            | EventKind::RequestThreadControl(_)
            | EventKind::AppRoles(_) => Self::on_handover(cx, &event.kind),
            _ => Self::on_other(cx, event),
        }
    }

    fn on_message(_cx: &Context, _message: &Message) -> Result<Verdict, Error> {
        Ok(Verdict::Continue)
    }
    fn on_echo(_cx: &Context, _echo: &Echo) -> Result<Verdict, Error> {
        Ok(Verdict::Continue)
    }
    fn on_postback(_cx: &Context, _postback: &Postback) -> Result<Verdict, Error> {
        Ok(Verdict::Continue)
    }
    fn on_optin(_cx: &Context, _optin: &Optin) -> Result<Verdict, Error> {
        Ok(Verdict::Continue)
    }
    fn on_referral(_cx: &Context, _referral: &Referral) -> Result<Verdict, Error> {
        Ok(Verdict::Continue)
    }
    fn on_delivery(_cx: &Context, _delivery: &Delivery) -> Result<Verdict, Error> {
        Ok(Verdict::Continue)
    }
    fn on_read(_cx: &Context, _read: &Read) -> Result<Verdict, Error> {
        Ok(Verdict::Continue)
    }
    fn on_reaction(_cx: &Context, _reaction: &Reaction) -> Result<Verdict, Error> {
        Ok(Verdict::Continue)
    }
    /// Thread control passed, taken or requested, or app roles changed.
    fn on_handover(_cx: &Context, _change: &EventKind) -> Result<Verdict, Error> {
        Ok(Verdict::Continue)
    }
    /// Every other kind, including ones newer than this SDK.
    fn on_other(_cx: &Context, _event: &Event) -> Result<Verdict, Error> {
        Ok(Verdict::Continue)
    }
}

#[doc(hidden)]
pub fn __describe<P: Plugin>() -> bindings::exports::switchboard::plugin::handler::PluginInfo {
    let info = P::info();
    bindings::exports::switchboard::plugin::handler::PluginInfo {
        name: info.name,
        version: info.version,
        event_kinds: info.event_kinds,
    }
}

#[doc(hidden)]
pub fn __handle<P: Plugin>(event: Event) -> Result<Verdict, String> {
    let cx = Context::new(&event);
    P::handle(&cx, &event).map_err(|e| e.to_string())
}

/// Exports a [`Plugin`] implementation as the component's `handler`.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[doc(hidden)]
        pub struct __SwitchboardExport;

        impl $crate::bindings::exports::switchboard::plugin::handler::Guest for __SwitchboardExport {
            fn describe() -> $crate::bindings::exports::switchboard::plugin::handler::PluginInfo {
                $crate::__describe::<$plugin>()
            }
            fn handle(event: $crate::Event) -> ::core::result::Result<$crate::Verdict, ::std::string::String> {
                $crate::__handle::<$plugin>(event)
            }
        }

        $crate::bindings::__export_raw!(__SwitchboardExport);
    };
}

/// Everything a plugin usually needs.
pub mod prelude {
    pub use crate::{
        export_plugin, Context, Error, Event, EventKind, Info, Media, Message, Outgoing, Plugin, Postback, QuickReply,
        Template, Verdict, PAGE_INBOX_APP_ID,
    };
}
