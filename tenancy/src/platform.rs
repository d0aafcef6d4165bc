//! The explicit, audited path for cross-tenant work (platform staff, billing runs).
//!
//! Ordinary code cannot reach other tenants' rows: it holds a [`TenantTx`](crate::TenantTx).
//! Crossing tenants needs a [`PlatformScope`] (built only from a platform-staff context or a
//! named system job, always with a reason) and a [`PlatformTx`], which switches the session to
//! the `aula_platform` database role with `SET LOCAL ROLE` (only roles granted membership can,
//! and membership does not inherit its privileges) and records who, why and when in
//! `platform.access_log` in the same transaction.

use std::ops::Deref;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

use crate::transaction::Transaction;
use crate::{AccessError, Role, TenantContext, UserId};

/// The database role whose policies see every tenant's rows.
pub const PLATFORM_ROLE: &str = "aula_platform";

/// Who crosses tenants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlatformActor {
    /// A member of platform staff, signed in to the platform tenant.
    Staff(UserId),
    /// A named background job (for example `billing.usage_run`).
    Job(&'static str),
}

/// Permission to cross tenants, with the reason recorded in the audit log.
#[derive(Clone, Debug)]
pub struct PlatformScope {
    actor: PlatformActor,
    reason: String,
}

/// A platform scope could not be granted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScopeError {
    /// The caller is not platform staff.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Every crossing needs a reason for the audit log.
    #[error("a reason is required to act across tenants")]
    MissingReason,
}

impl PlatformScope {
    /// Grants platform scope to a signed-in member of platform staff.
    pub fn staff(ctx: &TenantContext, reason: impl Into<String>) -> Result<Self, ScopeError> {
        let user = ctx.require_user()?;
        if !(ctx.tenant().is_platform() && ctx.has_role(Role::PlatformStaff)) {
            return Err(AccessError::Forbidden.into());
        }
        Self::new(PlatformActor::Staff(user), reason.into())
    }

    /// Grants platform scope to a named system job.
    pub fn job(name: &'static str, reason: impl Into<String>) -> Result<Self, ScopeError> {
        Self::new(PlatformActor::Job(name), reason.into())
    }

    fn new(actor: PlatformActor, reason: String) -> Result<Self, ScopeError> {
        if reason.trim().is_empty() {
            return Err(ScopeError::MissingReason);
        }
        Ok(Self { actor, reason })
    }

    /// Who is acting.
    pub fn actor(&self) -> &PlatformActor {
        &self.actor
    }
}

/// A transaction that sees every tenant's rows, opened under a [`PlatformScope`].
#[derive(Debug)]
pub struct PlatformTx {
    tx: Transaction,
}

impl PlatformTx {
    /// Opens the transaction, switches to the platform role and writes the audit record.
    pub async fn begin(db: &DatabaseConnection, scope: &PlatformScope) -> Result<Self, DbErr> {
        let (kind, actor) = match &scope.actor {
            PlatformActor::Staff(user) => ("staff", user.to_string()),
            PlatformActor::Job(name) => ("job", (*name).to_owned()),
        };
        tracing::warn!(actor_kind = kind, actor = %actor, reason = %scope.reason, "platform scope opened");
        let tx = Transaction::begin(db).await?;
        tx.execute_unprepared(&format!("SET LOCAL ROLE {PLATFORM_ROLE}"))
            .await?;
        tx.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO platform.access_log (actor_kind, actor, reason, session_user_name) \
             VALUES ($1, $2, $3, session_user)",
            [kind.into(), actor.into(), scope.reason.clone().into()],
        ))
        .await?;
        Ok(Self { tx })
    }

    /// Commits the work and its audit record together.
    pub async fn commit(self) -> Result<(), DbErr> {
        self.tx.commit().await
    }
}

impl Deref for PlatformTx {
    type Target = Transaction;

    fn deref(&self) -> &Transaction {
        &self.tx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TenantId;

    #[test]
    fn only_platform_staff_get_a_staff_scope() {
        let staff = TenantContext::user(
            TenantId::PLATFORM,
            UserId::generate(),
            [Role::PlatformStaff],
        );
        assert!(PlatformScope::staff(&staff, "suspend tenant for abuse report 42").is_ok());

        let owner = TenantContext::user(TenantId::generate(), UserId::generate(), [Role::Owner]);
        assert_eq!(
            PlatformScope::staff(&owner, "curious").err(),
            Some(ScopeError::Access(AccessError::Forbidden))
        );
        assert_eq!(
            PlatformScope::staff(&TenantContext::anonymous(TenantId::PLATFORM), "x").err(),
            Some(ScopeError::Access(AccessError::Unauthenticated))
        );
    }

    #[test]
    fn every_scope_needs_a_reason() {
        assert_eq!(
            PlatformScope::job("billing.run", "  ").err(),
            Some(ScopeError::MissingReason)
        );
        assert!(PlatformScope::job("billing.run", "monthly invoices").is_ok());
    }
}
