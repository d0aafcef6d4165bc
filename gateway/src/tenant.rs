//! Tenant binding (plugin `aula_tenant`): a request to an academy's host name (its platform
//! subdomain or a custom domain) is bound to that tenant, looked up at identity's public
//! `/tenants/route` and cached for a short time. A token of another tenant is refused
//! (`TENANT_MISMATCH`), a suspended academy too (`TENANT_SUSPENDED`). Requests to other hosts
//! (the API host) are bound to their token's tenant, or to none. Subgraphs learn the binding
//! from the `x-aula-tenant` header, which only this plugin sets.

use std::time::{Duration, Instant};

use hive_router::DashMap;
use hive_router::async_trait;
use hive_router::http::{HeaderName, HeaderValue, StatusCode};
use hive_router::plugins::hooks::on_graphql_params::{
    OnGraphQLParamsStartHookPayload, OnGraphQLParamsStartHookResult,
};
use hive_router::plugins::hooks::on_http_request::{
    OnHttpRequestHookFuture, OnHttpRequestHookPayload,
};
use hive_router::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::plugins::hooks::on_subgraph_http_request::{
    OnSubgraphHttpRequestHookPayload, OnSubgraphHttpRequestHookResult,
};
use hive_router::plugins::plugin_context::PluginContext;
use hive_router::plugins::plugin_trait::{RouterPlugin, StartHookPayload};
use serde::Deserialize;
use tenancy::TenantId;

use crate::auth::Caller;
use crate::reply::Refusal;

/// The header subgraphs read the bound tenant from.
pub const TENANT_HEADER: &str = "x-aula-tenant";

/// `plugins.aula_tenant.config`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    /// Identity's base URL, e.g. `http://identity:4001`.
    pub identity_url: String,
    /// How long a host's answer (including "no academy") is reused, in seconds.
    #[serde(default = "default_ttl")]
    pub cache_ttl_secs: u64,
    /// Host names of the API itself (partners, the console), never an academy's.
    #[serde(default)]
    pub api_hosts: Vec<String>,
}

fn default_ttl() -> u64 {
    30
}

/// The tenant this request is bound to, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bound(pub TenantId);

impl Bound {
    /// This request's tenant, if it has one.
    pub fn of(context: &PluginContext) -> Option<TenantId> {
        context.get_ref::<Bound>().map(|b| b.0)
    }
}

/// What a host name routes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// No academy has this name.
    Nowhere,
    /// An academy, active or not.
    Tenant { id: TenantId, active: bool },
}

/// The plugin.
#[derive(Debug)]
pub struct TenantBinding {
    identity_url: String,
    api_hosts: Vec<String>,
    ttl: Duration,
    cache: DashMap<String, (Instant, Route)>,
    http: reqwest::Client,
    /// The router's WebSocket path, when WebSocket is on.
    ws_path: Option<String>,
}

/// The host a request names, lowercased, without port.
fn host_name(host: &str) -> Option<String> {
    let host = host.trim().trim_end_matches('.');
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    (!name.is_empty()).then(|| name.to_ascii_lowercase())
}

impl TenantBinding {
    /// Whether `host` may name an academy: IP literals, `localhost` and the configured API
    /// hosts never do, and are not looked up.
    fn routes(&self, host: &str) -> bool {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        literal.parse::<std::net::IpAddr>().is_err()
            && host != "localhost"
            && !self.api_hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    async fn route(&self, host: &str) -> Result<Route, Refusal> {
        if let Some(hit) = self.cache.get(host).filter(|e| e.0.elapsed() < self.ttl) {
            return Ok(hit.1);
        }
        let base = format!("{}/tenants/route", self.identity_url.trim_end_matches('/'));
        let url = reqwest::Url::parse_with_params(&base, [("name", host)]).map_err(|e| {
            tracing::error!(error = %e, "aula_tenant: identity_url is not a URL");
            Refusal::unavailable()
        })?;
        let resp = self
            .http
            .get(url)
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "tenant lookup failed");
                Refusal::unavailable()
            })?;
        let route = match resp.status().as_u16() {
            404 => Route::Nowhere,
            200 => {
                let body: serde_json::Value = resp.json().await.map_err(|e| {
                    tracing::warn!(error = %e, "tenant lookup answered garbage");
                    Refusal::unavailable()
                })?;
                let id = body["id"]
                    .as_str()
                    .and_then(|s| s.parse::<TenantId>().ok())
                    .ok_or_else(|| {
                        tracing::warn!(%body, "tenant lookup answered without an id");
                        Refusal::unavailable()
                    })?;
                Route::Tenant {
                    id,
                    active: body["status"] == "active",
                }
            }
            status => {
                tracing::warn!(status, "tenant lookup failed");
                return Err(Refusal::unavailable());
            }
        };
        self.cache.insert(host.to_owned(), (Instant::now(), route));
        Ok(route)
    }

    async fn bind(
        &self,
        host: Option<&str>,
        caller: Option<TenantId>,
    ) -> Result<Option<TenantId>, Refusal> {
        let route = match host.and_then(host_name) {
            Some(host) if self.routes(&host) => self.route(&host).await?,
            _ => Route::Nowhere,
        };
        match (route, caller) {
            (Route::Tenant { active: false, .. }, _) => Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "TENANT_SUSPENDED",
                "this academy is suspended",
            )),
            (Route::Tenant { id, .. }, Some(token)) if token != id => Err(mismatch()),
            (Route::Tenant { id, .. }, _) => Ok(Some(id)),
            (Route::Nowhere, token) => Ok(token),
        }
    }
}

