//! The bootstrap every Aula subgraph is built on: configuration, telemetry, token verification,
//! error codes, Relay pagination, object storage, the outbox relay, health and metrics endpoints, limits and graceful shutdown.
//!
//! A subgraph crate provides its [`Parts`] (an async-graphql `SchemaBuilder` of its query,
//! mutation and subscription roots, plus any HTTP routes of its own) and hands a builder of them
//! to [`run`]; everything else is here, once.

pub mod auth;
pub mod config;
pub mod document;
pub mod error;
pub mod graphql;
pub mod outbox;
pub mod relay;
pub mod revocation;
pub mod server;
pub mod storage;
pub mod telemetry;

pub use config::{Config, Secret};
pub use error::{Code, DomainError, ResultExt};
pub use graphql::{Caller, ClientInfo};
pub use server::{Parts, RunError, run};
