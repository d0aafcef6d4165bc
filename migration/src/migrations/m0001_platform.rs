//! The `platform` schema: the audit log of every platform-scope (cross-tenant) transaction.

use sea_orm_migration::prelude::*;

use crate::roles::PLATFORM;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE SCHEMA platform;
                 REVOKE ALL ON SCHEMA public FROM PUBLIC;
                 CREATE TABLE platform.access_log (
                   id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                   at timestamptz NOT NULL DEFAULT now(),
                   actor_kind text NOT NULL CHECK (actor_kind IN ('staff', 'job')),
                   actor text NOT NULL,
                   reason text NOT NULL CHECK (btrim(reason) <> ''),
                   session_user_name text NOT NULL
                 );
                 COMMENT ON TABLE platform.access_log IS
                   'global: audit of cross-tenant (platform scope) transactions; insert-only';
                 GRANT USAGE ON SCHEMA platform TO {PLATFORM};
                 GRANT INSERT ON platform.access_log TO {PLATFORM};"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP SCHEMA platform CASCADE")
            .await?;
        Ok(())
    }
}
