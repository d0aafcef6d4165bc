//! The kit over real HTTP: error codes and what never leaks, limits, authentication, health,
//! readiness, metrics and graceful shutdown, with a small schema built the way subgraphs are.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, EmptyMutation, EmptySubscription, Object, Result, Schema};
use harness::{Keys, TestDb, TestServer, gql, gql_with, spawn};
use kit::config::{Config, DatabaseConfig};
use kit::graphql::caller;
use kit::server::{Deps, app, connect_db};
use kit::{Code, DomainError, ResultExt, Secret};
use serde_json::{Value, json};
use tenancy::{Role, TenantId};

#[derive(Debug, thiserror::Error)]
enum CourseError {
    #[error("title must be at most 200 characters")]
    TitleTooLong,
    #[error("course not found")]
    Missing,
    #[error("pool exhausted connecting to 10.1.2.3:5432 as aula_learning password=hunter2")]
    Broken,
}

impl DomainError for CourseError {
    fn code(&self) -> Code {
        match self {
            CourseError::TitleTooLong => Code::BadUserInput,
            CourseError::Missing => Code::NotFound,
            CourseError::Broken => Code::Internal,
        }
    }

    fn field(&self) -> Option<&str> {
        matches!(self, CourseError::TitleTooLong).then_some("title")
    }
}

struct Query;

struct Nested;

#[Object]
impl Nested {
    async fn next(&self) -> Nested {
        Nested
    }

    async fn leaf(&self) -> i32 {
        1
    }
}

#[Object]
impl Query {
    async fn fail(&self, kind: String) -> Result<i32> {
        match kind.as_str() {
            "input" => Err(CourseError::TitleTooLong).gql(),
            "missing" => Err(CourseError::Missing).gql(),
            "internal" => Err(CourseError::Broken).gql(),
            "stray" => Err("connection to 10.1.2.3 refused: password=hunter2".into()),
            _ => Ok(1),
        }
    }

    async fn tenant(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(caller(ctx)?.tenant().to_string())
    }

    /// Whose public data an anonymous request may read.
    async fn academy(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(kit::graphql::visitor(ctx)?.tenant().to_string())
    }

    async fn slow(&self, ms: u64) -> i32 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        1
    }

    async fn nested(&self) -> Nested {
        Nested
    }
}

type TestSchema = async_graphql::SchemaBuilder<Query, EmptyMutation, EmptySubscription>;

fn schema() -> TestSchema {
    Schema::build(Query, EmptyMutation, EmptySubscription)
}

async fn serve(db: sea_orm::DatabaseConnection, keys: &Keys, redis: Option<String>) -> TestServer {
    let config = Config {
        auth: keys.auth_config(),
        ..Config::default()
    };
    let suspensions = match &redis {
        Some(u) => {
            kit::revocation::Suspensions::watch(redis::Client::open(u.as_str()).expect("redis url"))
                .expect("watcher")
        }
        None => Arc::default(),
    };
    let deps = Deps {
        db,
        redis: redis.map(|u| kit::server::connect_redis(&u).expect("redis url")),
        suspensions,
        verifier: Arc::new(kit::auth::Verifier::new(&config.auth).expect("verifier")),
        storage: None,
    };
    spawn(app("kit-test", schema(), deps, &config)).await
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

#[tokio::test]
async fn domain_errors_map_to_stable_codes_and_internal_causes_never_leak() {
    let db = TestDb::new().await;
    let keys = Keys::new();
    let server = serve(db.service("identity").await, &keys, None).await;
    let q = "query($k: String!) { fail(kind: $k) }";

    let body = gql(&server, None, q, json!({ "k": "input" })).await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "title");
    assert_eq!(
        body["errors"][0]["message"],
        "title must be at most 200 characters"
    );

    let body = gql(&server, None, q, json!({ "k": "missing" })).await;
    assert_eq!(code(&body), "NOT_FOUND");

    for kind in ["internal", "stray"] {
        let body = gql(&server, None, q, json!({ "k": kind })).await;
        assert_eq!(code(&body), "INTERNAL", "{body}");
        assert_eq!(body["errors"][0]["message"], "internal error");
        assert!(
            body["errors"][0]["extensions"]["errorId"].is_string(),
            "{body}"
        );
        let text = body.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("10.1.2.3"),
            "leaked: {text}"
        );
        assert_eq!(body["errors"][0]["path"][0], "fail", "the path is kept");
    }

    let body = gql(&server, None, "{ tenant }", json!({})).await;
    assert_eq!(code(&body), "UNAUTHENTICATED");
}

