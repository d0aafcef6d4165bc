//! `identity.outbox`: messages for other domains, written with the change that caused them.

use sea_orm::entity::prelude::*;

/// A `outbox` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(schema_name = "identity", table_name = "outbox")]
pub struct Model {
    /// The owning tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// Time-ordered id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// e.g. `email.invitation`.
    pub topic: String,
    /// The message.
    pub payload: Json,
    /// Written.
    pub created_at: DateTimeWithTimeZone,
    /// Relayed.
    pub published_at: Option<DateTimeWithTimeZone>,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
