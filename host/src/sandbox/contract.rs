//! Which published version of `switchboard:plugin` a component targets,
//! and its exports called in that version's terms. A component exports
//! exactly one version's `handler`; the linker holds every version's
//! imports, so it links whichever it was built against, and what it
//! returns is turned into the host's own [`Verdict`] and [`HandleFailure`].

use std::sync::Arc;

use wasmtime::component::InstancePre;
use wasmtime::Store;

use super::bindings::EventResource;
use super::bindings::{v0_1, v0_2};
use super::event_model;
use super::{InvocationState, PluginInfo};
use crate::model::InboundEvent;

/// What the host does after a plugin handled an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Pass the event on to the next plugin of the Page.
    Continue,
    /// Later plugins do not see it.
    Stop,
}

/// A plugin's own report that it could not handle an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandleFailure {
    pub message: String,
    /// The plugin says a retry would fail the same way (0.2's
    /// `failure::permanent`); 0.1 cannot say so.
    pub permanent: bool,
}

/// A component linked and checked against one version's world.
pub enum ContractPre {
    V0_2(v0_2::PluginPre<InvocationState>),
    V0_1(v0_1::PluginPre<InvocationState>),
}

impl ContractPre {
    /// The newest version whose `handler` the component exports.
    pub fn new(pre: InstancePre<InvocationState>) -> anyhow::Result<Self> {
        let newest = match v0_2::PluginPre::new(pre.clone()) {
            Ok(p) => return Ok(ContractPre::V0_2(p)),
            Err(e) => e,
        };
        v0_1::PluginPre::new(pre).map(ContractPre::V0_1).map_err(|_| {
            anyhow::anyhow!(
                "it exports neither switchboard:plugin/handler@0.2.0 nor @0.1.0 ({newest}); build it with a Switchboard SDK or against wit/"
            )
        })
    }

    /// The contract version, as the WIT package spells it.
    pub fn version(&self) -> &'static str {
        match self {
            ContractPre::V0_2(_) => "0.2.0",
            ContractPre::V0_1(_) => "0.1.0",
        }
    }

    pub async fn describe(&self, store: &mut Store<InvocationState>) -> wasmtime::Result<PluginInfo> {
        Ok(match self {
            ContractPre::V0_2(pre) => {
                let info = pre.instantiate_async(&mut *store).await?.switchboard_plugin_handler().call_describe(&mut *store).await?;
                PluginInfo { name: info.name, version: info.version, event_kinds: info.event_kinds }
            }
            ContractPre::V0_1(pre) => {
                let info = pre.instantiate_async(&mut *store).await?.switchboard_plugin_handler().call_describe(&mut *store).await?;
                PluginInfo { name: info.name, version: info.version, event_kinds: info.event_kinds }
            }
        })
    }

    /// Instantiates the component and hands it `event`.
    pub async fn handle(
        &self,
        store: &mut Store<InvocationState>,
        event: &Arc<InboundEvent>,
    ) -> wasmtime::Result<Result<Verdict, HandleFailure>> {
        use v0_2::exports::switchboard::plugin::handler as new;
        match self {
            ContractPre::V0_2(pre) => {
                let instance = pre.instantiate_async(&mut *store).await?;
                let resource = store.data_mut().table().push(EventResource(event.clone()))?;
                let outcome = instance.switchboard_plugin_handler().call_handle(&mut *store, resource).await?;
                Ok(match outcome {
                    Ok(new::Verdict::Continue) => Ok(Verdict::Continue),
                    Ok(new::Verdict::Stop) => Ok(Verdict::Stop),
                    Err(new::Failure::Transient(message)) => Err(HandleFailure { message, permanent: false }),
                    Err(new::Failure::Permanent(message)) => Err(HandleFailure { message, permanent: true }),
                })
            }
            ContractPre::V0_1(pre) => {
                use v0_1::exports::switchboard::plugin::handler as old;
                let record = event_model::v0_1::to_wit(event);
                let instance = pre.instantiate_async(&mut *store).await?;
                let outcome = instance.switchboard_plugin_handler().call_handle(&mut *store, &record).await?;
                Ok(match outcome {
                    Ok(old::Verdict::Continue) => Ok(Verdict::Continue),
                    Ok(old::Verdict::Stop) => Ok(Verdict::Stop),
                    Err(message) => Err(HandleFailure { message, permanent: false }),
                })
            }
        }
    }
}
