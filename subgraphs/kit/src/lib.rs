//! The bootstrap every Aula subgraph is built on: configuration, telemetry, token verification,
//! error codes, Relay pagination, health and metrics endpoints, limits and graceful shutdown.
//!
//! A subgraph crate provides `schema()` (an async-graphql `SchemaBuilder` of its query,
//! mutation and subscription roots) and hands it to [`run`]; everything else is here, once.

pub mod auth;
pub mod config;
pub mod error;
pub mod graphql;
pub mod relay;
pub mod server;
pub mod telemetry;

pub use config::{Config, Secret};
pub use error::{Code, DomainError, ResultExt};
pub use graphql::Caller;
pub use server::{RunError, run};
