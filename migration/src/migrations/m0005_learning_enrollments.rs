//! Enrollments of students in courses and their per-lesson progress.

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
            "CREATE TABLE learning.enrollments (
               tenant_id uuid NOT NULL,
               id uuid NOT NULL,
               course_id uuid NOT NULL,
               -- An identity user of the same tenant.
               student_id uuid NOT NULL,
               status text NOT NULL
                 CHECK (status IN ('pending_payment', 'active', 'completed', 'revoked')),
               source text NOT NULL CHECK (source IN ('free', 'admin', 'purchase', 'partner')),
               created_at timestamptz NOT NULL DEFAULT now(),
               activated_at timestamptz,
               completed_at timestamptz,
               revoked_at timestamptz,
               updated_at timestamptz NOT NULL DEFAULT now(),
               PRIMARY KEY (tenant_id, id),
               FOREIGN KEY (tenant_id, course_id) REFERENCES learning.courses (tenant_id, id)
                 ON DELETE CASCADE,
               CONSTRAINT enrollments_student_key UNIQUE (tenant_id, course_id, student_id)
             );
             CREATE INDEX enrollments_student_idx ON learning.enrollments (tenant_id, student_id);

             CREATE TABLE learning.lesson_progress (
               tenant_id uuid NOT NULL,
               enrollment_id uuid NOT NULL,
               lesson_id uuid NOT NULL,
               started_at timestamptz NOT NULL DEFAULT now(),
               completed_at timestamptz,
               video_position_secs integer NOT NULL DEFAULT 0 CHECK (video_position_secs >= 0),
               updated_at timestamptz NOT NULL DEFAULT now(),
               PRIMARY KEY (tenant_id, enrollment_id, lesson_id),
               FOREIGN KEY (tenant_id, enrollment_id) REFERENCES learning.enrollments (tenant_id, id)
                 ON DELETE CASCADE,
               FOREIGN KEY (tenant_id, lesson_id) REFERENCES learning.lessons (tenant_id, id)
                 ON DELETE CASCADE
             );

             GRANT SELECT, INSERT, UPDATE ON learning.enrollments TO {ROLE};
             GRANT SELECT, INSERT, UPDATE, DELETE ON learning.lesson_progress TO {ROLE};
             GRANT SELECT ON learning.enrollments, learning.lesson_progress TO {PLATFORM};"
        ))
        .await?;
        make_tenant_owned(manager, "learning", "enrollments").await?;
        make_tenant_owned(manager, "learning", "lesson_progress").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "DROP TABLE learning.lesson_progress; DROP TABLE learning.enrollments;",
            )
            .await?;
        Ok(())
    }
}
