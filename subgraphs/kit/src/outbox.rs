//! The transactional outbox relay: events a subgraph wrote to its `<schema>.outbox` table in the
//! same transaction as the change they announce are handed to a [`Handler`] at least once, in
//! order per tenant, and then marked published.
//!
//! Each tenant's events are read and marked inside that tenant's own transaction
//! ([`TenantTx`]), so row-level security applies as everywhere else. An insert trigger
//! (`platform.notify_outbox`) wakes the relay with `NOTIFY <schema>_outbox, '<tenant_id>'`;
//! only finding tenants whose events were missed (at start, and every sweep interval) crosses
//! tenants, through the audited platform path.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use tenancy::platform::{PlatformScope, PlatformTx};
use tenancy::{TenantContext, TenantId, TenantTx};
use uuid::Uuid;

/// One event from an outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxEvent {
    /// The tenant it belongs to.
    pub tenant: TenantId,
    /// Its id (events are handed over by `created_at`, then id).
    pub id: Uuid,
    /// What happened, e.g. `course.published`.
    pub topic: String,
    /// The details.
    pub payload: serde_json::Value,
    /// When the change was committed.
    pub created_at: DateTime<Utc>,
}

/// What the relay hands events to. An error leaves the event (and the tenant's later ones)
/// unpublished; the relay tries again at the next notification or sweep.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Acts on one event. Must be idempotent: an event may be handed over more than once.
    async fn handle(&self, event: &OutboxEvent) -> Result<(), String>;
}

/// Relays one schema's outbox.
#[derive(Clone)]
pub struct Relay {
    db: DatabaseConnection,
    schema: &'static str,
    job: &'static str,
    handler: Arc<dyn Handler>,
    sweep_every: Duration,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("schema", &self.schema)
            .field("job", &self.job)
            .finish_non_exhaustive()
    }
}

/// Events read per tenant transaction.
const BATCH: i64 = 100;

/// Stops the relay's task when dropped.
#[derive(Debug)]
pub struct RelayTask(tokio::task::JoinHandle<()>);

impl Drop for RelayTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Relay {
    /// A relay of `<schema>.outbox` on `db` (the subgraph's pool), running as the platform job
    /// `job` when it sweeps, handing events to `handler`.
    pub fn new(
        db: DatabaseConnection,
        schema: &'static str,
        job: &'static str,
        handler: Arc<dyn Handler>,
    ) -> Self {
        Self {
            db,
            schema,
            job,
            handler,
            sweep_every: Duration::from_secs(300),
        }
    }

    /// How often to look for tenants whose notification was missed (default 5 minutes).
    pub fn sweep_every(mut self, every: Duration) -> Self {
        self.sweep_every = every;
        self
    }

    /// Runs the relay in the background until the returned task is dropped.
    pub fn spawn(self) -> RelayTask {
        RelayTask(tokio::spawn(async move { self.run().await }))
    }

    async fn run(self) {
        let channel = format!("{}_outbox", self.schema);
        loop {
            let mut listener = match self.listen(&channel).await {
                Ok(l) => Some(l),
                Err(err) => {
                    tracing::warn!(%err, channel, "outbox relay cannot listen; sweeping only");
                    None
                }
            };
            self.sweep_logged().await;
            loop {
                let Some(l) = listener.as_mut() else {
                    tokio::time::sleep(self.sweep_every.min(Duration::from_secs(5))).await;
                    break;
                };
                tokio::select! {
                    note = l.recv() => match note {
                        Ok(note) => match note.payload().parse::<TenantId>() {
                            Ok(tenant) => self.drain_logged(tenant).await,
                            Err(_) => tracing::warn!(payload = note.payload(), "outbox notification without a tenant"),
                        },
                        Err(err) => {
                            tracing::warn!(%err, "outbox relay lost its listener; reconnecting");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            break;
                        }
                    },
                    () = tokio::time::sleep(self.sweep_every) => self.sweep_logged().await,
                }
            }
        }
    }

    async fn listen(&self, channel: &str) -> Result<PgListener, sea_orm::sqlx::Error> {
        let mut listener = PgListener::connect_with(self.db.get_postgres_connection_pool()).await?;
        listener.listen(channel).await?;
        Ok(listener)
    }

    async fn sweep_logged(&self) {
        match self.sweep().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, schema = self.schema, "outbox sweep relayed"),
            Err(err) => tracing::warn!(%err, schema = self.schema, "outbox sweep failed"),
        }
    }

    async fn drain_logged(&self, tenant: TenantId) {
        if let Err(err) = self.drain(tenant).await {
            tracing::warn!(%err, %tenant, schema = self.schema, "outbox relay failed");
        }
    }

    /// Finds every tenant with unpublished events (an audited platform read) and drains each.
    /// Returns how many events were relayed.
    pub async fn sweep(&self) -> Result<usize, RelayError> {
        let scope = PlatformScope::job(
            self.job,
            "relay outbox events whose notification was missed",
        )
        .map_err(|e| RelayError::Handler(e.to_string()))?;
        let tx = PlatformTx::begin(&self.db, &scope).await?;
        let rows = tx
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                format!(
                    "SELECT DISTINCT tenant_id FROM {}.outbox WHERE published_at IS NULL",
                    self.schema
                ),
            ))
            .await?;
        tx.commit().await?;
        let mut relayed = 0;
        for row in rows {
            let tenant: Uuid = row.try_get("", "tenant_id")?;
            relayed += self.drain(TenantId::from_uuid(tenant)).await?;
        }
        Ok(relayed)
    }

    /// Hands `tenant`'s unpublished events to the handler in order, a batch per transaction,
    /// until none are left or the handler fails. Returns how many were relayed.
    pub async fn drain(&self, tenant: TenantId) -> Result<usize, RelayError> {
        let ctx = TenantContext::anonymous(tenant);
        let mut relayed = 0;
        loop {
            let tx = TenantTx::begin(&self.db, &ctx).await?;
            // SKIP LOCKED: another replica draining the same tenant takes the next events.
            let rows = tx
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    format!(
                        "SELECT id, topic, payload, created_at FROM {}.outbox
                         WHERE published_at IS NULL ORDER BY created_at, id LIMIT $1
                         FOR UPDATE SKIP LOCKED",
                        self.schema
                    ),
                    [BATCH.into()],
                ))
                .await?;
            if rows.is_empty() {
                tx.commit().await?;
                return Ok(relayed);
            }
            let full = rows.len() as i64 == BATCH;
            let mut done = Vec::with_capacity(rows.len());
            let mut failure = None;
            for row in rows {
                let event = OutboxEvent {
                    tenant,
                    id: row.try_get("", "id")?,
                    topic: row.try_get("", "topic")?,
                    payload: row.try_get("", "payload")?,
                    created_at: row
                        .try_get::<DateTime<chrono::FixedOffset>>("", "created_at")?
                        .with_timezone(&Utc),
                };
                if let Err(err) = self.handler.handle(&event).await {
                    failure = Some(RelayError::Handler(format!(
                        "{} {}: {err}",
                        event.topic, event.id
                    )));
                    break;
                }
                done.push(event.id);
            }
            if !done.is_empty() {
                tx.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    format!(
                        "UPDATE {}.outbox SET published_at = now() WHERE id = ANY($1)",
                        self.schema
                    ),
                    [done.clone().into()],
                ))
                .await?;
            }
            tx.commit().await?;
            relayed += done.len();
            if let Some(err) = failure {
                return Err(err);
            }
            if !full {
                return Ok(relayed);
            }
        }
    }
}

/// Why relaying stopped.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
    /// The handler refused an event.
    #[error("handler: {0}")]
    Handler(String),
}
