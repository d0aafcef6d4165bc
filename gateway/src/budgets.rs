//! Budgets (plugin `aula_budgets`): per-tenant and per-API-client request rates and query-cost
//! budgets per time window, counted in Redis so every gateway replica shares them. Each budget
//! is a GCRA bucket (one atomic script: a request passes when the bucket's theoretical arrival
//! time minus the window is not in the future), so a burst of a whole window's allowance passes
//! and then requests are spaced evenly. Requests are charged before parsing; an operation's
//! estimated cost (the router's demand control) after planning. Over budget: `RATE_LIMITED`
//! with `Retry-After`. Sizes come from configuration with per-tenant overrides; if Redis is
//! down the plugin fails open or closed as configured, and says so in the log.

use std::collections::HashMap;

use hive_router::async_trait;
use hive_router::plugins::hooks::on_execute::{
    OnExecuteStartHookPayload, OnExecuteStartHookResult,
};
use hive_router::plugins::hooks::on_graphql_params::{
    OnGraphQLParamsStartHookPayload, OnGraphQLParamsStartHookResult,
};
use hive_router::plugins::hooks::on_http_request::{
    OnHttpRequestHookFuture, OnHttpRequestHookPayload,
};
use hive_router::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::plugins::plugin_context::PluginContext;
use hive_router::plugins::plugin_trait::{RouterPlugin, StartHookPayload};
use serde::Deserialize;
use tenancy::TenantId;

use crate::auth::Caller;
use crate::redis::{Redis, RedisDown, bounded};
use crate::reply::Refusal;
use crate::tenant::Bound;

/// The GCRA step. KEYS[1]: the bucket. ARGV: emission interval (ms per unit), tolerance (ms,
/// the window), quantity. Returns `{1, 0}` when admitted, else `{0, ms to wait}`.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local quantity = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval * quantity
local allow_at = new_tat - tolerance
if allow_at > now then
  return {0, math.ceil(allow_at - now)}
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.max(1, math.ceil(new_tat - now)))
return {1, 0}
";

/// [`GCRA`], sent by its SHA-1 (`EVALSHA`; loaded again if Redis answers `NOSCRIPT`).
static SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(GCRA));

/// One subject's allowance per window.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Requests per window.
    pub requests: u64,
    /// Estimated query cost per window.
    pub cost: u64,
}

/// What to do when Redis cannot be asked.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnRedisError {
    /// Serve the request unmetered (and log it).
    #[default]
    Open,
    /// Refuse it with `UNAVAILABLE`.
    Closed,
}

/// `plugins.aula_budgets.config`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSettings {
    /// Redis shared by every gateway replica.
    pub redis_url: String,
    /// The window, in seconds.
    #[serde(default = "default_window")]
    pub window_secs: u64,
    /// Each tenant's budget.
    pub tenant: Budget,
    /// Each partner API client's budget (on top of its tenant's).
    pub api_client: Budget,
    /// Budgets of particular tenants, by tenant id.
    #[serde(default)]
    pub tenants: HashMap<TenantId, Budget>,
    /// Behaviour when Redis is down.
    #[serde(default)]
    pub on_redis_error: OnRedisError,
}

fn default_window() -> u64 {
    60
}

/// What a budget meters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Meter {
    Requests,
    Cost,
}

impl Meter {
    fn name(self) -> &'static str {
        match self {
            Meter::Requests => "req",
            Meter::Cost => "cost",
        }
    }

    fn of(self, budget: Budget) -> u64 {
        match self {
            Meter::Requests => budget.requests,
            Meter::Cost => budget.cost,
        }
    }
}

/// A bucket to charge: its key, its allowance, and what to call it in the error.
#[derive(Clone, Debug)]
struct Bucket {
    key: String,
    allowance: u64,
    what: String,
}

/// The plugin.
#[derive(Debug)]
pub struct Budgets {
    settings: BudgetSettings,
    redis: Redis,
    /// The router's WebSocket path, when WebSocket is on.
    ws_path: Option<String>,
}

impl Budgets {
    /// The buckets this request charges for `meter`: its tenant's, and its API client's.
    fn buckets(&self, context: &PluginContext, meter: Meter) -> Vec<Bucket> {
        let mut buckets = Vec::new();
        let caller = Caller::of(context);
        let tenant = Bound::of(context).or_else(|| caller.as_ref().map(|c| c.tenant()));
        if let Some(tenant) = tenant {
            let budget = self
                .settings
                .tenants
                .get(&tenant)
                .copied()
                .unwrap_or(self.settings.tenant);
            buckets.push(Bucket {
                key: format!("aula:budget:{}:tenant:{tenant}", meter.name()),
                allowance: meter.of(budget),
                what: format!("academy's {} budget", meter.label()),
            });
        }
        if let Some(ctx) = &caller
            && let Some(client) = ctx.client_id()
        {
            buckets.push(Bucket {
                key: format!(
                    "aula:budget:{}:client:{}:{client}",
                    meter.name(),
                    ctx.tenant()
                ),
                allowance: meter.of(self.settings.api_client),
                what: format!("API client's {} budget", meter.label()),
            });
        }
        buckets
    }

