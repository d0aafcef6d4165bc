//! Media: course covers and lesson videos and files. Uploads go straight from the browser to
//! object storage with a presigned `PUT` for a key this service chooses under the tenant's
//! prefix; confirming checks the stored object (`HEAD`) before the media is attached. Downloads
//! are presigned `GET`s for those who may read the lesson (or see the course, for covers).

use kit::storage::{self, Presigned, Storage};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    FromQueryResult, IntoActiveModel, QueryFilter, Set, Statement,
};
use tenancy::{TenantContext, TenantTx};
use uuid::Uuid;

use super::{AUTHOR, courses, is_staff};
use crate::LearningError;
use crate::entity::{course, lesson, media};

const MIB: i64 = 1024 * 1024;

/// What a media file is for, which decides the types and sizes accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A course's cover image.
    Cover,
    /// A video lesson's video.
    Video,
    /// A file lesson's document.
    File,
}

impl Purpose {
    /// Accepted MIME types, each with the extension its key gets.
    fn types(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Purpose::Cover => &[
                ("image/jpeg", "jpg"),
                ("image/png", "png"),
                ("image/webp", "webp"),
            ],
            Purpose::Video => &[
                ("video/mp4", "mp4"),
                ("video/webm", "webm"),
                ("video/quicktime", "mov"),
            ],
            Purpose::File => &[
                ("application/pdf", "pdf"),
                ("application/zip", "zip"),
                ("application/epub+zip", "epub"),
                ("text/plain", "txt"),
                ("text/csv", "csv"),
                (
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                    "docx",
                ),
                (
                    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                    "pptx",
                ),
                (
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    "xlsx",
                ),
            ],
        }
    }

    /// The largest accepted size in bytes (5 GiB is one S3 `PUT`'s limit).
    pub fn max_bytes(self) -> i64 {
        match self {
            Purpose::Cover => 10 * MIB,
            Purpose::Video => 5 * 1024 * MIB,
            Purpose::File => 500 * MIB,
        }
    }
}

/// An upload asked for.
#[derive(Clone, Debug)]
pub struct NewUpload {
    /// The course.
    pub course_id: Uuid,
    /// The lesson (a video or file lesson); none for the course's cover.
    pub lesson_id: Option<Uuid>,
    /// The uploader's file name.
    pub file_name: String,
    /// MIME type; the upload must be sent with exactly this `Content-Type`.
    pub content_type: String,
    /// Exact size in bytes.
    pub size_bytes: i64,
}

/// A tenant's stored media.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromQueryResult)]
pub struct Usage {
    /// Bytes of confirmed media.
    pub bytes: i64,
    /// Confirmed files.
    pub files: i64,
    /// Uploads asked for and not confirmed.
    pub pending: i64,
}

/// Registers a pending upload and presigns its `PUT`.
pub async fn request_upload(
    db: &DatabaseConnection,
    storage: &Storage,
    ctx: &TenantContext,
    new: NewUpload,
) -> Result<(media::Model, Presigned), LearningError> {
    ctx.require(AUTHOR)?;
    let file_name = file_name(&new.file_name)?;
    let tx = TenantTx::begin(db, ctx).await?;
    let course = courses::for_change(&tx, ctx, new.course_id).await?;
    let purpose = match new.lesson_id {
        None => Purpose::Cover,
        Some(id) => match lesson_of(&*tx, ctx, course.id, id).await?.kind.as_str() {
            "video" => Purpose::Video,
            "file" => Purpose::File,
            _ => {
                return Err(LearningError::invalid(
                    "lessonId",
                    "only video and file lessons hold media",
                ));
            }
        },
    };
    let extension = purpose
        .types()
        .iter()
        .find(|(t, _)| *t == new.content_type)
        .map(|(_, ext)| *ext)
        .ok_or_else(|| {
            let accepted: Vec<&str> = purpose.types().iter().map(|(t, _)| *t).collect();
            LearningError::invalid(
                "contentType",
                format!("accepted types: {}", accepted.join(", ")),
            )
        })?;
    if !(1..=purpose.max_bytes()).contains(&new.size_bytes) {
        return Err(LearningError::invalid(
            "sizeBytes",
            format!(
                "must be between 1 byte and {} MiB",
                purpose.max_bytes() / MIB
            ),
        ));
    }
    let id = Uuid::now_v7();
    let key = storage::tenant_key(
        ctx.tenant(),
        &[
            "courses",
            &course.id.to_string(),
            "media",
            &format!("{id}.{extension}"),
        ],
    )?;
    let row = media::ActiveModel {
        tenant_id: Set(ctx.tenant().as_uuid()),
        id: Set(id),
        course_id: Set(course.id),
        lesson_id: Set(new.lesson_id),
        object_key: Set(key.clone()),
        file_name: Set(file_name),
        content_type: Set(new.content_type.clone()),
        declared_bytes: Set(new.size_bytes),
        size_bytes: Set(None),
        status: Set("pending".into()),
        created_by: Set(ctx.user_id().map(|u| u.as_uuid())),
        created_at: Set(chrono::Utc::now().into()),
        confirmed_at: Set(None),
    }
    .insert(&*tx)
    .await?;
    tx.commit().await?;
    let presigned = storage
        .presign_put(ctx.tenant(), &key, &new.content_type, new.size_bytes)
        .await?;
    Ok((row, presigned))
}

