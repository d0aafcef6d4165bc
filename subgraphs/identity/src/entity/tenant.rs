//! `identity.tenants`: one row per tenant, keyed (and isolated) by its own `tenant_id`.

use sea_orm::entity::prelude::*;

/// A tenant row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(schema_name = "identity", table_name = "tenants")]
pub struct Model {
    /// The tenant's id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// Unique, URL-safe short name (the platform subdomain).
    pub slug: String,
    /// Display name.
    pub name: String,
    /// `active` or `suspended`.
    pub status: String,
    /// Public branding (colours, logo URL), free-form.
    pub branding: Json,
    /// Roles whose holders must use MFA.
    pub mfa_required_roles: Vec<String>,
    /// When the tenant was suspended.
    pub suspended_at: Option<DateTimeWithTimeZone>,
    /// Created.
    pub created_at: DateTimeWithTimeZone,
    /// Last changed.
    pub updated_at: DateTimeWithTimeZone,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
