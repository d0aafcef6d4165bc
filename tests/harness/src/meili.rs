//! A Meilisearch test double: an in-process server on `127.0.0.1` speaking the part of
//! Meilisearch's HTTP API (v1.x) that Aula's search adapter uses, closely enough for the real
//! `meilisearch-sdk` client, and recording every request so tests can assert what was sent.
//!
//! What it models, with Meilisearch's field names, status codes and error bodies
//! (`{message, code, type, link}`):
//!
//! - **Keys.** Every route but `GET /health` wants `Authorization: Bearer <key>`: the master key,
//!   or for a search also the search key or a tenant token (a JWT signed HS256 with the search
//!   key, naming its uid in `apiKeyUid`, with `searchRules` and an optional `exp`), whose rule
//!   filter is ANDed with the request's.
//! - **Tasks.** Writes answer `202` with a summarized task and are applied at once, so
//!   `GET /tasks/{uid}` already reports them `succeeded`, or `failed` with the error Meilisearch
//!   would give (`index_already_exists` for an index created twice).
//! - **Indexes** (`POST /indexes`, `GET /indexes/{uid}`) and their **settings**
//!   (`GET`/`PATCH /indexes/{uid}/settings`, merged, `null` resetting one).
//! - **Documents** in JSON, added with `POST` (replacing) or `PUT` (merging) on
//!   `/indexes/{uid}/documents` under the primary key of `?primaryKey=`, else the index's, else
//!   `id`; deleted with `DELETE /indexes/{uid}/documents/{id}` or `POST …/documents/delete-batch`.
//! - **Search** (`POST /indexes/{uid}/search`) with `q`, `offset`, `limit`, `filter`,
//!   `attributesToRetrieve` and `matchingStrategy` (`last` or `all`). Filters take `=`, `!=`,
//!   `AND`, `OR`, `NOT`, parentheses and quoted values, or the array form (the outer array
//!   ANDed, inner ones ORed), on attributes listed in `filterableAttributes`. Query words are
//!   lower-case alphanumeric runs, the last one matching as a prefix; hits rank by how many
//!   words matched, then by the first searchable attribute matching, then by primary key.
//!
//! Nothing else is modelled (typos, sorting, facets, other filter operators, other routes).
//! Bodies of the wrong shape, other search parameters included, are refused with
//! `400 bad_request` (where Meilisearch names a code per parameter); unknown paths answer `404`
//! and known paths with another method `405`, both with an empty body, as Meilisearch does.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{SecondsFormat, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::error::Category;
use serde_json::{Map, Value, json};

use crate::TestServer;

/// The largest body accepted: Meilisearch's default `--http-payload-size-limit` (100 MB).
const MAX_PAYLOAD: usize = 100_000_000;
/// Hits per search when the request does not say.
const DEFAULT_LIMIT: usize = 20;
/// The settings Meilisearch knows (kept as received; only `searchableAttributes` and
/// `filterableAttributes` change searches here).
#[rustfmt::skip]
const SETTINGS: [&str; 20] = [
    "displayedAttributes", "searchableAttributes", "filterableAttributes", "sortableAttributes",
    "rankingRules", "stopWords", "nonSeparatorTokens", "separatorTokens", "dictionary",
    "synonyms", "distinctAttribute", "proximityPrecision", "typoTolerance", "faceting",
    "pagination", "embedders", "searchCutoffMs", "localizedAttributes", "facetSearch",
    "prefixSearch",
];

type Shared = Arc<Mutex<Store>>;
type Document = Map<String, Value>;
type Answer = Result<Response, ApiError>;

/// One request the double received, as it arrived (refused ones included).
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The HTTP method, upper case (`GET`, `POST`, ...).
    pub method: String,
    /// The path as sent, without the query string (`/indexes/courses/search`).
    pub path: String,
    /// The raw query string without `?`, empty when there was none.
    pub query: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The body parsed as JSON: `Null` when empty, a JSON string with the raw text when it is
    /// not JSON.
    pub body: Value,
}

/// A Meilisearch double listening on a loopback port; stopped by [`MeiliDouble::stop`] or when
/// dropped.
pub struct MeiliDouble {
    server: TestServer,
    store: Shared,
}

impl fmt::Debug for MeiliDouble {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeiliDouble")
            .field("url", &self.server.url)
            .finish_non_exhaustive()
    }
}

impl MeiliDouble {
    /// Starts a double on a free loopback port.
    ///
    /// `master_key` is the admin key every route but the search requires; `search_key` and
    /// `search_key_uid` are the search API key (allowed on the search only) and its uid: tenant
    /// tokens must be signed with `search_key` and name `search_key_uid` in `apiKeyUid`.
    pub async fn start(master_key: &str, search_key: &str, search_key_uid: &str) -> MeiliDouble {
        let store = Arc::new(Mutex::new(Store {
            master: master_key.to_owned(),
            search: search_key.to_owned(),
            search_uid: search_key_uid.to_owned(),
            indexes: BTreeMap::new(),
            tasks: Vec::new(),
            requests: Vec::new(),
        }));
        let settings = get(get_settings).patch(update_settings);
        let documents = post(add_documents).put(add_documents);
        let master_only = middleware::from_fn_with_state(Arc::clone(&store), master_only);
        let admin = Router::new()
            .route("/indexes", post(create_index))
            .route("/indexes/{uid}", get(get_index))
            .route("/indexes/{uid}/settings", settings)
            .route("/indexes/{uid}/documents", documents)
            .route("/indexes/{uid}/documents/delete-batch", post(delete_batch))
            .route("/indexes/{uid}/documents/{id}", delete(delete_document))
            .route("/tasks/{uid}", get(get_task))
            .route_layer(master_only);
        let router = Router::new()
            .route("/health", get(health))
            .route("/indexes/{uid}/search", post(search))
            .merge(admin)
            .layer(middleware::from_fn_with_state(Arc::clone(&store), record))
            .layer(DefaultBodyLimit::max(MAX_PAYLOAD))
            .with_state(Arc::clone(&store));
        let server = crate::server::spawn(router).await;
        MeiliDouble { server, store }
    }

    /// `http://127.0.0.1:<port>`, the address to give the client.
    pub fn url(&self) -> String {
        self.server.url.clone()
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.store).requests.clone()
    }

    /// The documents of `index`, sorted by primary key (as strings); empty when there is no such
    /// index.
    pub fn documents(&self, index: &str) -> Vec<Value> {
        let store = lock(&self.store);
        let documents = store.indexes.get(index).map(|i| i.documents.values());
        let documents = documents.into_iter().flatten().cloned();
        documents.map(Value::Object).collect()
    }

    /// The settings of `index` as received, merged update after update (without Meilisearch's
    /// defaults): `{}` when none were set or there is no such index.
    pub fn settings(&self, index: &str) -> Value {
        let store = lock(&self.store);
        let settings = store.indexes.get(index).map(|i| i.settings.clone());
        settings.unwrap_or_else(|| json!({}))
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(self) {
        let _ = self.server.stop().await;
    }
}

// State and errors ----------------------------------------------------------------------------

/// Everything the double holds.
struct Store {
    master: String,
    search: String,
    search_uid: String,
    indexes: BTreeMap<String, Index>,
    /// The `GET /tasks/{uid}` bodies, by uid.
    tasks: Vec<Value>,
    requests: Vec<Recorded>,
}

/// One index.
struct Index {
    primary_key: Option<String>,
    created_at: String,
    updated_at: String,
    /// The settings as received, merged (an object).
    settings: Value,
    /// By primary key.
    documents: BTreeMap<String, Document>,
}

