//! The `learning` schema's tables, one sea-orm entity each. Every table is tenant-owned and
//! keyed `(tenant_id, id)`.

pub mod certificate;
pub mod cohort;
pub mod cohort_member;
pub mod course;
pub mod enrollment;
pub mod lesson;
pub mod live_session;
pub mod media;
pub mod module;
pub mod outbox;
pub mod progress;
pub mod quiz_attempt;
pub mod quiz_question;
