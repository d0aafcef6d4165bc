//! Enrollments and progress over GraphQL, and the `enrollments` learning contributes to
//! identity's `User`.

use async_graphql::connection::Connection;
use async_graphql::{ComplexObject, Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use kit::ResultExt;
use kit::graphql::{caller, db};
use kit::relay::{self, PageArgs};
use tenancy::UserId;

use super::{Course, UserRef, parse_id};
use crate::LearningError;
use crate::entity::{enrollment, progress};
use crate::service::enrollments::{self, Step};
use crate::service::{certificates, courses};

/// Where an enrollment stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum EnrollmentStatus {
    /// Waiting for the purchase to be paid.
    PendingPayment,
    /// Learning.
    Active,
    /// Every required lesson done.
    Completed,
    /// Ended by staff.
    Revoked,
}

/// How an enrollment came about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum EnrollmentSource {
    /// The student, in a free course.
    Free,
    /// Staff.
    Admin,
    /// A purchase.
    Purchase,
    /// A partner integration.
    Partner,
}

/// A student's enrollment in a course.
#[derive(Clone, Debug)]
pub struct Enrollment(pub enrollment::Model);

#[Object]
impl Enrollment {
    /// The enrollment's id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The course (null if the caller may no longer see it).
    async fn course(&self, ctx: &Context<'_>) -> Result<Option<Course>> {
        let caller = caller(ctx)?;
        Ok(courses::get(db(ctx), caller, self.0.course_id)
            .await
            .gql()?
            .map(Course::from))
    }

    /// The student (resolved by identity).
    async fn student(&self) -> UserRef {
        UserRef {
            id: ID(self.0.student_id.to_string()),
        }
    }

    /// Where it stands.
    async fn status(&self) -> EnrollmentStatus {
        match self.0.status.as_str() {
            "pending_payment" => EnrollmentStatus::PendingPayment,
            "completed" => EnrollmentStatus::Completed,
            "revoked" => EnrollmentStatus::Revoked,
            _ => EnrollmentStatus::Active,
        }
    }

    /// How it came about.
    async fn source(&self) -> EnrollmentSource {
        match self.0.source.as_str() {
            "admin" => EnrollmentSource::Admin,
            "purchase" => EnrollmentSource::Purchase,
            "partner" => EnrollmentSource::Partner,
            _ => EnrollmentSource::Free,
        }
    }

    /// Created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at.into()
    }

    /// Became active.
    async fn activated_at(&self) -> Option<DateTime<Utc>> {
        self.0.activated_at.map(Into::into)
    }

    /// Completed.
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at.map(Into::into)
    }

    /// The certificate, once completed.
    async fn certificate(&self, ctx: &Context<'_>) -> Result<Option<Certificate>> {
        let caller = caller(ctx)?;
        Ok(certificates::of_enrollment(db(ctx), caller, &self.0)
            .await
            .gql()?
            .map(|c| Certificate {
                code: c.code,
                holder_name: c.holder_name,
                course_title: c.course_title,
                issued_at: c.issued_at.into(),
            }))
    }

    /// Per-lesson progress.
    async fn progress(&self, ctx: &Context<'_>) -> Result<Vec<LessonProgress>> {
        let caller = caller(ctx)?;
        Ok(enrollments::progress_of(db(ctx), caller, &self.0)
            .await
            .gql()?
            .into_iter()
            .map(LessonProgress)
            .collect())
    }
}

/// How far an enrollment got in one lesson.
#[derive(Clone, Debug)]
pub struct LessonProgress(pub progress::Model);

#[Object]
impl LessonProgress {
    /// The lesson's id.
    async fn lesson_id(&self) -> ID {
        ID(self.0.lesson_id.to_string())
    }

    /// First opened.
    async fn started_at(&self) -> DateTime<Utc> {
        self.0.started_at.into()
    }

    /// Finished.
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at.map(Into::into)
    }

    /// Where the video was left, in seconds.
    async fn video_position_secs(&self) -> i32 {
        self.0.video_position_secs
    }
}

/// A completed enrollment's certificate.
#[derive(Clone, Debug, SimpleObject)]
pub struct Certificate {
    /// The public verification code.
    pub code: String,
    /// The holder's name as issued.
    pub holder_name: String,
    /// The course's title as issued.
    pub course_title: String,
    /// Issued.
    pub issued_at: DateTime<Utc>,
}

/// What anyone may learn about a certificate from its code.
#[derive(Clone, Debug, SimpleObject)]
pub struct CertificateVerification {
    /// The holder's name.
    pub holder_name: String,
    /// The course's title.
    pub course_title: String,
    /// Issued.
    pub issued_at: DateTime<Utc>,
}

/// A progress step's outcome: the lesson's progress and the enrollment after it.
#[derive(Clone, Debug, SimpleObject)]
pub struct ProgressResult {
    /// The lesson's progress.
    pub progress: LessonProgress,
    /// The enrollment (completed once every required lesson is done).
    pub enrollment: Enrollment,
}

#[ComplexObject]
impl UserRef {
    /// This user's enrollments (the user themself, and staff).
    async fn enrollments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<String, Enrollment>> {
        let caller = caller(ctx)?;
        let student = parse_id("id", &self.id)?;
        let window = PageArgs {
            first,
            after,
            last,
            before,
        }
        .window()
        .gql()?;
        let page = enrollments::of_student(db(ctx), caller, student, window)
            .await
            .gql()?;
        Ok(relay::connection(page, |e| e.id, Enrollment))
    }
}

