//! `learning.live_sessions`: a scheduled live session of a cohort.

use sea_orm::entity::prelude::*;

/// A session row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "learning", table_name = "live_sessions")]
pub struct Model {
    /// The owning tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// The session's id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Its cohort.
    pub cohort_id: Uuid,
    /// Title.
    pub title: String,
    /// Start.
    pub starts_at: DateTimeWithTimeZone,
    /// Length.
    pub duration_minutes: i32,
    /// Where it happens (https only).
    pub meeting_url: String,
    /// Created.
    pub created_at: DateTimeWithTimeZone,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
