//! The HTTP side of a subgraph: `/graphql`, `/healthz`, `/readyz`, `/metrics`, request ids,
//! per-request spans and metrics, body limits, and serving with graceful shutdown.

use std::future::{Future, IntoFuture};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Once, OnceLock};
use std::time::{Duration, Instant};

use async_graphql::http::GraphiQLSource;
use async_graphql::{ObjectType, Schema, SchemaBuilder, SubscriptionType};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};
use tower_http::limit::RequestBodyLimitLayer;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::auth::{REFUSED, Verifier};
use crate::config::{Config, DatabaseConfig};
use crate::document::{self, Documents};
use crate::error::{Code, DomainError};
use crate::graphql::{Caller, ClientInfo, finish};
use crate::revocation::Suspensions;
use crate::storage::Storage;
use crate::telemetry;
use tenancy::{TenantContext, TenantId};

/// What a subgraph's handlers share.
#[derive(Clone, Debug)]
pub struct Deps {
    /// Pool connected as the subgraph's own role.
    pub db: DatabaseConnection,
    /// Redis (connected lazily, reconnecting): suspension flags, and whatever the subgraph uses
    /// it for. Without it, suspended tenants' tokens are not refused until they expire.
    pub redis: Option<ConnectionManager>,
    /// The suspension flags this process has read from `redis`, kept true by identity's
    /// announcements (never remembering anything without `redis`).
    pub suspensions: Arc<Suspensions>,
    /// Access-token verification.
    pub verifier: Arc<Verifier>,
    /// Object storage, when configured (readiness checks it).
    pub storage: Option<Arc<Storage>>,
}

/// What a subgraph hands the kit: its schema and any HTTP routes of its own (merged beside
/// `/graphql`, sharing its middleware).
pub struct Parts<Q, M, S> {
    /// The schema, without data; the kit adds the pool, the caller and limits.
    pub schema: SchemaBuilder<Q, M, S>,
    /// Extra routes (for example identity's `/.well-known/jwks.json`).
    pub routes: Router,
}

impl<Q, M, S> std::fmt::Debug for Parts<Q, M, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts").finish_non_exhaustive()
    }
}

impl<Q, M, S> From<SchemaBuilder<Q, M, S>> for Parts<Q, M, S> {
    fn from(schema: SchemaBuilder<Q, M, S>) -> Self {
        Self {
            schema,
            routes: Router::new(),
        }
    }
}

struct AppState<Q, M, S> {
    name: &'static str,
    schema: Schema<Q, M, S>,
    deps: Deps,
    graphiql: bool,
    trusted_proxies: Arc<[IpAddr]>,
    documents: Arc<Documents>,
}

impl<Q, M, S> Clone for AppState<Q, M, S> {
    fn clone(&self) -> Self {
        Self {
            name: self.name,
            schema: self.schema.clone(),
            deps: self.deps.clone(),
            graphiql: self.graphiql,
            trusted_proxies: self.trusted_proxies.clone(),
            documents: self.documents.clone(),
        }
    }
}

impl Deps {
    /// The pool (lazy), Redis client and token verifier that `config` describes.
    pub async fn connect(config: &Config) -> Result<Self, RunError> {
        let client = config
            .redis_url
            .as_ref()
            .map(|u| redis::Client::open(u.expose()))
            .transpose()?;
        let suspensions = match &client {
            Some(client) => Suspensions::watch(client.clone())
                .map_err(|e| RunError::Service(format!("suspension watcher: {e}")))?,
            None => Arc::default(),
        };
        let redis = client.map(connect_redis_client).transpose()?;
        Ok(Self {
            db: connect_db(&config.database).await?,
            redis,
            suspensions,
            verifier: Arc::new(Verifier::new(&config.auth)?),
            storage: config
                .storage
                .as_ref()
                .map(|c| Storage::new(c).map(Arc::new))
                .transpose()?,
        })
    }
}

/// A lazily connecting, self-reconnecting Redis connection with short timeouts, so an outage
/// fails requests quickly instead of hanging them.
pub fn connect_redis(url: &str) -> redis::RedisResult<ConnectionManager> {
    connect_redis_client(redis::Client::open(url)?)
}

fn connect_redis_client(client: redis::Client) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(1);
    ConnectionManager::new_lazy_with_config(client, config)
}

