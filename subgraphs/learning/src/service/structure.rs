//! A course's structure: its modules and their lessons, each kept in order with positions
//! 0..n-1 (no gaps, no duplicates). Changes lock the course row, so concurrent edits of one
//! course queue up instead of racing for a position; a reorder must name exactly the current
//! children.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, Statement, Unchanged,
};
use tenancy::{TenantContext, TenantTx};
use uuid::Uuid;

use super::courses::{self, visible};
use super::{AUTHOR, is_staff, validate};
use crate::LearningError;
use crate::entity::{course, lesson, module};

/// A new lesson.
#[derive(Clone, Debug, Default)]
pub struct NewLesson {
    /// Title.
    pub title: String,
    /// `text`, `video`, `file` or `quiz`.
    pub kind: String,
    /// Text content (Markdown).
    pub body: Option<String>,
    /// Visible to anyone who sees the course.
    pub free_preview: bool,
    /// Counts towards completion (default true).
    pub required: Option<bool>,
    /// Estimated minutes.
    pub duration_minutes: Option<i32>,
}

/// Changes to a lesson; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct LessonPatch {
    /// Title.
    pub title: Option<String>,
    /// Text content (Markdown).
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
    /// Quiz lessons: whether completing needs a pass.
    pub pass_required: Option<bool>,
}

/// A course's modules with their lessons, in order.
#[derive(Clone, Debug, Default)]
pub struct Outline {
    /// `(module, its lessons)`, by position.
    pub modules: Vec<(module::Model, Vec<lesson::Model>)>,
    /// Whether the caller is enrolled (active or completed), so reads every lesson's content.
    pub enrolled: bool,
}

impl Outline {
    /// Every lesson, in course order.
    pub fn lessons(&self) -> impl Iterator<Item = &lesson::Model> {
        self.modules.iter().flat_map(|(_, l)| l)
    }
}

const KINDS: &[&str] = &["text", "video", "file", "quiz"];

fn kind(value: &str) -> Result<String, LearningError> {
    if KINDS.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(LearningError::invalid("kind", "unknown lesson kind"))
    }
}

/// Whether `ctx` may read `lesson`'s content: staff, students `enrolled` in its course, and
/// anyone who sees the course for a free preview.
pub fn may_read_content(ctx: &TenantContext, lesson: &lesson::Model, enrolled: bool) -> bool {
    is_staff(ctx) || enrolled || lesson.free_preview
}

/// The outline of a course `ctx` can see (empty for one it cannot).
pub async fn outline(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    course_id: Uuid,
) -> Result<Outline, LearningError> {
    let tx = TenantTx::begin(db, ctx).await?;
    let course = course::Entity::find_by_id((ctx.tenant().as_uuid(), course_id))
        .one(&*tx)
        .await?;
    if !course.is_some_and(|c| visible(ctx, &c)) {
        return Ok(Outline::default());
    }
    let mut outline = load(&*tx, course_id).await?;
    outline.enrolled = super::enrollments::is_enrolled(&*tx, ctx, course_id).await?;
    tx.commit().await?;
    Ok(outline)
}

/// Lesson `id` if `ctx` sees its course, with whether `ctx` is enrolled in that course.
pub async fn lesson(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    id: Uuid,
) -> Result<Option<(lesson::Model, bool)>, LearningError> {
    let tx = TenantTx::begin(db, ctx).await?;
    let Some(lesson) = lesson::Entity::find_by_id((ctx.tenant().as_uuid(), id))
        .one(&*tx)
        .await?
    else {
        return Ok(None);
    };
    let course = course::Entity::find_by_id((ctx.tenant().as_uuid(), lesson.course_id))
        .one(&*tx)
        .await?;
    if !course.is_some_and(|c| visible(ctx, &c)) {
        return Ok(None);
    }
    let enrolled = super::enrollments::is_enrolled(&*tx, ctx, lesson.course_id).await?;
    tx.commit().await?;
    Ok(Some((lesson, enrolled)))
}

async fn load<C: ConnectionTrait>(conn: &C, course_id: Uuid) -> Result<Outline, LearningError> {
    let modules = module::Entity::find()
        .filter(module::Column::CourseId.eq(course_id))
        .order_by_asc(module::Column::Position)
        .all(conn)
        .await?;
    let mut lessons = lesson::Entity::find()
        .filter(lesson::Column::CourseId.eq(course_id))
        .order_by_asc(lesson::Column::Position)
        .all(conn)
        .await?;
    let modules = modules
        .into_iter()
        .map(|m| {
            let (mine, rest): (Vec<_>, Vec<_>) =
                lessons.drain(..).partition(|l| l.module_id == m.id);
            lessons = rest;
            (m, mine)
        })
        .collect();
    Ok(Outline {
        modules,
        enrolled: false,
    })
}

/// The module `id` inside `tx`, with its course locked for the change.
async fn module_for_change(
    tx: &TenantTx,
    ctx: &TenantContext,
    id: Uuid,
) -> Result<(course::Model, module::Model), LearningError> {
    let module = module::Entity::find_by_id((ctx.tenant().as_uuid(), id))
        .one(&**tx)
        .await?
        .ok_or(LearningError::NotFound("module"))?;
    let course = courses::for_change(tx, ctx, module.course_id).await?;
    Ok((course, module))
}

