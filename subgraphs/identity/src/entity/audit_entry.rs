//! `identity.audit_log`: one append-only security event of a tenant.

use sea_orm::entity::prelude::*;

/// A `audit_log` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(schema_name = "identity", table_name = "audit_log")]
pub struct Model {
    /// The owning tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// Time-ordered id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// When.
    pub at: DateTimeWithTimeZone,
    /// `area.verb`, e.g. `sign_in.password`.
    pub action: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// `user`, `api_client`, `platform`, `anonymous` or `system`.
    pub actor_kind: String,
    /// The actor's id.
    pub actor_id: Option<String>,
    /// What was acted on (a user id, client id, provider id).
    pub subject: Option<String>,
    /// Client IP address.
    pub ip: Option<String>,
    /// Event-specific facts (never secrets).
    pub detail: Json,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
