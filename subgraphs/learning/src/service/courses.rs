//! Courses: creating and editing them, the draft → published → archived life cycle (with the
//! checks publishing needs), and who sees which: staff every course, everyone else (students,
//! visitors bound to the academy's address, partners without a read scope) the published ones.

use std::collections::HashMap;

use kit::relay::{self, Page, Window};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect, Set, Unchanged,
};
use tenancy::{Role, TenantContext, TenantTx};
use uuid::Uuid;

use super::{AUTHOR, CURATOR, is_staff, outbox, validate};
use crate::LearningError;
use crate::entity::{course, lesson};

/// A course's life-cycle state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Being written; only staff see it.
    Draft,
    /// In the catalog.
    Published,
    /// Withdrawn from the catalog; kept for its students and history.
    Archived,
}

impl Status {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Published => "published",
            Status::Archived => "archived",
        }
    }
}

/// A new course.
#[derive(Clone, Debug, Default)]
pub struct NewCourse {
    /// Title.
    pub title: String,
    /// Slug; made from the title when absent.
    pub slug: Option<String>,
    /// Summary.
    pub summary: Option<String>,
    /// Description (Markdown).
    pub description: Option<String>,
    /// Language tag (default `en`).
    pub language: Option<String>,
    /// Level (default `all`).
    pub level: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Instructors (identity user ids); an instructor creating a course teaches it.
    pub instructor_ids: Vec<Uuid>,
}

/// Changes to a course; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct CoursePatch {
    /// Title.
    pub title: Option<String>,
    /// Slug.
    pub slug: Option<String>,
    /// Summary.
    pub summary: Option<String>,
    /// Description (Markdown).
    pub description: Option<String>,
    /// Language tag.
    pub language: Option<String>,
    /// Level.
    pub level: Option<String>,
    /// Tags (replacing all).
    pub tags: Option<Vec<String>>,
    /// Instructors (replacing all).
    pub instructor_ids: Option<Vec<Uuid>>,
    /// `Some(Some((cents, currency)))` sets the price, `Some(None)` clears it.
    pub price: Option<Option<(i64, String)>>,
}

const LEVELS: &[&str] = &["beginner", "intermediate", "advanced", "all"];

fn level(value: &str) -> Result<String, LearningError> {
    if LEVELS.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(LearningError::invalid("level", "unknown level"))
    }
}

fn instructors(ids: &[Uuid]) -> Result<Vec<Uuid>, LearningError> {
    let mut out: Vec<Uuid> = Vec::new();
    for id in ids {
        if !out.contains(id) {
            out.push(*id);
        }
    }
    if out.len() > 20 {
        return Err(LearningError::invalid(
            "instructorIds",
            "at most 20 instructors",
        ));
    }
    Ok(out)
}

fn slug_taken(err: sea_orm::DbErr) -> LearningError {
    if kit::error::is_unique_violation(&err, "courses_slug_key") {
        LearningError::Conflict {
            field: "slug",
            message: "another course already has this slug".into(),
        }
    } else {
        err.into()
    }
}

/// Whether `ctx` may change `course`: owners, admins and writing partners any course,
/// instructors the ones they teach.
pub(crate) fn may_edit(ctx: &TenantContext, course: &course::Model) -> Result<(), LearningError> {
    ctx.require(AUTHOR)?;
    let teaches = ctx
        .user_id()
        .is_some_and(|me| course.instructor_ids.contains(&me.as_uuid()));
    if ctx.has_role(Role::Owner)
        || ctx.has_role(Role::Admin)
        || ctx.has_scope("learning:courses:write")
        || teaches
    {
        Ok(())
    } else {
        Err(tenancy::AccessError::Forbidden.into())
    }
}

/// Whether `ctx` may see `course` at all.
pub(crate) fn visible(ctx: &TenantContext, course: &course::Model) -> bool {
    is_staff(ctx) || course.status == Status::Published.as_str()
}

