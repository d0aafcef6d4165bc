//! The running identity service: the state its resolvers and HTTP routes share, and [`build`],
//! which `kit::run` calls to assemble it from the configuration.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::EmptySubscription;
use async_graphql::dataloader::DataLoader;
use kit::auth::Verifier;
use kit::config::AuthConfig;
use kit::revocation::Suspensions;
use kit::server::Deps;
use kit::{Config, Parts, RunError};
use redis::aio::ConnectionManager;
use sea_orm::DatabaseConnection;

use crate::crypto::Sealer;
use crate::graphql::loaders::UsersById;
use crate::graphql::{Mutation, Query};
use crate::keys::{KeyRing, RELOAD_INTERVAL};
use crate::settings::Settings;

/// What identity's resolvers and routes share.
#[derive(Debug)]
pub struct Identity {
    /// Pool connected as `aula_identity`.
    pub db: DatabaseConnection,
    /// Rate limits and suspension flags.
    pub redis: ConnectionManager,
    /// Identity's settings.
    pub settings: Settings,
    /// Seals secrets at rest.
    pub sealer: Sealer,
    /// Token signing keys.
    pub keys: Arc<KeyRing>,
    /// Issuer and audience of the tokens identity signs.
    pub auth: AuthConfig,
    /// Verifies identity's own tokens against the key ring, in-process.
    pub verifier: Arc<Verifier>,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// This process's memory of suspension flags (the kit's `Deps::suspensions`), told at once
    /// of identity's own changes.
    pub suspensions: Arc<Suspensions>,
}

impl Identity {
    /// Assembles the state: reads the settings, loads (or creates) the signing keys.
    pub async fn new(
        db: DatabaseConnection,
        redis: ConnectionManager,
        suspensions: Arc<Suspensions>,
        config: &Config,
    ) -> Result<Self, String> {
        let settings: Settings = config.service_settings().map_err(|e| e.to_string())?;
        settings.validate()?;
        let sealer =
            Sealer::from_base64(settings.encryption_key.expose()).map_err(|e| e.to_string())?;
        let ttl = Duration::from_secs(settings.access_token_ttl_secs);
        let keys = Arc::new(
            KeyRing::load(&db, sealer.clone(), ttl)
                .await
                .map_err(|e| format!("loading signing keys: {e}"))?,
        );
        let ring = keys.clone();
        let verifier = Verifier::local(&config.auth, Box::new(move || ring.jwks()))
            .map_err(|e| e.to_string())?;
        Ok(Self {
            db,
            redis,
            settings,
            sealer,
            keys,
            auth: config.auth.clone(),
            verifier: Arc::new(verifier),
            trusted_proxies: config.trusted_proxies.clone(),
            suspensions,
        })
    }
}

/// Builds identity for `kit::run`: [`start`], then the schema and routes.
pub async fn build(
    deps: &mut Deps,
    config: &Config,
) -> Result<Parts<Query, Mutation, EmptySubscription>, RunError> {
    Ok(parts(start(deps, config).await?))
}

/// Starts identity on connected `deps`: the state, identity's own token verifier (put into
/// `deps`), tenant suspension flags reconciled with the database, and the key reloader.
pub async fn start(deps: &mut Deps, config: &Config) -> Result<Arc<Identity>, RunError> {
    let redis = deps.redis.clone().ok_or_else(|| {
        RunError::Service(
            "identity needs Redis (redis_url / AULA_REDIS_URL) for rate limits".into(),
        )
    })?;
    let identity = Identity::new(deps.db.clone(), redis, deps.suspensions.clone(), config)
        .await
        .map_err(RunError::Service)?;
    let identity = Arc::new(identity);
    deps.verifier = identity.verifier.clone();
    let suspended = crate::service::platform::sync_suspensions(&identity)
        .await
        .map_err(|e| RunError::Service(format!("syncing tenant suspensions: {e}")))?;
    tracing::info!(suspended, "tenant suspension flags synced");
    spawn_key_reloader(&identity);
    Ok(identity)
}

/// The schema (with the state) and identity's HTTP routes.
pub fn parts(identity: Arc<Identity>) -> Parts<Query, Mutation, EmptySubscription> {
    Parts {
        schema: crate::schema().data(identity.clone()).data(
            DataLoader::new(UsersById(identity.db.clone()), tokio::spawn).delay(Duration::ZERO),
        ),
        routes: crate::http::routes(identity),
    }
}

/// Rereads the signing keys every [`RELOAD_INTERVAL`] while the service lives.
fn spawn_key_reloader(identity: &Arc<Identity>) {
    let weak = Arc::downgrade(identity);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(RELOAD_INTERVAL).await;
            let Some(identity) = weak.upgrade() else {
                return;
            };
            if let Err(err) = identity.keys.reload(&identity.db).await {
                tracing::warn!(error = %err, "reloading signing keys failed");
            }
        }
    });
}