    /// Charges `quantity` to every bucket; the first refusal wins.
    async fn charge(&self, buckets: &[Bucket], quantity: u64) -> Result<(), Refusal> {
        for bucket in buckets {
            match self.admit(bucket, quantity).await {
                Ok(None) => {}
                Ok(Some(wait_ms)) => {
                    return Err(Refusal::rate_limited(&bucket.what, wait_ms.div_ceil(1000)));
                }
                Err(down) => {
                    return match self.settings.on_redis_error {
                        OnRedisError::Open => {
                            tracing::warn!(error = %down, "budgets unmetered: redis is down (failing open)");
                            Ok(())
                        }
                        OnRedisError::Closed => {
                            tracing::warn!(error = %down, "request refused: redis is down (failing closed)");
                            Err(Refusal::unavailable())
                        }
                    };
                }
            }
        }
        Ok(())
    }

    /// `None` when admitted, else the milliseconds to wait.
    async fn admit(&self, bucket: &Bucket, quantity: u64) -> Result<Option<u64>, RedisDown> {
        let window_ms = (self.settings.window_secs * 1000) as f64;
        let interval = window_ms / bucket.allowance.max(1) as f64;
        let mut conn = self.redis.connection().await?;
        let (admitted, wait): (i64, i64) = bounded(
            SCRIPT
                .key(&bucket.key)
                .arg(interval)
                .arg(window_ms)
                .arg(quantity)
                .invoke_async(&mut conn),
        )
        .await?;
        Ok((admitted != 1).then_some(wait.max(1) as u64))
    }
}

impl Meter {
    fn label(self) -> &'static str {
        match self {
            Meter::Requests => "request",
            Meter::Cost => "query-cost",
        }
    }
}

#[async_trait]
impl RouterPlugin for Budgets {
    type Config = BudgetSettings;

    fn plugin_name() -> &'static str {
        "aula_budgets"
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let settings = payload.config()?;
        if settings.window_secs == 0 {
            return Err("aula_budgets: window_secs must be at least 1".into());
        }
        let redis = Redis::open(&settings.redis_url)?;
        let ws_path = payload.router_config().websocket_path().map(str::to_owned);
        payload.initialize_plugin(Self {
            settings,
            redis,
            ws_path,
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
            let buckets = self.buckets(payload.context, Meter::Requests);
            match self.charge(&buckets, 1).await {
                Ok(()) => payload.proceed(),
                Err(refusal) => payload.end_with_response(refusal.into_response()),
            }
        })
    }

    /// Each operation on a WebSocket connection is a request of its caller's budget.
    async fn on_graphql_params<'exec>(
        &'exec self,
        payload: OnGraphQLParamsStartHookPayload<'exec>,
    ) -> OnGraphQLParamsStartHookResult<'exec> {
        if self.ws_path.as_deref() != Some(payload.router_http_request.path) {
            return payload.proceed();
        }
        let buckets = self.buckets(payload.context, Meter::Requests);
        match self.charge(&buckets, 1).await {
            Ok(()) => payload.proceed(),
            Err(refusal) => {
                let status = refusal.status;
                payload.end_with_graphql_error(refusal.into_graphql_error(), status)
            }
        }
    }

    async fn on_execute<'exec>(
        &'exec self,
        payload: OnExecuteStartHookPayload<'exec>,
    ) -> OnExecuteStartHookResult<'exec> {
        let Some(estimate) = payload.demand_control_estimate else {
            return payload.proceed();
        };
        let buckets = self.buckets(payload.context, Meter::Cost);
        match self.charge(&buckets, estimate.estimated.max(1)).await {
            Ok(()) => payload.proceed(),
            Err(refusal) => payload.end_with_response(refusal.into_early()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_overrides_by_tenant_id() {
        let tenant = TenantId::generate();
        let settings: BudgetSettings = serde_json::from_value(serde_json::json!({
            "redis_url": "redis://127.0.0.1:6379",
            "tenant": { "requests": 100, "cost": 1000 },
            "api_client": { "requests": 10, "cost": 100 },
            "tenants": { tenant.to_string(): { "requests": 5, "cost": 50 } },
            "on_redis_error": "closed",
        }))
        .expect("settings");
        assert_eq!(settings.window_secs, 60);
        assert_eq!(
            settings.tenants[&tenant],
            Budget {
                requests: 5,
                cost: 50
            }
        );
        assert_eq!(settings.on_redis_error, OnRedisError::Closed);
        let bad = serde_json::from_value::<BudgetSettings>(serde_json::json!({
            "redis_url": "redis://x", "tenant": { "requests": 1, "cost": 1 },
            "api_client": { "requests": 1, "cost": 1 }, "tenants": { "not-a-uuid": { "requests": 1, "cost": 1 } },
        }));
        assert!(bad.is_err());
    }
}
