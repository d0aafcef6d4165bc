//! Learning's GraphQL API: resolvers translate arguments into service calls and models into
//! types; they decide nothing themselves.

mod cohorts;
mod enrollments;
pub mod loaders;
mod media;
mod quizzes;
mod types;

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, InputObject, MergedObject, Object, Result};
use kit::ResultExt;
use kit::graphql::{caller, db, visitor};
use kit::relay::{self, PageArgs};
use uuid::Uuid;

use crate::LearningError;
use crate::service::courses::{self, CoursePatch, NewCourse};
use crate::service::search;
use crate::service::structure::{self, LessonPatch, NewLesson};
pub use types::{Course, CourseLevel, CourseStatus, Lesson, LessonKind, Module, Price, UserRef};

fn parse_id(field: &'static str, id: &ID) -> Result<Uuid> {
    Uuid::parse_str(id)
        .map_err(|_| LearningError::invalid(field, format!("{field} is not a valid id")))
        .gql()
}

fn parse_ids(field: &'static str, ids: &[ID]) -> Result<Vec<Uuid>> {
    ids.iter().map(|id| parse_id(field, id)).collect()
}

pub use enrollments::{Enrollment, EnrollmentSource, EnrollmentStatus, LessonProgress};

/// Query root.
#[derive(Debug, Default, MergedObject)]
pub struct Query(
    CourseQuery,
    enrollments::EnrollmentQuery,
    cohorts::CohortQuery,
    media::MediaQuery,
);

/// Mutation root.
#[derive(Debug, Default, MergedObject)]
pub struct Mutation(
    CourseMutation,
    enrollments::EnrollmentMutation,
    quizzes::QuizMutation,
    cohorts::CohortMutation,
    media::MediaMutation,
);

/// Course queries.
#[derive(Debug, Default)]
pub struct CourseQuery;

