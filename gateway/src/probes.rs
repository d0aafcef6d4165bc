//! Probes (plugin `aula_probes`): `/healthz` answers while the process serves, and `/readyz`
//! only when a supergraph is loaded and every subgraph in it answers a GraphQL request
//! (`{ __typename }`) in time — what a load balancer or Kubernetes should wait for. The router's
//! own `/health` and `/readiness` stay (the latter knows only about the supergraph).

use std::sync::Arc;
use std::time::Duration;

use hive_router::ArcSwap;
use hive_router::async_trait;
use hive_router::config::override_subgraph_urls::{OverrideSubgraphUrlsConfig, UrlOrExpression};
use hive_router::graphql_tools::parser::schema::{Definition, TypeDefinition, Value};
use hive_router::graphql_tools::static_graphql::schema::Document;
use hive_router::http::StatusCode;
use hive_router::ntex;
use hive_router::plugins::hooks::on_http_request::{
    OnHttpRequestHookFuture, OnHttpRequestHookPayload,
};
use hive_router::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::plugins::hooks::on_supergraph_load::{
    OnSupergraphLoadStartHookPayload, OnSupergraphLoadStartHookResult,
};
use hive_router::plugins::plugin_trait::{RouterPlugin, StartHookPayload};
use serde::Deserialize;

/// `plugins.aula_probes.config`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSettings {
    /// How long each subgraph may take to answer `/readyz`'s request, in milliseconds.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

fn default_timeout() -> u64 {
    1000
}

/// A subgraph as the loaded supergraph names it, at the address the router uses.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Subgraph {
    name: String,
    url: String,
}

/// The plugin.
#[derive(Debug)]
pub struct Probes {
    timeout: Duration,
    overrides: OverrideSubgraphUrlsConfig,
    /// `None` until a supergraph is loaded.
    subgraphs: ArcSwap<Option<Vec<Subgraph>>>,
    http: reqwest::Client,
}

/// The subgraphs (`join__Graph` values with `@join__graph(name:, url:)`) of a supergraph.
fn subgraphs_of(document: &Document) -> Vec<Subgraph> {
    let mut found = Vec::new();
    for definition in &document.definitions {
        let Definition::TypeDefinition(TypeDefinition::Enum(graphs)) = definition else {
            continue;
        };
        if graphs.name != "join__Graph" {
            continue;
        }
        for value in &graphs.values {
            let Some(directive) = value.directives.iter().find(|d| d.name == "join__graph") else {
                continue;
            };
            let text = |key: &str| {
                directive.arguments.iter().find_map(|(k, v)| match v {
                    Value::String(s) if k.as_str() == key => Some(s.clone()),
                    _ => None,
                })
            };
            if let (Some(name), Some(url)) = (text("name"), text("url")) {
                found.push(Subgraph { name, url });
            }
        }
    }
    found
}

impl Probes {
    /// Where the router sends `subgraph`'s requests: its configured override, else the
    /// supergraph's URL.
    fn address(&self, subgraph: Subgraph) -> Subgraph {
        match self.overrides.get_subgraph_url(&subgraph.name) {
            Some(UrlOrExpression::Url(url)) => Subgraph {
                name: subgraph.name,
                url: url.clone(),
            },
            _ => subgraph,
        }
    }

    /// Whether `subgraph` answers a GraphQL request in time.
    async fn answers(&self, subgraph: &Subgraph) -> bool {
        let probe = self
            .http
            .post(&subgraph.url)
            .header("content-type", "application/json")
            .body(r#"{"query":"{ __typename }"}"#)
            .timeout(self.timeout)
            .send()
            .await;
        match probe {
            Ok(resp) if resp.status().is_success() => true,
            Ok(resp) => {
                tracing::warn!(subgraph = %subgraph.name, status = %resp.status(), "subgraph not ready");
                false
            }
            Err(err) => {
                tracing::warn!(subgraph = %subgraph.name, error = %err, "subgraph unreachable");
                false
            }
        }
    }

    /// `/readyz`: the status and a JSON body naming each subgraph's state.
    async fn readiness(&self) -> (StatusCode, serde_json::Value) {
        let Some(subgraphs) = self.subgraphs.load_full().as_ref().clone() else {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({ "status": "no supergraph loaded" }),
            );
        };
        let checks =
            futures_util::future::join_all(subgraphs.iter().map(|s| self.answers(s))).await;
        let states: serde_json::Map<String, serde_json::Value> = subgraphs
            .iter()
            .zip(&checks)
            .map(|(s, up)| (s.name.clone(), (if *up { "up" } else { "down" }).into()))
            .collect();
        let ready = checks.iter().all(|up| *up);
        let status = if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        let body = serde_json::json!({
            "status": if ready { "ready" } else { "not ready" },
            "subgraphs": states,
        });
        (status, body)
    }
}

fn respond(status: StatusCode, body: &serde_json::Value) -> ntex::http::Response {
    ntex::http::Response::build(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(body.to_string())
}

#[async_trait]
impl RouterPlugin for Probes {
    type Config = ProbeSettings;

    fn plugin_name() -> &'static str {
        "aula_probes"
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let settings = payload.config()?;
        payload.initialize_plugin(Self {
            timeout: Duration::from_millis(settings.timeout_ms.max(1)),
            overrides: payload.router_config().override_subgraph_urls.clone(),
            subgraphs: ArcSwap::from_pointee(None),
            http: kit::server::http_client(),
        })
    }

    fn on_supergraph_reload<'exec>(
        &'exec self,
        payload: OnSupergraphLoadStartHookPayload,
    ) -> OnSupergraphLoadStartHookResult<'exec> {
        let subgraphs = subgraphs_of(&payload.new_ast)
            .into_iter()
            .map(|s| self.address(s))
            .collect();
        self.subgraphs.store(Arc::new(Some(subgraphs)));
        payload.proceed()
    }

    fn on_http_request<'req>(
        &'req self,
        payload: OnHttpRequestHookPayload<'req>,
    ) -> OnHttpRequestHookFuture<'req> {
        Box::pin(async move {
            match payload.router_http_request.path() {
                "/healthz" => {
                    let body = serde_json::json!({ "status": "ok" });
                    payload.end_with_response(respond(StatusCode::OK, &body))
                }
                "/readyz" => {
                    let (status, body) = self.readiness().await;
                    payload.end_with_response(respond(status, &body))
                }
                _ => payload.proceed(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subgraphs_are_read_from_the_join_graph_enum() {
        let sdl = r#"
            schema @link(url: "https://specs.apollo.dev/link/v1.0") { query: Query }
            enum join__Graph {
              CATALOG @join__graph(name: "catalog", url: "http://127.0.0.1:4002/graphql")
              IDENTITY @join__graph(name: "identity", url: "http://127.0.0.1:4001/graphql")
            }
            type Query { a: Int }
        "#;
        let document = hive_router::graphql_tools::parser::parse_schema::<String>(sdl)
            .expect("parses")
            .into_static();
        assert_eq!(
            subgraphs_of(&document),
            vec![
                Subgraph {
                    name: "catalog".into(),
                    url: "http://127.0.0.1:4002/graphql".into()
                },
                Subgraph {
                    name: "identity".into(),
                    url: "http://127.0.0.1:4001/graphql".into()
                },
            ]
        );
    }
}
