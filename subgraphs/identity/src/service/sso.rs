//! Per-tenant OpenID Connect single sign-on: tenant admins register their provider (the client
//! secret sealed at rest), users sign in with the authorization code flow (PKCE S256, nonce,
//! single-use state in Redis), and a one-time hand-off code, not a token in a URL, carries the
//! result back to the web app, which exchanges it for a session.
//!
//! Every outbound request (discovery, JWKS, token endpoint) goes through one reqwest client that
//! never follows redirects, has short timeouts and reads at most [`MAX_RESPONSE_BYTES`].

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use kit::ClientInfo;
use kit::relay::{self, Page, Window};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AccessTokenHash, AsyncHttpClient, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    HttpRequest, HttpResponse, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse,
};
use reqwest::Url;
use reqwest::redirect::Policy;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, QueryFilter, Set, Unchanged};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tenancy::{Access, Role, TenantContext, TenantId, TenantTx, UserId};
use uuid::Uuid;

use crate::IdentityError;
use crate::app::Identity;
use crate::crypto::{self, CryptoError};
use crate::entity::{sso_identity, sso_provider, user};
use crate::service::audit::{self, Actor, Event};
use crate::service::sessions::{self, Session};
use crate::service::{tenants, validate};
use crate::settings::Settings;

/// Who may register, list, disable and remove SSO providers.
pub const MANAGE_SSO: Access = Access::roles(&[Role::Owner, Role::Admin]);

/// The roles a provider may give the users it creates.
pub const DEFAULT_ROLES: &[Role] = &[Role::Instructor, Role::Sales, Role::Student];

/// Where the provider sends the browser back to, under identity's public URL.
pub const CALLBACK_PATH: &str = "/sso/callback";

/// Seconds a started sign-in waits for the provider's answer.
pub const STATE_TTL_SECS: u64 = 600;
/// Seconds a hand-off code stays valid.
pub const HANDOFF_TTL_SECS: u64 = 60;
/// The most a provider's answer may weigh.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

const STATE_PREFIX: &str = "aula:sso:state:";
const HANDOFF_PREFIX: &str = "aula:sso:handoff:";
const HANDOFF_CODE_PREFIX: &str = "aula_sso_";

/// The message for a refused or failed single sign-on.
pub const SSO_FAILED: &str = "single sign-on failed; start again or ask your academy for help";
/// The message for an unknown, spent or expired sign-in state.
pub const BAD_STATE: &str = "this sign-in has expired or was already used; start again";
/// The message for an unknown, spent or expired hand-off code.
pub const BAD_HANDOFF: &str = "this sign-in code is invalid or has expired; sign in again";
/// The message when the provider cannot be reached or misbehaves.
pub const PROVIDER_DOWN: &str = "the sign-in provider cannot be reached; try again later";
/// The message when the provider does not vouch for the email address.
pub const EMAIL_UNVERIFIED: &str = "the sign-in provider has not verified this email address";
/// The message when the address belongs to an owner who never signed in through the provider.
pub const OWNER_NOT_LINKED: &str =
    "this academy's owner signs in with a password, not through this provider";
/// The message when the email domain is not allowed.
pub const DOMAIN_REFUSED: &str = "this email address may not sign in to this academy";

// ---------------------------------------------------------------------------------------------
// Administration

/// A provider to register.
#[derive(Clone)]
pub struct NewProvider {
    /// What users see on the sign-in button.
    pub name: String,
    /// The issuer URL.
    pub issuer: String,
    /// Our client id at the provider.
    pub client_id: String,
    /// Our client secret at the provider (sealed before it is stored).
    pub client_secret: String,
    /// Email domains allowed to sign in; empty allows any.
    pub allowed_domains: Vec<String>,
    /// The role of users created on their first sign-in.
    pub default_role: Role,
}

impl std::fmt::Debug for NewProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewProvider")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

fn secret_aad(tenant: TenantId, id: Uuid) -> String {
    format!("sso:{tenant}:{id}")
}