/// Installs ring as the process's TLS crypto provider (once).
pub fn install_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The shared outbound HTTP client (rustls, ring).
pub fn http_client() -> reqwest::Client {
    install_crypto();
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_else(|_| reqwest::Client::new())
        })
        .clone()
}

/// The process-wide Prometheus recorder.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed");
            }
            handle
        })
        .clone()
}

/// A pooled connection idle for this long is pinged before it is handed out; one used more
/// recently is taken to be alive. (Pinging on every checkout, the pool's default, cost a round
/// trip per transaction: checkouts fell from 9.3 % to 0.9 % of learning's CPU on the catalog
/// path without it.) A connection that died within the window fails its first message and is
/// dropped from the pool on release: tenant and platform transactions then begin again on
/// another (`tenancy`); a statement sent straight to the pool fails with `UNAVAILABLE`.
pub const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// A lazily connecting pool for the subgraph's role: the process starts even when the database
/// is briefly down, and `/readyz` says so.
pub async fn connect_db(config: &DatabaseConfig) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(config.url.expose());
    opts.max_connections(config.max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(config.acquire_timeout_secs))
        .test_before_acquire_if_idle_for(PING_IDLE_AFTER)
        .connect_lazy(true)
        .sqlx_logging(false);
    Database::connect(opts).await
}

/// The subgraph's router: GraphQL plus health, readiness, metrics and the subgraph's own routes.
pub fn app<Q, M, S>(
    name: &'static str,
    parts: impl Into<Parts<Q, M, S>>,
    deps: Deps,
    config: &Config,
) -> Router
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let parts = parts.into();
    let schema = finish(parts.schema.data(deps.db.clone()), &config.limits);
    let state = AppState {
        name,
        schema,
        deps,
        graphiql: config.graphiql,
        trusted_proxies: config.trusted_proxies.clone().into(),
        documents: Arc::default(),
    };
    let metrics = metrics_handle();
    Router::new()
        .route(
            "/graphql",
            get(graphiql::<Q, M, S>).post(graphql::<Q, M, S>),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz::<Q, M, S>))
        .route(
            "/metrics",
            get(move || std::future::ready(metrics.render())),
        )
        .with_state(state)
        .merge(parts.routes)
        .layer(RequestBodyLimitLayer::new(config.limits.max_body_bytes))
        .layer(middleware::from_fn_with_state(name, observe))
}

async fn graphql<Q, M, S>(
    State(state): State<AppState<Q, M, S>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    req: GraphQLRequest,
) -> Response
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let deps = &state.deps;
    let flags = deps.redis.as_ref().map(|r| (r, &*deps.suspensions));
    let caller = match authenticate(&deps.verifier, flags, &headers).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let caller = match bind_tenant(caller, &headers) {
        Ok(caller) => caller,
        Err(refused) => return refused.response(),
    };
    let client = client_info(peer.map(|c| c.0.0.ip()), &headers, &state.trusted_proxies);
    let request = req.into_inner().data(caller).data(client);
    GraphQLResponse::from(document::execute(&state.schema, &state.documents, request).await)
        .into_response()
}

/// The caller behind the request's bearer token (anonymous without one), or the error response
/// for a refused token: bad, expired, or its tenant suspended (asked of the process's memory of
/// the flags, or of Redis through it). Without Redis, suspension is not checked.
pub async fn authenticate(
    verifier: &Verifier,
    suspensions: Option<(&ConnectionManager, &Suspensions)>,
    headers: &HeaderMap,
) -> Result<Caller, Response> {
    let Some(token) = bearer(headers) else {
        return Ok(Caller::Anonymous);
    };
    let ctx = match verifier.verify(token).await {
        Ok(ctx) => ctx,
        Err(err) => {
            tracing::info!(error = %err, "access token refused");
            return Err(match err.code() {
                Code::Unavailable => unavailable(),
                code => error_response(StatusCode::UNAUTHORIZED, REFUSED, code),
            });
        }
    };
    if let Some((redis, memory)) = suspensions {
        match memory.is_suspended(redis, ctx.tenant()).await {
            Ok(false) => {}
            Ok(true) => {
                tracing::info!(tenant = %ctx.tenant(), "access token of a suspended tenant refused");
                return Err(error_response(
                    StatusCode::UNAUTHORIZED,
                    REFUSED,
                    Code::Unauthenticated,
                ));
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot check tenant suspension");
                return Err(unavailable());
            }
        }
    }
    Ok(Caller::Authenticated(ctx))
}

