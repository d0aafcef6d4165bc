//! Enrollments and progress: students enroll themselves in free published courses (a paid
//! one leaves a `pending_payment` enrollment for payments to activate); staff and partners
//! enroll, and staff revoke and reset. Enrolled students record per-lesson progress; when every
//! required lesson is done the enrollment completes, exactly once (the enrollment row is locked
//! while progress is written). Students see only their own enrollments and progress.

use kit::relay::{self, Page, Window};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    PaginatorTrait, QueryFilter, QuerySelect, Set, Statement, Unchanged,
};
use tenancy::{Access, Role, TenantContext, TenantId, TenantTx, UserId};
use uuid::Uuid;

use super::courses::{Status as CourseStatus, visible};
use super::{is_staff, outbox};
use crate::LearningError;
use crate::entity::{course, enrollment, lesson, progress};

/// Who enrolls other people and revokes enrollments.
pub const MANAGE: Access = Access::roles(&[Role::Owner, Role::Admin, Role::Instructor])
    .or_scope("learning:enrollments:write");

/// An enrollment's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Waiting for the purchase to be paid.
    PendingPayment,
    /// Learning.
    Active,
    /// Every required lesson done.
    Completed,
    /// Ended by staff.
    Revoked,
}

impl Status {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::PendingPayment => "pending_payment",
            Status::Active => "active",
            Status::Completed => "completed",
            Status::Revoked => "revoked",
        }
    }
}

/// Whether `ctx` may see `enrollment`: its student, the tenant's staff, partners reading
/// enrollments.
pub fn may_see(ctx: &TenantContext, enrollment: &enrollment::Model) -> bool {
    ctx.user_id()
        .is_some_and(|me| me.as_uuid() == enrollment.student_id)
        || is_staff(ctx)
        || ctx.has_scope("learning:enrollments:read")
        || ctx.has_scope("learning:enrollments:write")
}

/// Whether `status` lets its student into the lessons.
fn learning(status: &str) -> bool {
    status == Status::Active.as_str() || status == Status::Completed.as_str()
}

/// How many students learn (active or completed) in each of `course_ids` of `tenant`, in one
/// query; courses without any are absent. The counts are public: a catalog shows them.
pub async fn counts(
    db: &DatabaseConnection,
    tenant: TenantId,
    course_ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, i64>, LearningError> {
    let tx = TenantTx::begin(db, &TenantContext::anonymous(tenant)).await?;
    let found = counts_in(&*tx, course_ids).await?;
    tx.commit().await?;
    Ok(found)
}

/// [`counts`] inside an open tenant transaction.
pub(crate) async fn counts_in<C: ConnectionTrait>(
    conn: &C,
    course_ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, i64>, LearningError> {
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT course_id, count(*) AS n FROM learning.enrollments
             WHERE course_id = ANY($1) AND status IN ('active', 'completed')
             GROUP BY course_id",
            [course_ids.to_vec().into()],
        ))
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("", "course_id")?, r.try_get("", "n")?)))
        .collect()
}

/// Whether `ctx`'s user holds an active or completed enrollment in `course_id` (checked
/// inside an open tenant transaction).
pub(crate) async fn is_enrolled<C: ConnectionTrait>(
    conn: &C,
    ctx: &TenantContext,
    course_id: Uuid,
) -> Result<bool, LearningError> {
    let Some(me) = ctx.user_id() else {
        return Ok(false);
    };
    let found = enrollment::Entity::find()
        .filter(enrollment::Column::CourseId.eq(course_id))
        .filter(enrollment::Column::StudentId.eq(me.as_uuid()))
        .one(conn)
        .await?;
    Ok(found.is_some_and(|e| learning(&e.status)))
}

async fn published_course<C: ConnectionTrait>(
    conn: &C,
    ctx: &TenantContext,
    course_id: Uuid,
) -> Result<course::Model, LearningError> {
    let course = course::Entity::find_by_id((ctx.tenant().as_uuid(), course_id))
        .one(conn)
        .await?
        .filter(|c| visible(ctx, c))
        .ok_or(LearningError::NotFound("course"))?;
    if course.status != CourseStatus::Published.as_str() {
        return Err(LearningError::invalid(
            "courseId",
            "enrollment is open for published courses only",
        ));
    }
    Ok(course)
}

