//! Catalog search in PostgreSQL: a weighted, language-aware `tsvector` on every course (title,
//! tags, summary, description) with a GIN index. Row-level security applies to searches like
//! to any other read.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "-- The text-search configuration for a course language tag (`pt-BR` -> portuguese).
                 CREATE FUNCTION learning.search_config(language text) RETURNS regconfig
                   LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
                     SELECT CASE left(language, 2)
                       WHEN 'en' THEN 'pg_catalog.english'
                       WHEN 'es' THEN 'pg_catalog.spanish'
                       WHEN 'pt' THEN 'pg_catalog.portuguese'
                       WHEN 'fr' THEN 'pg_catalog.french'
                       WHEN 'de' THEN 'pg_catalog.german'
                       WHEN 'it' THEN 'pg_catalog.italian'
                       WHEN 'nl' THEN 'pg_catalog.dutch'
                       ELSE 'pg_catalog.simple'
                     END::regconfig
                   $$;

                 -- What a course is found by, best fields first.
                 CREATE FUNCTION learning.course_document(
                   language text, title text, tags text[], summary text, description text
                 ) RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
                   SELECT setweight(to_tsvector(learning.search_config(language), title), 'A')
                       || setweight(to_tsvector(learning.search_config(language),
                                                array_to_string(tags, ' ')), 'B')
                       || setweight(to_tsvector(learning.search_config(language), summary), 'C')
                       || setweight(to_tsvector(learning.search_config(language), description), 'D')
                 $$;

                 ALTER TABLE learning.courses ADD COLUMN search tsvector
                   GENERATED ALWAYS AS (
                     learning.course_document(language, title, tags, summary, description)
                   ) STORED;
                 CREATE INDEX courses_search_idx ON learning.courses USING gin (search);",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE learning.courses DROP COLUMN search;
                 DROP FUNCTION learning.course_document(text, text, text[], text, text);
                 DROP FUNCTION learning.search_config(text);",
            )
            .await?;
        Ok(())
    }
}
