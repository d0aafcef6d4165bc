//! Media over GraphQL: presigned uploads, their confirmation, downloads and storage usage.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use kit::ResultExt;
use kit::graphql::{caller, db, visitor};
use kit::storage::{Presigned, Storage, StorageError};

use super::parse_id;
use crate::LearningError;
use crate::entity::media::Model as MediaModel;
use crate::service::media::{self, NewUpload};

/// The object storage client the service was built with.
pub(super) fn storage<'a>(ctx: &Context<'a>) -> Result<&'a Arc<Storage>> {
    ctx.data::<Arc<Storage>>()
        .map_err(|_| {
            LearningError::Storage(StorageError::Backend(
                "object storage is not configured".into(),
            ))
        })
        .gql()
}

/// Whether a media file can be downloaded yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum MediaStatus {
    /// Upload asked for, not confirmed.
    Pending,
    /// Uploaded and confirmed.
    Ready,
}

/// A course cover, or a lesson's video or file.
#[derive(Clone, Debug)]
pub struct Media {
    model: MediaModel,
    /// Whether the reader may download it (decided by whoever built this value).
    downloadable: bool,
}

impl Media {
    /// `model`, downloadable by the reader when `downloadable`.
    pub fn new(model: MediaModel, downloadable: bool) -> Self {
        Self {
            model,
            downloadable,
        }
    }
}

#[Object]
impl Media {
    /// The media's id.
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }

    /// The uploader's file name.
    async fn file_name(&self) -> &str {
        &self.model.file_name
    }

    /// MIME type.
    async fn content_type(&self) -> &str {
        &self.model.content_type
    }

    /// Stored size in bytes (the announced size while pending).
    async fn size_bytes(&self) -> f64 {
        // Float: sizes beyond 2^31 do not fit GraphQL's Int.
        self.model.size_bytes.unwrap_or(self.model.declared_bytes) as f64
    }

    /// Pending or ready.
    async fn status(&self) -> MediaStatus {
        if self.model.status == "ready" {
            MediaStatus::Ready
        } else {
            MediaStatus::Pending
        }
    }

    /// A short-lived download address; null while pending or for readers who may not have it.
    async fn download(&self, ctx: &Context<'_>) -> Result<Option<SignedRequest>> {
        if !self.downloadable || self.model.status != "ready" {
            return Ok(None);
        }
        let caller = visitor(ctx)?;
        let signed = media::download(storage(ctx)?, caller, &self.model)
            .await
            .gql()?;
        Ok(Some(signed.into()))
    }
}

/// A request the client sends itself, straight to object storage.
#[derive(Clone, Debug, SimpleObject)]
pub struct SignedRequest {
    /// HTTP method.
    pub method: String,
    /// The signed address.
    pub url: String,
    /// Headers to send exactly as given (they are part of the signature).
    pub headers: Vec<HttpHeader>,
    /// When the signature expires.
    pub expires_at: DateTime<Utc>,
}

impl From<Presigned> for SignedRequest {
    fn from(p: Presigned) -> Self {
        Self {
            method: p.method,
            url: p.url,
            headers: p
                .headers
                .into_iter()
                .map(|(name, value)| HttpHeader { name, value })
                .collect(),
            expires_at: p.expires_at,
        }
    }
}

/// One HTTP header.
#[derive(Clone, Debug, SimpleObject)]
pub struct HttpHeader {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
}

/// An upload to perform, then confirm with `confirmUpload(mediaId)`.
#[derive(Clone, Debug, SimpleObject)]
pub struct UploadTicket {
    /// The pending media.
    pub media: Media,
    /// The `PUT` that uploads the bytes.
    pub upload: SignedRequest,
}

/// An academy's stored media.
#[derive(Clone, Copy, Debug, SimpleObject)]
pub struct StorageUsage {
    /// Bytes of confirmed media.
    pub bytes: f64,
    /// Confirmed files.
    pub files: i64,
    /// Uploads asked for and not confirmed.
    pub pending: i64,
}

/// What to upload.
#[derive(Clone, Debug, InputObject)]
pub struct RequestUploadInput {
    /// The course.
    pub course_id: ID,
    /// A video or file lesson of the course; omit for the course's cover image.
    pub lesson_id: Option<ID>,
    /// The file's name.
    pub file_name: String,
    /// Its MIME type (covers: JPEG, PNG, WebP; videos: MP4, WebM, QuickTime; files: PDF, ZIP,
    /// EPUB, text, CSV, Office documents).
    pub content_type: String,
    /// Its exact size in bytes.
    pub size_bytes: f64,
}

/// Media queries.
#[derive(Debug, Default)]
pub struct MediaQuery;

#[Object]
impl MediaQuery {
    /// The academy's stored media (staff).
    async fn storage_usage(&self, ctx: &Context<'_>) -> Result<StorageUsage> {
        let usage = media::usage(db(ctx), caller(ctx)?).await.gql()?;
        Ok(StorageUsage {
            bytes: usage.bytes as f64,
            files: usage.files,
            pending: usage.pending,
        })
    }
}

/// Media mutations.
#[derive(Debug, Default)]
pub struct MediaMutation;

#[Object]
impl MediaMutation {
    /// Starts an upload: a presigned `PUT` valid for minutes, for exactly the announced type
    /// and size. Authors of the course.
    async fn request_upload(
        &self,
        ctx: &Context<'_>,
        input: RequestUploadInput,
    ) -> Result<UploadTicket> {
        let size = input.size_bytes;
        if size.fract() != 0.0 || !(1.0..=9.0e15).contains(&size) {
            return Err(LearningError::invalid(
                "sizeBytes",
                "must be a whole number of bytes",
            ))
            .gql();
        }
        let new = NewUpload {
            course_id: parse_id("courseId", &input.course_id)?,
            lesson_id: input
                .lesson_id
                .as_ref()
                .map(|id| parse_id("lessonId", id))
                .transpose()?,
            file_name: input.file_name,
            content_type: input.content_type,
            size_bytes: size as i64,
        };
        let (model, upload) = media::request_upload(db(ctx), storage(ctx)?, caller(ctx)?, new)
            .await
            .gql()?;
        Ok(UploadTicket {
            media: Media::new(model, false),
            upload: upload.into(),
        })
    }

    /// Checks the uploaded file and attaches it to its course (cover) or lesson, replacing the
    /// previous one.
    async fn confirm_upload(&self, ctx: &Context<'_>, media_id: ID) -> Result<Media> {
        let id = parse_id("mediaId", &media_id)?;
        let model = media::confirm_upload(db(ctx), storage(ctx)?, caller(ctx)?, id)
            .await
            .gql()?;
        Ok(Media::new(model, true))
    }

    /// Removes a media file (its stored object is deleted shortly after).
    async fn remove_media(&self, ctx: &Context<'_>, media_id: ID) -> Result<bool> {
        let id = parse_id("mediaId", &media_id)?;
        media::remove(db(ctx), caller(ctx)?, id).await.gql()?;
        Ok(true)
    }
}