/// Inserts an enrollment unless the student already has one; returns whichever exists.
async fn insert_or_existing(
    tx: &TenantTx,
    ctx: &TenantContext,
    course_id: Uuid,
    student: Uuid,
    status: Status,
    source: &str,
) -> Result<(enrollment::Model, bool), LearningError> {
    let now = chrono::Utc::now();
    let row = enrollment::ActiveModel {
        tenant_id: Set(ctx.tenant().as_uuid()),
        id: Set(Uuid::now_v7()),
        course_id: Set(course_id),
        student_id: Set(student),
        status: Set(status.as_str().into()),
        source: Set(source.into()),
        created_at: Set(now.into()),
        activated_at: Set((status == Status::Active).then(|| now.into())),
        completed_at: Set(None),
        revoked_at: Set(None),
        updated_at: Set(now.into()),
    };
    let inserted = enrollment::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                enrollment::Column::TenantId,
                enrollment::Column::CourseId,
                enrollment::Column::StudentId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&**tx)
        .await?;
    let current = enrollment::Entity::find()
        .filter(enrollment::Column::CourseId.eq(course_id))
        .filter(enrollment::Column::StudentId.eq(student))
        .lock_exclusive()
        .one(&**tx)
        .await?
        .ok_or(LearningError::NotFound("enrollment"))?;
    Ok((current, inserted == 1))
}

/// The signed-in user enrolls in a published course: active at once when it is free, else
/// waiting for payment. Enrolling again returns the existing enrollment.
pub async fn enroll_self(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    course_id: Uuid,
) -> Result<enrollment::Model, LearningError> {
    let me = ctx.require_user()?;
    let tx = TenantTx::begin(db, ctx).await?;
    let course = published_course(&*tx, ctx, course_id).await?;
    let (status, source) = if course.price_cents == Some(0) {
        (Status::Active, "free")
    } else {
        (Status::PendingPayment, "purchase")
    };
    let (enrollment, created) =
        insert_or_existing(&tx, ctx, course_id, me.as_uuid(), status, source).await?;
    if enrollment.status == Status::Revoked.as_str() {
        return Err(tenancy::AccessError::Forbidden.into());
    }
    if created && status == Status::Active {
        announce(&*tx, &enrollment, "enrollment.activated").await?;
    }
    tx.commit().await?;
    Ok(enrollment)
}

/// Staff (instructors: their courses) or a partner enroll `student`, active whatever the price;
/// a revoked or unpaid enrollment is activated again.
pub async fn enroll_student(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    course_id: Uuid,
    student: UserId,
) -> Result<enrollment::Model, LearningError> {
    ctx.require(MANAGE)?;
    let source = if ctx.client_id().is_some() {
        "partner"
    } else {
        "admin"
    };
    let tx = TenantTx::begin(db, ctx).await?;
    let course = published_course(&*tx, ctx, course_id).await?;
    may_manage(ctx, &course)?;
    let (enrollment, created) = insert_or_existing(
        &tx,
        ctx,
        course_id,
        student.as_uuid(),
        Status::Active,
        source,
    )
    .await?;
    let reactivate = !created && !learning(&enrollment.status);
    let enrollment = if reactivate {
        let now = chrono::Utc::now();
        enrollment::ActiveModel {
            tenant_id: Unchanged(enrollment.tenant_id),
            id: Unchanged(enrollment.id),
            status: Set(Status::Active.as_str().into()),
            source: Set(source.into()),
            activated_at: Set(Some(now.into())),
            revoked_at: Set(None),
            updated_at: Set(now.into()),
            ..Default::default()
        }
        .update(&*tx)
        .await?
    } else {
        enrollment
    };
    if created || reactivate {
        announce(&*tx, &enrollment, "enrollment.activated").await?;
    }
    tx.commit().await?;
    Ok(enrollment)
}

