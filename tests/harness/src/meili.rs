//! A Meilisearch test double: an in-process server on `127.0.0.1` speaking Meilisearch's HTTP
//! API (v1.x) closely enough for the real `meilisearch-sdk` client, recording every request it
//! receives so tests can assert exactly what a service sent.
//!
//! No Meilisearch server runs on the test machines, so [`MeiliDouble`] reproduces the parts of
//! the wire behaviour the services rely on, with Meilisearch's field names, status codes and
//! error bodies (`{message, code, type, link}`):
//!
//! - **Keys.** Every route but `GET /health` wants `Authorization: Bearer <key>`. Admin routes
//!   accept only the master key; the search routes also accept the search API key and tenant
//!   tokens (JWTs signed with the search key, HS256/384/512, naming its uid in `apiKeyUid`,
//!   with `searchRules` and an optional `exp`), whose rule filter is ANDed with the request's.
//! - **Tasks.** Writes answer `202` with a summarized task and are applied at once, so
//!   `GET /tasks/{uid}` already reports them `succeeded` (or `failed`, with the error Meilisearch
//!   would give, e.g. `index_already_exists`).
//! - **Indexes, settings, documents** as Meilisearch stores them: settings merged per key
//!   (`null` resets), documents replaced (`POST`) or merged (`PUT`) by primary key, the primary
//!   key inferred like Meilisearch (the one field ending in `id`) when none is given.
//! - **Search** (`POST`/`GET /indexes/{uid}/search`): filters in Meilisearch's language
//!   (`=`, `!=`, `>`, `>=`, `<`, `<=`, `TO`, `IN`, `NOT IN`, `EXISTS`, `IS NULL`, `IS EMPTY`,
//!   `AND`, `OR`, `NOT`, parentheses, quoted values, and the array form) on attributes that must
//!   be in `filterableAttributes`; words matched in the searchable attributes (the last one as a
//!   prefix, typos allowed from 5 and 9 letters), the `last`/`all`/`frequency` matching
//!   strategies, ranking by words, typos, attribute, sort and exactness, then primary key;
//!   `offset`/`limit` or `page`/`hitsPerPage`, `attributesToRetrieve`, `sort`, `facets`,
//!   `distinct`.
//!
//! Also `GET /health`, `/version`, `/stats`, `/indexes/{uid}/stats`, `/keys` (the search key
//! only) and non-federated `POST /multi-search`.
//!
//! Not modelled: proximity, synonyms, highlighting and cropping (`_formatted`), ranking scores,
//! vectors, geo filters, federated search, API key management beyond reading the search key.
//! Unknown paths answer `404` and known paths with another method `405`, both with an empty
//! body, as Meilisearch's router does.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};
use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::TestServer;

/// The largest body accepted: Meilisearch's default `--http-payload-size-limit` (100 MB).
const MAX_PAYLOAD: usize = 100_000_000;
/// The version `GET /version` reports.
const VERSION: &str = "1.16.0";
/// Hits per search, documents and indexes per listing, when the request does not say.
const DEFAULT_LIMIT: usize = 20;
/// Meilisearch's default ranking rules, in order.
const DEFAULT_RANKING_RULES: [&str; 6] = [
    "words",
    "typo",
    "proximity",
    "attribute",
    "sort",
    "exactness",
];
/// Query words beyond this many are ignored, as Meilisearch does.
const MAX_QUERY_WORDS: usize = 10;

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

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
    /// not JSON (NDJSON, CSV).
    pub body: Value,
}

/// A Meilisearch double listening on a loopback port; stopped by [`MeiliDouble::stop`] or when
/// dropped.
pub struct MeiliDouble {
    server: TestServer,
    store: Arc<Mutex<Store>>,
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
    /// `master_key` is the admin key (Bearer) every non-search route requires; `search_key` and
    /// `search_key_uid` are the search API key (allowed on the search routes only) and its uid
    /// (a UUID, as Meilisearch's key uids are): tenant tokens must be signed with `search_key`
    /// and name `search_key_uid` in their `apiKeyUid` claim.
    pub async fn start(master_key: &str, search_key: &str, search_key_uid: &str) -> MeiliDouble {
        let store = Arc::new(Mutex::new(Store {
            keys: Keys {
                master: master_key.to_owned(),
                search: search_key.to_owned(),
                search_uid: search_key_uid.to_owned(),
            },
            started_at: now(),
            indexes: BTreeMap::new(),
            tasks: Vec::new(),
            requests: Vec::new(),
        }));
        let router = Router::new()
            .fallback(handle)
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
        lock(&self.store)
            .indexes
            .get(index)
            .map(|i| {
                i.documents
                    .values()
                    .map(|d| Value::Object(d.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The settings of `index` as received, merged update after update (keys reset with `null`
    /// removed; Meilisearch's defaults not filled in): `{}` when none were set or there is no
    /// such index.
    pub fn settings(&self, index: &str) -> Value {
        lock(&self.store)
            .indexes
            .get(index)
            .map(|i| Value::Object(i.settings.clone()))
            .unwrap_or_else(|| json!({}))
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(self) {
        let _ = self.server.stop().await;
    }
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

/// The keys the double accepts.
struct Keys {
    master: String,
    search: String,
    search_uid: String,
}

/// Everything the double holds.
struct Store {
    keys: Keys,
    started_at: String,
    indexes: BTreeMap<String, IndexData>,
    /// Task views (`GET /tasks/{uid}` bodies), indexed by uid.
    tasks: Vec<Value>,
    requests: Vec<Recorded>,
}

/// One index.
struct IndexData {
    primary_key: Option<String>,
    created_at: String,
    updated_at: String,
    documents: BTreeMap<String, Map<String, Value>>,
    /// Settings as received, merged.
    settings: Map<String, Value>,
    /// Top-level fields in the order first seen (the order of `searchableAttributes: ["*"]`).
    fields: Vec<String>,
}

impl IndexData {
    fn new(primary_key: Option<String>) -> IndexData {
        let at = now();
        IndexData {
            primary_key,
            created_at: at.clone(),
            updated_at: at,
            documents: BTreeMap::new(),
            settings: Map::new(),
            fields: Vec::new(),
        }
    }

    fn view(&self, uid: &str) -> Value {
        json!({
            "uid": uid,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "primaryKey": self.primary_key,
        })
    }

    fn note_fields(&mut self, document: &Map<String, Value>) {
        for key in document.keys() {
            if !self.fields.contains(key) {
                self.fields.push(key.clone());
            }
        }
    }

    fn touch(&mut self) {
        self.updated_at = now();
    }
}

impl Store {
    /// Records a task applied with `outcome` and answers with its summary, as Meilisearch's
    /// `202 Accepted`.
    fn enqueue(
        &mut self,
        index_uid: Option<&str>,
        kind: &str,
        details: Value,
        outcome: Result<(), ApiError>,
    ) -> Reply {
        let uid = self.tasks.len() as u64;
        let at = now();
        let (status, error) = match outcome {
            Ok(()) => ("succeeded", Value::Null),
            Err(e) => ("failed", e.body()),
        };
        self.tasks.push(json!({
            "uid": uid,
            "batchUid": uid,
            "indexUid": index_uid,
            "status": status,
            "type": kind,
            "canceledBy": null,
            "details": details,
            "error": error,
            "duration": "PT0S",
            "enqueuedAt": at,
            "startedAt": at,
            "finishedAt": at,
        }));
        Reply::Json(
            StatusCode::ACCEPTED,
            json!({
                "taskUid": uid,
                "indexUid": index_uid,
                "status": "enqueued",
                "type": kind,
                "enqueuedAt": at,
            }),
        )
    }

    fn index(&self, uid: &str) -> Result<&IndexData, ApiError> {
        self.indexes.get(uid).ok_or_else(|| index_not_found(uid))
    }
}

fn lock(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

// ---------------------------------------------------------------------------------------------
// HTTP plumbing
// ---------------------------------------------------------------------------------------------

/// A Meilisearch error: its `code` decides the status and `type`.
#[derive(Clone, Debug)]
struct ApiError {
    code: String,
    message: String,
}

impl ApiError {
    fn new(code: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            code: code.into(),
            message: message.into(),
        }
    }

    fn status(&self) -> StatusCode {
        match self.code.as_str() {
            "missing_authorization_header" | "missing_master_key" => StatusCode::UNAUTHORIZED,
            "invalid_api_key" => StatusCode::FORBIDDEN,
            "index_not_found" | "document_not_found" | "task_not_found" | "api_key_not_found" => {
                StatusCode::NOT_FOUND
            }
            "index_already_exists" => StatusCode::CONFLICT,
            "missing_content_type" | "invalid_content_type" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "payload_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
            "internal" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn kind(&self) -> &'static str {
        match self.code.as_str() {
            "missing_authorization_header" | "invalid_api_key" | "missing_master_key" => "auth",
            "internal" => "internal",
            _ => "invalid_request",
        }
    }

    fn body(&self) -> Value {
        json!({
            "message": self.message,
            "code": self.code,
            "type": self.kind(),
            "link": format!("https://docs.meilisearch.com/errors#{}", self.code),
        })
    }

    /// The same error about index `uid`, as Meilisearch words errors raised while searching.
    fn in_index(self, uid: &str) -> ApiError {
        ApiError {
            message: format!("Index `{uid}`: {}", self.message),
            ..self
        }
    }
}

fn missing_authorization() -> ApiError {
    ApiError::new(
        "missing_authorization_header",
        "The Authorization header is missing. It must use the bearer authorization method.",
    )
}

fn invalid_api_key() -> ApiError {
    ApiError::new("invalid_api_key", "The provided API key is invalid.")
}

fn index_not_found(uid: &str) -> ApiError {
    ApiError::new("index_not_found", format!("Index `{uid}` not found."))
}

/// What a route answers.
enum Reply {
    Json(StatusCode, Value),
    Empty(StatusCode),
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply::Json(StatusCode::OK, body)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self {
            Reply::Json(status, body) => (status, axum::Json(body)).into_response(),
            Reply::Empty(status) => status.into_response(),
        }
    }
}

type Outcome = Result<Reply, ApiError>;

/// A received request, decoded.
struct Req {
    method: Method,
    segments: Vec<String>,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
}

impl Req {
    fn new(method: Method, uri: &Uri, headers: HeaderMap, body: Bytes) -> Req {
        Req {
            method,
            segments: uri
                .path()
                .split('/')
                .filter(|s| !s.is_empty())
                .map(percent_decode)
                .collect(),
            query: uri.query().map(parse_query).unwrap_or_default(),
            headers,
            body,
        }
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn content_type(&self) -> Option<String> {
        self.headers
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }
}

/// The one handler: records the request, then answers it.
async fn handle(State(store): State<Arc<Mutex<Store>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_PAYLOAD).await;
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        authorization: parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        body: body
            .as_ref()
            .map(|b| recorded_body(b))
            .unwrap_or(Value::Null),
    };
    let mut store = lock(&store);
    store.requests.push(recorded);
    let reply = match body {
        Ok(body) => route(
            &mut store,
            &Req::new(parts.method, &parts.uri, parts.headers, body),
        ),
        Err(_) => Err(ApiError::new(
            "payload_too_large",
            "The provided payload reached the size limit. The maximum accepted payload size is 100 MB.",
        )),
    };
    match reply {
        Ok(reply) => reply.into_response(),
        Err(e) => Reply::Json(e.status(), e.body()).into_response(),
    }
}

fn recorded_body(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn route(store: &mut Store, req: &Req) -> Outcome {
    let segments: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    match (segments.as_slice(), req.method.as_str()) {
        (["health"], "GET") => Ok(Reply::ok(json!({ "status": "available" }))),
        (["version"], "GET") => {
            admin(store, req)?;
            Ok(Reply::ok(json!({
                "commitSha": "0000000000000000000000000000000000000000",
                "commitDate": "unknown",
                "pkgVersion": VERSION,
            })))
        }
        (["keys"], "GET") => list_keys(store, req),
        (["keys", key], "GET") => get_key(store, req, key),
        (["indexes"], "GET") => list_indexes(store, req),
        (["indexes"], "POST") => create_index(store, req),
        (["indexes", uid], "GET") => get_index(store, req, uid),
        (["indexes", uid], "PATCH") => update_index(store, req, uid),
        (["indexes", uid], "DELETE") => delete_index(store, req, uid),
        (["indexes", uid, "search"], "POST") => search_post(store, req, uid),
        (["indexes", uid, "search"], "GET") => search_get(store, req, uid),
        (["indexes", uid, "settings"], "GET") => get_settings(store, req, uid),
        (["indexes", uid, "settings"], "PATCH") => update_settings(store, req, uid),
        (["indexes", uid, "settings"], "DELETE") => reset_settings(store, req, uid),
        (["indexes", uid, "settings", name], method) => match setting_by_route(name) {
            Some(spec) => match method {
                "GET" => get_setting(store, req, uid, spec),
                "DELETE" => put_setting(store, req, uid, spec, true),
                "PATCH" if spec.nested => put_setting(store, req, uid, spec, false),
                "PUT" if !spec.nested => put_setting(store, req, uid, spec, false),
                _ => Ok(Reply::Empty(StatusCode::METHOD_NOT_ALLOWED)),
            },
            None => Ok(Reply::Empty(StatusCode::NOT_FOUND)),
        },
        (["indexes", uid, "documents"], "GET") => get_documents(store, req, uid),
        (["indexes", uid, "documents"], "POST") => add_documents(store, req, uid, true),
        (["indexes", uid, "documents"], "PUT") => add_documents(store, req, uid, false),
        (["indexes", uid, "documents"], "DELETE") => clear_documents(store, req, uid),
        (["indexes", uid, "documents", "fetch"], "POST") => fetch_documents(store, req, uid),
        (["indexes", uid, "documents", "delete-batch"], "POST") => delete_batch(store, req, uid),
        (["indexes", uid, "documents", "delete"], "POST") => delete_by_filter(store, req, uid),
        (["indexes", uid, "documents", id], "GET") => get_document(store, req, uid, id),
        (["indexes", uid, "documents", id], "DELETE") => delete_document(store, req, uid, id),
        (["indexes", uid, "stats"], "GET") => index_stats(store, req, uid),
        (["stats"], "GET") => global_stats(store, req),
        (["multi-search"], "POST") => multi_search(store, req),
        (["tasks"], "GET") => list_tasks(store, req),
        (["tasks", uid], "GET") => get_task(store, req, uid),
        (path, _) if known_path(path) => Ok(Reply::Empty(StatusCode::METHOD_NOT_ALLOWED)),
        _ => Ok(Reply::Empty(StatusCode::NOT_FOUND)),
    }
}

fn known_path(path: &[&str]) -> bool {
    matches!(
        path,
        ["health"]
            | ["version"]
            | ["keys"]
            | ["keys", _]
            | ["indexes"]
            | ["indexes", _]
            | ["indexes", _, "search" | "settings" | "documents" | "stats"]
            | ["stats"]
            | ["multi-search"]
            | ["indexes", _, "documents", _]
            | ["tasks"]
            | ["tasks", _]
    )
}

// ---------------------------------------------------------------------------------------------
// Keys and tenant tokens
// ---------------------------------------------------------------------------------------------

/// The bearer token of the request, refused as Meilisearch refuses it.
fn bearer(req: &Req) -> Result<String, ApiError> {
    let Some(value) = req.headers.get(header::AUTHORIZATION) else {
        return Err(missing_authorization());
    };
    let value = value.to_str().unwrap_or_default();
    let mut parts = value.splitn(2, ' ');
    if parts.next() != Some("Bearer") {
        return Err(missing_authorization());
    }
    parts.next().map(str::to_owned).ok_or_else(invalid_api_key)
}

/// Allows the master key only.
fn admin(store: &Store, req: &Req) -> Result<(), ApiError> {
    if bearer(req)? == store.keys.master {
        Ok(())
    } else {
        Err(invalid_api_key())
    }
}

/// Who may search, once the bearer token is accepted.
enum Access {
    /// The master key or the search key: every index, no filter.
    Unrestricted,
    /// A tenant token: its indexes, with their filters.
    Tenant(SearchRules),
}

impl Access {
    /// The filter the token adds on `index`, or the refusal of an index it does not cover.
    fn filter_for(&self, index: &str) -> Result<Option<Value>, ApiError> {
        match self {
            Access::Unrestricted => Ok(None),
            Access::Tenant(rules) if rules.authorizes(index) => Ok(rules.filter_for(index)),
            Access::Tenant(rules) => Err(ApiError::new(
                "invalid_api_key",
                format!(
                    "The provided tenant token cannot acces the index `{index}`, allowed indexes are {:?}.",
                    rules.patterns()
                ),
            )),
        }
    }
}

/// Allows searching: the master key, the search key or a valid tenant token.
fn search_access(store: &Store, req: &Req) -> Result<Access, ApiError> {
    let token = bearer(req)?;
    let keys = &store.keys;
    if token == keys.master {
        return Ok(Access::Unrestricted);
    }
    match tenant_token(keys, &token)? {
        Some(rules) => Ok(Access::Tenant(rules)),
        None if token == keys.search => Ok(Access::Unrestricted),
        None => Err(invalid_api_key()),
    }
}

/// Allows a search on `index`, returning the tenant token's filter for it, if any.
fn searcher(store: &Store, req: &Req, index: &str) -> Result<Option<Value>, ApiError> {
    search_access(store, req)?.filter_for(index)
}

/// The claims of a tenant token.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TenantClaims {
    search_rules: SearchRules,
    exp: Option<i64>,
    api_key_uid: Uuid,
}

/// The indexes a tenant token may search, each with its optional rules.
#[derive(Deserialize)]
#[serde(untagged)]
enum SearchRules {
    Set(BTreeSet<String>),
    Map(BTreeMap<String, Option<IndexRules>>),
}

#[derive(Deserialize)]
struct IndexRules {
    filter: Option<Value>,
}

/// Whether an index uid pattern of a tenant token (`*`, `prefix*` or a uid) covers `index`.
fn pattern_covers(pattern: &str, index: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => index.starts_with(prefix),
        None => pattern == index,
    }
}

impl SearchRules {
    fn patterns(&self) -> Vec<String> {
        match self {
            SearchRules::Set(set) => set.iter().cloned().collect(),
            SearchRules::Map(map) => map.keys().cloned().collect(),
        }
    }

    fn authorizes(&self, index: &str) -> bool {
        self.patterns().iter().any(|p| pattern_covers(p, index))
    }

    /// The filter of the most specific rule covering `index` (exact uids first, then longer
    /// patterns), as Meilisearch picks it.
    fn filter_for(&self, index: &str) -> Option<Value> {
        match self {
            SearchRules::Set(_) => None,
            SearchRules::Map(map) => map
                .iter()
                .filter(|(pattern, _)| pattern_covers(pattern, index))
                .max_by_key(|(pattern, _)| (!pattern.contains('*'), pattern.len()))
                .and_then(|(_, rules)| rules.as_ref())
                .and_then(|rules| rules.filter.clone()),
        }
    }
}

/// Meilisearch's validation of tenant tokens: HMAC algorithms, `exp` optional and checked
/// separately.
fn tenant_validation() -> Validation {
    let mut validation = Validation::default();
    validation.validate_exp = false;
    validation.required_spec_claims.remove("exp");
    validation.algorithms = vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
    validation
}

fn undecodable(reason: &str) -> ApiError {
    ApiError::new(
        "invalid_api_key",
        format!("Could not decode tenant token, {reason}."),
    )
}

/// The search rules of `token` if it is a valid tenant token, `None` if it is not a JWT at
/// all (then it may be an API key), the error Meilisearch gives otherwise.
fn tenant_token(keys: &Keys, token: &str) -> Result<Option<SearchRules>, ApiError> {
    // Meilisearch first reads the key uid without checking the signature.
    let claims = match jsonwebtoken::dangerous::insecure_decode::<TenantClaims>(token) {
        Ok(data) => data.claims,
        Err(e) if matches!(e.kind(), JwtErrorKind::InvalidToken) => return Ok(None),
        Err(e) => return Err(undecodable(&e.to_string())),
    };
    if Uuid::parse_str(&keys.search_uid).ok() != Some(claims.api_key_uid) {
        // Meilisearch derives the key of any uid from its master key, so a token naming another
        // key fails the signature check.
        return Err(undecodable("InvalidSignature"));
    }
    let claims = match jsonwebtoken::decode::<TenantClaims>(
        token,
        &DecodingKey::from_secret(keys.search.as_bytes()),
        &tenant_validation(),
    ) {
        Ok(data) => data.claims,
        Err(e) if matches!(e.kind(), JwtErrorKind::InvalidToken) => return Ok(None),
        Err(e) => return Err(undecodable(&e.to_string())),
    };
    if let Some(exp) = claims.exp {
        let now = Utc::now().timestamp();
        if now > exp {
            return Err(ApiError::new(
                "invalid_api_key",
                format!("Tenant token expired. Was valid up to `{exp}` and we're now `{now}`."),
            ));
        }
    }
    Ok(Some(claims.search_rules))
}

fn search_key_view(store: &Store) -> Value {
    json!({
        "name": "Default Search API Key",
        "description": "Use it to search from the frontend",
        "key": store.keys.search,
        "uid": store.keys.search_uid,
        "actions": ["search"],
        "indexes": ["*"],
        "expiresAt": null,
        "createdAt": store.started_at,
        "updatedAt": store.started_at,
    })
}

fn list_keys(store: &Store, req: &Req) -> Outcome {
    admin(store, req)?;
    check_params(req, &["offset", "limit"])?;
    let offset = usize_param(req, "offset", "invalid_api_key_offset")?.unwrap_or(0);
    let limit = usize_param(req, "limit", "invalid_api_key_limit")?.unwrap_or(DEFAULT_LIMIT);
    let results: Vec<Value> = std::iter::once(search_key_view(store))
        .skip(offset)
        .take(limit)
        .collect();
    Ok(Reply::ok(
        json!({ "results": results, "offset": offset, "limit": limit, "total": 1 }),
    ))
}

fn get_key(store: &Store, req: &Req, key: &str) -> Outcome {
    admin(store, req)?;
    if key == store.keys.search || key == store.keys.search_uid {
        Ok(Reply::ok(search_key_view(store)))
    } else {
        Err(ApiError::new(
            "api_key_not_found",
            format!("API key `{key}` not found."),
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Request bodies and parameters
// ---------------------------------------------------------------------------------------------

/// How deserr describes a JSON value in its errors.
fn found(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(_) => format!("a boolean: `{value}`"),
        Value::Number(n) if n.as_i64().is_some_and(|i| i < 0) => {
            format!("a negative integer: `{value}`")
        }
        Value::Number(_) => format!("a number: `{value}`"),
        Value::String(_) => format!("a string: `{value}`"),
        Value::Array(_) => format!("an array: `{value}`"),
        Value::Object(_) => format!("an object: `{value}`"),
    }
}

/// Deserr's message for a value of the wrong type at `location` (empty for the whole body).
fn type_error(location: &str, expected: &str, value: &Value, code: &str) -> ApiError {
    ApiError::new(
        code,
        format!(
            "Invalid value type{}: expected {expected}, but found {}",
            at(location),
            found(value)
        ),
    )
}

fn at(location: &str) -> String {
    if location.is_empty() {
        String::new()
    } else {
        format!(" at `{location}`")
    }
}

fn one_of(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The essence of a Content-Type (`application/json` of `application/json; charset=utf-8`).
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The JSON body of a non-document route.
fn json_body(req: &Req) -> Result<Value, ApiError> {
    match req.content_type() {
        None => {
            return Err(ApiError::new(
                "missing_content_type",
                "A Content-Type header is missing. Accepted values for the Content-Type header are: `application/json`",
            ));
        }
        Some(ct) if essence(&ct) != "application/json" => {
            return Err(ApiError::new(
                "invalid_content_type",
                format!(
                    "The Content-Type `{ct}` is invalid. Accepted values for the Content-Type header are: `application/json`"
                ),
            ));
        }
        Some(_) => {}
    }
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            "missing_payload",
            "A json payload is missing.",
        ));
    }
    serde_json::from_slice(&req.body).map_err(|e| {
        ApiError::new(
            "malformed_payload",
            format!("The json payload provided is malformed. `{e}`."),
        )
    })
}

/// `value` as an object whose keys are all in `allowed`.
fn object_with<'a>(value: &'a Value, allowed: &[&str]) -> Result<&'a Map<String, Value>, ApiError> {
    let Value::Object(object) = value else {
        return Err(type_error("", "an object", value, "bad_request"));
    };
    if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::new(
            "bad_request",
            format!(
                "Unknown field `{unknown}`: expected one of {}",
                one_of(allowed)
            ),
        ));
    }
    Ok(object)
}

fn opt_string(
    object: &Map<String, Value>,
    key: &str,
    code: &str,
) -> Result<Option<String>, ApiError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(type_error(&format!(".{key}"), "a string", other, code)),
    }
}

fn opt_usize(
    object: &Map<String, Value>,
    key: &str,
    code: &str,
) -> Result<Option<usize>, ApiError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| type_error(&format!(".{key}"), "a positive integer", value, code)),
    }
}

