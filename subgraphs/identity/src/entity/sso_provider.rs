//! `identity.sso_providers`: a tenant's OpenID Connect provider for single sign-on (the client
//! secret only sealed).

use sea_orm::entity::prelude::*;

/// A `sso_providers` row.
#[derive(Clone, PartialEq, DeriveEntityModel)]
#[sea_orm(schema_name = "identity", table_name = "sso_providers")]
pub struct Model {
    /// The owning tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// Row id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// What users see on the sign-in button.
    pub name: String,
    /// The provider's issuer URL (discovery is at `<issuer>/.well-known/openid-configuration`).
    pub issuer: String,
    /// Our client id at the provider.
    pub client_id: String,
    /// Our client secret at the provider, sealed with `sso:<tenant>:<id>` as associated data.
    pub client_secret_sealed: Vec<u8>,
    /// Lowercase email domains allowed to sign in; empty allows any.
    pub allowed_domains: Vec<String>,
    /// The role of users created on their first sign-in.
    pub default_role: String,
    /// Whether sign-in through it is allowed.
    pub enabled: bool,
    /// Created.
    pub created_at: DateTimeWithTimeZone,
    /// Last changed.
    pub updated_at: DateTimeWithTimeZone,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("tenant_id", &self.tenant_id)
            .field("id", &self.id)
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
