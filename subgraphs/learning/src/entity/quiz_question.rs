//! `learning.quiz_questions`: a question of a quiz lesson, with its correct answers.

use sea_orm::entity::prelude::*;

/// A question row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "learning", table_name = "quiz_questions")]
pub struct Model {
    /// The owning tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// The question's id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Its quiz lesson.
    pub lesson_id: Uuid,
    /// 0-based place in the quiz.
    pub position: i32,
    /// `single`, `multiple` or `short`.
    pub kind: String,
    /// The question.
    pub prompt: String,
    /// `[{id, text}]` for choice questions.
    pub choices: Json,
    /// Correct choice ids, or accepted short answers. Never sent to students.
    pub correct: Json,
    /// Points for a correct answer.
    pub points: i32,
    /// Created.
    pub created_at: DateTimeWithTimeZone,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
