//! Learning's outbox: an event row written in the same transaction as the change it announces.

use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, NotSet, Set};
use tenancy::TenantId;

use crate::entity::outbox;

/// Records `topic` with `payload` for `tenant`.
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    topic: &str,
    payload: serde_json::Value,
) -> Result<(), DbErr> {
    outbox::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        id: Set(uuid::Uuid::now_v7()),
        topic: Set(topic.to_owned()),
        payload: Set(payload),
        // The database's clock (`DEFAULT now()`), the one the media trigger's events use too,
        // so the relay orders both kinds alike.
        created_at: NotSet,
        published_at: Set(None),
    }
    .insert(conn)
    .await?;
    Ok(())
}
