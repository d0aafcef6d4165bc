//! Identity's GraphQL API: resolvers translate arguments into service calls and models into
//! types; they decide nothing themselves.

mod types;

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, Result};
use kit::ResultExt;
use kit::graphql::{caller, db};
use kit::relay::{self, PageArgs};
use uuid::Uuid;

use crate::IdentityError;
use crate::service::{tenants, users};
pub use types::{Tenant, User};

fn parse_id(field: &'static str, id: &ID) -> Result<Uuid> {
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

    /// Federation: resolves a `User` reference from another subgraph (same tenant only).
    #[graphql(entity)]
    async fn find_user_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        self.user(ctx, id).await
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

/// Mutation root.
#[derive(Debug, Default)]
pub struct Mutation;

#[Object]
impl Mutation {
    /// Changes the signed-in user's profile.
    async fn update_profile(&self, ctx: &Context<'_>, input: UpdateProfileInput) -> Result<User> {
        let caller = caller(ctx)?;
        let model = users::update_profile(db(ctx), caller, &input.display_name)
            .await
            .gql()?;
        Ok(User::new(model, caller))
    }
}