/// Instructors manage enrollments of the courses they teach; owners, admins and partners all.
fn may_manage(ctx: &TenantContext, course: &course::Model) -> Result<(), LearningError> {
    let teaches = ctx
        .user_id()
        .is_some_and(|me| course.instructor_ids.contains(&me.as_uuid()));
    if ctx.has_role(Role::Owner)
        || ctx.has_role(Role::Admin)
        || ctx.client_id().is_some()
        || teaches
    {
        Ok(())
    } else {
        Err(tenancy::AccessError::Forbidden.into())
    }
}

async fn announce<C: ConnectionTrait>(
    conn: &C,
    enrollment: &enrollment::Model,
    topic: &str,
) -> Result<(), LearningError> {
    outbox::record(
        conn,
        tenancy::TenantId::from_uuid(enrollment.tenant_id),
        topic,
        serde_json::json!({
            "enrollmentId": enrollment.id,
            "courseId": enrollment.course_id,
            "studentId": enrollment.student_id,
        }),
    )
    .await?;
    Ok(())
}

/// The enrollment `id` inside `tx`, locked, for staff allowed to manage its course.
async fn for_management(
    tx: &TenantTx,
    ctx: &TenantContext,
    id: Uuid,
) -> Result<enrollment::Model, LearningError> {
    ctx.require(MANAGE)?;
    let enrollment = enrollment::Entity::find_by_id((ctx.tenant().as_uuid(), id))
        .lock_exclusive()
        .one(&**tx)
        .await?
        .ok_or(LearningError::NotFound("enrollment"))?;
    let course = course::Entity::find_by_id((ctx.tenant().as_uuid(), enrollment.course_id))
        .one(&**tx)
        .await?
        .ok_or(LearningError::NotFound("course"))?;
    may_manage(ctx, &course)?;
    Ok(enrollment)
}

/// Staff end an enrollment; its progress is kept.
pub async fn revoke(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    id: Uuid,
) -> Result<enrollment::Model, LearningError> {
    let tx = TenantTx::begin(db, ctx).await?;
    let enrollment = for_management(&tx, ctx, id).await?;
    if enrollment.status == Status::Revoked.as_str() {
        tx.commit().await?;
        return Ok(enrollment);
    }
    let now = chrono::Utc::now();
    let revoked = enrollment::ActiveModel {
        tenant_id: Unchanged(enrollment.tenant_id),
        id: Unchanged(enrollment.id),
        status: Set(Status::Revoked.as_str().into()),
        revoked_at: Set(Some(now.into())),
        updated_at: Set(now.into()),
        ..Default::default()
    }
    .update(&*tx)
    .await?;
    announce(&*tx, &revoked, "enrollment.revoked").await?;
    tx.commit().await?;
    Ok(revoked)
}

