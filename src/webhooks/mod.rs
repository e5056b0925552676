//! Webhooks: endpoints receive records and alerts as signed messages
//! (Standard Webhooks), from an outbox written in the records' transaction
//! (`storage::outbox`) and sent by [`sender`], which retries on the
//! specification's schedule. docs/webhooks.md explains the whole.

pub mod addresses;
pub mod cli;
pub mod sender;
pub mod signature;
