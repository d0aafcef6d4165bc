//! `identity.single_use_tokens`: email verification, password reset and MFA challenges.

use sea_orm::entity::prelude::*;

/// A `single_use_tokens` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(schema_name = "identity", table_name = "single_use_tokens")]
pub struct Model {
    /// The owning tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// Row id (part of the opaque token).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Whose.
    pub user_id: Uuid,
    /// `verify_email`, `reset_password` or `mfa`.
    pub purpose: String,
    /// SHA-256 of the secret.
    pub digest: Vec<u8>,
    /// Purpose-specific facts.
    pub detail: Json,
    /// Failed uses so far.
    pub attempts: i32,
    /// Issued.
    pub created_at: DateTimeWithTimeZone,
    /// Unusable after.
    pub expires_at: DateTimeWithTimeZone,
    /// Spent.
    pub used_at: Option<DateTimeWithTimeZone>,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
