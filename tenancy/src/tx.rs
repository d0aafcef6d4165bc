//! The tenant transaction: the one place `app.tenant_id` is ever set on a database session.

use std::ops::Deref;

use sea_orm::{DatabaseConnection, DbErr};

use crate::transaction::Transaction;
use crate::{TenantContext, TenantId};

/// A database transaction confined to one tenant by row-level security.
///
/// `begin` opens a transaction and sets `app.tenant_id` transaction-locally (`BEGIN; SET LOCAL
/// ..`, one round trip), and nothing else: no policy reads the caller's user. Use it anywhere
/// a `ConnectionTrait` is expected (it dereferences to the [`Transaction`]), then
/// [`commit`](Self::commit). Dropping it without committing rolls back.
#[derive(Debug)]
pub struct TenantTx {
    tx: Transaction,
    tenant: TenantId,
}

impl TenantTx {
    /// Opens a transaction for the caller's tenant.
    pub async fn begin(db: &DatabaseConnection, ctx: &TenantContext) -> Result<Self, DbErr> {
        let tx = Transaction::begin_for_tenant(db, ctx.tenant()).await?;
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
    type Target = Transaction;

    fn deref(&self) -> &Transaction {
        &self.tx
    }
}
