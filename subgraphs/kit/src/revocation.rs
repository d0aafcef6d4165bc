//! Tenant suspension flags in Redis: identity raises and clears them, every subgraph checks them
//! on each request, so a suspended tenant's still-unexpired tokens stop working at once.

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use tenancy::TenantId;

fn key(tenant: TenantId) -> String {
    format!("aula:tenant:{tenant}:suspended")
}

/// Whether `tenant` is suspended. Errors (Redis unreachable) must be treated as "cannot tell".
pub async fn is_suspended(redis: &ConnectionManager, tenant: TenantId) -> redis::RedisResult<bool> {
    redis.clone().exists(key(tenant)).await
}

/// Raises or clears `tenant`'s suspension flag.
pub async fn set_suspended(
    redis: &ConnectionManager,
    tenant: TenantId,
    suspended: bool,
) -> redis::RedisResult<()> {
    let mut conn = redis.clone();
    if suspended {
        conn.set(key(tenant), 1).await
    } else {
        conn.del(key(tenant)).await
    }
}

/// Sets every listed tenant's flag to its suspension state in one round trip (start-up
/// reconciliation after Redis lost its data or a change half-failed).
pub async fn reconcile(
    redis: &ConnectionManager,
    tenants: impl IntoIterator<Item = (TenantId, bool)>,
) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    for (tenant, suspended) in tenants {
        if suspended {
            pipe.set(key(tenant), 1).ignore();
        } else {
            pipe.del(key(tenant)).ignore();
        }
    }
    pipe.query_async::<()>(&mut redis.clone()).await
}
