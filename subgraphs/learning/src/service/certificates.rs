//! Certificates: issued in the transaction that completes an enrollment, at most one per
//! enrollment (a unique key makes a second issue a no-op), with a public code anyone can verify
//! on the academy's address — showing only the holder's name, the course title and the date.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use tenancy::{TenantContext, TenantTx};
use uuid::Uuid;

use super::enrollments::may_see;
use super::outbox;
use crate::LearningError;
use crate::entity::{certificate, course, enrollment};

/// A fresh verification code: 64 random bits as `XXXX-XXXX-XXXX-XXXX`.
fn code() -> String {
    let hex = format!("{:016X}", Uuid::new_v4().as_u128() as u64);
    format!(
        "{}-{}-{}-{}",
        &hex[..4],
        &hex[4..8],
        &hex[8..12],
        &hex[12..]
    )
}

/// Issues `enrollment`'s certificate to `holder` inside `tx` unless it exists.
pub(crate) async fn issue(
    tx: &TenantTx,
    enrollment: &enrollment::Model,
    holder: &str,
) -> Result<(), LearningError> {
    let title = course::Entity::find_by_id((enrollment.tenant_id, enrollment.course_id))
        .one(&**tx)
        .await?
        .map(|c| c.title)
        .unwrap_or_default();
    let row = certificate::ActiveModel {
        tenant_id: Set(enrollment.tenant_id),
        id: Set(Uuid::now_v7()),
        enrollment_id: Set(enrollment.id),
        course_id: Set(enrollment.course_id),
        student_id: Set(enrollment.student_id),
        code: Set(code()),
        holder_name: Set(holder.to_owned()),
        course_title: Set(title),
        issued_at: Set(chrono::Utc::now().into()),
    };
    let inserted = certificate::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                certificate::Column::TenantId,
                certificate::Column::EnrollmentId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&**tx)
        .await?;
    if inserted == 1 {
        outbox::record(
            &**tx,
            tenancy::TenantId::from_uuid(enrollment.tenant_id),
            "certificate.issued",
            serde_json::json!({ "enrollmentId": enrollment.id, "courseId": enrollment.course_id,
                                "studentId": enrollment.student_id }),
        )
        .await?;
    }
    Ok(())
}

/// The certificate of `enrollment`, for those who may see the enrollment.
pub async fn of_enrollment(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    enrollment: &enrollment::Model,
) -> Result<Option<certificate::Model>, LearningError> {
    if !may_see(ctx, enrollment) {
        return Ok(None);
    }
    let tx = TenantTx::begin(db, ctx).await?;
    let found = certificate::Entity::find()
        .filter(certificate::Column::EnrollmentId.eq(enrollment.id))
        .one(&*tx)
        .await?;
    tx.commit().await?;
    Ok(found)
}

/// The certificate with `code` in the caller's academy (anyone, visitors included).
pub async fn verify(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    code: &str,
) -> Result<Option<certificate::Model>, LearningError> {
    let code = code.trim().to_ascii_uppercase();
    let tx = TenantTx::begin(db, ctx).await?;
    let found = certificate::Entity::find()
        .filter(certificate::Column::Code.eq(code))
        .one(&*tx)
        .await?;
    tx.commit().await?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_the_stored_shape_and_differ() {
        let a = code();
        assert_eq!(a.len(), 19);
        assert!(a.split('-').all(|g| {
            g.len() == 4
                && g.chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        }));
        assert_ne!(a, code());
    }
}
