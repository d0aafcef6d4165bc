//! `identity.invitations`: an emailed offer to join a tenant with given roles.

use sea_orm::entity::prelude::*;

/// An `invitations` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "identity", table_name = "invitations")]
pub struct Model {
    /// The owning tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// Row id (part of the opaque token).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Who is invited.
    pub email: String,
    /// The roles the invitee gets.
    pub roles: Vec<String>,
    /// SHA-256 of the token's secret.
    pub digest: Vec<u8>,
    /// The staff member who invited.
    pub invited_by: Uuid,
    /// Issued (or last re-sent).
    pub created_at: DateTimeWithTimeZone,
    /// Unusable after.
    pub expires_at: DateTimeWithTimeZone,
    /// Accepted.
    pub accepted_at: Option<DateTimeWithTimeZone>,
    /// The user the acceptance created.
    pub accepted_user: Option<Uuid>,
    /// Withdrawn by staff.
    pub revoked_at: Option<DateTimeWithTimeZone>,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
