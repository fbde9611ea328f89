//! The [`Plugin`] trait a plugin implements, its [`PluginInfo`], and the
//! glue [`export_plugin!`](crate::export_plugin) uses to serve the WIT
//! `handler` export with it.

use crate::bindings::exports::switchboard::plugin::handler as wit;
use crate::{
    AppRole, BusinessEvent, Context, Delivery, Echo, Error, Event, EventKind, Message, Optin, Postback, Reaction, Read, Referral,
    ThreadControlChange, ThreadControlRequest, Verdict,
};

/// What a plugin tells the host about itself: its name and version (shown
/// in the host's logs and metrics) and the event kinds it wants.
///
/// ```
/// # use switchboard_plugin_sdk::PluginInfo;
/// let info = PluginInfo::new("greeter", "1.2.0").event_kinds(["message", "postback"]);
/// assert_eq!(info.event_kinds, ["message", "postback"]);
/// ```
///
/// [`PluginInfo::default()`] leaves the name and version empty: the plugin
/// is then described with its Cargo package name and version, and receives
/// every event kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginInfo {
    /// Empty means the plugin crate's `CARGO_PKG_NAME`.
    pub name: String,
    /// Empty means the plugin crate's `CARGO_PKG_VERSION`.
    pub version: String,
    /// Event kind names (see [`EventKind::name`]); empty means
    /// every kind.
    pub event_kinds: Vec<String>,
}

impl PluginInfo {
    /// A plugin with this name and version that receives every event kind.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        PluginInfo { name: name.into(), version: version.into(), event_kinds: Vec::new() }
    }

    /// Receives only these kinds (`message`, `postback`, `optin`,
    /// `pass-thread-control`...): the host does not even instantiate the
    /// plugin for the others.
    pub fn event_kinds<S: Into<String>>(mut self, kinds: impl IntoIterator<Item = S>) -> Self {
        self.event_kinds = kinds.into_iter().map(Into::into).collect();
        self
    }
}

/// A change of thread ownership, for [`Plugin::on_handover`].
#[derive(Debug, Clone, Copy)]
pub enum Handover<'a> {
    /// Another app passed the thread (to this app or a third one).
    Pass(&'a ThreadControlChange),
    /// An app took the thread.
    Take(&'a ThreadControlChange),
    /// An app asks the thread owner for control.
    Request(&'a ThreadControlRequest),
    /// The Page's app roles changed.
    AppRoles(&'a [AppRole]),
}

/// A Switchboard plugin.
///
/// The host instantiates the plugin afresh for every event, so the methods
/// are associated functions: there is no `self` to keep state in. Every
/// method has a default: [`info`](Plugin::info) describes the plugin by its
/// Cargo package and asks for every event kind, [`handle`](Plugin::handle)
/// calls the `on_*` method of the event's kind, and the `on_*` methods
/// return [`Verdict::Continue`], which passes the event on to the next
/// plugin of the Page. Override the ones you need.
///
/// Returning `Err` counts as a failure of this plugin on this event: the
/// host logs it, and retries the event later (sends that already succeeded
/// are not repeated), then moves it to the dead letters; an
/// [`Error::permanent`] goes to the dead letters at once.
pub trait Plugin {
    /// Name, version and event kinds. See [`PluginInfo`].
    fn info() -> PluginInfo {
        PluginInfo::default()
    }

    /// Handles one event; the default dispatches on its kind to the `on_*`
    /// methods. Override it to see every event whole.
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
            EventKind::PassThreadControl(c) => Self::on_handover(cx, Handover::Pass(c)),
            EventKind::TakeThreadControl(c) => Self::on_handover(cx, Handover::Take(c)),
            EventKind::RequestThreadControl(r) => Self::on_handover(cx, Handover::Request(r)),
            EventKind::AppRoles(roles) => Self::on_handover(cx, Handover::AppRoles(roles)),
            EventKind::Business(b) => Self::on_business(cx, b),
            EventKind::PersonErased => Self::on_person_erased(cx),
            _ => Self::on_other(cx, event),
        }
    }

    /// A person's message: text, quick-reply tap, attachments.
    fn on_message(_cx: &Context, _message: &Message) -> Result<Verdict, Error> {
        Ok(Verdict::Continue)
    }
    /// A message the Page sent, echoed back (by this app, another, or a person).
    fn on_echo(_cx: &Context, _echo: &Echo) -> Result<Verdict, Error> {
        Ok(Verdict::Continue)
    }
    /// A postback button, Get Started, or a persistent-menu item.
    fn on_postback(_cx: &Context, _postback: &Postback) -> Result<Verdict, Error> {
        Ok(Verdict::Continue)
    }
    /// A plugin opt-in, or a one-time / recurring notification opt-in.
    fn on_optin(_cx: &Context, _optin: &Optin) -> Result<Verdict, Error> {
        Ok(Verdict::Continue)
    }
    /// An m.me link, ad or chat-plugin referral into an existing thread.
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
    fn on_handover(_cx: &Context, _handover: Handover<'_>) -> Result<Verdict, Error> {
        Ok(Verdict::Continue)
    }
    /// An event from a system outside Messenger, posted to the host's
    /// `POST /api/pages/{page}/events` (see [`BusinessEvent::json`] for the
    /// body). [`Context::psid`] is set when the caller named a person.
    fn on_business(_cx: &Context, _event: &BusinessEvent) -> Result<Verdict, Error> {
        Ok(Verdict::Continue)
    }
    /// The host erased what it kept about [`Context::psid`] (an operator's
    /// `switchboard people erase`, or Meta's data deletion callback): delete
    /// what this plugin keeps about them. Declare `person-erased` in
    /// [`PluginInfo::event_kinds`] (or declare none) to receive it.
    fn on_person_erased(_cx: &Context) -> Result<Verdict, Error> {
        Ok(Verdict::Continue)
    }
    /// Every other kind (account linking, message edits, game plays...),
    /// including kinds newer than this SDK ([`EventKind::Unknown`]).
    fn on_other(_cx: &Context, _event: &Event) -> Result<Verdict, Error> {
        Ok(Verdict::Continue)
    }
}

#[doc(hidden)]
pub fn __describe<P: Plugin>(package: &str, version: &str) -> wit::PluginInfo {
    let info = P::info();
    let or = |value: String, default: &str| if value.is_empty() { default.to_string() } else { value };
    wit::PluginInfo { name: or(info.name, package), version: or(info.version, version), event_kinds: info.event_kinds }
}

#[doc(hidden)]
pub fn __handle<P: Plugin>(resource: &crate::bindings::switchboard::plugin::events::Event) -> Result<Verdict, wit::Failure> {
    // A panic's message goes to stderr, where the host reads it to report
    // the failure as a panic, and to the host's log, tagged with the
    // plugin, Page and event, before the trap ends the instance.
    std::panic::set_hook(Box::new(|panic| {
        eprintln!("plugin {panic}");
        crate::log::error(format!("plugin {panic}"));
    }));
    let event = Event::read(resource);
    let cx = Context::new(&event);
    P::handle(&cx, &event).map_err(|e| match e.is_permanent() {
        true => wit::Failure::Permanent(e.to_string()),
        false => wit::Failure::Transient(e.to_string()),
    })
}
