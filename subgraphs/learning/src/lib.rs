//! The learning subgraph: courses with their ordered modules and lessons, published to a
//! tenant's catalog. Other subgraphs reference `Course`; instructors are identity's `User`s.
//!
//! Layers: `graphql` translates, `service` decides (permissions, validation, transactions),
//! `entity` stores.

pub mod entity;
pub mod error;
pub mod graphql;
pub mod service;
pub mod settings;

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};
use std::sync::Arc;
use std::time::Duration;

use async_graphql::dataloader::DataLoader;
use graphql::loaders::EnrollmentCounts;
use kit::outbox::Relay;
use kit::server::Deps;
use kit::{Config, Parts, RunError};
use service::events::Events;
use service::meili::Meili;
use service::search::Engine;
use settings::{SearchEngine, Settings};

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

/// Builds learning for `kit::run`: its schema with the object storage media live in and the
/// configured search engine (the kit supplies the pool), and starts the outbox relay, which
/// lives as long as the schema.
pub async fn build(
    deps: &mut Deps,
    config: &Config,
) -> Result<Parts<graphql::Query, graphql::Mutation, EmptySubscription>, RunError> {
    let settings: Settings = config
        .service_settings()
        .map_err(|e| RunError::Service(e.to_string()))?;
    settings.validate().map_err(RunError::Service)?;
    let storage = deps.storage.clone().ok_or_else(|| {
        RunError::Service(
            "learning keeps course media in object storage: configure [storage] \
             (AULA_STORAGE__BUCKET, AULA_STORAGE__ENDPOINT, AULA_STORAGE__ACCESS_KEY_ID, …)"
                .into(),
        )
    })?;
    let engine = Arc::new(match settings.search.engine {
        SearchEngine::Postgres => Engine::Postgres,
        SearchEngine::Meilisearch => {
            let meili = Meili::new(&settings.search);
            meili
                .configure()
                .await
                .map_err(|e| RunError::Service(format!("configuring the search index: {e}")))?;
            Engine::Meilisearch(meili)
        }
    });
    let events = Events::new(deps.db.clone(), storage.clone(), engine.clone());
    let mut relay = Relay::new(
        deps.db.clone(),
        NAME,
        "learning.outbox_relay",
        Arc::new(events),
    );
    if let Some(secs) = settings.outbox_sweep_secs {
        relay = relay.sweep_every(Duration::from_secs(secs.max(1)));
    }
    let relay = Arc::new(relay.spawn());
    let counts = DataLoader::new(EnrollmentCounts(deps.db.clone()), tokio::spawn);
    Ok(Parts::from(
        schema().data(storage).data(engine).data(relay).data(counts),
    ))
}