/// Registers an OpenID provider for the caller's tenant (owners and admins).
pub async fn register(
    identity: &Identity,
    ctx: &TenantContext,
    new: NewProvider,
    client: ClientInfo,
) -> Result<sso_provider::Model, IdentityError> {
    ctx.require(MANAGE_SSO)?;
    let name = validate::display_name("name", &new.name)?;
    let issuer = issuer(&new.issuer)?;
    let client_id = validate::printable("clientId", &new.client_id, 500)?;
    let secret = validate::printable("clientSecret", &new.client_secret, 2000)?;
    let allowed_domains = domains(&new.allowed_domains)?;
    if !DEFAULT_ROLES.contains(&new.default_role) {
        return Err(IdentityError::invalid(
            "defaultRole",
            "must be INSTRUCTOR, SALES or STUDENT",
        ));
    }
    let tenant = ctx.tenant();
    let id = Uuid::now_v7();
    let sealed = identity
        .sealer
        .seal(secret.as_bytes(), &secret_aad(tenant, id))?;
    let now = Utc::now();
    let tx = TenantTx::begin(&identity.db, ctx).await?;
    let model = sso_provider::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        id: Set(id),
        name: Set(name),
        issuer: Set(issuer),
        client_id: Set(client_id),
        client_secret_sealed: Set(sealed),
        allowed_domains: Set(allowed_domains),
        default_role: Set(new.default_role.as_str().to_owned()),
        enabled: Set(true),
        created_at: Set(now.into()),
        updated_at: Set(now.into()),
    }
    .insert(&*tx)
    .await?;
    audit::record(
        &*tx,
        tenant,
        Event::success("sso.provider_register", Actor::of(ctx), client)
            .subject(id)
            .detail(json!({
                "name": model.name,
                "issuer": model.issuer,
                "clientId": model.client_id,
                "allowedDomains": model.allowed_domains,
                "defaultRole": model.default_role,
            })),
    )
    .await?;
    tx.commit().await?;
    Ok(model)
}

/// The tenant's providers, oldest first (owners and admins).
pub async fn list(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    window: Window,
) -> Result<Page<sso_provider::Model>, IdentityError> {
    ctx.require(MANAGE_SSO)?;
    Ok(relay::fetch_in_tenant(
        db,
        ctx,
        sso_provider::Entity::find(),
        sso_provider::Column::Id,
        window,
    )
    .await?)
}

/// Removes a provider and every link from its subjects to users (the users stay).
pub async fn remove(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    id: Uuid,
    client: ClientInfo,
) -> Result<sso_provider::Model, IdentityError> {
    ctx.require(MANAGE_SSO)?;
    let tenant = ctx.tenant();
    let tx = TenantTx::begin(db, ctx).await?;
    let found = sso_provider::Entity::find_by_id((tenant.as_uuid(), id))
        .one(&*tx)
        .await?
        .ok_or(IdentityError::NotFound("SSO provider"))?;
    sso_provider::Entity::delete_by_id((tenant.as_uuid(), id))
        .exec(&*tx)
        .await?;
    audit::record(
        &*tx,
        tenant,
        Event::success("sso.provider_remove", Actor::of(ctx), client)
            .subject(id)
            .detail(json!({ "name": found.name, "issuer": found.issuer })),
    )
    .await?;
    tx.commit().await?;
    Ok(found)
}

/// Enables or disables sign-in through a provider (its links to users are kept).
pub async fn set_enabled(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    id: Uuid,
    enabled: bool,
    client: ClientInfo,
) -> Result<sso_provider::Model, IdentityError> {
    ctx.require(MANAGE_SSO)?;
    let tenant = ctx.tenant();
    let tx = TenantTx::begin(db, ctx).await?;
    let found = sso_provider::Entity::find_by_id((tenant.as_uuid(), id))
        .one(&*tx)
        .await?
        .ok_or(IdentityError::NotFound("SSO provider"))?;
    if found.enabled == enabled {
        tx.commit().await?;
        return Ok(found);
    }
    let updated = sso_provider::ActiveModel {
        tenant_id: Unchanged(tenant.as_uuid()),
        id: Unchanged(id),
        enabled: Set(enabled),
        updated_at: Set(Utc::now().into()),
        ..Default::default()
    }
    .update(&*tx)
    .await?;
    let action = if enabled {
        "sso.provider_enable"
    } else {
        "sso.provider_disable"
    };
    audit::record(
        &*tx,
        tenant,
        Event::success(action, Actor::of(ctx), client).subject(id),
    )
    .await?;
    tx.commit().await?;
    Ok(updated)
}

