//! The schema-wide isolation guard: reads the catalog and reports every table or role that
//! could let one tenant see another's rows.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, Statement};

use crate::roles::{OWNER, PLATFORM};
use crate::tenant_owned::{PLATFORM_POLICY, TENANT_POLICY};

/// One problem found by the guard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The table or role at fault.
    pub object: String,
    /// What is wrong with it.
    pub problem: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.object, self.problem)
    }
}

/// What the guard inspects.
#[derive(Clone, Debug)]
pub struct Scope<'a> {
    /// Domain schemas whose tables must be isolated.
    pub schemas: &'a [&'a str],
    /// Login roles of the subgraphs.
    pub service_roles: &'a [&'a str],
}

impl Scope<'static> {
    /// Aula's real schemas and roles.
    pub fn aula() -> Self {
        static ROLES: std::sync::LazyLock<Vec<&'static str>> =
            std::sync::LazyLock::new(|| crate::roles::SERVICES.iter().map(|s| s.name).collect());
        Scope {
            schemas: crate::DOMAIN_SCHEMAS,
            service_roles: &ROLES,
        }
    }
}

#[derive(Debug, FromQueryResult)]
struct TableRow {
    name: String,
    has_tenant_id: bool,
    tenant_id_ok: bool,
    rls: bool,
    forced: bool,
    tenant_index: bool,
    comment: Option<String>,
}

#[derive(Debug, FromQueryResult)]
struct PolicyRow {
    table_name: String,
    policy: String,
    cmd: String,
    permissive: bool,
    roles: Vec<String>,
    using_expr: Option<String>,
    check_expr: Option<String>,
}

#[derive(Debug, FromQueryResult)]
struct RoleRow {
    name: String,
    exists: bool,
    superuser: bool,
    bypass_rls: bool,
    owns: i64,
    inherits_platform: bool,
}

/// Inspects the connected database and returns every violation (empty when isolated).
pub async fn check(db: &impl ConnectionTrait, scope: &Scope<'_>) -> Result<Vec<Violation>, DbErr> {
    let mut out = Vec::new();
    let schemas: Vec<String> = scope.schemas.iter().map(|s| s.to_string()).collect();

    let tables = TableRow::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT n.nspname || '.' || c.relname AS name,
                a.attname IS NOT NULL AS has_tenant_id,
                coalesce(a.atttypid = 'uuid'::regtype AND a.attnotnull, false) AS tenant_id_ok,
                c.relrowsecurity AS rls,
                c.relforcerowsecurity AS forced,
                EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indkey[0] = a.attnum) AS tenant_index,
                obj_description(c.oid, 'pg_class') AS comment
         FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
         WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY($1)
         ORDER BY 1",
        [schemas.clone().into()],
    ))
    .all(db)
    .await?;

    let policies = PolicyRow::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT p.schemaname || '.' || p.tablename AS table_name, p.policyname AS policy,
                p.cmd, p.permissive = 'PERMISSIVE' AS permissive, p.roles::text[] AS roles,
                p.qual AS using_expr, p.with_check AS check_expr
         FROM pg_policies p WHERE p.schemaname = ANY($1)",
        [schemas.into()],
    ))
    .all(db)
    .await?;

    for t in &tables {
        let v = |problem: &str| Violation {
            object: t.name.clone(),
            problem: problem.to_owned(),
        };
        // A table declared global holds no tenant's data (routing, platform keys); it may still
        // name tenants, as a routing table must before any tenant is known.
        if t.comment
            .as_deref()
            .is_some_and(|c| c.starts_with("global:"))
        {
            continue;
        }
        if !t.has_tenant_id {
            out.push(v("has no tenant_id and is not declared global (COMMENT ON TABLE ... IS 'global: why')"));
            continue;
        }
        if !t.tenant_id_ok {
            out.push(v("tenant_id must be uuid NOT NULL"));
        }
        if !t.rls {
            out.push(v("row level security is not enabled"));
        }
        if !t.forced {
            out.push(v(
                "row level security is not forced (the owner would bypass it)",
            ));
        }
        if !t.tenant_index {
            out.push(v("no index leads with tenant_id"));
        }
        let mine: Vec<&PolicyRow> = policies.iter().filter(|p| p.table_name == t.name).collect();
        let isolating = mine.iter().any(|p| {
            p.policy == TENANT_POLICY
                && p.cmd == "ALL"
                && p.permissive
                && p.roles == ["public"]
                && p.using_expr.as_deref().is_some_and(is_tenant_predicate)
                && p.check_expr.as_deref().is_some_and(is_tenant_predicate)
        });
        if !isolating {
            out.push(v("no tenant_isolation policy (FOR ALL TO PUBLIC, USING and WITH CHECK on app.tenant_id)"));
        }
        for p in &mine {
            let is_tenant = p.policy == TENANT_POLICY;
            let is_platform = p.policy == PLATFORM_POLICY && p.roles == [PLATFORM];
            if !is_tenant && !is_platform && p.permissive {
                out.push(v(&format!(
                    "permissive policy {} widens access beyond the tenant (roles {:?})",
                    p.policy, p.roles
                )));
            }
        }
    }

    let mut role_names: Vec<String> = scope.service_roles.iter().map(|s| s.to_string()).collect();
    role_names.push(PLATFORM.to_owned());
    role_names.push(OWNER.to_owned());
    let roles = RoleRow::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT w.name,
                r.oid IS NOT NULL AS exists,
                coalesce(r.rolsuper, false) AS superuser,
                coalesce(r.rolbypassrls, false) AS bypass_rls,
                CASE WHEN r.oid IS NULL THEN 0 ELSE
                  (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f'))
                  + (SELECT count(*) FROM pg_namespace n WHERE n.nspowner = r.oid) END AS owns,
                CASE WHEN r.oid IS NULL OR w.name = $2 THEN false
                     ELSE pg_has_role(r.oid, $2, 'USAGE') END AS inherits_platform
         FROM unnest($1::text[]) AS w(name)
         LEFT JOIN pg_roles r ON r.rolname = w.name",
        [role_names.into(), PLATFORM.into()],
    ))
    .all(db)
    .await?;
    for r in roles {
        let v = |problem: &str| Violation {
            object: format!("role {}", r.name),
            problem: problem.to_owned(),
        };
        if !r.exists {
            out.push(v("does not exist"));
            continue;
        }
        if r.superuser {
            out.push(v("is a superuser"));
        }
        if r.bypass_rls {
            out.push(v("can bypass row level security"));
        }
        if r.name != OWNER && r.owns > 0 {
            out.push(v(&format!(
                "owns {} tables, views, sequences or schemas (only {OWNER} may)",
                r.owns
            )));
        }
        if r.name != OWNER && r.inherits_platform {
            out.push(v("inherits aula_platform's privileges without SET ROLE"));
        }
    }
    Ok(out)
}

fn is_tenant_predicate(expr: &str) -> bool {
    let compact: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
    compact.starts_with("(tenant_id=")
        && compact.contains("current_setting('app.tenant_id'::text,true)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_tenant_predicate_as_postgres_prints_it() {
        assert!(is_tenant_predicate(
            "(tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)"
        ));
        // The form before migration 12.
        assert!(is_tenant_predicate(
            "(tenant_id = ( SELECT (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid AS \"nullif\"))"
        ));
        assert!(!is_tenant_predicate("true"));
        assert!(!is_tenant_predicate(
            "(owner_id = ( SELECT (current_setting('app.tenant_id'::text, true))::uuid))"
        ));
    }
}
