//! Token verification (plugin `aula_auth`): the bearer token is checked against identity's
//! JWKS with the same verifier every subgraph uses (EdDSA only; issuer, audience and expiry
//! checked; the JWKS fetched again when an unknown `kid` appears), and a suspended tenant's
//! tokens are refused through the Redis flag identity raises (remembered per process until
//! identity announces a change). Bad tokens are refused here with `UNAUTHENTICATED` instead of
//! degrading to anonymous; the caller's context is kept for the plugins after this one. Over
//! WebSocket the token arrives in `connection_init` and is verified for every operation.
//! Subgraphs verify the forwarded token again.

use std::sync::Arc;

use hive_router::async_trait;
use hive_router::http::StatusCode;
use hive_router::plugins::hooks::on_graphql_params::{
    OnGraphQLParamsStartHookPayload, OnGraphQLParamsStartHookResult,
};
use hive_router::plugins::hooks::on_http_request::{
    OnHttpRequestHookFuture, OnHttpRequestHookPayload,
};
use hive_router::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::plugins::plugin_context::PluginContext;
use hive_router::plugins::plugin_trait::{RouterPlugin, StartHookPayload};
use kit::auth::{AuthError, Verifier};
use kit::config::AuthConfig;
use kit::revocation::Suspensions;
use serde::Deserialize;
use tenancy::TenantContext;

use crate::redis::{Redis, bounded};
use crate::reply::Refusal;

/// `plugins.aula_auth.config`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Expected `iss` (identity's issuer).
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    /// Identity's JWKS, e.g. `http://identity:4001/.well-known/jwks.json`.
    pub jwks_url: String,
    /// Redis holding the tenant suspension flags.
    pub redis_url: String,
}

/// Who is calling, as the token says (`None`: no token, anonymous).
#[derive(Clone, Debug)]
pub struct Caller(pub Option<TenantContext>);

impl Caller {
    /// The verified caller of this request, if it carried a token.
    pub fn of(context: &PluginContext) -> Option<TenantContext> {
        context.get_ref::<Caller>().and_then(|c| c.0.clone())
    }
}

/// The plugin.
#[derive(Debug)]
pub struct Auth {
    verifier: Verifier,
    redis: Redis,
    /// The suspension flags read so far, forgotten on identity's announcements.
    suspensions: Arc<Suspensions>,
    /// The router's WebSocket path, when WebSocket is on.
    ws_path: Option<String>,
}

const REFUSED: &str = "the access token was refused; sign in again";

fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl Auth {
    async fn check(&self, authorization: Option<&str>) -> Result<Caller, Refusal> {
        let Some(value) = authorization else {
            return Ok(Caller(None));
        };
        let Some(token) = bearer(value) else {
            return Err(Refusal::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "use an `Authorization: Bearer <token>` header",
            ));
        };
        let ctx = match self.verifier.verify(token).await {
            Ok(ctx) => ctx,
            Err(AuthError::KeysUnavailable(cause)) => {
                tracing::warn!(%cause, "JWKS unavailable");
                return Err(Refusal::unavailable());
            }
            Err(err) => {
                tracing::info!(error = %err, "access token refused");
                return Err(Refusal::new(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHENTICATED",
                    REFUSED,
                ));
            }
        };
        let suspended = match self.redis.connection().await {
            Ok(conn) => bounded(self.suspensions.is_suspended(&conn, ctx.tenant())).await,
            Err(down) => Err(down),
        };
        match suspended {
            Ok(false) => Ok(Caller(Some(ctx))),
            Ok(true) => {
                tracing::info!(tenant = %ctx.tenant(), "token of a suspended tenant refused");
                Err(Refusal::new(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHENTICATED",
                    REFUSED,
                ))
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot check tenant suspension");
                Err(Refusal::unavailable())
            }
        }
    }
}

#[async_trait]
impl RouterPlugin for Auth {
    type Config = AuthSettings;

    fn plugin_name() -> &'static str {
        "aula_auth"
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let settings = payload.config()?;
        let verifier = Verifier::new(&AuthConfig {
            issuer: settings.issuer,
            audience: settings.audience,
            jwks_url: Some(settings.jwks_url),
            jwks: None,
        })?;
        let redis = Redis::open(&settings.redis_url)?;
        let suspensions = Suspensions::watch(redis.client())?;
        let ws_path = payload.router_config().websocket_path().map(str::to_owned);
        payload.initialize_plugin(Self {
            verifier,
            redis,
            suspensions,
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
            let authorization = payload
                .router_http_request
                .headers()
                .get("authorization")
                .map(|v| v.to_str().unwrap_or("").to_owned());
            match self.check(authorization.as_deref()).await {
                Ok(caller) => {
                    payload.context.insert(caller);
                    payload.proceed()
                }
                Err(refusal) => payload.end_with_response(refusal.into_response()),
            }
        })
    }

    /// Each operation on a WebSocket connection: the upgrade request was checked once, but the
    /// token travels in `connection_init` (the router turns its fields into this operation's
    /// headers), so it is verified here, per operation, and replaces the connection's caller.
    async fn on_graphql_params<'exec>(
        &'exec self,
        payload: OnGraphQLParamsStartHookPayload<'exec>,
    ) -> OnGraphQLParamsStartHookResult<'exec> {
        if self.ws_path.as_deref() != Some(payload.router_http_request.path) {
            return payload.proceed();
        }
        let authorization = payload
            .router_http_request
            .headers
            .get("authorization")
            .map(|v| v.to_str().unwrap_or("").to_owned());
        match self.check(authorization.as_deref()).await {
            Ok(caller) => {
                payload.context.insert(caller);
                payload.proceed()
            }
            Err(refusal) => {
                let status = refusal.status;
                payload.end_with_graphql_error(refusal.into_graphql_error(), status)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bearer_credentials_are_read() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("abc"), None);
    }
}
