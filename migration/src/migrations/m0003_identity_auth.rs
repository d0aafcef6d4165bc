//! Sign-in for `identity`: tenant routing and settings, passwords, single-use tokens,
//! invitations, refresh-token families, TOTP and recovery codes, SSO providers, API clients,
//! the append-only audit log, the outbox and the signing keys.

use sea_orm_migration::prelude::*;

use crate::roles::{IDENTITY as ROLE, PLATFORM};
use crate::tenant_owned::make_tenant_owned;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// `tenancy::TenantId::PLATFORM`, the reserved tenant of platform staff.
const PLATFORM_TENANT: &str = "00000000-0000-7000-8000-000000000001";

const TENANT_OWNED: &[&str] = &[
    "passwords",
    "single_use_tokens",
    "invitations",
    "refresh_tokens",
    "totp",
    "recovery_codes",
    "sso_providers",
    "sso_identities",
    "api_clients",
    "audit_log",
    "outbox",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "ALTER TABLE identity.tenants
               ADD COLUMN branding jsonb NOT NULL DEFAULT '{{}}'::jsonb,
               ADD COLUMN mfa_required_roles text[] NOT NULL DEFAULT '{{}}',
               ADD COLUMN suspended_at timestamptz;
             ALTER TABLE identity.users
               ADD COLUMN email_verified_at timestamptz;

             -- Anonymous requests name a tenant by slug or host name before any tenant is known,
             -- so this routing table cannot be tenant-scoped. It holds public names only.
             CREATE TABLE identity.tenant_directory (
               name text PRIMARY KEY CHECK (name = lower(name) AND length(name) BETWEEN 1 AND 253),
               kind text NOT NULL CHECK (kind IN ('slug', 'domain')),
               tenant_id uuid NOT NULL REFERENCES identity.tenants (tenant_id),
               created_at timestamptz NOT NULL DEFAULT now()
             );
             CREATE INDEX tenant_directory_tenant_idx ON identity.tenant_directory (tenant_id);
             COMMENT ON TABLE identity.tenant_directory IS
               'global: routing from public slugs and host names to tenant ids, read before a tenant is known';
             -- The reserved platform tenant, home of platform staff.
             SELECT set_config('app.tenant_id', '{PLATFORM_TENANT}', true);
             INSERT INTO identity.tenants (tenant_id, slug, name)
               VALUES ('{PLATFORM_TENANT}', 'platform', 'Aula Platform')
               ON CONFLICT DO NOTHING;
             SELECT set_config('app.tenant_id', '', true);
             -- Route every existing tenant's slug. Reading across tenants needs the owner to
             -- step outside its own forced policy for the length of this statement only.
             ALTER TABLE identity.tenants NO FORCE ROW LEVEL SECURITY;
             INSERT INTO identity.tenant_directory (name, kind, tenant_id)
               SELECT slug, 'slug', tenant_id FROM identity.tenants;
             ALTER TABLE identity.tenants FORCE ROW LEVEL SECURITY;

             CREATE TABLE identity.passwords (
               tenant_id uuid NOT NULL,
               user_id uuid NOT NULL,
               hash text NOT NULL,
               changed_at timestamptz NOT NULL DEFAULT now(),
               PRIMARY KEY (tenant_id, user_id),
               FOREIGN KEY (tenant_id, user_id) REFERENCES identity.users (tenant_id, id) ON DELETE CASCADE
             );

             -- Email verification, password reset and MFA challenges: stored as SHA-256 digests.
             CREATE TABLE identity.single_use_tokens (
               tenant_id uuid NOT NULL,
               id uuid NOT NULL,
               user_id uuid NOT NULL,
               purpose text NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'mfa')),
               digest bytea NOT NULL,
               detail jsonb NOT NULL DEFAULT '{{}}'::jsonb,
               attempts int NOT NULL DEFAULT 0,
               created_at timestamptz NOT NULL DEFAULT now(),
               expires_at timestamptz NOT NULL,
               used_at timestamptz,
               PRIMARY KEY (tenant_id, id),
               FOREIGN KEY (tenant_id, user_id) REFERENCES identity.users (tenant_id, id) ON DELETE CASCADE
             );

             CREATE TABLE identity.invitations (
               tenant_id uuid NOT NULL,
               id uuid NOT NULL,
               email text NOT NULL CHECK (email LIKE '_%@_%' AND length(email) <= 320),
               roles text[] NOT NULL,
               digest bytea NOT NULL,
               invited_by uuid NOT NULL,
               created_at timestamptz NOT NULL DEFAULT now(),
               expires_at timestamptz NOT NULL,
               accepted_at timestamptz,
               accepted_user uuid,
               revoked_at timestamptz,
               PRIMARY KEY (tenant_id, id)
             );
             CREATE UNIQUE INDEX invitations_open_email_key ON identity.invitations (tenant_id, lower(email))
               WHERE accepted_at IS NULL AND revoked_at IS NULL;

             -- One row per refresh token; a family is every token rotated from one sign-in.
             CREATE TABLE identity.refresh_tokens (
               tenant_id uuid NOT NULL,
               id uuid NOT NULL,
               family_id uuid NOT NULL,
               user_id uuid NOT NULL,
               digest bytea NOT NULL,
               amr text[] NOT NULL,
               created_at timestamptz NOT NULL DEFAULT now(),
               expires_at timestamptz NOT NULL,
               used_at timestamptz,
               revoked_at timestamptz,
               PRIMARY KEY (tenant_id, id),
               FOREIGN KEY (tenant_id, user_id) REFERENCES identity.users (tenant_id, id) ON DELETE CASCADE
             );
             CREATE INDEX refresh_tokens_family_idx ON identity.refresh_tokens (tenant_id, family_id);
             CREATE INDEX refresh_tokens_user_idx ON identity.refresh_tokens (tenant_id, user_id);

             CREATE TABLE identity.totp (
               tenant_id uuid NOT NULL,
               user_id uuid NOT NULL,
               secret_sealed bytea NOT NULL,
               confirmed_at timestamptz,
               last_step bigint NOT NULL DEFAULT 0,
               created_at timestamptz NOT NULL DEFAULT now(),
               PRIMARY KEY (tenant_id, user_id),
               FOREIGN KEY (tenant_id, user_id) REFERENCES identity.users (tenant_id, id) ON DELETE CASCADE
             );

             CREATE TABLE identity.recovery_codes (
               tenant_id uuid NOT NULL,
               id uuid NOT NULL,
               user_id uuid NOT NULL,
               digest bytea NOT NULL,
               used_at timestamptz,
               PRIMARY KEY (tenant_id, id),
               FOREIGN KEY (tenant_id, user_id) REFERENCES identity.users (tenant_id, id) ON DELETE CASCADE
             );
             CREATE INDEX recovery_codes_user_idx ON identity.recovery_codes (tenant_id, user_id);

             CREATE TABLE identity.sso_providers (
               tenant_id uuid NOT NULL,
               id uuid NOT NULL,
               name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
               issuer text NOT NULL CHECK (issuer ~ '^https?://'),
               client_id text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 500),
               client_secret_sealed bytea NOT NULL,
               allowed_domains text[] NOT NULL DEFAULT '{{}}',
               default_role text NOT NULL CHECK (default_role IN ('instructor', 'sales', 'student')),
               enabled boolean NOT NULL DEFAULT true,
               created_at timestamptz NOT NULL DEFAULT now(),
               updated_at timestamptz NOT NULL DEFAULT now(),
               PRIMARY KEY (tenant_id, id)
             );

             -- Which user an IdP subject is, per provider.
             CREATE TABLE identity.sso_identities (
               tenant_id uuid NOT NULL,
               provider_id uuid NOT NULL,
               subject text NOT NULL,
               user_id uuid NOT NULL,
               created_at timestamptz NOT NULL DEFAULT now(),
               PRIMARY KEY (tenant_id, provider_id, subject),
               FOREIGN KEY (tenant_id, provider_id) REFERENCES identity.sso_providers (tenant_id, id) ON DELETE CASCADE,
               FOREIGN KEY (tenant_id, user_id) REFERENCES identity.users (tenant_id, id) ON DELETE CASCADE
             );

             CREATE TABLE identity.api_clients (
               tenant_id uuid NOT NULL,
               id uuid NOT NULL,
               name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
               digest bytea NOT NULL,
               scopes text[] NOT NULL,
               created_by uuid NOT NULL,
               created_at timestamptz NOT NULL DEFAULT now(),
               last_used_at timestamptz,
               revoked_at timestamptz,
               PRIMARY KEY (tenant_id, id)
             );

             -- Append-only: the service role may insert and read, never change or delete.
             CREATE TABLE identity.audit_log (
               tenant_id uuid NOT NULL,
               id uuid NOT NULL,
               at timestamptz NOT NULL DEFAULT now(),
               action text NOT NULL CHECK (action ~ '^[a-z_]+\\.[a-z_]+$'),
               outcome text NOT NULL CHECK (outcome IN ('success', 'failure')),
               actor_kind text NOT NULL CHECK (actor_kind IN ('user', 'api_client', 'platform', 'anonymous', 'system')),
               actor_id text,
               subject text,
               ip text CHECK (length(ip) <= 45),
               detail jsonb NOT NULL DEFAULT '{{}}'::jsonb,
               PRIMARY KEY (tenant_id, id)
             );
             CREATE INDEX audit_log_action_idx ON identity.audit_log (tenant_id, action, id);
             CREATE FUNCTION identity.audit_log_is_append_only() RETURNS trigger
               LANGUAGE plpgsql AS $$
               BEGIN RAISE EXCEPTION 'identity.audit_log is append-only'; END $$;
             CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
               ON identity.audit_log FOR EACH STATEMENT EXECUTE FUNCTION identity.audit_log_is_append_only();

             -- Messages for other domains (invitation and reset emails), written in the same
             -- transaction as the change; the notifications relay delivers them.
             CREATE TABLE identity.outbox (
               tenant_id uuid NOT NULL,
               id uuid NOT NULL,
               topic text NOT NULL,
               payload jsonb NOT NULL,
               created_at timestamptz NOT NULL DEFAULT now(),
               published_at timestamptz,
               PRIMARY KEY (tenant_id, id)
             );

             CREATE TABLE identity.signing_keys (
               kid text PRIMARY KEY,
               private_key_sealed bytea NOT NULL,
               created_at timestamptz NOT NULL DEFAULT now(),
               retired_at timestamptz
             );
             COMMENT ON TABLE identity.signing_keys IS
               'global: the platform''s token signing keys, sealed with the service key';

             GRANT SELECT, INSERT, DELETE ON identity.tenant_directory TO {ROLE};
             GRANT SELECT, INSERT, UPDATE ON identity.signing_keys TO {ROLE};
             GRANT SELECT, INSERT, UPDATE, DELETE ON
               identity.passwords, identity.single_use_tokens, identity.invitations,
               identity.refresh_tokens, identity.totp, identity.recovery_codes,
               identity.sso_providers, identity.sso_identities, identity.api_clients,
               identity.outbox
               TO {ROLE};
             GRANT SELECT, INSERT ON identity.audit_log TO {ROLE}, {PLATFORM};
             GRANT SELECT ON identity.tenant_directory TO {PLATFORM};
             GRANT UPDATE ON identity.refresh_tokens TO {PLATFORM};
             GRANT SELECT ON identity.refresh_tokens TO {PLATFORM};"
        ))
        .await?;
        for table in TENANT_OWNED {
            make_tenant_owned(manager, "identity", table).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let tables = TENANT_OWNED
            .iter()
            .chain(&["tenant_directory", "signing_keys"])
            .map(|t| format!("identity.{t}"))
            .collect::<Vec<_>>()
            .join(", ");
        db.execute_unprepared(&format!(
            "DROP TABLE {tables} CASCADE;
             DROP FUNCTION identity.audit_log_is_append_only();
             ALTER TABLE identity.users DROP COLUMN email_verified_at;
             ALTER TABLE identity.tenants DROP COLUMN branding, DROP COLUMN mfa_required_roles,
               DROP COLUMN suspended_at;"
        ))
        .await?;
        Ok(())
    }
}
