//! Cluster-level bootstrap, run as an administrator: the roles Aula connects as, and the database.

use sea_orm_migration::sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement,
};

/// Owns every schema and table and runs migrations. Subject to row-level security (tables
/// force it), never a superuser, never BYPASSRLS.
pub const OWNER: &str = "aula_owner";

/// The non-login role whose policies see every tenant: reached only with `SET LOCAL ROLE` by
/// the tenancy crate's audited platform path.
pub const PLATFORM: &str = "aula_platform";

/// A subgraph's login role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceRole {
    /// The database role name.
    pub name: &'static str,
    /// The domain schema it works in.
    pub schema: &'static str,
    /// Whether it may open platform-scope transactions (`SET LOCAL ROLE aula_platform`).
    pub platform_member: bool,
}

/// The identity subgraph's login role.
pub const IDENTITY: &str = "aula_identity";

/// The learning subgraph's login role.
pub const LEARNING: &str = "aula_learning";

/// One login role per subgraph.
pub const SERVICES: &[ServiceRole] = &[
    ServiceRole {
        name: IDENTITY,
        schema: "identity",
        platform_member: true,
    },
    ServiceRole {
        name: LEARNING,
        schema: "learning",
        platform_member: true,
    },
];

/// The login role of the subgraph that works in `schema`.
pub fn service(schema: &str) -> Option<&'static ServiceRole> {
    SERVICES.iter().find(|s| s.schema == schema)
}

const ATTRS: &str = "NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION";

fn ensure_role_sql(name: &str, attrs: &str) -> String {
    format!(
        "DO $$ BEGIN \
           IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{name}') THEN \
             CREATE ROLE {name} {attrs}; \
           END IF; \
         END $$; \
         ALTER ROLE {name} {attrs};"
    )
}

/// Creates or corrects every Aula role. Idempotent and safe to run concurrently (an advisory
/// lock serialises callers). Must run as a role that can create roles.
pub async fn bootstrap(admin: &DatabaseConnection) -> Result<(), DbErr> {
    use sea_orm_migration::sea_orm::TransactionTrait;
    let tx = admin.begin().await?;
    tx.execute_unprepared("SELECT pg_advisory_xact_lock(hashtext('aula.bootstrap_roles'))")
        .await?;
    tx.execute_unprepared(&ensure_role_sql(OWNER, &format!("LOGIN INHERIT {ATTRS}")))
        .await?;
    tx.execute_unprepared(&ensure_role_sql(
        PLATFORM,
        &format!("NOLOGIN NOINHERIT {ATTRS}"),
    ))
    .await?;
    for svc in SERVICES {
        // NOINHERIT: membership in aula_platform grants nothing until `SET ROLE`.
        tx.execute_unprepared(&ensure_role_sql(
            svc.name,
            &format!("LOGIN NOINHERIT {ATTRS}"),
        ))
        .await?;
        if svc.platform_member {
            tx.execute_unprepared(&format!("GRANT {PLATFORM} TO {}", svc.name))
                .await?;
        }
    }
    tx.commit().await
}

/// Creates database `name` owned by [`OWNER`] unless it exists. Returns whether it was created.
pub async fn create_database(admin: &DatabaseConnection, name: &str) -> Result<bool, DbErr> {
    create_database_from(admin, name, None).await
}

/// Like [`create_database`], cloning `template` (a fast copy of an already migrated database).
pub async fn create_database_from(
    admin: &DatabaseConnection,
    name: &str,
    template: Option<&str>,
) -> Result<bool, DbErr> {
    check_identifier(name)?;
    let exists = admin
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 FROM pg_database WHERE datname = $1",
            [name.into()],
        ))
        .await?
        .is_some();
    if exists {
        return Ok(false);
    }
    let template = match template {
        Some(t) => {
            check_identifier(t)?;
            format!(" TEMPLATE \"{t}\"")
        }
        None => String::new(),
    };
    admin
        .execute_unprepared(&format!(
            "CREATE DATABASE \"{name}\" OWNER {OWNER}{template}"
        ))
        .await?;
    Ok(true)
}

/// Database names are interpolated into DDL, so only plain identifiers are accepted.
pub fn check_identifier(name: &str) -> Result<(), DbErr> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(DbErr::Custom(format!("invalid database name {name:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_plain() {
        assert!(check_identifier("aula_t_12").is_ok());
        assert!(check_identifier("x\"; DROP DATABASE y; --").is_err());
        assert!(check_identifier("").is_err());
    }

    #[test]
    fn every_service_works_in_a_domain_schema() {
        for svc in SERVICES {
            assert!(crate::DOMAIN_SCHEMAS.contains(&svc.schema), "{svc:?}");
            assert_eq!(service(svc.schema), Some(svc));
        }
    }
}
