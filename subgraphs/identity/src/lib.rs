//! The identity subgraph: tenants, their users and roles. Every other subgraph trusts the
//! tokens it issues and resolves `User` and `Tenant` entities through it.
//!
//! Layers: `graphql` translates, `service` decides (permissions, validation, transactions),
//! `entity` stores.

pub mod entity;
pub mod error;
pub mod graphql;
pub mod service;

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};

pub use error::IdentityError;

/// The subgraph's name: its process, its database role (`aula_identity`) and its schema.
pub const NAME: &str = "identity";

/// The schema roots.
pub type IdentitySchema = Schema<graphql::Query, graphql::Mutation, EmptySubscription>;

/// The schema, without data; the kit adds the database pool and limits.
pub fn schema() -> SchemaBuilder<graphql::Query, graphql::Mutation, EmptySubscription> {
    Schema::build(graphql::Query, graphql::Mutation, EmptySubscription)
}
