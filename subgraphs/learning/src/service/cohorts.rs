//! Cohorts: staff group a course's enrolled students with start and end dates and schedule live
//! sessions for them; students see the cohort they are in and its sessions, nobody else's.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use tenancy::{TenantContext, TenantTx};
use uuid::Uuid;

use super::{courses, is_staff, validate};
use crate::LearningError;
use crate::entity::{cohort, cohort_member, enrollment, live_session};

/// A session to schedule.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// Title.
    pub title: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// Length in minutes (1 to 1440).
    pub duration_minutes: i32,
    /// Where it happens (https).
    pub meeting_url: String,
}

/// The cohort `id` inside `tx`, with its course locked and editable by `ctx`.
async fn for_change(
    tx: &TenantTx,
    ctx: &TenantContext,
    id: Uuid,
) -> Result<cohort::Model, LearningError> {
    let cohort = cohort::Entity::find_by_id((ctx.tenant().as_uuid(), id))
        .one(&**tx)
        .await?
        .ok_or(LearningError::NotFound("cohort"))?;
    courses::for_change(tx, ctx, cohort.course_id).await?;
    Ok(cohort)
}

/// Creates a cohort of a course (its authors).
pub async fn create(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    course_id: Uuid,
    name: &str,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
) -> Result<cohort::Model, LearningError> {
    let name = validate::title("name", name)?;
    if ends_on < starts_on {
        return Err(LearningError::invalid(
            "endsOn",
            "endsOn must not be before startsOn",
        ));
    }
    let tx = TenantTx::begin(db, ctx).await?;
    courses::for_change(&tx, ctx, course_id).await?;
    let created = cohort::ActiveModel {
        tenant_id: Set(ctx.tenant().as_uuid()),
        id: Set(Uuid::now_v7()),
        course_id: Set(course_id),
        name: Set(name),
        starts_on: Set(starts_on),
        ends_on: Set(ends_on),
        created_at: Set(Utc::now().into()),
    }
    .insert(&*tx)
    .await?;
    tx.commit().await?;
    Ok(created)
}

/// Puts an enrollment of the cohort's course into the cohort (moving it from another one).
pub async fn add_member(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    cohort_id: Uuid,
    enrollment_id: Uuid,
) -> Result<cohort::Model, LearningError> {
    let tx = TenantTx::begin(db, ctx).await?;
    let cohort = for_change(&tx, ctx, cohort_id).await?;
    let enrollment = enrollment::Entity::find_by_id((ctx.tenant().as_uuid(), enrollment_id))
        .one(&*tx)
        .await?
        .ok_or(LearningError::NotFound("enrollment"))?;
    if enrollment.course_id != cohort.course_id {
        return Err(LearningError::invalid(
            "enrollmentId",
            "the enrollment is in another course",
        ));
    }
    cohort_member::Entity::delete_by_id((ctx.tenant().as_uuid(), enrollment_id))
        .exec(&*tx)
        .await?;
    cohort_member::ActiveModel {
        tenant_id: Set(ctx.tenant().as_uuid()),
        enrollment_id: Set(enrollment_id),
        cohort_id: Set(cohort.id),
        added_at: Set(Utc::now().into()),
    }
    .insert(&*tx)
    .await?;
    tx.commit().await?;
    Ok(cohort)
}

