//! Budgets (plugin `aula_budgets`): per-tenant and per-API-client request rates and query-cost
//! budgets per time window, counted in Redis so every gateway replica shares them. Each budget
//! is a GCRA bucket (a request passes when the bucket's theoretical arrival time minus the
//! window is not in the future), so a burst of a whole window's allowance passes and then
//! requests are spaced evenly. An operation's request and its estimated cost (the router's
//! demand control) are charged together after planning, in one atomic script over every bucket
//! involved (all or none). A request that never gets that far (a parse or validation error, a
//! refused document) is charged as it ends. A refusal tells exactly when the next request can
//! pass, so the gateway remembers it and refuses that subject's requests before parsing until
//! then, without asking Redis. Over budget: `RATE_LIMITED` with `Retry-After`. Sizes come from
//! configuration with per-tenant overrides; if Redis is down the plugin fails open or closed as
//! configured, and says so in the log.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
use hive_router::plugins::plugin_trait::{EndHookPayload, RouterPlugin, StartHookPayload};
use serde::Deserialize;
use tenancy::TenantId;

use crate::auth::Caller;
use crate::redis::{Redis, RedisDown, bounded};
use crate::reply::Refusal;
use crate::tenant::Bound;

/// The GCRA step over several buckets at once. KEYS: the buckets. ARGV[1]: the tolerance (ms,
/// the window); then per bucket its emission interval (ms per unit) and quantity. Returns
/// `{0, 0}` when every bucket admits (all are charged), else `{i, ms to wait}` for the first
/// bucket `i` (1-based) that refuses (none is charged).
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tolerance = tonumber(ARGV[1])
local charged = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i])
  local quantity = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local new_tat = tat + interval * quantity
  local allow_at = new_tat - tolerance
  if allow_at > now then
    return {i, math.ceil(allow_at - now)}
  end
  charged[i] = new_tat
end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, tostring(charged[i]), 'PX', math.max(1, math.ceil(charged[i] - now)))
end
return {0, 0}
";

/// [`GCRA`], sent by its SHA-1 (`EVALSHA`; loaded again if Redis answers `NOSCRIPT`).
static SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(GCRA));

/// Request-bucket refusals remembered at most (expired ones are dropped first).
const REMEMBERED_MAX: usize = 10_000;

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

/// A bucket to charge: its key, its allowance, what it meters and what to call it in the error.
#[derive(Clone, Debug)]
struct Bucket {
    key: String,
    allowance: u64,
    meter: Meter,
    what: String,
}

/// Whether this request's charge is settled (charged, or refused); shared with the hook that
/// charges a request ending before execution.
#[derive(Clone, Debug, Default)]
struct Settled(Arc<AtomicBool>);

impl Settled {
    /// Already settled (a WebSocket operation, charged as it starts).
    fn done() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }

    fn of(context: &PluginContext) -> bool {
        context
            .get_ref::<Settled>()
            .is_none_or(|s| s.0.load(Ordering::SeqCst))
    }

    fn settle(context: &PluginContext) {
        if let Some(settled) = context.get_ref::<Settled>() {
            settled.0.store(true, Ordering::SeqCst);
        }
    }
}

/// The plugin.
#[derive(Debug)]
pub struct Budgets {
    meter: Arc<Metering>,
    /// The router's WebSocket path, when WebSocket is on.
    ws_path: Option<String>,
}

/// What the plugin's hooks share (also with the charges that run after a response).
#[derive(Debug)]
struct Metering {
    settings: BudgetSettings,
    redis: Redis,
    /// Request buckets that refused, and until when (no request of theirs can pass before).
    refused: Mutex<HashMap<String, Instant>>,
}

impl Metering {
    /// The buckets this request charges for `meter`: its tenant's, and its API client's.
    fn buckets(&self, context: &PluginContext, meter: Meter, into: &mut Vec<Bucket>) {
        let caller = Caller::of(context);
        let tenant = Bound::of(context).or_else(|| caller.as_ref().map(|c| c.tenant()));
        if let Some(tenant) = tenant {
            let budget = self
                .settings
                .tenants
                .get(&tenant)
                .copied()
                .unwrap_or(self.settings.tenant);
            into.push(Bucket {
                key: format!("aula:budget:{}:tenant:{tenant}", meter.name()),
                allowance: meter.of(budget),
                meter,
                what: format!("academy's {} budget", meter.label()),
            });
        }
        if let Some(ctx) = &caller
            && let Some(client) = ctx.client_id()
        {
            into.push(Bucket {
                key: format!(
                    "aula:budget:{}:client:{}:{client}",
                    meter.name(),
                    ctx.tenant()
                ),
                allowance: meter.of(self.settings.api_client),
                meter,
                what: format!("API client's {} budget", meter.label()),
            });
        }
    }

    /// A remembered refusal of one of the buckets of `charges`, still in force.
    fn remembered_refusal(&self, charges: &[(Bucket, u64)]) -> Option<Refusal> {
        let refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        charges.iter().find_map(|(bucket, _)| {
            let until = *refused.get(&bucket.key)?;
            let wait = until.checked_duration_since(now)?;
            Some(Refusal::rate_limited(
                &bucket.what,
                wait.as_millis().div_ceil(1000) as u64,
            ))
        })
    }