fn opt_strings(
    object: &Map<String, Value>,
    key: &str,
    code: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(type_error(&format!(".{key}[{i}]"), "a string", other, code)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(type_error(&format!(".{key}"), "an array", other, code)),
    }
}

fn check_params(req: &Req, allowed: &[&str]) -> Result<(), ApiError> {
    match req
        .query
        .iter()
        .find(|(k, _)| !allowed.contains(&k.as_str()))
    {
        Some((unknown, _)) => Err(ApiError::new(
            "bad_request",
            format!(
                "Unknown parameter `{unknown}`: expected one of {}",
                one_of(allowed)
            ),
        )),
        None => Ok(()),
    }
}

fn usize_param(req: &Req, name: &str, code: &str) -> Result<Option<usize>, ApiError> {
    req.param(name)
        .map(|raw| {
            raw.parse::<usize>().map_err(|_| {
                ApiError::new(
                    code,
                    format!(
                        "Invalid value in parameter `{name}`: could not parse `{raw}` as a positive integer"
                    ),
                )
            })
        })
        .transpose()
}

fn list_param(req: &Req, name: &str) -> Option<Vec<String>> {
    req.param(name).map(|raw| {
        raw.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    })
}

fn check_index_uid(uid: &str) -> Result<(), ApiError> {
    let valid = !uid.is_empty()
        && uid.len() <= 512
        && uid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(ApiError::new(
            "invalid_index_uid",
            format!(
                "`{uid}` is not a valid index uid. Index uid can be an integer or a string containing only alphanumeric characters, hyphens (-) and underscores (_), and can not be more than 512 bytes."
            ),
        ))
    }
}

fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let Some(decoded) = bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(decoded);
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Indexes
// ---------------------------------------------------------------------------------------------

fn list_indexes(store: &Store, req: &Req) -> Outcome {
    admin(store, req)?;
    check_params(req, &["offset", "limit"])?;
    let offset = usize_param(req, "offset", "invalid_index_offset")?.unwrap_or(0);
    let limit = usize_param(req, "limit", "invalid_index_limit")?.unwrap_or(DEFAULT_LIMIT);
    let results: Vec<Value> = store
        .indexes
        .iter()
        .skip(offset)
        .take(limit)
        .map(|(uid, index)| index.view(uid))
        .collect();
    Ok(Reply::ok(json!({
        "results": results,
        "offset": offset,
        "limit": limit,
        "total": store.indexes.len(),
    })))
}

fn create_index(store: &mut Store, req: &Req) -> Outcome {
    admin(store, req)?;
    let body = json_body(req)?;
    let object = object_with(&body, &["uid", "primaryKey"])?;
    let uid = match object.get("uid") {
        None => return Err(ApiError::new("missing_index_uid", "Missing field `uid`")),
        Some(Value::String(uid)) => uid.clone(),
        Some(other) => return Err(type_error(".uid", "a string", other, "invalid_index_uid")),
    };
    check_index_uid(&uid)?;
    let primary_key = opt_string(object, "primaryKey", "invalid_index_primary_key")?;
    let details = json!({ "primaryKey": primary_key });
    let outcome = if store.indexes.contains_key(&uid) {
        Err(ApiError::new(
            "index_already_exists",
            format!("Index `{uid}` already exists."),
        ))
    } else {
        store
            .indexes
            .insert(uid.clone(), IndexData::new(primary_key));
        Ok(())
    };
    Ok(store.enqueue(Some(&uid), "indexCreation", details, outcome))
}

fn get_index(store: &Store, req: &Req, uid: &str) -> Outcome {
    admin(store, req)?;
    check_index_uid(uid)?;
    Ok(Reply::ok(store.index(uid)?.view(uid)))
}

fn update_index(store: &mut Store, req: &Req, uid: &str) -> Outcome {
    admin(store, req)?;
    let body = json_body(req)?;
    let object = object_with(&body, &["primaryKey"])?;
    let primary_key = opt_string(object, "primaryKey", "invalid_index_primary_key")?;
    check_index_uid(uid)?;
    let outcome = match store.indexes.get_mut(uid) {
        None => Err(index_not_found(uid)),
        Some(index) => match (&index.primary_key, &primary_key) {
            (Some(current), Some(wanted)) if current != wanted && !index.documents.is_empty() => {
                Err(ApiError::new(
                    "index_primary_key_already_exists",
                    format!("Index already has a primary key: `{current}`."),
                ))
            }
            _ => {
                if primary_key.is_some() {
                    index.primary_key.clone_from(&primary_key);
                }
                index.touch();
                Ok(())
            }
        },
    };
    Ok(store.enqueue(
        Some(uid),
        "indexUpdate",
        json!({ "primaryKey": primary_key }),
        outcome,
    ))
}

fn delete_index(store: &mut Store, req: &Req, uid: &str) -> Outcome {
    admin(store, req)?;
    check_index_uid(uid)?;
    let (deleted, outcome) = match store.indexes.remove(uid) {
        Some(index) => (index.documents.len(), Ok(())),
        None => (0, Err(index_not_found(uid))),
    };
    Ok(store.enqueue(
        Some(uid),
        "indexDeletion",
        json!({ "deletedDocuments": deleted }),
        outcome,
    ))
}

/// `GET /indexes/{uid}/stats` of one index.
fn stats_of(index: &IndexData) -> Value {
    let mut distribution: BTreeMap<&str, usize> = BTreeMap::new();
    let mut size = 0;
    for document in index.documents.values() {
        size += Value::Object(document.clone()).to_string().len();
        for key in document.keys() {
            *distribution.entry(key.as_str()).or_default() += 1;
        }
    }
    let count = index.documents.len();
    json!({
        "numberOfDocuments": count,
        "rawDocumentDbSize": size,
        "avgDocumentSize": size.checked_div(count).unwrap_or(0),
        "isIndexing": false,
        "numberOfEmbeddings": 0,
        "numberOfEmbeddedDocuments": 0,
        "fieldDistribution": distribution,
    })
}

fn index_stats(store: &Store, req: &Req, uid: &str) -> Outcome {
    admin(store, req)?;
    check_index_uid(uid)?;
    Ok(Reply::ok(stats_of(store.index(uid)?)))
}

fn global_stats(store: &Store, req: &Req) -> Outcome {
    admin(store, req)?;
    let indexes: Map<String, Value> = store
        .indexes
        .iter()
        .map(|(uid, index)| (uid.clone(), stats_of(index)))
        .collect();
    let size: u64 = indexes
        .values()
        .filter_map(|s| s["rawDocumentDbSize"].as_u64())
        .sum();
    let last_update = store.indexes.values().map(|i| &i.updated_at).max();
    Ok(Reply::ok(json!({
        "databaseSize": size,
        "usedDatabaseSize": size,
        "lastUpdate": last_update,
        "indexes": indexes,
    })))
}

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

/// The JSON shape a setting must have (besides `null`, which resets it).
#[derive(Clone, Copy)]
enum Shape {
    Strings,
    RankingRules,
    Filterable,
    Synonyms,
    Text,
    OneOf(&'static [&'static str]),
    Object,
    Integer,
    Array,
    Boolean,
}

/// A setting: its key, the route of its own sub-resource, its shape, and whether it is an
/// object merged field by field (updated with `PATCH` rather than `PUT`).
#[derive(Clone, Copy)]
struct SettingSpec {
    key: &'static str,
    route: &'static str,
    shape: Shape,
    nested: bool,
}

const fn setting(key: &'static str, route: &'static str, shape: Shape) -> SettingSpec {
    SettingSpec {
        key,
        route,
        shape,
        nested: matches!(shape, Shape::Object),
    }
}

const SETTINGS: [SettingSpec; 20] = [
    setting(
        "displayedAttributes",
        "displayed-attributes",
        Shape::Strings,
    ),
    setting(
        "searchableAttributes",
        "searchable-attributes",
        Shape::Strings,
    ),
    setting(
        "filterableAttributes",
        "filterable-attributes",
        Shape::Filterable,
    ),
    setting("sortableAttributes", "sortable-attributes", Shape::Strings),
    setting("rankingRules", "ranking-rules", Shape::RankingRules),
    setting("stopWords", "stop-words", Shape::Strings),
    setting("nonSeparatorTokens", "non-separator-tokens", Shape::Strings),
    setting("separatorTokens", "separator-tokens", Shape::Strings),
    setting("dictionary", "dictionary", Shape::Strings),
    setting("synonyms", "synonyms", Shape::Synonyms),
    setting("distinctAttribute", "distinct-attribute", Shape::Text),
    setting(
        "proximityPrecision",
        "proximity-precision",
        Shape::OneOf(&["byWord", "byAttribute"]),
    ),
    setting("typoTolerance", "typo-tolerance", Shape::Object),
    setting("faceting", "faceting", Shape::Object),
    setting("pagination", "pagination", Shape::Object),
    setting("embedders", "embedders", Shape::Object),
    setting("searchCutoffMs", "search-cutoff-ms", Shape::Integer),
    setting("localizedAttributes", "localized-attributes", Shape::Array),
    setting("facetSearch", "facet-search", Shape::Boolean),
    setting(
        "prefixSearch",
        "prefix-search",
        Shape::OneOf(&["indexingTime", "disabled"]),
    ),
];

fn setting_by_route(route: &str) -> Option<SettingSpec> {
    SETTINGS.iter().find(|s| s.route == route).copied()
}

fn setting_by_key(key: &str) -> Option<SettingSpec> {
    SETTINGS.iter().find(|s| s.key == key).copied()
}

fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn is_ranking_rule(rule: &str) -> bool {
    const BUILT_IN: [&str; 8] = [
        "words",
        "typo",
        "proximity",
        "attribute",
        "sort",
        "exactness",
        "attributeRank",
        "wordPosition",
    ];
    BUILT_IN.contains(&rule)
        || rule
            .rsplit_once(':')
            .is_some_and(|(field, order)| !field.is_empty() && matches!(order, "asc" | "desc"))
}

/// Checks `value` for setting `spec` as Meilisearch's deserializer does (shapes only).
fn validate_setting(spec: SettingSpec, value: &Value, location: &str) -> Result<(), ApiError> {
    let code = format!("invalid_settings_{}", snake_case(spec.key));
    let strings = |value: &Value| -> Result<Vec<String>, ApiError> {
        let Value::Array(items) = value else {
            return Err(type_error(location, "an array", value, &code));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(type_error(
                    &format!("{location}[{i}]"),
                    "a string",
                    other,
                    &code,
                )),
            })
            .collect()
    };
    match (spec.shape, value) {
        (_, Value::Null) => Ok(()),
        (Shape::Strings, value) => strings(value).map(drop),
        (Shape::RankingRules, value) => {
            for (i, rule) in strings(value)?.iter().enumerate() {
                if !is_ranking_rule(rule) {
                    return Err(ApiError::new(
                        code.as_str(),
                        format!(
                            "Invalid value at `{location}[{i}]`: `{rule}` ranking rule is invalid. Valid ranking rules are words, typo, sort, proximity, attribute, exactness and custom ranking rules."
                        ),
                    ));
                }
            }
            Ok(())
        }
        (Shape::Filterable, Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if !matches!(item, Value::String(_) | Value::Object(_)) {
                    return Err(type_error(
                        &format!("{location}[{i}]"),
                        "a string or an object",
                        item,
                        &code,
                    ));
                }
            }
            Ok(())
        }
        (Shape::Synonyms, Value::Object(map)) => {
            for (word, synonyms) in map {
                strings(synonyms).map_err(|_| {
                    type_error(&format!("{location}.{word}"), "an array", synonyms, &code)
                })?;
            }
            Ok(())
        }
        (Shape::Text, Value::String(_))
        | (Shape::Object, Value::Object(_))
        | (Shape::Array, Value::Array(_))
        | (Shape::Boolean, Value::Bool(_)) => Ok(()),
        (Shape::Integer, value) if value.is_u64() => Ok(()),
        (Shape::OneOf(allowed), Value::String(s)) if allowed.contains(&s.as_str()) => Ok(()),
        (Shape::OneOf(allowed), Value::String(s)) => Err(ApiError::new(
            code.as_str(),
            format!(
                "Unknown value `{s}`{}: expected one of {}",
                at(location),
                one_of(allowed)
            ),
        )),
        (shape, value) => {
            let expected = match shape {
                Shape::Strings | Shape::RankingRules | Shape::Filterable | Shape::Array => {
                    "an array"
                }
                Shape::Synonyms | Shape::Object => "an object",
                Shape::Text | Shape::OneOf(_) => "a string",
                Shape::Integer => "a positive integer",
                Shape::Boolean => "a boolean",
            };
            Err(type_error(location, expected, value, &code))
        }
    }
}