fn lock(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A Meilisearch error: its code decides the status and type.
#[derive(Debug)]
struct ApiError {
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(code: &'static str, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError { code, message }
    }

    fn body(&self) -> Value {
        let kind = match self.code {
            "missing_authorization_header" | "invalid_api_key" => "auth",
            _ => "invalid_request",
        };
        let link = format!("https://docs.meilisearch.com/errors#{}", self.code);
        json!({ "message": self.message, "code": self.code, "type": kind, "link": link })
    }

    /// The same error about index `uid`, as Meilisearch words errors raised while searching.
    fn in_index(self, uid: &str) -> ApiError {
        ApiError::new(self.code, format!("Index `{uid}`: {}", self.message))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self.code {
            "missing_authorization_header" => StatusCode::UNAUTHORIZED,
            "invalid_api_key" => StatusCode::FORBIDDEN,
            "index_not_found" | "task_not_found" => StatusCode::NOT_FOUND,
            "payload_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        (status, Json(self.body())).into_response()
    }
}

fn invalid_api_key() -> ApiError {
    ApiError::new("invalid_api_key", "The provided API key is invalid.")
}

fn index_not_found(uid: &str) -> ApiError {
    ApiError::new("index_not_found", format!("Index `{uid}` not found."))
}

impl Store {
    /// Records a task already applied with `outcome` and answers `202 Accepted` with its
    /// summary.
    fn enqueue(&mut self, index: &str, kind: &str, details: Value, outcome: Outcome) -> Response {
        let (uid, at) = (self.tasks.len(), now());
        let (status, error) = match outcome {
            Ok(()) => ("succeeded", Value::Null),
            Err(e) => ("failed", e.body()),
        };
        self.tasks.push(json!({
            "uid": uid, "batchUid": uid, "indexUid": index, "status": status, "type": kind,
            "canceledBy": null, "details": details, "error": error, "duration": "PT0S",
            "enqueuedAt": at, "startedAt": at, "finishedAt": at,
        }));
        let summary = json!({
            "taskUid": uid, "indexUid": index, "status": "enqueued", "type": kind, "enqueuedAt": at,
        });
        (StatusCode::ACCEPTED, Json(summary)).into_response()
    }

    fn index(&self, uid: &str) -> Result<&Index, ApiError> {
        self.indexes.get(uid).ok_or_else(|| index_not_found(uid))
    }
}

/// How a task went.
type Outcome = Result<(), ApiError>;

// Keys and tenant tokens ----------------------------------------------------------------------

/// The bearer token of the request, refused as Meilisearch refuses it.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(header::AUTHORIZATION);
    let value = value.map(|v| v.to_str().unwrap_or_default());
    match value.map(|v| v.split_once(' ').unwrap_or((v, ""))) {
        Some(("Bearer", key)) => Ok(key),
        _ => Err(ApiError::new(
            "missing_authorization_header",
            "The Authorization header is missing. It must use the bearer authorization method.",
        )),
    }
}

/// Lets the master key only through to the admin routes.
async fn master_only(State(store): State<Shared>, request: Request, next: Next) -> Answer {
    if bearer(request.headers())? != lock(&store).master {
        return Err(invalid_api_key());
    }
    Ok(next.run(request).await)
}

/// The claims of a tenant token.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TenantClaims {
    search_rules: Value,
    exp: Option<i64>,
    api_key_uid: String,
}

fn undecodable(reason: &str) -> ApiError {
    ApiError::new(
        "invalid_api_key",
        format!("Could not decode tenant token, {reason}."),
    )
}

impl Store {
    /// Allows a search on `index` with the master key, the search key or a tenant token
    /// covering it, returning the token's filter, if any.
    fn searcher(&self, headers: &HeaderMap, index: &str) -> Result<Option<Value>, ApiError> {
        let key = bearer(headers)?;
        if key == self.master {
            return Ok(None);
        }
        match self.tenant_rules(key)? {
            Some(rules) => rules_filter(&rules, index),
            None if key == self.search => Ok(None),
            None => Err(invalid_api_key()),
        }
    }

    /// The search rules of `token` if it is a valid tenant token, `None` if it is no JWT at all
    /// (it may then be an API key), the refusal Meilisearch gives otherwise.
    fn tenant_rules(&self, token: &str) -> Result<Option<Value>, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        // `exp` is optional, and checked below with Meilisearch's message.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let key = DecodingKey::from_secret(self.search.as_bytes());
        let claims = match jsonwebtoken::decode::<TenantClaims>(token, &key, &validation) {
            Ok(data) => data.claims,
            Err(e) if matches!(e.kind(), ErrorKind::InvalidToken) => return Ok(None),
            Err(e) => return Err(undecodable(&e.to_string())),
        };
        // Meilisearch derives each key from its uid: a token naming another uid fails the
        // signature check.
        if claims.api_key_uid != self.search_uid {
            return Err(undecodable("InvalidSignature"));
        }
        let now = Utc::now().timestamp();
        match claims.exp {
            Some(exp) if now > exp => Err(ApiError::new(
                "invalid_api_key",
                format!("Tenant token expired. Was valid up to `{exp}` and we're now `{now}`."),
            )),
            _ => Ok(Some(claims.search_rules)),
        }
    }
}

/// The filter tenant-token `rules` (`["*"]`, `["uid"]`, `{"uid": null}` or
/// `{"uid": {"filter": …}}`, `*` for any index) set on `index`; refused when they do not
/// cover it.
fn rules_filter(rules: &Value, index: &str) -> Result<Option<Value>, ApiError> {
    let patterns: Vec<&str> = match rules {
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        Value::Object(map) => map.keys().map(String::as_str).collect(),
        _ => Vec::new(),
    };
    if !patterns.iter().any(|p| *p == "*" || *p == index) {
        return Err(ApiError::new(
            "invalid_api_key",
            format!(
                "The provided tenant token cannot acces the index `{index}`, allowed indexes are {patterns:?}."
            ),
        ));
    }
    let rule = rules.get(index).or_else(|| rules.get("*"));
    let filter = rule.and_then(|rule| rule.get("filter"));
    Ok(filter.filter(|f| !f.is_null()).cloned())
}

// Routes --------------------------------------------------------------------------------------

/// Records every request, refused ones included, before it is answered.
async fn record(State(store): State<Shared>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_PAYLOAD).await;
    let body = match &bytes {
        Ok(b) if !b.is_empty() => serde_json::from_slice(b)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into_owned())),
        _ => Value::Null,
    };
    let authorization = parts.headers.get(header::AUTHORIZATION);
    lock(&store).requests.push(Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        authorization: authorization.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        body,
    });
    let Ok(bytes) = bytes else {
        let limit = "The provided payload reached the size limit. The maximum accepted payload size is 100 MB.";
        return ApiError::new("payload_too_large", limit).into_response();
    };
    let request = Request::from_parts(parts, Body::from(bytes));
    next.run(request).await
}

/// A JSON body as `T`, refused as Meilisearch refuses a missing or malformed one; a body of
/// the wrong shape with `bad_request`.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        let missing = "A json payload is missing.";
        return Err(ApiError::new("missing_payload", missing));
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        Category::Data => ApiError::new("bad_request", e.to_string()),
        _ => {
            let message = format!("The json payload provided is malformed. `{e}`.");
            ApiError::new("malformed_payload", message)
        }
    })
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "available" }))
}

/// The body of `POST /indexes`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewIndex {
    uid: String,
    primary_key: Option<String>,
}

async fn create_index(State(store): State<Shared>, body: Bytes) -> Answer {
    let NewIndex { uid, primary_key } = parse(&body)?;
    let details = json!({ "primaryKey": primary_key });
    let mut store = lock(&store);
    let outcome = if store.indexes.contains_key(&uid) {
        let message = format!("Index `{uid}` already exists.");
        Err(ApiError::new("index_already_exists", message))
    } else {
        store.indexes.insert(uid.clone(), Index::new(primary_key));
        Ok(())
    };
    Ok(store.enqueue(&uid, "indexCreation", details, outcome))
}

