//! Identity's HTTP endpoints beside `/graphql`: the JWKS and discovery documents, the OAuth2
//! token endpoint (client credentials and refresh token grants), the audit-log export, and the
//! public tenant route lookup the gateway binds anonymous requests with.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kit::server::{authenticate, client_info, error_response};
use kit::{Caller, ClientInfo, Code, DomainError};
use serde_json::json;

use crate::IdentityError;
use crate::app::Identity;
use crate::service::{audit, clients, sessions, tenants};

mod sso;

/// The routes, sharing identity's state.
pub fn routes(identity: Arc<Identity>) -> Router {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/oauth/token", post(token))
        .route("/audit/export", get(export))
        .route("/tenants/route", get(tenant_route))
        .merge(sso::routes())
        .with_state(identity)
}

async fn jwks(State(identity): State<Arc<Identity>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/jwk-set+json"),
            (header::CACHE_CONTROL, "public, max-age=60"),
        ],
        identity.keys.jwks(),
    )
        .into_response()
}

async fn discovery(State(identity): State<Arc<Identity>>) -> Response {
    let base = identity.settings.public_url.trim_end_matches('/');
    let body = json!({
        "issuer": identity.auth.issuer,
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "token_endpoint": format!("{base}/oauth/token"),
        "grant_types_supported": ["client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "token_endpoint_auth_signing_alg_values_supported": ["EdDSA"],
        "scopes_supported": clients::SCOPES,
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "jti", "tid", "roles", "scope", "amr"],
    });
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(body)).into_response()
}

/// `GET /tenants/route?name=<host or slug>`: `{"id", "slug", "status"}`, or 404 when the name
/// routes nowhere. Names are public (they are the academy's web addresses), so anyone may ask.
async fn tenant_route(
    State(identity): State<Arc<Identity>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let Some(name) = params.get("name") else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "the name parameter is required" })),
        )
            .into_response();
    };
    let cache = [(header::CACHE_CONTROL, "public, max-age=30")];
    match tenants::route(&identity.db, name, &identity.settings.platform_domain).await {
        Ok(Some(route)) => {
            let status = if route.active { "active" } else { "suspended" };
            let body = json!({ "id": route.id.to_string(), "slug": route.slug, "status": status });
            (cache, Json(body)).into_response()
        }
        Ok(None) => (
            StatusCode::NOT_FOUND,
            cache,
            Json(json!({ "error": "no academy has this name" })),
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "tenant route lookup failed");
            error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "try again shortly",
                Code::Unavailable,
            )
        }
    }
}

fn peer(
    conn: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
    identity: &Identity,
) -> ClientInfo {
    client_info(conn.map(|c| c.0.0.ip()), headers, &identity.trusted_proxies)
}

/// An RFC 6749 error response.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

fn oauth_failure(err: IdentityError) -> Response {
    match &err {
        IdentityError::Credentials(msg) if *msg == clients::BAD_CLIENT => {
            let mut resp = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", msg);
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"aula\""),
            );
            resp
        }
        IdentityError::Credentials(msg) => {
            oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", msg)
        }
        IdentityError::Suspended => {
            oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", &err.to_string())
        }
        IdentityError::Invalid {
            field: "scope",
            message,
        } => oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", message),
        IdentityError::RateLimited(secs) => {
            let mut resp =
                oauth_error(StatusCode::TOO_MANY_REQUESTS, "slow_down", &err.to_string());
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
        _ if err.code() == Code::Unavailable => {
            tracing::warn!(error = %err, "token endpoint unavailable");
            oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "try again shortly",
            )
        }
        _ => {
            tracing::error!(error = %err, "token endpoint failed");
            oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error",
            )
        }
    }
}

/// `Authorization: Basic base64(client_id:client_secret)`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

async fn token(
    State(identity): State<Arc<Identity>>,
    conn: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let client = peer(conn, &headers, &identity);
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {
            let credentials = basic_credentials(&headers).or_else(|| {
                Some((
                    form.get("client_id")?.clone(),
                    form.get("client_secret")?.clone(),
                ))
            });
            let Some((id, secret)) = credentials else {
                return oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "send client_id and client_secret (HTTP Basic or form fields)",
                );
            };
            let scope = form.get("scope").map(String::as_str);
            match clients::token(&identity, &id, &secret, scope, client).await {
                Ok(grant) => (
                    [(header::CACHE_CONTROL, "no-store")],
                    Json(json!({
                        "access_token": grant.access_token,
                        "token_type": "Bearer",
                        "expires_in": grant.expires_in,
                        "scope": grant.scope,
                    })),
                )
                    .into_response(),
                Err(err) => oauth_failure(err),
            }
        }
        Some("refresh_token") => {
            let Some(presented) = form.get("refresh_token") else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "refresh_token is required",
                );
            };
            match sessions::refresh(&identity, presented, client).await {
                Ok(session) => (
                    [(header::CACHE_CONTROL, "no-store")],
                    Json(json!({
                        "access_token": session.access_token,
                        "token_type": "Bearer",
                        "expires_in": session.expires_in,
                        "refresh_token": session.refresh_token,
                    })),
                )
                    .into_response(),
                Err(err) => oauth_failure(err),
            }
        }
        Some(_) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "supported grants: client_credentials, refresh_token",
        ),
        None => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type is required",
        ),
    }
}

#[derive(Debug, serde::Deserialize)]
struct ExportParams {
    action: Option<String>,
    success: Option<bool>,
    actor: Option<String>,
    since: Option<chrono::DateTime<chrono::Utc>>,
    until: Option<chrono::DateTime<chrono::Utc>>,
}

async fn export(
    State(identity): State<Arc<Identity>>,
    headers: HeaderMap,
    params: Result<Query<ExportParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(params)) = params else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "invalid filter: use action, success, actor, since and until (RFC 3339)",
            Code::BadUserInput,
        );
    };
    let ctx = match authenticate(
        &identity.verifier,
        Some((&identity.redis, &identity.suspensions)),
        &headers,
    )
    .await
    {
        Ok(Caller::Authenticated(ctx)) => ctx,
        Ok(Caller::Anonymous | Caller::Visitor(_)) => {
            return error_response(
                StatusCode::UNAUTHORIZED,
                "sign in first",
                Code::Unauthenticated,
            );
        }
        Err(resp) => return resp,
    };
    let filter = audit::Filter {
        action: params.action,
        success: params.success,
        actor_id: params.actor,
        since: params.since,
        until: params.until,
    };
    match audit::export(&identity.db, &ctx, &filter).await {
        Ok(lines) => (
            [
                (header::CONTENT_TYPE, "application/x-ndjson"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"audit-log.jsonl\"",
                ),
                (header::CACHE_CONTROL, "no-store"),
            ],
            lines,
        )
            .into_response(),
        Err(err) => {
            let code = err.code();
            let status = match code {
                Code::Unauthenticated => StatusCode::UNAUTHORIZED,
                Code::Forbidden => StatusCode::FORBIDDEN,
                _ => {
                    tracing::error!(error = %err, "audit export failed");
                    return error_response(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal error",
                        Code::Internal,
                    );
                }
            };
            error_response(status, &err.to_string(), code)
        }
    }
}
