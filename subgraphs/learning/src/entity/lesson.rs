//! `learning.lessons`: an ordered lesson of a module.

use sea_orm::entity::prelude::*;

/// A lesson row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "learning", table_name = "lessons")]
pub struct Model {
    /// The owning tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// The lesson's id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Its course.
    pub course_id: Uuid,
    /// Its module.
    pub module_id: Uuid,
    /// 0-based place in the module, without gaps.
    pub position: i32,
    /// Title.
    pub title: String,
    /// `text`, `video`, `file` or `quiz`.
    pub kind: String,
    /// Text content (Markdown source).
    pub body: String,
    /// Visible to anyone who can see the course.
    pub free_preview: bool,
    /// Counts towards completion.
    pub required: bool,
    /// Estimated duration.
    pub duration_minutes: i32,
    /// Quiz lessons: the share of points needed to pass.
    pub pass_mark_percent: i32,
    /// Quiz lessons: attempts allowed per enrollment.
    pub max_attempts: i32,
    /// Quiz lessons: whether completing the lesson needs a passed attempt.
    pub pass_required: bool,
    /// Created.
    pub created_at: DateTimeWithTimeZone,
    /// Last changed.
    pub updated_at: DateTimeWithTimeZone,
    /// The lesson's video or file (a ready `learning.media` row).
    pub media_id: Option<Uuid>,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