async fn get_index(State(store): State<Shared>, Path(uid): Path<String>) -> Answer {
    Ok(Json(lock(&store).index(&uid)?.view(&uid)).into_response())
}

async fn get_settings(State(store): State<Shared>, Path(uid): Path<String>) -> Answer {
    Ok(Json(lock(&store).index(&uid)?.settings_view()).into_response())
}

async fn update_settings(
    State(store): State<Shared>,
    Path(uid): Path<String>,
    body: Bytes,
) -> Answer {
    let patch: Document = parse(&body)?;
    if let Some(unknown) = patch.keys().find(|k| !SETTINGS.contains(&k.as_str())) {
        let known = SETTINGS.join("`, `");
        let message = format!("Unknown field `{unknown}`: expected one of `{known}`");
        return Err(ApiError::new("bad_request", message));
    }
    let patch = Value::Object(patch);
    let mut store = lock(&store);
    store.index_mut(&uid).update_settings(&patch);
    Ok(store.enqueue(&uid, "settingsUpdate", patch, Ok(())))
}

/// `POST` replaces the documents with the same ids, `PUT` merges into them.
async fn add_documents(
    State(store): State<Shared>,
    method: Method,
    Path(uid): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    body: Bytes,
) -> Answer {
    let documents = parse_documents(&body)?;
    let received = documents.len();
    let mut store = lock(&store);
    let index = store.index_mut(&uid);
    let outcome = index.add_documents(params.get("primaryKey"), documents, method == Method::POST);
    let indexed = if outcome.is_ok() { received } else { 0 };
    let details = json!({ "receivedDocuments": received, "indexedDocuments": indexed });
    Ok(store.enqueue(&uid, "documentAdditionOrUpdate", details, outcome))
}

async fn delete_document(
    State(store): State<Shared>,
    Path((uid, id)): Path<(String, String)>,
) -> Answer {
    Ok(lock(&store).delete_documents(&uid, &[id]))
}

async fn delete_batch(State(store): State<Shared>, Path(uid): Path<String>, body: Bytes) -> Answer {
    let ids: Vec<Value> = parse(&body)?;
    let as_text = |id: &Value| id.as_str().map_or_else(|| id.to_string(), str::to_owned);
    let ids: Vec<String> = ids.iter().map(as_text).collect();
    Ok(lock(&store).delete_documents(&uid, &ids))
}

async fn get_task(State(store): State<Shared>, Path(uid): Path<String>) -> Answer {
    let store = lock(&store);
    let task = uid.parse::<usize>().ok().and_then(|n| store.tasks.get(n));
    let missing = || ApiError::new("task_not_found", format!("Task `{uid}` not found."));
    Ok(Json(task.ok_or_else(missing)?.clone()).into_response())
}

async fn search(
    State(store): State<Shared>,
    headers: HeaderMap,
    Path(uid): Path<String>,
    body: Bytes,
) -> Answer {
    let store = lock(&store);
    let token_filter = store.searcher(&headers, &uid)?;
    let query = parse(&body)?;
    let results = store.index(&uid)?.search(&uid, query, token_filter)?;
    Ok(Json(results).into_response())
}

// Indexes, settings and documents -------------------------------------------------------------

impl Index {
    fn new(primary_key: Option<String>) -> Index {
        Index {
            primary_key,
            created_at: now(),
            updated_at: now(),
            settings: json!({}),
            documents: BTreeMap::new(),
        }
    }

    fn view(&self, uid: &str) -> Value {
        json!({
            "uid": uid, "createdAt": self.created_at, "updatedAt": self.updated_at,
            "primaryKey": self.primary_key,
        })
    }

    /// The settings as `GET /indexes/{uid}/settings` shows them: what was set over the
    /// defaults of the main ones.
    fn settings_view(&self) -> Value {
        let mut settings = json!({
            "displayedAttributes": ["*"], "searchableAttributes": ["*"],
            "filterableAttributes": [], "sortableAttributes": [],
            "rankingRules": ["words", "typo", "proximity", "attribute", "sort", "exactness"],
            "stopWords": [], "synonyms": {}, "distinctAttribute": null,
        });
        merge(&mut settings, &self.settings);
        settings
    }

    fn update_settings(&mut self, patch: &Value) {
        merge(&mut self.settings, patch);
        self.updated_at = now();
    }

    /// A setting that is a list of strings, `None` when unset.
    fn strings(&self, key: &str) -> Option<Vec<&str>> {
        let items = self.settings.get(key)?.as_array()?;
        Some(items.iter().filter_map(Value::as_str).collect())
    }

    /// Adds `documents` under the index's primary key, else `wanted`, else `id`, each
    /// replacing or, unless `replace`, merged into the one with its id: all or none of them.
    fn add_documents(
        &mut self,
        wanted: Option<&String>,
        documents: Vec<Document>,
        replace: bool,
    ) -> Outcome {
        if let (Some(key), Some(wanted)) = (&self.primary_key, wanted)
            && key != wanted
        {
            let message = format!("Index already has a primary key: `{key}`.");
            return Err(ApiError::new("index_primary_key_already_exists", message));
        }
        let key = self.primary_key.as_ref().or(wanted);
        let key = key.map_or("id", String::as_str).to_owned();
        let keyed: Result<Vec<_>, ApiError> = documents
            .into_iter()
            .map(|d| Ok((document_id(&d, &key)?, d)))
            .collect();
        for (id, document) in keyed? {
            match self.documents.get_mut(&id) {
                Some(existing) if !replace => existing.extend(document),
                _ => drop(self.documents.insert(id, document)),
            }
        }
        self.primary_key = Some(key);
        self.updated_at = now();
        Ok(())
    }

    /// Deletes the documents with `ids`, returning how many there were.
    fn delete(&mut self, ids: &[String]) -> usize {
        self.updated_at = now();
        ids.iter()
            .filter_map(|id| self.documents.remove(id))
            .count()
    }
}

impl Store {
    /// Index `uid`, created (without a primary key) if needed, as Meilisearch does on writes.
    fn index_mut(&mut self, uid: &str) -> &mut Index {
        self.indexes
            .entry(uid.to_owned())
            .or_insert_with(|| Index::new(None))
    }

    /// Deletes the documents with `ids` from index `uid`, as a `documentDeletion` task.
    fn delete_documents(&mut self, uid: &str, ids: &[String]) -> Response {
        let (deleted, outcome) = match self.indexes.get_mut(uid) {
            Some(index) => (index.delete(ids), Ok(())),
            None => (0, Err(index_not_found(uid))),
        };
        let details = json!({ "providedIds": ids.len(), "deletedDocuments": deleted, "originalFilter": null });
        self.enqueue(uid, "documentDeletion", details, outcome)
    }
}

/// Merges `patch` into `target`: objects key by key (`null` removing one), anything else
/// replaced.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else {
                    merge(target.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// The documents of an addition: a JSON object or array of objects.
fn parse_documents(body: &[u8]) -> Result<Vec<Document>, ApiError> {
    let documents = match parse(body)? {
        Value::Array(items) => items,
        one => vec![one],
    };
    let malformed = "The `json` payload provided is malformed. `Couldn't serialize document value: data are neither an object nor a list of objects`.";
    let object = |d| match d {
        Value::Object(document) => Ok(document),
        _ => Err(ApiError::new("malformed_payload", malformed)),
    };
    documents.into_iter().map(object).collect()
}

/// The id of `document` under `key`: a string or an integer.
fn document_id(document: &Document, key: &str) -> Result<String, ApiError> {
    match document.get(key) {
        Some(Value::String(id)) => Ok(id.clone()),
        Some(Value::Number(id)) if id.is_i64() || id.is_u64() => Ok(id.to_string()),
        _ => {
            let document = Value::Object(document.clone());
            let message = format!("Document doesn't have a `{key}` attribute: `{document}`.");
            Err(ApiError::new("missing_document_id", message))
        }
    }
}

// Search --------------------------------------------------------------------------------------

/// A search request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SearchQuery {
    q: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
    filter: Option<Value>,
    attributes_to_retrieve: Option<Vec<String>>,
    matching_strategy: Option<Strategy>,
}