/// A token of another academy than the address names.
fn mismatch() -> Refusal {
    Refusal::new(
        StatusCode::FORBIDDEN,
        "TENANT_MISMATCH",
        "this token belongs to another academy than this address",
    )
}

#[async_trait]
impl RouterPlugin for TenantBinding {
    type Config = TenantSettings;

    fn plugin_name() -> &'static str {
        "aula_tenant"
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let settings = payload.config()?;
        payload.initialize_plugin(Self {
            identity_url: settings.identity_url,
            api_hosts: settings.api_hosts,
            ttl: Duration::from_secs(settings.cache_ttl_secs),
            cache: DashMap::new(),
            http: kit::server::http_client(),
            ws_path: payload.router_config().websocket_path().map(str::to_owned),
        })
    }

    fn on_http_request<'req>(
        &'req self,
        payload: OnHttpRequestHookPayload<'req>,
    ) -> OnHttpRequestHookFuture<'req> {
        Box::pin(async move {
            if crate::is_probe(payload.router_http_request.path()) {
                return payload.proceed();
            }
            let host = payload
                .router_http_request
                .headers()
                .get("host")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let caller = Caller::of(payload.context).map(|c| c.tenant());
            match self.bind(host.as_deref(), caller).await {
                Ok(bound) => {
                    if let Some(tenant) = bound {
                        payload.context.insert(Bound(tenant));
                    }
                    payload.proceed()
                }
                Err(refusal) => payload.end_with_response(refusal.into_response()),
            }
        })
    }

    /// Each operation on a WebSocket connection: the connection was bound by its upgrade
    /// request's host; the operation's token (verified by `aula_auth`) must belong there too.
    async fn on_graphql_params<'exec>(
        &'exec self,
        payload: OnGraphQLParamsStartHookPayload<'exec>,
    ) -> OnGraphQLParamsStartHookResult<'exec> {
        if self.ws_path.as_deref() != Some(payload.router_http_request.path) {
            return payload.proceed();
        }
        let caller = Caller::of(payload.context).map(|c| c.tenant());
        match (Bound::of(payload.context), caller) {
            (Some(bound), Some(token)) if bound != token => {
                let refusal = mismatch();
                let status = refusal.status;
                payload.end_with_graphql_error(refusal.into_graphql_error(), status)
            }
            (None, Some(token)) => {
                payload.context.insert(Bound(token));
                payload.proceed()
            }
            _ => payload.proceed(),
        }
    }

    async fn on_subgraph_http_request<'exec>(
        &'exec self,
        mut payload: OnSubgraphHttpRequestHookPayload<'exec>,
    ) -> OnSubgraphHttpRequestHookResult<'exec> {
        let name = HeaderName::from_static(TENANT_HEADER);
        payload.execution_request.headers.remove(&name);
        if let Some(tenant) = Bound::of(payload.context)
            && let Ok(value) = HeaderValue::from_str(&tenant.to_string())
        {
            payload.execution_request.headers.insert(name, value);
        }
        payload.proceed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_lose_port_case_and_trailing_dot() {
        assert_eq!(
            host_name("Alpha.Aula.localhost:4000").as_deref(),
            Some("alpha.aula.localhost")
        );
        assert_eq!(
            host_name("alpha.aula.localhost.").as_deref(),
            Some("alpha.aula.localhost")
        );
        assert_eq!(host_name("[::1]:4000").as_deref(), Some("[::1]"));
        assert_eq!(host_name("").as_deref(), None);
    }
}