/// Merges `patch` into `target`: objects key by key (`null` removes), anything else replaced.
fn deep_merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else if let Some(existing) = target.get_mut(key)
                    && existing.is_object()
                    && value.is_object()
                {
                    deep_merge(existing, value);
                } else {
                    target.insert(key.clone(), value.clone());
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// Applies a validated settings update to the stored settings.
fn apply_settings(settings: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        if value.is_null() {
            settings.remove(key);
        } else if setting_by_key(key).is_some_and(|s| s.nested) {
            let entry = settings
                .entry(key.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            deep_merge(entry, value);
        } else {
            settings.insert(key.clone(), value.clone());
        }
    }
}

fn default_settings() -> Map<String, Value> {
    let defaults = json!({
        "displayedAttributes": ["*"],
        "searchableAttributes": ["*"],
        "filterableAttributes": [],
        "sortableAttributes": [],
        "rankingRules": DEFAULT_RANKING_RULES,
        "stopWords": [],
        "nonSeparatorTokens": [],
        "separatorTokens": [],
        "dictionary": [],
        "synonyms": {},
        "distinctAttribute": null,
        "proximityPrecision": "byWord",
        "typoTolerance": {
            "enabled": true,
            "minWordSizeForTypos": { "oneTypo": 5, "twoTypos": 9 },
            "disableOnWords": [],
            "disableOnAttributes": [],
            "disableOnNumbers": false,
        },
        "faceting": { "maxValuesPerFacet": 100, "sortFacetValuesBy": { "*": "alpha" } },
        "pagination": { "maxTotalHits": 1000 },
        "embedders": {},
        "searchCutoffMs": null,
        "localizedAttributes": null,
        "facetSearch": true,
        "prefixSearch": "indexingTime",
    });
    match defaults {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The settings in effect, as `GET /indexes/{uid}/settings` shows them: defaults overridden by
/// what was set, the settings Meilisearch keeps as sets sorted.
fn effective_settings(index: &IndexData) -> Map<String, Value> {
    let mut settings = default_settings();
    for (key, value) in &index.settings {
        match settings.get_mut(key) {
            Some(current) if setting_by_key(key).is_some_and(|s| s.nested) => {
                deep_merge(current, value);
            }
            _ => {
                settings.insert(key.clone(), value.clone());
            }
        }
    }
    for key in [
        "sortableAttributes",
        "stopWords",
        "nonSeparatorTokens",
        "separatorTokens",
        "dictionary",
    ] {
        if let Some(Value::Array(items)) = settings.get_mut(key) {
            let sorted: BTreeSet<String> = items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            *items = sorted.into_iter().map(Value::String).collect();
        }
    }
    settings
}

fn get_settings(store: &Store, req: &Req, uid: &str) -> Outcome {
    admin(store, req)?;
    check_index_uid(uid)?;
    Ok(Reply::ok(Value::Object(effective_settings(
        store.index(uid)?,
    ))))
}

fn update_settings(store: &mut Store, req: &Req, uid: &str) -> Outcome {
    admin(store, req)?;
    let body = json_body(req)?;
    let keys: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
    let patch = object_with(&body, &keys)?;
    for (key, value) in patch {
        if let Some(spec) = setting_by_key(key) {
            validate_setting(spec, value, &format!(".{key}"))?;
        }
    }
    check_index_uid(uid)?;
    let index = store
        .indexes
        .entry(uid.to_owned())
        .or_insert_with(|| IndexData::new(None));
    apply_settings(&mut index.settings, patch);
    index.touch();
    Ok(store.enqueue(Some(uid), "settingsUpdate", body.clone(), Ok(())))
}

fn reset_settings(store: &mut Store, req: &Req, uid: &str) -> Outcome {
    admin(store, req)?;
    check_index_uid(uid)?;
    let index = store
        .indexes
        .entry(uid.to_owned())
        .or_insert_with(|| IndexData::new(None));
    index.settings.clear();
    index.touch();
    let details: Map<String, Value> = SETTINGS
        .iter()
        .map(|s| (s.key.to_owned(), Value::Null))
        .collect();
    Ok(store.enqueue(Some(uid), "settingsUpdate", Value::Object(details), Ok(())))
}

fn get_setting(store: &Store, req: &Req, uid: &str, spec: SettingSpec) -> Outcome {
    admin(store, req)?;
    check_index_uid(uid)?;
    let settings = effective_settings(store.index(uid)?);
    Ok(Reply::ok(
        settings.get(spec.key).cloned().unwrap_or(Value::Null),
    ))
}

/// `PUT`/`PATCH` (or, with `reset`, `DELETE`) of one setting's sub-resource.
fn put_setting(store: &mut Store, req: &Req, uid: &str, spec: SettingSpec, reset: bool) -> Outcome {
    admin(store, req)?;
    let value = if reset { Value::Null } else { json_body(req)? };
    validate_setting(spec, &value, "")?;
    check_index_uid(uid)?;
    let mut patch = Map::new();
    patch.insert(spec.key.to_owned(), value);
    let index = store
        .indexes
        .entry(uid.to_owned())
        .or_insert_with(|| IndexData::new(None));
    apply_settings(&mut index.settings, &patch);
    index.touch();
    Ok(store.enqueue(Some(uid), "settingsUpdate", Value::Object(patch), Ok(())))
}

// ---------------------------------------------------------------------------------------------
// Documents
// ---------------------------------------------------------------------------------------------

type Document = Map<String, Value>;

fn malformed(format: &str, reason: &str) -> ApiError {
    ApiError::new(
        "malformed_payload",
        format!(
            "The `{format}` payload provided is malformed. `Couldn't serialize document value: {reason}`."
        ),
    )
}

/// The documents of an addition, in any of the formats Meilisearch takes.
fn parse_documents(req: &Req) -> Result<Vec<Document>, ApiError> {
    const ACCEPTED: &str = "`application/json`, `application/x-ndjson`, `text/csv`";
    let Some(content_type) = req.content_type() else {
        return Err(ApiError::new(
            "missing_content_type",
            format!(
                "A Content-Type header is missing. Accepted values for the Content-Type header are: {ACCEPTED}"
            ),
        ));
    };
    let format = match essence(&content_type).as_str() {
        "application/json" => "json",
        "application/x-ndjson" => "ndjson",
        "text/csv" => "csv",
        _ => {
            return Err(ApiError::new(
                "invalid_content_type",
                format!(
                    "The Content-Type `{content_type}` is invalid. Accepted values for the Content-Type header are: {ACCEPTED}"
                ),
            ));
        }
    };
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            "missing_payload",
            format!("A {format} payload is missing."),
        ));
    }
    let neither = "data are neither an object nor a list of objects";
    match format {
        "json" => match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Object(document)) => Ok(vec![document]),
            Ok(Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::Object(document) => Ok(document),
                    _ => Err(malformed(format, neither)),
                })
                .collect(),
            Ok(_) => Err(malformed(format, neither)),
            Err(e) => Err(malformed(format, &e.to_string())),
        },
        "ndjson" => String::from_utf8_lossy(&req.body)
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| match serde_json::from_str::<Value>(line) {
                Ok(Value::Object(document)) => Ok(document),
                Ok(_) => Err(malformed(format, neither)),
                Err(e) => Err(malformed(format, &e.to_string())),
            })
            .collect(),
        _ => {
            let delimiter = req
                .param("csvDelimiter")
                .and_then(|d| d.chars().next())
                .unwrap_or(',');
            parse_csv(&String::from_utf8_lossy(&req.body), delimiter)
                .map_err(|e| malformed(format, &e))
        }
    }
}

/// CSV as Meilisearch reads it: a header row (`name` or `name:string|number|boolean`), then one
/// document per row, empty cells as `null`.
fn parse_csv(text: &str, delimiter: char) -> Result<Vec<Document>, String> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            '"' => quoted = !quoted,
            c if c == delimiter && !quoted => row.push(std::mem::take(&mut cell)),
            '\n' if !quoted => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            '\r' if !quoted => {}
            c => cell.push(c),
        }
    }
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell);
        rows.push(row);
    }
    let mut rows = rows
        .into_iter()
        .filter(|r| !(r.len() == 1 && r.first().is_some_and(String::is_empty)));
    let header = rows.next().ok_or("missing header")?;
    let columns: Vec<(String, &str)> = header
        .iter()
        .map(|h| match h.rsplit_once(':') {
            Some((name, kind @ ("string" | "number" | "boolean"))) => (name.to_owned(), kind),
            _ => (h.clone(), "string"),
        })
        .collect();
    rows.map(|row| {
        let mut document = Map::new();
        for ((name, kind), raw) in columns.iter().zip(row.iter()) {
            let value = if raw.is_empty() {
                Value::Null
            } else {
                match *kind {
                    "number" => raw
                        .trim()
                        .parse::<i64>()
                        .map(Value::from)
                        .or_else(|_| raw.trim().parse::<f64>().map(Value::from))
                        .map_err(|_| format!("invalid number `{raw}` for `{name}`"))?,
                    "boolean" => raw
                        .trim()
                        .parse::<bool>()
                        .map(Value::Bool)
                        .map_err(|_| format!("invalid boolean `{raw}` for `{name}`"))?,
                    _ => Value::String(raw.clone()),
                }
            };
            document.insert(name.clone(), value);
        }
        Ok(document)
    })
    .collect()
}

/// The primary key Meilisearch infers from the first document: its only field ending in `id`.
fn guess_primary_key(first: Option<&Document>) -> Result<String, ApiError> {
    let none = || {
        ApiError::new(
            "index_primary_key_no_candidate_found",
            "The primary key inference failed as the engine did not find any field ending with `id` in its name. Please specify the primary key manually using the `primaryKey` query parameter.",
        )
    };
    let first = first.ok_or_else(none)?;
    let mut candidates: Vec<&String> = first
        .keys()
        .filter(|k| k.to_lowercase().ends_with("id"))
        .collect();
    candidates.sort();
    match candidates.as_slice() {
        [] => Err(none()),
        [only] => Ok((*only).clone()),
        [a, b, ..] => Err(ApiError::new(
            "index_primary_key_multiple_candidates_found",
            format!(
                "The primary key inference failed as the engine found {} fields ending with `id` in their names: '{a}' and '{b}'. Please specify the primary key manually using the `primaryKey` query parameter.",
                candidates.len()
            ),
        )),
    }
}

/// The id of `document` under `primary_key`, validated as Meilisearch does.
fn document_id(document: &Document, primary_key: &str) -> Result<String, ApiError> {
    let invalid = |value: &Value| {
        ApiError::new(
            "invalid_document_id",
            format!(
                "Document identifier `{value}` is invalid. A document identifier can be of type integer or string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens (-) and underscores (_), and can not be more than 511 bytes."
            ),
        )
    };
    match document.get(primary_key) {
        None => Err(ApiError::new(
            "missing_document_id",
            format!(
                "Document doesn't have a `{primary_key}` attribute: `{}`.",
                Value::Object(document.clone())
            ),
        )),
        Some(Value::String(id))
            if !id.is_empty()
                && id.len() < 512
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            Ok(id.clone())
        }
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        Some(other) => Err(invalid(other)),
    }
}

/// Adds (or merges, unless `replace`) `documents` into index `uid`, creating it if needed.
fn apply_documents(
    store: &mut Store,
    uid: &str,
    primary_key_param: Option<&str>,
    documents: Vec<Document>,
    replace: bool,
) -> Result<(), ApiError> {
    let current = store.indexes.get(uid).and_then(|i| i.primary_key.clone());
    let primary_key = match (current, primary_key_param) {
        (Some(current), Some(wanted)) if current != wanted => {
            return Err(ApiError::new(
                "index_primary_key_already_exists",
                format!("Index already has a primary key: `{current}`."),
            ));
        }
        (Some(current), _) => current,
        (None, Some(wanted)) => wanted.to_owned(),
        (None, None) => guess_primary_key(documents.first())?,
    };
    let keyed = documents
        .into_iter()
        .map(|d| document_id(&d, &primary_key).map(|id| (id, d)))
        .collect::<Result<Vec<_>, _>>()?;
    let index = store
        .indexes
        .entry(uid.to_owned())
        .or_insert_with(|| IndexData::new(None));
    index.primary_key = Some(primary_key);
    for (id, document) in keyed {
        index.note_fields(&document);
        match index.documents.get_mut(&id) {
            Some(existing) if !replace => existing.extend(document),
            _ => {
                index.documents.insert(id, document);
            }
        }
    }
    index.touch();
    Ok(())
}

fn add_documents(store: &mut Store, req: &Req, uid: &str, replace: bool) -> Outcome {
    admin(store, req)?;
    check_params(
        req,
        &[
            "primaryKey",
            "csvDelimiter",
            "customMetadata",
            "skipCreation",
        ],
    )?;
    check_index_uid(uid)?;
    let documents = parse_documents(req)?;
    let received = documents.len();
    let outcome = apply_documents(store, uid, req.param("primaryKey"), documents, replace);
    let indexed = if outcome.is_ok() { received } else { 0 };
    Ok(store.enqueue(
        Some(uid),
        "documentAdditionOrUpdate",
        json!({ "receivedDocuments": received, "indexedDocuments": indexed }),
        outcome,
    ))
}

/// Deletes the documents with `ids` from index `uid`, as a `documentDeletion` task.
fn delete_ids(store: &mut Store, uid: &str, ids: &[String]) -> Reply {
    let (deleted, outcome) = match store.indexes.get_mut(uid) {
        None => (0, Err(index_not_found(uid))),
        Some(index) => {
            let deleted = ids
                .iter()
                .filter(|id| index.documents.remove(id.as_str()).is_some())
                .count();
            index.touch();
            (deleted, Ok(()))
        }
    };
    store.enqueue(
        Some(uid),
        "documentDeletion",
        json!({ "providedIds": ids.len(), "deletedDocuments": deleted, "originalFilter": null }),
        outcome,
    )
}

fn delete_document(store: &mut Store, req: &Req, uid: &str, id: &str) -> Outcome {
    admin(store, req)?;
    check_index_uid(uid)?;
    Ok(delete_ids(store, uid, &[id.to_owned()]))
}

fn delete_batch(store: &mut Store, req: &Req, uid: &str) -> Outcome {
    admin(store, req)?;
    let body = json_body(req)?;
    let Value::Array(items) = &body else {
        return Err(type_error("", "an array", &body, "bad_request"));
    };
    check_index_uid(uid)?;
    let ids: Vec<String> = items
        .iter()
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        .collect();
    Ok(delete_ids(store, uid, &ids))
}

fn delete_by_filter(store: &mut Store, req: &Req, uid: &str) -> Outcome {
    admin(store, req)?;
    let body = json_body(req)?;
    let object = object_with(&body, &["filter"])?;
    let Some(filter) = object.get("filter") else {
        return Err(ApiError::new(
            "missing_document_filter",
            "Missing field `filter`",
        ));
    };
    check_index_uid(uid)?;
    let Some(parsed) = parse_filter(filter, "invalid_document_filter")? else {
        return Err(ApiError::new(
            "invalid_document_filter",
            "Sending an empty filter is forbidden.",
        ));
    };
    let original = filter.to_string();
    let (deleted, outcome) = match store.indexes.get_mut(uid) {
        None => (0, Err(index_not_found(uid))),
        Some(index) => {
            let settings = effective_settings(index);
            match check_filterable(&parsed, &settings, "invalid_document_filter") {
                Err(e) => (0, Err(e.in_index(uid))),
                Ok(()) => {
                    let before = index.documents.len();
                    index.documents.retain(|_, d| !parsed.matches(d));
                    index.touch();
                    (before - index.documents.len(), Ok(()))
                }
            }
        }
    };
    Ok(store.enqueue(
        Some(uid),
        "documentDeletion",
        json!({ "providedIds": 0, "deletedDocuments": deleted, "originalFilter": original }),
        outcome,
    ))
}

fn clear_documents(store: &mut Store, req: &Req, uid: &str) -> Outcome {
    admin(store, req)?;
    check_index_uid(uid)?;
    let (deleted, outcome) = match store.indexes.get_mut(uid) {
        None => (0, Err(index_not_found(uid))),
        Some(index) => {
            let deleted = index.documents.len();
            index.documents.clear();
            index.touch();
            (deleted, Ok(()))
        }
    };
    Ok(store.enqueue(
        Some(uid),
        "documentDeletion",
        json!({ "deletedDocuments": deleted }),
        outcome,
    ))
}

/// Which documents to list and how.
struct DocumentsQuery {
    offset: usize,
    limit: usize,
    fields: Option<Vec<String>>,
    filter: Option<Value>,
    ids: Option<Vec<String>>,
}

fn list_documents(store: &Store, uid: &str, query: DocumentsQuery) -> Outcome {
    let index = store.index(uid)?;
    let filter = match &query.filter {
        Some(value) => parse_filter(value, "invalid_document_filter")?,
        None => None,
    };
    if let Some(filter) = &filter {
        check_filterable(
            filter,
            &effective_settings(index),
            "invalid_document_filter",
        )
        .map_err(|e| e.in_index(uid))?;
    }
    let selected: Vec<&Document> = index
        .documents
        .iter()
        .filter(|(id, _)| query.ids.as_ref().is_none_or(|ids| ids.contains(id)))
        .filter(|(_, d)| filter.as_ref().is_none_or(|f| f.matches(d)))
        .map(|(_, d)| d)
        .collect();
    let fields = query.fields.unwrap_or_else(|| vec!["*".to_owned()]);
    let results: Vec<Value> = selected
        .iter()
        .skip(query.offset)
        .take(query.limit)
        .map(|d| Value::Object(project(d, &fields)))
        .collect();
    Ok(Reply::ok(json!({
        "results": results,
        "offset": query.offset,
        "limit": query.limit,
        "total": selected.len(),
    })))
}

