//! The ordered migrations, one module each.

use sea_orm_migration::MigrationTrait;

mod m0001_platform;
mod m0002_identity;
mod m0003_identity_auth;
mod m0004_learning;
mod m0005_learning_enrollments;
mod m0006_learning_search;
mod m0007_learning_quizzes;
mod m0008_learning_cohorts;
mod m0009_learning_certificates;
mod m0010_learning_media;
mod m0011_outbox_notify;
mod m0012_tenant_policy_direct;

pub(crate) fn all() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(m0001_platform::Migration),
        Box::new(m0002_identity::Migration),
        Box::new(m0003_identity_auth::Migration),
        Box::new(m0004_learning::Migration),
        Box::new(m0005_learning_enrollments::Migration),
        Box::new(m0006_learning_search::Migration),
        Box::new(m0007_learning_quizzes::Migration),
        Box::new(m0008_learning_cohorts::Migration),
        Box::new(m0009_learning_certificates::Migration),
        Box::new(m0010_learning_media::Migration),
        Box::new(m0011_outbox_notify::Migration),
        Box::new(m0012_tenant_policy_direct::Migration),
    ]
}
