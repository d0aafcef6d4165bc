//! `identity.tenant_directory`: public slugs and host names routed to tenants (global).

use sea_orm::entity::prelude::*;

/// A `tenant_directory` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(schema_name = "identity", table_name = "tenant_directory")]
pub struct Model {
    /// Slug or lowercase host name.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// `slug` or `domain`.
    pub kind: String,
    /// The tenant it routes to.
    pub tenant_id: Uuid,
    /// Added.
    pub created_at: DateTimeWithTimeZone,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
