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
//!
//! A round trip per request is most of what budgets cost, so a replica prepays: with a charge
//! it may take up to twice the units its last grant of that bucket served (at most 1/50 of the
//! allowance; never for allowances under 50), admits later requests from them without asking
//! Redis for up to a sixth of the window, and refunds what is left with its next charge of that
//! bucket. Units are always paid in Redis before they are used, so replicas together never pass
//! an allowance; a request may use a unit paid up to a sixth of a window earlier, and a replica
//! that goes quiet holds at most one prepayment per bucket that others cannot use until the
//! window passes.

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
/// the window); then per bucket its emission interval (ms per unit), the quantity it must
/// admit, the extra units to prepay if they fit, and the units to refund first (a replica's
/// unused prepaid units). Returns `{0, 0, extra granted per bucket...}` when every bucket admits
/// its quantity (all are charged), else `{i, ms to wait}` for the first bucket `i` (1-based)
/// that refuses (nothing is charged or refunded).
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tolerance = tonumber(ARGV[1])
local tats = {}
local granted = {0, 0}
for i, key in ipairs(KEYS) do
  local at = 4 * i - 2
  local interval = tonumber(ARGV[at])
  local need = tonumber(ARGV[at + 1])
  local extra = tonumber(ARGV[at + 2])
  local refund = tonumber(ARGV[at + 3])
  local tat = (tonumber(redis.call('GET', key)) or now) - refund * interval
  if tat < now then tat = now end
  local fit = math.floor((now + tolerance - tat) / interval)
  if fit < need then
    return {i, math.ceil(tat + need * interval - tolerance - now)}
  end
  local more = math.max(0, math.min(extra, fit - need))
  tats[i] = tat + (need + more) * interval
  granted[i + 2] = more
end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, tostring(tats[i]), 'PX', math.max(1, math.ceil(tats[i] - now)))
end
return granted
";

/// [`GCRA`], sent by its SHA-1 (`EVALSHA`; loaded again if Redis answers `NOSCRIPT`).
static SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(GCRA));

/// Request-bucket refusals remembered at most (expired ones are dropped first).
const REMEMBERED_MAX: usize = 10_000;

/// A replica prepays at most this share of a bucket's allowance (1/50: 24 of 1,200 requests a
/// minute); buckets under 50 units a window are never prepaid, so they are charged exactly.
const PREPAY_SHARE: u64 = 50;

/// Prepaid grants kept at most (expired ones are dropped first).
const GRANTS_MAX: usize = 10_000;

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

/// Units of one bucket this replica has paid for in Redis but not yet used: requests are
/// admitted from it without a round trip until it runs out or expires; what is left then is
/// refunded with the next charge of the bucket.
#[derive(Clone, Copy, Debug)]
struct Grant {
    left: u64,
    /// Units used since it was fetched (sizes the next prepayment to the demand).
    used: u64,
    until: Instant,
}

impl Grant {
    /// Adds `other` (a concurrent fetch of the same bucket), keeping the earlier expiry.
    fn merge(self, other: Grant) -> Grant {
        Grant {
            left: self.left + other.left,
            used: self.used + other.used,
            until: self.until.min(other.until),
        }
    }
}

/// What the plugin's hooks share (also with the charges that run after a response).
#[derive(Debug)]
struct Metering {
    settings: BudgetSettings,
    redis: Redis,
    /// Request buckets that refused, and until when (no request of theirs can pass before).
    refused: Mutex<HashMap<String, Instant>>,
    /// Prepaid units per bucket.
    grants: Mutex<HashMap<String, Grant>>,
}

/// One bucket's part of a charge sent to Redis.
#[derive(Clone, Copy, Debug)]
struct Ask {
    need: u64,
    extra: u64,
    refund: u64,
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

    /// Charges every `(bucket, quantity)` at once, all or none: from this replica's prepaid
    /// grants when every bucket has enough left, else in Redis (prepaying more where demand
    /// shows); a refusal of a request bucket is remembered.
    async fn charge(&self, charges: &[(Bucket, u64)]) -> Result<(), Refusal> {
        if charges.is_empty() {
            return Ok(());
        }
        let Some(taken) = self.take_from_grants(charges) else {
            return Ok(());
        };
        let asks: Vec<Ask> = charges
            .iter()
            .zip(&taken)
            .map(|((bucket, quantity), grant)| self.ask(bucket, *quantity, grant.as_ref()))
            .collect();
        // On a refusal or an outage the taken grants stay this replica's, unrefunded.
        let give_back = || self.put_grants(charges.iter().map(|(b, _)| b).zip(taken));
        match self.admit(charges, &asks).await {
            Ok(Ok(granted)) => {
                let until = Instant::now() + self.grant_life();
                self.put_grants(charges.iter().zip(&asks).zip(granted).map(
                    |(((bucket, _), ask), extra)| {
                        let grant = Grant {
                            left: extra,
                            used: ask.need,
                            until,
                        };
                        (bucket, Some(grant))
                    },
                ));
                Ok(())
            }
            Ok(Err((bucket, wait_ms))) => {
                give_back();
                if bucket.meter == Meter::Requests {
                    self.remember_refusal(bucket, wait_ms);
                }
                Err(Refusal::rate_limited(&bucket.what, wait_ms.div_ceil(1000)))
            }
            Err(down) => {
                give_back();
                match self.settings.on_redis_error {
                    OnRedisError::Open => {
                        tracing::warn!(error = %down, "budgets unmetered: redis is down (failing open)");
                        Ok(())
                    }
                    OnRedisError::Closed => {
                        tracing::warn!(error = %down, "request refused: redis is down (failing closed)");
                        Err(Refusal::unavailable())
                    }
                }
            }
        }
    }

