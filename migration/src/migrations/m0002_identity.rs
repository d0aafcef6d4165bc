//! The `identity` schema: tenants and their users.

use sea_orm_migration::prelude::*;

use crate::roles::{IDENTITY as ROLE, PLATFORM};
use crate::tenant_owned::make_tenant_owned;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "CREATE SCHEMA identity;
             GRANT USAGE ON SCHEMA identity TO {ROLE}, {PLATFORM};

             -- A tenant row is owned by the tenant it describes: its key is its tenant_id.
             CREATE TABLE identity.tenants (
               tenant_id uuid PRIMARY KEY,
               slug text NOT NULL UNIQUE
                 CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{{0,38}}[a-z0-9])?$'),
               name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
               status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
               created_at timestamptz NOT NULL DEFAULT now(),
               updated_at timestamptz NOT NULL DEFAULT now()
             );

             CREATE TABLE identity.users (
               tenant_id uuid NOT NULL REFERENCES identity.tenants (tenant_id),
               id uuid NOT NULL,
               email text NOT NULL CHECK (email LIKE '_%@_%' AND length(email) <= 320),
               display_name text NOT NULL CHECK (length(btrim(display_name)) BETWEEN 1 AND 100),
               roles text[] NOT NULL DEFAULT '{{}}'
                 CHECK (roles <@ ARRAY['platform_staff', 'owner', 'admin', 'instructor', 'sales', 'student']),
               created_at timestamptz NOT NULL DEFAULT now(),
               updated_at timestamptz NOT NULL DEFAULT now(),
               PRIMARY KEY (tenant_id, id)
             );
             CREATE UNIQUE INDEX users_email_key ON identity.users (tenant_id, lower(email));

             GRANT SELECT, INSERT, UPDATE ON identity.tenants TO {ROLE};
             GRANT SELECT, INSERT, UPDATE, DELETE ON identity.users TO {ROLE};
             GRANT SELECT, UPDATE ON identity.tenants TO {PLATFORM};
             GRANT SELECT ON identity.users TO {PLATFORM};"
        ))
        .await?;
        make_tenant_owned(manager, "identity", "tenants").await?;
        make_tenant_owned(manager, "identity", "users").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP SCHEMA identity CASCADE")
            .await?;
        Ok(())
    }
}
