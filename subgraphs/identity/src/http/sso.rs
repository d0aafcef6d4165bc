//! Single sign-on over HTTP: `/sso/{tenant}/{provider}/start` sends the browser to the tenant's
//! OpenID provider, and `/sso/callback` takes it back, answering with a one-time hand-off code
//! (a redirect to the web app, or JSON). Errors are JSON with stable codes.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use kit::server::{client_info, error_response};
use kit::{Code, DomainError};
use reqwest::Url;
use serde::Deserialize;
use serde_json::json;

use crate::IdentityError;
use crate::app::Identity;
use crate::service::sso::{self, CallbackParams};

/// The single sign-on routes.
pub(super) fn routes() -> Router<Arc<Identity>> {
    Router::new()
        .route("/sso/{tenant}/{provider}/start", get(start))
        .route(sso::CALLBACK_PATH, get(callback))
}

#[derive(Debug, Deserialize)]
struct StartParams {
    return_to: Option<String>,
}

async fn start(
    State(identity): State<Arc<Identity>>,
    Path((tenant, provider)): Path<(String, String)>,
    params: Result<Query<StartParams>, QueryRejection>,
) -> Response {
    let Ok(Query(params)) = params else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "the only parameter is return_to",
            Code::BadUserInput,
        );
    };
    match sso::start(&identity, &tenant, &provider, params.return_to.as_deref()).await {
        Ok(url) => redirect(&url),
        Err(err) => failure(err),
    }
}

async fn callback(
    State(identity): State<Arc<Identity>>,
    conn: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    params: Result<Query<CallbackParams>, QueryRejection>,
) -> Response {
    let Ok(Query(params)) = params else {
        return failure(IdentityError::Credentials(sso::BAD_STATE));
    };
    let client = client_info(
        conn.map(|c| c.0.0.ip()),
        &headers,
        &identity.trusted_proxies,
    );
    let handoff = match sso::callback(&identity, &params, client).await {
        Ok(handoff) => handoff,
        Err(err) => return failure(err),
    };
    match handoff.return_to.as_deref().map(Url::parse) {
        Some(Ok(mut url)) => {
            url.query_pairs_mut().append_pair("sso_code", &handoff.code);
            redirect(url.as_str())
        }
        Some(Err(_)) => failure(IdentityError::invalid(
            "returnTo",
            "must be a page of the web app",
        )),
        None => (
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::REFERRER_POLICY, "no-referrer"),
            ],
            Json(json!({ "ssoCode": handoff.code })),
        )
            .into_response(),
    }
}

/// A `302 Found` to `url`, never cached, leaking nothing through `Referer`.
fn redirect(url: &str) -> Response {
    let Ok(location) = HeaderValue::from_str(url) else {
        return failure(IdentityError::Credentials(sso::SSO_FAILED));
    };
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// An error as JSON with its stable code; internal causes are logged, never sent.
fn failure(err: IdentityError) -> Response {
    let code = err.code();
    let status = match code {
        Code::BadUserInput | Code::BadRequest => StatusCode::BAD_REQUEST,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::Forbidden => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::Conflict => StatusCode::CONFLICT,
        Code::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if code.is_public() {
        return error_response(status, &err.to_string(), code);
    }
    if code == Code::Unavailable {
        tracing::warn!(error = %err, "single sign-on unavailable");
        return error_response(status, "try again shortly", code);
    }
    tracing::error!(error = %err, "single sign-on failed");
    error_response(status, "internal error", code)
}
