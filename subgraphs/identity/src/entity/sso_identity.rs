//! `identity.sso_identities`: which user an OpenID provider's subject is, per provider.

use sea_orm::entity::prelude::*;

/// A `sso_identities` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "identity", table_name = "sso_identities")]
pub struct Model {
    /// The owning tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// The provider (`sso_providers.id`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub provider_id: Uuid,
    /// The provider's `sub` claim.
    #[sea_orm(primary_key, auto_increment = false)]
    pub subject: String,
    /// The user it signs in.
    pub user_id: Uuid,
    /// When it was linked.
    pub created_at: DateTimeWithTimeZone,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