/// An http(s) issuer URL without credentials, query or fragment, kept as typed (the provider's
/// `iss` must match it exactly).
fn issuer(raw: &str) -> Result<String, IdentityError> {
    let bad = || {
        IdentityError::invalid(
            "issuer",
            "must be an http or https URL without credentials, query or fragment",
        )
    };
    let text = raw.trim();
    let url = Url::parse(text).map_err(|_| bad())?;
    let ok = text.len() <= 500
        && matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none();
    if ok { Ok(text.to_owned()) } else { Err(bad()) }
}

/// Lowercased, deduplicated DNS names (`@example.org` is taken as `example.org`).
fn domains(raw: &[String]) -> Result<Vec<String>, IdentityError> {
    if raw.len() > 50 {
        return Err(IdentityError::invalid(
            "allowedDomains",
            "at most 50 domains",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for entry in raw {
        let domain = entry
            .trim()
            .trim_start_matches('@')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        if domain.len() > 253 || !domain.contains('.') || !domain.split('.').all(label_ok) {
            return Err(IdentityError::invalid(
                "allowedDomains",
                format!("{entry:?} is not a domain name (use punycode for international names)"),
            ));
        }
        if !out.contains(&domain) {
            out.push(domain);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Outbound HTTP

/// Why a request to a provider failed (never contains what was sent).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

/// The HTTP client openidconnect talks through: reqwest without redirects (they would open an
/// SSRF path), with timeouts and a size limit.
#[derive(Debug)]
struct Http(reqwest::Client);

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request)
                .map_err(|e| HttpError(format!("bad request: {e}")))?;
            let target = request.url().clone();
            let mut response = self
                .0
                .execute(request)
                .await
                .map_err(|e| HttpError(format!("{target}: {}", e.without_url())))?;
            let status = response.status();
            let headers = response.headers().clone();
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| HttpError(format!("{target}: {}", e.without_url())))?
            {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(HttpError(format!(
                        "{target}: the answer exceeds {MAX_RESPONSE_BYTES} bytes"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            let mut out = HttpResponse::new(body);
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            Ok(out)
        })
    }
}

fn http() -> Result<&'static Http, IdentityError> {
    static CLIENT: OnceLock<Option<Http>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            kit::server::install_crypto();
            reqwest::Client::builder()
                .redirect(Policy::none())
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| tracing::error!(error = %e, "building the SSO HTTP client failed"))
                .ok()
                .map(Http)
        })
        .as_ref()
        .ok_or(IdentityError::Credentials(PROVIDER_DOWN))
}

/// The provider's discovery document and keys.
async fn discover(provider: &sso_provider::Model) -> Result<CoreProviderMetadata, Failure> {
    let down = |reason| Failure::new(reason, IdentityError::Credentials(PROVIDER_DOWN));
    let issuer = IssuerUrl::new(provider.issuer.clone()).map_err(|_| down("bad_issuer"))?;
    let http = http().map_err(|e| Failure::new("http_client", e))?;
    CoreProviderMetadata::discover_async(issuer, http)
        .await
        .map_err(|e| {
            tracing::warn!(provider = %provider.id, error = %e, "OpenID discovery failed");
            down("discovery_failed")
        })
}

/// The redirect URI to register at providers: identity's public URL + [`CALLBACK_PATH`].
pub fn redirect_uri(settings: &Settings) -> String {
    format!(
        "{}{CALLBACK_PATH}",
        settings.public_url.trim_end_matches('/')
    )
}

fn redirect_url(settings: &Settings) -> Result<RedirectUrl, IdentityError> {
    RedirectUrl::new(redirect_uri(settings))
        .map_err(|_| CryptoError("service.public_url is not a URL".into()).into())
}

// ---------------------------------------------------------------------------------------------
// Sign-in

/// What a started sign-in remembers until the provider answers (in Redis, single use).
#[derive(Serialize, Deserialize)]
struct Pending {
    tenant: Uuid,
    provider: Uuid,
    nonce: String,
    verifier: String,
    return_to: Option<String>,
}

/// What a hand-off code stands for (in Redis, single use).
#[derive(Serialize, Deserialize)]
struct HandoffRecord {
    tenant: Uuid,
    user: Uuid,
}

/// Stores `value` under `key` for `ttl_secs`, to be taken once with [`take`].
async fn stash<T: Serialize>(
    identity: &Identity,
    key: String,
    value: &T,
    ttl_secs: u64,
) -> Result<(), IdentityError> {
    let value = serde_json::to_string(value).map_err(|e| CryptoError(e.to_string()))?;
    let mut conn = identity.redis.clone();
    redis::cmd("SET")
        .arg(key)
        .arg(value)
        .arg("EX")
        .arg(ttl_secs)
        .query_async::<()>(&mut conn)
        .await?;
    Ok(())
}

