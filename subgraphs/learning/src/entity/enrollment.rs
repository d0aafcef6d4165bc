//! `learning.enrollments`: a student's place in a course.

use sea_orm::entity::prelude::*;

/// An enrollment row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "learning", table_name = "enrollments")]
pub struct Model {
    /// The owning tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// The enrollment's id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The course.
    pub course_id: Uuid,
    /// The student (an identity user).
    pub student_id: Uuid,
    /// `pending_payment`, `active`, `completed` or `revoked`.
    pub status: String,
    /// `free`, `admin`, `purchase` or `partner`.
    pub source: String,
    /// Created.
    pub created_at: DateTimeWithTimeZone,
    /// Became active.
    pub activated_at: Option<DateTimeWithTimeZone>,
    /// Every required lesson done.
    pub completed_at: Option<DateTimeWithTimeZone>,
    /// Revoked by staff.
    pub revoked_at: Option<DateTimeWithTimeZone>,
    /// Last changed.
    pub updated_at: DateTimeWithTimeZone,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
