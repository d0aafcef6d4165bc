//! Learning's GraphQL object types: what a course, module and lesson look like to each caller.

use async_graphql::dataloader::DataLoader;
use async_graphql::{ComplexObject, Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use kit::ResultExt;
use kit::graphql::{db, visitor};
use tenancy::{TenantContext, TenantId};

use crate::entity::{course, lesson, module};
use crate::service::courses::Status;
use crate::service::media;
use crate::service::structure::{self, Outline};

use super::loaders::EnrollmentCounts;
use super::media::Media;

/// Where a course is in its life cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum CourseStatus {
    /// Being written; staff only.
    Draft,
    /// In the catalog.
    Published,
    /// Withdrawn from the catalog.
    Archived,
}

impl CourseStatus {
    pub(crate) fn from_stored(value: &str) -> Self {
        match value {
            "published" => Self::Published,
            "archived" => Self::Archived,
            _ => Self::Draft,
        }
    }

    pub(crate) fn status(self) -> Status {
        match self {
            Self::Draft => Status::Draft,
            Self::Published => Status::Published,
            Self::Archived => Status::Archived,
        }
    }
}

/// Who a course is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum CourseLevel {
    /// No prior knowledge.
    Beginner,
    /// Some experience.
    Intermediate,
    /// Experienced learners.
    Advanced,
    /// Everyone.
    All,
}

impl CourseLevel {
    pub(crate) fn stored(self) -> &'static str {
        match self {
            Self::Beginner => "beginner",
            Self::Intermediate => "intermediate",
            Self::Advanced => "advanced",
            Self::All => "all",
        }
    }

    fn from_stored(value: &str) -> Self {
        match value {
            "beginner" => Self::Beginner,
            "intermediate" => Self::Intermediate,
            "advanced" => Self::Advanced,
            _ => Self::All,
        }
    }
}

/// What a lesson holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum LessonKind {
    /// Text (Markdown).
    Text,
    /// A video file.
    Video,
    /// A downloadable file.
    File,
    /// A quiz.
    Quiz,
}

impl LessonKind {
    pub(crate) fn stored(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Video => "video",
            Self::File => "file",
            Self::Quiz => "quiz",
        }
    }

    fn from_stored(value: &str) -> Self {
        match value {
            "video" => Self::Video,
            "file" => Self::File,
            "quiz" => Self::Quiz,
            _ => Self::Text,
        }
    }
}

/// A user of identity (its fields are resolved there); learning adds their enrollments.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(name = "User", complex)]
pub struct UserRef {
    /// The user's id.
    pub id: ID,
}

/// A price in a currency's minor unit.
#[derive(Clone, Debug, SimpleObject)]
pub struct Price {
    /// Amount in minor units (cents).
    pub amount_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// A course of the tenant's catalog, with its enrollment count when the page it came from read
/// the counts in its own transaction (otherwise the count is batched through a DataLoader).
#[derive(Clone, Debug)]
pub struct Course(pub course::Model, pub Option<i64>);

impl From<course::Model> for Course {
    fn from(model: course::Model) -> Self {
        Course(model, None)
    }
}

#[Object]
impl Course {
    /// The course's id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Unique within the academy; part of the course's address.
    async fn slug(&self) -> &str {
        &self.0.slug
    }

    /// Title.
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// How many students learn in it (active or completed enrollments).
    async fn enrollment_count(&self, ctx: &Context<'_>) -> Result<i64> {
        if let Some(count) = self.1 {
            return Ok(count);
        }
        let loader = ctx.data::<DataLoader<EnrollmentCounts>>()?;
        let key = (TenantId::from_uuid(self.0.tenant_id), self.0.id);
        Ok(loader
            .load_one(key)
            .await
            .map_err(|e| kit::error::to_graphql(e.as_ref()))?
            .unwrap_or(0))
    }

    /// The cover image (anyone who sees the course may download it).
    async fn cover(&self, ctx: &Context<'_>) -> Result<Option<Media>> {
        let Some(id) = self.0.cover_media_id else {
            return Ok(None);
        };
        // Boxed, as `outline`: keeps the futures of the type's cheap fields small.
        let found = Box::pin(media::ready(db(ctx), visitor(ctx)?, id))
            .await
            .gql()?;
        Ok(found.map(|m| Media::new(m, true)))
    }

    /// One-paragraph summary.
    async fn summary(&self) -> &str {
        &self.0.summary
    }

    /// Long description, Markdown source.
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// The description rendered to HTML that is safe to insert into a page (raw HTML in the
    /// source shown as text; only http, https, mailto and relative links).
    async fn description_html(&self) -> String {
        crate::service::markdown::to_safe_html(&self.0.description)
    }

    /// Language tag.
    async fn language(&self) -> &str {
        &self.0.language
    }

    /// Who it is for.
    async fn level(&self) -> CourseLevel {
        CourseLevel::from_stored(&self.0.level)
    }

    /// Tags.
    async fn tags(&self) -> &[String] {
        &self.0.tags
    }

    /// The price; null until decided.
    async fn price(&self) -> Option<Price> {
        match (&self.0.price_cents, &self.0.currency) {
            (Some(cents), Some(currency)) => Some(Price {
                amount_cents: *cents,
                currency: currency.clone(),
            }),
            _ => None,
        }
    }

    /// Whether it costs nothing.
    async fn free(&self) -> bool {
        self.0.price_cents == Some(0)
    }

    /// Life-cycle state.
    async fn status(&self) -> CourseStatus {
        CourseStatus::from_stored(&self.0.status)
    }