    /// How long prepaid units may wait for use: a sixth of the window.
    fn grant_life(&self) -> Duration {
        Duration::from_millis(self.settings.window_secs * 1000 / 6)
    }

    /// Takes every quantity from the buckets' live grants (`None`: admitted), or, when one falls
    /// short, removes the buckets' grants so that their rest is refunded with the charge.
    fn take_from_grants(&self, charges: &[(Bucket, u64)]) -> Option<Vec<Option<Grant>>> {
        let mut grants = self.grants.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let enough = charges.iter().all(|(bucket, quantity)| {
            grants
                .get(&bucket.key)
                .is_some_and(|g| g.until > now && g.left >= *quantity)
        });
        if enough {
            for (bucket, quantity) in charges {
                if let Some(grant) = grants.get_mut(&bucket.key) {
                    grant.left -= quantity;
                    grant.used += quantity;
                }
            }
            return None;
        }
        Some(
            charges
                .iter()
                .map(|(bucket, _)| grants.remove(&bucket.key))
                .collect(),
        )
    }

    /// Gives grants back (merged with any a concurrent charge put there meanwhile).
    fn put_grants<'a>(&self, grants: impl Iterator<Item = (&'a Bucket, Option<Grant>)>) {
        let mut kept = self.grants.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if kept.len() >= GRANTS_MAX {
            kept.retain(|_, g| g.until > now);
            if kept.len() >= GRANTS_MAX {
                // Forgetting unused units only under-admits, by at most a prepayment each.
                kept.clear();
            }
        }
        for (bucket, grant) in grants {
            if let Some(grant) = grant {
                kept.entry(bucket.key.clone())
                    .and_modify(|other| *other = other.merge(grant))
                    .or_insert(grant);
            }
        }
    }

    /// What to ask of Redis for `quantity` of `bucket`, given the grant taken from it: its rest
    /// refunded (if it expired at most a grant's life ago: older charges have lapsed in Redis
    /// anyway), and twice the units the last grant served prepaid, within the bucket's share.
    fn ask(&self, bucket: &Bucket, quantity: u64, grant: Option<&Grant>) -> Ask {
        let cap = bucket.allowance / PREPAY_SHARE;
        let recent = grant.filter(|g| g.until + self.grant_life() > Instant::now());
        Ask {
            need: quantity,
            extra: recent.map_or(0, |g| g.used.saturating_mul(2).min(cap)),
            refund: recent.map_or(0, |g| g.left),
        }
    }

    /// The extra units granted per bucket when admitted, else the refusing bucket and the
    /// milliseconds to wait.
    async fn admit<'a>(
        &self,
        charges: &'a [(Bucket, u64)],
        asks: &[Ask],
    ) -> Result<Result<Vec<u64>, (&'a Bucket, u64)>, RedisDown> {
        let window_ms = (self.settings.window_secs * 1000) as f64;
        let mut invocation = SCRIPT.prepare_invoke();
        invocation.arg(window_ms);
        for ((bucket, _), ask) in charges.iter().zip(asks) {
            let interval = window_ms / bucket.allowance.max(1) as f64;
            invocation
                .key(&bucket.key)
                .arg(interval)
                .arg(ask.need)
                .arg(ask.extra)
                .arg(ask.refund);
        }
        let mut conn = self.redis.connection().await?;
        let reply: Vec<i64> = bounded(invocation.invoke_async(&mut conn)).await?;
        let (refused, wait) = (reply.first().copied(), reply.get(1).copied());
        if let (Some(i @ 1..), Some(wait)) = (refused, wait)
            && let Some((bucket, _)) = charges.get(i as usize - 1)
        {
            return Ok(Err((bucket, wait.max(1) as u64)));
        }
        Ok(Ok((0..charges.len())
            .map(|i| reply.get(i + 2).map_or(0, |&g| g.max(0) as u64))
            .collect()))
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
                grants: Mutex::new(HashMap::new()),
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
    use redis::aio::ConnectionManager;

    use super::*;

    /// A replica's metering against the test Redis: an hour's window, so that a test's own
    /// duration frees no unit (3.6 s per unit at 1,000 an hour).
    fn replica() -> Metering {
        let url = harness::redis_url();
        let budget = Budget {
            requests: 1000,
            cost: 1000,
        };
        Metering {
            settings: BudgetSettings {
                redis_url: url.clone(),
                window_secs: 3600,
                tenant: budget,
                api_client: budget,
                tenants: HashMap::new(),
                on_redis_error: OnRedisError::Closed,
            },
            redis: Redis::open(&url).expect("redis url"),
            refused: Mutex::new(HashMap::new()),
            grants: Mutex::new(HashMap::new()),
        }
    }

    fn bucket(allowance: u64) -> Bucket {
        Bucket {
            key: format!("aula:budget:test:{}", TenantId::generate()),
            allowance,
            meter: Meter::Cost,
            what: "test budget".into(),
        }
    }

    fn left(meter: &Metering, bucket: &Bucket) -> u64 {
        let grants = meter.grants.lock().expect("grants");
        grants.get(&bucket.key).map_or(0, |g| g.left)
    }

    async fn tat(redis: &mut ConnectionManager, bucket: &Bucket) -> f64 {
        let tat: String = redis::AsyncCommands::get(redis, &bucket.key)
            .await
            .expect("get");
        tat.parse().expect("a number")
    }

    #[tokio::test]
    async fn replicas_prepay_with_demand_and_together_never_pass_the_allowance() {
        let (a, b) = (replica(), replica());
        let bucket = bucket(1000);
        let charge = [(bucket.clone(), 1)];
        let mut admitted = 0;
        for i in 0..1100 {
            let meter = if i % 2 == 0 { &a } else { &b };
            match meter.charge(&charge).await {
                Ok(()) => admitted += 1,
                Err(refusal) => assert_eq!(refusal.code, "RATE_LIMITED"),
            }
        }
        // The whole allowance, spent by both replicas (at most one unit more: time passing),
        // and each replica's prepaid units were used up before Redis refused it.
        assert!((1000..=1001).contains(&admitted), "admitted {admitted}");
        assert_eq!((left(&a, &bucket), left(&b, &bucket)), (0, 0));
    }

    #[tokio::test]
    async fn prepaid_units_are_spent_without_redis_and_their_rest_is_refunded() {
        let meter = replica();
        let bucket = bucket(1000);
        let charge = [(bucket.clone(), 1)];
        // First a bare charge, then prepayments of twice the units the last grant served.
        meter.charge(&charge).await.expect("first");
        assert_eq!(left(&meter, &bucket), 0);
        meter.charge(&charge).await.expect("second");
        assert_eq!(left(&meter, &bucket), 2);
        for _ in 0..3 {
            meter.charge(&charge).await.expect("more");
        }
        assert_eq!(left(&meter, &bucket), 6, "3 served: 6 prepaid");

        // Redis refusing everything (another replica spent the bucket) does not stop the six
        // prepaid units; the seventh charge asks Redis and is refused.
        let mut redis = meter.redis.connection().await.expect("redis");
        let far = (tat(&mut redis, &bucket).await + 1e9).to_string();
        let _: () = redis::AsyncCommands::set(&mut redis, &bucket.key, &far)
            .await
            .expect("set");
        for i in 0..6 {
            meter
                .charge(&charge)
                .await
                .unwrap_or_else(|e| panic!("prepaid {i}: {e:?}"));
        }
        let refusal = meter.charge(&charge).await.expect_err("spent");
        assert_eq!(refusal.code, "RATE_LIMITED");

        // An expired grant's rest goes back to Redis with the next charge.
        let _: () = redis::AsyncCommands::del(&mut redis, &bucket.key)
            .await
            .expect("del");
        for _ in 0..2 {
            meter.charge(&charge).await.expect("charge");
        }
        let before = tat(&mut redis, &bucket).await;
        let unused = left(&meter, &bucket);
        assert!(unused > 0);
        if let Some(grant) = meter.grants.lock().expect("grants").get_mut(&bucket.key) {
            grant.until = Instant::now() - Duration::from_millis(1);
        }
        meter.charge(&charge).await.expect("charge");
        let interval = 3_600_000.0 / 1000.0;
        let charged = (tat(&mut redis, &bucket).await - before) / interval;
        let expected = 1.0 + left(&meter, &bucket) as f64 - unused as f64;
        assert!(
            (charged - expected).abs() < 0.01,
            "charged {charged} units, expected {expected}"
        );
    }

    #[tokio::test]
    async fn small_budgets_are_never_prepaid() {
        let meter = replica();
        let bucket = bucket(49);
        for _ in 0..10 {
            meter.charge(&[(bucket.clone(), 1)]).await.expect("charge");
            assert_eq!(left(&meter, &bucket), 0);
        }
    }

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