/// Checks the uploaded object and attaches the media to its course or lesson, replacing (and
/// deleting) what was there. Confirming twice is harmless.
pub async fn confirm_upload(
    db: &DatabaseConnection,
    storage: &Storage,
    ctx: &TenantContext,
    id: Uuid,
) -> Result<media::Model, LearningError> {
    ctx.require(AUTHOR)?;
    let pending = {
        let tx = TenantTx::begin(db, ctx).await?;
        let (found, _) = editable(&tx, ctx, id).await?;
        tx.commit().await?;
        found
    };
    if pending.status == "ready" {
        return Ok(pending);
    }
    let stored = storage.head(ctx.tenant(), &pending.object_key).await?;
    let Some(stored) = stored else {
        return Err(LearningError::invalid(
            "mediaId",
            "nothing has been uploaded for this media yet",
        ));
    };
    let type_matches = stored.content_type.as_deref() == Some(pending.content_type.as_str());
    if stored.size != pending.declared_bytes || !type_matches {
        storage.delete(ctx.tenant(), &pending.object_key).await?;
        return Err(LearningError::invalid(
            "mediaId",
            "the uploaded file does not match the announced size and type; upload it again",
        ));
    }
    let tx = TenantTx::begin(db, ctx).await?;
    let (row, course) = editable(&tx, ctx, id).await?;
    if row.status == "ready" {
        tx.commit().await?;
        return Ok(row);
    }
    let mut active = row.clone().into_active_model();
    active.status = Set("ready".into());
    active.size_bytes = Set(Some(stored.size));
    active.confirmed_at = Set(Some(chrono::Utc::now().into()));
    let ready = active.update(&*tx).await?;
    let replaced = match ready.lesson_id {
        Some(lesson_id) => {
            let lesson = lesson_of(&*tx, ctx, ready.course_id, lesson_id).await?;
            let old = lesson.media_id;
            let mut active = lesson.into_active_model();
            active.media_id = Set(Some(ready.id));
            active.update(&*tx).await?;
            old
        }
        None => {
            let old = course.cover_media_id;
            let mut active = course.into_active_model();
            active.cover_media_id = Set(Some(ready.id));
            active.update(&*tx).await?;
            old
        }
    };
    if let Some(old) = replaced.filter(|old| *old != ready.id) {
        // The trigger queues the old object's deletion in the outbox.
        media::Entity::delete_by_id((ctx.tenant().as_uuid(), old))
            .exec(&*tx)
            .await?;
    }
    tx.commit().await?;
    Ok(ready)
}

/// Removes a media file from its course or lesson; its object is deleted by the outbox relay.
pub async fn remove(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    id: Uuid,
) -> Result<(), LearningError> {
    ctx.require(AUTHOR)?;
    let tx = TenantTx::begin(db, ctx).await?;
    editable(&tx, ctx, id).await?;
    media::Entity::delete_by_id((ctx.tenant().as_uuid(), id))
        .exec(&*tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The ready media `id`, if any (the caller has already decided the reader may see it).
pub async fn ready(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    id: Uuid,
) -> Result<Option<media::Model>, LearningError> {
    let tx = TenantTx::begin(db, ctx).await?;
    let found = media::Entity::find_by_id((ctx.tenant().as_uuid(), id))
        .filter(media::Column::Status.eq("ready"))
        .one(&*tx)
        .await?;
    tx.commit().await?;
    Ok(found)
}

/// A presigned download of `media` for `ctx` (who the caller has checked may read it).
pub async fn download(
    storage: &Storage,
    ctx: &TenantContext,
    media: &media::Model,
) -> Result<Presigned, LearningError> {
    Ok(storage
        .presign_get(ctx.tenant(), &media.object_key, Some(&media.file_name))
        .await?)
}

/// The tenant's stored media (staff).
pub async fn usage(db: &DatabaseConnection, ctx: &TenantContext) -> Result<Usage, LearningError> {
    if !is_staff(ctx) {
        return Err(tenancy::AccessError::Forbidden.into());
    }
    let tx = TenantTx::begin(db, ctx).await?;
    let usage = Usage::find_by_statement(Statement::from_string(
        tx.get_database_backend(),
        "SELECT COALESCE(SUM(size_bytes) FILTER (WHERE status = 'ready'), 0)::bigint AS bytes,
                COUNT(*) FILTER (WHERE status = 'ready') AS files,
                COUNT(*) FILTER (WHERE status = 'pending') AS pending
         FROM learning.media",
    ))
    .one(&*tx)
    .await?
    .unwrap_or(Usage {
        bytes: 0,
        files: 0,
        pending: 0,
    });
    tx.commit().await?;
    Ok(usage)
}

/// The media `id` and its course, locked for change by `ctx`.
async fn editable(
    tx: &TenantTx,
    ctx: &TenantContext,
    id: Uuid,
) -> Result<(media::Model, course::Model), LearningError> {
    let row = media::Entity::find_by_id((ctx.tenant().as_uuid(), id))
        .one(&**tx)
        .await?
        .ok_or(LearningError::NotFound("media"))?;
    let course = courses::for_change(tx, ctx, row.course_id)
        .await
        .map_err(|e| match e {
            LearningError::NotFound(_) => LearningError::NotFound("media"),
            other => other,
        })?;
    Ok((row, course))
}

async fn lesson_of<C: ConnectionTrait>(
    conn: &C,
    ctx: &TenantContext,
    course_id: Uuid,
    id: Uuid,
) -> Result<lesson::Model, LearningError> {
    lesson::Entity::find_by_id((ctx.tenant().as_uuid(), id))
        .filter(lesson::Column::CourseId.eq(course_id))
        .one(conn)
        .await?
        .ok_or(LearningError::NotFound("lesson"))
}

/// A file name to show: trimmed, 1 to 255 characters, no control characters or slashes.
fn file_name(value: &str) -> Result<String, LearningError> {
    let name = value.trim();
    let bad = name.is_empty()
        || name.chars().count() > 255
        || name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\');
    if bad {
        return Err(LearningError::invalid(
            "fileName",
            "must be 1 to 255 characters without slashes or control characters",
        ));
    }
    Ok(name.to_owned())
}
