//! `learning.quiz_attempts`: one graded submission of a quiz.

use sea_orm::entity::prelude::*;

/// An attempt row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "learning", table_name = "quiz_attempts")]
pub struct Model {
    /// The owning tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// The attempt's id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Whose.
    pub enrollment_id: Uuid,
    /// The quiz lesson.
    pub lesson_id: Uuid,
    /// The answers as submitted.
    pub answers: Json,
    /// Points scored.
    pub score: i32,
    /// Points possible.
    pub max_score: i32,
    /// Reached the pass mark.
    pub passed: bool,
    /// Submitted.
    pub submitted_at: DateTimeWithTimeZone,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
