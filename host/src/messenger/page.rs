//! [`PageAccess`]: one Page's token, Graph client, gate, conversation state
//! and profile cache, which every call the host makes for the Page uses.

use std::sync::Arc;

use super::conversation::Conversations;
use super::graph::GraphClient;
use super::page_gate::PageGate;
use super::profiles::UserProfiles;
use crate::config::Secret;
use crate::store::Store;

/// A Page as the host acts for it: with what it takes to call the Graph
/// API and to apply the Platform's rules.
pub struct PageAccess {
    pub page_id: String,
    pub app_id: String,
    pub access_token: Secret,
    pub graph: GraphClient,
    /// Shared with the Page's next [`PageAccess`] after a config reload.
    pub gate: Arc<PageGate>,
    pub conversations: Conversations,
    pub profiles: UserProfiles,
    /// The host's store, for plugins' key-value state.
    pub store: Store,
}