fn get_documents(store: &Store, req: &Req, uid: &str) -> Outcome {
    admin(store, req)?;
    check_params(
        req,
        &[
            "offset",
            "limit",
            "fields",
            "filter",
            "ids",
            "retrieveVectors",
            "sort",
        ],
    )?;
    let query = DocumentsQuery {
        offset: usize_param(req, "offset", "invalid_document_offset")?.unwrap_or(0),
        limit: usize_param(req, "limit", "invalid_document_limit")?.unwrap_or(DEFAULT_LIMIT),
        fields: list_param(req, "fields"),
        filter: req.param("filter").map(filter_param),
        ids: list_param(req, "ids"),
    };
    check_index_uid(uid)?;
    list_documents(store, uid, query)
}

fn fetch_documents(store: &Store, req: &Req, uid: &str) -> Outcome {
    admin(store, req)?;
    let body = json_body(req)?;
    let object = object_with(
        &body,
        &[
            "offset",
            "limit",
            "fields",
            "filter",
            "ids",
            "retrieveVectors",
            "sort",
        ],
    )?;
    let ids = match object.get("ids") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect::<Vec<String>>(),
        ),
        Some(other) => {
            return Err(type_error(
                ".ids",
                "an array",
                other,
                "invalid_document_ids",
            ));
        }
    };
    let query = DocumentsQuery {
        offset: opt_usize(object, "offset", "invalid_document_offset")?.unwrap_or(0),
        limit: opt_usize(object, "limit", "invalid_document_limit")?.unwrap_or(DEFAULT_LIMIT),
        fields: opt_strings(object, "fields", "invalid_document_fields")?,
        filter: object.get("filter").filter(|v| !v.is_null()).cloned(),
        ids,
    };
    check_index_uid(uid)?;
    list_documents(store, uid, query)
}

fn get_document(store: &Store, req: &Req, uid: &str, id: &str) -> Outcome {
    admin(store, req)?;
    check_params(req, &["fields", "retrieveVectors"])?;
    check_index_uid(uid)?;
    let index = store.index(uid)?;
    let document = index.documents.get(id).ok_or_else(|| {
        ApiError::new("document_not_found", format!("Document `{id}` not found."))
    })?;
    let fields = list_param(req, "fields").unwrap_or_else(|| vec!["*".to_owned()]);
    Ok(Reply::ok(Value::Object(project(document, &fields))))
}

