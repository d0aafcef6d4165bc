//! The `learning` schema: courses, their ordered modules and lessons, and the outbox of
//! learning events.

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
            "CREATE SCHEMA learning;
             GRANT USAGE ON SCHEMA learning TO {ROLE}, {PLATFORM};

             CREATE TABLE learning.courses (
               tenant_id uuid NOT NULL,
               id uuid NOT NULL,
               slug text NOT NULL CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{{0,78}}[a-z0-9])?$'),
               title text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
               summary text NOT NULL DEFAULT '' CHECK (length(summary) <= 500),
               description text NOT NULL DEFAULT '' CHECK (length(description) <= 50000),
               language text NOT NULL DEFAULT 'en' CHECK (language ~ '^[a-z]{{2}}(-[A-Z]{{2}})?$'),
               level text NOT NULL DEFAULT 'all'
                 CHECK (level IN ('beginner', 'intermediate', 'advanced', 'all')),
               tags text[] NOT NULL DEFAULT '{{}}' CHECK (cardinality(tags) <= 20),
               -- NULL until someone decided; 0 is free.
               price_cents bigint CHECK (price_cents >= 0),
               currency text CHECK (currency ~ '^[A-Z]{{3}}$'),
               status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'archived')),
               instructor_ids uuid[] NOT NULL DEFAULT '{{}}' CHECK (cardinality(instructor_ids) <= 20),
               published_at timestamptz,
               created_at timestamptz NOT NULL DEFAULT now(),
               updated_at timestamptz NOT NULL DEFAULT now(),
               PRIMARY KEY (tenant_id, id),
               CHECK ((price_cents IS NULL) = (currency IS NULL))
             );
             CREATE UNIQUE INDEX courses_slug_key ON learning.courses (tenant_id, slug);

             -- Positions are 0..n-1 within their parent; the uniqueness is checked at commit, so
             -- a reorder can move every row in one transaction.
             CREATE TABLE learning.modules (
               tenant_id uuid NOT NULL,
               id uuid NOT NULL,
               course_id uuid NOT NULL,
               position integer NOT NULL CHECK (position >= 0),
               title text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
               created_at timestamptz NOT NULL DEFAULT now(),
               updated_at timestamptz NOT NULL DEFAULT now(),
               PRIMARY KEY (tenant_id, id),
               FOREIGN KEY (tenant_id, course_id) REFERENCES learning.courses (tenant_id, id)
                 ON DELETE CASCADE,
               CONSTRAINT modules_position_key UNIQUE (tenant_id, course_id, position)
                 DEFERRABLE INITIALLY DEFERRED
             );

             CREATE TABLE learning.lessons (
               tenant_id uuid NOT NULL,
               id uuid NOT NULL,
               course_id uuid NOT NULL,
               module_id uuid NOT NULL,
               position integer NOT NULL CHECK (position >= 0),
               title text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
               kind text NOT NULL CHECK (kind IN ('text', 'video', 'file', 'quiz')),
               body text NOT NULL DEFAULT '' CHECK (length(body) <= 200000),
               free_preview boolean NOT NULL DEFAULT false,
               required boolean NOT NULL DEFAULT true,
               duration_minutes integer NOT NULL DEFAULT 0 CHECK (duration_minutes BETWEEN 0 AND 10000),
               created_at timestamptz NOT NULL DEFAULT now(),
               updated_at timestamptz NOT NULL DEFAULT now(),
               PRIMARY KEY (tenant_id, id),
               FOREIGN KEY (tenant_id, course_id) REFERENCES learning.courses (tenant_id, id)
                 ON DELETE CASCADE,
               FOREIGN KEY (tenant_id, module_id) REFERENCES learning.modules (tenant_id, id)
                 ON DELETE CASCADE,
               CONSTRAINT lessons_position_key UNIQUE (tenant_id, module_id, position)
                 DEFERRABLE INITIALLY DEFERRED
             );
             CREATE INDEX lessons_course_idx ON learning.lessons (tenant_id, course_id);

             -- Events written in the same transaction as the change they announce; a relay
             -- publishes them and sets published_at.
             CREATE TABLE learning.outbox (
               tenant_id uuid NOT NULL,
               id uuid NOT NULL,
               topic text NOT NULL,
               payload jsonb NOT NULL,
               created_at timestamptz NOT NULL DEFAULT now(),
               published_at timestamptz,
               PRIMARY KEY (tenant_id, id)
             );

             GRANT SELECT, INSERT, UPDATE, DELETE ON learning.courses, learning.modules,
               learning.lessons TO {ROLE};
             GRANT SELECT, INSERT ON learning.outbox TO {ROLE};
             GRANT UPDATE (published_at) ON learning.outbox TO {ROLE};
             GRANT SELECT ON learning.courses, learning.modules, learning.lessons,
               learning.outbox TO {PLATFORM};"
        ))
        .await?;
        for table in ["courses", "modules", "lessons", "outbox"] {
            make_tenant_owned(manager, "learning", table).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP SCHEMA learning CASCADE")
            .await?;
        Ok(())
    }
}
