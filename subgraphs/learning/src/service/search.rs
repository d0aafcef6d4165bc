//! Catalog search. The default engine is PostgreSQL full-text search: each course's weighted,
//! language-aware document (`learning.courses.search`), matched by every word of the query as a
//! prefix, ranked, and paged by `(rank, id)` so pages stay stable. The tenant transaction's
//! row-level security confines results to the caller's academy; visitors and students find
//! published courses only. The production engine is Meilisearch ([`super::meili`]), chosen by
//! configuration, whose hits are loaded through the same tenant transaction.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    Statement,
};
use tenancy::{TenantContext, TenantTx};
use uuid::Uuid;

use super::courses::Status;
use super::is_staff;
use super::meili::{Meili, MeiliError};
use crate::LearningError;
use crate::entity::course;

/// Most words of a query that count.
const MAX_WORDS: usize = 8;

/// A page of search results, best first.
#[derive(Debug)]
pub struct Results {
    /// `(course, its cursor)`.
    pub hits: Vec<(course::Model, String)>,
    /// More results follow.
    pub has_next: bool,
}

/// The `to_tsquery` text for `query`: each word (letters and digits) as a prefix, all required.
fn ts_query(query: &str) -> Option<String> {
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(MAX_WORDS)
        .map(|w| format!("{}:*", w.to_lowercase()))
        .collect();
    (!words.is_empty()).then(|| words.join(" & "))
}

fn encode(rank: f32, id: Uuid) -> String {
    format!("{:08x}{}", rank.to_bits(), id.simple())
}

fn decode(cursor: &str) -> Result<(f32, Uuid), LearningError> {
    let bad = || LearningError::invalid("after", "after is not a cursor of this search");
    if cursor.len() != 40 || !cursor.is_ascii() {
        return Err(bad());
    }
    let bits = u32::from_str_radix(&cursor[..8], 16).map_err(|_| bad())?;
    let id = Uuid::parse_str(&cursor[8..]).map_err(|_| bad())?;
    Ok((f32::from_bits(bits), id))
}

/// The engine that answers searches.
#[derive(Clone, Debug)]
pub enum Engine {
    /// PostgreSQL full-text search.
    Postgres,
    /// A Meilisearch index kept in sync from the outbox.
    Meilisearch(Meili),
}

/// Searches the caller's academy's catalog for `query`; `first` results after `after`.
pub async fn search(
    db: &DatabaseConnection,
    engine: &Engine,
    ctx: &TenantContext,
    query: &str,
    first: Option<i32>,
    after: Option<&str>,
) -> Result<Results, LearningError> {
    let words = ts_query(query)
        .ok_or_else(|| LearningError::invalid("query", "query needs at least one word"))?;
    let first = first.unwrap_or(20);
    if !(1..=50).contains(&first) {
        return Err(LearningError::invalid(
            "first",
            "first must be between 1 and 50",
        ));
    }
    match engine {
        Engine::Postgres => postgres(db, ctx, words, first, after).await,
        Engine::Meilisearch(meili) => meilisearch(db, meili, ctx, query, first, after).await,
    }
}

/// Meilisearch pages by offset; its cursors are `m<offset>`.
async fn meilisearch(
    db: &DatabaseConnection,
    meili: &Meili,
    ctx: &TenantContext,
    query: &str,
    first: i32,
    after: Option<&str>,
) -> Result<Results, LearningError> {
    let offset = match after {
        None => 0,
        Some(c) => c
            .strip_prefix('m')
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| {
                LearningError::invalid("after", "after is not a cursor of this search")
            })?,
    };
    let first = first as usize;
    let staff = is_staff(ctx);
    let ids = meili
        .search(ctx.tenant(), staff, query, offset, first + 1)
        .await
        .map_err(|e: MeiliError| {
            tracing::warn!(error = %e, "catalog search failed");
            LearningError::Unavailable("search")
        })?;
    let has_next = ids.len() > first;
    let ids: Vec<Uuid> = ids.into_iter().take(first).collect();
    let tx = TenantTx::begin(db, ctx).await?;
    let mut models = course::Entity::find()
        .filter(course::Column::Id.is_in(ids.clone()))
        .all(&*tx)
        .await?;
    tx.commit().await?;
    // Row-level security dropped anything of another academy; visibility drops drafts for
    // non-staff even if the index lagged behind an unpublish.
    models.retain(|m| staff || m.status == Status::Published.as_str());
    let hits = ids
        .iter()
        .enumerate()
        .filter_map(|(i, id)| {
            let at = models.iter().position(|m| m.id == *id)?;
            Some((models.swap_remove(at), format!("m{}", offset + i + 1)))
        })
        .collect();
    Ok(Results { hits, has_next })
}

async fn postgres(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    words: String,
    first: i32,
    after: Option<&str>,
) -> Result<Results, LearningError> {
    let after = after.map(decode).transpose()?;
    let published_only = !is_staff(ctx);
    let mut sql = String::from(
        "SELECT c.id, ts_rank(c.search, q.query) AS rank
         FROM learning.courses c,
              LATERAL (SELECT to_tsquery(learning.search_config(c.language), $1) AS query) q
         WHERE c.search @@ q.query",
    );
    let mut values: Vec<sea_orm::Value> = vec![words.into(), i64::from(first + 1).into()];
    if published_only {
        sql.push_str(" AND c.status = $3");
        values.push(Status::Published.as_str().into());
    }
    if let Some((rank, id)) = after {
        let r = values.len() + 1;
        sql.push_str(&format!(
            " AND (ts_rank(c.search, q.query) < ${r}::real \
               OR (ts_rank(c.search, q.query) = ${r}::real AND c.id < ${}))",
            r + 1
        ));
        values.push(rank.into());
        values.push(id.into());
    }
    sql.push_str(" ORDER BY rank DESC, c.id DESC LIMIT $2");

    let tx = TenantTx::begin(db, ctx).await?;
    let rows = tx
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await?;
    let mut ranked = Vec::with_capacity(rows.len());
    for row in rows {
        let id: Uuid = row.try_get("", "id")?;
        let rank: f32 = row.try_get("", "rank")?;
        ranked.push((id, rank));
    }
    let has_next = ranked.len() > first as usize;
    ranked.truncate(first as usize);
    let ids: Vec<Uuid> = ranked.iter().map(|(id, _)| *id).collect();
    let mut models = course::Entity::find()
        .filter(course::Column::Id.is_in(ids))
        .all(&*tx)
        .await?;
    tx.commit().await?;
    let hits = ranked
        .into_iter()
        .filter_map(|(id, rank)| {
            let at = models.iter().position(|m| m.id == id)?;
            Some((models.swap_remove(at), encode(rank, id)))
        })
        .collect();
    Ok(Results { hits, has_next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_become_prefix_matches_of_every_word() {
        assert_eq!(ts_query("Rust educ").as_deref(), Some("rust:* & educ:*"));
        assert_eq!(ts_query("a&b|!c:*'").as_deref(), Some("a:* & b:* & c:*"));
        assert_eq!(ts_query("  -- ").as_deref(), None);
        assert_eq!(
            ts_query(&"w ".repeat(20)).map(|q| q.matches('&').count()),
            Some(7)
        );
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = Uuid::now_v7();
        let cursor = encode(0.25, id);
        assert_eq!(decode(&cursor).ok(), Some((0.25, id)));
        assert!(decode("nonsense").is_err());
        assert!(decode(&"z".repeat(40)).is_err());
    }
}
