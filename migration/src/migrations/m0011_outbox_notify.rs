//! Outbox notifications: every insert into a subgraph's outbox wakes its relay with
//! `NOTIFY <schema>_outbox, '<tenant_id>'` (delivered at commit, once per tenant per
//! transaction). The learning role joins the platform path, which its relay's sweep uses to find
//! tenants whose notification was missed.

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
                "CREATE FUNCTION platform.notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN
                   PERFORM pg_notify(TG_TABLE_SCHEMA || '_outbox', NEW.tenant_id::text);
                   RETURN NULL;
                 END $$;
                 CREATE TRIGGER outbox_notify AFTER INSERT ON learning.outbox
                   FOR EACH ROW EXECUTE FUNCTION platform.notify_outbox();
                 CREATE TRIGGER outbox_notify AFTER INSERT ON identity.outbox
                   FOR EACH ROW EXECUTE FUNCTION platform.notify_outbox();
                 GRANT SELECT ON learning.outbox TO {PLATFORM};"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "DROP TRIGGER outbox_notify ON learning.outbox;
                 DROP TRIGGER outbox_notify ON identity.outbox;
                 DROP FUNCTION platform.notify_outbox();",
            )
            .await?;
        Ok(())
    }
}