    /// First published.
    async fn published_at(&self) -> Option<DateTime<Utc>> {
        self.0.published_at.map(Into::into)
    }

    /// Created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at.into()
    }

    /// Who teaches it.
    async fn instructors(&self) -> Vec<UserRef> {
        self.0
            .instructor_ids
            .iter()
            .map(|id| UserRef {
                id: ID(id.to_string()),
            })
            .collect()
    }

    /// Its modules, in order, with their lessons.
    async fn modules(&self, ctx: &Context<'_>) -> Result<Vec<Module>> {
        let (caller, outline) = self.outline(ctx).await?;
        let enrolled = outline.enrolled;
        Ok(outline
            .modules
            .into_iter()
            .map(|(module, lessons)| Module {
                module,
                lessons: lessons
                    .into_iter()
                    .map(|l| Lesson::new(l, caller, enrolled))
                    .collect(),
            })
            .collect())
    }

    /// How many lessons it has.
    async fn lesson_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let (_, outline) = self.outline(ctx).await?;
        Ok(i32::try_from(outline.lessons().count()).unwrap_or(i32::MAX))
    }

    /// The lessons' estimated minutes, added up.
    async fn duration_minutes(&self, ctx: &Context<'_>) -> Result<i32> {
        let (_, outline) = self.outline(ctx).await?;
        Ok(outline.lessons().map(|l| l.duration_minutes).sum())
    }
}

impl Course {
    async fn outline<'a>(&self, ctx: &Context<'a>) -> Result<(&'a TenantContext, Outline)> {
        let caller = visitor(ctx)?;
        // Boxed: async-graphql allocates and copies a future per field of every course, sized
        // for the type's largest resolver, so a catalog page's `id`s and `title`s would each
        // carry this query's whole state.
        let outline = Box::pin(structure::outline(db(ctx), caller, self.0.id))
            .await
            .gql()?;
        Ok((caller, outline))
    }
}

/// A section of a course.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct Module {
    #[graphql(skip)]
    pub(crate) module: module::Model,
    /// Its lessons, in order.
    pub lessons: Vec<Lesson>,
}

#[ComplexObject]
impl Module {
    /// The module's id.
    async fn id(&self) -> ID {
        ID(self.module.id.to_string())
    }

    /// Title.
    async fn title(&self) -> &str {
        &self.module.title
    }

    /// 0-based place in the course.
    async fn position(&self) -> i32 {
        self.module.position
    }
}

/// A lesson of a module.
#[derive(Clone, Debug)]
pub struct Lesson {
    lesson: lesson::Model,
    readable: bool,
}

impl Lesson {
    /// `lesson` as `ctx` (`enrolled` in its course or not) sees it.
    pub fn new(lesson: lesson::Model, ctx: &TenantContext, enrolled: bool) -> Self {
        let readable = structure::may_read_content(ctx, &lesson, enrolled);
        Self { lesson, readable }
    }
}

#[Object]
impl Lesson {
    /// The lesson's id.
    async fn id(&self) -> ID {
        ID(self.lesson.id.to_string())
    }

    /// Title.
    async fn title(&self) -> &str {
        &self.lesson.title
    }

    /// What it holds.
    async fn kind(&self) -> LessonKind {
        LessonKind::from_stored(&self.lesson.kind)
    }

    /// 0-based place in its module.
    async fn position(&self) -> i32 {
        self.lesson.position
    }

    /// Visible to anyone who sees the course.
    async fn free_preview(&self) -> bool {
        self.lesson.free_preview
    }

    /// Counts towards completion.
    async fn required(&self) -> bool {
        self.lesson.required
    }

    /// Estimated minutes.
    async fn duration_minutes(&self) -> i32 {
        self.lesson.duration_minutes
    }

    /// The text content (Markdown); null for those who may not read it yet.
    async fn body(&self) -> Option<&str> {
        self.readable.then_some(self.lesson.body.as_str())
    }

    /// The text content as HTML that is safe to insert into a page; null like `body`.
    async fn body_html(&self) -> Option<String> {
        self.readable
            .then(|| crate::service::markdown::to_safe_html(&self.lesson.body))
    }

    /// Video and file lessons: the media, downloadable by those who may read the lesson.
    async fn media(&self, ctx: &Context<'_>) -> Result<Option<Media>> {
        let Some(id) = self.lesson.media_id else {
            return Ok(None);
        };
        let found = media::ready(db(ctx), visitor(ctx)?, id).await.gql()?;
        Ok(found.map(|m| Media::new(m, self.readable)))
    }

    /// Quiz lessons: the share of points needed to pass.
    async fn pass_mark_percent(&self) -> i32 {
        self.lesson.pass_mark_percent
    }

    /// Quiz lessons: attempts allowed.
    async fn max_attempts(&self) -> i32 {
        self.lesson.max_attempts
    }

    /// Quiz lessons: whether completing the lesson needs a pass.
    async fn pass_required(&self) -> bool {
        self.lesson.pass_required
    }

    /// Quiz lessons: the questions (empty for those who may not read the lesson yet). Correct
    /// answers are shown to staff only.
    async fn questions(&self, ctx: &Context<'_>) -> Result<Vec<super::quizzes::QuizQuestion>> {
        if !self.readable || self.lesson.kind != "quiz" {
            return Ok(Vec::new());
        }
        let caller = visitor(ctx)?;
        let staff = crate::service::quizzes::sees_answers(caller);
        Ok(
            crate::service::quizzes::questions(db(ctx), caller, self.lesson.id)
                .await
                .gql()?
                .into_iter()
                .map(|q| super::quizzes::QuizQuestion::new(q, staff))
                .collect(),
        )
    }
}
