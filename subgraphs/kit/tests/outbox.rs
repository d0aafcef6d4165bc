//! The outbox relay on a real database (learning's outbox table, as the learning role): events
//! reach the handler in order per tenant and are marked published, a failing event holds back
//! its tenant's later ones until it succeeds, the sweep finds missed tenants through the audited
//! platform path, and a committed insert wakes a running relay by NOTIFY.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::TestDb;
use kit::outbox::{Handler, OutboxEvent, Relay, RelayError};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tenancy::{TenantContext, TenantId, TenantTx};

/// Records what it is handed; refuses topics listed in `refuse`.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<(TenantId, String)>>,
    refuse: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl Handler for Recorder {
    async fn handle(&self, event: &OutboxEvent) -> Result<(), String> {
        if self.refuse.lock().expect("lock").contains(&event.topic) {
            return Err("refused".into());
        }
        self.seen
            .lock()
            .expect("lock")
            .push((event.tenant, event.topic.clone()));
        Ok(())
    }
}

impl Recorder {
    fn seen(&self) -> Vec<(TenantId, String)> {
        self.seen.lock().expect("lock").clone()
    }
}

async fn record(db: &DatabaseConnection, tenant: TenantId, topic: &str) {
    let tx = TenantTx::begin(db, &TenantContext::anonymous(tenant))
        .await
        .expect("tx");
    tx.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO learning.outbox (tenant_id, id, topic, payload) VALUES ($1, $2, $3, '{}')",
        [
            tenant.as_uuid().into(),
            uuid::Uuid::now_v7().into(),
            topic.into(),
        ],
    ))
    .await
    .expect("insert");
    tx.commit().await.expect("commit");
}

const UNPUBLISHED: &str = "SELECT count(*) AS n FROM learning.outbox WHERE published_at IS NULL";
const SWEEPS: &str =
    "SELECT count(*) AS n FROM platform.access_log WHERE actor = 'kit.outbox_test'";

/// The count `sql` (`SELECT count(*) AS n …`) reads, as the database admin.
async fn count(admin: &DatabaseConnection, sql: &str) -> i64 {
    admin
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .expect("count")
        .expect("row")
        .try_get("", "n")
        .expect("n")
}

#[tokio::test]
async fn events_are_relayed_in_order_per_tenant_and_failures_hold_back_the_rest() {
    let db = TestDb::new().await;
    let learning = db.connect_as("aula_learning", 4).await;
    let admin = db.admin().await;
    let (a, b) = (TenantId::generate(), TenantId::generate());
    for topic in ["a.one", "a.two", "a.three"] {
        record(&learning, a, topic).await;
    }
    record(&learning, b, "b.one").await;

    let recorder = Arc::new(Recorder::default());
    recorder.refuse.lock().expect("lock").push("a.two".into());
    let relay = Relay::new(
        learning.clone(),
        "learning",
        "kit.outbox_test",
        recorder.clone(),
    );

    // Draining A stops at the refused event: the first is published, the rest wait.
    let err = relay.drain(a).await.expect_err("a.two is refused");
    assert!(
        matches!(err, RelayError::Handler(ref m) if m.contains("a.two")),
        "{err}"
    );
    assert_eq!(recorder.seen(), [(a, "a.one".to_owned())]);
    assert_eq!(count(&admin, UNPUBLISHED).await, 3);

    // Once the handler accepts it, a sweep (the audited platform read) finds both tenants and
    // relays the rest in order.
    recorder.refuse.lock().expect("lock").clear();
    let relayed = relay.sweep().await.expect("sweep");
    assert_eq!(relayed, 3);
    let seen = recorder.seen();
    let of_a: Vec<&str> = seen
        .iter()
        .filter(|(t, _)| *t == a)
        .map(|(_, s)| s.as_str())
        .collect();
    assert_eq!(of_a, ["a.one", "a.two", "a.three"]);
    assert!(seen.contains(&(b, "b.one".to_owned())));
    assert_eq!(count(&admin, UNPUBLISHED).await, 0);
    assert_eq!(count(&admin, SWEEPS).await, 1, "the sweep is recorded");

    // Nothing is handed over twice.
    assert_eq!(relay.sweep().await.expect("sweep"), 0);
    assert_eq!(recorder.seen().len(), 4);
}

#[tokio::test]
async fn a_running_relay_is_woken_by_the_insert() {
    let db = TestDb::new().await;
    let learning = db.connect_as("aula_learning", 4).await;
    let recorder = Arc::new(Recorder::default());
    // A sweep interval far beyond the test: only the notification can deliver.
    let task = Relay::new(
        learning.clone(),
        "learning",
        "kit.outbox_test",
        recorder.clone(),
    )
    .sweep_every(Duration::from_secs(3600))
    .spawn();
    // The relay listens, then sweeps once (audited): after that, only NOTIFY can deliver.
    let admin = db.admin().await;
    let mut swept = false;
    for _ in 0..100 {
        if count(&admin, SWEEPS).await > 0 {
            swept = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(swept, "the relay started");
    let tenant = TenantId::generate();
    record(&learning, tenant, "woken").await;
    for _ in 0..100 {
        if !recorder.seen().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(recorder.seen(), [(tenant, "woken".to_owned())]);
    drop(task);
}