/// The header the gateway names the request's academy in (from its address). A client that
/// sets it directly gains nothing: a visitor only reads what the academy publishes anyway, and
/// a token of another tenant is refused.
pub const TENANT_HEADER: &str = "x-aula-tenant";

/// Why a request's tenant binding was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindError {
    /// `x-aula-tenant` is not a tenant id.
    BadHeader,
    /// The token belongs to another tenant than the address.
    Mismatch,
}

impl BindError {
    /// The response the client gets.
    pub fn response(self) -> Response {
        match self {
            BindError::BadHeader => error_response(
                StatusCode::BAD_REQUEST,
                "x-aula-tenant is not a tenant id",
                Code::BadRequest,
            ),
            BindError::Mismatch => error_response(
                StatusCode::FORBIDDEN,
                "this token belongs to another academy than this address",
                Code::Forbidden,
            ),
        }
    }
}

/// Applies the gateway's tenant binding: an anonymous caller becomes a visitor of the named
/// academy; a caller whose token belongs to another tenant is refused.
pub fn bind_tenant(caller: Caller, headers: &HeaderMap) -> Result<Caller, BindError> {
    let Some(value) = headers.get(TENANT_HEADER) else {
        return Ok(caller);
    };
    let tenant = value
        .to_str()
        .ok()
        .and_then(|v| v.parse::<TenantId>().ok())
        .ok_or(BindError::BadHeader)?;
    match caller {
        Caller::Anonymous | Caller::Visitor(_) => {
            Ok(Caller::Visitor(TenantContext::anonymous(tenant)))
        }
        Caller::Authenticated(ctx) if ctx.tenant() == tenant => Ok(Caller::Authenticated(ctx)),
        Caller::Authenticated(ctx) => {
            tracing::info!(token = %ctx.tenant(), bound = %tenant, "token of another tenant than the address");
            Err(BindError::Mismatch)
        }
    }
}

fn unavailable() -> Response {
    error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "cannot verify access tokens right now",
        Code::Unavailable,
    )
}

/// The client's address: the first `X-Forwarded-For` hop if the peer is a trusted proxy.
pub fn client_info(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> ClientInfo {
    let forwarded = || {
        headers
            .get("x-forwarded-for")?
            .to_str()
            .ok()?
            .split(',')
            .next()?
            .trim()
            .parse::<IpAddr>()
            .ok()
    };
    let ip = match peer {
        Some(p) if trusted.contains(&p) => forwarded().or(Some(p)),
        other => other,
    };
    ClientInfo { ip }
}

/// A GraphQL-shaped error response outside execution (authentication, limits).
pub fn error_response(status: StatusCode, message: &str, code: Code) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn graphiql<Q, M, S>(State(state): State<AppState<Q, M, S>>) -> Response {
    if state.graphiql {
        Html(GraphiQLSource::build().endpoint("/graphql").finish()).into_response()
    } else {
        error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "use POST for GraphQL requests",
            Code::BadRequest,
        )
    }
}