/// Creates a draft course.
pub async fn create(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    new: NewCourse,
) -> Result<course::Model, LearningError> {
    ctx.require(AUTHOR)?;
    let title = validate::title("title", &new.title)?;
    let slug = match new.slug {
        Some(s) => validate::slug(&s)?,
        None => validate::slug_from(&title),
    };
    let mut instructor_ids = instructors(&new.instructor_ids)?;
    if ctx.has_role(Role::Instructor)
        && let Some(me) = ctx.user_id()
        && !instructor_ids.contains(&me.as_uuid())
    {
        instructor_ids.push(me.as_uuid());
    }
    let now = chrono::Utc::now();
    let model = course::ActiveModel {
        tenant_id: Set(ctx.tenant().as_uuid()),
        id: Set(Uuid::now_v7()),
        slug: Set(slug),
        title: Set(title),
        summary: Set(validate::summary(new.summary.as_deref().unwrap_or(""))?),
        description: Set(validate::long_text(
            "description",
            new.description.as_deref().unwrap_or(""),
            50_000,
        )?),
        language: Set(validate::language(new.language.as_deref().unwrap_or("en"))?),
        level: Set(level(new.level.as_deref().unwrap_or("all"))?),
        tags: Set(validate::tags(&new.tags)?),
        price_cents: Set(None),
        currency: Set(None),
        status: Set(Status::Draft.as_str().into()),
        instructor_ids: Set(instructor_ids),
        published_at: Set(None),
        created_at: Set(now.into()),
        updated_at: Set(now.into()),
        cover_media_id: Set(None),
    };
    let tx = TenantTx::begin(db, ctx).await?;
    let created = model.insert(&*tx).await.map_err(slug_taken)?;
    changed(&tx, ctx, created.id).await?;
    tx.commit().await?;
    Ok(created)
}

/// The course with `id`, if `ctx` may see it.
pub async fn get(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    id: Uuid,
) -> Result<Option<course::Model>, LearningError> {
    let tx = TenantTx::begin(db, ctx).await?;
    let found = course::Entity::find_by_id((ctx.tenant().as_uuid(), id))
        .one(&*tx)
        .await?;
    tx.commit().await?;
    Ok(found.filter(|c| visible(ctx, c)))
}

/// The course with `slug`, if `ctx` may see it.
pub async fn by_slug(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    slug: &str,
) -> Result<Option<course::Model>, LearningError> {
    let tx = TenantTx::begin(db, ctx).await?;
    let found = course::Entity::find()
        .filter(course::Column::Slug.eq(slug))
        .one(&*tx)
        .await?;
    tx.commit().await?;
    Ok(found.filter(|c| visible(ctx, c)))
}

/// A page of the catalog and, when asked for, each course's enrollment count (active or
/// completed), read in the page's own transaction; courses nobody enrolled in are absent.
#[derive(Debug)]
pub struct Listing {
    /// The courses.
    pub page: Page<course::Model>,
    /// Enrollment counts by course, if asked for.
    pub counts: Option<HashMap<Uuid, i64>>,
}

/// The tenant's courses `ctx` may see, oldest first, optionally of one status; with their
/// enrollment counts when `with_counts` (one transaction for both).
pub async fn list(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    status: Option<Status>,
    window: Window,
    with_counts: bool,
) -> Result<Listing, LearningError> {
    let mut select = course::Entity::find();
    if !is_staff(ctx) {
        if status.is_some_and(|s| s != Status::Published) {
            return Err(tenancy::AccessError::Forbidden.into());
        }
        select = select.filter(course::Column::Status.eq(Status::Published.as_str()));
    }
    if let Some(status) = status {
        select = select.filter(course::Column::Status.eq(status.as_str()));
    }
    let tx = TenantTx::begin(db, ctx).await?;
    let page = relay::fetch(&*tx, select, course::Column::Id, window).await?;
    let counts = if with_counts && !page.items.is_empty() {
        let ids: Vec<Uuid> = page.items.iter().map(|c| c.id).collect();
        Some(super::enrollments::counts_in(&*tx, &ids).await?)
    } else {
        None
    };
    tx.commit().await?;
    Ok(Listing { page, counts })
}

/// Loads `id` for a change inside `tx`, locked, checking that `ctx` may edit it.
pub(crate) async fn for_change(
    tx: &TenantTx,
    ctx: &TenantContext,
    id: Uuid,
) -> Result<course::Model, LearningError> {
    let found = course::Entity::find_by_id((ctx.tenant().as_uuid(), id))
        .lock_exclusive()
        .one(&**tx)
        .await?;
    let course = match found {
        Some(c) if visible(ctx, &c) => c,
        _ => return Err(LearningError::NotFound("course")),
    };
    may_edit(ctx, &course)?;
    Ok(course)
}

