//! The isolation guard passes on the real schema and catches each kind of bad table and role
//! deliberately created in a throwaway database; the tenant policies take the form the last
//! migration gave them, and undoing it restores the former one.

use harness::TestDb;
use migration::Migrator;
use migration::guard::{Scope, Violation, check};
use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult, Statement};
use sea_orm_migration::MigratorTrait;

fn problems_of<'a>(violations: &'a [Violation], object: &str) -> Vec<&'a str> {
    violations
        .iter()
        .filter(|v| v.object == object)
        .map(|v| v.problem.as_str())
        .collect()
}

#[tokio::test]
async fn the_real_schema_is_isolated() {
    let db = TestDb::new().await;
    let violations = check(&db.owner().await, &Scope::aula())
        .await
        .expect("guard runs");
    assert!(violations.is_empty(), "{violations:#?}");
}

/// Every `tenant_isolation` policy as `(table, USING, WITH CHECK)`, as PostgreSQL prints them.
async fn tenant_policies(db: &DatabaseConnection) -> Vec<(String, String, String)> {
    #[derive(FromQueryResult)]
    struct Policy {
        name: String,
        qual: String,
        with_check: String,
    }
    let sql = "SELECT schemaname || '.' || tablename AS name, qual, with_check FROM pg_policies \
               WHERE policyname = 'tenant_isolation' ORDER BY 1";
    Policy::find_by_statement(Statement::from_string(db.get_database_backend(), sql))
        .all(db)
        .await
        .expect("pg_policies")
        .into_iter()
        .map(|p| (p.name, p.qual, p.with_check))
        .collect()
}

#[tokio::test]
async fn tenant_policies_compare_directly_and_down_restores_the_sub_select() {
    let db = TestDb::new().await;
    let owner = db.owner().await;
    let direct =
        "(tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)";
    let policies = tenant_policies(&owner).await;
    let forced = owner
        .query_one_raw(Statement::from_sql_and_values(
            owner.get_database_backend(),
            "SELECT count(*) AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relforcerowsecurity AND n.nspname = ANY($1)",
            [migration::DOMAIN_SCHEMAS
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .into()],
        ))
        .await
        .expect("forced tables")
        .and_then(|row| row.try_get::<i64>("", "n").ok())
        .expect("a count");
    // One policy per table under forced RLS, and there are such tables.
    assert!(forced > 0);
    assert_eq!(policies.len() as i64, forced, "{policies:#?}");
    for (table, qual, with_check) in &policies {
        assert_eq!(
            (qual.as_str(), with_check.as_str()),
            (direct, direct),
            "{table}"
        );
    }

    Migrator::down(&owner, Some(1)).await.expect("down");
    let former = tenant_policies(&owner).await;
    assert_eq!(former.len(), policies.len());
    for (table, qual, with_check) in &former {
        assert!(
            qual.contains("SELECT") && qual.contains("NULLIF"),
            "{table}: {qual}"
        );
        assert_eq!(qual, with_check, "{table}");
    }
    assert!(
        check(&owner, &Scope::aula())
            .await
            .expect("guard")
            .is_empty()
    );

    Migrator::up(&owner, None).await.expect("up again");
    assert_eq!(tenant_policies(&owner).await, policies);
}