/// Takes what [`stash`] stored under `key` (it is gone afterwards); `None` when there is none.
async fn take<T: for<'de> Deserialize<'de>>(
    identity: &Identity,
    key: String,
) -> Result<Option<T>, IdentityError> {
    let mut conn = identity.redis.clone();
    let stored: Option<String> = redis::cmd("GETDEL").arg(key).query_async(&mut conn).await?;
    Ok(stored.and_then(|s| serde_json::from_str(&s).ok()))
}

/// `return_to` when it is a page of the web app (same origin, under its path), else refused.
fn return_to(settings: &Settings, raw: &str) -> Result<String, IdentityError> {
    let bad = || IdentityError::invalid("returnTo", "must be a page of the web app");
    let web = Url::parse(&settings.web_url).map_err(|_| bad())?;
    let url = Url::parse(raw.trim()).map_err(|_| bad())?;
    let base = web.path().trim_end_matches('/');
    let under = url.path() == base || url.path().starts_with(&format!("{base}/"));
    if url.origin() != web.origin()
        || !url.origin().is_tuple()
        || !url.username().is_empty()
        || url.password().is_some()
        || !under
    {
        return Err(bad());
    }
    Ok(url.into())
}

/// The provider (enabled, in an active tenant), read inside the tenant's row-level security.
async fn load(
    identity: &Identity,
    tenant: TenantId,
    provider_id: Uuid,
) -> Result<sso_provider::Model, IdentityError> {
    let tx = TenantTx::begin(&identity.db, &TenantContext::anonymous(tenant)).await?;
    let provider = sso_provider::Entity::find_by_id((tenant.as_uuid(), provider_id))
        .one(&*tx)
        .await?
        .filter(|p| p.enabled)
        .ok_or(IdentityError::NotFound("SSO provider"))?;
    tenants::require_active(&*tx, tenant).await?;
    tx.commit().await?;
    Ok(provider)
}

/// Starts a sign-in through provider `provider_id` of the tenant named `tenant` (slug or host
/// name); returns the provider's authorization URL to send the browser to. `return_to` must be
/// a page of the web app; without it the callback answers with JSON.
pub async fn start(
    identity: &Identity,
    tenant: &str,
    provider_id: &str,
    return_to: Option<&str>,
) -> Result<String, IdentityError> {
    let not_found = || IdentityError::NotFound("SSO provider");
    let return_to = return_to
        .filter(|r| !r.trim().is_empty())
        .map(|r| self::return_to(&identity.settings, r))
        .transpose()?;
    let provider_id = Uuid::parse_str(provider_id.trim()).map_err(|_| not_found())?;
    let tenant = tenants::resolve(&identity.db, tenant, &identity.settings.platform_domain)
        .await?
        .ok_or_else(not_found)?;
    let provider = load(identity, tenant, provider_id).await?;
    let metadata = discover(&provider).await.map_err(|f| f.error)?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(provider.client_id.clone()),
        None,
    )
    .set_redirect_uri(redirect_url(&identity.settings)?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let pending = Pending {
        tenant: tenant.as_uuid(),
        provider: provider.id,
        nonce: nonce.secret().clone(),
        verifier: verifier.secret().clone(),
        return_to,
    };
    let key = format!("{STATE_PREFIX}{}", state.secret());
    stash(identity, key, &pending, STATE_TTL_SECS).await?;
    Ok(url.into())
}

/// What the provider sent back to [`CALLBACK_PATH`].
#[derive(Clone, Default, Deserialize)]
pub struct CallbackParams {
    /// The authorization code.
    pub code: Option<String>,
    /// The state [`start`] made.
    pub state: Option<String>,
    /// The issuer that answered (RFC 9207).
    pub iss: Option<String>,
    /// The provider's error code, when it refused.
    pub error: Option<String>,
}

impl std::fmt::Debug for CallbackParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackParams")
            .field("iss", &self.iss)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// A finished sign-in: a one-time code for [`complete`], and where to send the browser with it.
