//! Partner API clients: created by tenant admins (the secret is shown once and stored as a
//! digest), scoped, revocable, and exchanged for access tokens with the OAuth2 client
//! credentials grant. The GraphQL endpoint only ever sees the resulting JWTs.

use chrono::Utc;
use kit::ClientInfo;
use kit::relay::{self, Page, Window};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde_json::json;
use tenancy::{Access, Role, TenantContext, TenantTx};
use uuid::Uuid;

use crate::IdentityError;
use crate::app::Identity;
use crate::crypto::{self, Kind, Opaque};
use crate::entity::api_client;
use crate::service::audit::{self, Actor, Event};
use crate::service::sessions;
use crate::service::tenants;
use crate::service::throttle::{Attempt, Throttle};
use crate::service::validate;

/// Who may manage API clients.
pub const MANAGE_CLIENTS: Access = Access::roles(&[Role::Owner, Role::Admin]);

/// The scopes a partner client may be granted.
pub const SCOPES: &[&str] = &[
    "identity:users:read",
    "identity:audit:read",
    "learning:read",
    "learning:write",
    "crm:read",
    "crm:write",
    "payments:read",
];

/// A new client and its secret (shown once).
#[derive(Clone)]
pub struct Created {
    /// The stored client.
    pub client: api_client::Model,
    /// `aula_sk_…`, never retrievable again.
    pub secret: String,
}

impl std::fmt::Debug for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Created")
            .field("client", &self.client.id)
            .finish_non_exhaustive()
    }
}

/// Creates an API client with `scopes`.
pub async fn create(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    name: &str,
    scopes: &[String],
    client: ClientInfo,
) -> Result<Created, IdentityError> {
    ctx.require(MANAGE_CLIENTS)?;
    let creator = ctx.require_user()?;
    let name = validate::display_name("name", name)?;
    let mut granted: Vec<String> = Vec::new();
    for scope in scopes {
        if !SCOPES.contains(&scope.as_str()) {
            return Err(IdentityError::invalid(
                "scopes",
                format!(
                    "unknown scope {scope:?}; known scopes: {}",
                    SCOPES.join(", ")
                ),
            ));
        }
        if !granted.contains(scope) {
            granted.push(scope.clone());
        }
    }
    let tenant = ctx.tenant();
    let id = Uuid::now_v7();
    let secret = Opaque::generate(tenant, id);
    let tx = TenantTx::begin(db, ctx).await?;
    let model = api_client::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        id: Set(id),
        name: Set(name),
        digest: Set(secret.digest()),
        scopes: Set(granted.clone()),
        created_by: Set(creator.as_uuid()),
        created_at: Set(Utc::now().into()),
        last_used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(&*tx)
    .await?;
    audit::record(
        &*tx,
        tenant,
        Event::success("api_client.create", Actor::of(ctx), client)
            .subject(crypto::client_id(tenant, id))
            .detail(json!({ "name": model.name, "scopes": granted })),
    )
    .await?;
    tx.commit().await?;
    Ok(Created {
        client: model,
        secret: secret.encode(Kind::ClientSecret),
    })
}

/// The tenant's API clients, oldest first.
pub async fn list(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    window: Window,
) -> Result<Page<api_client::Model>, IdentityError> {
    ctx.require(MANAGE_CLIENTS)?;
    Ok(relay::fetch_in_tenant(
        db,
        ctx,
        api_client::Entity::find(),
        api_client::Column::Id,
        window,
    )
    .await?)
}