#[tokio::test]
async fn bad_tables_are_caught() {
    let db = TestDb::new().await;
    let owner = db.owner().await;
    owner
        .execute_unprepared(
            "CREATE TABLE identity.no_rls (tenant_id uuid NOT NULL, x int);
             CREATE INDEX ON identity.no_rls (tenant_id);

             CREATE TABLE identity.not_forced (tenant_id uuid NOT NULL, x int);
             CREATE INDEX ON identity.not_forced (tenant_id);
             ALTER TABLE identity.not_forced ENABLE ROW LEVEL SECURITY;
             CREATE POLICY tenant_isolation ON identity.not_forced FOR ALL TO PUBLIC
               USING (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid))
               WITH CHECK (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid));

             CREATE TABLE identity.leaky (tenant_id uuid NOT NULL, x int);
             CREATE INDEX ON identity.leaky (tenant_id);
             ALTER TABLE identity.leaky ENABLE ROW LEVEL SECURITY;
             ALTER TABLE identity.leaky FORCE ROW LEVEL SECURITY;
             CREATE POLICY tenant_isolation ON identity.leaky FOR ALL TO PUBLIC
               USING (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid))
               WITH CHECK (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid));
             CREATE POLICY everyone ON identity.leaky FOR SELECT TO PUBLIC USING (true);

             CREATE TABLE identity.read_only_policy (tenant_id uuid, x int);
             ALTER TABLE identity.read_only_policy ENABLE ROW LEVEL SECURITY;
             ALTER TABLE identity.read_only_policy FORCE ROW LEVEL SECURITY;
             CREATE POLICY tenant_isolation ON identity.read_only_policy FOR SELECT TO PUBLIC
               USING (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid));

             CREATE TABLE identity.undeclared (x int);",
        )
        .await
        .expect("create bad tables");
    let violations = check(&owner, &Scope::aula()).await.expect("guard runs");

    let no_rls = problems_of(&violations, "identity.no_rls");
    assert!(
        no_rls.iter().any(|p| p.contains("not enabled")),
        "{no_rls:?}"
    );
    assert!(
        no_rls.iter().any(|p| p.contains("not forced")),
        "{no_rls:?}"
    );
    assert!(
        no_rls
            .iter()
            .any(|p| p.contains("no tenant_isolation policy")),
        "{no_rls:?}"
    );

    assert_eq!(
        problems_of(&violations, "identity.not_forced"),
        ["row level security is not forced (the owner would bypass it)"]
    );

    let leaky = problems_of(&violations, "identity.leaky");
    assert!(
        leaky.len() == 1 && leaky[0].contains("permissive policy everyone"),
        "{leaky:?}"
    );

    let read_only = problems_of(&violations, "identity.read_only_policy");
    assert!(
        read_only.iter().any(|p| p.contains("uuid NOT NULL")),
        "{read_only:?}"
    );
    assert!(
        read_only
            .iter()
            .any(|p| p.contains("no index leads with tenant_id")),
        "{read_only:?}"
    );
    assert!(
        read_only
            .iter()
            .any(|p| p.contains("no tenant_isolation policy")),
        "{read_only:?}"
    );

    let undeclared = problems_of(&violations, "identity.undeclared");
    assert!(
        undeclared.len() == 1 && undeclared[0].contains("not declared global"),
        "{undeclared:?}"
    );

    assert!(
        problems_of(&violations, "identity.users").is_empty(),
        "real tables stay clean: {violations:#?}"
    );
}

#[tokio::test]
async fn bad_roles_are_caught() {
    let db = TestDb::new().await;
    let admin = db.admin().await;
    let bad = format!("aula_guard_bad_{}", std::process::id());
    admin
        .execute_unprepared(&format!(
            "DROP ROLE IF EXISTS {bad};
             CREATE ROLE {bad} LOGIN BYPASSRLS;
             GRANT aula_platform TO {bad};
             ALTER TABLE identity.users OWNER TO aula_identity;"
        ))
        .await
        .expect("create bad role");
    let roles = ["aula_identity", bad.as_str(), "aula_missing_role"];
    let violations = check(
        &admin,
        &Scope {
            schemas: migration::DOMAIN_SCHEMAS,
            service_roles: &roles,
        },
    )
    .await;
    admin
        .execute_unprepared(&format!("DROP ROLE {bad}"))
        .await
        .expect("drop bad role");
    let violations = violations.expect("guard runs");

    let bad_problems = problems_of(&violations, &format!("role {bad}"));
    assert!(
        bad_problems
            .iter()
            .any(|p| p.contains("bypass row level security")),
        "{bad_problems:?}"
    );
    assert!(
        bad_problems
            .iter()
            .any(|p| p.contains("inherits aula_platform")),
        "{bad_problems:?}"
    );
    let owner_problems = problems_of(&violations, "role aula_identity");
    assert!(
        owner_problems.iter().any(|p| p.contains("owns 1 tables")),
        "{owner_problems:?}"
    );
    assert_eq!(
        problems_of(&violations, "role aula_missing_role"),
        ["does not exist"]
    );
}