#[derive(Clone)]
pub struct Handoff {
    /// `aula_sso_…`, valid for [`HANDOFF_TTL_SECS`], once.
    pub code: String,
    /// The web app page that asked for the sign-in.
    pub return_to: Option<String>,
}

impl std::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handoff")
            .field("return_to", &self.return_to)
            .finish_non_exhaustive()
    }
}

/// A refused sign-in: the error for the caller and the reason for the audit log.
struct Failure {
    reason: &'static str,
    error: IdentityError,
}

impl Failure {
    fn new(reason: &'static str, error: IdentityError) -> Self {
        Self { reason, error }
    }

    fn sso(reason: &'static str) -> Self {
        Self::new(reason, IdentityError::Credentials(SSO_FAILED))
    }
}

impl From<IdentityError> for Failure {
    fn from(error: IdentityError) -> Self {
        let reason = match &error {
            IdentityError::Suspended => "tenant_suspended",
            IdentityError::NotFound(_) => "provider_unavailable",
            _ => "internal",
        };
        Self { reason, error }
    }
}

impl From<sea_orm::DbErr> for Failure {
    fn from(error: sea_orm::DbErr) -> Self {
        IdentityError::from(error).into()
    }
}

/// Whether the state has the shape [`start`] gives it (so junk never becomes a Redis key).
fn plausible_state(state: &str) -> bool {
    (16..=128).contains(&state.len())
        && state
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Handles the provider's answer: consumes the state, exchanges the code, verifies the ID
/// token, finds, links or creates the user, and returns a one-time hand-off code.
pub async fn callback(
    identity: &Identity,
    params: &CallbackParams,
    client: ClientInfo,
) -> Result<Handoff, IdentityError> {
    let bad_state = || IdentityError::Credentials(BAD_STATE);
    let state = params
        .state
        .as_deref()
        .filter(|s| plausible_state(s))
        .ok_or_else(bad_state)?;
    let pending: Pending = take(identity, format!("{STATE_PREFIX}{state}"))
        .await?
        .ok_or_else(bad_state)?;
    let tenant = TenantId::from_uuid(pending.tenant);
    match finish(identity, &pending, params, client).await {
        Ok(user) => {
            let code = handoff(identity, tenant, user).await?;
            Ok(Handoff {
                code,
                return_to: pending.return_to,
            })
        }
        Err(failure) => {
            tracing::info!(
                tenant = %tenant,
                provider = %pending.provider,
                reason = failure.reason,
                "single sign-on refused"
            );
            let event = Event::failure("sign_in.sso", Actor::Anonymous, client)
                .subject(pending.provider)
                .detail(json!({ "provider": pending.provider, "reason": failure.reason }));
            if let Err(e) = audit::record_alone(&identity.db, tenant, event).await {
                tracing::error!(error = %e, "recording a failed single sign-on failed");
            }
            Err(failure.error)
        }
    }
}

/// The verified claims the sign-in goes on.
struct Verified {
    subject: String,
    email: String,
    name: Option<String>,
}

async fn finish(
    identity: &Identity,
    pending: &Pending,
    params: &CallbackParams,
    client: ClientInfo,
) -> Result<Uuid, Failure> {
    let tenant = TenantId::from_uuid(pending.tenant);
    if params.error.is_some() {
        return Err(Failure::sso("provider_error"));
    }
    let code = params
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 2048)
        .ok_or(Failure::sso("no_code"))?;
    let provider = load(identity, tenant, pending.provider).await?;
    let verified = verify(identity, &provider, pending, params, code).await?;

    let email = validate::email(&verified.email).map_err(|_| Failure::sso("bad_email"))?;
    let domain = email
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default();
    if !provider.allowed_domains.is_empty() && !provider.allowed_domains.contains(&domain) {
        return Err(Failure::new(
            "domain_not_allowed",
            IdentityError::Credentials(DOMAIN_REFUSED),
        ));
    }

    let tx = TenantTx::begin(&identity.db, &TenantContext::anonymous(tenant)).await?;
    let linked =
        sso_identity::Entity::find_by_id((tenant.as_uuid(), provider.id, verified.subject.clone()))
            .one(&*tx)
            .await?;
    let (user_id, how) = match linked {
        Some(link) => (link.user_id, "linked"),
        None => {
            let existing = user::Entity::find()
                .filter(Expr::cust_with_values(
                    "lower(email) = lower($1)",
                    [email.clone()],
                ))
                .one(&*tx)
                .await?;
            let (user_id, how) = match existing {
                // An admin could register a provider that vouches for the owner's address:
                // owners are never linked by email, so a provider cannot take the tenant over.
                Some(u) if u.roles.iter().any(|r| r == Role::Owner.as_str()) => {
                    return Err(Failure::new(
                        "owner_not_linked",
                        IdentityError::Credentials(OWNER_NOT_LINKED),
                    ));
                }
                Some(u) => (u.id, "email_match"),
                None => (
                    create_user(&tx, tenant, &provider, &email, verified.name.as_deref()).await?,
                    "created",
                ),
            };
            sso_identity::ActiveModel {
                tenant_id: Set(tenant.as_uuid()),
                provider_id: Set(provider.id),
                subject: Set(verified.subject.clone()),
                user_id: Set(user_id),
                created_at: Set(Utc::now().into()),
            }
            .insert(&*tx)
            .await?;
            (user_id, how)
        }
    };
    audit::record(
        &*tx,
        tenant,
        Event::success("sign_in.sso", Actor::User(user_id), client)
            .subject(user_id)
            .detail(json!({ "provider": provider.id, "user": how })),
    )
    .await?;
    tx.commit().await?;
    Ok(user_id)
}

