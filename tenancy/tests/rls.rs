//! Row-level security attacked through the tenancy crate on a real database: two tenants with
//! rows in the same table, sessions without a tenant, cross-tenant writes, pooled connections,
//! and the audited platform path.

use harness::TestDb;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tenancy::platform::{PlatformScope, PlatformTx};
use tenancy::{Role, TenantContext, TenantId, TenantTx, UserId};

fn stmt(sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

async fn count(conn: &impl ConnectionTrait, sql: &str) -> i64 {
    let row = conn
        .query_one_raw(stmt(sql, vec![]))
        .await
        .expect("query runs")
        .expect("one row");
    row.try_get_by_index::<i64>(0).expect("a count")
}

/// Creates a tenant with `users` users through a tenant transaction, as a subgraph would.
async fn tenant_with_users(db: &DatabaseConnection, slug: &str, users: usize) -> TenantContext {
    let tenant = TenantId::generate();
    let ctx = TenantContext::user(tenant, UserId::generate(), [Role::Admin]);
    let tx = TenantTx::begin(db, &ctx).await.expect("begin");
    tx.execute_raw(stmt(
        "INSERT INTO identity.tenants (tenant_id, slug, name) VALUES ($1, $2, $2)",
        vec![tenant.as_uuid().into(), slug.into()],
    ))
    .await
    .expect("insert tenant");
    for i in 0..users {
        tx.execute_raw(stmt(
            "INSERT INTO identity.users (tenant_id, id, email, display_name) VALUES ($1, $2, $3, 'U')",
            vec![tenant.as_uuid().into(), uuid::Uuid::now_v7().into(), format!("u{i}@{slug}.test").into()],
        ))
        .await
        .expect("insert user");
    }
    tx.commit().await.expect("commit");
    ctx
}

#[tokio::test]
async fn each_tenant_sees_only_its_own_rows() {
    let db = TestDb::new().await;
    let conn = db.service("identity").await;
    let a = tenant_with_users(&conn, "alpha", 3).await;
    let b = tenant_with_users(&conn, "beta", 2).await;

    let tx = TenantTx::begin(&conn, &a).await.expect("begin");
    assert_eq!(count(&*tx, "SELECT count(*) FROM identity.users").await, 3);
    assert_eq!(
        count(&*tx, "SELECT count(*) FROM identity.tenants").await,
        1
    );
    let other = format!(
        "SELECT count(*) FROM identity.users WHERE tenant_id = '{}'",
        b.tenant()
    );
    assert_eq!(
        count(&*tx, &other).await,
        0,
        "naming the other tenant finds nothing"
    );
    drop(tx);

    let tx = TenantTx::begin(&conn, &b).await.expect("begin");
    assert_eq!(count(&*tx, "SELECT count(*) FROM identity.users").await, 2);
    tx.commit().await.expect("commit");
}

#[tokio::test]
async fn without_a_tenant_nothing_is_visible_and_nothing_can_be_written() {
    let db = TestDb::new().await;
    let conn = db.service("identity").await;
    let a = tenant_with_users(&conn, "alpha", 2).await;

    assert_eq!(count(&conn, "SELECT count(*) FROM identity.users").await, 0);
    assert_eq!(
        count(&conn, "SELECT count(*) FROM identity.tenants").await,
        0
    );
    let insert = conn
        .execute_raw(stmt(
            "INSERT INTO identity.users (tenant_id, id, email, display_name) VALUES ($1, $2, 'x@y.test', 'X')",
            vec![a.tenant().as_uuid().into(), uuid::Uuid::now_v7().into()],
        ))
        .await;
    let err = insert
        .expect_err("an insert outside a tenant transaction is refused")
        .to_string();
    assert!(err.contains("row-level security"), "{err}");

    // The owner role is subject to the same policies because RLS is forced.
    let owner = db.owner().await;
    assert_eq!(
        count(&owner, "SELECT count(*) FROM identity.users").await,
        0
    );
}

#[tokio::test]
async fn writes_naming_another_tenant_are_refused() {
    let db = TestDb::new().await;
    let conn = db.service("identity").await;
    let a = tenant_with_users(&conn, "alpha", 1).await;
    let b = tenant_with_users(&conn, "beta", 1).await;

    let tx = TenantTx::begin(&conn, &b).await.expect("begin");
    let err = tx
        .execute_raw(stmt(
            "INSERT INTO identity.users (tenant_id, id, email, display_name) VALUES ($1, $2, 'evil@b.test', 'Evil')",
            vec![a.tenant().as_uuid().into(), uuid::Uuid::now_v7().into()],
        ))
        .await
        .expect_err("inserting into tenant A from tenant B is refused")
        .to_string();
    assert!(err.contains("row-level security"), "{err}");
    drop(tx);

    let tx = TenantTx::begin(&conn, &b).await.expect("begin");
    let moved = tx
        .execute_raw(stmt(
            "UPDATE identity.users SET tenant_id = $1",
            vec![a.tenant().as_uuid().into()],
        ))
        .await
        .expect_err("moving a row into tenant A is refused")
        .to_string();
    assert!(moved.contains("row-level security"), "{moved}");
    drop(tx);

    let tx = TenantTx::begin(&conn, &b).await.expect("begin");
    let hit = tx
        .execute_raw(stmt(
            "UPDATE identity.users SET display_name = 'pwned' WHERE tenant_id = $1",
            vec![a.tenant().as_uuid().into()],
        ))
        .await
        .expect("runs");
    assert_eq!(
        hit.rows_affected(),
        0,
        "tenant A's rows are invisible to updates"
    );
    let deleted = tx
        .execute_raw(stmt(
            "DELETE FROM identity.users WHERE tenant_id = $1",
            vec![a.tenant().as_uuid().into()],
        ))
        .await
        .expect("runs");
    assert_eq!(deleted.rows_affected(), 0, "and to deletes");
    tx.commit().await.expect("commit");

    let tx = TenantTx::begin(&conn, &a).await.expect("begin");
    assert_eq!(
        count(
            &*tx,
            "SELECT count(*) FROM identity.users WHERE display_name <> 'pwned'"
        )
        .await,
        1,
        "tenant A's row is intact"
    );
}

#[tokio::test]
async fn a_tenant_setting_never_survives_its_transaction_on_a_pooled_connection() {
    let db = TestDb::new().await;
    let conn = db.service_pool("identity", 1).await;
    let a = tenant_with_users(&conn, "alpha", 2).await;
    let b = tenant_with_users(&conn, "beta", 1).await;
    let setting = "SELECT count(*) FROM (SELECT 1 WHERE coalesce(current_setting('app.tenant_id', true), '') <> '') s";

    // Committed: the single pooled connection is reused and must carry nothing over.
    let tx = TenantTx::begin(&conn, &a).await.expect("begin");
    assert_eq!(count(&*tx, "SELECT count(*) FROM identity.users").await, 2);
    tx.commit().await.expect("commit");
    assert_eq!(count(&conn, setting).await, 0, "no tenant set after commit");
    assert_eq!(count(&conn, "SELECT count(*) FROM identity.users").await, 0);

    // Rolled back explicitly, and dropped without either.
    let tx = TenantTx::begin(&conn, &a).await.expect("begin");
    tx.rollback().await.expect("rollback");
    assert_eq!(count(&conn, "SELECT count(*) FROM identity.users").await, 0);
    {
        let _tx = TenantTx::begin(&conn, &a).await.expect("begin");
    }
    assert_eq!(count(&conn, "SELECT count(*) FROM identity.users").await, 0);

    // The next tenant on the same connection sees only its own rows.
    let tx = TenantTx::begin(&conn, &b).await.expect("begin");
    assert_eq!(count(&*tx, "SELECT count(*) FROM identity.users").await, 1);
    tx.commit().await.expect("commit");
}

#[tokio::test]
async fn the_platform_path_crosses_tenants_only_with_an_audited_scope() {
    let db = TestDb::new().await;
    let conn = db.service("identity").await;
    tenant_with_users(&conn, "alpha", 2).await;
    tenant_with_users(&conn, "beta", 3).await;

    let staff = TenantContext::user(
        TenantId::PLATFORM,
        UserId::generate(),
        [Role::PlatformStaff],
    );
    let scope =
        PlatformScope::staff(&staff, "support ticket 1234: count users").expect("staff scope");
    let tx = PlatformTx::begin(&conn, &scope).await.expect("platform tx");
    assert_eq!(count(&*tx, "SELECT count(*) FROM identity.users").await, 5);
    tx.commit().await.expect("commit");

    // After it, the session is back to the service role and sees nothing without a tenant.
    assert_eq!(count(&conn, "SELECT count(*) FROM identity.users").await, 0);

    // The audit record was written, and the service role itself cannot read or change it.
    let owner = db.admin().await;
    let row = owner
        .query_one_raw(stmt(
            "SELECT actor_kind, reason, session_user_name FROM platform.access_log",
            vec![],
        ))
        .await
        .expect("query")
        .expect("one audit row");
    assert_eq!(
        row.try_get::<String>("", "actor_kind").expect("kind"),
        "staff"
    );
    assert_eq!(
        row.try_get::<String>("", "reason").expect("reason"),
        "support ticket 1234: count users"
    );
    assert_eq!(
        row.try_get::<String>("", "session_user_name").expect("who"),
        "aula_identity"
    );
    let read = conn
        .execute_unprepared("SELECT * FROM platform.access_log")
        .await;
    assert!(
        read.is_err(),
        "the service role cannot read the platform audit log"
    );

    // A role that was not granted the platform role cannot switch to it at all, and the
    // refusal leaves its (only) pooled connection outside any transaction.
    let owner = db.connect_as("aula_owner", 1).await;
    let err = PlatformTx::begin(&owner, &scope)
        .await
        .expect_err("the owner is not a member of aula_platform")
        .to_string();
    assert!(err.contains("permission denied"), "{err}");
    let first = transaction_start(&owner).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_ne!(
        transaction_start(&owner).await,
        first,
        "each statement runs in a transaction of its own"
    );
}

/// When the transaction the next statement runs in began.
async fn transaction_start(conn: &impl ConnectionTrait) -> String {
    let row = conn
        .query_one_raw(stmt("SELECT now()::text", vec![]))
        .await
        .expect("the connection is usable")
        .expect("one row");
    row.try_get_by_index::<String>(0).expect("a timestamp")
}

#[tokio::test]
async fn a_tenant_transaction_sets_only_its_tenant_and_is_all_or_nothing() {
    let db = TestDb::new().await;
    let conn = db.service("identity").await;
    let a = tenant_with_users(&conn, "alpha", 1).await;

    // The tenant is set, transaction-locally, and nothing else is.
    let tx = TenantTx::begin(&conn, &a).await.expect("begin");
    let settings = "SELECT current_setting('app.tenant_id', true), \
        coalesce(current_setting('app.user_id', true), '')";
    let row = tx
        .query_one_raw(stmt(settings, vec![]))
        .await
        .expect("query runs")
        .expect("one row");
    assert_eq!(
        row.try_get_by_index::<String>(0).expect("a tenant"),
        a.tenant().to_string()
    );
    assert_eq!(row.try_get_by_index::<String>(1).expect("a text"), "");
    tx.commit().await.expect("commit");

    // A failing statement reads as sea-orm reports it (services map unique violations by
    // constraint), and the transaction's earlier write goes with it.
    let tx = TenantTx::begin(&conn, &a).await.expect("begin");
    let insert = |email: &str| {
        stmt(
            "INSERT INTO identity.users (tenant_id, id, email, display_name) VALUES ($1, $2, $3, 'U')",
            vec![
                a.tenant().as_uuid().into(),
                uuid::Uuid::now_v7().into(),
                email.into(),
            ],
        )
    };
    tx.execute_raw(insert("new@alpha.test"))
        .await
        .expect("a new user");
    let err = tx
        .execute_raw(insert("NEW@alpha.test"))
        .await
        .expect_err("the same address twice");
    assert!(
        matches!(
            err.sql_err(),
            Some(sea_orm::SqlErr::UniqueConstraintViolation(ref m)) if m.contains("users_email_key")
        ),
        "{err:?}"
    );
    drop(tx);
    let tx = TenantTx::begin(&conn, &a).await.expect("begin");
    assert_eq!(count(&*tx, "SELECT count(*) FROM identity.users").await, 1);
    tx.commit().await.expect("commit");
}
