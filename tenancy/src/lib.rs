//! Tenant identity and request context, and the only code that binds a database session to a tenant.
//!
//! Every subgraph reaches tenant-owned rows through [`TenantTx`], which sets `app.tenant_id`
//! with `SET LOCAL` in the same round trip as `BEGIN`: transaction-local, so the setting can
//! never outlive the transaction, leak to the next user of a pooled connection, or break
//! behind a transaction-pooling PgBouncer. Row-level security policies installed by the `migration` crate
//! read that setting; without it a query sees no rows and an insert is refused.
//!
//! Cross-tenant work goes through [`platform::PlatformTx`], which needs an explicit
//! [`platform::PlatformScope`] and writes an audit record in the same transaction.

mod access;
mod context;
mod ids;
pub mod platform;
mod transaction;
mod tx;

pub use access::{Access, AccessError};
pub use context::{Claims, ContextError, Role, TenantContext};
pub use ids::{ParseIdError, TenantId, UserId};
pub use transaction::{Transaction, connection_lost};
pub use tx::TenantTx;