/// Exchanges the code (client_secret_basic, PKCE) and verifies the ID token: signature against
/// the provider's keys, issuer, audience, expiry and nonce; then requires a verified email.
async fn verify(
    identity: &Identity,
    provider: &sso_provider::Model,
    pending: &Pending,
    params: &CallbackParams,
    code: &str,
) -> Result<Verified, Failure> {
    let metadata = discover(provider).await?;
    if let Some(iss) = &params.iss
        && iss != metadata.issuer().as_str()
    {
        return Err(Failure::sso("issuer_mismatch"));
    }
    let tenant = TenantId::from_uuid(provider.tenant_id);
    let secret = identity
        .sealer
        .open(
            &provider.client_secret_sealed,
            &secret_aad(tenant, provider.id),
        )
        .map_err(IdentityError::from)?;
    let secret = String::from_utf8(secret)
        .map_err(|_| IdentityError::from(CryptoError("SSO client secret is not UTF-8".into())))?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(provider.client_id.clone()),
        Some(ClientSecret::new(secret)),
    )
    .set_redirect_uri(redirect_url(&identity.settings)?);
    let http = http()?;
    let response = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|_| Failure::sso("no_token_endpoint"))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
        .request_async(http)
        .await
        .map_err(|e| {
            match &e {
                RequestTokenError::ServerResponse(r) => tracing::info!(
                    provider = %provider.id,
                    error = %r.error(),
                    "the provider refused the authorization code"
                ),
                other => tracing::warn!(
                    provider = %provider.id,
                    error = %other,
                    "exchanging the authorization code failed"
                ),
            }
            Failure::sso("code_exchange_failed")
        })?;
    let id_token = response.id_token().ok_or(Failure::sso("no_id_token"))?;
    let verifier = client.id_token_verifier();
    let nonce = Nonce::new(pending.nonce.clone());
    let claims = id_token.claims(&verifier, &nonce).map_err(|e| {
        tracing::info!(provider = %provider.id, error = %e, "ID token refused");
        Failure::sso("id_token_invalid")
    })?;
    if let Some(expected) = claims.access_token_hash() {
        let alg = id_token
            .signing_alg()
            .map_err(|_| Failure::sso("id_token_invalid"))?;
        let key = id_token
            .signing_key(&verifier)
            .map_err(|_| Failure::sso("id_token_invalid"))?;
        let actual = AccessTokenHash::from_token(response.access_token(), alg, key)
            .map_err(|_| Failure::sso("id_token_invalid"))?;
        if actual != *expected {
            return Err(Failure::sso("access_token_hash_mismatch"));
        }
    }
    let email = claims
        .email()
        .map(|e| e.as_str().to_owned())
        .ok_or(Failure::sso("no_email"))?;
    if claims.email_verified() != Some(true) {
        return Err(Failure::new(
            "email_unverified",
            IdentityError::Credentials(EMAIL_UNVERIFIED),
        ));
    }
    Ok(Verified {
        subject: claims.subject().as_str().to_owned(),
        email,
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned()),
    })
}

