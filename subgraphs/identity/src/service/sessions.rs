//! Sessions: short-lived access tokens (JWTs signed with the current key) and opaque refresh
//! tokens, rotated on every use. Presenting a spent refresh token revokes its whole family:
//! whoever holds the other copy is signed out too.

use std::time::Duration;

use chrono::Utc;
use kit::ClientInfo;
use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect, Set,
};
use serde_json::json;
use tenancy::{Role, TenantContext, TenantId, TenantTx, UserId};
use uuid::Uuid;

use crate::IdentityError;
use crate::app::Identity;
use crate::crypto::{CryptoError, Kind, Opaque};
use crate::entity::{refresh_token, user};
use crate::error::BAD_TOKEN;
use crate::service::audit::{self, Actor, Event};
use crate::service::tenants;

/// A signed-in session, handed to the client once.
#[derive(Clone)]
pub struct Session {
    /// The bearer JWT.
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The opaque refresh token (rotated on every use).
    pub refresh_token: String,
    /// Who is signed in.
    pub user: user::Model,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user.id)
            .finish_non_exhaustive()
    }
}

/// An access token for `sub` in `tenant` with `roles`, `scope` and `amr`.
pub fn access_token(
    identity: &Identity,
    tenant: TenantId,
    sub: &str,
    roles: &[Role],
    scope: &str,
    amr: &[String],
) -> Result<(String, u64), IdentityError> {
    signed(identity, tenant, sub, roles, scope, amr, None)
}

/// A user's access token, carrying their display name (`name`).
fn user_token(
    identity: &Identity,
    user: &user::Model,
    amr: &[String],
) -> Result<(String, u64), IdentityError> {
    signed(
        identity,
        TenantId::from_uuid(user.tenant_id),
        &user.id.to_string(),
        &roles_of(user),
        "",
        amr,
        Some(&user.display_name),
    )
}

fn signed(
    identity: &Identity,
    tenant: TenantId,
    sub: &str,
    roles: &[Role],
    scope: &str,
    amr: &[String],
    name: Option<&str>,
) -> Result<(String, u64), IdentityError> {
    let ttl = identity.settings.access_token_ttl_secs;
    let mut claims =
        kit::auth::claims(&identity.auth, tenant, sub, roles, Duration::from_secs(ttl));
    claims.scope = scope.to_owned();
    claims.amr = amr.to_vec();
    claims.name = name.map(str::to_owned);
    let token = identity
        .keys
        .signer()
        .sign(&claims)
        .map_err(|e| CryptoError(e.to_string()))?;
    Ok((token, ttl))
}

fn roles_of(user: &user::Model) -> Vec<Role> {
    user.roles.iter().filter_map(|r| Role::parse(r)).collect()
}

/// Starts a new session (a new refresh-token family) for `user`, inside `tx`.
pub async fn start(
    identity: &Identity,
    tx: &TenantTx,
    user: user::Model,
    amr: &[&str],
) -> Result<Session, IdentityError> {
    let amr: Vec<String> = amr.iter().map(|s| (*s).to_owned()).collect();
    let family = Uuid::now_v7();
    let refresh = issue_refresh(identity, &**tx, &user, family, &amr).await?;
    let (access_token, expires_in) = user_token(identity, &user, &amr)?;
    Ok(Session {
        access_token,
        expires_in,
        refresh_token: refresh,
        user,
    })
}

async fn issue_refresh(
    identity: &Identity,
    conn: &impl ConnectionTrait,
    user: &user::Model,
    family: Uuid,
    amr: &[String],
) -> Result<String, IdentityError> {
    let tenant = TenantId::from_uuid(user.tenant_id);
    let id = Uuid::now_v7();
    let token = Opaque::generate(tenant, id);
    let now = Utc::now();
    let ttl = chrono::Duration::seconds(identity.settings.refresh_token_ttl_secs as i64);
    refresh_token::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        id: Set(id),
        family_id: Set(family),
        user_id: Set(user.id),
        digest: Set(token.digest()),
        amr: Set(amr.to_vec()),
        created_at: Set(now.into()),
        expires_at: Set((now + ttl).into()),
        used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(conn)
    .await?;
    Ok(token.encode(Kind::Refresh))
}

