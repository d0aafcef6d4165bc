//! Every database object Aula owns: roles, one schema per domain, tables, grants and the
//! row-level security that confines each service to one tenant per transaction.
//!
//! Two steps, two privilege levels:
//! 1. [`roles::bootstrap`] runs once per cluster as an administrator: it creates the owner role,
//!    one login role per subgraph and the platform role, and the database.
//! 2. [`migrate`] runs as the owner role (`aula_owner`) and applies the sea-orm migrations.
//!
//! [`guard::check`] reads the catalog and reports every way the result could leak across tenants.

pub mod guard;
mod migrations;
pub mod roles;
pub mod tenant_owned;
pub mod url;

use sea_orm_migration::prelude::*;

/// A hash of every migration source file: changes whenever a migration does.
pub const FINGERPRINT: &str = env!("AULA_MIGRATION_FINGERPRINT");

/// The domain schemas whose tables the guard inspects.
pub const DOMAIN_SCHEMAS: &[&str] = &["platform", "identity", "learning"];

/// The ordered list of migrations.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        migrations::all()
    }
}

/// Applies every pending migration. `owner` must be connected as [`roles::OWNER`].
pub async fn migrate(owner: &sea_orm::DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(owner, None).await
}