/// Enrollment queries.
#[derive(Debug, Default)]
pub struct EnrollmentQuery;

#[Object]
impl EnrollmentQuery {
    /// The signed-in user's enrollments, oldest first.
    async fn my_enrollments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<String, Enrollment>> {
        let caller = caller(ctx)?;
        let me = caller.require_user().map_err(LearningError::from).gql()?;
        UserRef {
            id: ID(me.to_string()),
        }
        .enrollments(ctx, first, after, last, before)
        .await
    }

    /// An enrollment (its student's own, or any for staff).
    async fn enrollment(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Enrollment>> {
        let caller = caller(ctx)?;
        let id = parse_id("id", &id)?;
        Ok(enrollments::get(db(ctx), caller, id)
            .await
            .gql()?
            .map(Enrollment))
    }

    /// A course's enrollments, oldest first (staff).
    async fn course_enrollments(
        &self,
        ctx: &Context<'_>,
        course_id: ID,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<String, Enrollment>> {
        let caller = caller(ctx)?;
        let course_id = parse_id("courseId", &course_id)?;
        let window = PageArgs {
            first,
            after,
            last,
            before,
        }
        .window()
        .gql()?;
        let page = enrollments::of_course(db(ctx), caller, course_id, window)
            .await
            .gql()?;
        Ok(relay::connection(page, |e| e.id, Enrollment))
    }

    /// Verifies a certificate of this academy by its code (anyone, visitors included): only
    /// the holder's name, the course title and the date; null for an unknown code.
    async fn verify_certificate(
        &self,
        ctx: &Context<'_>,
        code: String,
    ) -> Result<Option<CertificateVerification>> {
        let caller = kit::graphql::visitor(ctx)?;
        Ok(certificates::verify(db(ctx), caller, &code)
            .await
            .gql()?
            .map(|c| CertificateVerification {
                holder_name: c.holder_name,
                course_title: c.course_title,
                issued_at: c.issued_at.into(),
            }))
    }

    /// Federation: identity's `User`, extended with its enrollments.
    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> UserRef {
        UserRef { id }
    }
}

/// Enrollment mutations.
#[derive(Debug, Default)]
pub struct EnrollmentMutation;

#[Object]
impl EnrollmentMutation {
    /// Enrolls the signed-in user in a published course: active at once when it is free, else
    /// waiting for payment. Enrolling again returns the same enrollment.
    async fn enroll(&self, ctx: &Context<'_>, course_id: ID) -> Result<Enrollment> {
        let caller = caller(ctx)?;
        let course_id = parse_id("courseId", &course_id)?;
        enrollments::enroll_self(db(ctx), caller, course_id)
            .await
            .gql()
            .map(Enrollment)
    }

    /// Enrolls a student (staff; instructors in their courses; partners), whatever the price.
    async fn enroll_student(
        &self,
        ctx: &Context<'_>,
        course_id: ID,
        student_id: ID,
    ) -> Result<Enrollment> {
        let caller = caller(ctx)?;
        let course_id = parse_id("courseId", &course_id)?;
        let student = UserId::from_uuid(parse_id("studentId", &student_id)?);
        enrollments::enroll_student(db(ctx), caller, course_id, student)
            .await
            .gql()
            .map(Enrollment)
    }

    /// Ends an enrollment (staff); its progress is kept.
    async fn revoke_enrollment(&self, ctx: &Context<'_>, id: ID) -> Result<Enrollment> {
        let caller = caller(ctx)?;
        let id = parse_id("id", &id)?;
        enrollments::revoke(db(ctx), caller, id)
            .await
            .gql()
            .map(Enrollment)
    }

    /// Clears an enrollment's progress (staff); recorded with who did it.
    async fn reset_progress(&self, ctx: &Context<'_>, enrollment_id: ID) -> Result<Enrollment> {
        let caller = caller(ctx)?;
        let id = parse_id("enrollmentId", &enrollment_id)?;
        enrollments::reset_progress(db(ctx), caller, id)
            .await
            .gql()
            .map(Enrollment)
    }

    /// The signed-in student opened a lesson.
    async fn start_lesson(&self, ctx: &Context<'_>, lesson_id: ID) -> Result<ProgressResult> {
        self.step(ctx, lesson_id, Step::Start).await
    }

    /// The signed-in student finished a lesson; the last required one completes the course.
    async fn complete_lesson(&self, ctx: &Context<'_>, lesson_id: ID) -> Result<ProgressResult> {
        self.step(ctx, lesson_id, Step::Complete).await
    }

    /// Where the signed-in student left a lesson's video, in seconds.
    async fn record_video_position(
        &self,
        ctx: &Context<'_>,
        lesson_id: ID,
        seconds: i32,
    ) -> Result<ProgressResult> {
        self.step(ctx, lesson_id, Step::Position(seconds)).await
    }
}

impl EnrollmentMutation {
    async fn step(&self, ctx: &Context<'_>, lesson_id: ID, step: Step) -> Result<ProgressResult> {
        let caller = caller(ctx)?;
        let lesson_id = parse_id("lessonId", &lesson_id)?;
        let (progress, enrollment) = enrollments::step(db(ctx), caller, lesson_id, step)
            .await
            .gql()?;
        Ok(ProgressResult {
            progress: LessonProgress(progress),
            enrollment: Enrollment(enrollment),
        })
    }
}