    fn remember_refusal(&self, bucket: &Bucket, wait_ms: u64) {
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if refused.len() >= REMEMBERED_MAX {
            refused.retain(|_, until| *until > now);
            if refused.len() >= REMEMBERED_MAX {
                refused.clear();
            }
        }
        refused.insert(bucket.key.clone(), now + Duration::from_millis(wait_ms));
    }

    /// Charges every `(bucket, quantity)` at once, all or none; a refusal of a request bucket is
    /// remembered.
    async fn charge(&self, charges: &[(Bucket, u64)]) -> Result<(), Refusal> {
        if charges.is_empty() {
            return Ok(());
        }
        match self.admit(charges).await {
            Ok(None) => Ok(()),
            Ok(Some((bucket, wait_ms))) => {
                if bucket.meter == Meter::Requests {
                    self.remember_refusal(bucket, wait_ms);
                }
                Err(Refusal::rate_limited(&bucket.what, wait_ms.div_ceil(1000)))
            }
            Err(down) => match self.settings.on_redis_error {
                OnRedisError::Open => {
                    tracing::warn!(error = %down, "budgets unmetered: redis is down (failing open)");
                    Ok(())
                }
                OnRedisError::Closed => {
                    tracing::warn!(error = %down, "request refused: redis is down (failing closed)");
                    Err(Refusal::unavailable())
                }
            },
        }
    }

    /// `None` when admitted, else the refusing bucket and the milliseconds to wait.
    async fn admit<'a>(
        &self,
        charges: &'a [(Bucket, u64)],
    ) -> Result<Option<(&'a Bucket, u64)>, RedisDown> {
        let window_ms = (self.settings.window_secs * 1000) as f64;
        let mut invocation = SCRIPT.prepare_invoke();
        invocation.arg(window_ms);
        for (bucket, quantity) in charges {
            let interval = window_ms / bucket.allowance.max(1) as f64;
            invocation.key(&bucket.key).arg(interval).arg(*quantity);
        }
        let mut conn = self.redis.connection().await?;
        let (refused, wait): (usize, i64) = bounded(invocation.invoke_async(&mut conn)).await?;
        Ok(refused
            .checked_sub(1)
            .and_then(|i| charges.get(i))
            .map(|(bucket, _)| (bucket, wait.max(1) as u64)))
    }

    /// This request's request buckets, each charged one.
    fn requests(&self, context: &PluginContext) -> Vec<(Bucket, u64)> {
        let mut buckets = Vec::new();
        self.buckets(context, Meter::Requests, &mut buckets);
        buckets.into_iter().map(|b| (b, 1)).collect()
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
            meter: Arc::new(Metering {
                settings,
                redis,
                refused: Mutex::new(HashMap::new()),
            }),
            ws_path,
        })
    }

    /// Before parsing: refused at once while a remembered refusal is in force; otherwise the
    /// request is charged with its cost after planning, or as it ends if it never gets there.
    fn on_http_request<'req>(
        &'req self,
        payload: OnHttpRequestHookPayload<'req>,
    ) -> OnHttpRequestHookFuture<'req> {
        Box::pin(async move {
            if crate::is_probe(payload.router_http_request.path()) {
                return payload.proceed();
            }
            let requests = self.meter.requests(payload.context);
            if let Some(refusal) = self.meter.remembered_refusal(&requests) {
                return payload.end_with_response(refusal.into_response());
            }
            if requests.is_empty() {
                return payload.proceed();
            }
            let settled = Settled::default();
            payload.context.insert(settled.clone());
            let meter = self.meter.clone();
            payload.on_end(move |end| {
                if !settled.0.swap(true, Ordering::SeqCst) {
                    tokio::spawn(async move {
                        let _ = meter.charge(&requests).await;
                    });
                }
                end.proceed()
            })
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
        let requests = self.meter.requests(payload.context);
        let charged = match self.meter.remembered_refusal(&requests) {
            Some(refusal) => Err(refusal),
            None => self.meter.charge(&requests).await,
        };
        match charged {
            Ok(()) => {
                payload.context.insert(Settled::done());
                payload.proceed()
            }
            Err(refusal) => {
                let status = refusal.status;
                payload.end_with_graphql_error(refusal.into_graphql_error(), status)
            }
        }
    }

    /// After planning: the request (unless already charged) and its estimated cost, at once.
    async fn on_execute<'exec>(
        &'exec self,
        payload: OnExecuteStartHookPayload<'exec>,
    ) -> OnExecuteStartHookResult<'exec> {
        let mut charges = if Settled::of(payload.context) {
            Vec::new()
        } else {
            self.meter.requests(payload.context)
        };
        if let Some(estimate) = payload.demand_control_estimate {
            let mut buckets = Vec::new();
            self.meter
                .buckets(payload.context, Meter::Cost, &mut buckets);
            let quantity = estimate.estimated.max(1);
            charges.extend(buckets.into_iter().map(|b| (b, quantity)));
        }
        let charged = self.meter.charge(&charges).await;
        Settled::settle(payload.context);
        match charged {
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
