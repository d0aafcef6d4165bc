//! The Meilisearch catalog backend (production; `service.search.engine = "meilisearch"`). One
//! index holds every academy's courses, each document carrying its `tenant_id`. Searches never
//! use the admin key: each is made with a short-lived tenant token whose search rules filter on
//! the caller's tenant (and on `published` for non-staff), which Meilisearch applies to every
//! query; the caller's input is only the query text, so it cannot widen the filter. Results are
//! then loaded through the tenant's own transaction, so row-level security has the last word.

use futures_util::AsyncReadExt;
use meilisearch_sdk::client::Client;
use meilisearch_sdk::errors::Error as SdkError;
use meilisearch_sdk::request::{HttpClient, Method, parse_response};
use meilisearch_sdk::settings::Settings as IndexSettings;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tenancy::TenantId;
use uuid::Uuid;

use crate::entity::course;
use crate::settings::SearchSettings;

/// How long a search's tenant token is valid.
const TOKEN_TTL: time::Duration = time::Duration::minutes(1);

/// A failed call to Meilisearch.
#[derive(Debug, thiserror::Error)]
#[error("meilisearch: {0}")]
pub struct MeiliError(String);

impl From<SdkError> for MeiliError {
    fn from(e: SdkError) -> Self {
        Self(e.to_string())
    }
}

/// The indexed form of a course.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CourseDocument {
    /// The course id (the primary key).
    pub id: Uuid,
    /// Its academy: every search is filtered on it.
    pub tenant_id: Uuid,
    /// `draft`, `published` or `archived`.
    pub status: String,
    /// Title.
    pub title: String,
    /// Summary.
    pub summary: String,
    /// Description source.
    pub description: String,
    /// Tags.
    pub tags: Vec<String>,
    /// BCP 47 language.
    pub language: String,
    /// Level.
    pub level: String,
}

impl From<&course::Model> for CourseDocument {
    fn from(c: &course::Model) -> Self {
        Self {
            id: c.id,
            tenant_id: c.tenant_id,
            status: c.status.clone(),
            title: c.title.clone(),
            summary: c.summary.clone(),
            description: c.description.clone(),
            tags: c.tags.clone(),
            language: c.language.clone(),
            level: c.level.clone(),
        }
    }
}

#[derive(Deserialize)]
struct Hit {
    id: Uuid,
}

/// A client of one Meilisearch index.
#[derive(Clone)]
pub struct Meili {
    url: String,
    index: String,
    admin: Client<Http>,
    search_key: String,
    search_key_uid: String,
}

