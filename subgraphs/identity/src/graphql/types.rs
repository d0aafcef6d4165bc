//! Identity's GraphQL object types and the federation entities `User` and `Tenant`.

use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};
use tenancy::{Role, TenantContext};

use crate::entity::{tenant, user};
use crate::service::users::may_see_private;

/// A person in the tenant. Email and roles are visible to the user and to tenant staff.
#[derive(Debug)]
pub struct User {
    model: user::Model,
    private: bool,
}

impl User {
    pub(crate) fn new(model: user::Model, viewer: &TenantContext) -> Self {
        let private = may_see_private(viewer, &model);
        Self { model, private }
    }
}

#[Object]
impl User {
    /// The user's id.
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }

    /// Name shown to others.
    #[graphql(shareable)]
    async fn display_name(&self) -> &str {
        &self.model.display_name
    }

    /// Email address (the user and tenant staff only; otherwise null).
    async fn email(&self) -> Option<&str> {
        self.private.then_some(self.model.email.as_str())
    }

    /// Roles (the user and tenant staff only; otherwise empty).
    async fn roles(&self) -> Vec<Role> {
        if !self.private {
            return Vec::new();
        }
        self.model
            .roles
            .iter()
            .filter_map(|r| Role::parse(r))
            .collect()
    }

    /// When the user was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at.into()
    }
}

/// A tenant's public face.
#[derive(Debug)]
pub struct Tenant(pub(crate) tenant::Model);

#[Object]
impl Tenant {
    /// The tenant's id.
    async fn id(&self) -> ID {
        ID(self.0.tenant_id.to_string())
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// URL-safe short name.
    async fn slug(&self) -> &str {
        &self.0.slug
    }
}
