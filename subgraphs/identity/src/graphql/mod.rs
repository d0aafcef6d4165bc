//! Identity's GraphQL API: resolvers translate arguments into service calls and models into
//! types; they decide nothing themselves.

mod account;
mod auth;
mod invitations;
pub mod loaders;
mod platform;
mod sso;
mod types;

use async_graphql::connection::Connection;
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, InputObject, MergedObject, Object, Result};
use chrono::{DateTime, Utc};
use kit::ResultExt;
use kit::graphql::{caller, db};
use kit::relay::{self, PageArgs};
use tenancy::Role;
use uuid::Uuid;

use crate::IdentityError;
use crate::service::{audit, tenants, users};
pub use auth::{AuthMutation, MfaChallenge, Session, SignInResult};
pub use types::{ApiClient, AuditEntry, Tenant, User};

pub(crate) fn parse_id(field: &'static str, id: &ID) -> Result<Uuid> {
    Uuid::parse_str(id)
        .map_err(|_| IdentityError::invalid(field, "is not a valid id"))
        .gql()
}

/// Query root.
#[derive(Debug, Default)]
pub struct Query;

#[Object]
impl Query {
    /// The signed-in user.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<User> {
        let caller = caller(ctx)?;
        let model = users::viewer(db(ctx), caller).await.gql()?;
        Ok(User::new(model, caller))
    }

    /// The caller's tenant.
    async fn tenant(&self, ctx: &Context<'_>) -> Result<Tenant> {
        let caller = caller(ctx)?;
        tenants::current(db(ctx), caller).await.gql().map(Tenant)
    }

    /// A user of the caller's tenant.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        let caller = caller(ctx)?;
        let id = parse_id("id", &id)?;
        Ok(users::get(db(ctx), caller, id)
            .await
            .gql()?
            .map(|m| User::new(m, caller)))
    }

    /// The tenant's users, oldest first (owners and admins; partners with `identity:users:read`).
    async fn users(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<String, User>> {
        let caller = caller(ctx)?;
        let window = PageArgs {
            first,
            after,
            last,
            before,
        }
        .window()
        .gql()?;
        let page = users::list(db(ctx), caller, window).await.gql()?;
        Ok(relay::connection(page, |m| m.id, |m| User::new(m, caller)))
    }

    /// The tenant's security log, oldest first (`last: n` reads the newest). Owners and admins.
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<String, AuditEntry>> {
        let caller = caller(ctx)?;
        let window = PageArgs {
            first,
            after,
            last,
            before,
        }
        .window()
        .gql()?;
        let filter = filter.map(audit::Filter::from).unwrap_or_default();
        let page = audit::list(db(ctx), caller, &filter, window).await.gql()?;
        Ok(relay::connection(page, |m| m.id, AuditEntry))
    }

    /// The tenant's partner API clients, oldest first. Owners and admins.
    async fn api_clients(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<String, ApiClient>> {
        auth::api_clients(
            ctx,
            PageArgs {
                first,
                after,
                last,
                before,
            },
        )
        .await
    }

    /// The tenant's invitations, oldest first, optionally of one status. Owners and admins.
    async fn invitations(
        &self,
        ctx: &Context<'_>,
        status: Option<invitations::InvitationStatus>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<String, invitations::Invitation>> {
        let page = PageArgs {
            first,
            after,
            last,
            before,
        };
        invitations::list(ctx, status, page).await
    }

    /// What the invitation with this token offers (for the acceptance page; no sign-in
    /// needed). A spent, revoked, expired or unknown token is `UNAUTHENTICATED`.
    async fn invitation(
        &self,
        ctx: &Context<'_>,
        token: String,
    ) -> Result<invitations::InvitationPreview> {
        invitations::preview(ctx, &token).await
    }

    /// The tenant's single sign-on providers, oldest first. Owners and admins.
    async fn sso_providers(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<String, sso::SsoProvider>> {
        sso::sso_providers(
            ctx,
            PageArgs {
                first,
                after,
                last,
                before,
            },
        )
        .await
    }

    /// Every tenant, oldest first: platform staff only, with the reason for looking.
    async fn platform_tenants(
        &self,
        ctx: &Context<'_>,
        reason: String,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<String, Tenant>> {
        let page = PageArgs {
            first,
            after,
            last,
            before,
        };
        platform::tenants(ctx, &reason, page).await
    }

    /// Federation: resolves a `User` reference from another subgraph (same tenant only).
    #[graphql(entity)]
    async fn find_user_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        let caller = caller(ctx)?;
        if caller.is_anonymous() {
            return Err(IdentityError::from(tenancy::AccessError::Unauthenticated)).gql();
        }
        let id = parse_id("id", &id)?;
        let loader = ctx.data::<DataLoader<loaders::UsersById>>()?;
        Ok(loader
            .load_one((caller.tenant(), id))
            .await
            .map_err(|e| kit::error::to_graphql(e.as_ref()))?
            .map(|m| User::new(m, caller)))
    }

    /// Federation: resolves a `Tenant` reference (the caller's own tenant only).
    #[graphql(entity)]
    async fn find_tenant_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Tenant>> {
        let caller = caller(ctx)?;
        let id = parse_id("id", &id)?;
        Ok(tenants::get(db(ctx), caller, id).await.gql()?.map(Tenant))
    }
}

/// Input of `updateProfile`.
#[derive(Debug, InputObject)]
pub struct UpdateProfileInput {
    /// New display name (1 to 100 characters).
    pub display_name: String,
}

/// Which audit entries to read.
#[derive(Debug, Default, InputObject)]
pub struct AuditFilter {
    /// An action (`sign_in.password`) or a whole area (`sign_in`).
    pub action: Option<String>,
    /// Only successes (`true`) or failures (`false`).
    pub success: Option<bool>,
    /// Only this actor.
    pub actor_id: Option<String>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
}

impl From<AuditFilter> for audit::Filter {
    fn from(f: AuditFilter) -> Self {
        Self {
            action: f.action,
            success: f.success,
            actor_id: f.actor_id,
            since: f.since,
            until: f.until,
        }
    }
}

/// Mutation root.
#[derive(Debug, Default, MergedObject)]
pub struct Mutation(
    ProfileMutation,
    AuthMutation,
    account::AccountMutation,
    invitations::InvitationMutation,
    platform::PlatformMutation,
    sso::SsoMutation,
);

/// Profile mutations.
#[derive(Debug, Default)]
pub struct ProfileMutation;

#[Object]
impl ProfileMutation {
    /// Replaces a user's roles (owners and admins; only owners touch ownership, and the last
    /// owner keeps it).
    async fn change_user_roles(&self, ctx: &Context<'_>, id: ID, roles: Vec<Role>) -> Result<User> {
        let caller = caller(ctx)?;
        let id = parse_id("id", &id)?;
        let model = users::change_roles(db(ctx), caller, id, &roles, kit::graphql::client(ctx))
            .await
            .gql()?;
        Ok(User::new(model, caller))
    }

    /// Changes the signed-in user's profile.
    async fn update_profile(&self, ctx: &Context<'_>, input: UpdateProfileInput) -> Result<User> {
        let caller = caller(ctx)?;
        let model = users::update_profile(db(ctx), caller, &input.display_name)
            .await
            .gql()?;
        Ok(User::new(model, caller))
    }
}