#[tokio::test]
async fn malformed_and_oversized_requests_get_codes() {
    let db = TestDb::new().await;
    let keys = Keys::new();
    let server = serve(db.service("identity").await, &keys, None).await;

    let body = gql(&server, None, "{ fail(", json!({})).await;
    assert_eq!(code(&body), "GRAPHQL_PARSE_FAILED", "{body}");

    let body = gql(&server, None, "{ nosuchfield }", json!({})).await;
    assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");

    let deep = format!(
        "{{ nested {{ {} leaf {} }} }}",
        "next { ".repeat(14),
        "} ".repeat(14)
    );
    let body = gql(&server, None, &deep, json!({})).await;
    assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("nested too deep")
    );
    let shallow = format!(
        "{{ nested {{ {} leaf {} }} }}",
        "next { ".repeat(5),
        "} ".repeat(5)
    );
    assert!(gql(&server, None, &shallow, json!({})).await["errors"].is_null());

    let resp = kit::server::http_client()
        .post(server.at("/graphql"))
        .json(&json!({ "query": "{ slow(ms: 1) }", "operationName": "Nope" }))
        .send()
        .await
        .expect("sent");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(code(&body), "BAD_REQUEST", "{body}");

    let huge = json!({ "query": format!("{{ fail(kind: \"{}\") }}", "x".repeat(300 * 1024)) });
    let resp = kit::server::http_client()
        .post(server.at("/graphql"))
        .json(&huge)
        .send()
        .await
        .expect("sent");
    assert_eq!(
        resp.status().as_u16(),
        413,
        "bodies over the limit are refused"
    );
}

#[tokio::test]
async fn tokens_are_verified_before_execution() {
    let db = TestDb::new().await;
    let keys = Keys::new();
    let server = serve(db.service("identity").await, &keys, None).await;
    let tenant = TenantId::generate();

    let user = keys.user(tenant, &[Role::Student]);
    let body = gql(&server, Some(&user.token), "{ tenant }", json!({})).await;
    assert_eq!(body["data"]["tenant"], tenant.to_string());

    let forged = Keys::new().user(tenant, &[Role::Admin]).token;
    let (status, body) = gql_with(&server, Some(&forged), "{ tenant }", json!({})).await;
    assert_eq!(status, 401);
    assert_eq!(code(&body), "UNAUTHENTICATED");
    assert_eq!(
        body["errors"][0]["message"],
        "invalid or expired access token"
    );

    let mut claims = keys.claims(tenant, &user.id.to_string(), &[Role::Admin], "");
    claims.exp -= 3600;
    let (status, _) = gql_with(&server, Some(&keys.sign(&claims)), "{ tenant }", json!({})).await;
    assert_eq!(status, 401, "expired");
}

/// POSTs `query` with `x-aula-tenant: tenant` and an optional token.
async fn bound(
    server: &TestServer,
    tenant: &str,
    token: Option<&str>,
    query: &str,
) -> (u16, Value) {
    let mut req = kit::server::http_client()
        .post(server.at("/graphql"))
        .header("x-aula-tenant", tenant)
        .json(&json!({ "query": query }));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("reachable");
    (resp.status().as_u16(), resp.json().await.expect("json"))
}