/// Which query words must match.
#[derive(Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Strategy {
    /// Words are dropped from the end until documents match (Meilisearch's default).
    Last,
    /// Every word must match.
    All,
}

/// How a hit ranks, best first: more query words matched, then an earlier searchable attribute.
type Rank = (Reverse<usize>, usize);

impl Index {
    fn search(
        &self,
        uid: &str,
        query: SearchQuery,
        token_filter: Option<Value>,
    ) -> Result<Value, ApiError> {
        let filter = match fuse(query.filter, token_filter) {
            Some(value) => parse_filter(&value, 0)?,
            None => None,
        };
        if let Some(filter) = &filter {
            self.check_filterable(filter).map_err(|e| e.in_index(uid))?;
        }
        let q = query.q.unwrap_or_default();
        let terms = Terms {
            words: words(&q),
            prefix: q.ends_with(char::is_alphanumeric),
            every_word: query.matching_strategy == Some(Strategy::All),
        };
        let mut ranked: Vec<(Rank, &Document)> = self
            .documents
            .values()
            .filter(|d| filter.as_ref().is_none_or(|f| f.matches(d)))
            .filter_map(|d| Some((self.rank(d, &terms)?, d)))
            .collect();
        // Stable: equal ranks stay in primary key order.
        ranked.sort_by_key(|(rank, _)| *rank);
        let offset = query.offset.unwrap_or(0);
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
        let retrieve = query.attributes_to_retrieve;
        let hits = ranked.iter().skip(offset).take(limit);
        let hits: Vec<Value> = hits.map(|(_, d)| project(d, retrieve.as_deref())).collect();
        Ok(json!({
            "hits": hits, "query": q, "processingTimeMs": 0, "limit": limit, "offset": offset,
            "estimatedTotalHits": ranked.len(),
        }))
    }

    /// How `document` ranks for the query's `terms`, `None` when it does not match.
    fn rank(&self, document: &Document, terms: &Terms) -> Option<Rank> {
        if terms.words.is_empty() {
            return Some((Reverse(0), 0));
        }
        let text = |a: &str| document.get(a).map(words_of).unwrap_or_default();
        let attributes: Vec<Vec<String>> =
            self.searchable(document).into_iter().map(text).collect();
        // The first attribute each query word is found in.
        let found_in = |i| {
            attributes
                .iter()
                .position(|text| text.iter().any(|w| terms.matches(i, w)))
        };
        let found: Vec<Option<usize>> = (0..terms.words.len()).map(found_in).collect();
        // The words matched, dropping words from the end until the rest all match.
        let matched = found.iter().take_while(|f| f.is_some()).count();
        if matched == 0 || (terms.every_word && matched < terms.words.len()) {
            return None;
        }
        let attribute = found.iter().take(matched).flatten().min().copied()?;
        Some((Reverse(matched), attribute))
    }

    /// The attributes searched in `document`, most important first: `searchableAttributes`,
    /// or all of the document's (`*`, the default).
    fn searchable<'a>(&'a self, document: &'a Document) -> Vec<&'a str> {
        match self.strings("searchableAttributes") {
            Some(attributes) if !attributes.contains(&"*") => attributes,
            _ => document.keys().map(String::as_str).collect(),
        }
    }

    /// Refuses a filter on an attribute `filterableAttributes` does not list, as Meilisearch
    /// words it (without the `Index `uid`: ` prefix, which the caller adds).
    fn check_filterable(&self, filter: &Filter) -> Result<(), ApiError> {
        let mut filterable = self.strings("filterableAttributes").unwrap_or_default();
        filterable.sort_unstable();
        filterable.dedup();
        let not_filterable = |c: &Condition| !filterable.contains(&c.attribute.as_str());
        let Some(c) = filter.find(&not_filterable) else {
            return Ok(());
        };
        let available = if filterable.is_empty() {
            " This index does not have configured filterable attributes.".to_owned()
        } else {
            let patterns = format!("`{}`", filterable.join("`, `"));
            format!(" Available filterable attribute patterns are: {patterns}.")
        };
        let (attribute, position) = (&c.attribute, c.position());
        let message = format!("Attribute `{attribute}` is not filterable.{available}\n{position}");
        Err(ApiError::new("invalid_search_filter", message))
    }
}

/// Meilisearch's `fuse_filters`: both filters, ANDed as an array.
fn fuse(left: Option<Value>, right: Option<Value>) -> Option<Value> {
    let list = |v: Value| match v {
        Value::Array(items) => items,
        other => vec![other],
    };
    match (left, right) {
        (Some(left), Some(right)) => Some(Value::Array([list(left), list(right)].concat())),
        (left, right) => left.or(right),
    }
}

/// `document` with only the attributes to retrieve (all of them for `*` or when not given).
fn project(document: &Document, attributes: Option<&[String]>) -> Value {
    let Some(attributes) = attributes.filter(|a| !a.iter().any(|a| a == "*")) else {
        return Value::Object(document.clone());
    };
    let kept = document.iter().filter(|(key, _)| attributes.contains(key));
    let kept = kept.map(|(key, value)| (key.clone(), value.clone()));
    Value::Object(kept.collect())
}

/// The words of a search and how they match.
struct Terms {
    words: Vec<String>,
    /// Whether the last word may match the start of a word (unless a separator follows it).
    prefix: bool,
    /// `matchingStrategy: all`: every word must match.
    every_word: bool,
}

impl Terms {
    /// Whether query word `i` matches `word`.
    fn matches(&self, i: usize, word: &str) -> bool {
        let last = i + 1 == self.words.len();
        word == self.words[i] || (self.prefix && last && word.starts_with(&self.words[i]))
    }
}

/// The lower-case alphanumeric words of `text`.
fn words(text: &str) -> Vec<String> {
    let words = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty());
    words.map(str::to_lowercase).collect()
}

/// The words of a document's value, in arrays and objects too.
fn words_of(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => words(s),
        Value::Number(_) | Value::Bool(_) => words(&value.to_string()),
        Value::Array(items) => items.iter().flat_map(words_of).collect(),
        Value::Object(map) => map.values().flat_map(words_of).collect(),
        Value::Null => Vec::new(),
    }
}

// Filters -------------------------------------------------------------------------------------

/// A parsed filter expression.
#[derive(Debug)]
enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Condition(Condition),
}

/// `attribute = value` (or `!=`), with where the attribute is written, for errors.
#[derive(Debug)]
struct Condition {
    attribute: String,
    value: String,
    equal: bool,
    /// The attribute's 1-based column, in characters.
    column: usize,
    source: String,
}

impl Filter {
    fn matches(&self, document: &Document) -> bool {
        match self {
            Filter::And(all) => all.iter().all(|f| f.matches(document)),
            Filter::Or(any) => any.iter().any(|f| f.matches(document)),
            Filter::Not(inner) => !inner.matches(document),
            Filter::Condition(condition) => condition.matches(document),
        }
    }

    /// The first condition passing `test`.
    fn find(&self, test: &dyn Fn(&Condition) -> bool) -> Option<&Condition> {
        match self {
            Filter::And(all) | Filter::Or(all) => all.iter().find_map(|f| f.find(test)),
            Filter::Not(inner) => inner.find(test),
            Filter::Condition(condition) => test(condition).then_some(condition),
        }
    }
}

