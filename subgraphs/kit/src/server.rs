//! The HTTP side of a subgraph: `/graphql`, `/healthz`, `/readyz`, `/metrics`, request ids,
//! per-request spans and metrics, body limits, and serving with graceful shutdown.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::{Arc, Once, OnceLock};
use std::time::{Duration, Instant};

use async_graphql::http::GraphiQLSource;
use async_graphql::{ObjectType, Schema, SchemaBuilder, SubscriptionType};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};
use tower_http::limit::RequestBodyLimitLayer;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::auth::{REFUSED, Verifier};
use crate::config::{Config, DatabaseConfig};
use crate::error::{Code, DomainError};
use crate::graphql::{Caller, finish};
use crate::telemetry;

/// What a subgraph's handlers share.
#[derive(Clone, Debug)]
pub struct Deps {
    /// Pool connected as the subgraph's own role.
    pub db: DatabaseConnection,
    /// Redis, if the subgraph uses it.
    pub redis: Option<redis::Client>,
    /// Access-token verification.
    pub verifier: Arc<Verifier>,
}

struct AppState<Q, M, S> {
    name: &'static str,
    schema: Schema<Q, M, S>,
    deps: Deps,
    graphiql: bool,
}

impl<Q, M, S> Clone for AppState<Q, M, S> {
    fn clone(&self) -> Self {
        Self {
            name: self.name,
            schema: self.schema.clone(),
            deps: self.deps.clone(),
            graphiql: self.graphiql,
        }
    }
}

impl Deps {
    /// The pool (lazy), Redis client and token verifier that `config` describes.
    pub async fn connect(config: &Config) -> Result<Self, RunError> {
        Ok(Self {
            db: connect_db(&config.database).await?,
            redis: config
                .redis_url
                .as_ref()
                .map(|u| redis::Client::open(u.expose()))
                .transpose()?,
            verifier: Arc::new(Verifier::new(&config.auth)?),
        })
    }
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

/// A lazily connecting pool for the subgraph's role: the process starts even when the database
/// is briefly down, and `/readyz` says so.
pub async fn connect_db(config: &DatabaseConfig) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(config.url.expose());
    opts.max_connections(config.max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(config.acquire_timeout_secs))
        .connect_lazy(true)
        .sqlx_logging(false);
    Database::connect(opts).await
}

/// The subgraph's router: GraphQL plus health, readiness and metrics.
pub fn app<Q, M, S>(
    name: &'static str,
    builder: SchemaBuilder<Q, M, S>,
    deps: Deps,
    config: &Config,
) -> Router
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let schema = finish(builder.data(deps.db.clone()), &config.limits);
    let state = AppState {
        name,
        schema,
        deps,
        graphiql: config.graphiql,
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
        .layer(RequestBodyLimitLayer::new(config.limits.max_body_bytes))
        .layer(middleware::from_fn_with_state(name, observe))
        .with_state(state)
}

async fn graphql<Q, M, S>(
    State(state): State<AppState<Q, M, S>>,
    headers: HeaderMap,
    req: GraphQLRequest,
) -> Response
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let caller = match bearer(&headers) {
        None => Caller::Anonymous,
        Some(token) => match state.deps.verifier.verify(token).await {
            Ok(ctx) => Caller::Authenticated(ctx),
            Err(err) => {
                tracing::info!(error = %err, "access token refused");
                let (status, message) = match err.code() {
                    Code::Unavailable => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "cannot verify access tokens right now",
                    ),
                    _ => (StatusCode::UNAUTHORIZED, REFUSED),
                };
                return error_response(status, message, err.code());
            }
        },
    };
    GraphQLResponse::from(state.schema.execute(req.into_inner().data(caller)).await).into_response()
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
    let ready = db_ok && redis_ok.unwrap_or(true);
    let word = |ok: bool| if ok { "ok" } else { "failing" };
    let mut checks = serde_json::json!({ "database": word(db_ok) });
    if let Some(ok) = redis_ok {
        checks["redis"] = word(ok).into();
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

async fn redis_ping(client: &redis::Client) -> redis::RedisResult<()> {
    let mut conn = client.get_multiplexed_async_connection().await?;
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .map(|_| ())
}

/// Request id, span (continuing the caller's trace), access log and HTTP metrics.
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
        tracing::info!(parent: &span, status, elapsed_ms = elapsed.as_millis() as u64, "request");
    }
    resp
}

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
    let server = axum::serve(listener, router)
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
/// graceful shutdown on Ctrl-C or SIGTERM.
pub async fn run<Q, M, S>(
    name: &'static str,
    config: Config,
    builder: SchemaBuilder<Q, M, S>,
) -> Result<(), RunError>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let telemetry = telemetry::init(name, &config.telemetry)?;
    tracing::info!(service = name, config = ?config, "starting");
    let deps = Deps::connect(&config).await?;
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
    let router = app(name, builder, deps, &config);
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