impl std::fmt::Debug for Meili {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meili")
            .field("url", &self.url)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl Meili {
    /// A client for the settings' index (no request is made).
    pub fn new(settings: &SearchSettings) -> Self {
        let admin_key = settings.meilisearch_admin_key.expose().to_owned();
        let url = settings.meilisearch_url.trim_end_matches('/').to_owned();
        Self {
            admin: Client::new_with_client(
                url.clone(),
                Some(admin_key.clone()),
                Http::new(admin_key),
            ),
            url,
            index: settings
                .meilisearch_index
                .clone()
                .unwrap_or_else(|| "courses".into()),
            search_key: settings.meilisearch_search_key.expose().to_owned(),
            search_key_uid: settings.meilisearch_search_key_uid.clone(),
        }
    }

    /// Creates the index if needed and applies its settings: filterable on `tenant_id` and
    /// `status` (tenant tokens filter on them), searchable by title, tags, summary and
    /// description in that order of importance.
    pub async fn configure(&self) -> Result<(), MeiliError> {
        if let Err(err) = self.admin.create_index(&self.index, Some("id")).await {
            let exists = matches!(&err, SdkError::Meilisearch(e)
                if e.error_code == meilisearch_sdk::errors::ErrorCode::IndexAlreadyExists);
            if !exists {
                return Err(err.into());
            }
        }
        let settings = IndexSettings::new()
            .with_filterable_attributes(["tenant_id", "status"])
            .with_searchable_attributes(["title", "tags", "summary", "description"]);
        self.admin
            .index(&self.index)
            .set_settings(&settings)
            .await?;
        Ok(())
    }

    /// Adds or replaces a course's document.
    pub async fn upsert(&self, doc: &CourseDocument) -> Result<(), MeiliError> {
        self.admin
            .index(&self.index)
            .add_or_replace(std::slice::from_ref(doc), Some("id"))
            .await?;
        Ok(())
    }

    /// Removes a course's document.
    pub async fn remove(&self, id: Uuid) -> Result<(), MeiliError> {
        self.admin.index(&self.index).delete_document(id).await?;
        Ok(())
    }

    /// The search rules of a tenant token for `tenant` (published courses only unless `staff`).
    pub fn rules(&self, tenant: TenantId, staff: bool) -> serde_json::Value {
        // A TenantId is a UUID: nothing in it can end the quoted value.
        let mut filter = format!("tenant_id = '{tenant}'");
        if !staff {
            filter.push_str(" AND status = 'published'");
        }
        serde_json::json!({ self.index.as_str(): { "filter": filter } })
    }

    /// Course ids matching `query` in `tenant`'s catalog, best first: `limit` from `offset`.
    pub async fn search(
        &self,
        tenant: TenantId,
        staff: bool,
        query: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Uuid>, MeiliError> {
        let expires = time::OffsetDateTime::now_utc() + TOKEN_TTL;
        let token = self.admin.generate_tenant_token(
            self.search_key_uid.clone(),
            self.rules(tenant, staff),
            Some(&self.search_key),
            Some(expires),
        )?;
        let client =
            Client::new_with_client(self.url.clone(), Some(token.clone()), Http::new(token));
        let results = client
            .index(&self.index)
            .search()
            .with_query(query)
            .with_offset(offset)
            .with_limit(limit)
            .execute::<Hit>()
            .await?;
        Ok(results.hits.into_iter().map(|h| h.result.id).collect())
    }
}

/// The SDK's transport over the workspace's HTTP client, sending one key as the bearer.
#[derive(Clone)]
struct Http {
    key: String,
}

impl Http {
    fn new(key: String) -> Self {
        Self { key }
    }
}

#[async_trait::async_trait]
impl HttpClient for Http {
    async fn stream_request<
        Q: Serialize + Send + Sync,
        B: futures_util::AsyncRead + Send + Sync + 'static,
        O: DeserializeOwned + 'static,
    >(
        &self,
        url: &str,
        method: Method<Q, B>,
        content_type: &str,
        expected_status_code: u16,
    ) -> Result<O, SdkError> {
        let other = |e: Box<dyn std::error::Error + Send + Sync>| SdkError::Other(e);
        let url = format!(
            "{url}{}",
            query_string(method.query()).map_err(|e| other(Box::new(e)))?
        );
        let verb = match &method {
            Method::Get { .. } => reqwest::Method::GET,
            Method::Delete { .. } => reqwest::Method::DELETE,
            Method::Post { .. } => reqwest::Method::POST,
            Method::Put { .. } => reqwest::Method::PUT,
            Method::Patch { .. } => reqwest::Method::PATCH,
        };
        let mut request = kit::server::http_client()
            .request(verb, &url)
            .bearer_auth(&self.key);
        if let Some(body) = method.into_body() {
            let mut buf = Vec::new();
            let mut body = std::pin::pin!(body);
            body.read_to_end(&mut buf)
                .await
                .map_err(|e| other(Box::new(e)))?;
            request = request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(buf);
        }
        let response = request.send().await.map_err(|e| other(Box::new(e)))?;
        let status = response.status().as_u16();
        let mut text = response.text().await.map_err(|e| other(Box::new(e)))?;
        if text.is_empty() {
            text = "null".into();
        }
        parse_response(status, expected_status_code, &text, url)
    }

    fn is_tokio(&self) -> bool {
        true
    }
}

/// `?k=v&…` for a query object's non-null fields (empty for `()`), percent-encoded.
fn query_string<Q: Serialize>(query: &Q) -> Result<String, serde_json::Error> {
    let serde_json::Value::Object(fields) = serde_json::to_value(query)? else {
        return Ok(String::new());
    };
    let pairs: Vec<String> = fields
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{}={}", encode(k), encode(&v))
        })
        .collect();
    Ok(if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    })
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_skip_nulls_and_encode() {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Q {
            primary_key: Option<&'static str>,
            other: Option<u32>,
            text: &'static str,
        }
        let q = Q {
            primary_key: Some("id"),
            other: None,
            text: "a b&c",
        };
        assert_eq!(
            query_string(&q).expect("serializes"),
            "?primaryKey=id&text=a%20b%26c"
        );
        assert_eq!(query_string(&()).expect("serializes"), "");
    }
}