/// Staff clear an enrollment's progress (a completed one becomes active again). The reset is
/// recorded, with who did it, as an `enrollment.progress_reset` event.
pub async fn reset_progress(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    id: Uuid,
) -> Result<enrollment::Model, LearningError> {
    let tx = TenantTx::begin(db, ctx).await?;
    let enrollment = for_management(&tx, ctx, id).await?;
    progress::Entity::delete_many()
        .filter(progress::Column::EnrollmentId.eq(id))
        .exec(&*tx)
        .await?;
    let enrollment = if enrollment.status == Status::Completed.as_str() {
        enrollment::ActiveModel {
            tenant_id: Unchanged(enrollment.tenant_id),
            id: Unchanged(enrollment.id),
            status: Set(Status::Active.as_str().into()),
            completed_at: Set(None),
            updated_at: Set(chrono::Utc::now().into()),
            ..Default::default()
        }
        .update(&*tx)
        .await?
    } else {
        enrollment
    };
    outbox::record(
        &*tx,
        ctx.tenant(),
        "enrollment.progress_reset",
        serde_json::json!({
            "enrollmentId": enrollment.id,
            "courseId": enrollment.course_id,
            "studentId": enrollment.student_id,
            "by": ctx.user_id().map(|u| u.to_string()).or_else(|| ctx.client_id().map(str::to_owned)),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(enrollment)
}

/// The enrollment `id`, if `ctx` may see it.
pub async fn get(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    id: Uuid,
) -> Result<Option<enrollment::Model>, LearningError> {
    let tx = TenantTx::begin(db, ctx).await?;
    let found = enrollment::Entity::find_by_id((ctx.tenant().as_uuid(), id))
        .one(&*tx)
        .await?;
    tx.commit().await?;
    Ok(found.filter(|e| may_see(ctx, e)))
}

/// `student`'s enrollments, oldest first: the student themself, or staff.
pub async fn of_student(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    student: Uuid,
    window: Window,
) -> Result<Page<enrollment::Model>, LearningError> {
    let own = ctx.user_id().is_some_and(|me| me.as_uuid() == student);
    if !(own || is_staff(ctx) || ctx.has_scope("learning:enrollments:read")) {
        return Err(tenancy::AccessError::Forbidden.into());
    }
    let select = enrollment::Entity::find().filter(enrollment::Column::StudentId.eq(student));
    Ok(relay::fetch_in_tenant(db, ctx, select, enrollment::Column::Id, window).await?)
}

/// A course's enrollments, oldest first, for staff.
pub async fn of_course(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    course_id: Uuid,
    window: Window,
) -> Result<Page<enrollment::Model>, LearningError> {
    if !(is_staff(ctx) || ctx.has_scope("learning:enrollments:read")) {
        return Err(tenancy::AccessError::Forbidden.into());
    }
    let select = enrollment::Entity::find().filter(enrollment::Column::CourseId.eq(course_id));
    Ok(relay::fetch_in_tenant(db, ctx, select, enrollment::Column::Id, window).await?)
}

/// An enrollment's per-lesson progress, for those who may see the enrollment.
pub async fn progress_of(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    enrollment: &enrollment::Model,
) -> Result<Vec<progress::Model>, LearningError> {
    if !may_see(ctx, enrollment) {
        return Ok(Vec::new());
    }
    let tx = TenantTx::begin(db, ctx).await?;
    let rows = progress::Entity::find()
        .filter(progress::Column::EnrollmentId.eq(enrollment.id))
        .all(&*tx)
        .await?;
    tx.commit().await?;
    Ok(rows)
}

/// What one step of progress does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Opened the lesson.
    Start,
    /// Left the video at this many seconds.
    Position(i32),
    /// Finished the lesson.
    Complete,
}

/// The signed-in student's step in `lesson_id` of a course they are enrolled in. Completing
/// the last required lesson completes the enrollment, once, however many requests race.
pub async fn step(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    lesson_id: Uuid,
    step: Step,
) -> Result<(progress::Model, enrollment::Model), LearningError> {
    let me = ctx.require_user()?;
    if let Step::Position(secs) = step
        && !(0..=1_000_000).contains(&secs)
    {
        return Err(LearningError::invalid(
            "seconds",
            "seconds must be between 0 and 1000000",
        ));
    }
    let tx = TenantTx::begin(db, ctx).await?;
    let lesson = lesson::Entity::find_by_id((ctx.tenant().as_uuid(), lesson_id))
        .one(&*tx)
        .await?
        .ok_or(LearningError::NotFound("lesson"))?;
    let enrollment = learning_enrollment(&tx, me.as_uuid(), lesson.course_id)
        .await?
        .ok_or(LearningError::NotFound("lesson"))?;
    if step == Step::Complete
        && lesson.kind == "quiz"
        && lesson.pass_required
        && !super::quizzes::passed(&*tx, enrollment.id, lesson.id).await?
    {
        return Err(LearningError::invalid(
            "lessonId",
            "pass this lesson's quiz to complete it",
        ));
    }
    let enrollment = match step {
        Step::Complete => complete_lesson_in(&tx, ctx, enrollment, lesson_id).await?,
        Step::Start | Step::Position(_) => {
            // Opening keeps an earlier position; a position replaces it.
            let (position, update) = match step {
                Step::Position(secs) => {
                    (secs, "video_position_secs = EXCLUDED.video_position_secs,")
                }
                _ => (0, ""),
            };
            tx.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!(
                    "INSERT INTO learning.lesson_progress \
                       (tenant_id, enrollment_id, lesson_id, video_position_secs) \
                     VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (tenant_id, enrollment_id, lesson_id) \
                     DO UPDATE SET {update} updated_at = now()"
                ),
                [
                    enrollment.tenant_id.into(),
                    enrollment.id.into(),
                    lesson_id.into(),
                    position.into(),
                ],
            ))
            .await?;
            enrollment
        }
    };
    let row = progress::Entity::find_by_id((ctx.tenant().as_uuid(), enrollment.id, lesson_id))
        .one(&*tx)
        .await?
        .ok_or(LearningError::NotFound("lesson"))?;
    tx.commit().await?;
    Ok((row, enrollment))
}

