//! The database transaction under [`TenantTx`](crate::TenantTx) and
//! [`PlatformTx`](crate::platform::PlatformTx): it begins with this crate's own statement, so
//! `BEGIN` and the session settings travel in one round trip, and it runs sea-orm's statements.

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

/// The typed values a transaction's opening statement may carry. The statement is sent as
/// text (the simple query protocol takes no parameters), so only values whose text form is
/// fixed by their type (UUIDs) or written by this crate (role names) go into it.
pub(crate) enum Setting {
    /// `SET LOCAL <name> = '<uuid>'`, or `''` for none.
    Local(&'static str, Option<uuid::Uuid>),
    /// `SET LOCAL ROLE <role>`.
    Role(&'static str),
}

impl Transaction {
    /// Takes a connection from `db`'s pool and sends `BEGIN` with `settings` as one query.
    pub(crate) async fn begin(
        db: &DatabaseConnection,
        settings: &[Setting],
    ) -> Result<Self, DbErr> {
        let mut statement = String::from("BEGIN");
        for setting in settings {
            match setting {
                Setting::Local(name, Some(value)) => {
                    statement.push_str(&format!("; SET LOCAL {name} = '{value}'"));
                }
                Setting::Local(name, None) => {
                    statement.push_str(&format!("; SET LOCAL {name} = ''"))
                }
                Setting::Role(role) => statement.push_str(&format!("; SET LOCAL ROLE {role}")),
            }
        }
        let tx = pool(db)?
            .begin_with(sqlx::AssertSqlSafe(statement))
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
