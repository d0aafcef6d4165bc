//! `learning.media`: a file of a course (its cover) or of a lesson, kept in object storage.

use sea_orm::entity::prelude::*;

/// A media row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "learning", table_name = "media")]
pub struct Model {
    /// The owning tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// The media's id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The course it belongs to.
    pub course_id: Uuid,
    /// The lesson it belongs to; none for the course's cover.
    pub lesson_id: Option<Uuid>,
    /// Its key in the bucket, under `tenants/<tenant_id>/`.
    pub object_key: String,
    /// The uploader's file name (shown, and suggested on download).
    pub file_name: String,
    /// MIME type.
    pub content_type: String,
    /// The size the uploader announced (the presigned upload is signed for it).
    pub declared_bytes: i64,
    /// The stored size, once confirmed.
    pub size_bytes: Option<i64>,
    /// `pending` until the upload is confirmed, then `ready`.
    pub status: String,
    /// Who asked for the upload.
    pub created_by: Option<Uuid>,
    /// Upload requested.
    pub created_at: DateTimeWithTimeZone,
    /// Upload confirmed.
    pub confirmed_at: Option<DateTimeWithTimeZone>,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
