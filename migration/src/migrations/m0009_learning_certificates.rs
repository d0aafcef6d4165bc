//! Certificates: one per completed enrollment, with a public verification code.

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
            "CREATE TABLE learning.certificates (
               tenant_id uuid NOT NULL,
               id uuid NOT NULL,
               enrollment_id uuid NOT NULL,
               course_id uuid NOT NULL,
               student_id uuid NOT NULL,
               code text NOT NULL CHECK (code ~ '^[0-9A-F]{{4}}(-[0-9A-F]{{4}}){{3}}$'),
               -- What the certificate shows, as it was when it was issued.
               holder_name text NOT NULL,
               course_title text NOT NULL,
               issued_at timestamptz NOT NULL DEFAULT now(),
               PRIMARY KEY (tenant_id, id),
               FOREIGN KEY (tenant_id, enrollment_id) REFERENCES learning.enrollments (tenant_id, id),
               CONSTRAINT certificates_enrollment_key UNIQUE (tenant_id, enrollment_id),
               CONSTRAINT certificates_code_key UNIQUE (tenant_id, code)
             );
             GRANT SELECT, INSERT ON learning.certificates TO {ROLE};
             GRANT SELECT ON learning.certificates TO {PLATFORM};"
        ))
        .await?;
        make_tenant_owned(manager, "learning", "certificates").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE learning.certificates;")
            .await?;
        Ok(())
    }
}
