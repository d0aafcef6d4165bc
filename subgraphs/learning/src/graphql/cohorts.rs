//! Cohorts and their live sessions over GraphQL.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use kit::ResultExt;
use kit::graphql::{caller, db};

use super::parse_id;
use crate::entity::{cohort, live_session};
use crate::service::cohorts::{self, NewSession};

/// A group of a course's students with dates.
#[derive(Clone, Debug)]
pub struct Cohort(pub cohort::Model);

#[Object]
impl Cohort {
    /// The cohort's id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// First day.
    async fn starts_on(&self) -> NaiveDate {
        self.0.starts_on
    }

    /// Last day.
    async fn ends_on(&self) -> NaiveDate {
        self.0.ends_on
    }

    /// Its live sessions, soonest first.
    async fn sessions(&self, ctx: &Context<'_>) -> Result<Vec<LiveSession>> {
        let caller = caller(ctx)?;
        Ok(cohorts::sessions(db(ctx), caller, self.0.id)
            .await
            .gql()?
            .into_iter()
            .map(LiveSession::from)
            .collect())
    }

    /// Its members' enrollment ids (staff).
    async fn member_enrollment_ids(&self, ctx: &Context<'_>) -> Result<Vec<ID>> {
        let caller = caller(ctx)?;
        Ok(cohorts::members(db(ctx), caller, self.0.id)
            .await
            .gql()?
            .into_iter()
            .map(|id| ID(id.to_string()))
            .collect())
    }
}

/// A scheduled live session.
#[derive(Clone, Debug, SimpleObject)]
pub struct LiveSession {
    /// The session's id.
    pub id: ID,
    /// Title.
    pub title: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// Length in minutes.
    pub duration_minutes: i32,
    /// Where it happens.
    pub meeting_url: String,
}

impl From<live_session::Model> for LiveSession {
    fn from(m: live_session::Model) -> Self {
        Self {
            id: ID(m.id.to_string()),
            title: m.title,
            starts_at: m.starts_at.into(),
            duration_minutes: m.duration_minutes,
            meeting_url: m.meeting_url,
        }
    }
}

/// Input of `scheduleSession`.
#[derive(Debug, InputObject)]
pub struct ScheduleSessionInput {
    /// Title.
    pub title: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// Length in minutes (1 to 1440).
    pub duration_minutes: i32,
    /// Where it happens (https).
    pub meeting_url: String,
}

/// Cohort queries.
#[derive(Debug, Default)]
pub struct CohortQuery;

#[Object]
impl CohortQuery {
    /// The signed-in student's live sessions across their cohorts, soonest first.
    async fn my_sessions(&self, ctx: &Context<'_>) -> Result<Vec<LiveSession>> {
        let caller = caller(ctx)?;
        Ok(cohorts::mine(db(ctx), caller)
            .await
            .gql()?
            .into_iter()
            .map(LiveSession::from)
            .collect())
    }

    /// A course's cohorts: all for staff, a student's own.
    async fn course_cohorts(&self, ctx: &Context<'_>, course_id: ID) -> Result<Vec<Cohort>> {
        let caller = caller(ctx)?;
        let course_id = parse_id("courseId", &course_id)?;
        Ok(cohorts::of_course(db(ctx), caller, course_id)
            .await
            .gql()?
            .into_iter()
            .map(Cohort)
            .collect())
    }
}

/// Cohort mutations.
#[derive(Debug, Default)]
pub struct CohortMutation;

#[Object]
impl CohortMutation {
    /// Creates a cohort of a course (its authors).
    async fn create_cohort(
        &self,
        ctx: &Context<'_>,
        course_id: ID,
        name: String,
        starts_on: NaiveDate,
        ends_on: NaiveDate,
    ) -> Result<Cohort> {
        let caller = caller(ctx)?;
        let course_id = parse_id("courseId", &course_id)?;
        cohorts::create(db(ctx), caller, course_id, &name, starts_on, ends_on)
            .await
            .gql()
            .map(Cohort)
    }

    /// Puts an enrollment of the course into the cohort.
    async fn add_cohort_member(
        &self,
        ctx: &Context<'_>,
        cohort_id: ID,
        enrollment_id: ID,
    ) -> Result<Cohort> {
        let caller = caller(ctx)?;
        let cohort_id = parse_id("cohortId", &cohort_id)?;
        let enrollment_id = parse_id("enrollmentId", &enrollment_id)?;
        cohorts::add_member(db(ctx), caller, cohort_id, enrollment_id)
            .await
            .gql()
            .map(Cohort)
    }

    /// Schedules a live session for a cohort.
    async fn schedule_session(
        &self,
        ctx: &Context<'_>,
        cohort_id: ID,
        input: ScheduleSessionInput,
    ) -> Result<LiveSession> {
        let caller = caller(ctx)?;
        let cohort_id = parse_id("cohortId", &cohort_id)?;
        let new = NewSession {
            title: input.title,
            starts_at: input.starts_at,
            duration_minutes: input.duration_minutes,
            meeting_url: input.meeting_url,
        };
        cohorts::schedule(db(ctx), caller, cohort_id, new)
            .await
            .gql()
            .map(LiveSession::from)
    }
}