/// Creates the user just in time, with the provider's default role and a verified email.
async fn create_user(
    tx: &TenantTx,
    tenant: TenantId,
    provider: &sso_provider::Model,
    email: &str,
    name: Option<&str>,
) -> Result<Uuid, IdentityError> {
    let fallback = email.split('@').next().unwrap_or("user");
    let display_name = name
        .and_then(|n| validate::display_name("displayName", n).ok())
        .or_else(|| validate::display_name("displayName", fallback).ok())
        .unwrap_or_else(|| "user".to_owned());
    let role = Role::parse(&provider.default_role)
        .filter(|r| DEFAULT_ROLES.contains(r))
        .unwrap_or(Role::Student);
    let id = UserId::generate();
    // The provider vouched for the address (`email_verified` was checked above).
    let created = tenants::insert_user(
        tx,
        tenant,
        id,
        email.to_owned(),
        display_name,
        &[role],
        true,
    )
    .await?;
    Ok(created.id)
}

fn handoff_key(code: &str) -> String {
    let digest = crypto::digest(code.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{HANDOFF_PREFIX}{hex}")
}

/// Stores a one-time hand-off code for `user` (as a digest) and returns it.
async fn handoff(
    identity: &Identity,
    tenant: TenantId,
    user: Uuid,
) -> Result<String, IdentityError> {
    let code = format!(
        "{HANDOFF_CODE_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(crypto::random_bytes::<32>())
    );
    let record = HandoffRecord {
        tenant: tenant.as_uuid(),
        user,
    };
    stash(identity, handoff_key(&code), &record, HANDOFF_TTL_SECS).await?;
    Ok(code)
}

/// Exchanges a hand-off code (once, within [`HANDOFF_TTL_SECS`]) for a session.
pub async fn complete(
    identity: &Identity,
    code: &str,
    client: ClientInfo,
) -> Result<Session, IdentityError> {
    let bad = || IdentityError::Credentials(BAD_HANDOFF);
    let code = code.trim();
    if !code.starts_with(HANDOFF_CODE_PREFIX) || code.len() > 128 {
        return Err(bad());
    }
    let record: HandoffRecord = take(identity, handoff_key(code)).await?.ok_or_else(bad)?;
    let tenant = TenantId::from_uuid(record.tenant);
    let tx = TenantTx::begin(&identity.db, &TenantContext::anonymous(tenant)).await?;
    tenants::require_active(&*tx, tenant).await?;
    let user = user::Entity::find_by_id((tenant.as_uuid(), record.user))
        .one(&*tx)
        .await?
        .ok_or_else(bad)?;
    let session = sessions::start(identity, &tx, user, &["sso"]).await?;
    audit::record(
        &*tx,
        tenant,
        Event::success("session.sso_complete", Actor::User(record.user), client)
            .subject(record.user),
    )
    .await?;
    tx.commit().await?;
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_domains_and_return_paths_are_checked() {
        assert!(issuer("https://login.example.org/tenant").is_ok());
        assert!(issuer("http://127.0.0.1:8080").is_ok());
        for bad in [
            "ftp://x.org",
            "https://u:p@x.org",
            "https://x.org/?a=1",
            "https://x.org/#f",
            "x.org",
        ] {
            assert!(issuer(bad).is_err(), "{bad:?}");
        }
        let ok = domains(&[
            " @Example.ORG ".into(),
            "example.org".into(),
            "a.b.co".into(),
        ])
        .expect("domains");
        assert_eq!(ok, ["example.org", "a.b.co"]);
        for bad in ["", "localhost", "-a.org", "a..org", "ex ample.org", "é.org"] {
            assert!(domains(&[bad.into()]).is_err(), "{bad:?}");
        }
        let settings = Settings {
            web_url: "https://app.example.org/web".into(),
            ..Settings::default()
        };
        assert!(return_to(&settings, "https://app.example.org/web/after?x=1").is_ok());
        assert!(return_to(&settings, "https://app.example.org/web").is_ok());
        for bad in [
            "https://app.example.org/website",
            "https://app.example.org.evil.test/web/x",
            "http://app.example.org/web/x",
            "https://u@app.example.org/web/x",
            "javascript:alert(1)",
            "/web/x",
        ] {
            assert!(return_to(&settings, bad).is_err(), "{bad:?}");
        }
        assert!(plausible_state("abcdefghijklmnopqrstuv"));
        assert!(!plausible_state("short"));
        assert!(!plausible_state("abcdefghijklmnop:qrstuv"));
    }
}
