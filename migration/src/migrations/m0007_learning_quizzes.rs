//! Quizzes: a quiz lesson's question bank and its students' graded attempts. Correct answers
//! live only here and are never sent to students.

use sea_orm_migration::prelude::*;

use crate::roles::{LEARNING as ROLE, PLATFORM};
use crate::tenant_owned::make_tenant_owned;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "ALTER TABLE learning.lessons
               ADD COLUMN pass_mark_percent integer NOT NULL DEFAULT 70
                 CHECK (pass_mark_percent BETWEEN 0 AND 100),
               ADD COLUMN max_attempts integer NOT NULL DEFAULT 3
                 CHECK (max_attempts BETWEEN 1 AND 100),
               ADD COLUMN pass_required boolean NOT NULL DEFAULT true;

             CREATE TABLE learning.quiz_questions (
               tenant_id uuid NOT NULL,
               id uuid NOT NULL,
               lesson_id uuid NOT NULL,
               position integer NOT NULL CHECK (position >= 0),
               kind text NOT NULL CHECK (kind IN ('single', 'multiple', 'short')),
               prompt text NOT NULL CHECK (length(btrim(prompt)) BETWEEN 1 AND 2000),
               -- [{{id, text}}] for single and multiple choice; [] for short answers.
               choices jsonb NOT NULL DEFAULT '[]',
               -- The correct choice ids, or the accepted short answers.
               correct jsonb NOT NULL,
               points integer NOT NULL DEFAULT 1 CHECK (points BETWEEN 1 AND 100),
               created_at timestamptz NOT NULL DEFAULT now(),
               PRIMARY KEY (tenant_id, id),
               FOREIGN KEY (tenant_id, lesson_id) REFERENCES learning.lessons (tenant_id, id)
                 ON DELETE CASCADE
             );
             CREATE INDEX quiz_questions_lesson_idx ON learning.quiz_questions (tenant_id, lesson_id);

             CREATE TABLE learning.quiz_attempts (
               tenant_id uuid NOT NULL,
               id uuid NOT NULL,
               enrollment_id uuid NOT NULL,
               lesson_id uuid NOT NULL,
               answers jsonb NOT NULL,
               score integer NOT NULL CHECK (score >= 0),
               max_score integer NOT NULL CHECK (max_score >= 0),
               passed boolean NOT NULL,
               submitted_at timestamptz NOT NULL DEFAULT now(),
               PRIMARY KEY (tenant_id, id),
               FOREIGN KEY (tenant_id, enrollment_id) REFERENCES learning.enrollments (tenant_id, id)
                 ON DELETE CASCADE,
               FOREIGN KEY (tenant_id, lesson_id) REFERENCES learning.lessons (tenant_id, id)
                 ON DELETE CASCADE
             );
             CREATE INDEX quiz_attempts_enrollment_idx
               ON learning.quiz_attempts (tenant_id, enrollment_id, lesson_id);

             GRANT SELECT, INSERT, UPDATE, DELETE ON learning.quiz_questions TO {ROLE};
             GRANT SELECT, INSERT, DELETE ON learning.quiz_attempts TO {ROLE};
             GRANT SELECT ON learning.quiz_questions, learning.quiz_attempts TO {PLATFORM};"
        ))
        .await?;
        make_tenant_owned(manager, "learning", "quiz_questions").await?;
        make_tenant_owned(manager, "learning", "quiz_attempts").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "DROP TABLE learning.quiz_attempts; DROP TABLE learning.quiz_questions;
                 ALTER TABLE learning.lessons DROP COLUMN pass_mark_percent,
                   DROP COLUMN max_attempts, DROP COLUMN pass_required;",
            )
            .await?;
        Ok(())
    }
}
