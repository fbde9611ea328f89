//! `switchboard:plugin/events@0.2`: the `event` resource a plugin borrows
//! for `handle`. Each accessor builds its record only when asked
//! (`event_model::v0_2`), so a plugin pays for what it reads; none counts
//! as a host call.

use wasmtime::component::{HasData, Resource, ResourceTable};

use crate::model::EventKind as Kind;
use crate::sandbox::bindings::v0_2::switchboard::plugin::events::{
    AccountLinking, AppRole, BusinessEvent, Delivery, Echo, GamePlay, Host, HostEvent, Message, MessageEdit, Optin, PolicyEnforcement,
    Postback, Reaction, Read, Referral, ResponseFeedback, ThreadControlChange, ThreadControlRequest,
};
use crate::sandbox::bindings::EventResource;
use crate::sandbox::event_model::v0_2 as build;

/// The events interface over an invocation's resource table.
pub struct Events<'a> {
    pub table: &'a mut ResourceTable,
}

/// `HasData` for [`Events`], which borrows the store's table.
pub struct EventsData;

impl HasData for EventsData {
    type Data<'a> = Events<'a>;
}

impl Events<'_> {
    /// The event behind `event`. The component model only passes handles
    /// the host gave out, so a miss is a host bug, raised as a trap.
    fn event(&self, event: &Resource<EventResource>) -> wasmtime::Result<&crate::model::InboundEvent> {
        Ok(&self.table.get(event)?.0)
    }

    /// The record built by `build` when the event is of kind `kind`.
    fn when<T>(
        &self,
        event: &Resource<EventResource>,
        kind: Kind,
        build: impl FnOnce(&crate::model::InboundEvent) -> T,
    ) -> wasmtime::Result<Option<T>> {
        let e = self.event(event)?;
        Ok((e.kind == kind).then(|| build(e)))
    }
}

impl Host for Events<'_> {}

impl HostEvent for Events<'_> {
    fn id(&mut self, e: Resource<EventResource>) -> wasmtime::Result<String> {
        Ok(self.event(&e)?.id.clone())
    }
    fn page_id(&mut self, e: Resource<EventResource>) -> wasmtime::Result<String> {
        Ok(self.event(&e)?.page_id.clone())
    }
    fn psid(&mut self, e: Resource<EventResource>) -> wasmtime::Result<Option<String>> {
        Ok(self.event(&e)?.psid.clone())
    }
    fn user_ref(&mut self, e: Resource<EventResource>) -> wasmtime::Result<Option<String>> {
        Ok(self.event(&e)?.user_ref.clone())
    }
    fn timestamp(&mut self, e: Resource<EventResource>) -> wasmtime::Result<u64> {
        Ok(self.event(&e)?.timestamp)
    }
    fn standby(&mut self, e: Resource<EventResource>) -> wasmtime::Result<bool> {
        Ok(self.event(&e)?.standby)
    }
    fn kind(&mut self, e: Resource<EventResource>) -> wasmtime::Result<String> {
        Ok(self.event(&e)?.kind.as_str().to_string())
    }
    fn unknown_key(&mut self, e: Resource<EventResource>) -> wasmtime::Result<Option<String>> {
        Ok(self.event(&e)?.unknown_key.clone())
    }
    fn raw_json(&mut self, e: Resource<EventResource>) -> wasmtime::Result<String> {
        Ok(self.event(&e)?.raw.clone())
    }
    fn message(&mut self, e: Resource<EventResource>) -> wasmtime::Result<Option<Message>> {
        self.when(&e, Kind::Message, build::message)
    }
    fn echo(&mut self, e: Resource<EventResource>) -> wasmtime::Result<Option<Echo>> {
        self.when(&e, Kind::Echo, build::echo)
    }
    fn postback(&mut self, e: Resource<EventResource>) -> wasmtime::Result<Option<Postback>> {
        self.when(&e, Kind::Postback, build::postback)
    }
    fn optin(&mut self, e: Resource<EventResource>) -> wasmtime::Result<Option<Optin>> {
        self.when(&e, Kind::Optin, build::optin)
    }
    fn referral(&mut self, e: Resource<EventResource>) -> wasmtime::Result<Option<Referral>> {
        self.when(&e, Kind::Referral, build::referral)
    }
    fn account_linking(&mut self, e: Resource<EventResource>) -> wasmtime::Result<Option<AccountLinking>> {
        self.when(&e, Kind::AccountLinking, build::account_linking)
    }
    fn delivery(&mut self, e: Resource<EventResource>) -> wasmtime::Result<Option<Delivery>> {
        self.when(&e, Kind::Delivery, build::delivery)
    }
    fn read(&mut self, e: Resource<EventResource>) -> wasmtime::Result<Option<Read>> {
        self.when(&e, Kind::Read, build::read)
    }
    fn reaction(&mut self, e: Resource<EventResource>) -> wasmtime::Result<Option<Reaction>> {
        self.when(&e, Kind::Reaction, build::reaction)
    }
    fn message_edit(&mut self, e: Resource<EventResource>) -> wasmtime::Result<Option<MessageEdit>> {
        self.when(&e, Kind::MessageEdit, build::message_edit)
    }
    fn pass_thread_control(&mut self, e: Resource<EventResource>) -> wasmtime::Result<Option<ThreadControlChange>> {
        self.when(&e, Kind::PassThreadControl, |e| build::thread_change(e, "pass_thread_control"))
    }
    fn take_thread_control(&mut self, e: Resource<EventResource>) -> wasmtime::Result<Option<ThreadControlChange>> {
        self.when(&e, Kind::TakeThreadControl, |e| build::thread_change(e, "take_thread_control"))
    }
    fn request_thread_control(&mut self, e: Resource<EventResource>) -> wasmtime::Result<Option<ThreadControlRequest>> {
        self.when(&e, Kind::RequestThreadControl, build::thread_request)
    }
    fn app_roles(&mut self, e: Resource<EventResource>) -> wasmtime::Result<Option<Vec<AppRole>>> {
        self.when(&e, Kind::AppRoles, build::app_roles)
    }
    fn policy_enforcement(&mut self, e: Resource<EventResource>) -> wasmtime::Result<Option<PolicyEnforcement>> {
        self.when(&e, Kind::PolicyEnforcement, build::policy_enforcement)
    }
    fn game_play(&mut self, e: Resource<EventResource>) -> wasmtime::Result<Option<GamePlay>> {
        self.when(&e, Kind::GamePlay, build::game_play)
    }
    fn response_feedback(&mut self, e: Resource<EventResource>) -> wasmtime::Result<Option<ResponseFeedback>> {
        self.when(&e, Kind::ResponseFeedback, build::response_feedback)
    }
    fn business(&mut self, e: Resource<EventResource>) -> wasmtime::Result<Option<BusinessEvent>> {
        self.when(&e, Kind::Business, build::business)
    }
    fn drop(&mut self, e: Resource<EventResource>) -> wasmtime::Result<()> {
        self.table.delete(e)?;
        Ok(())
    }
}
