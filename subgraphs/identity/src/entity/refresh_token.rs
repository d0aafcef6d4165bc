//! `identity.refresh_tokens`: one rotated refresh token; a family is one sign-in's chain.

use sea_orm::entity::prelude::*;

/// A `refresh_tokens` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(schema_name = "identity", table_name = "refresh_tokens")]
pub struct Model {
    /// The owning tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// The token's row id (part of the opaque token).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The sign-in this token descends from.
    pub family_id: Uuid,
    /// Whose session.
    pub user_id: Uuid,
    /// SHA-256 of the token's secret.
    pub digest: Vec<u8>,
    /// How the session was authenticated.
    pub amr: Vec<String>,
    /// Issued.
    pub created_at: DateTimeWithTimeZone,
    /// Unusable after.
    pub expires_at: DateTimeWithTimeZone,
    /// When it was exchanged (a second use is reuse).
    pub used_at: Option<DateTimeWithTimeZone>,
    /// When its family was revoked.
    pub revoked_at: Option<DateTimeWithTimeZone>,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
