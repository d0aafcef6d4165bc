//! `identity.totp`: a user's TOTP seed, sealed; unconfirmed until the first code is verified.

use sea_orm::entity::prelude::*;

/// A `totp` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(schema_name = "identity", table_name = "totp")]
pub struct Model {
    /// The owning tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// The user.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// The seed, sealed with the service key.
    pub secret_sealed: Vec<u8>,
    /// When enrollment was confirmed with a code.
    pub confirmed_at: Option<DateTimeWithTimeZone>,
    /// The last accepted time step (a code is never accepted twice).
    pub last_step: i64,
    /// Enrolled.
    pub created_at: DateTimeWithTimeZone,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