/// Adds a module at the end of a course.
pub async fn add_module(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    course_id: Uuid,
    title: &str,
) -> Result<module::Model, LearningError> {
    ctx.require(AUTHOR)?;
    let title = validate::title("title", title)?;
    let tx = TenantTx::begin(db, ctx).await?;
    courses::for_change(&tx, ctx, course_id).await?;
    let count = module::Entity::find()
        .filter(module::Column::CourseId.eq(course_id))
        .count(&*tx)
        .await?;
    let now = chrono::Utc::now();
    let created = module::ActiveModel {
        tenant_id: Set(ctx.tenant().as_uuid()),
        id: Set(Uuid::now_v7()),
        course_id: Set(course_id),
        position: Set(position(count)?),
        title: Set(title),
        created_at: Set(now.into()),
        updated_at: Set(now.into()),
    }
    .insert(&*tx)
    .await?;
    tx.commit().await?;
    Ok(created)
}

fn position(count: u64) -> Result<i32, LearningError> {
    i32::try_from(count)
        .ok()
        .filter(|p| *p < 1000)
        .ok_or_else(|| LearningError::invalid("position", "at most 1000 items in one place"))
}

/// Renames a module.
pub async fn rename_module(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    id: Uuid,
    title: &str,
) -> Result<module::Model, LearningError> {
    ctx.require(AUTHOR)?;
    let title = validate::title("title", title)?;
    let tx = TenantTx::begin(db, ctx).await?;
    let (_, module) = module_for_change(&tx, ctx, id).await?;
    let renamed = module::ActiveModel {
        tenant_id: Unchanged(module.tenant_id),
        id: Unchanged(module.id),
        title: Set(title),
        updated_at: Set(chrono::Utc::now().into()),
        ..Default::default()
    }
    .update(&*tx)
    .await?;
    tx.commit().await?;
    Ok(renamed)
}

/// Deletes a module and its lessons; the modules after it move up. Returns the course.
pub async fn delete_module(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    id: Uuid,
) -> Result<course::Model, LearningError> {
    ctx.require(AUTHOR)?;
    let tx = TenantTx::begin(db, ctx).await?;
    let (course, module) = module_for_change(&tx, ctx, id).await?;
    module::Entity::delete_by_id((module.tenant_id, module.id))
        .exec(&*tx)
        .await?;
    close_gap(&tx, "modules", "course_id", course.id, module.position).await?;
    tx.commit().await?;
    Ok(course)
}

/// Moves every later sibling up one place after the one at `position` left.
async fn close_gap(
    tx: &TenantTx,
    table: &str,
    parent_column: &str,
    parent: Uuid,
    position: i32,
) -> Result<(), LearningError> {
    tx.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!(
            "UPDATE learning.{table} SET position = position - 1, updated_at = now() \
             WHERE {parent_column} = $1 AND position > $2"
        ),
        [parent.into(), position.into()],
    ))
    .await?;
    Ok(())
}

/// Puts `ids` (exactly the current children of `parent`) in the given order.
async fn reorder(
    tx: &TenantTx,
    table: &str,
    parent_column: &str,
    parent: Uuid,
    current: &[Uuid],
    ids: &[Uuid],
    field: &'static str,
) -> Result<(), LearningError> {
    let mut wanted = ids.to_vec();
    wanted.sort();
    wanted.dedup();
    let mut have = current.to_vec();
    have.sort();
    if wanted.len() != ids.len() || wanted != have {
        return Err(LearningError::invalid(
            field,
            format!("{field} must list each of the current items exactly once"),
        ));
    }
    tx.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!(
            "UPDATE learning.{table} t SET position = o.ord - 1, updated_at = now() \
             FROM unnest($1::uuid[]) WITH ORDINALITY AS o(id, ord) \
             WHERE t.{parent_column} = $2 AND t.id = o.id"
        ),
        [ids.to_vec().into(), parent.into()],
    ))
    .await?;
    Ok(())
}

/// Orders a course's modules as `ids` lists them. Returns the course.
pub async fn reorder_modules(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    course_id: Uuid,
    ids: &[Uuid],
) -> Result<course::Model, LearningError> {
    ctx.require(AUTHOR)?;
    let tx = TenantTx::begin(db, ctx).await?;
    let course = courses::for_change(&tx, ctx, course_id).await?;
    let current: Vec<Uuid> = module::Entity::find()
        .filter(module::Column::CourseId.eq(course_id))
        .select_only()
        .column(module::Column::Id)
        .into_tuple()
        .all(&*tx)
        .await?;
    reorder(
        &tx,
        "modules",
        "course_id",
        course_id,
        &current,
        ids,
        "moduleIds",
    )
    .await?;
    tx.commit().await?;
    Ok(course)
}

