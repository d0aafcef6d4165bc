//! Learning's own settings: the `[service]` section of its configuration (`AULA_SERVICE__*`).

use kit::Secret;
use serde::{Deserialize, Serialize};

/// Learning's settings; every field has a default.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Catalog search.
    pub search: SearchSettings,
    /// Seconds between sweeps for outbox events whose notification was missed.
    pub outbox_sweep_secs: Option<u64>,
}

/// Which engine answers catalog searches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchEngine {
    /// PostgreSQL full-text search on the courses table (row-level security isolates it).
    #[default]
    Postgres,
    /// A Meilisearch index kept in sync from the outbox; searches carry a tenant token.
    Meilisearch,
}

/// `[service.search]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchSettings {
    /// `postgres` (default) or `meilisearch`.
    pub engine: SearchEngine,
    /// Meilisearch's address, e.g. `http://meilisearch:7700`.
    pub meilisearch_url: String,
    /// A key allowed to manage the index and its documents.
    pub meilisearch_admin_key: Secret,
    /// The search-only API key tenant tokens are signed with.
    pub meilisearch_search_key: Secret,
    /// That key's uid (tenant tokens name it).
    pub meilisearch_search_key_uid: String,
    /// The index (default `courses`).
    pub meilisearch_index: Option<String>,
}

impl Settings {
    /// Checks what defaults cannot.
    pub fn validate(&self) -> Result<(), String> {
        let s = &self.search;
        if s.engine == SearchEngine::Meilisearch
            && (s.meilisearch_url.is_empty()
                || s.meilisearch_admin_key.expose().is_empty()
                || s.meilisearch_search_key.expose().is_empty()
                || s.meilisearch_search_key_uid.is_empty())
        {
            return Err(
                "service.search.engine = meilisearch needs meilisearch_url, \
                        meilisearch_admin_key, meilisearch_search_key and \
                        meilisearch_search_key_uid (AULA_SERVICE__SEARCH__*)"
                    .into(),
            );
        }
        Ok(())
    }
}