/// Exchanges a refresh token for a new session. A token used twice revokes its family.
pub async fn refresh(
    identity: &Identity,
    presented: &str,
    client: ClientInfo,
) -> Result<Session, IdentityError> {
    let bad = || IdentityError::Credentials(BAD_TOKEN);
    let token = Opaque::parse(Kind::Refresh, presented).ok_or_else(bad)?;
    let tenant = token.tenant;
    let tx = TenantTx::begin(&identity.db, &TenantContext::anonymous(tenant)).await?;
    let row = refresh_token::Entity::find_by_id((tenant.as_uuid(), token.id))
        .lock(LockType::Update)
        .one(&*tx)
        .await?;
    let Some(row) = row.filter(|r| token.matches(&r.digest)) else {
        return Err(bad());
    };
    let now = Utc::now();
    if row.revoked_at.is_some() || row.expires_at < now {
        return Err(bad());
    }
    if row.used_at.is_some() {
        let revoked = revoke_family(&*tx, row.family_id).await?;
        audit::record(
            &*tx,
            tenant,
            Event::failure("session.refresh_reuse", Actor::Anonymous, client)
                .subject(row.user_id)
                .detail(json!({ "family": row.family_id, "revoked": revoked })),
        )
        .await?;
        tx.commit().await?;
        tracing::warn!(tenant = %tenant, family = %row.family_id, "refresh token reused: family revoked");
        return Err(bad());
    }
    tenants::require_active(&*tx, tenant).await?;
    let user = user::Entity::find_by_id((tenant.as_uuid(), row.user_id))
        .one(&*tx)
        .await?
        .ok_or_else(bad)?;
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
        .filter(refresh_token::Column::Id.eq(row.id))
        .exec(&*tx)
        .await?;
    let refresh = issue_refresh(identity, &*tx, &user, row.family_id, &row.amr).await?;
    let (access_token, expires_in) = user_token(identity, &user, &row.amr)?;
    tx.commit().await?;
    Ok(Session {
        access_token,
        expires_in,
        refresh_token: refresh,
        user,
    })
}

async fn revoke_family(conn: &impl ConnectionTrait, family: Uuid) -> Result<u64, IdentityError> {
    let done = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(refresh_token::Column::FamilyId.eq(family))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(done.rows_affected)
}

/// Signs out the session `presented` belongs to (revokes its family). Unknown or spent tokens
/// are not an error: signing out is idempotent.
pub async fn sign_out(
    identity: &Identity,
    presented: &str,
    client: ClientInfo,
) -> Result<(), IdentityError> {
    let Some(token) = Opaque::parse(Kind::Refresh, presented) else {
        return Ok(());
    };
    let tx = TenantTx::begin(&identity.db, &TenantContext::anonymous(token.tenant)).await?;
    let row = refresh_token::Entity::find_by_id((token.tenant.as_uuid(), token.id))
        .one(&*tx)
        .await?;
    if let Some(row) = row.filter(|r| token.matches(&r.digest)) {
        revoke_family(&*tx, row.family_id).await?;
        audit::record(
            &*tx,
            token.tenant,
            Event::success("session.sign_out", Actor::User(row.user_id), client)
                .subject(row.user_id),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Revokes every session of the signed-in user; returns how many refresh tokens were revoked.
pub async fn sign_out_everywhere(
    identity: &Identity,
    ctx: &TenantContext,
    client: ClientInfo,
) -> Result<u64, IdentityError> {
    let user = ctx.require_user()?;
    let tx = TenantTx::begin(&identity.db, ctx).await?;
    let revoked = revoke_user(&*tx, user).await?;
    audit::record(
        &*tx,
        ctx.tenant(),
        Event::success("session.sign_out_everywhere", Actor::of(ctx), client)
            .subject(user)
            .detail(json!({ "revoked": revoked })),
    )
    .await?;
    tx.commit().await?;
    Ok(revoked)
}

/// Revokes every refresh token of `user` (sign-out everywhere, password change, removal);
/// returns how many live sessions that ended.
pub async fn revoke_user(conn: &impl ConnectionTrait, user: UserId) -> Result<u64, IdentityError> {
    // Each live session is one family with exactly one unspent, unexpired token.
    let live = refresh_token::Entity::find()
        .filter(refresh_token::Column::UserId.eq(user.as_uuid()))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .filter(refresh_token::Column::UsedAt.is_null())
        .filter(refresh_token::Column::ExpiresAt.gt(Utc::now()))
        .count(conn)
        .await?;
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(refresh_token::Column::UserId.eq(user.as_uuid()))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(live)
}