/// Changes a course's details.
pub async fn update(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    id: Uuid,
    patch: CoursePatch,
) -> Result<course::Model, LearningError> {
    ctx.require(AUTHOR)?;
    let mut model = course::ActiveModel {
        tenant_id: Unchanged(ctx.tenant().as_uuid()),
        id: Unchanged(id),
        updated_at: Set(chrono::Utc::now().into()),
        ..Default::default()
    };
    if let Some(v) = &patch.title {
        model.title = Set(validate::title("title", v)?);
    }
    if let Some(v) = &patch.slug {
        model.slug = Set(validate::slug(v)?);
    }
    if let Some(v) = &patch.summary {
        model.summary = Set(validate::summary(v)?);
    }
    if let Some(v) = &patch.description {
        model.description = Set(validate::long_text("description", v, 50_000)?);
    }
    if let Some(v) = &patch.language {
        model.language = Set(validate::language(v)?);
    }
    if let Some(v) = &patch.level {
        model.level = Set(level(v)?);
    }
    if let Some(v) = &patch.tags {
        model.tags = Set(validate::tags(v)?);
    }
    if let Some(v) = &patch.instructor_ids {
        model.instructor_ids = Set(instructors(v)?);
    }
    let clears_price = patch.price == Some(None);
    match patch.price {
        Some(Some((cents, currency))) => {
            let (cents, currency) = validate::price(cents, &currency)?;
            model.price_cents = Set(Some(cents));
            model.currency = Set(Some(currency));
        }
        Some(None) => {
            model.price_cents = Set(None);
            model.currency = Set(None);
        }
        None => {}
    }
    let tx = TenantTx::begin(db, ctx).await?;
    let current = for_change(&tx, ctx, id).await?;
    if clears_price && current.status != Status::Draft.as_str() {
        return Err(LearningError::invalid(
            "price",
            "a published or archived course keeps a price",
        ));
    }
    let updated = model.update(&*tx).await.map_err(slug_taken)?;
    changed(&tx, ctx, id).await?;
    tx.commit().await?;
    Ok(updated)
}

/// Announces that course `id`'s searchable details changed (the search index follows).
async fn changed(tx: &TenantTx, ctx: &TenantContext, id: Uuid) -> Result<(), LearningError> {
    outbox::record(
        &**tx,
        ctx.tenant(),
        "course.changed",
        serde_json::json!({ "courseId": id }),
    )
    .await?;
    Ok(())
}

/// Publishes a course: it needs a title, at least one lesson and a price decision (0 for free).
/// Publishing a published course changes nothing.
pub async fn publish(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    id: Uuid,
) -> Result<course::Model, LearningError> {
    ctx.require(CURATOR)?;
    let tx = TenantTx::begin(db, ctx).await?;
    let course = for_change(&tx, ctx, id).await?;
    if course.status == Status::Published.as_str() {
        tx.commit().await?;
        return Ok(course);
    }
    let lessons = lesson::Entity::find()
        .filter(lesson::Column::CourseId.eq(id))
        .count(&*tx)
        .await?;
    if lessons == 0 {
        return Err(LearningError::invalid(
            "lessons",
            "a course needs at least one lesson before it is published",
        ));
    }
    if course.price_cents.is_none() {
        return Err(LearningError::invalid(
            "price",
            "decide the course's price (0 for free) before publishing it",
        ));
    }
    let now = chrono::Utc::now();
    let published = course::ActiveModel {
        tenant_id: Unchanged(course.tenant_id),
        id: Unchanged(course.id),
        status: Set(Status::Published.as_str().into()),
        published_at: Set(Some(course.published_at.unwrap_or_else(|| now.into()))),
        updated_at: Set(now.into()),
        ..Default::default()
    }
    .update(&*tx)
    .await?;
    outbox::record(
        &*tx,
        ctx.tenant(),
        "course.published",
        serde_json::json!({ "courseId": id, "slug": published.slug, "title": published.title }),
    )
    .await?;
    tx.commit().await?;
    Ok(published)
}

/// Withdraws a published course from the catalog.
pub async fn archive(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    id: Uuid,
) -> Result<course::Model, LearningError> {
    ctx.require(CURATOR)?;
    let tx = TenantTx::begin(db, ctx).await?;
    let course = for_change(&tx, ctx, id).await?;
    if course.status != Status::Published.as_str() {
        return Err(LearningError::invalid(
            "status",
            "only a published course can be archived",
        ));
    }
    let archived = course::ActiveModel {
        tenant_id: Unchanged(course.tenant_id),
        id: Unchanged(course.id),
        status: Set(Status::Archived.as_str().into()),
        updated_at: Set(chrono::Utc::now().into()),
        ..Default::default()
    }
    .update(&*tx)
    .await?;
    outbox::record(
        &*tx,
        ctx.tenant(),
        "course.archived",
        serde_json::json!({ "courseId": id }),
    )
    .await?;
    tx.commit().await?;
    Ok(archived)
}

/// Deletes a draft course with its modules and lessons (published ones are archived instead).
pub async fn delete(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    id: Uuid,
) -> Result<(), LearningError> {
    ctx.require(CURATOR)?;
    let tx = TenantTx::begin(db, ctx).await?;
    let course = for_change(&tx, ctx, id).await?;
    if course.status != Status::Draft.as_str() {
        return Err(LearningError::invalid(
            "status",
            "only a draft can be deleted; archive a published course",
        ));
    }
    course::Entity::delete_by_id((course.tenant_id, course.id))
        .exec(&*tx)
        .await?;
    changed(&tx, ctx, course.id).await?;
    tx.commit().await?;
    Ok(())
}
