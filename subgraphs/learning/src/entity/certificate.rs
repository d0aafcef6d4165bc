//! `learning.certificates`: proof that an enrollment was completed.

use sea_orm::entity::prelude::*;

/// A certificate row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "learning", table_name = "certificates")]
pub struct Model {
    /// The owning tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// The certificate's id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The completed enrollment (one certificate each).
    pub enrollment_id: Uuid,
    /// The course.
    pub course_id: Uuid,
    /// The holder (an identity user).
    pub student_id: Uuid,
    /// Public verification code, `XXXX-XXXX-XXXX-XXXX`.
    pub code: String,
    /// The holder's display name when it was issued.
    pub holder_name: String,
    /// The course's title when it was issued.
    pub course_title: String,
    /// Issued.
    pub issued_at: DateTimeWithTimeZone,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
