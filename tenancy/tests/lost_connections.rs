//! Pooled connections that die while idle (the server restarted, their backends were
//! terminated) on a real database: the next tenant transaction opens on a live connection
//! instead of failing its request.

use harness::TestDb;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tenancy::{TenantContext, TenantId, TenantTx};

fn stmt(sql: &str) -> Statement {
    Statement::from_string(DbBackend::Postgres, sql)
}

async fn backend_pid(conn: &impl ConnectionTrait) -> i32 {
    let row = conn
        .query_one_raw(stmt("SELECT pg_backend_pid()"))
        .await
        .expect("query runs")
        .expect("one row");
    row.try_get_by_index::<i32>(0).expect("a pid")
}

#[tokio::test]
async fn a_tenant_transaction_opens_on_a_live_connection_when_the_pooled_ones_died() {
    const POOL: usize = 3;
    let db = TestDb::new().await;
    let conn = db.service_pool("identity", POOL as u32).await;
    let ctx = TenantContext::anonymous(TenantId::generate());

    // Every connection of the pool opened and just used: none is old enough to be pinged.
    let mut open = Vec::new();
    let mut pids = Vec::new();
    for _ in 0..POOL {
        let tx = TenantTx::begin(&conn, &ctx).await.expect("begin");
        pids.push(backend_pid(&*tx).await);
        open.push(tx);
    }
    for tx in open {
        tx.commit().await.expect("commit");
    }

    // Their backends end, waiting (up to 5 s each) until they are gone.
    let admin = db.admin().await;
    let list = pids
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let ended = admin
        .query_one_raw(stmt(&format!(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) \
             FROM unnest(ARRAY[{list}]) AS pid"
        )))
        .await
        .expect("terminate")
        .expect("one row");
    let ended: i64 = ended.try_get_by_index(0).expect("a count");
    assert_eq!(ended, POOL as i64, "every pooled backend ended");

    // Each of the next transactions runs, on a new backend.
    for _ in 0..POOL {
        let tx = TenantTx::begin(&conn, &ctx)
            .await
            .expect("a transaction opens on a live connection");
        let pid = backend_pid(&*tx).await;
        assert!(!pids.contains(&pid), "ran on ended backend {pid}");
        tx.commit().await.expect("commit");
    }
}
