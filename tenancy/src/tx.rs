//! The tenant transaction: the one place `app.tenant_id` is ever set on a database session.

use std::ops::Deref;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement,
    TransactionTrait,
};

use crate::{TenantContext, TenantId};

/// A database transaction confined to one tenant by row-level security.
///
/// `begin` opens a transaction and sets `app.tenant_id` and `app.user_id` transaction-locally
/// (`set_config(name, value, true)`). Use it anywhere a `&DatabaseTransaction` or
/// `ConnectionTrait` is expected (it dereferences to the transaction), then [`commit`](Self::commit).
/// Dropping it without committing rolls back.
#[derive(Debug)]
pub struct TenantTx {
    tx: DatabaseTransaction,
    tenant: TenantId,
}

impl TenantTx {
    /// Opens a transaction for the caller's tenant.
    pub async fn begin(db: &DatabaseConnection, ctx: &TenantContext) -> Result<Self, DbErr> {
        let tx = db.begin().await?;
        let user = ctx.user_id().map(|u| u.to_string()).unwrap_or_default();
        tx.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT set_config('app.tenant_id', $1, true), set_config('app.user_id', $2, true)",
            [ctx.tenant().to_string().into(), user.into()],
        ))
        .await?;
        Ok(Self {
            tx,
            tenant: ctx.tenant(),
        })
    }

    /// The tenant this transaction is confined to.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// Commits; the tenant setting ends with the transaction.
    pub async fn commit(self) -> Result<(), DbErr> {
        self.tx.commit().await
    }

    /// Rolls back explicitly (dropping does the same).
    pub async fn rollback(self) -> Result<(), DbErr> {
        self.tx.rollback().await
    }
}

impl Deref for TenantTx {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.tx
    }
}
