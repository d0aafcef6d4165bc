//! `identity.api_clients`: a partner integration's credentials (the secret only as a digest).

use sea_orm::entity::prelude::*;

/// A `api_clients` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(schema_name = "identity", table_name = "api_clients")]
pub struct Model {
    /// The owning tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// Row id (part of the client id).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// What the integration is.
    pub name: String,
    /// SHA-256 of the secret.
    pub digest: Vec<u8>,
    /// Granted OAuth scopes.
    pub scopes: Vec<String>,
    /// The admin who created it.
    pub created_by: Uuid,
    /// Created.
    pub created_at: DateTimeWithTimeZone,
    /// Last token issued.
    pub last_used_at: Option<DateTimeWithTimeZone>,
    /// Revoked.
    pub revoked_at: Option<DateTimeWithTimeZone>,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
