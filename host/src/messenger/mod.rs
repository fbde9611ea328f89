//! Everything about talking to Meta: the Graph client and its error
//! classes, the Batch API queue, the Page gate (circuit, pacing, per-person
//! order), a Page's access, the outbox of sends made, user profiles, the
//! Messenger Profile, and the conversation state with the Platform's rules.
//! Nothing here knows of WebAssembly: plugins reach it through
//! `sandbox::capabilities`.

pub mod conversation;
pub mod graph;
pub mod messenger_profile;
pub mod outbox;
pub mod page;
pub mod page_gate;
pub mod profiles;