#[tokio::test]
async fn the_gateways_tenant_binding_makes_visitors_and_refuses_other_tenants_tokens() {
    let db = TestDb::new().await;
    let keys = Keys::new();
    let server = serve(db.service("identity").await, &keys, None).await;
    let (alpha, beta) = (TenantId::generate(), TenantId::generate());

    // Without a binding an anonymous caller reaches no academy.
    let body = gql(&server, None, "{ academy }", json!({})).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    // Bound, it is a visitor of that academy, and still nobody in particular.
    let (status, body) = bound(&server, &alpha.to_string(), None, "{ academy }").await;
    assert_eq!(
        (status, &body["data"]["academy"]),
        (200, &json!(alpha.to_string()))
    );
    let (_, body) = bound(&server, &alpha.to_string(), None, "{ tenant }").await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");

    // A token of the bound tenant keeps its identity; one of another tenant is refused.
    let user = keys.user(alpha, &[Role::Student]);
    let (_, body) = bound(
        &server,
        &alpha.to_string(),
        Some(&user.token),
        "{ tenant academy }",
    )
    .await;
    assert_eq!(body["data"]["tenant"], alpha.to_string(), "{body}");
    let (status, body) = bound(&server, &beta.to_string(), Some(&user.token), "{ tenant }").await;
    assert_eq!((status, code(&body)), (403, "FORBIDDEN"), "{body}");
    let (status, body) = bound(&server, "not-a-tenant", None, "{ academy }").await;
    assert_eq!((status, code(&body)), (400, "BAD_REQUEST"), "{body}");
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let db = TestDb::new().await;
    let keys = Keys::new();
    let server = serve(
        db.service("identity").await,
        &keys,
        Some(harness::redis_url()),
    )
    .await;
    let http = kit::server::http_client();

    let health = http
        .get(server.at("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status().as_u16(), 200);
    assert!(health.headers().contains_key("x-request-id"));

    let ready = http.get(server.at("/readyz")).send().await.expect("readyz");
    assert_eq!(ready.status().as_u16(), 200);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(
        body,
        json!({ "status": "ready", "checks": { "database": "ok", "redis": "ok" } })
    );

    gql(&server, None, "{ fail(kind: \"missing\") }", json!({})).await;
    let metrics = http
        .get(server.at("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(r#"http_requests_total{service="kit-test",path="/graphql",status="200"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"graphql_errors_total{code="NOT_FOUND"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("http_request_duration_seconds"),
        "{metrics}"
    );
}

#[tokio::test]
async fn readiness_fails_without_revealing_why() {
    let keys = Keys::new();
    let dead_port = local::free_port().expect("port");
    let db = connect_db(&DatabaseConfig {
        url: Secret::new(format!(
            "postgres://aula_identity:hunter2@127.0.0.1:{dead_port}/aula"
        )),
        max_connections: 1,
        acquire_timeout_secs: 1,
    })
    .await
    .expect("lazy pool");
    let server = serve(db, &keys, Some(format!("redis://127.0.0.1:{dead_port}"))).await;
    let http = kit::server::http_client();
    assert_eq!(
        http.get(server.at("/healthz"))
            .send()
            .await
            .expect("healthz")
            .status()
            .as_u16(),
        200
    );
    let ready = http.get(server.at("/readyz")).send().await.expect("readyz");
    assert_eq!(ready.status().as_u16(), 503);
    let body = ready.text().await.expect("text");
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json"),
        json!({ "status": "not ready", "checks": { "database": "failing", "redis": "failing" } })
    );
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests() {
    let db = TestDb::new().await;
    let keys = Keys::new();
    let mut server = serve(db.service("identity").await, &keys, None).await;
    let url = server.at("/graphql");
    let in_flight = tokio::spawn(async move {
        kit::server::http_client()
            .post(url)
            .json(&json!({ "query": "{ slow(ms: 700) }" }))
            .send()
            .await
            .expect("sent")
            .json::<Value>()
            .await
            .expect("json")
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopped = server.begin_shutdown().expect("running");
    let body = in_flight.await.expect("request task");
    assert_eq!(
        body["data"]["slow"], 1,
        "the in-flight request completed: {body}"
    );
    tokio::time::timeout(Duration::from_secs(5), stopped)
        .await
        .expect("server stops after draining")
        .expect("join")
        .expect("clean exit");
    let after = kit::server::http_client()
        .get(server.at("/healthz"))
        .send()
        .await;
    assert!(after.is_err(), "no longer accepting connections");
}
