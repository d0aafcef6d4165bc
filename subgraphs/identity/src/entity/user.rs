//! `identity.users`: a person in exactly one tenant, keyed by `(tenant_id, id)`.

use sea_orm::entity::prelude::*;

/// A user row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "identity", table_name = "users")]
pub struct Model {
    /// The owning tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// The user's id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Email address, unique per tenant regardless of case.
    pub email: String,
    /// Name shown to others.
    pub display_name: String,
    /// Role names (see `tenancy::Role`).
    pub roles: Vec<String>,
    /// When the email address was verified.
    pub email_verified_at: Option<DateTimeWithTimeZone>,
    /// Created.
    pub created_at: DateTimeWithTimeZone,
    /// Last changed.
    pub updated_at: DateTimeWithTimeZone,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
