//! `learning.courses`: a course of a tenant's catalog.

use sea_orm::entity::prelude::*;

/// A course row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "learning", table_name = "courses")]
pub struct Model {
    /// The owning tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// The course's id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Unique per tenant; part of the course's public address.
    pub slug: String,
    /// Title.
    pub title: String,
    /// One-paragraph summary.
    pub summary: String,
    /// Long description (Markdown source).
    pub description: String,
    /// Language tag, e.g. `en` or `pt-BR`.
    pub language: String,
    /// `beginner`, `intermediate`, `advanced` or `all`.
    pub level: String,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// Price in the currency's minor unit; `None` until decided, 0 for free.
    pub price_cents: Option<i64>,
    /// ISO 4217 code, set with the price.
    pub currency: Option<String>,
    /// `draft`, `published` or `archived`.
    pub status: String,
    /// Identity users who teach it.
    pub instructor_ids: Vec<Uuid>,
    /// First published.
    pub published_at: Option<DateTimeWithTimeZone>,
    /// Created.
    pub created_at: DateTimeWithTimeZone,
    /// Last changed.
    pub updated_at: DateTimeWithTimeZone,
    /// The cover image (a ready `learning.media` row).
    pub cover_media_id: Option<Uuid>,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
