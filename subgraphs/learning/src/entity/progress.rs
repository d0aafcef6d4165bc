//! `learning.lesson_progress`: how far an enrollment got in one lesson.

use sea_orm::entity::prelude::*;

/// A progress row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "learning", table_name = "lesson_progress")]
pub struct Model {
    /// The owning tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// The enrollment.
    #[sea_orm(primary_key, auto_increment = false)]
    pub enrollment_id: Uuid,
    /// The lesson.
    #[sea_orm(primary_key, auto_increment = false)]
    pub lesson_id: Uuid,
    /// First opened.
    pub started_at: DateTimeWithTimeZone,
    /// Finished.
    pub completed_at: Option<DateTimeWithTimeZone>,
    /// Where the video was left, in seconds.
    pub video_position_secs: i32,
    /// Last changed.
    pub updated_at: DateTimeWithTimeZone,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