/// Adds a lesson at the end of a module.
pub async fn add_lesson(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    module_id: Uuid,
    new: NewLesson,
) -> Result<lesson::Model, LearningError> {
    ctx.require(AUTHOR)?;
    let title = validate::title("title", &new.title)?;
    let kind = kind(&new.kind)?;
    let body = validate::long_text("body", new.body.as_deref().unwrap_or(""), 200_000)?;
    let duration = validate::duration(new.duration_minutes.unwrap_or(0))?;
    let tx = TenantTx::begin(db, ctx).await?;
    let (course, module) = module_for_change(&tx, ctx, module_id).await?;
    let count = lesson::Entity::find()
        .filter(lesson::Column::ModuleId.eq(module_id))
        .count(&*tx)
        .await?;
    let now = chrono::Utc::now();
    let created = lesson::ActiveModel {
        tenant_id: Set(ctx.tenant().as_uuid()),
        id: Set(Uuid::now_v7()),
        course_id: Set(course.id),
        module_id: Set(module.id),
        position: Set(position(count)?),
        title: Set(title),
        kind: Set(kind),
        body: Set(body),
        free_preview: Set(new.free_preview),
        required: Set(new.required.unwrap_or(true)),
        duration_minutes: Set(duration),
        created_at: Set(now.into()),
        updated_at: Set(now.into()),
        ..Default::default()
    }
    .insert(&*tx)
    .await?;
    tx.commit().await?;
    Ok(created)
}

/// The lesson `id` inside `tx`, with its course locked for the change.
async fn lesson_for_change(
    tx: &TenantTx,
    ctx: &TenantContext,
    id: Uuid,
) -> Result<(course::Model, lesson::Model), LearningError> {
    let lesson = lesson::Entity::find_by_id((ctx.tenant().as_uuid(), id))
        .one(&**tx)
        .await?
        .ok_or(LearningError::NotFound("lesson"))?;
    let course = courses::for_change(tx, ctx, lesson.course_id).await?;
    Ok((course, lesson))
}

/// Changes a lesson.
pub async fn update_lesson(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    id: Uuid,
    patch: LessonPatch,
) -> Result<lesson::Model, LearningError> {
    ctx.require(AUTHOR)?;
    let mut model = lesson::ActiveModel {
        tenant_id: Unchanged(ctx.tenant().as_uuid()),
        id: Unchanged(id),
        updated_at: Set(chrono::Utc::now().into()),
        ..Default::default()
    };
    if let Some(v) = &patch.title {
        model.title = Set(validate::title("title", v)?);
    }
    if let Some(v) = &patch.body {
        model.body = Set(validate::long_text("body", v, 200_000)?);
    }
    if let Some(v) = patch.free_preview {
        model.free_preview = Set(v);
    }
    if let Some(v) = patch.required {
        model.required = Set(v);
    }
    if let Some(v) = patch.duration_minutes {
        model.duration_minutes = Set(validate::duration(v)?);
    }
    if let Some(v) = patch.pass_mark_percent {
        if !(0..=100).contains(&v) {
            return Err(LearningError::invalid(
                "passMarkPercent",
                "passMarkPercent must be between 0 and 100",
            ));
        }
        model.pass_mark_percent = Set(v);
    }
    if let Some(v) = patch.max_attempts {
        if !(1..=100).contains(&v) {
            return Err(LearningError::invalid(
                "maxAttempts",
                "maxAttempts must be between 1 and 100",
            ));
        }
        model.max_attempts = Set(v);
    }
    if let Some(v) = patch.pass_required {
        model.pass_required = Set(v);
    }
    let tx = TenantTx::begin(db, ctx).await?;
    lesson_for_change(&tx, ctx, id).await?;
    let updated = model.update(&*tx).await?;
    tx.commit().await?;
    Ok(updated)
}

/// Deletes a lesson; the lessons after it move up. Returns the course.
pub async fn delete_lesson(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    id: Uuid,
) -> Result<course::Model, LearningError> {
    ctx.require(AUTHOR)?;
    let tx = TenantTx::begin(db, ctx).await?;
    let (course, lesson) = lesson_for_change(&tx, ctx, id).await?;
    lesson::Entity::delete_by_id((lesson.tenant_id, lesson.id))
        .exec(&*tx)
        .await?;
    close_gap(
        &tx,
        "lessons",
        "module_id",
        lesson.module_id,
        lesson.position,
    )
    .await?;
    tx.commit().await?;
    Ok(course)
}

/// Orders a module's lessons as `ids` lists them. Returns the course.
pub async fn reorder_lessons(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    module_id: Uuid,
    ids: &[Uuid],
) -> Result<course::Model, LearningError> {
    ctx.require(AUTHOR)?;
    let tx = TenantTx::begin(db, ctx).await?;
    let (course, _) = module_for_change(&tx, ctx, module_id).await?;
    let current: Vec<Uuid> = lesson::Entity::find()
        .filter(lesson::Column::ModuleId.eq(module_id))
        .select_only()
        .column(lesson::Column::Id)
        .into_tuple()
        .all(&*tx)
        .await?;
    reorder(
        &tx,
        "lessons",
        "module_id",
        module_id,
        &current,
        ids,
        "lessonIds",
    )
    .await?;
    tx.commit().await?;
    Ok(course)
}
