//! `learning.cohort_members`: an enrollment's place in a cohort (at most one).

use sea_orm::entity::prelude::*;

/// A membership row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "learning", table_name = "cohort_members")]
pub struct Model {
    /// The owning tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// The member's enrollment.
    #[sea_orm(primary_key, auto_increment = false)]
    pub enrollment_id: Uuid,
    /// The cohort.
    pub cohort_id: Uuid,
    /// Added.
    pub added_at: DateTimeWithTimeZone,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
