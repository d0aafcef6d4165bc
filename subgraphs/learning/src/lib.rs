//! The learning subgraph: courses with their ordered modules and lessons, published to a
//! tenant's catalog. Other subgraphs reference `Course`; instructors are identity's `User`s.
//!
//! Layers: `graphql` translates, `service` decides (permissions, validation, transactions),
//! `entity` stores.

pub mod entity;
pub mod error;
pub mod graphql;
pub mod service;

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};
use kit::server::Deps;
use kit::{Config, Parts, RunError};

pub use error::LearningError;

/// The subgraph's name: its process, its database role (`aula_learning`) and its schema.
pub const NAME: &str = "learning";

/// The schema, without data; the kit adds the database pool and limits.
pub fn schema() -> SchemaBuilder<graphql::Query, graphql::Mutation, EmptySubscription> {
    Schema::build(
        graphql::Query::default(),
        graphql::Mutation::default(),
        EmptySubscription,
    )
}

/// Builds learning for `kit::run`: its schema with the object storage media live in (the kit
/// supplies the pool).
pub async fn build(
    deps: &mut Deps,
    _config: &Config,
) -> Result<Parts<graphql::Query, graphql::Mutation, EmptySubscription>, RunError> {
    let storage = deps.storage.clone().ok_or_else(|| {
        RunError::Service(
            "learning keeps course media in object storage: configure [storage] \
             (AULA_STORAGE__BUCKET, AULA_STORAGE__ENDPOINT, AULA_STORAGE__ACCESS_KEY_ID, …)"
                .into(),
        )
    })?;
    Ok(Parts::from(schema().data(storage)))
}
