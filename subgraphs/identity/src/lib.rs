//! The identity subgraph: tenants, their users and roles. Every other subgraph trusts the
//! tokens it issues and resolves `User` and `Tenant` entities through it.
//!
//! Layers: `graphql` and `http` translate, `service` decides (permissions, validation,
//! transactions), `entity` stores. `crypto` and `keys` hold every secret-handling primitive;
//! `app` assembles the running service.

pub mod app;
pub mod crypto;
pub mod entity;
pub mod error;
pub mod graphql;
pub mod http;
pub mod keys;
pub mod service;
pub mod settings;

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};

pub use app::{Identity, build};
pub use error::IdentityError;

/// The subgraph's name: its process, its database role (`aula_identity`) and its schema.
pub const NAME: &str = "identity";

/// The schema roots.
pub type IdentitySchema = Schema<graphql::Query, graphql::Mutation, EmptySubscription>;

/// The schema, without data; the kit adds the database pool and limits.
pub fn schema() -> SchemaBuilder<graphql::Query, graphql::Mutation, EmptySubscription> {
    Schema::build(
        graphql::Query,
        graphql::Mutation::default(),
        EmptySubscription,
    )
}
