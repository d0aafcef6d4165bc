//! Learning's decisions: who may see and change what, input validation, and the tenant
//! transactions that store it. Resolvers call these with the caller's context.

pub mod certificates;
pub mod cohorts;
pub mod courses;
pub mod enrollments;
pub mod events;
pub mod markdown;
pub mod media;
pub mod meili;
pub mod outbox;
pub mod quizzes;
pub mod search;
pub mod structure;
pub mod validate;

use tenancy::{Access, Role, TenantContext};

/// Who creates courses and changes them (instructors only the courses they teach).
pub const AUTHOR: Access =
    Access::roles(&[Role::Owner, Role::Admin, Role::Instructor]).or_scope("learning:courses:write");

/// Who publishes, archives and deletes courses.
pub const CURATOR: Access =
    Access::roles(&[Role::Owner, Role::Admin]).or_scope("learning:courses:write");

/// Whether `ctx` sees drafts and archived courses and every lesson's content: the tenant's
/// staff and partners allowed to read courses. Everyone else sees the published catalog.
pub fn is_staff(ctx: &TenantContext) -> bool {
    [Role::Owner, Role::Admin, Role::Instructor, Role::Sales]
        .iter()
        .any(|r| ctx.has_role(*r))
        || ctx.has_scope("learning:courses:read")
        || ctx.has_scope("learning:courses:write")
}
