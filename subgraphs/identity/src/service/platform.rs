//! Platform staff's work on tenants, through the audited platform path: listing tenants, and
//! suspending and resuming them. A suspension is also raised in Redis, where every subgraph
//! checks it per request, so the tenant's unexpired tokens stop working at once.

use chrono::Utc;
use kit::ClientInfo;
use kit::relay::{self, Page, Window};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;
use tenancy::platform::{PlatformScope, PlatformTx, ScopeError};
use tenancy::{AccessError, TenantContext, TenantId};
use uuid::Uuid;

use crate::IdentityError;
use crate::app::Identity;
use crate::entity::tenant;
use crate::service::audit::{self, Actor, Event};

fn scope(ctx: &TenantContext, reason: &str) -> Result<PlatformScope, IdentityError> {
    PlatformScope::staff(ctx, reason).map_err(|e| match e {
        ScopeError::Access(a) => IdentityError::Access(a),
        ScopeError::MissingReason => IdentityError::invalid("reason", "is required"),
    })
}

/// Every tenant, oldest first (platform staff; the reason is recorded).
pub async fn list(
    identity: &Identity,
    ctx: &TenantContext,
    reason: &str,
    window: Window,
) -> Result<Page<tenant::Model>, IdentityError> {
    let scope = scope(ctx, reason)?;
    let tx = PlatformTx::begin(&identity.db, &scope).await?;
    let page = relay::fetch(
        &*tx,
        tenant::Entity::find(),
        tenant::Column::TenantId,
        window,
    )
    .await?;
    tx.commit().await?;
    Ok(page)
}

/// Suspends (`suspend = true`) or resumes a tenant, with a reason recorded in the platform
/// access log and in the tenant's own audit log.
pub async fn set_suspended(
    identity: &Identity,
    ctx: &TenantContext,
    tenant_id: Uuid,
    suspend: bool,
    reason: &str,
    client: ClientInfo,
) -> Result<tenant::Model, IdentityError> {
    let scope = scope(ctx, reason)?;
    let staff = ctx.require_user()?;
    let target = TenantId::from_uuid(tenant_id);
    if target.is_platform() {
        return Err(IdentityError::invalid(
            "id",
            "the platform tenant cannot be suspended",
        ));
    }
    let tx = PlatformTx::begin(&identity.db, &scope).await?;
    let found = tenant::Entity::find()
        .filter(tenant::Column::TenantId.eq(tenant_id))
        .one(&*tx)
        .await?
        .ok_or(IdentityError::NotFound("tenant"))?;
    let mut row: tenant::ActiveModel = found.into();
    row.status = Set(if suspend { "suspended" } else { "active" }.into());
    row.suspended_at = Set(suspend.then(|| Utc::now().into()));
    row.updated_at = Set(Utc::now().into());
    let updated = row.update(&*tx).await?;
    let action = if suspend {
        "platform.tenant_suspend"
    } else {
        "platform.tenant_resume"
    };
    audit::record(
        &*tx,
        target,
        Event::success(action, Actor::Platform(staff.as_uuid()), client)
            .subject(tenant_id)
            .detail(json!({ "reason": reason })),
    )
    .await?;
    // Raise the flag before committing a suspension (so no moment exists where the database
    // says suspended but tokens still work), and clear it only after a resumption commits.
    let memory = &identity.suspensions;
    if suspend {
        kit::revocation::set_suspended(&identity.redis, target, true, memory).await?;
        if let Err(e) = tx.commit().await {
            kit::revocation::set_suspended(&identity.redis, target, false, memory).await?;
            return Err(e.into());
        }
    } else {
        tx.commit().await?;
        kit::revocation::set_suspended(&identity.redis, target, false, memory).await?;
    }
    tracing::warn!(tenant = %target, staff = %staff, suspend, "tenant suspension changed");
    Ok(updated)
}

/// Makes Redis agree with the database about which tenants are suspended (at start-up: Redis
/// may have restarted empty, or a change may have half-failed).
pub async fn sync_suspensions(identity: &Identity) -> Result<usize, IdentityError> {
    let scope = PlatformScope::job("identity.sync_suspensions", "start-up reconciliation")
        .map_err(|_| IdentityError::Access(AccessError::Forbidden))?;
    let tx = PlatformTx::begin(&identity.db, &scope).await?;
    let tenants = tenant::Entity::find().all(&*tx).await?;
    tx.commit().await?;
    let flags: Vec<(TenantId, bool)> = tenants
        .iter()
        .map(|t| (TenantId::from_uuid(t.tenant_id), t.status == "suspended"))
        .collect();
    let suspended = flags.iter().filter(|(_, s)| *s).count();
    kit::revocation::reconcile(&identity.redis, flags, &identity.suspensions).await?;
    Ok(suspended)
}