/// Schedules a live session for a cohort (its course's authors).
pub async fn schedule(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    cohort_id: Uuid,
    new: NewSession,
) -> Result<live_session::Model, LearningError> {
    let title = validate::title("title", &new.title)?;
    if !(1..=1440).contains(&new.duration_minutes) {
        return Err(LearningError::invalid(
            "durationMinutes",
            "durationMinutes must be between 1 and 1440",
        ));
    }
    let url = new.meeting_url.trim();
    if !url.starts_with("https://") || url.len() > 2000 || url.contains(char::is_whitespace) {
        return Err(LearningError::invalid(
            "meetingUrl",
            "meetingUrl must be an https:// address",
        ));
    }
    let tx = TenantTx::begin(db, ctx).await?;
    let cohort = for_change(&tx, ctx, cohort_id).await?;
    let created = live_session::ActiveModel {
        tenant_id: Set(ctx.tenant().as_uuid()),
        id: Set(Uuid::now_v7()),
        cohort_id: Set(cohort.id),
        title: Set(title),
        starts_at: Set(new.starts_at.into()),
        duration_minutes: Set(new.duration_minutes),
        meeting_url: Set(url.to_owned()),
        created_at: Set(Utc::now().into()),
    }
    .insert(&*tx)
    .await?;
    tx.commit().await?;
    Ok(created)
}

/// The cohorts of a course `ctx` may see: all for staff, the one a student is in.
pub async fn of_course(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    course_id: Uuid,
) -> Result<Vec<cohort::Model>, LearningError> {
    let tx = TenantTx::begin(db, ctx).await?;
    let mut select = cohort::Entity::find()
        .filter(cohort::Column::CourseId.eq(course_id))
        .order_by_asc(cohort::Column::StartsOn);
    if !is_staff(ctx) {
        let Some(me) = ctx.user_id() else {
            return Ok(Vec::new());
        };
        let mine: Vec<Uuid> = member_cohorts(&tx, me.as_uuid()).await?;
        select = select.filter(cohort::Column::Id.is_in(mine));
    }
    let rows = select.all(&*tx).await?;
    tx.commit().await?;
    Ok(rows)
}

/// The cohorts `student` is in.
async fn member_cohorts(tx: &TenantTx, student: Uuid) -> Result<Vec<Uuid>, LearningError> {
    let enrollments: Vec<Uuid> = enrollment::Entity::find()
        .filter(enrollment::Column::StudentId.eq(student))
        .all(&**tx)
        .await?
        .into_iter()
        .map(|e| e.id)
        .collect();
    Ok(cohort_member::Entity::find()
        .filter(cohort_member::Column::EnrollmentId.is_in(enrollments))
        .all(&**tx)
        .await?
        .into_iter()
        .map(|m| m.cohort_id)
        .collect())
}

/// A cohort's sessions, soonest first (for those who may see the cohort).
pub async fn sessions(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    cohort_id: Uuid,
) -> Result<Vec<live_session::Model>, LearningError> {
    let tx = TenantTx::begin(db, ctx).await?;
    let rows = live_session::Entity::find()
        .filter(live_session::Column::CohortId.eq(cohort_id))
        .order_by_asc(live_session::Column::StartsAt)
        .all(&*tx)
        .await?;
    tx.commit().await?;
    Ok(rows)
}

/// The signed-in student's sessions across their cohorts, soonest first.
pub async fn mine(
    db: &DatabaseConnection,
    ctx: &TenantContext,
) -> Result<Vec<live_session::Model>, LearningError> {
    let me = ctx.require_user()?;
    let tx = TenantTx::begin(db, ctx).await?;
    let cohorts = member_cohorts(&tx, me.as_uuid()).await?;
    let rows = live_session::Entity::find()
        .filter(live_session::Column::CohortId.is_in(cohorts))
        .order_by_asc(live_session::Column::StartsAt)
        .all(&*tx)
        .await?;
    tx.commit().await?;
    Ok(rows)
}

/// The members' enrollment ids of a cohort (staff).
pub async fn members(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    cohort_id: Uuid,
) -> Result<Vec<Uuid>, LearningError> {
    if !is_staff(ctx) {
        return Err(tenancy::AccessError::Forbidden.into());
    }
    let tx = TenantTx::begin(db, ctx).await?;
    let rows = cohort_member::Entity::find()
        .filter(cohort_member::Column::CohortId.eq(cohort_id))
        .all(&*tx)
        .await?;
    tx.commit().await?;
    Ok(rows.into_iter().map(|m| m.enrollment_id).collect())
}