/// Keeps the fields of `document` named by `selectors` (`*` for all, `a.b` for nested ones).
fn project(document: &Document, selectors: &[String]) -> Document {
    if selectors.iter().any(|s| s == "*") {
        return document.clone();
    }
    let mut out = Map::new();
    for (key, value) in document {
        if selectors.iter().any(|s| s == key) {
            out.insert(key.clone(), value.clone());
            continue;
        }
        let prefix = format!("{key}.");
        let nested: Vec<String> = selectors
            .iter()
            .filter_map(|s| s.strip_prefix(&prefix).map(str::to_owned))
            .collect();
        if nested.is_empty() {
            continue;
        }
        let projected = match value {
            Value::Object(inner) => Some(Value::Object(project(inner, &nested))),
            Value::Array(items) => Some(Value::Array(
                items
                    .iter()
                    .filter_map(|item| item.as_object().map(|o| Value::Object(project(o, &nested))))
                    .collect(),
            )),
            _ => None,
        };
        if let Some(projected) = projected {
            out.insert(key.clone(), projected);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Tasks
// ---------------------------------------------------------------------------------------------

fn get_task(store: &Store, req: &Req, uid: &str) -> Outcome {
    admin(store, req)?;
    let number = uid.parse::<usize>().map_err(|_| {
        ApiError::new(
            "invalid_task_uids",
            format!(
                "Invalid value in parameter `taskUid`: could not parse `{uid}` as a positive integer"
            ),
        )
    })?;
    store
        .tasks
        .get(number)
        .cloned()
        .map(Reply::ok)
        .ok_or_else(|| ApiError::new("task_not_found", format!("Task `{uid}` not found.")))
}

fn list_tasks(store: &Store, req: &Req) -> Outcome {
    admin(store, req)?;
    check_params(
        req,
        &[
            "limit",
            "from",
            "uids",
            "indexUids",
            "statuses",
            "types",
            "reverse",
        ],
    )?;
    let limit = usize_param(req, "limit", "invalid_task_limit")?.unwrap_or(DEFAULT_LIMIT);
    let from = usize_param(req, "from", "invalid_task_from")?;
    let reverse = req.param("reverse") == Some("true");
    let wanted = |name: &str, field: &str, task: &Value| {
        list_param(req, name).is_none_or(|values| {
            values.iter().any(|v| v == "*")
                || values.iter().any(|v| match task.get(field) {
                    Some(Value::String(s)) => s == v,
                    Some(other) => other.as_u64().is_some_and(|n| v.parse() == Ok(n)),
                    None => false,
                })
        })
    };
    let matching: Vec<&Value> = store
        .tasks
        .iter()
        .filter(|t| {
            wanted("uids", "uid", t)
                && wanted("indexUids", "indexUid", t)
                && wanted("statuses", "status", t)
                && wanted("types", "type", t)
        })
        .collect();
    let mut ordered: Vec<&Value> = matching.clone();
    if !reverse {
        ordered.reverse();
    }
    let uid_of = |t: &Value| t.get("uid").and_then(Value::as_u64).unwrap_or(0) as usize;
    let mut rest = ordered.into_iter().filter(|t| match from {
        None => true,
        Some(from) if reverse => uid_of(t) >= from,
        Some(from) => uid_of(t) <= from,
    });
    let results: Vec<Value> = rest.by_ref().take(limit).cloned().collect();
    let next = rest.next().map(uid_of);
    Ok(Reply::ok(json!({
        "results": results,
        "total": matching.len(),
        "limit": limit,
        "from": results.first().map(uid_of),
        "next": next,
    })))
}

// ---------------------------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------------------------

/// Which words must match when not all of them do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Strategy {
    /// Drop words from the end until documents match (Meilisearch's default).
    Last,
    /// Every word must match.
    All,
    /// Drop the most frequent words first.
    Frequency,
}

/// A search request, parsed.
struct SearchQuery {
    q: Option<String>,
    offset: usize,
    limit: usize,
    page: Option<usize>,
    hits_per_page: Option<usize>,
    filter: Option<Value>,
    attributes_to_retrieve: Option<Vec<String>>,
    attributes_to_search_on: Option<Vec<String>>,
    sort: Option<Vec<String>>,
    facets: Option<Vec<String>>,
    distinct: Option<String>,
    strategy: Strategy,
}

/// The search parameters Meilisearch knows; any other is refused.
const SEARCH_FIELDS: [&str; 31] = [
    "q",
    "vector",
    "media",
    "hybrid",
    "offset",
    "limit",
    "page",
    "hitsPerPage",
    "attributesToRetrieve",
    "retrieveVectors",
    "attributesToCrop",
    "cropLength",
    "cropMarker",
    "attributesToHighlight",
    "highlightPreTag",
    "highlightPostTag",
    "showMatchesPosition",
    "showRankingScore",
    "showRankingScoreDetails",
    "showPerformanceDetails",
    "filter",
    "sort",
    "distinct",
    "facets",
    "matchingStrategy",
    "attributesToSearchOn",
    "rankingScoreThreshold",
    "locales",
    "personalize",
    "useNetwork",
    "exhaustiveFacetCount",
];

fn parse_search(body: &Value) -> Result<SearchQuery, ApiError> {
    let object = object_with(body, &SEARCH_FIELDS)?;
    let strategy = match opt_string(
        object,
        "matchingStrategy",
        "invalid_search_matching_strategy",
    )?
    .as_deref()
    {
        None | Some("last") => Strategy::Last,
        Some("all") => Strategy::All,
        Some("frequency") => Strategy::Frequency,
        Some(other) => {
            return Err(ApiError::new(
                "invalid_search_matching_strategy",
                format!(
                    "Unknown value `{other}` at `.matchingStrategy`: expected one of `last`, `all`, `frequency`"
                ),
            ));
        }
    };
    Ok(SearchQuery {
        q: opt_string(object, "q", "invalid_search_q")?,
        offset: opt_usize(object, "offset", "invalid_search_offset")?.unwrap_or(0),
        limit: opt_usize(object, "limit", "invalid_search_limit")?.unwrap_or(DEFAULT_LIMIT),
        page: opt_usize(object, "page", "invalid_search_page")?,
        hits_per_page: opt_usize(object, "hitsPerPage", "invalid_search_hits_per_page")?,
        filter: object.get("filter").filter(|v| !v.is_null()).cloned(),
        attributes_to_retrieve: opt_strings(
            object,
            "attributesToRetrieve",
            "invalid_search_attributes_to_retrieve",
        )?,
        attributes_to_search_on: opt_strings(
            object,
            "attributesToSearchOn",
            "invalid_search_attributes_to_search_on",
        )?,
        sort: opt_strings(object, "sort", "invalid_search_sort")?,
        facets: opt_strings(object, "facets", "invalid_search_facets")?,
        distinct: opt_string(object, "distinct", "invalid_search_distinct")?,
        strategy,
    })
}

/// A `filter` query parameter: a JSON array when it is one, a filter expression otherwise.
fn filter_param(raw: &str) -> Value {
    if raw.trim_start().starts_with('[')
        && let Ok(value @ Value::Array(_)) = serde_json::from_str(raw)
    {
        return value;
    }
    Value::String(raw.to_owned())
}

/// The query parameters of `GET /indexes/{uid}/search` as the body of a `POST`.
fn search_params(req: &Req) -> Result<Value, ApiError> {
    const LISTS: [&str; 7] = [
        "attributesToRetrieve",
        "attributesToCrop",
        "attributesToHighlight",
        "attributesToSearchOn",
        "sort",
        "facets",
        "locales",
    ];
    const NUMBERS: [(&str, &str); 5] = [
        ("offset", "invalid_search_offset"),
        ("limit", "invalid_search_limit"),
        ("page", "invalid_search_page"),
        ("hitsPerPage", "invalid_search_hits_per_page"),
        ("cropLength", "invalid_search_crop_length"),
    ];
    const FLAGS: [&str; 5] = [
        "showMatchesPosition",
        "showRankingScore",
        "showRankingScoreDetails",
        "showPerformanceDetails",
        "retrieveVectors",
    ];
    const TEXTS: [&str; 7] = [
        "q",
        "matchingStrategy",
        "distinct",
        "cropMarker",
        "highlightPreTag",
        "highlightPostTag",
        "rankingScoreThreshold",
    ];
    let mut known: Vec<&str> = vec!["filter"];
    known.extend(LISTS);
    known.extend(NUMBERS.iter().map(|(n, _)| *n));
    known.extend(FLAGS);
    known.extend(TEXTS);
    check_params(req, &known)?;
    let mut body = Map::new();
    for (name, raw) in &req.query {
        let value = if name == "filter" {
            filter_param(raw)
        } else if LISTS.contains(&name.as_str()) {
            Value::from(list_param(req, name).unwrap_or_default())
        } else if let Some((_, code)) = NUMBERS.iter().find(|(n, _)| *n == name.as_str()) {
            Value::from(usize_param(req, name, code)?)
        } else if FLAGS.contains(&name.as_str()) {
            Value::Bool(raw == "true")
        } else if name == "rankingScoreThreshold" {
            raw.parse::<f64>().map(Value::from).unwrap_or(Value::Null)
        } else {
            Value::String(raw.clone())
        };
        body.insert(name.clone(), value);
    }
    Ok(Value::Object(body))
}

fn search_post(store: &Store, req: &Req, uid: &str) -> Outcome {
    let rules = searcher(store, req, uid)?;
    let query = parse_search(&json_body(req)?)?;
    check_index_uid(uid)?;
    search(uid, store.index(uid)?, query, rules).map(Reply::ok)
}

fn search_get(store: &Store, req: &Req, uid: &str) -> Outcome {
    let rules = searcher(store, req, uid)?;
    let query = parse_search(&search_params(req)?)?;
    check_index_uid(uid)?;
    search(uid, store.index(uid)?, query, rules).map(Reply::ok)
}

/// `POST /multi-search` without `federation`: each query answered as its index's search, errors
/// prefixed with the query's position as Meilisearch does.
fn multi_search(store: &Store, req: &Req) -> Outcome {
    let access = search_access(store, req)?;
    let body = json_body(req)?;
    let object = object_with(&body, &["queries", "federation"])?;
    if object.get("federation").is_some_and(|f| !f.is_null()) {
        return Err(ApiError::new(
            "bad_request",
            "Federated multi-search is not supported by the Meilisearch test double.",
        ));
    }
    let queries = match object.get("queries") {
        Some(Value::Array(queries)) => queries,
        Some(other) => {
            return Err(type_error(
                ".queries",
                "an array",
                other,
                "invalid_multi_search_queries",
            ));
        }
        None => return Err(ApiError::new("bad_request", "Missing field `queries`")),
    };
    let mut results = Vec::with_capacity(queries.len());
    for (i, query) in queries.iter().enumerate() {
        let result = one_of_many(store, &access, query).map_err(|e| ApiError {
            message: format!("Inside `.queries[{i}]`: {}", e.message),
            ..e
        })?;
        results.push(result);
    }
    Ok(Reply::ok(json!({ "results": results })))
}

/// One query of a multi-search: its index's search result, with `indexUid`.
fn one_of_many(store: &Store, access: &Access, query: &Value) -> Result<Value, ApiError> {
    let Some(Value::String(uid)) = query.get("indexUid") else {
        return Err(ApiError::new(
            "missing_index_uid",
            "Missing field `indexUid`",
        ));
    };
    let rules = access.filter_for(uid).map_err(|_| invalid_api_key())?;
    let mut parameters = query.clone();
    if let Value::Object(fields) = &mut parameters {
        fields.remove("indexUid");
        fields.remove("federationOptions");
    }
    let parsed = parse_search(&parameters)?;
    check_index_uid(uid)?;
    let mut result = search(uid, store.index(uid)?, parsed, rules)?;
    if let Value::Object(fields) = &mut result {
        fields.insert("indexUid".into(), Value::String(uid.clone()));
    }
    Ok(result)
}

/// Meilisearch's `fuse_filters`: both filters, ANDed as an array.
fn fuse_filters(left: Option<Value>, right: Option<Value>) -> Option<Value> {
    match (left, right) {
        (None, right) => right,
        (left, None) => left,
        (Some(left), Some(right)) => {
            let as_list = |v: Value| match v {
                Value::Array(items) => items,
                other => vec![other],
            };
            Some(Value::Array([as_list(left), as_list(right)].concat()))
        }
    }
}

/// How one document ranks for a query.
struct Ranked<'a> {
    id: &'a str,
    document: &'a Document,
    words: usize,
    typos: usize,
    attribute: usize,
    in_attribute: usize,
    exact: usize,
}

fn search(
    uid: &str,
    index: &IndexData,
    query: SearchQuery,
    rule_filter: Option<Value>,
) -> Result<Value, ApiError> {
    let settings = effective_settings(index);
    let filter = match fuse_filters(query.filter.clone(), rule_filter) {
        Some(value) => parse_filter(&value, "invalid_search_filter")?,
        None => None,
    };
    if let Some(filter) = &filter {
        check_filterable(filter, &settings, "invalid_search_filter")
            .map_err(|e| e.in_index(uid))?;
    }
    let ranking_rules = strings_setting(&settings, "rankingRules");
    let sort = parse_sort(query.sort.as_deref(), &settings, &ranking_rules)
        .map_err(|e| e.in_index(uid))?;
    let searchable = searchable_fields(index, &settings, query.attributes_to_search_on.as_deref())
        .map_err(|e| e.in_index(uid))?;
    let distinct = match &query.distinct {
        Some(attribute) => {
            check_distinct(attribute, &settings).map_err(|e| e.in_index(uid))?;
            Some(attribute.clone())
        }
        None => settings
            .get("distinctAttribute")
            .and_then(Value::as_str)
            .map(str::to_owned),
    };
    if let Some(facets) = &query.facets {
        check_facets(facets, &settings).map_err(|e| e.in_index(uid))?;
    }

    let candidates: Vec<(&String, &Document)> = index
        .documents
        .iter()
        .filter(|(_, d)| filter.as_ref().is_none_or(|f| f.matches(d)))
        .collect();
    let text = query.q.clone().unwrap_or_default();
    let terms = query_terms(&text, &settings);
    let typo_off_attributes = typo_setting_strings(&settings, "disableOnAttributes");
    let mut ranked = rank_by_words(
        &candidates,
        &terms,
        &searchable,
        &typo_off_attributes,
        query.strategy,
    );
    ranked.sort_by(|a, b| compare_ranked(a, b, &ranking_rules, &sort));
    if let Some(attribute) = &distinct {
        let mut seen = BTreeSet::new();
        ranked.retain(|r| {
            let values: Vec<String> = scalars(r.document, attribute)
                .iter()
                .map(|v| facet_key(v))
                .collect();
            if values.iter().any(|v| seen.contains(v)) {
                return false;
            }
            seen.extend(values);
            true
        });
    }

    let max_total_hits = settings
        .get("pagination")
        .and_then(|p| p.get("maxTotalHits"))
        .and_then(Value::as_u64)
        .map_or(1000, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let total = ranked.len().min(max_total_hits);
    let paged = query.page.is_some() || query.hits_per_page.is_some();
    let page = query.page.unwrap_or(1);
    let hits_per_page = query.hits_per_page.unwrap_or(DEFAULT_LIMIT);
    let (skip, take) = if paged {
        if page == 0 || hits_per_page == 0 {
            (0, 0)
        } else {
            ((page - 1).saturating_mul(hits_per_page), hits_per_page)
        }
    } else {
        (query.offset, query.limit)
    };
    let take = take.min(max_total_hits.saturating_sub(skip));
    let displayed = strings_setting(&settings, "displayedAttributes");
    let retrieve = query
        .attributes_to_retrieve
        .clone()
        .unwrap_or_else(|| vec!["*".to_owned()]);
    let hits: Vec<Value> = ranked
        .iter()
        .skip(skip)
        .take(take)
        .map(|r| Value::Object(project(&project(r.document, &displayed), &retrieve)))
        .collect();

    let mut response = Map::new();
    response.insert("hits".into(), Value::Array(hits));
    response.insert("query".into(), Value::String(text));
    response.insert("processingTimeMs".into(), json!(0));
    if paged {
        let total_pages = if hits_per_page == 0 {
            0
        } else {
            total.div_ceil(hits_per_page)
        };
        response.insert("hitsPerPage".into(), json!(hits_per_page));
        response.insert("page".into(), json!(page));
        response.insert("totalPages".into(), json!(total_pages));
        response.insert("totalHits".into(), json!(total));
    } else {
        response.insert("limit".into(), json!(query.limit));
        response.insert("offset".into(), json!(query.offset));
        response.insert("estimatedTotalHits".into(), json!(total));
    }
    if let Some(facets) = &query.facets {
        let documents: Vec<&Document> = ranked.iter().map(|r| r.document).collect();
        let (distribution, stats) = facet_distribution(facets, &documents, &settings);
        response.insert("facetDistribution".into(), distribution);
        response.insert("facetStats".into(), stats);
    }
    Ok(Value::Object(response))
}

/// A setting that is a list of strings.
fn strings_setting(settings: &Map<String, Value>, key: &str) -> Vec<String> {
    settings
        .get(key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn typo_setting_strings(settings: &Map<String, Value>, key: &str) -> Vec<String> {
    settings
        .get("typoTolerance")
        .and_then(|t| t.get(key))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The fields searched, in ranking order.
fn searchable_fields(
    index: &IndexData,
    settings: &Map<String, Value>,
    restrict: Option<&[String]>,
) -> Result<Vec<String>, ApiError> {
    let configured = strings_setting(settings, "searchableAttributes");
    let all = configured.iter().any(|a| a == "*");
    let fields = if all {
        index.fields.clone()
    } else {
        configured.clone()
    };
    let Some(restrict) = restrict else {
        return Ok(fields);
    };
    for attribute in restrict {
        let searchable = all
            || configured
                .iter()
                .any(|c| c == attribute || attribute.starts_with(&format!("{c}.")));
        if !searchable {
            return Err(ApiError::new(
                "invalid_search_attributes_to_search_on",
                format!(
                    "Attribute `{attribute}` is not searchable. Available searchable attributes are: `{}`.",
                    configured.join(", ")
                ),
            ));
        }
    }
    if all {
        return Ok(restrict.to_vec());
    }
    Ok(fields
        .into_iter()
        .filter(|f| {
            restrict
                .iter()
                .any(|r| r == f || r.starts_with(&format!("{f}.")))
        })
        .collect())
}

/// One word of the query.
struct Term {
    word: String,
    chars: Vec<char>,
    prefix: bool,
    max_typos: usize,
}

fn query_terms(text: &str, settings: &Map<String, Value>) -> Vec<Term> {
    let stop_words: BTreeSet<String> = strings_setting(settings, "stopWords")
        .iter()
        .flat_map(|w| words(w))
        .collect();
    let typo = settings.get("typoTolerance");
    let enabled = typo
        .and_then(|t| t.get("enabled"))
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let min_size = |key: &str, default: u64| {
        typo.and_then(|t| t.get("minWordSizeForTypos"))
            .and_then(|m| m.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(default)
    };
    let (one_typo, two_typos) = (min_size("oneTypo", 5), min_size("twoTypos", 9));
    let off_words: BTreeSet<String> = typo_setting_strings(settings, "disableOnWords")
        .iter()
        .flat_map(|w| words(w))
        .collect();
    let off_numbers = typo
        .and_then(|t| t.get("disableOnNumbers"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let prefix_search = settings.get("prefixSearch").and_then(Value::as_str) != Some("disabled");
    let ends_in_word = text.chars().last().is_some_and(char::is_alphanumeric);
    let mut all: Vec<String> = words(text);
    all.truncate(MAX_QUERY_WORDS);
    let count = all.len();
    all.into_iter()
        .enumerate()
        .filter(|(_, w)| !stop_words.contains(w))
        .map(|(i, word)| {
            let length = word.chars().count() as u64;
            let numeric = word.chars().all(|c| c.is_ascii_digit());
            let max_typos = if !enabled || off_words.contains(&word) || (numeric && off_numbers) {
                0
            } else if length >= two_typos {
                2
            } else if length >= one_typo {
                1
            } else {
                0
            };
            Term {
                chars: word.chars().collect(),
                prefix: prefix_search && ends_in_word && i + 1 == count,
                max_typos,
                word,
            }
        })
        .collect()
}

/// How a term matched a document: typos, attribute rank, exactly or not.
#[derive(Clone, Copy)]
struct TermMatch {
    typos: usize,
    rank: usize,
    exact: bool,
}

/// How `term` matches `word`: `(typos, exact)`.
fn match_word(term: &Term, word: &str, typos_allowed: bool) -> Option<(usize, bool)> {
    if word == term.word {
        return Some((0, true));
    }
    if term.prefix && word.starts_with(&term.word) {
        return Some((0, false));
    }
    let budget = if typos_allowed { term.max_typos } else { 0 };
    if budget == 0 {
        return None;
    }
    let chars: Vec<char> = word.chars().collect();
    let mut typos = edit_distance(&term.chars, &chars, term.prefix);
    // A typo on the first letter counts as two.
    if term.chars.first() != chars.first() {
        typos += 1;
    }
    (typos <= budget).then_some((typos, false))
}

/// The best match of each term in `document`.
fn match_terms(
    document: &Document,
    terms: &[Term],
    fields: &[String],
    typo_off_attributes: &[String],
) -> Vec<Option<TermMatch>> {
    let field_words: Vec<(usize, bool, Vec<String>)> = fields
        .iter()
        .enumerate()
        .map(|(rank, field)| {
            let typos_allowed = !typo_off_attributes
                .iter()
                .any(|a| a == field || field.starts_with(&format!("{a}.")));
            let mut text = Vec::new();
            for value in raw_values(document, field) {
                collect_words(value, &mut text);
            }
            (rank, typos_allowed, text)
        })
        .collect();
    terms
        .iter()
        .map(|term| {
            let mut best: Option<TermMatch> = None;
            for (rank, typos_allowed, text) in &field_words {
                for word in text {
                    if let Some((typos, exact)) = match_word(term, word, *typos_allowed) {
                        let candidate = TermMatch {
                            typos,
                            rank: *rank,
                            exact,
                        };
                        let better = best.is_none_or(|b| {
                            (candidate.typos, candidate.rank, !candidate.exact)
                                < (b.typos, b.rank, !b.exact)
                        });
                        if better {
                            best = Some(candidate);
                        }
                    }
                }
            }
            best
        })
        .collect()
}

fn collect_words(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.extend(words(s)),
        Value::Number(n) => out.extend(words(&n.to_string())),
        Value::Bool(b) => out.push(b.to_string()),
        Value::Array(items) => items.iter().for_each(|v| collect_words(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_words(v, out)),
        Value::Null => {}
    }
}

/// The candidates matching the query words under `strategy`, with their ranking features.
fn rank_by_words<'a>(
    candidates: &[(&'a String, &'a Document)],
    terms: &[Term],
    fields: &[String],
    typo_off_attributes: &[String],
    strategy: Strategy,
) -> Vec<Ranked<'a>> {
    if terms.is_empty() {
        return candidates
            .iter()
            .map(|&(id, document)| Ranked {
                id: id.as_str(),
                document,
                words: 0,
                typos: 0,
                attribute: 0,
                in_attribute: 0,
                exact: 0,
            })
            .collect();
    }
    let matches: Vec<Vec<Option<TermMatch>>> = candidates
        .iter()
        .map(|(_, d)| match_terms(d, terms, fields, typo_off_attributes))
        .collect();
    // The order in which words are dropped until documents match.
    let mut dropped: Vec<usize> = (0..terms.len()).rev().collect();
    if strategy == Strategy::Frequency {
        let frequency = |t: usize| {
            matches
                .iter()
                .filter(|m| m.get(t).is_some_and(Option::is_some))
                .count()
        };
        dropped.sort_by(|&a, &b| frequency(b).cmp(&frequency(a)).then(b.cmp(&a)));
    }
    let stages: Vec<Vec<usize>> = match strategy {
        Strategy::All => vec![(0..terms.len()).collect()],
        Strategy::Last | Strategy::Frequency => (0..terms.len())
            .map(|removed| {
                let gone = &dropped[..removed];
                (0..terms.len()).filter(|t| !gone.contains(t)).collect()
            })
            .collect(),
    };
    candidates
        .iter()
        .zip(matches.iter())
        .filter_map(|(&(id, document), matched)| {
            let (stage, found): (&Vec<usize>, Vec<TermMatch>) =
                stages.iter().find_map(|stage| {
                    let found: Option<Vec<TermMatch>> = stage
                        .iter()
                        .map(|&t| matched.get(t).copied().flatten())
                        .collect();
                    found.map(|f| (stage, f))
                })?;
            let attribute = found.iter().map(|m| m.rank).min().unwrap_or(0);
            Some(Ranked {
                id: id.as_str(),
                document,
                words: stage.len(),
                typos: found.iter().map(|m| m.typos).sum(),
                attribute,
                in_attribute: found.iter().filter(|m| m.rank == attribute).count(),
                exact: found.iter().filter(|m| m.exact).count(),
            })
        })
        .collect()
}

/// A sort criterion: attribute and whether ascending.
type SortBy = (String, bool);

fn parse_sort(
    sort: Option<&[String]>,
    settings: &Map<String, Value>,
    ranking_rules: &[String],
) -> Result<Vec<SortBy>, ApiError> {
    let Some(sort) = sort else {
        return Ok(Vec::new());
    };
    let sortable = strings_setting(settings, "sortableAttributes");
    let mut criteria = Vec::with_capacity(sort.len());
    for expression in sort {
        let Some((attribute, ascending)) =
            expression
                .rsplit_once(':')
                .and_then(|(a, order)| match order {
                    "asc" => Some((a, true)),
                    "desc" => Some((a, false)),
                    _ => None,
                })
        else {
            return Err(ApiError::new(
                "invalid_search_sort",
                format!(
                    "Invalid syntax for the sort parameter: expected expression ending by `:asc` or `:desc`, found `{expression}`."
                ),
            ));
        };
        if !sortable
            .iter()
            .any(|s| s == attribute || attribute.starts_with(&format!("{s}.")))
        {
            let available = if sortable.is_empty() {
                "This index does not have configured sortable attributes.".to_owned()
            } else {
                format!(
                    "Available sortable attributes are: `{}`.",
                    sortable.join(", ")
                )
            };
            return Err(ApiError::new(
                "invalid_search_sort",
                format!("Attribute `{attribute}` is not sortable. {available}"),
            ));
        }
        criteria.push((attribute.to_owned(), ascending));
    }
    if !criteria.is_empty() && !ranking_rules.iter().any(|r| r == "sort") {
        return Err(ApiError::new(
            "invalid_search_sort",
            "You must specify where `sort` is listed in the rankingRules setting to use the sort parameter at search time.",
        ));
    }
    Ok(criteria)
}

/// Orders two documents on `attribute`: numbers before strings, documents without it last.
fn compare_on(a: &Document, b: &Document, attribute: &str, ascending: bool) -> Ordering {
    let key = |d: &Document| {
        let values = scalars(d, attribute);
        let numbers: Vec<f64> = values.iter().filter_map(|v| v.as_f64()).collect();
        let texts: Vec<String> = values
            .iter()
            .filter_map(|v| v.as_str().map(str::to_lowercase))
            .collect();
        let pick_number = if ascending {
            numbers.iter().copied().reduce(f64::min)
        } else {
            numbers.iter().copied().reduce(f64::max)
        };
        let pick_text = if ascending {
            texts.iter().min().cloned()
        } else {
            texts.iter().max().cloned()
        };
        match (pick_number, pick_text) {
            (Some(n), _) => Some((0, n, String::new())),
            (None, Some(t)) => Some((1, 0.0, t)),
            (None, None) => None,
        }
    };
    match (key(a), key(b)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => {
            let order =
                x.0.cmp(&y.0)
                    .then(x.1.partial_cmp(&y.1).unwrap_or(Ordering::Equal))
                    .then(x.2.cmp(&y.2));
            if ascending { order } else { order.reverse() }
        }
    }
}

fn compare_ranked(a: &Ranked<'_>, b: &Ranked<'_>, rules: &[String], sort: &[SortBy]) -> Ordering {
    for rule in rules {
        let order = match rule.as_str() {
            "words" => b.words.cmp(&a.words),
            "typo" => a.typos.cmp(&b.typos),
            "attribute" | "attributeRank" => a
                .attribute
                .cmp(&b.attribute)
                .then(b.in_attribute.cmp(&a.in_attribute)),
            "exactness" => b.exact.cmp(&a.exact),
            "sort" => sort
                .iter()
                .map(|(attribute, ascending)| {
                    compare_on(a.document, b.document, attribute, *ascending)
                })
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal),
            custom => match custom.rsplit_once(':') {
                Some((attribute, "asc")) => compare_on(a.document, b.document, attribute, true),
                Some((attribute, "desc")) => compare_on(a.document, b.document, attribute, false),
                _ => Ordering::Equal,
            },
        };
        if order.is_ne() {
            return order;
        }
    }
    a.id.cmp(b.id)
}

fn check_distinct(attribute: &str, settings: &Map<String, Value>) -> Result<(), ApiError> {
    let rules = filter_rules(settings);
    if rule_for(&rules, attribute).is_some_and(|(_, r)| r.equality || r.comparison) {
        return Ok(());
    }
    let available = filterable_patterns(&rules);
    let suffix = if available.is_empty() {
        "This index does not have configured filterable attributes.".to_owned()
    } else {
        format!(
            "Available filterable attributes patterns are: `{}`.",
            available.join(", ")
        )
    };
    Err(ApiError::new(
        "invalid_search_distinct",
        format!(
            "Attribute `{attribute}` is not filterable and thus, cannot be used as distinct attribute. {suffix}"
        ),
    ))
}

fn check_facets(facets: &[String], settings: &Map<String, Value>) -> Result<(), ApiError> {
    let rules = filter_rules(settings);
    let available = filterable_patterns(&rules);
    for facet in facets {
        if facet == "*" || rule_for(&rules, facet).is_some_and(|(_, r)| r.equality || r.comparison)
        {
            continue;
        }
        let reason = if available.is_empty() {
            format!(
                "Pattern `{facet}` is not filterable. This index does not have configured filterable attributes."
            )
        } else {
            format!(
                "Pattern `{facet}` is not filterable. Available filterable attributes patterns are: `{}`.",
                available.join(", ")
            )
        };
        return Err(ApiError::new(
            "invalid_search_facets",
            format!("Invalid facet distribution: {reason}"),
        ));
    }
    Ok(())
}

/// A facet value as counted: numbers and booleans as text, strings as given.
fn facet_key(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn facet_distribution(
    facets: &[String],
    documents: &[&Document],
    settings: &Map<String, Value>,
) -> (Value, Value) {
    let max_values = settings
        .get("faceting")
        .and_then(|f| f.get("maxValuesPerFacet"))
        .and_then(Value::as_u64)
        .map_or(100, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let attributes: Vec<String> = if facets.iter().any(|f| f == "*") {
        filterable_patterns(&filter_rules(settings))
            .into_iter()
            .filter(|p| !p.contains('*'))
            .collect()
    } else {
        facets.to_vec()
    };
    let mut distribution = Map::new();
    let mut stats = Map::new();
    for attribute in attributes {
        // Counted by normalized value, shown as first seen.
        let mut counts: BTreeMap<String, (String, u64)> = BTreeMap::new();
        let mut numbers: Vec<f64> = Vec::new();
        for document in documents {
            let values = scalars(document, &attribute);
            let mut seen = BTreeSet::new();
            for value in values {
                if let Some(n) = value.as_f64() {
                    numbers.push(n);
                }
                let shown = facet_key(value);
                let normalized = normalize_facet(&shown);
                if seen.insert(normalized.clone()) {
                    counts.entry(normalized).or_insert((shown, 0)).1 += 1;
                }
            }
        }
        let values: Map<String, Value> = counts
            .into_values()
            .take(max_values)
            .map(|(shown, count)| (shown, json!(count)))
            .collect();
        if let (Some(min), Some(max)) = (
            numbers.iter().copied().reduce(f64::min),
            numbers.iter().copied().reduce(f64::max),
        ) {
            stats.insert(attribute.clone(), json!({ "min": min, "max": max }));
        }
        distribution.insert(attribute, Value::Object(values));
    }
    (Value::Object(distribution), Value::Object(stats))
}

// ---------------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------------

/// A parsed filter expression.
#[derive(Debug)]
enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Condition(Condition),
}

/// `attribute <op>`, with where the attribute was written (for error messages).
#[derive(Debug)]
struct Condition {
    attribute: String,
    column: usize,
    width: usize,
    source: String,
    op: Op,
}

#[derive(Debug)]
enum Op {
    Equal(String),
    NotEqual(String),
    Greater(String),
    GreaterOrEqual(String),
    Lower(String),
    LowerOrEqual(String),
    Between(String, String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
    IsNull,
    IsNotNull,
    IsEmpty,
    IsNotEmpty,
}

impl Op {
    /// The operator as Meilisearch names it, and whether it needs equality (`Some(true)`),
    /// comparison (`Some(false)`) or just a filterable attribute (`None`).
    fn feature(&self) -> (&'static str, Option<bool>) {
        match self {
            Op::Equal(_) => ("=", Some(true)),
            Op::NotEqual(_) => ("!=", Some(true)),
            Op::In(_) => ("IN", Some(true)),
            Op::NotIn(_) => ("NOT IN", Some(true)),
            Op::Greater(_) => (">", Some(false)),
            Op::GreaterOrEqual(_) => (">=", Some(false)),
            Op::Lower(_) => ("<", Some(false)),
            Op::LowerOrEqual(_) => ("<=", Some(false)),
            Op::Between(..) => ("TO", Some(false)),
            Op::Exists | Op::NotExists => ("EXISTS", None),
            Op::IsNull | Op::IsNotNull => ("IS NULL", None),
            Op::IsEmpty | Op::IsNotEmpty => ("IS EMPTY", None),
        }
    }
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

    fn conditions<'a>(&'a self, out: &mut Vec<&'a Condition>) {
        match self {
            Filter::And(all) | Filter::Or(all) => all.iter().for_each(|f| f.conditions(out)),
            Filter::Not(inner) => inner.conditions(out),
            Filter::Condition(condition) => out.push(condition),
        }
    }
}

impl Condition {
    fn matches(&self, document: &Document) -> bool {
        let raw = raw_values(document, &self.attribute);
        let values = scalars(document, &self.attribute);
        let any = |test: &dyn Fn(&Value) -> bool| values.iter().any(|v| test(v));
        let ordered = |target: &str, accept: &dyn Fn(Ordering) -> bool| {
            any(&|v| compare_value(v, target).is_some_and(accept))
        };
        match &self.op {
            Op::Equal(target) => any(&|v| equals(v, target)),
            Op::NotEqual(target) => !any(&|v| equals(v, target)),
            Op::In(targets) => any(&|v| targets.iter().any(|t| equals(v, t))),
            Op::NotIn(targets) => !any(&|v| targets.iter().any(|t| equals(v, t))),
            Op::Greater(target) => ordered(target, &Ordering::is_gt),
            Op::GreaterOrEqual(target) => ordered(target, &Ordering::is_ge),
            Op::Lower(target) => ordered(target, &Ordering::is_lt),
            Op::LowerOrEqual(target) => ordered(target, &Ordering::is_le),
            Op::Between(from, to) => any(&|v| {
                compare_value(v, from).is_some_and(Ordering::is_ge)
                    && compare_value(v, to).is_some_and(Ordering::is_le)
            }),
            Op::Exists => !raw.is_empty(),
            Op::NotExists => raw.is_empty(),
            Op::IsNull => raw.iter().any(|v| v.is_null()),
            Op::IsNotNull => !raw.iter().any(|v| v.is_null()),
            Op::IsEmpty => raw.iter().any(|v| is_empty(v)),
            Op::IsNotEmpty => !raw.iter().any(|v| is_empty(v)),
        }
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// Facet strings compare as Meilisearch normalizes them.
fn normalize_facet(value: &str) -> String {
    value.trim().to_lowercase()
}

fn equals(value: &Value, target: &str) -> bool {
    match value {
        Value::String(s) => normalize_facet(s) == normalize_facet(target),
        Value::Number(n) => target
            .trim()
            .parse::<f64>()
            .ok()
            .zip(n.as_f64())
            .is_some_and(|(t, v)| t == v),
        Value::Bool(b) => normalize_facet(target) == b.to_string(),
        _ => false,
    }
}

/// `value` compared to `target`: numerically when `target` is a number, as text otherwise.
fn compare_value(value: &Value, target: &str) -> Option<Ordering> {
    match (value, target.trim().parse::<f64>()) {
        (Value::Number(n), Ok(t)) => n.as_f64()?.partial_cmp(&t),
        (Value::String(s), Err(_)) => Some(normalize_facet(s).cmp(&normalize_facet(target))),
        _ => None,
    }
}

/// The values at `path` (`a.b` reaching into objects and arrays of objects), as stored.
fn raw_values<'a>(document: &'a Document, path: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    collect_raw(document, path, &mut out);
    out
}

fn collect_raw<'a>(object: &'a Document, path: &str, out: &mut Vec<&'a Value>) {
    for (key, value) in object {
        if key == path {
            out.push(value);
        } else if let Some(rest) = path
            .strip_prefix(key.as_str())
            .and_then(|r| r.strip_prefix('.'))
        {
            descend(value, rest, out);
        }
    }
}

fn descend<'a>(value: &'a Value, path: &str, out: &mut Vec<&'a Value>) {
    match value {
        Value::Object(object) => collect_raw(object, path, out),
        Value::Array(items) => items.iter().for_each(|item| descend(item, path, out)),
        _ => {}
    }
}

/// The scalar values at `path`, arrays flattened.
fn scalars<'a>(document: &'a Document, path: &str) -> Vec<&'a Value> {
    fn flatten<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
        match value {
            Value::Array(items) => items.iter().for_each(|v| flatten(v, out)),
            Value::Object(_) | Value::Null => {}
            scalar => out.push(scalar),
        }
    }
    let mut out = Vec::new();
    for value in raw_values(document, path) {
        flatten(value, &mut out);
    }
    out
}

/// One rule of `filterableAttributes`.
struct FilterRule {
    patterns: Vec<String>,
    equality: bool,
    comparison: bool,
}

fn filter_rules(settings: &Map<String, Value>) -> Vec<FilterRule> {
    let Some(Value::Array(items)) = settings.get("filterableAttributes") else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| match item {
            Value::String(attribute) => Some(FilterRule {
                patterns: vec![attribute.clone()],
                equality: true,
                comparison: true,
            }),
            Value::Object(rule) => {
                let filter = rule.get("features").and_then(|f| f.get("filter"));
                let flag = |name: &str, default: bool| {
                    filter
                        .and_then(|f| f.get(name))
                        .and_then(Value::as_bool)
                        .unwrap_or(default)
                };
                Some(FilterRule {
                    patterns: rule
                        .get("attributePatterns")
                        .and_then(Value::as_array)
                        .map(|ps| {
                            ps.iter()
                                .filter_map(|p| p.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                    equality: flag("equality", true),
                    comparison: flag("comparison", false),
                })
            }
            _ => None,
        })
        .collect()
}

/// Whether attribute pattern `pattern` (`attr`, `attr*`, `*attr`, `*attr*`, `*`) covers
/// `field`; an attribute also covers the fields nested in it.
fn pattern_matches(pattern: &str, field: &str) -> bool {
    if pattern == field || pattern == "*" {
        return true;
    }
    if field
        .strip_prefix(pattern)
        .is_some_and(|rest| rest.starts_with('.'))
    {
        return true;
    }
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(inner), Some(_)) => field.contains(inner.trim_end_matches('*')),
        (Some(suffix), None) => field.ends_with(suffix),
        (None, Some(prefix)) => field.starts_with(prefix),
        (None, None) => false,
    }
}

/// The first rule covering `attribute`, with its position.
fn rule_for<'a>(rules: &'a [FilterRule], attribute: &str) -> Option<(usize, &'a FilterRule)> {
    rules
        .iter()
        .enumerate()
        .find(|(_, r)| r.patterns.iter().any(|p| pattern_matches(p, attribute)))
}

fn filterable_patterns(rules: &[FilterRule]) -> Vec<String> {
    let patterns: BTreeSet<String> = rules
        .iter()
        .filter(|r| r.equality || r.comparison)
        .flat_map(|r| r.patterns.iter().cloned())
        .collect();
    patterns.into_iter().collect()
}

/// Refuses a filter on attributes `filterableAttributes` does not allow, as Meilisearch does
/// (without the `Index `uid`: ` prefix, which the caller adds).
fn check_filterable(
    filter: &Filter,
    settings: &Map<String, Value>,
    code: &str,
) -> Result<(), ApiError> {
    let rules = filter_rules(settings);
    let mut conditions = Vec::new();
    filter.conditions(&mut conditions);
    for condition in conditions {
        let position = format!(
            "\n{}:{} {}",
            condition.column,
            condition.column + condition.width,
            condition.source
        );
        let (operator, needs_equality) = condition.op.feature();
        let attribute = &condition.attribute;
        match rule_for(&rules, attribute) {
            Some((number, rule)) if rule.equality || rule.comparison => {
                let allowed = match needs_equality {
                    Some(true) => rule.equality,
                    Some(false) => rule.comparison,
                    None => true,
                };
                if !allowed {
                    let mut operators = vec!["OR", "AND", "NOT"];
                    if rule.equality {
                        operators.extend(["=", "!=", "IN"]);
                    }
                    if rule.comparison {
                        operators.extend(["<", ">", "<=", ">=", "TO"]);
                    }
                    operators.extend(["IS EMPTY", "IS NULL", "EXISTS"]);
                    let feature = if needs_equality == Some(true) {
                        "equality"
                    } else {
                        "comparison"
                    };
                    return Err(ApiError::new(
                        code,
                        format!(
                            "Filter operator `{operator}` is not allowed for the attribute `{attribute}`.\n  - Note: allowed operators: {}.\n  - Note: field `{attribute}` matched rule #{number} in `filterableAttributes`\n  - Hint: enable {feature} in rule #{number} by modifying the features.filter object\n  - Hint: prepend another rule matching `{attribute}` with appropriate filter features before rule #{number}{position}",
                            operators.join(", ")
                        ),
                    ));
                }
            }
            _ => {
                let available = filterable_patterns(&rules);
                let suffix = if available.is_empty() {
                    " This index does not have configured filterable attributes.".to_owned()
                } else {
                    format!(
                        " Available filterable attribute patterns are: {}.",
                        available
                            .iter()
                            .map(|p| format!("`{p}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                return Err(ApiError::new(
                    code,
                    format!("Attribute `{attribute}` is not filterable.{suffix}{position}"),
                ));
            }
        }
    }
    Ok(())
}

/// Parses a `filter` (a string, or an array of strings and arrays of strings: the outer array
/// ANDed, inner ones ORed). `None` when it filters nothing.
fn parse_filter(value: &Value, code: &str) -> Result<Option<Filter>, ApiError> {
    let invalid = |expected: &str, found: &Value| {
        ApiError::new(
            code,
            format!(
                "Invalid syntax for the filter parameter: `expected {expected}, found: {found}`."
            ),
        )
    };
    let parse =
        |source: &str| parse_expression(source).map_err(|message| ApiError::new(code, message));
    match value {
        Value::Null => Ok(None),
        Value::String(source) => parse(source),
        Value::Array(items) => {
            let mut all = Vec::new();
            for item in items {
                match item {
                    Value::String(source) => all.extend(parse(source)?),
                    Value::Array(alternatives) => {
                        let mut any = Vec::new();
                        for alternative in alternatives {
                            match alternative {
                                Value::String(source) => any.extend(parse(source)?),
                                other => return Err(invalid("String", other)),
                            }
                        }
                        if !any.is_empty() {
                            all.push(Filter::Or(any));
                        }
                    }
                    other => return Err(invalid("String, Array", other)),
                }
            }
            Ok((!all.is_empty()).then_some(Filter::And(all)))
        }
        other => Err(invalid("String, Array", other)),
    }
}

/// A token of the filter language, with its 1-based column and width in characters.
#[derive(Debug, Clone)]
struct Token {
    kind: TokenKind,
    column: usize,
    width: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum TokenKind {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Comma,
    Compare(&'static str),
    Word(String),
    Quoted(String),
}

const KEYWORDS: [&str; 9] = [
    "AND", "OR", "NOT", "TO", "IN", "EXISTS", "IS", "NULL", "EMPTY",
];

fn is_keyword(word: &str, keyword: &str) -> bool {
    word.eq_ignore_ascii_case(keyword)
}

/// The message of a filter syntax error: the diagnostic, then where, as Meilisearch prints it.
fn syntax_error(message: &str, column: usize, width: usize, source: &str) -> String {
    format!("{message}\n{column}:{} {source}", column + width)
}

fn tokenize(source: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let column = i + 1;
        let single = |kind| Token {
            kind,
            column,
            width: 1,
        };
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(single(TokenKind::Open));
                i += 1;
            }
            ')' => {
                tokens.push(single(TokenKind::Close));
                i += 1;
            }
            '[' => {
                tokens.push(single(TokenKind::OpenBracket));
                i += 1;
            }
            ']' => {
                tokens.push(single(TokenKind::CloseBracket));
                i += 1;
            }
            ',' => {
                tokens.push(single(TokenKind::Comma));
                i += 1;
            }
            '=' | '!' | '<' | '>' => {
                let next_is_equal = chars.get(i + 1) == Some(&'=');
                let operator = match (c, next_is_equal) {
                    ('=', _) => "=",
                    ('!', true) => "!=",
                    ('<', true) => "<=",
                    ('>', true) => ">=",
                    ('<', false) => "<",
                    ('>', false) => ">",
                    _ => {
                        return Err(syntax_error(
                            &format!(
                                "Was expecting an operation `=`, `!=`, `>=`, `>`, `<=`, `<`, `IN`, `NOT IN`, `TO`, `EXISTS`, `NOT EXISTS`, `IS NULL`, `IS NOT NULL`, `IS EMPTY`, `IS NOT EMPTY`, `CONTAINS`, `NOT CONTAINS`, `STARTS WITH`, `NOT STARTS WITH`, `_geoRadius`, `_geoBoundingBox` or `_geoPolygon` at `{}`.",
                                chars[i..].iter().collect::<String>()
                            ),
                            column,
                            chars.len() - i,
                            source,
                        ));
                    }
                };
                let width = if operator.len() == 2 { 2 } else { 1 };
                tokens.push(Token {
                    kind: TokenKind::Compare(operator),
                    column,
                    width,
                });
                i += width;
            }
            '\'' | '"' => {
                let quote = c;
                let mut value = String::new();
                let mut j = i + 1;
                let mut closed = false;
                while let Some(&d) = chars.get(j) {
                    if d == '\\' && chars.get(j + 1) == Some(&quote) {
                        value.push(quote);
                        j += 2;
                    } else if d == quote {
                        closed = true;
                        break;
                    } else {
                        value.push(d);
                        j += 1;
                    }
                }
                if !closed {
                    return Err(syntax_error(
                        &format!(
                            "Expression `{}` is missing the following closing delimiter: `{quote}`.",
                            chars[i..].iter().collect::<String>()
                        ),
                        column,
                        chars.len() - i,
                        source,
                    ));
                }
                tokens.push(Token {
                    kind: TokenKind::Quoted(value),
                    column: column + 1,
                    width: j - i - 1,
                });
                i = j + 1;
            }
            _ => {
                let start = i;
                while let Some(&d) = chars.get(i) {
                    if d.is_whitespace() || "()[],=!<>'\"".contains(d) {
                        break;
                    }
                    i += 1;
                }
                tokens.push(Token {
                    kind: TokenKind::Word(chars[start..i].iter().collect()),
                    column,
                    width: i - start,
                });
            }
        }
    }
    Ok(tokens)
}

/// Parses one filter expression; `None` when it is blank.
fn parse_expression(source: &str) -> Result<Option<Filter>, String> {
    let tokens = tokenize(source)?;
    if tokens.is_empty() {
        return Ok(None);
    }
    let mut parser = FilterParser {
        tokens,
        position: 0,
        source,
        depth: 0,
    };
    let filter = parser.or()?;
    if let Some(token) = parser.peek() {
        let rest: String = source.chars().skip(token.column - 1).collect();
        return Err(syntax_error(
            &format!(
                "Found unexpected characters at the end of the filter: `{rest}`. You probably forgot an `OR` or an `AND` rule."
            ),
            token.column,
            rest.chars().count(),
            source,
        ));
    }
    Ok(Some(filter))
}

/// A recursive-descent parser over filter tokens (`OR` binds looser than `AND`, `AND` than
/// `NOT`).
struct FilterParser<'a> {
    tokens: Vec<Token>,
    position: usize,
    source: &'a str,
    depth: usize,
}

impl FilterParser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token { kind: TokenKind::Word(w), .. }) if is_keyword(w, keyword))
    }

    fn end_column(&self) -> usize {
        self.source.chars().count() + 1
    }

    fn rest_from(&self, column: usize) -> String {
        self.source.chars().skip(column.saturating_sub(1)).collect()
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut any = vec![self.and()?];
        while self.peek_keyword("OR") {
            self.position += 1;
            any.push(self.and()?);
        }
        Ok(if any.len() == 1 {
            any.remove(0)
        } else {
            Filter::Or(any)
        })
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut all = vec![self.not()?];
        while self.peek_keyword("AND") {
            self.position += 1;
            all.push(self.not()?);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Filter::And(all)
        })
    }

    fn not(&mut self) -> Result<Filter, String> {
        if self.peek_keyword("NOT") {
            self.position += 1;
            return Ok(Filter::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Filter, String> {
        self.depth += 1;
        if self.depth > 2000 {
            return Err(syntax_error(
                "The filter exceeded the maximum depth limit. Try rewriting the filter so that it contains fewer nested conditions.",
                1,
                0,
                self.source,
            ));
        }
        let token = self.next();
        let result = match token {
            Some(Token {
                kind: TokenKind::Open,
                column,
                ..
            }) => {
                let inner = self.or()?;
                match self.next() {
                    Some(Token {
                        kind: TokenKind::Close,
                        ..
                    }) => Ok(inner),
                    _ => {
                        let rest = self.rest_from(column);
                        Err(syntax_error(
                            &format!(
                                "Expression `{rest}` is missing the following closing delimiter: `)`."
                            ),
                            column,
                            rest.chars().count(),
                            self.source,
                        ))
                    }
                }
            }
            Some(Token {
                kind: TokenKind::Word(word),
                column,
                width,
            }) if !KEYWORDS.iter().any(|k| is_keyword(&word, k)) => {
                self.condition(word, column, width)
            }
            Some(Token {
                kind: TokenKind::Quoted(word),
                column,
                width,
            }) => self.condition(word, column, width),
            Some(Token {
                kind: TokenKind::Word(word),
                column,
                width,
            }) => Err(syntax_error(
                &format!(
                    "Was expecting a value but instead got `{word}`, which is a reserved keyword. To use `{word}` as a field name or a value, surround it by quotes."
                ),
                column,
                width,
                self.source,
            )),
            Some(token) => {
                let rest = self.rest_from(token.column);
                Err(syntax_error(
                    &format!("Was expecting a value but instead got `{rest}`."),
                    token.column,
                    rest.chars().count(),
                    self.source,
                ))
            }
            None => Err(syntax_error(
                "Was expecting a value but instead got nothing.",
                self.end_column(),
                0,
                self.source,
            )),
        };
        self.depth -= 1;
        result
    }

    /// A value: a quoted string or a word that is not a keyword.
    fn value(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token {
                kind: TokenKind::Quoted(value),
                ..
            }) => Ok(value),
            Some(Token {
                kind: TokenKind::Word(word),
                column,
                width,
            }) => {
                if KEYWORDS.iter().any(|k| is_keyword(&word, k)) {
                    Err(syntax_error(
                        &format!(
                            "Was expecting a value but instead got `{word}`, which is a reserved keyword. To use `{word}` as a field name or a value, surround it by quotes."
                        ),
                        column,
                        width,
                        self.source,
                    ))
                } else {
                    Ok(word)
                }
            }
            Some(token) => {
                let rest = self.rest_from(token.column);
                Err(syntax_error(
                    &format!("Was expecting a value but instead got `{rest}`."),
                    token.column,
                    rest.chars().count(),
                    self.source,
                ))
            }
            None => Err(syntax_error(
                "Was expecting a value but instead got nothing.",
                self.end_column(),
                0,
                self.source,
            )),
        }
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<(), String> {
        if self.peek_keyword(keyword) {
            self.position += 1;
            Ok(())
        } else {
            Err(self.operation_expected())
        }
    }

    fn operation_expected(&self) -> String {
        let (column, text) = match self.peek() {
            Some(token) => {
                let rest = self.rest_from(token.column);
                (token.column, format!("at `{rest}`."))
            }
            None => (self.end_column(), "but instead got nothing.".to_owned()),
        };
        syntax_error(
            &format!(
                "Was expecting an operation `=`, `!=`, `>=`, `>`, `<=`, `<`, `IN`, `NOT IN`, `TO`, `EXISTS`, `NOT EXISTS`, `IS NULL`, `IS NOT NULL`, `IS EMPTY`, `IS NOT EMPTY`, `CONTAINS`, `NOT CONTAINS`, `STARTS WITH`, `NOT STARTS WITH`, `_geoRadius`, `_geoBoundingBox` or `_geoPolygon` {text}"
            ),
            column,
            self.source.chars().count() + 1 - column,
            self.source,
        )
    }

    fn list(&mut self) -> Result<Vec<String>, String> {
        match self.next() {
            Some(Token {
                kind: TokenKind::OpenBracket,
                ..
            }) => {}
            _ => {
                return Err(syntax_error(
                    "Expected `[` after `IN` keyword.",
                    self.end_column(),
                    0,
                    self.source,
                ));
            }
        }
        let mut values = Vec::new();
        loop {
            if matches!(
                self.peek(),
                Some(Token {
                    kind: TokenKind::CloseBracket,
                    ..
                })
            ) {
                self.position += 1;
                return Ok(values);
            }
            values.push(self.value()?);
            match self.next() {
                Some(Token {
                    kind: TokenKind::Comma,
                    ..
                }) => {}
                Some(Token {
                    kind: TokenKind::CloseBracket,
                    ..
                }) => return Ok(values),
                _ => {
                    return Err(syntax_error(
                        "Expected matching `]` after the list of field names given to `IN[`",
                        self.end_column(),
                        0,
                        self.source,
                    ));
                }
            }
        }
    }

    fn condition(
        &mut self,
        attribute: String,
        column: usize,
        width: usize,
    ) -> Result<Filter, String> {
        let op = match self.peek().map(|t| t.kind.clone()) {
            Some(TokenKind::Compare(operator)) => {
                self.position += 1;
                let value = self.value()?;
                match operator {
                    "=" => Op::Equal(value),
                    "!=" => Op::NotEqual(value),
                    ">" => Op::Greater(value),
                    ">=" => Op::GreaterOrEqual(value),
                    "<" => Op::Lower(value),
                    _ => Op::LowerOrEqual(value),
                }
            }
            Some(TokenKind::Word(word)) if is_keyword(&word, "IN") => {
                self.position += 1;
                Op::In(self.list()?)
            }
            Some(TokenKind::Word(word)) if is_keyword(&word, "EXISTS") => {
                self.position += 1;
                Op::Exists
            }
            Some(TokenKind::Word(word)) if is_keyword(&word, "NOT") => {
                self.position += 1;
                if self.peek_keyword("IN") {
                    self.position += 1;
                    Op::NotIn(self.list()?)
                } else {
                    self.expect_keyword("EXISTS")?;
                    Op::NotExists
                }
            }
            Some(TokenKind::Word(word)) if is_keyword(&word, "IS") => {
                self.position += 1;
                let negated = self.peek_keyword("NOT");
                if negated {
                    self.position += 1;
                }
                if self.peek_keyword("NULL") {
                    self.position += 1;
                    if negated { Op::IsNotNull } else { Op::IsNull }
                } else {
                    self.expect_keyword("EMPTY")?;
                    if negated { Op::IsNotEmpty } else { Op::IsEmpty }
                }
            }
            Some(TokenKind::Word(_) | TokenKind::Quoted(_)) if matches!(self.tokens.get(self.position + 1), Some(Token { kind: TokenKind::Word(w), .. }) if is_keyword(w, "TO")) =>
            {
                let from = self.value()?;
                self.position += 1;
                let to = self.value()?;
                Op::Between(from, to)
            }
            _ => return Err(self.operation_expected()),
        };
        Ok(Filter::Condition(Condition {
            attribute,
            column,
            width,
            source: self.source.to_owned(),
            op,
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// Words
// ---------------------------------------------------------------------------------------------

/// Latin letters without their diacritics, as Meilisearch's normalizer folds them.
fn fold(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ą' => 'a',
        'ç' | 'ć' | 'č' => 'c',
        'ď' => 'd',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => 'e',
        'ì' | 'í' | 'î' | 'ï' | 'ī' => 'i',
        'ł' => 'l',
        'ñ' | 'ń' | 'ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => 'o',
        'ř' => 'r',
        'ś' | 'š' => 's',
        'ť' => 't',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' => 'u',
        'ý' | 'ÿ' => 'y',
        'ź' | 'ż' | 'ž' => 'z',
        other => other,
    }
}

/// The lower-case alphanumeric words of `text`, diacritics folded.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in text.chars().flat_map(char::to_lowercase).map(fold) {
        if c.is_alphanumeric() {
            current.push(c);
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The optimal-string-alignment distance from `query` to `word` (a swap of neighbours is one
/// edit); with `prefix`, to the closest prefix of `word`.
fn edit_distance(query: &[char], word: &[char], prefix: bool) -> usize {
    let mut before: Vec<usize> = Vec::new();
    let mut previous: Vec<usize> = (0..=word.len()).collect();
    for (i, &q) in query.iter().enumerate() {
        let mut current = Vec::with_capacity(word.len() + 1);
        current.push(i + 1);
        for (j, &w) in word.iter().enumerate() {
            let substitution = previous[j] + usize::from(q != w);
            let mut best = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
            if i > 0 && j > 0 && Some(&q) == word.get(j - 1) && query.get(i - 1) == Some(&w) {
                best = best.min(before[j - 1] + 1);
            }
            current.push(best);
        }
        before = std::mem::replace(&mut previous, current);
    }
    if prefix {
        previous.iter().copied().min().unwrap_or(0)
    } else {
        previous.last().copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use reqwest::Method as HttpMethod;

    const MASTER: &str = "master-key-0123456789abcdef";
    const SEARCH: &str = "search-key-0123456789abcdef";
    const SEARCH_UID: &str = "76cf8b87-fd12-4688-ad34-260d930ca4f4";

    async fn double() -> MeiliDouble {
        MeiliDouble::start(MASTER, SEARCH, SEARCH_UID).await
    }

    /// Sends a request (with `key` as bearer and `body` as JSON) and returns status and body
    /// (`Null` when empty).
    async fn send(
        double: &MeiliDouble,
        method: HttpMethod,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request =
            kit::server::http_client().request(method, format!("{}{path}", double.url()));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the double answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("a JSON body")
        };
        (status, body)
    }

    async fn task(double: &MeiliDouble, accepted: &Value) -> Value {
        let uid = accepted["taskUid"].as_u64().expect("a task uid");
        let (status, task) = send(
            double,
            HttpMethod::GET,
            &format!("/tasks/{uid}"),
            Some(MASTER),
            None,
        )
        .await;
        assert_eq!(status, 200);
        task
    }

    /// Sends an admin write and returns the task it created, once processed.
    async fn write(double: &MeiliDouble, method: HttpMethod, path: &str, body: Value) -> Value {
        let (status, accepted) = send(double, method, path, Some(MASTER), Some(body)).await;
        assert_eq!(status, 202, "{accepted}");
        assert_eq!(accepted["status"], "enqueued");
        task(double, &accepted).await
    }

    async fn search(double: &MeiliDouble, key: &str, body: Value) -> (u16, Value) {
        send(
            double,
            HttpMethod::POST,
            "/indexes/courses/search",
            Some(key),
            Some(body),
        )
        .await
    }

    fn ids(response: &Value) -> Vec<String> {
        response["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .map(|h| match &h["id"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect()
    }

    fn tenant_token(rules: Value, exp: Option<i64>, key: &str, uid: &str) -> String {
        let mut claims = json!({ "apiKeyUid": uid, "searchRules": rules });
        if let Some(exp) = exp {
            claims["exp"] = json!(exp);
        }
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(key.as_bytes()),
        )
        .expect("signs the token")
    }

    fn token(rules: Value) -> String {
        tenant_token(
            rules,
            Some(Utc::now().timestamp() + 600),
            SEARCH,
            SEARCH_UID,
        )
    }

    /// Index `courses` with two tenants' courses, `tenant_id` and `level` filterable.
    async fn courses(double: &MeiliDouble) {
        let settings = write(
            double,
            HttpMethod::PATCH,
            "/indexes/courses/settings",
            json!({
                "filterableAttributes": ["tenant_id", "level"],
                "searchableAttributes": ["title", "description"],
                "sortableAttributes": ["title"],
            }),
        )
        .await;
        assert_eq!(settings["status"], "succeeded");
        let added = write(
            double,
            HttpMethod::POST,
            "/indexes/courses/documents?primaryKey=id",
            json!([
                { "id": "1", "tenant_id": "t1", "level": 1, "title": "Algebra basics", "description": "numbers" },
                { "id": "2", "tenant_id": "t1", "level": 2, "title": "Geometry", "description": "algebra of shapes" },
                { "id": "3", "tenant_id": "t2", "level": 2, "title": "Linear algebra", "description": "matrices and algebra" },
                { "id": "4", "tenant_id": "t2", "level": 1, "title": "History", "description": "kings" },
            ]),
        )
        .await;
        assert_eq!(added["status"], "succeeded", "{added}");
    }

    #[tokio::test]
    async fn indexes_are_created_through_tasks_like_meilisearch() {
        let double = double().await;
        let (status, accepted) = send(
            &double,
            HttpMethod::POST,
            "/indexes",
            Some(MASTER),
            Some(json!({ "uid": "courses", "primaryKey": "id" })),
        )
        .await;
        assert_eq!(status, 202);
        assert_eq!(accepted["taskUid"], 0);
        assert_eq!(accepted["indexUid"], "courses");
        assert_eq!(accepted["status"], "enqueued");
        assert_eq!(accepted["type"], "indexCreation");
        let enqueued_at = accepted["enqueuedAt"].as_str().expect("enqueuedAt");
        chrono::DateTime::parse_from_rfc3339(enqueued_at).expect("RFC 3339");

        let created = task(&double, &accepted).await;
        assert_eq!(created["uid"], 0);
        assert_eq!(created["status"], "succeeded");
        assert_eq!(created["type"], "indexCreation");
        assert_eq!(created["indexUid"], "courses");
        assert_eq!(created["details"], json!({ "primaryKey": "id" }));
        assert_eq!(created["error"], Value::Null);
        assert_eq!(created["duration"], "PT0S");
        for field in ["enqueuedAt", "startedAt", "finishedAt"] {
            chrono::DateTime::parse_from_rfc3339(created[field].as_str().expect(field))
                .expect(field);
        }

        let (status, index) = send(
            &double,
            HttpMethod::GET,
            "/indexes/courses",
            Some(MASTER),
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(index["uid"], "courses");
        assert_eq!(index["primaryKey"], "id");
        chrono::DateTime::parse_from_rfc3339(index["createdAt"].as_str().expect("createdAt"))
            .expect("createdAt");

        let again = write(
            &double,
            HttpMethod::POST,
            "/indexes",
            json!({ "uid": "courses" }),
        )
        .await;
        assert_eq!(again["status"], "failed");
        assert_eq!(
            again["error"],
            json!({
                "message": "Index `courses` already exists.",
                "code": "index_already_exists",
                "type": "invalid_request",
                "link": "https://docs.meilisearch.com/errors#index_already_exists",
            })
        );

        let (status, missing) = send(
            &double,
            HttpMethod::GET,
            "/indexes/nope",
            Some(MASTER),
            None,
        )
        .await;
        assert_eq!(status, 404);
        assert_eq!(
            missing,
            json!({
                "message": "Index `nope` not found.",
                "code": "index_not_found",
                "type": "invalid_request",
                "link": "https://docs.meilisearch.com/errors#index_not_found",
            })
        );

        let (status, invalid) = send(
            &double,
            HttpMethod::POST,
            "/indexes",
            Some(MASTER),
            Some(json!({ "uid": "no spaces" })),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(invalid["code"], "invalid_index_uid");

        let (status, unknown) =
            send(&double, HttpMethod::GET, "/tasks/99", Some(MASTER), None).await;
        assert_eq!(status, 404);
        assert_eq!(unknown["code"], "task_not_found");

        let (status, listed) = send(&double, HttpMethod::GET, "/indexes", Some(MASTER), None).await;
        assert_eq!(status, 200);
        assert_eq!(listed["total"], 1);
        double.stop().await;
    }

    #[tokio::test]
    async fn settings_are_merged_and_read_back_with_defaults() {
        let double = double().await;
        let first = write(
            &double,
            HttpMethod::PATCH,
            "/indexes/courses/settings",
            json!({ "filterableAttributes": ["tenant_id"], "searchableAttributes": ["title", "description"] }),
        )
        .await;
        assert_eq!(first["type"], "settingsUpdate");
        assert_eq!(first["status"], "succeeded");
        assert_eq!(
            first["details"],
            json!({ "filterableAttributes": ["tenant_id"], "searchableAttributes": ["title", "description"] })
        );
        write(
            &double,
            HttpMethod::PATCH,
            "/indexes/courses/settings",
            json!({ "sortableAttributes": ["title"], "typoTolerance": { "enabled": false } }),
        )
        .await;
        assert_eq!(
            double.settings("courses"),
            json!({
                "filterableAttributes": ["tenant_id"],
                "searchableAttributes": ["title", "description"],
                "sortableAttributes": ["title"],
                "typoTolerance": { "enabled": false },
            })
        );

        let (status, settings) = send(
            &double,
            HttpMethod::GET,
            "/indexes/courses/settings",
            Some(MASTER),
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(settings["filterableAttributes"], json!(["tenant_id"]));
        assert_eq!(settings["displayedAttributes"], json!(["*"]));
        assert_eq!(
            settings["rankingRules"],
            json!([
                "words",
                "typo",
                "proximity",
                "attribute",
                "sort",
                "exactness"
            ])
        );
        assert_eq!(settings["typoTolerance"]["enabled"], false);
        assert_eq!(
            settings["typoTolerance"]["minWordSizeForTypos"]["oneTypo"],
            5
        );
        assert_eq!(settings["pagination"], json!({ "maxTotalHits": 1000 }));

        let replaced = write(
            &double,
            HttpMethod::PUT,
            "/indexes/courses/settings/filterable-attributes",
            json!(["tenant_id", "level"]),
        )
        .await;
        assert_eq!(
            replaced["details"],
            json!({ "filterableAttributes": ["tenant_id", "level"] })
        );
        let (_, filterable) = send(
            &double,
            HttpMethod::GET,
            "/indexes/courses/settings/filterable-attributes",
            Some(MASTER),
            None,
        )
        .await;
        assert_eq!(filterable, json!(["tenant_id", "level"]));

        let (status, wrong) = send(
            &double,
            HttpMethod::PATCH,
            "/indexes/courses/settings",
            Some(MASTER),
            Some(json!({ "filterableAttributes": "tenant_id" })),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(wrong["code"], "invalid_settings_filterable_attributes");
        let (status, unknown) = send(
            &double,
            HttpMethod::PATCH,
            "/indexes/courses/settings",
            Some(MASTER),
            Some(json!({ "filterable": ["tenant_id"] })),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(unknown["code"], "bad_request");

        let reset = write(
            &double,
            HttpMethod::PATCH,
            "/indexes/courses/settings",
            json!({ "sortableAttributes": null }),
        )
        .await;
        assert_eq!(reset["status"], "succeeded");
        assert_eq!(double.settings("courses").get("sortableAttributes"), None);
        assert_eq!(double.settings("missing"), json!({}));
        double.stop().await;
    }

    #[tokio::test]
    async fn documents_are_added_replaced_updated_and_deleted() {
        let double = double().await;
        let added = write(
            &double,
            HttpMethod::POST,
            "/indexes/courses/documents",
            json!([
                { "id": "b", "title": "B", "extra": 1 },
                { "id": "a", "title": "A" },
            ]),
        )
        .await;
        assert_eq!(added["type"], "documentAdditionOrUpdate");
        assert_eq!(added["status"], "succeeded");
        assert_eq!(
            added["details"],
            json!({ "receivedDocuments": 2, "indexedDocuments": 2 })
        );
        assert_eq!(
            double.documents("courses"),
            vec![
                json!({ "id": "a", "title": "A" }),
                json!({ "id": "b", "title": "B", "extra": 1 })
            ]
        );
        let (_, index) = send(
            &double,
            HttpMethod::GET,
            "/indexes/courses",
            Some(MASTER),
            None,
        )
        .await;
        assert_eq!(index["primaryKey"], "id", "inferred from the documents");

        write(
            &double,
            HttpMethod::POST,
            "/indexes/courses/documents",
            json!([{ "id": "b", "title": "B2" }]),
        )
        .await;
        write(
            &double,
            HttpMethod::PUT,
            "/indexes/courses/documents",
            json!([{ "id": "a", "level": 3 }]),
        )
        .await;
        assert_eq!(
            double.documents("courses"),
            vec![
                json!({ "id": "a", "title": "A", "level": 3 }),
                json!({ "id": "b", "title": "B2" }),
            ]
        );

        let (status, document) = send(
            &double,
            HttpMethod::GET,
            "/indexes/courses/documents/a",
            Some(MASTER),
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(document["level"], 3);
        let (status, missing) = send(
            &double,
            HttpMethod::GET,
            "/indexes/courses/documents/zz",
            Some(MASTER),
            None,
        )
        .await;
        assert_eq!(status, 404);
        assert_eq!(missing["code"], "document_not_found");

        let deleted = write(
            &double,
            HttpMethod::DELETE,
            "/indexes/courses/documents/a",
            Value::Null,
        )
        .await;
        assert_eq!(deleted["type"], "documentDeletion");
        assert_eq!(
            deleted["details"],
            json!({ "providedIds": 1, "deletedDocuments": 1, "originalFilter": null })
        );
        let batch = write(
            &double,
            HttpMethod::POST,
            "/indexes/courses/documents/delete-batch",
            json!(["b", "zz"]),
        )
        .await;
        assert_eq!(batch["details"]["providedIds"], 2);
        assert_eq!(batch["details"]["deletedDocuments"], 1);
        assert!(double.documents("courses").is_empty());

        let no_id = write(
            &double,
            HttpMethod::POST,
            "/indexes/courses/documents",
            json!([{ "title": "?" }]),
        )
        .await;
        assert_eq!(no_id["status"], "failed");
        assert_eq!(no_id["error"]["code"], "missing_document_id");
        let other_key = write(
            &double,
            HttpMethod::POST,
            "/indexes/courses/documents?primaryKey=slug",
            json!([{ "slug": "x" }]),
        )
        .await;
        assert_eq!(
            other_key["error"]["code"],
            "index_primary_key_already_exists"
        );
        let bad_id = write(
            &double,
            HttpMethod::POST,
            "/indexes/courses/documents",
            json!([{ "id": "a b" }]),
        )
        .await;
        assert_eq!(bad_id["error"]["code"], "invalid_document_id");
        assert!(double.documents("courses").is_empty());
        double.stop().await;
    }

    #[tokio::test]
    async fn search_matches_words_and_ranks_like_meilisearch() {
        let double = double().await;
        courses(&double).await;

        let (status, response) = search(&double, MASTER, json!({ "q": "algebra" })).await;
        assert_eq!(status, 200);
        assert_eq!(
            ids(&response),
            ["1", "3", "2"],
            "title matches before description ones"
        );
        assert_eq!(response["query"], "algebra");
        assert_eq!(response["processingTimeMs"], 0);
        assert_eq!(response["limit"], 20);
        assert_eq!(response["offset"], 0);
        assert_eq!(response["estimatedTotalHits"], 3);
        assert_eq!(
            response["hits"][0]["description"], "numbers",
            "whole documents"
        );

        let (_, prefix) = search(&double, MASTER, json!({ "q": "alg" })).await;
        assert_eq!(ids(&prefix), ["1", "3", "2"]);
        let (_, typo) = search(&double, MASTER, json!({ "q": "algebar" })).await;
        assert_eq!(ids(&typo), ["1", "3", "2"]);
        let (_, last) = search(&double, MASTER, json!({ "q": "algebra basics" })).await;
        assert_eq!(
            ids(&last),
            ["1", "3", "2"],
            "more matched words first, then fewer"
        );
        let (_, all) = search(
            &double,
            MASTER,
            json!({ "q": "algebra basics", "matchingStrategy": "all" }),
        )
        .await;
        assert_eq!(ids(&all), ["1"]);
        let (_, none) = search(&double, MASTER, json!({ "q": "zzz" })).await;
        assert_eq!(ids(&none), Vec::<String>::new());

        let (_, page) = search(
            &double,
            MASTER,
            json!({ "q": "algebra", "limit": 1, "offset": 1 }),
        )
        .await;
        assert_eq!(ids(&page), ["3"]);
        assert_eq!(page["estimatedTotalHits"], 3);
        let (_, placeholder) = search(&double, MASTER, json!({})).await;
        assert_eq!(ids(&placeholder), ["1", "2", "3", "4"]);
        assert_eq!(placeholder["query"], "");
        let (_, retrieved) = search(
            &double,
            MASTER,
            json!({ "q": "history", "attributesToRetrieve": ["id", "title"] }),
        )
        .await;
        assert_eq!(
            retrieved["hits"],
            json!([{ "id": "4", "title": "History" }])
        );
        let (_, sorted) = search(&double, MASTER, json!({ "sort": ["title:desc"] })).await;
        assert_eq!(ids(&sorted), ["3", "4", "2", "1"]);
        let (_, filtered) = search(
            &double,
            MASTER,
            json!({ "filter": "(level = 2 AND tenant_id = \"t2\") OR level = '9'" }),
        )
        .await;
        assert_eq!(ids(&filtered), ["3"]);
        let (_, by_array) = search(
            &double,
            MASTER,
            json!({ "filter": ["level = 1", ["tenant_id = t1", "tenant_id = t3"]] }),
        )
        .await;
        assert_eq!(ids(&by_array), ["1"]);
        let (_, facets) = search(&double, MASTER, json!({ "facets": ["tenant_id"] })).await;
        assert_eq!(
            facets["facetDistribution"],
            json!({ "tenant_id": { "t1": 2, "t2": 2 } })
        );

        let (status, by_get) = send(
            &double,
            HttpMethod::GET,
            "/indexes/courses/search?q=geometry&filter=tenant_id%20%3D%20t1",
            Some(MASTER),
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(ids(&by_get), ["2"]);

        let (status, missing) = send(
            &double,
            HttpMethod::POST,
            "/indexes/nope/search",
            Some(MASTER),
            Some(json!({ "q": "x" })),
        )
        .await;
        assert_eq!(status, 404);
        assert_eq!(missing["code"], "index_not_found");
        let (status, unsortable) = search(&double, MASTER, json!({ "sort": ["level:asc"] })).await;
        assert_eq!(status, 400);
        assert_eq!(unsortable["code"], "invalid_search_sort");
        double.stop().await;
    }

    #[tokio::test]
    async fn tenant_tokens_restrict_searches_to_their_tenant() {
        let double = double().await;
        courses(&double).await;

        let t1 = token(json!({ "courses": { "filter": "tenant_id = 't1'" } }));
        let (status, response) = search(&double, &t1, json!({ "q": "" })).await;
        assert_eq!(status, 200);
        assert_eq!(ids(&response), ["1", "2"]);
        let (_, algebra) = search(&double, &t1, json!({ "q": "algebra" })).await;
        assert_eq!(ids(&algebra), ["1", "2"], "tenant t2's course is not found");
        let (_, anded) = search(&double, &t1, json!({ "filter": "level = 2" })).await;
        assert_eq!(
            ids(&anded),
            ["2"],
            "the request's filter is ANDed with the token's"
        );
        let (_, escape) = search(
            &double,
            &t1,
            json!({ "filter": "tenant_id = t2 OR level = 1" }),
        )
        .await;
        assert_eq!(
            ids(&escape),
            ["1"],
            "an OR in the request cannot widen the token's filter"
        );

        for rules in [
            json!(["*"]),
            json!(["courses"]),
            json!({ "*": null }),
            json!({ "cour*": {} }),
        ] {
            let (status, all) = search(&double, &token(rules.clone()), json!({})).await;
            assert_eq!(status, 200, "{rules}");
            assert_eq!(ids(&all), ["1", "2", "3", "4"], "{rules}");
        }
        let specific = token(json!({ "*": null, "courses": { "filter": "tenant_id = t2" } }));
        let (_, t2) = search(&double, &specific, json!({})).await;
        assert_eq!(ids(&t2), ["3", "4"], "the exact index's rule wins over `*`");

        let elsewhere = token(json!({ "other": null }));
        let (status, refused) = search(&double, &elsewhere, json!({})).await;
        assert_eq!(status, 403);
        assert_eq!(refused["code"], "invalid_api_key");
        assert_eq!(
            refused["message"],
            "The provided tenant token cannot acces the index `courses`, allowed indexes are [\"other\"]."
        );

        let (status, admin) = send(
            &double,
            HttpMethod::GET,
            "/indexes/courses",
            Some(&t1),
            None,
        )
        .await;
        assert_eq!(status, 403, "tenant tokens only search");
        assert_eq!(admin["code"], "invalid_api_key");
        let (status, _) = search(&double, SEARCH, json!({})).await;
        assert_eq!(status, 200, "the search key searches");
        let (status, _) = send(
            &double,
            HttpMethod::GET,
            "/indexes/courses",
            Some(SEARCH),
            None,
        )
        .await;
        assert_eq!(status, 403, "the search key does nothing else");
        double.stop().await;
    }

    #[tokio::test]
    async fn token_filters_on_attributes_not_filterable_are_refused() {
        let double = double().await;
        let added = write(
            &double,
            HttpMethod::POST,
            "/indexes/courses/documents?primaryKey=id",
            json!([{ "id": 1, "tenant_id": "t1" }]),
        )
        .await;
        assert_eq!(added["status"], "succeeded");
        let (status, refused) = search(
            &double,
            &token(json!({ "courses": { "filter": "tenant_id = t1" } })),
            json!({}),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(
            refused,
            json!({
                "message": "Index `courses`: Attribute `tenant_id` is not filterable. This index does not have configured filterable attributes.\n1:10 tenant_id = t1",
                "code": "invalid_search_filter",
                "type": "invalid_request",
                "link": "https://docs.meilisearch.com/errors#invalid_search_filter",
            })
        );
        write(
            &double,
            HttpMethod::PATCH,
            "/indexes/courses/settings",
            json!({ "filterableAttributes": ["level"] }),
        )
        .await;
        let (status, refused) = search(
            &double,
            MASTER,
            json!({ "filter": "level = 1 AND tenant_id = t1" }),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(
            refused["message"],
            "Index `courses`: Attribute `tenant_id` is not filterable. Available filterable attribute patterns are: `level`.\n15:24 level = 1 AND tenant_id = t1"
        );
        let (status, unparsable) = search(&double, MASTER, json!({ "filter": "level ~ 1" })).await;
        assert_eq!(status, 400);
        assert_eq!(unparsable["code"], "invalid_search_filter");
        let (status, wrong_type) = search(&double, MASTER, json!({ "filter": 3 })).await;
        assert_eq!(status, 400);
        assert_eq!(wrong_type["code"], "invalid_search_filter");
        double.stop().await;
    }

    #[tokio::test]
    async fn expired_and_wrongly_signed_tokens_are_refused() {
        let double = double().await;
        courses(&double).await;
        let rules = json!({ "courses": { "filter": "tenant_id = t1" } });

        let expired = tenant_token(
            rules.clone(),
            Some(Utc::now().timestamp() - 10),
            SEARCH,
            SEARCH_UID,
        );
        let (status, refused) = search(&double, &expired, json!({})).await;
        assert_eq!(status, 403);
        assert_eq!(refused["code"], "invalid_api_key");
        assert_eq!(refused["type"], "auth");
        assert!(
            refused["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Tenant token expired. Was valid up to `")),
            "{refused}"
        );

        let forged = tenant_token(rules.clone(), None, "not-the-search-key", SEARCH_UID);
        let (status, refused) = search(&double, &forged, json!({})).await;
        assert_eq!(status, 403);
        assert_eq!(refused["code"], "invalid_api_key");
        assert_eq!(
            refused["message"],
            "Could not decode tenant token, InvalidSignature."
        );

        let other_key = tenant_token(rules, None, SEARCH, "11111111-1111-4111-8111-111111111111");
        let (status, refused) = search(&double, &other_key, json!({})).await;
        assert_eq!(status, 403);
        assert_eq!(refused["code"], "invalid_api_key");

        let (status, _) = search(&double, &token(json!(["courses"])), json!({})).await;
        assert_eq!(status, 200, "without `exp` a token does not expire");
        double.stop().await;
    }

    #[tokio::test]
    async fn multi_search_applies_the_token_per_query_and_stats_count_documents() {
        let double = double().await;
        courses(&double).await;
        let t1 = token(json!({ "courses": { "filter": "tenant_id = t1" } }));
        let (status, response) = send(
            &double,
            HttpMethod::POST,
            "/multi-search",
            Some(&t1),
            Some(json!({ "queries": [
                { "indexUid": "courses", "q": "algebra" },
                { "indexUid": "courses", "filter": "level = 1" },
            ] })),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(response["results"][0]["indexUid"], "courses");
        assert_eq!(ids(&response["results"][0]), ["1", "2"]);
        assert_eq!(ids(&response["results"][1]), ["1"]);

        let elsewhere = token(json!(["other"]));
        let (status, refused) = send(
            &double,
            HttpMethod::POST,
            "/multi-search",
            Some(&elsewhere),
            Some(json!({ "queries": [{ "indexUid": "courses" }] })),
        )
        .await;
        assert_eq!(status, 403);
        assert_eq!(
            refused["message"],
            "Inside `.queries[0]`: The provided API key is invalid."
        );

        let (status, stats) = send(
            &double,
            HttpMethod::GET,
            "/indexes/courses/stats",
            Some(MASTER),
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(stats["numberOfDocuments"], 4);
        assert_eq!(stats["isIndexing"], false);
        assert_eq!(stats["fieldDistribution"]["title"], 4);
        let (_, global) = send(&double, HttpMethod::GET, "/stats", Some(MASTER), None).await;
        assert_eq!(global["indexes"]["courses"]["numberOfDocuments"], 4);
        double.stop().await;
    }

    #[tokio::test]
    async fn missing_or_wrong_authorization_is_refused() {
        let double = double().await;
        let (status, missing) = send(&double, HttpMethod::GET, "/indexes", None, None).await;
        assert_eq!(status, 401);
        assert_eq!(
            missing,
            json!({
                "message": "The Authorization header is missing. It must use the bearer authorization method.",
                "code": "missing_authorization_header",
                "type": "auth",
                "link": "https://docs.meilisearch.com/errors#missing_authorization_header",
            })
        );
        let basic = kit::server::http_client()
            .get(format!("{}/indexes", double.url()))
            .header("Authorization", "Basic bWU6cHc=")
            .send()
            .await
            .expect("answers");
        assert_eq!(basic.status().as_u16(), 401);

        let (status, wrong) = send(&double, HttpMethod::GET, "/indexes", Some("wrong"), None).await;
        assert_eq!(status, 403);
        assert_eq!(
            wrong,
            json!({
                "message": "The provided API key is invalid.",
                "code": "invalid_api_key",
                "type": "auth",
                "link": "https://docs.meilisearch.com/errors#invalid_api_key",
            })
        );
        let (status, _) = search(&double, "wrong", json!({})).await;
        assert_eq!(status, 403);
        let (status, _) = send(
            &double,
            HttpMethod::POST,
            "/indexes/courses/search",
            None,
            Some(json!({})),
        )
        .await;
        assert_eq!(status, 401);

        let (status, health) = send(&double, HttpMethod::GET, "/health", None, None).await;
        assert_eq!((status, health), (200, json!({ "status": "available" })));
        let (status, body) = send(&double, HttpMethod::GET, "/nowhere", Some(MASTER), None).await;
        assert_eq!((status, body), (404, Value::Null));
        let (status, body) = send(&double, HttpMethod::PUT, "/indexes", Some(MASTER), None).await;
        assert_eq!((status, body), (405, Value::Null));
        double.stop().await;
    }

    #[tokio::test]
    async fn every_request_is_recorded_in_order() {
        let double = double().await;
        send(
            &double,
            HttpMethod::POST,
            "/indexes/courses/documents?primaryKey=id",
            Some(MASTER),
            Some(json!([{ "id": 1 }])),
        )
        .await;
        send(&double, HttpMethod::GET, "/indexes", None, None).await;
        send(
            &double,
            HttpMethod::GET,
            "/nowhere?x=1",
            Some("wrong"),
            None,
        )
        .await;

        let requests = double.requests();
        assert_eq!(requests.len(), 3);
        let first = &requests[0];
        assert_eq!(first.method, "POST");
        assert_eq!(first.path, "/indexes/courses/documents");
        assert_eq!(first.query, "primaryKey=id");
        assert_eq!(
            first.authorization.as_deref(),
            Some(format!("Bearer {MASTER}").as_str())
        );
        assert_eq!(first.body, json!([{ "id": 1 }]));
        let refused = &requests[1];
        assert_eq!(
            (refused.method.as_str(), refused.path.as_str()),
            ("GET", "/indexes")
        );
        assert_eq!(refused.authorization, None);
        assert_eq!(refused.body, Value::Null);
        assert_eq!(requests[2].query, "x=1");
        assert_eq!(requests[2].authorization.as_deref(), Some("Bearer wrong"));
        double.stop().await;
    }

    #[test]
    fn filters_parse_meilisearch_syntax() {
        let document: Document = match json!({ "a": "X", "n": 5, "tags": ["red", "blue"], "o": { "p": "q" }, "e": "" })
        {
            Value::Object(map) => map,
            _ => unreachable!(),
        };
        let check = |source: &str| {
            parse_expression(source)
                .expect("parses")
                .expect("not blank")
                .matches(&document)
        };
        assert!(check("a = x"));
        assert!(check("a = 'X' and n = 5"));
        assert!(check("(a = \"x\") AND (n >= 5)"));
        assert!(check("a = y OR n > 4"));
        assert!(!check("NOT a = x"));
        assert!(check("a != y"));
        assert!(check("tags = blue"));
        assert!(check("tags IN [green, red]"));
        assert!(check("tags NOT IN [green]"));
        assert!(check("n 1 TO 5"));
        assert!(check("o.p = q"));
        assert!(check("missing NOT EXISTS AND a EXISTS"));
        assert!(check("e IS EMPTY AND a IS NOT NULL"));
        assert!(check("a = 'it\\'s' OR a = x"));
        assert!(parse_expression("  ").expect("blank is fine").is_none());
        for wrong in [
            "a",
            "a =",
            "a ~ 1",
            "(a = 1",
            "a = 1 b = 2",
            "a = 'open",
            "AND = 1",
        ] {
            assert!(parse_expression(wrong).is_err(), "{wrong}");
        }
        let message = parse_expression("a = 1 b = 2").expect_err("trailing");
        assert_eq!(
            message,
            "Found unexpected characters at the end of the filter: `b = 2`. You probably forgot an `OR` or an `AND` rule.\n7:12 a = 1 b = 2"
        );
    }

    #[test]
    fn words_match_with_prefixes_and_typos() {
        let term = |word: &str, prefix: bool, max_typos: usize| Term {
            word: word.to_owned(),
            chars: word.chars().collect(),
            prefix,
            max_typos,
        };
        assert_eq!(
            words("Élève, l'algèbre! 3.14"),
            ["eleve", "l", "algebre", "3", "14"]
        );
        assert_eq!(
            match_word(&term("alg", true, 0), "algebra", true),
            Some((0, false))
        );
        assert_eq!(match_word(&term("alg", false, 0), "algebra", true), None);
        assert_eq!(
            match_word(&term("algebar", false, 1), "algebra", true),
            Some((1, false))
        );
        assert_eq!(
            match_word(&term("algebar", false, 1), "algebra", false),
            None
        );
        assert_eq!(
            match_word(&term("blgebra", false, 1), "algebra", true),
            None,
            "a first-letter typo counts twice"
        );
        assert_eq!(
            match_word(&term("algebrq", true, 1), "algebraic", true),
            Some((1, false))
        );
        assert_eq!(edit_distance(&['a', 'b'], &['b', 'a'], false), 1);
        assert_eq!(
            edit_distance(
                &['k', 'i', 't'],
                &['s', 'i', 't', 't', 'i', 'n', 'g'],
                false
            ),
            5
        );
    }
}
