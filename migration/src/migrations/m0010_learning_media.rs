//! Media: files of courses (covers) and lessons (videos, documents) kept in object storage under
//! the tenant's prefix. A row is `pending` from the presigned upload until the upload is
//! confirmed; deleting a row queues its object's deletion in the outbox, in the same transaction.

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
            "CREATE TABLE learning.media (
               tenant_id uuid NOT NULL,
               id uuid NOT NULL,
               course_id uuid NOT NULL,
               -- None: the course's cover.
               lesson_id uuid,
               object_key text NOT NULL,
               file_name text NOT NULL CHECK (length(file_name) BETWEEN 1 AND 255),
               content_type text NOT NULL,
               declared_bytes bigint NOT NULL CHECK (declared_bytes > 0),
               size_bytes bigint CHECK (size_bytes >= 0),
               status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ready')),
               created_by uuid,
               created_at timestamptz NOT NULL DEFAULT now(),
               confirmed_at timestamptz,
               PRIMARY KEY (tenant_id, id),
               FOREIGN KEY (tenant_id, course_id) REFERENCES learning.courses (tenant_id, id)
                 ON DELETE CASCADE,
               FOREIGN KEY (tenant_id, lesson_id) REFERENCES learning.lessons (tenant_id, id)
                 ON DELETE CASCADE,
               CONSTRAINT media_object_key UNIQUE (object_key),
               CONSTRAINT media_key_in_tenant CHECK (
                 starts_with(object_key, 'tenants/' || tenant_id::text || '/')),
               CONSTRAINT media_ready_has_size CHECK (status = 'pending' OR size_bytes IS NOT NULL)
             );
             CREATE INDEX media_course ON learning.media (tenant_id, course_id);

             ALTER TABLE learning.courses ADD COLUMN cover_media_id uuid,
               ADD FOREIGN KEY (tenant_id, cover_media_id) REFERENCES learning.media (tenant_id, id)
                 ON DELETE SET NULL (cover_media_id);
             ALTER TABLE learning.lessons ADD COLUMN media_id uuid,
               ADD FOREIGN KEY (tenant_id, media_id) REFERENCES learning.media (tenant_id, id)
                 ON DELETE SET NULL (media_id);

             -- However a row goes (replaced, its lesson or course deleted), its object follows.
             CREATE FUNCTION learning.media_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
               INSERT INTO learning.outbox (tenant_id, id, topic, payload)
               VALUES (OLD.tenant_id, gen_random_uuid(), 'media.deleted',
                       jsonb_build_object('mediaId', OLD.id, 'key', OLD.object_key));
               RETURN OLD;
             END $$;
             CREATE TRIGGER media_deleted AFTER DELETE ON learning.media
               FOR EACH ROW EXECUTE FUNCTION learning.media_deleted();

             GRANT SELECT, INSERT, UPDATE, DELETE ON learning.media TO {ROLE};
             GRANT SELECT ON learning.media TO {PLATFORM};"
        ))
        .await?;
        make_tenant_owned(manager, "learning", "media").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE learning.lessons DROP COLUMN media_id;
                 ALTER TABLE learning.courses DROP COLUMN cover_media_id;
                 DROP TABLE learning.media;
                 DROP FUNCTION learning.media_deleted();",
            )
            .await?;
        Ok(())
    }
}
