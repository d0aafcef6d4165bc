//! Platform staff's GraphQL: every tenant, and suspending and resuming one. Each call names a
//! reason, recorded in the platform access log and the tenant's audit log.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object, Result};
use kit::ResultExt;
use kit::graphql::{caller, client};
use kit::relay::{self, PageArgs};

use crate::graphql::auth::identity;
use crate::graphql::{Tenant, parse_id};
use crate::service::platform;

/// Every tenant, oldest first (platform staff only).
pub(crate) async fn tenants(
    ctx: &Context<'_>,
    reason: &str,
    page: PageArgs,
) -> Result<Connection<String, Tenant>> {
    let caller = caller(ctx)?;
    let window = page.window().gql()?;
    let page = platform::list(identity(ctx), caller, reason, window)
        .await
        .gql()?;
    Ok(relay::connection(page, |t| t.tenant_id, Tenant))
}

/// Platform staff's mutations.
#[derive(Debug, Default)]
pub struct PlatformMutation;

#[Object]
impl PlatformMutation {
    /// Suspends a tenant: its users cannot sign in and its tokens stop working at once.
    async fn suspend_tenant(&self, ctx: &Context<'_>, id: ID, reason: String) -> Result<Tenant> {
        let caller = caller(ctx)?;
        let id = parse_id("id", &id)?;
        platform::set_suspended(identity(ctx), caller, id, true, &reason, client(ctx))
            .await
            .gql()
            .map(Tenant)
    }

    /// Resumes a suspended tenant.
    async fn resume_tenant(&self, ctx: &Context<'_>, id: ID, reason: String) -> Result<Tenant> {
        let caller = caller(ctx)?;
        let id = parse_id("id", &id)?;
        platform::set_suspended(identity(ctx), caller, id, false, &reason, client(ctx))
            .await
            .gql()
            .map(Tenant)
    }
}