impl Condition {
    /// Whether a value of the attribute (each item of an array) equals the condition's: strings
    /// trimmed and case-insensitively, numbers numerically; the opposite for `!=`.
    fn matches(&self, document: &Document) -> bool {
        let values: Vec<&Value> = match document.get(&self.attribute) {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(value) => vec![value],
            None => Vec::new(),
        };
        let target = self.value.trim();
        let equals = |value: &Value| match value {
            Value::String(s) => s.trim().to_lowercase() == target.to_lowercase(),
            Value::Number(n) => target.parse::<f64>().is_ok_and(|t| n.as_f64() == Some(t)),
            Value::Bool(b) => target.eq_ignore_ascii_case(&b.to_string()),
            _ => false,
        };
        values.into_iter().any(equals) == self.equal
    }

    /// Where the attribute is, as Meilisearch points at it: `column:end source`.
    fn position(&self) -> String {
        let end = self.column + self.attribute.chars().count();
        format!("{}:{end} {}", self.column, self.source)
    }
}

/// Parses a `filter` at `level` 0: a string, or an array (level 1) of strings and arrays
/// (level 2) of strings, the outer array ANDed, the inner ones ORed. `None` when it filters
/// nothing.
fn parse_filter(value: &Value, level: u8) -> Result<Option<Filter>, ApiError> {
    const CODE: &str = "invalid_search_filter";
    match value {
        Value::String(source) => parse_expression(source).map_err(|e| ApiError::new(CODE, e)),
        Value::Array(items) if level < 2 => {
            let mut parts = Vec::new();
            for item in items {
                parts.extend(parse_filter(item, level + 1)?);
            }
            let join = if level == 0 { Filter::And } else { Filter::Or };
            Ok((!parts.is_empty()).then(|| join(parts)))
        }
        other => {
            let expected = if level < 2 { "String, Array" } else { "String" };
            let message = format!(
                "Invalid syntax for the filter parameter: `expected {expected}, found: {other}`."
            );
            Err(ApiError::new(CODE, message))
        }
    }
}

/// A token of the filter language.
#[derive(Clone, Debug)]
enum Kind {
    Open,
    Close,
    Equal,
    NotEqual,
    Word(String),
    Quoted(String),
}

/// A token and its 1-based column, in characters (a quoted value's is its first character's).
type Token = (Kind, usize);

/// A syntax error in filter `source` at `column` (past the end: at the end): `message` about
/// what is left from there, then where, as Meilisearch prints it.
fn syntax_error(source: &str, column: usize, message: impl FnOnce(&str) -> String) -> String {
    let rest: String = source.chars().skip(column - 1).collect();
    let end = column + rest.chars().count();
    format!("{}\n{column}:{end} {source}", message(&rest))
}

/// `message` ending with what is left, as Meilisearch names it.
fn but_got(message: &str) -> impl FnOnce(&str) -> String {
    move |rest| match rest {
        "" => format!("{message} but instead got nothing."),
        rest => format!("{message} but instead got `{rest}`."),
    }
}

/// The double's refusal of another operator than `=` and `!=`.
const OPERATION: &str =
    "Was expecting an operation `=` or `!=` (the only ones the Meilisearch double supports)";

fn is_keyword(word: &str) -> bool {
    ["AND", "OR", "NOT"]
        .iter()
        .any(|k| word.eq_ignore_ascii_case(k))
}

fn tokenize(source: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        // The token, its column and where the next one starts.
        let (kind, column, next) = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => (Kind::Open, i + 1, i + 1),
            ')' => (Kind::Close, i + 1, i + 1),
            '=' => (Kind::Equal, i + 1, i + 1),
            '!' if chars.get(i + 1) == Some(&'=') => (Kind::NotEqual, i + 1, i + 2),
            '!' => return Err(syntax_error(source, i + 1, but_got(OPERATION))),
            '\'' | '"' => {
                // The closing quote: the first one not escaped with a backslash.
                let close = (i + 1..chars.len()).find(|&j| chars[j] == c && chars[j - 1] != '\\');
                let Some(close) = close else {
                    return Err(syntax_error(source, i + 1, |rest| {
                        format!(
                            "Expression `{rest}` is missing the following closing delimiter: `{c}`."
                        )
                    }));
                };
                let value: String = chars[i + 1..close].iter().collect();
                let value = value.replace(&format!("\\{c}"), &c.to_string());
                (Kind::Quoted(value), i + 2, close + 1)
            }
            _ => {
                let stop = |j: &usize| chars[*j].is_whitespace() || "()=!'\"".contains(chars[*j]);
                let end = (i..chars.len()).find(stop).unwrap_or(chars.len());
                (Kind::Word(chars[i..end].iter().collect()), i + 1, end)
            }
        };
        tokens.push((kind, column));
        i = next;
    }
    Ok(tokens)
}

/// Parses one filter expression; `None` when it is blank.
fn parse_expression(source: &str) -> Result<Option<Filter>, String> {
    let tokens = tokenize(source)?;
    if tokens.is_empty() {
        return Ok(None);
    }
    let mut parser = Parser {
        tokens,
        position: 0,
        source,
    };
    let filter = parser.or()?;
    if parser.peek().is_none() {
        return Ok(Some(filter));
    }
    Err(syntax_error(source, parser.column(), |rest| {
        format!(
            "Found unexpected characters at the end of the filter: `{rest}`. You probably forgot an `OR` or an `AND` rule."
        )
    }))
}

/// A recursive-descent parser over filter tokens: `OR` binds looser than `AND`, `AND` than
/// `NOT`.
struct Parser<'a> {
    tokens: Vec<Token>,
    position: usize,
    source: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Kind> {
        self.tokens.get(self.position).map(|(kind, _)| kind)
    }

    /// The column of the next token, past the end when there is none.
    fn column(&self) -> usize {
        let end = self.source.chars().count() + 1;
        self.tokens
            .get(self.position)
            .map_or(end, |(_, column)| *column)
    }

    /// Consumes `keyword` if it comes next.
    fn keyword(&mut self, keyword: &str) -> bool {
        let found = matches!(self.peek(), Some(Kind::Word(w)) if w.eq_ignore_ascii_case(keyword));
        self.position += usize::from(found);
        found
    }

    /// Items separated by `keyword`, joined with `join` when there are several.
    fn separated(
        &mut self,
        keyword: &str,
        item: fn(&mut Self) -> Parsed,
        join: fn(Vec<Filter>) -> Filter,
    ) -> Parsed {
        let mut items = vec![item(self)?];
        while self.keyword(keyword) {
            items.push(item(self)?);
        }
        Ok(match <[Filter; 1]>::try_from(items) {
            Ok([one]) => one,
            Err(items) => join(items),
        })
    }

    fn or(&mut self) -> Parsed {
        self.separated("OR", Self::and, Filter::Or)
    }

    fn and(&mut self) -> Parsed {
        self.separated("AND", Self::not, Filter::And)
    }

    fn not(&mut self) -> Parsed {
        if self.keyword("NOT") {
            return Ok(Filter::Not(Box::new(self.not()?)));
        }
        if !matches!(self.peek(), Some(Kind::Open)) {
            return self.condition();
        }
        let open = self.column();
        self.position += 1;
        let inner = self.or()?;
        if !matches!(self.peek(), Some(Kind::Close)) {
            return Err(syntax_error(self.source, open, |rest| {
                format!("Expression `{rest}` is missing the following closing delimiter: `)`.")
            }));
        }
        self.position += 1;
        Ok(inner)
    }

    fn condition(&mut self) -> Parsed {
        let column = self.column();
        let attribute = self.value()?;
        let equal = match self.peek() {
            Some(Kind::Equal) => true,
            Some(Kind::NotEqual) => false,
            _ => return Err(syntax_error(self.source, self.column(), but_got(OPERATION))),
        };
        self.position += 1;
        let value = self.value()?;
        let source = self.source.to_owned();
        Ok(Filter::Condition(Condition {
            attribute,
            value,
            equal,
            column,
            source,
        }))
    }

    /// An attribute or a value: a quoted string, or a word that is no keyword.
    fn value(&mut self) -> Result<String, String> {
        let text = match self.peek() {
            Some(Kind::Word(word)) if !is_keyword(word) => word.clone(),
            Some(Kind::Quoted(text)) => text.clone(),
            _ => {
                let expected = but_got("Was expecting a value");
                return Err(syntax_error(self.source, self.column(), expected));
            }
        };
        self.position += 1;
        Ok(text)
    }
}