#[Object]
impl CourseQuery {
    /// The academy's courses, oldest first: staff see every course, everyone else (visitors of
    /// the academy's address included) the published ones.
    async fn courses(
        &self,
        ctx: &Context<'_>,
        status: Option<CourseStatus>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<String, Course>> {
        let caller = visitor(ctx)?;
        let window = PageArgs {
            first,
            after,
            last,
            before,
        }
        .window()
        .gql()?;
        // Enrollment counts asked for on this page are read with it, in one transaction.
        let look = ctx.look_ahead();
        let with_counts = look
            .field("edges")
            .field("node")
            .field("enrollmentCount")
            .exists()
            || look.field("nodes").field("enrollmentCount").exists();
        let status = status.map(CourseStatus::status);
        let listing = courses::list(db(ctx), caller, status, window, with_counts)
            .await
            .gql()?;
        let counts = listing.counts;
        Ok(relay::connection(
            listing.page,
            |c| c.id,
            |course| {
                let count = counts
                    .as_ref()
                    .map(|found| found.get(&course.id).copied().unwrap_or(0));
                Course(course, count)
            },
        ))
    }

    /// Searches the academy's catalog (every word of `query`, as a prefix, in title, tags,
    /// summary and description), best match first: staff search every course, everyone else
    /// the published ones.
    async fn search_courses(
        &self,
        ctx: &Context<'_>,
        query: String,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Course>> {
        let caller = visitor(ctx)?;
        let engine = ctx
            .data::<std::sync::Arc<search::Engine>>()
            .map_or(&search::Engine::Postgres, |e| e.as_ref());
        let results = search::search(db(ctx), engine, caller, &query, first, after.as_deref())
            .await
            .gql()?;
        let mut connection = Connection::new(after.is_some(), results.has_next);
        connection.edges.extend(
            results
                .hits
                .into_iter()
                .map(|(course, cursor)| Edge::new(cursor, Course::from(course))),
        );
        Ok(connection)
    }

    /// A lesson by id, as the caller may see it (the page a student opens).
    async fn lesson(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Lesson>> {
        let id = parse_id("id", &id)?;
        let caller = visitor(ctx)?;
        Ok(structure::lesson(db(ctx), caller, id)
            .await
            .gql()?
            .map(|(lesson, enrolled)| Lesson::new(lesson, caller, enrolled)))
    }

    /// A course by id.
    async fn course(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Course>> {
        let caller = visitor(ctx)?;
        let id = parse_id("id", &id)?;
        Ok(courses::get(db(ctx), caller, id)
            .await
            .gql()?
            .map(Course::from))
    }

    /// A course by its slug.
    async fn course_by_slug(&self, ctx: &Context<'_>, slug: String) -> Result<Option<Course>> {
        let caller = visitor(ctx)?;
        Ok(courses::by_slug(db(ctx), caller, &slug)
            .await
            .gql()?
            .map(Course::from))
    }

    /// Federation: resolves a `Course` reference (the caller's academy, and only what the
    /// caller may see).
    #[graphql(entity)]
    async fn find_course_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Course>> {
        self.course(ctx, id).await
    }
}

/// Input of `createCourse`.
#[derive(Debug, InputObject)]
pub struct CreateCourseInput {
    /// Title (1 to 200 characters).
    pub title: String,
    /// Slug; made from the title when absent.
    pub slug: Option<String>,
    /// Summary (at most 500 characters).
    pub summary: Option<String>,
    /// Description, Markdown (at most 50,000 characters).
    pub description: Option<String>,
    /// Language tag such as `en` or `pt-BR` (default `en`).
    pub language: Option<String>,
    /// Level (default `ALL`).
    pub level: Option<CourseLevel>,
    /// Tags (at most 20).
    #[graphql(default)]
    pub tags: Vec<String>,
    /// Instructors: identity user ids.
    #[graphql(default)]
    pub instructor_ids: Vec<ID>,
}

/// A price.
#[derive(Debug, InputObject)]
pub struct PriceInput {
    /// Minor units (0 for free).
    pub amount_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// Input of `updateCourse`: absent fields stay as they are.
#[derive(Debug, InputObject)]
pub struct UpdateCourseInput {
    /// Title.
    pub title: Option<String>,
    /// Slug.
    pub slug: Option<String>,
    /// Summary.
    pub summary: Option<String>,
    /// Description, Markdown.
    pub description: Option<String>,
    /// Language tag.
    pub language: Option<String>,
    /// Level.
    pub level: Option<CourseLevel>,
    /// Tags (replacing all).
    pub tags: Option<Vec<String>>,
    /// Instructors (replacing all).
    pub instructor_ids: Option<Vec<ID>>,
    /// The price (0 for free).
    pub price: Option<PriceInput>,
    /// Forget the price (drafts only).
    #[graphql(default)]
    pub clear_price: bool,
}

/// Input of `addLesson`.
#[derive(Debug, InputObject)]
pub struct AddLessonInput {
    /// Title.
    pub title: String,
    /// What it holds.
    pub kind: LessonKind,
    /// Text content, Markdown.
    pub body: Option<String>,
    /// Visible to anyone who sees the course.
    #[graphql(default)]
    pub free_preview: bool,
    /// Counts towards completion (default true).
    pub required: Option<bool>,
    /// Estimated minutes.
    pub duration_minutes: Option<i32>,
}

/// Input of `updateLesson`: absent fields stay as they are.
#[derive(Debug, InputObject)]
pub struct UpdateLessonInput {
    /// Title.
    pub title: Option<String>,
    /// Text content, Markdown.
    pub body: Option<String>,
    /// Free preview.
    pub free_preview: Option<bool>,
    /// Required for completion.
    pub required: Option<bool>,
    /// Estimated minutes.
    pub duration_minutes: Option<i32>,
    /// Quiz lessons: the share of points needed to pass (0 to 100).
    pub pass_mark_percent: Option<i32>,
    /// Quiz lessons: attempts allowed (1 to 100).
    pub max_attempts: Option<i32>,
    /// Quiz lessons: whether completing the lesson needs a pass.
    pub pass_required: Option<bool>,
}

/// Course mutations.
#[derive(Debug, Default)]
pub struct CourseMutation;

#[Object]
impl CourseMutation {
    /// Creates a draft course (owners, admins, instructors).
    async fn create_course(&self, ctx: &Context<'_>, input: CreateCourseInput) -> Result<Course> {
        let caller = caller(ctx)?;
        let new = NewCourse {
            title: input.title,
            slug: input.slug,
            summary: input.summary,
            description: input.description,
            language: input.language,
            level: input.level.map(|l| l.stored().to_owned()),
            tags: input.tags,
            instructor_ids: parse_ids("instructorIds", &input.instructor_ids)?,
        };
        courses::create(db(ctx), caller, new)
            .await
            .gql()
            .map(Course::from)
    }

    /// Changes a course's details (instructors: the courses they teach).
    async fn update_course(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateCourseInput,
    ) -> Result<Course> {
        let caller = caller(ctx)?;
        let id = parse_id("id", &id)?;
        let price = match (input.price, input.clear_price) {
            (Some(_), true) => {
                return Err(LearningError::invalid(
                    "price",
                    "give a price or clear it, not both",
                ))
                .gql();
            }
            (Some(p), false) => Some(Some((p.amount_cents, p.currency))),
            (None, true) => Some(None),
            (None, false) => None,
        };
        let patch = CoursePatch {
            title: input.title,
            slug: input.slug,
            summary: input.summary,
            description: input.description,
            language: input.language,
            level: input.level.map(|l| l.stored().to_owned()),
            tags: input.tags,
            instructor_ids: input
                .instructor_ids
                .map(|ids| parse_ids("instructorIds", &ids))
                .transpose()?,
            price,
        };
        courses::update(db(ctx), caller, id, patch)
            .await
            .gql()
            .map(Course::from)
    }

    /// Publishes a course: it needs at least one lesson and a price (0 for free).
    async fn publish_course(&self, ctx: &Context<'_>, id: ID) -> Result<Course> {
        let caller = caller(ctx)?;
        let id = parse_id("id", &id)?;
        courses::publish(db(ctx), caller, id)
            .await
            .gql()
            .map(Course::from)
    }

    /// Withdraws a published course from the catalog.
    async fn archive_course(&self, ctx: &Context<'_>, id: ID) -> Result<Course> {
        let caller = caller(ctx)?;
        let id = parse_id("id", &id)?;
        courses::archive(db(ctx), caller, id)
            .await
            .gql()
            .map(Course::from)
    }

    /// Deletes a draft course with its modules and lessons. Returns its id.
    async fn delete_course(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let caller = caller(ctx)?;
        let uuid = parse_id("id", &id)?;
        courses::delete(db(ctx), caller, uuid).await.gql()?;
        Ok(id)
    }

    /// Adds a module at the end of a course.
    async fn add_module(&self, ctx: &Context<'_>, course_id: ID, title: String) -> Result<Module> {
        let caller = caller(ctx)?;
        let course_id = parse_id("courseId", &course_id)?;
        let module = structure::add_module(db(ctx), caller, course_id, &title)
            .await
            .gql()?;
        Ok(Module {
            module,
            lessons: Vec::new(),
        })
    }

    /// Renames a module.
    async fn rename_module(&self, ctx: &Context<'_>, id: ID, title: String) -> Result<Course> {
        let caller = caller(ctx)?;
        let id = parse_id("id", &id)?;
        let module = structure::rename_module(db(ctx), caller, id, &title)
            .await
            .gql()?;
        self.course_of(ctx, module.course_id).await
    }

    /// Deletes a module and its lessons; later modules move up. Returns the course.
    async fn delete_module(&self, ctx: &Context<'_>, id: ID) -> Result<Course> {
        let caller = caller(ctx)?;
        let id = parse_id("id", &id)?;
        structure::delete_module(db(ctx), caller, id)
            .await
            .gql()
            .map(Course::from)
    }

    /// Orders a course's modules as listed (every current module exactly once).
    async fn reorder_modules(
        &self,
        ctx: &Context<'_>,
        course_id: ID,
        module_ids: Vec<ID>,
    ) -> Result<Course> {
        let caller = caller(ctx)?;
        let course_id = parse_id("courseId", &course_id)?;
        let ids = parse_ids("moduleIds", &module_ids)?;
        structure::reorder_modules(db(ctx), caller, course_id, &ids)
            .await
            .gql()
            .map(Course::from)
    }

    /// Adds a lesson at the end of a module.
    async fn add_lesson(
        &self,
        ctx: &Context<'_>,
        module_id: ID,
        input: AddLessonInput,
    ) -> Result<Lesson> {
        let caller = caller(ctx)?;
        let module_id = parse_id("moduleId", &module_id)?;
        let new = NewLesson {
            title: input.title,
            kind: input.kind.stored().to_owned(),
            body: input.body,
            free_preview: input.free_preview,
            required: input.required,
            duration_minutes: input.duration_minutes,
        };
        let lesson = structure::add_lesson(db(ctx), caller, module_id, new)
            .await
            .gql()?;
        Ok(Lesson::new(lesson, caller, false))
    }

    /// Changes a lesson.
    async fn update_lesson(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateLessonInput,
    ) -> Result<Lesson> {
        let caller = caller(ctx)?;
        let id = parse_id("id", &id)?;
        let patch = LessonPatch {
            title: input.title,
            body: input.body,
            free_preview: input.free_preview,
            required: input.required,
            duration_minutes: input.duration_minutes,
            pass_mark_percent: input.pass_mark_percent,
            max_attempts: input.max_attempts,
            pass_required: input.pass_required,
        };
        let lesson = structure::update_lesson(db(ctx), caller, id, patch)
            .await
            .gql()?;
        Ok(Lesson::new(lesson, caller, false))
    }

    /// Deletes a lesson; later lessons move up. Returns the course.
    async fn delete_lesson(&self, ctx: &Context<'_>, id: ID) -> Result<Course> {
        let caller = caller(ctx)?;
        let id = parse_id("id", &id)?;
        structure::delete_lesson(db(ctx), caller, id)
            .await
            .gql()
            .map(Course::from)
    }

    /// Orders a module's lessons as listed (every current lesson exactly once).
    async fn reorder_lessons(
        &self,
        ctx: &Context<'_>,
        module_id: ID,
        lesson_ids: Vec<ID>,
    ) -> Result<Course> {
        let caller = caller(ctx)?;
        let module_id = parse_id("moduleId", &module_id)?;
        let ids = parse_ids("lessonIds", &lesson_ids)?;
        structure::reorder_lessons(db(ctx), caller, module_id, &ids)
            .await
            .gql()
            .map(Course::from)
    }
}

impl CourseMutation {
    async fn course_of(&self, ctx: &Context<'_>, id: Uuid) -> Result<Course> {
        let caller = caller(ctx)?;
        courses::get(db(ctx), caller, id)
            .await
            .gql()?
            .map(Course::from)
            .ok_or(LearningError::NotFound("course"))
            .gql()
    }
}
