//! Identity's GraphQL object types and the federation entities `User` and `Tenant`.

use async_graphql::{ID, Json, Object};
use chrono::{DateTime, Utc};
use tenancy::{Role, TenantContext, TenantId};

use crate::crypto;
use crate::entity::{api_client, audit_entry, tenant, user};
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

    /// The user as seen by themself (after signing in).
    pub(crate) fn own(model: user::Model) -> Self {
        Self {
            model,
            private: true,
        }
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

    /// Whether the email address is verified (the user and tenant staff only; otherwise null).
    async fn email_verified(&self) -> Option<bool> {
        self.private
            .then_some(self.model.email_verified_at.is_some())
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

    /// Public branding (colours, logo), free-form.
    async fn branding(&self) -> Json<serde_json::Value> {
        Json(self.0.branding.clone())
    }

    /// Roles whose holders must use multi-factor authentication.
    async fn mfa_required_roles(&self) -> Vec<Role> {
        self.0
            .mfa_required_roles
            .iter()
            .filter_map(|r| Role::parse(r))
            .collect()
    }

    /// Whether the tenant is active or suspended.
    async fn status(&self) -> TenantStatus {
        if self.0.status == "suspended" {
            TenantStatus::Suspended
        } else {
            TenantStatus::Active
        }
    }
}

/// A tenant's standing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, async_graphql::Enum)]
pub enum TenantStatus {
    /// In use.
    Active,
    /// Suspended by platform staff: nobody signs in.
    Suspended,
}

/// A partner integration's credentials (never the secret).
#[derive(Debug)]
pub struct ApiClient(pub(crate) api_client::Model);

#[Object]
impl ApiClient {
    /// The public client id (`aula_ci_…`), used with the secret at the token endpoint.
    async fn client_id(&self) -> String {
        crypto::client_id(TenantId::from_uuid(self.0.tenant_id), self.0.id)
    }

    /// What the integration is.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Granted scopes.
    async fn scopes(&self) -> &[String] {
        &self.0.scopes
    }

    /// Created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at.into()
    }

    /// When it last obtained a token.
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at.map(Into::into)
    }

    /// When it was revoked; revoked clients get no tokens.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at.map(Into::into)
    }
}

/// One security event in the tenant's audit log.
#[derive(Debug)]
pub struct AuditEntry(pub(crate) audit_entry::Model);

#[Object]
impl AuditEntry {
    /// The entry's id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// When it happened.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at.into()
    }

    /// `area.verb`, e.g. `sign_in.password`.
    async fn action(&self) -> &str {
        &self.0.action
    }

    /// Whether it succeeded.
    async fn success(&self) -> bool {
        self.0.outcome == "success"
    }

    /// `user`, `api_client`, `platform`, `anonymous` or `system`.
    async fn actor_kind(&self) -> &str {
        &self.0.actor_kind
    }

    /// The actor's id.
    async fn actor_id(&self) -> Option<&str> {
        self.0.actor_id.as_deref()
    }

    /// What was acted on.
    async fn subject(&self) -> Option<&str> {
        self.0.subject.as_deref()
    }

    /// The client's IP address.
    async fn ip(&self) -> Option<&str> {
        self.0.ip.as_deref()
    }

    /// Event-specific facts.
    async fn detail(&self) -> Json<serde_json::Value> {
        Json(self.0.detail.clone())
    }
}
