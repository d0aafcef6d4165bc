//! Tenant policies compare `tenant_id` with the setting directly instead of through a
//! sub-select (see [`CURRENT_TENANT`] for the trade): every `tenant_isolation` policy is altered
//! in place, so nothing else about the tables changes.

use sea_orm_migration::prelude::*;

use crate::DOMAIN_SCHEMAS;
use crate::tenant_owned::{CURRENT_TENANT, TENANT_POLICY};

/// The expression the policies compared with before this migration.
const SUB_SELECT: &str = "(SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid)";

/// Sets `USING` and `WITH CHECK` of every tenant policy in the domain schemas to
/// `tenant_id = <current>`.
async fn alter_every_policy(manager: &SchemaManager<'_>, current: &str) -> Result<(), DbErr> {
    let schemas = DOMAIN_SCHEMAS
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ");
    manager
        .get_connection()
        .execute_unprepared(&format!(
            "DO $$ DECLARE p record; BEGIN
               FOR p IN SELECT schemaname, tablename FROM pg_policies
                        WHERE policyname = '{TENANT_POLICY}' AND schemaname IN ({schemas}) LOOP
                 EXECUTE format('ALTER POLICY {TENANT_POLICY} ON %I.%I USING (tenant_id = %s) WITH CHECK (tenant_id = %s)',
                                p.schemaname, p.tablename, $e${current}$e$, $e${current}$e$);
               END LOOP;
             END $$;"
        ))
        .await?;
    Ok(())
}

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        alter_every_policy(manager, CURRENT_TENANT).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        alter_every_policy(manager, SUB_SELECT).await
    }
}
