//! The database transaction under [`TenantTx`](crate::TenantTx) and
//! [`PlatformTx`](crate::platform::PlatformTx): it can begin with this crate's own statement, so
//! `BEGIN` and the tenant settings travel in one round trip, and it runs sea-orm's statements.

use std::sync::Arc;

use sea_orm::sea_query::Values;
use sea_orm::sqlx::{self, Executor, PgPool, Postgres};
use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult,
    RuntimeErr, Statement,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::Mutex;

/// An open PostgreSQL transaction; sea-orm queries run in it through [`ConnectionTrait`].
///
/// Dropped without [`commit`](Self::commit), it rolls back (sqlx queues the `ROLLBACK` before
/// the connection goes back to the pool).
pub struct Transaction {
    tx: Mutex<sqlx::Transaction<'static, Postgres>>,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Transaction")
    }
}

impl Transaction {
    /// Takes a connection from `db`'s pool and sends `BEGIN` alone.
    pub(crate) async fn begin(db: &DatabaseConnection) -> Result<Self, DbErr> {
        // Boxed: see `begin_for_tenant`.
        let tx = Box::pin(begin_on_live(pool(db)?, None))
            .await
            .map_err(begin_err)?;
        Ok(Self { tx: Mutex::new(tx) })
    }

    /// Takes a connection from `db`'s pool and sends `BEGIN; SET LOCAL app.tenant_id =
    /// '<tenant>'` as one message: one round trip.
    ///
    /// The message is text (the simple query protocol takes no parameters), so only the tenant
    /// id, whose text form its type fixes, goes into it. And only a statement that cannot fail
    /// semantically: were one to fail after `BEGIN`, sqlx would hand the connection back to
    /// the pool inside the aborted transaction block (it arms its rollback only once the whole
    /// message succeeded). Setting a custom placeholder variable cannot fail; a role switch
    /// can, so [`PlatformTx`](crate::platform::PlatformTx) sends it after [`begin`](Self::begin).
    pub(crate) async fn begin_for_tenant(
        db: &DatabaseConnection,
        tenant: crate::TenantId,
    ) -> Result<Self, DbErr> {
        // sqlx's begin future (a pool checkout that may connect) is about 14 KiB. Boxed, it is
        // one allocation per transaction; inline, it would make every future that opens a
        // transaction that large, up to the resolvers: async-graphql boxes one future per field
        // of every object, sized for the type's largest resolver, and copied them (a tenth of
        // the learning subgraph's CPU on a catalog page went to those copies).
        let tx = Box::pin(begin_on_live(pool(db)?, Some(tenant)))
            .await
            .map_err(begin_err)?;
        Ok(Self { tx: Mutex::new(tx) })
    }

    /// Commits.
    pub(crate) async fn commit(self) -> Result<(), DbErr> {
        self.tx.into_inner().commit().await.map_err(exec_err)
    }

    /// Rolls back.
    pub(crate) async fn rollback(self) -> Result<(), DbErr> {
        self.tx.into_inner().rollback().await.map_err(exec_err)
    }
}

/// Opens a transaction on a live connection of `pool`: `BEGIN`, with `tenant` set in the same
/// message when given.
///
/// The services' pools ping only connections that sat idle for a while (`kit::server`), so a
/// connection that died more recently (the server restarted, its backend was terminated) is
/// found out by this first message. Nothing ran on it, so the transaction is opened again on
/// another connection, only while the failure is the connection's, and at most once more than
/// the pool holds connections: each failure drops one.
async fn begin_on_live(
    pool: &PgPool,
    tenant: Option<crate::TenantId>,
) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
    let mut attempts = pool.options().get_max_connections() + 1;
    loop {
        attempts -= 1;
        let opened = match tenant {
            Some(tenant) => {
                let statement = format!("BEGIN; SET LOCAL app.tenant_id = '{tenant}'");
                pool.begin_with(sqlx::AssertSqlSafe(statement)).await
            }
            None => pool.begin().await,
        };
        match opened {
            Err(err) if attempts > 0 && connection_lost(&err) => {
                tracing::info!(error = %err, "pooled connection lost; trying another");
            }
            opened => return opened,
        }
    }
}

/// Whether `err` is the connection's failure rather than the statement's: its socket is gone,
/// or the server ended the session (SQLSTATE class 08, connection exception; 57P01 and 57P02,
/// an administrator's or a crash's shutdown). (Refusals while connecting, such as no free
/// connection slot, sqlx retries itself until the pool's acquire timeout.)
pub fn connection_lost(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(e) => e
            .code()
            .is_some_and(|code| code.starts_with("08") || matches!(&*code, "57P01" | "57P02")),
        _ => false,
    }
}

fn pool(db: &DatabaseConnection) -> Result<&PgPool, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Err(DbErr::Conn(RuntimeErr::Internal(
            "tenant transactions need a PostgreSQL connection".into(),
        )));
    }
    Ok(db.get_postgres_connection_pool())
}

/// As sea-orm reports a failed `BEGIN`: a full or closed pool is `ConnectionAcquire`.
fn begin_err(err: sqlx::Error) -> DbErr {
    match err {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        err => query_err(err),
    }
}

// As sea-orm's own transaction wraps driver errors, so `DbErr::sql_err` reads them the same.
fn exec_err(err: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(err)))
}

fn query_err(err: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(err)))
}

fn query(stmt: &Statement) -> sqlx::query::Query<'_, Postgres, SqlxValues> {
    let values = stmt.values.clone().unwrap_or(Values(Vec::new()));
    sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values))
}

#[async_trait::async_trait]
impl ConnectionTrait for Transaction {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let mut tx = self.tx.lock().await;
        query(&stmt)
            .execute(&mut **tx)
            .await
            .map(Into::into)
            .map_err(exec_err)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let mut tx = self.tx.lock().await;
        (&mut **tx)
            .execute(sqlx::AssertSqlSafe(sql.to_owned()))
            .await
            .map(Into::into)
            .map_err(exec_err)
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let mut tx = self.tx.lock().await;
        query(&stmt)
            .fetch_optional(&mut **tx)
            .await
            .map(|row| row.map(Into::into))
            .map_err(query_err)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut tx = self.tx.lock().await;
        query(&stmt)
            .fetch_all(&mut **tx)
            .await
            .map(|rows| rows.into_iter().map(Into::into).collect())
            .map_err(query_err)
    }
}