/// A parsed filter or the syntax error's message.
type Parsed = Result<Filter, String>;

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};

    const MASTER: &str = "master-key-0123456789abcdef";
    const SEARCH: &str = "search-key-0123456789abcdef";
    const SEARCH_UID: &str = "76cf8b87-fd12-4688-ad34-260d930ca4f4";
    const INDEX: &str = "/indexes/courses";
    const DOCS: &str = "/indexes/courses/documents";
    const SETTINGS_PATH: &str = "/indexes/courses/settings";
    const NONE: Value = Value::Null;

    async fn double() -> MeiliDouble {
        MeiliDouble::start(MASTER, SEARCH, SEARCH_UID).await
    }

    impl MeiliDouble {
        /// Sends `body` (none when `Null`) with `key` as bearer; returns the status and the
        /// body (`Null` when empty).
        async fn send(
            &self,
            method: Method,
            path: &str,
            key: Option<&str>,
            body: Value,
        ) -> (u16, Value) {
            let url = format!("{}{path}", self.url());
            let mut request = kit::server::http_client().request(method, url);
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            if !body.is_null() {
                request = request.json(&body);
            }
            let response = request.send().await.expect("the double answers");
            let status = response.status().as_u16();
            let text = response.text().await.expect("a body");
            (status, serde_json::from_str(&text).unwrap_or(NONE))
        }

        /// `GET path` with the master key.
        async fn get(&self, path: &str) -> (u16, Value) {
            let key = Some(MASTER);
            self.send(Method::GET, path, key, NONE).await
        }

        /// An admin write, and the task it created as `GET /tasks/{uid}` shows it.
        async fn write(&self, method: Method, path: &str, body: Value) -> Value {
            let (status, accepted) = self.send(method, path, Some(MASTER), body).await;
            assert_eq!(status, 202, "{accepted}");
            let task = format!("/tasks/{}", accepted["taskUid"]);
            let (status, task) = self.get(&task).await;
            assert_eq!(status, 200);
            task
        }

        async fn search(&self, key: &str, body: Value) -> (u16, Value) {
            let path = "/indexes/courses/search";
            self.send(Method::POST, path, Some(key), body).await
        }

        /// The ids of what a search with the master key finds.
        async fn hits(&self, body: Value) -> Vec<String> {
            let (status, response) = self.search(MASTER, body).await;
            assert_eq!(status, 200, "{response}");
            ids(&response)
        }

        /// Index `courses` with two tenants' courses, `tenant_id` and `level` filterable.
        async fn courses(&self) {
            let settings = json!({
                "filterableAttributes": ["tenant_id", "level"],
                "searchableAttributes": ["title", "description"],
            });
            self.write(Method::PATCH, SETTINGS_PATH, settings).await;
            let documents = json!([
                { "id": "1", "tenant_id": "t1", "level": 1, "title": "Algebra basics", "description": "numbers" },
                { "id": "2", "tenant_id": "t1", "level": 2, "title": "Geometry", "description": "algebra of shapes" },
                { "id": "3", "tenant_id": "t2", "level": 2, "title": "Linear algebra", "description": "matrices" },
                { "id": "4", "tenant_id": "t2", "level": 1, "title": "History", "description": "kings" },
            ]);
            let task = self.write(Method::POST, DOCS, documents).await;
            assert_eq!(task["status"], "succeeded", "{task}");
        }
    }

    fn ids(response: &Value) -> Vec<String> {
        let hits = response["hits"].as_array().expect("hits");
        let id = |hit: &Value| hit["id"].as_str().expect("an id").to_owned();
        hits.iter().map(id).collect()
    }

    /// `(status, code)` of an answer.
    fn refusal((status, body): &(u16, Value)) -> (u16, &str) {
        (*status, body["code"].as_str().unwrap_or_default())
    }

    /// Meilisearch's error body.
    fn error(code: &str, kind: &str, message: &str) -> Value {
        let link = format!("https://docs.meilisearch.com/errors#{code}");
        json!({ "message": message, "code": code, "type": kind, "link": link })
    }

    /// `task` without its timestamps, once checked to be RFC 3339.
    fn timeless(mut task: Value) -> Value {
        for field in ["enqueuedAt", "startedAt", "finishedAt"] {
            if let Some(at) = task.as_object_mut().and_then(|t| t.remove(field)) {
                let at = at.as_str().expect("a string");
                chrono::DateTime::parse_from_rfc3339(at).expect("RFC 3339");
            }
        }
        task
    }

    fn tenant_token(rules: Value, exp: Option<i64>, key: &str, uid: &str) -> String {
        let claims = json!({ "apiKeyUid": uid, "searchRules": rules, "exp": exp });
        let key = EncodingKey::from_secret(key.as_bytes());
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).expect("signs")
    }

    /// A valid tenant token with `rules`, expiring in ten minutes.
    fn token(rules: Value) -> String {
        let exp = Utc::now().timestamp() + 600;
        tenant_token(rules, Some(exp), SEARCH, SEARCH_UID)
    }

    #[tokio::test]
    async fn indexes_are_created_through_tasks_and_only_once() {
        let meili = double().await;
        let body = json!({ "uid": "courses", "primaryKey": "id" });
        let (status, accepted) = meili
            .send(Method::POST, "/indexes", Some(MASTER), body)
            .await;
        assert_eq!(status, 202);
        let summary = json!({ "taskUid": 0, "indexUid": "courses", "status": "enqueued", "type": "indexCreation" });
        assert_eq!(timeless(accepted), summary);
        let task = json!({
            "uid": 0, "batchUid": 0, "indexUid": "courses", "status": "succeeded", "type": "indexCreation",
            "canceledBy": null, "details": { "primaryKey": "id" }, "error": null, "duration": "PT0S",
        });
        assert_eq!(timeless(meili.get("/tasks/0").await.1), task);
        let (status, index) = meili.get(INDEX).await;
        assert_eq!(status, 200);
        assert_eq!(index["primaryKey"], "id");

        // A second creation is accepted, then fails as Meilisearch's task does.
        let again = json!({ "uid": "courses" });
        let again = meili.write(Method::POST, "/indexes", again).await;
        assert_eq!(again["status"], "failed");
        let message = "Index `courses` already exists.";
        let exists = error("index_already_exists", "invalid_request", message);
        assert_eq!(again["error"], exists);

        let message = "Index `nope` not found.";
        let missing = error("index_not_found", "invalid_request", message);
        assert_eq!(meili.get("/indexes/nope").await, (404, missing));
        let task = meili.get("/tasks/99").await;
        assert_eq!(refusal(&task), (404, "task_not_found"));
        meili.stop().await;
    }

    #[tokio::test]
    async fn settings_are_merged_and_read_back_with_defaults() {
        let meili = double().await;
        let first =
            json!({ "filterableAttributes": ["tenant_id"], "searchableAttributes": ["id"] });
        let task = meili
            .write(Method::PATCH, SETTINGS_PATH, first.clone())
            .await;
        assert_eq!(task["type"], "settingsUpdate");
        assert_eq!(task["status"], "succeeded");
        assert_eq!(task["details"], first);
        let second = json!({ "sortableAttributes": ["id"], "typoTolerance": { "enabled": false } });
        meili.write(Method::PATCH, SETTINGS_PATH, second).await;
        let third =
            json!({ "sortableAttributes": null, "typoTolerance": { "disableOnNumbers": true } });
        meili.write(Method::PATCH, SETTINGS_PATH, third).await;
        let merged = json!({
            "filterableAttributes": ["tenant_id"],
            "searchableAttributes": ["id"],
            "typoTolerance": { "enabled": false, "disableOnNumbers": true },
        });
        assert_eq!(meili.settings("courses"), merged);
        assert_eq!(meili.settings("missing"), json!({}));

        let (status, settings) = meili.get(SETTINGS_PATH).await;
        assert_eq!(status, 200);
        assert_eq!(settings["filterableAttributes"], json!(["tenant_id"]));
        assert_eq!(settings["displayedAttributes"], json!(["*"]));

        let unknown = json!({ "filterable": ["tenant_id"] });
        let key = Some(MASTER);
        let refused = meili.send(Method::PATCH, SETTINGS_PATH, key, unknown).await;
        assert_eq!(refusal(&refused), (400, "bad_request"));
        let message = refused.1["message"].to_string();
        assert!(
            message.contains("Unknown field `filterable`: expected one of"),
            "{message}"
        );
        meili.stop().await;
    }

    #[tokio::test]
    async fn documents_are_added_replaced_merged_and_deleted() {
        let meili = double().await;
        let documents =
            json!([{ "id": "b", "title": "B", "extra": 1 }, { "id": "a", "title": "A" }]);
        let added = meili.write(Method::POST, DOCS, documents).await;
        assert_eq!(added["type"], "documentAdditionOrUpdate");
        let details = json!({ "receivedDocuments": 2, "indexedDocuments": 2 });
        assert_eq!(added["details"], details);
        assert_eq!(meili.get(INDEX).await.1["primaryKey"], "id");

        let replacement = json!([{ "id": "b", "title": "B2" }]);
        meili.write(Method::POST, DOCS, replacement).await;
        let update = json!([{ "id": "a", "level": 3 }]);
        meili.write(Method::PUT, DOCS, update).await;
        let a = json!({ "id": "a", "title": "A", "level": 3 });
        let b = json!({ "id": "b", "title": "B2" });
        assert_eq!(meili.documents("courses"), [a, b]);

        let path = format!("{DOCS}/a");
        let deleted = meili.write(Method::DELETE, &path, NONE).await;
        assert_eq!(deleted["type"], "documentDeletion");
        let details = json!({ "providedIds": 1, "deletedDocuments": 1, "originalFilter": null });
        assert_eq!(deleted["details"], details);
        let path = format!("{DOCS}/delete-batch");
        let deleted = meili.write(Method::POST, &path, json!(["b", "zz"])).await;
        let details = json!({ "providedIds": 2, "deletedDocuments": 1, "originalFilter": null });
        assert_eq!(deleted["details"], details);
        assert!(meili.documents("courses").is_empty());

        // Invalid additions fail as tasks and add nothing.
        let no_id = json!([{ "id": "c" }, { "title": "?" }]);
        let failed = meili.write(Method::POST, DOCS, no_id).await;
        assert_eq!(failed["error"]["code"], "missing_document_id");
        let details = json!({ "receivedDocuments": 2, "indexedDocuments": 0 });
        assert_eq!(failed["status"], "failed");
        assert_eq!(failed["details"], details);
        let (path, slug) = (format!("{DOCS}?primaryKey=slug"), json!([{ "slug": "x" }]));
        let failed = meili.write(Method::POST, &path, slug).await;
        assert_eq!(failed["error"]["code"], "index_primary_key_already_exists");
        assert!(meili.documents("courses").is_empty());
        let key = Some(MASTER);
        let malformed = meili.send(Method::POST, DOCS, key, json!([1])).await;
        assert_eq!(refusal(&malformed), (400, "malformed_payload"));
        meili.stop().await;
    }

    #[tokio::test]
    async fn searches_match_words_rank_and_page_like_meilisearch() {
        let meili = double().await;
        meili.courses().await;
        let (status, mut response) = meili.search(MASTER, json!({ "q": "algebra" })).await;
        assert_eq!(status, 200);
        assert_eq!(ids(&response), ["1", "3", "2"], "title matches first");
        let hits = response.as_object_mut().and_then(|r| r.remove("hits"));
        // Whole documents.
        assert_eq!(
            hits.map(|h| h[0]["description"].clone()),
            Some("numbers".into())
        );
        let rest = json!({ "query": "algebra", "processingTimeMs": 0, "limit": 20, "offset": 0, "estimatedTotalHits": 3 });
        assert_eq!(response, rest);

        assert_eq!(meili.hits(json!({ "q": "ALG" })).await, ["1", "3", "2"]);
        // A prefix only when it ends the query.
        assert!(meili.hits(json!({ "q": "alg " })).await.is_empty());
        // Both words first, then the first one only.
        let two_words = json!({ "q": "algebra basics" });
        assert_eq!(meili.hits(two_words).await, ["1", "3", "2"]);
        let all = json!({ "q": "algebra basics", "matchingStrategy": "all" });
        assert_eq!(meili.hits(all).await, ["1"]);
        // The first word is never dropped.
        let first_missing = json!({ "q": "basics algebra" });
        assert_eq!(meili.hits(first_missing).await, ["1"]);
        let page = json!({ "q": "algebra", "offset": 1, "limit": 1 });
        assert_eq!(meili.hits(page).await, ["3"]);
        assert_eq!(meili.hits(json!({})).await, ["1", "2", "3", "4"]);
        let retrieve = json!({ "q": "history", "attributesToRetrieve": ["id", "title"] });
        let (_, retrieved) = meili.search(MASTER, retrieve).await;
        let history = json!([{ "id": "4", "title": "History" }]);
        assert_eq!(retrieved["hits"], history);

        let filter = json!({ "filter": "(level = 2 AND tenant_id = \"T2\") OR level = '9'" });
        assert_eq!(meili.hits(filter).await, ["3"]);
        let filter = json!({ "filter": ["level = 1", ["tenant_id = t1", "tenant_id = t3"]] });
        assert_eq!(meili.hits(filter).await, ["1"]);
        let filter = json!({ "filter": "NOT level != 1" });
        assert_eq!(meili.hits(filter).await, ["1", "4"]);

        for body in [json!({ "sort": ["title:asc"] }), json!({ "limit": -1 })] {
            let refused = meili.search(MASTER, body.clone()).await;
            assert_eq!(refusal(&refused), (400, "bad_request"), "{body}");
        }
        let path = "/indexes/nope/search";
        let (key, body) = (Some(MASTER), json!({}));
        let missing = meili.send(Method::POST, path, key, body).await;
        assert_eq!(refusal(&missing), (404, "index_not_found"));
        meili.stop().await;
    }

    #[tokio::test]
    async fn tenant_tokens_restrict_searches_to_their_tenant() {
        let meili = double().await;
        meili.courses().await;
        let t1 = token(json!({ "courses": { "filter": "tenant_id = 't1'" } }));
        // Tenant t2's course is not found.
        let (_, response) = meili.search(&t1, json!({ "q": "algebra" })).await;
        assert_eq!(ids(&response), ["1", "2"]);
        // The request's filter is ANDed with the token's...
        let (_, anded) = meili.search(&t1, json!({ "filter": "level = 2" })).await;
        assert_eq!(ids(&anded), ["2"]);
        // ...so an OR in it cannot widen the token's.
        let widen = json!({ "filter": "tenant_id = t2 OR level = 1" });
        let (_, widened) = meili.search(&t1, widen).await;
        assert_eq!(ids(&widened), ["1"]);

        for rules in [json!(["*"]), json!(["courses"]), json!({ "courses": null })] {
            let (status, all) = meili.search(&token(rules.clone()), json!({})).await;
            assert_eq!(status, 200, "{rules}");
            assert_eq!(ids(&all), ["1", "2", "3", "4"], "{rules}");
        }
        let other = token(json!({ "other": null }));
        let message = "The provided tenant token cannot acces the index `courses`, allowed indexes are [\"other\"].";
        let refused = error("invalid_api_key", "auth", message);
        assert_eq!(meili.search(&other, json!({})).await, (403, refused));

        // Tenant tokens and the search key search, and do nothing else.
        assert_eq!(meili.search(SEARCH, json!({})).await.0, 200);
        for key in [t1.as_str(), SEARCH] {
            let admin = meili.send(Method::GET, INDEX, Some(key), NONE).await;
            assert_eq!(refusal(&admin), (403, "invalid_api_key"));
        }
        meili.stop().await;
    }

    #[tokio::test]
    async fn filters_on_attributes_not_filterable_are_refused() {
        let meili = double().await;
        let documents = json!([{ "id": 1, "tenant_id": "t1" }]);
        meili.write(Method::POST, DOCS, documents).await;
        let t1 = token(json!({ "courses": { "filter": "tenant_id = t1" } }));
        let message = "Index `courses`: Attribute `tenant_id` is not filterable. This index does not have configured filterable attributes.\n1:10 tenant_id = t1";
        let refused = error("invalid_search_filter", "invalid_request", message);
        assert_eq!(meili.search(&t1, json!({})).await, (400, refused));

        let settings = json!({ "filterableAttributes": ["level"] });
        meili.write(Method::PATCH, SETTINGS_PATH, settings).await;
        let filter = json!({ "filter": "level = 1 AND tenant_id = t1" });
        let (_, refused) = meili.search(MASTER, filter).await;
        let message = "Index `courses`: Attribute `tenant_id` is not filterable. Available filterable attribute patterns are: `level`.\n15:24 level = 1 AND tenant_id = t1";
        assert_eq!(refused["message"], message);
        let nested = json!([["level = 1", ["level = 2"]]]);
        for wrong in [json!("level ~ 1"), json!(3), nested] {
            let refused = meili.search(MASTER, json!({ "filter": wrong })).await;
            assert_eq!(refusal(&refused), (400, "invalid_search_filter"), "{wrong}");
        }
        meili.stop().await;
    }

    #[tokio::test]
    async fn bad_keys_and_tokens_are_refused() {
        let meili = double().await;
        meili.courses().await;
        let message =
            "The Authorization header is missing. It must use the bearer authorization method.";
        let missing = error("missing_authorization_header", "auth", message);
        let unauthorized = meili.send(Method::GET, INDEX, None, NONE).await;
        assert_eq!(unauthorized, (401, missing));
        let basic = kit::server::http_client().get(format!("{}{INDEX}", meili.url()));
        let basic = basic.header("Authorization", "Basic bWU6cHc=").send().await;
        assert_eq!(basic.expect("answers").status().as_u16(), 401);
        let invalid = "The provided API key is invalid.";
        let invalid = error("invalid_api_key", "auth", invalid);
        let wrong = meili.send(Method::GET, INDEX, Some("wrong"), NONE).await;
        assert_eq!(wrong, (403, invalid));
        assert_eq!(meili.search("wrong", json!({})).await.0, 403);

        let rules = json!({ "courses": { "filter": "tenant_id = t1" } });
        let past = Utc::now().timestamp() - 10;
        let expired = tenant_token(rules.clone(), Some(past), SEARCH, SEARCH_UID);
        let refused = meili.search(&expired, json!({})).await;
        assert_eq!(refusal(&refused), (403, "invalid_api_key"));
        let message = refused.1["message"].to_string();
        assert!(
            message.contains("Tenant token expired. Was valid up to `"),
            "{message}"
        );
        let forged = tenant_token(rules.clone(), None, "not-the-search-key", SEARCH_UID);
        let other_uid = tenant_token(rules, None, SEARCH, "11111111-1111-4111-8111-111111111111");
        let message = "Could not decode tenant token, InvalidSignature.";
        for token in [forged, other_uid] {
            let refused = error("invalid_api_key", "auth", message);
            assert_eq!(meili.search(&token, json!({})).await, (403, refused));
        }
        let unexpiring = tenant_token(json!(["courses"]), None, SEARCH, SEARCH_UID);
        assert_eq!(meili.search(&unexpiring, json!({})).await.0, 200);

        let health = meili.send(Method::GET, "/health", None, NONE).await;
        assert_eq!(health, (200, json!({ "status": "available" })));
        assert_eq!(meili.get("/nowhere").await, (404, NONE));
        let key = Some(MASTER);
        let put = meili.send(Method::PUT, "/indexes", key, NONE).await;
        assert_eq!(put, (405, NONE));
        meili.stop().await;
    }

    #[tokio::test]
    async fn every_request_is_recorded_in_order() {
        let meili = double().await;
        let path = format!("{DOCS}?primaryKey=id");
        let (key, documents) = (Some(MASTER), json!([{ "id": 1 }]));
        meili.send(Method::POST, &path, key, documents).await;
        meili.send(Method::GET, INDEX, None, NONE).await;
        let wrong = Some("wrong");
        meili.send(Method::GET, "/nowhere?x=1", wrong, NONE).await;

        let requests = meili.requests();
        let line = |r: &Recorded| format!("{} {} {}", r.method, r.path, r.query);
        let lines: Vec<String> = requests.iter().map(line).collect();
        let expected = [
            format!("POST {DOCS} primaryKey=id"),
            format!("GET {INDEX} "),
            "GET /nowhere x=1".into(),
        ];
        assert_eq!(lines, expected);
        let authorization = |r: &Recorded| r.authorization.clone();
        let authorizations: Vec<_> = requests.iter().map(authorization).collect();
        let master = format!("Bearer {MASTER}");
        assert_eq!(
            authorizations,
            [Some(master), None, Some("Bearer wrong".into())]
        );
        let bodies: Vec<&Value> = requests.iter().map(|r| &r.body).collect();
        assert_eq!(bodies, [&json!([{ "id": 1 }]), &NONE, &NONE]);
        meili.stop().await;
    }

    #[test]
    fn filters_parse_meilisearch_syntax() {
        let document = json!({ "a": "X", "n": 5, "b": true, "tags": ["red", "blue"] });
        let document = document.as_object().expect("an object");
        let check = |source: &str| {
            let filter = parse_expression(source).expect("parses");
            filter.expect("not blank").matches(document)
        };
        assert!(check("a = x"));
        assert!(check("a = ' X ' and n = 5.0"));
        assert!(check("(a = \"x\") AND (NOT n != 5)"));
        assert!(check("a = y OR b = TRUE"));
        assert!(!check("NOT a = x"));
        assert!(check("a != y AND missing != 1"));
        assert!(check("tags = blue AND tags != green"));
        assert!(check("a = 'it\\'s' OR 'a' = x"));
        // AND binds tighter than OR.
        assert!(!check("a = y OR n = 4 AND a = x"));
        assert!(parse_expression("  ").expect("blank is fine").is_none());
        let wrong = [
            "a",
            "a =",
            "a IN [x]",
            "(a = 1",
            "a = 'open",
            "AND = 1",
            "a ! 1",
            ")",
        ];
        for wrong in wrong {
            assert!(parse_expression(wrong).is_err(), "{wrong}");
        }
        assert_eq!(
            parse_expression("a = 1 b = 2").expect_err("trailing"),
            "Found unexpected characters at the end of the filter: `b = 2`. You probably forgot an `OR` or an `AND` rule.\n7:12 a = 1 b = 2"
        );
        assert_eq!(
            parse_expression("a >= 1").expect_err("an operator not modelled"),
            "Was expecting an operation `=` or `!=` (the only ones the Meilisearch double supports) but instead got `>= 1`.\n3:7 a >= 1"
        );
    }
}