/// Revokes a client: its secret stops working at once (tokens already issued expire within
/// the access-token lifetime).
pub async fn revoke(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    client_id: &str,
    client: ClientInfo,
) -> Result<api_client::Model, IdentityError> {
    ctx.require(MANAGE_CLIENTS)?;
    let not_found = || IdentityError::NotFound("API client");
    let (tenant, id) = crypto::parse_client_id(client_id).ok_or_else(not_found)?;
    if tenant != ctx.tenant() {
        return Err(not_found());
    }
    let tx = TenantTx::begin(db, ctx).await?;
    let found = api_client::Entity::find_by_id((tenant.as_uuid(), id))
        .one(&*tx)
        .await?
        .ok_or_else(not_found)?;
    if found.revoked_at.is_some() {
        tx.commit().await?;
        return Ok(found);
    }
    let mut active: api_client::ActiveModel = found.into();
    active.revoked_at = Set(Some(Utc::now().into()));
    let revoked = active.update(&*tx).await?;
    audit::record(
        &*tx,
        tenant,
        Event::success("api_client.revoke", Actor::of(ctx), client).subject(client_id),
    )
    .await?;
    tx.commit().await?;
    Ok(revoked)
}

/// An access token from the client credentials grant.
#[derive(Clone)]
pub struct Grant {
    /// The bearer JWT.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// The scopes it carries.
    pub scope: String,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// The message for any refused client authentication (RFC 6749 `invalid_client`).
pub const BAD_CLIENT: &str = "client authentication failed";

/// The OAuth2 client credentials grant: `client_id` and `client_secret` for a token with the
/// client's scopes, or the requested subset of them.
pub async fn token(
    identity: &Identity,
    client_id: &str,
    secret: &str,
    requested: Option<&str>,
    client: ClientInfo,
) -> Result<Grant, IdentityError> {
    let bad = || IdentityError::Credentials(BAD_CLIENT);
    let (tenant, id) = crypto::parse_client_id(client_id).ok_or_else(bad)?;
    let throttle = Throttle::new(
        &identity.redis,
        &identity.settings,
        Attempt::ClientSecret,
        tenant,
        client_id,
        client.ip,
    );
    throttle.check().await?;
    let presented =
        Opaque::parse(Kind::ClientSecret, secret).filter(|s| s.tenant == tenant && s.id == id);
    let tx = TenantTx::begin(&identity.db, &TenantContext::anonymous(tenant)).await?;
    let found = api_client::Entity::find_by_id((tenant.as_uuid(), id))
        .one(&*tx)
        .await?;
    let valid = match (&found, &presented) {
        (Some(row), Some(secret)) => secret.matches(&row.digest) && row.revoked_at.is_none(),
        _ => false,
    };
    let Some(row) = found.clone().filter(|_| valid) else {
        throttle.failed().await?;
        // Failures against a real client are the tenant's business; made-up ids are not.
        if found.is_some() {
            let event = Event::failure(
                "api_client.token",
                Actor::ApiClient(client_id.to_owned()),
                client,
            )
            .subject(client_id);
            audit::record(&*tx, tenant, event).await?;
            tx.commit().await?;
        }
        return Err(bad());
    };
    tenants::require_active(&*tx, tenant).await?;
    let scopes: Vec<&str> = match requested.map(str::trim).filter(|s| !s.is_empty()) {
        None => row.scopes.iter().map(String::as_str).collect(),
        Some(asked) => {
            let asked: Vec<&str> = asked.split_whitespace().collect();
            if let Some(extra) = asked.iter().find(|s| !row.scopes.iter().any(|g| g == *s)) {
                return Err(IdentityError::invalid(
                    "scope",
                    format!("scope {extra:?} is not granted to this client"),
                ));
            }
            asked
        }
    };
    let scope = scopes.join(" ");
    api_client::Entity::update_many()
        .col_expr(api_client::Column::LastUsedAt, Expr::value(Utc::now()))
        .filter(api_client::Column::Id.eq(row.id))
        .exec(&*tx)
        .await?;
    throttle.succeeded().await?;
    tx.commit().await?;
    let (access_token, expires_in) = sessions::access_token(
        identity,
        tenant,
        client_id,
        &[Role::Partner],
        &scope,
        &["client_credentials".to_owned()],
    )?;
    Ok(Grant {
        access_token,
        expires_in,
        scope,
    })
}