/// `student`'s active or completed enrollment in `course_id`, locked for a progress change.
pub(crate) async fn learning_enrollment(
    tx: &TenantTx,
    student: Uuid,
    course_id: Uuid,
) -> Result<Option<enrollment::Model>, LearningError> {
    Ok(enrollment::Entity::find()
        .filter(enrollment::Column::CourseId.eq(course_id))
        .filter(enrollment::Column::StudentId.eq(student))
        .lock_exclusive()
        .one(&**tx)
        .await?
        .filter(|e| learning(&e.status)))
}

/// Marks `lesson_id` completed for `enrollment` (locked by the caller) and completes the
/// enrollment when it was the last required lesson.
pub(crate) async fn complete_lesson_in(
    tx: &TenantTx,
    ctx: &TenantContext,
    enrollment: enrollment::Model,
    lesson_id: Uuid,
) -> Result<enrollment::Model, LearningError> {
    tx.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO learning.lesson_progress (tenant_id, enrollment_id, lesson_id, completed_at) \
         VALUES ($1, $2, $3, now()) ON CONFLICT (tenant_id, enrollment_id, lesson_id) \
         DO UPDATE SET completed_at = COALESCE(lesson_progress.completed_at, now()), updated_at = now()",
        [enrollment.tenant_id.into(), enrollment.id.into(), lesson_id.into()],
    ))
    .await?;
    if enrollment.status == Status::Active.as_str() {
        complete_if_done(tx, enrollment, holder(ctx)).await
    } else {
        Ok(enrollment)
    }
}

/// Completes `enrollment` (locked by the caller) when every required lesson of its course has
/// completed progress.
async fn complete_if_done(
    tx: &TenantTx,
    enrollment: enrollment::Model,
    holder: &str,
) -> Result<enrollment::Model, LearningError> {
    let required: Vec<Uuid> = lesson::Entity::find()
        .filter(lesson::Column::CourseId.eq(enrollment.course_id))
        .filter(lesson::Column::Required.eq(true))
        .select_only()
        .column(lesson::Column::Id)
        .into_tuple()
        .all(&**tx)
        .await?;
    let done = progress::Entity::find()
        .filter(progress::Column::EnrollmentId.eq(enrollment.id))
        .filter(progress::Column::CompletedAt.is_not_null())
        .filter(progress::Column::LessonId.is_in(required.clone()))
        .count(&**tx)
        .await?;
    if required.is_empty() || done < required.len() as u64 {
        return Ok(enrollment);
    }
    let now = chrono::Utc::now();
    let completed = enrollment::ActiveModel {
        tenant_id: Unchanged(enrollment.tenant_id),
        id: Unchanged(enrollment.id),
        status: Set(Status::Completed.as_str().into()),
        completed_at: Set(Some(now.into())),
        updated_at: Set(now.into()),
        ..Default::default()
    }
    .update(&**tx)
    .await?;
    announce(&**tx, &completed, "enrollment.completed").await?;
    super::certificates::issue(tx, &completed, holder).await?;
    Ok(completed)
}

/// The name a certificate shows for `ctx`'s user.
fn holder(ctx: &TenantContext) -> &str {
    ctx.display_name().unwrap_or("Student")
}
