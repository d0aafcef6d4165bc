//! Cohorts: optional groups of a course's students with dates, and their scheduled live
//! sessions.

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
            "CREATE TABLE learning.cohorts (
               tenant_id uuid NOT NULL,
               id uuid NOT NULL,
               course_id uuid NOT NULL,
               name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
               starts_on date NOT NULL,
               ends_on date NOT NULL CHECK (ends_on >= starts_on),
               created_at timestamptz NOT NULL DEFAULT now(),
               PRIMARY KEY (tenant_id, id),
               FOREIGN KEY (tenant_id, course_id) REFERENCES learning.courses (tenant_id, id)
                 ON DELETE CASCADE
             );
             CREATE INDEX cohorts_course_idx ON learning.cohorts (tenant_id, course_id);

             -- An enrollment is in at most one cohort (of its course).
             CREATE TABLE learning.cohort_members (
               tenant_id uuid NOT NULL,
               cohort_id uuid NOT NULL,
               enrollment_id uuid NOT NULL,
               added_at timestamptz NOT NULL DEFAULT now(),
               PRIMARY KEY (tenant_id, enrollment_id),
               FOREIGN KEY (tenant_id, cohort_id) REFERENCES learning.cohorts (tenant_id, id)
                 ON DELETE CASCADE,
               FOREIGN KEY (tenant_id, enrollment_id) REFERENCES learning.enrollments (tenant_id, id)
                 ON DELETE CASCADE
             );
             CREATE INDEX cohort_members_cohort_idx ON learning.cohort_members (tenant_id, cohort_id);

             CREATE TABLE learning.live_sessions (
               tenant_id uuid NOT NULL,
               id uuid NOT NULL,
               cohort_id uuid NOT NULL,
               title text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
               starts_at timestamptz NOT NULL,
               duration_minutes integer NOT NULL CHECK (duration_minutes BETWEEN 1 AND 1440),
               meeting_url text NOT NULL CHECK (meeting_url ~ '^https://' AND length(meeting_url) <= 2000),
               created_at timestamptz NOT NULL DEFAULT now(),
               PRIMARY KEY (tenant_id, id),
               FOREIGN KEY (tenant_id, cohort_id) REFERENCES learning.cohorts (tenant_id, id)
                 ON DELETE CASCADE
             );
             CREATE INDEX live_sessions_cohort_idx ON learning.live_sessions (tenant_id, cohort_id, starts_at);

             GRANT SELECT, INSERT, UPDATE, DELETE ON learning.cohorts, learning.cohort_members,
               learning.live_sessions TO {ROLE};
             GRANT SELECT ON learning.cohorts, learning.cohort_members, learning.live_sessions
               TO {PLATFORM};"
        ))
        .await?;
        for table in ["cohorts", "cohort_members", "live_sessions"] {
            make_tenant_owned(manager, "learning", table).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "DROP TABLE learning.live_sessions; DROP TABLE learning.cohort_members;
                 DROP TABLE learning.cohorts;",
            )
            .await?;
        Ok(())
    }
}
