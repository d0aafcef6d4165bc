//! Learning's outbox: an event row written in the same transaction as the change it announces.

use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, Set};
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
        created_at: Set(chrono::Utc::now().into()),
        published_at: Set(None),
    }
    .insert(conn)
    .await?;
    Ok(())
}