async fn readyz<Q, M, S>(State(state): State<AppState<Q, M, S>>) -> Response {
    let timeout = Duration::from_secs(2);
    let db = tokio::time::timeout(timeout, state.deps.db.execute_unprepared("SELECT 1")).await;
    let db_ok = matches!(db, Ok(Ok(_)));
    if !db_ok {
        tracing::warn!(service = state.name, result = ?db.map(|r| r.map(|_| ())), "readiness: database check failed");
    }
    let redis_ok = match &state.deps.redis {
        None => None,
        Some(client) => Some(matches!(
            tokio::time::timeout(timeout, redis_ping(client)).await,
            Ok(Ok(()))
        )),
    };
    let storage_ok = match &state.deps.storage {
        None => None,
        Some(storage) => {
            let ping = tokio::time::timeout(timeout, storage.ping()).await;
            if !matches!(ping, Ok(Ok(()))) {
                tracing::warn!(service = state.name, result = ?ping, "readiness: storage check failed");
            }
            Some(matches!(ping, Ok(Ok(()))))
        }
    };
    let ready = db_ok && redis_ok.unwrap_or(true) && storage_ok.unwrap_or(true);
    let word = |ok: bool| if ok { "ok" } else { "failing" };
    let mut checks = serde_json::json!({ "database": word(db_ok) });
    if let Some(ok) = redis_ok {
        checks["redis"] = word(ok).into();
    }
    if let Some(ok) = storage_ok {
        checks["storage"] = word(ok).into();
    }
    let body = serde_json::json!({ "status": if ready { "ready" } else { "not ready" }, "checks": checks });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn redis_ping(conn: &ConnectionManager) -> redis::RedisResult<()> {
    let mut conn = conn.clone();
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .map(|_| ())
}

/// Request id, span (continuing the caller's trace), request log and HTTP metrics.
async fn observe(State(service): State<&'static str>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().clone();
    let span = tracing::info_span!("http", service, %method, path, request_id, status = tracing::field::Empty);
    let _ = span.set_parent(telemetry::remote_context(req.headers()));
    let mut resp = next.run(req).instrument(span.clone()).await;
    let status = resp.status().as_u16();
    span.record("status", status);
    let elapsed = start.elapsed();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    let labels = [
        ("service", service.to_owned()),
        ("path", path.clone()),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels[..2])
        .record(elapsed.as_secs_f64());
    if path == "/graphql" {
        let elapsed_ms = elapsed.as_millis() as u64;
        // The gateway's summary line is the access log; here only what stands out is logged
        // at info, every request at debug.
        if status >= 400 || elapsed >= SLOW {
            tracing::info!(parent: &span, status, elapsed_ms, "request");
        } else {
            tracing::debug!(parent: &span, status, elapsed_ms, "request");
        }
    }
    resp
}

/// A GraphQL request that takes this long is logged at info even when it succeeds.
const SLOW: Duration = Duration::from_millis(500);

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Serves `router` until `shutdown` resolves, then lets in-flight requests finish for up to
/// `grace` before returning.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let signalled = Arc::new(tokio::sync::Notify::new());
    let notify = signalled.clone();
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    let server = axum::serve(listener, service)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: draining in-flight requests");
            notify.notify_one();
        })
        .into_future();
    tokio::select! {
        result = server => result,
        _ = async { signalled.notified().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_secs = grace.as_secs(), "grace period over; closing remaining connections");
            Ok(())
        }
    }
}

/// A subgraph process that could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Telemetry could not start.
    #[error(transparent)]
    Telemetry(#[from] telemetry::TelemetryError),
    /// Token verification could not be set up.
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    /// Database pool could not be created.
    #[error("database: {0}")]
    Database(#[from] DbErr),
    /// Redis URL invalid.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Object storage is misconfigured.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    /// The subgraph could not set itself up.
    #[error("{0}")]
    Service(String),
    /// The listener failed.
    #[error("listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// Runs subgraph `name` as a process: telemetry, pools, token verification, the router, and
/// graceful shutdown on Ctrl-C or SIGTERM. `build` makes the subgraph's [`Parts`] from the
/// connected dependencies (and may replace them, for example with its own verifier).
pub async fn run<Q, M, S, B>(name: &'static str, config: Config, build: B) -> Result<(), RunError>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
    B: AsyncFnOnce(&mut Deps, &Config) -> Result<Parts<Q, M, S>, RunError>,
{
    let telemetry = telemetry::init(name, &config.telemetry)?;
    tracing::info!(service = name, config = ?config, "starting");
    let mut deps = Deps::connect(&config).await?;
    if deps.redis.is_none() {
        tracing::warn!("no redis_url: suspended tenants' tokens are accepted until they expire");
    }
    let parts = build(&mut deps, &config).await?;
    if !deps.verifier.is_configured() {
        return Err(RunError::Config(crate::config::ConfigError::Incomplete(
            "auth.jwks_url or auth.jwks (AULA_AUTH__JWKS_URL) is required to verify tokens",
        )));
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| RunError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| RunError::Listen {
        addr: config.listen,
        source,
    })?;
    tracing::info!(service = name, %addr, "listening");
    let router = app(name, parts, deps, &config);
    let result = serve(
        listener,
        router,
        shutdown_signal(),
        Duration::from_secs(config.shutdown_grace_secs),
    )
    .await;
    tracing::info!(service = name, "stopped");
    telemetry.shutdown();
    result.map_err(|source| RunError::Listen { addr, source })
}
