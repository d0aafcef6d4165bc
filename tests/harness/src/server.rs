//! Servers on loopback port 0 and a GraphQL client speaking real HTTP to them.

use std::time::Duration;

use async_graphql::{ObjectType, SchemaBuilder, SubscriptionType};
use axum::Router;
use kit::server::Deps;
use kit::{Config, Parts, RunError};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{Keys, TestDb};

/// A server running on `127.0.0.1:<port>` until stopped or dropped.
#[derive(Debug)]
pub struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

/// Serves `router` on a free loopback port with the kit's graceful shutdown.
pub async fn spawn(router: Router) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(kit::server::serve(
        listener,
        router,
        async move {
            let _ = rx.await;
        },
        Duration::from_secs(5),
    ));
    TestServer {
        url,
        shutdown: Some(tx),
        handle: Some(handle),
    }
}

/// The configuration a test subgraph runs with: its role's connection to `db`, the test Redis,
/// and token verification trusting `keys`.
pub fn subgraph_config(schema: &str, db: &TestDb, keys: &Keys) -> Config {
    let mut config = Config {
        auth: keys.auth_config(),
        redis_url: Some(kit::Secret::new(crate::redis_url())),
        ..Config::default()
    };
    config.database.url = kit::Secret::new(db.service_url(schema));
    config
}

/// Builds a subgraph exactly as `kit::run` does (with `build`, from `config`) and serves it.
pub async fn spawn_built<Q, M, S, B>(name: &'static str, config: &Config, build: B) -> TestServer
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
    B: AsyncFnOnce(&mut Deps, &Config) -> Result<Parts<Q, M, S>, RunError>,
{
    let mut deps = Deps::connect(config).await.expect("subgraph dependencies");
    let parts = build(&mut deps, config).await.expect("subgraph builds");
    spawn(kit::server::app(name, parts, deps, config)).await
}

/// Serves a subgraph whose parts are just `builder`, on `db` as the subgraph's role, trusting
/// `keys`.
pub async fn spawn_subgraph<Q, M, S>(
    name: &'static str,
    schema: &str,
    builder: SchemaBuilder<Q, M, S>,
    db: &TestDb,
    keys: &Keys,
) -> TestServer
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let config = subgraph_config(schema, db, keys);
    spawn_built(name, &config, async |_: &mut Deps, _: &Config| {
        Ok(Parts::from(builder))
    })
    .await
}

impl TestServer {
    /// `url` + `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Signals shutdown and waits for the server to finish draining.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.handle.take() {
            Some(h) => h.await.unwrap_or(Ok(())),
            None => Ok(()),
        }
    }

    /// Signals shutdown without waiting, returning the join handle.
    pub fn begin_shutdown(&mut self) -> Option<JoinHandle<std::io::Result<()>>> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.handle.take()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// POSTs a GraphQL request to `server`'s `/graphql` and returns the JSON body.
pub async fn gql(server: &TestServer, token: Option<&str>, query: &str, variables: Value) -> Value {
    gql_with(server, token, query, variables).await.1
}

/// Like [`gql`], also returning the HTTP status.
pub async fn gql_with(
    server: &TestServer,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> (u16, Value) {
    let mut req = kit::server::http_client()
        .post(server.at("/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request reaches the server");
    let status = resp.status().as_u16();
    let body = resp.json::<Value>().await.expect("JSON body");
    (status, body)
}
