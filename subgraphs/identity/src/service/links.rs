//! Emailed single-use links: password reset and email-address verification. Each link holds a
//! random token stored only as a digest; it expires after `link_ttl_minutes`, works once, is
//! bound to the address it was sent to, and a newer link of the same purpose retires older ones.

use chrono::Utc;
use kit::ClientInfo;
use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
};
use serde_json::json;
use tenancy::{TenantContext, TenantId, TenantTx, UserId};
use uuid::Uuid;

use crate::IdentityError;
use crate::app::Identity;
use crate::crypto::{self, Kind, Opaque};
use crate::entity::{single_use_token, tenant, user};
use crate::error::BAD_TOKEN;
use crate::service::audit::{self, Actor, Event};
use crate::service::outbox::{self, Email};
use crate::service::throttle::{Attempt, Throttle};
use crate::service::{sessions, tenants, validate};

/// What a link is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    VerifyEmail,
    ResetPassword,
}

impl Purpose {
    fn name(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ResetPassword => "reset_password",
        }
    }

    fn kind(self) -> Kind {
        match self {
            Purpose::VerifyEmail => Kind::EmailVerification,
            Purpose::ResetPassword => Kind::PasswordReset,
        }
    }

    fn path(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify-email",
            Purpose::ResetPassword => "reset-password",
        }
    }
}

/// Retires `user`'s open links of `purpose`, stores a new one and queues its email.
async fn issue(
    identity: &Identity,
    conn: &impl ConnectionTrait,
    tenant: &tenant::Model,
    user: &user::Model,
    purpose: Purpose,
) -> Result<(), IdentityError> {
    let now = Utc::now();
    single_use_token::Entity::update_many()
        .col_expr(single_use_token::Column::UsedAt, Expr::value(now))
        .filter(single_use_token::Column::UserId.eq(user.id))
        .filter(single_use_token::Column::Purpose.eq(purpose.name()))
        .filter(single_use_token::Column::UsedAt.is_null())
        .exec(conn)
        .await?;
    let tenant_id = TenantId::from_uuid(tenant.tenant_id);
    let id = Uuid::now_v7();
    let token = Opaque::generate(tenant_id, id);
    let ttl = i64::from(identity.settings.link_ttl_minutes);
    single_use_token::ActiveModel {
        tenant_id: Set(tenant.tenant_id),
        id: Set(id),
        user_id: Set(user.id),
        purpose: Set(purpose.name().into()),
        digest: Set(token.digest()),
        detail: Set(json!({ "email": user.email })),
        attempts: Set(0),
        created_at: Set(now.into()),
        expires_at: Set((now + chrono::Duration::minutes(ttl)).into()),
        used_at: Set(None),
    }
    .insert(conn)
    .await?;
    outbox::email(
        &identity.sealer,
        conn,
        tenant_id,
        Email {
            to: &user.email,
            template: purpose.name(),
            vars: json!({
                "displayName": user.display_name,
                "tenantName": tenant.name,
                "expiresInMinutes": ttl,
            }),
            link: outbox::link(
                &identity.settings.web_url,
                purpose.path(),
                &token.encode(purpose.kind()),
            ),
        },
    )
    .await
}

/// The user a live link of `purpose` was issued to; the link is spent with `tx`. A link sent
/// to an address the user no longer has is refused.
async fn redeem(
    tx: &TenantTx,
    token: &Opaque,
    purpose: Purpose,
) -> Result<user::Model, IdentityError> {
    let bad = || IdentityError::Credentials(BAD_TOKEN);
    let row = single_use_token::Entity::find_by_id((token.tenant.as_uuid(), token.id))
        .lock(LockType::Update)
        .one(&**tx)
        .await?
        .filter(|r| r.purpose == purpose.name() && token.matches(&r.digest))
        .filter(|r| r.used_at.is_none() && r.expires_at > Utc::now())
        .ok_or_else(bad)?;
    let user = user::Entity::find_by_id((token.tenant.as_uuid(), row.user_id))
        .one(&**tx)
        .await?
        .filter(|u| {
            row.detail["email"]
                .as_str()
                .is_some_and(|sent_to| sent_to.eq_ignore_ascii_case(&u.email))
        })
        .ok_or_else(bad)?;
    let mut spent: single_use_token::ActiveModel = row.into();
    spent.used_at = Set(Some(Utc::now().into()));
    spent.update(&**tx).await?;
    Ok(user)
}

/// Runs `redeem` for an anonymous holder of `text`, counting bad tokens against the client IP.
async fn open(
    identity: &Identity,
    text: &str,
    purpose: Purpose,
    client: &ClientInfo,
) -> Result<(TenantTx, user::Model), IdentityError> {
    let throttle = Throttle::ip_only(&identity.redis, &identity.settings, client.ip);
    throttle.check().await?;
    let Some(token) = Opaque::parse(purpose.kind(), text) else {
        throttle.failed().await?;
        return Err(IdentityError::Credentials(BAD_TOKEN));
    };
    let tx = TenantTx::begin(&identity.db, &TenantContext::anonymous(token.tenant)).await?;
    match redeem(&tx, &token, purpose).await {
        Ok(user) => {
            tenants::require_active(&*tx, token.tenant).await?;
            Ok((tx, user))
        }
        Err(e @ IdentityError::Credentials(_)) => {
            throttle.failed().await?;
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// Sends a password-reset link to `email` in the tenant named by `tenant` (slug or host),
/// if such a user exists. The answer is the same either way, so it reveals nobody; requests
/// count against the address and the client IP, capping the emails anyone can trigger.
pub async fn request_password_reset(
    identity: &Identity,
    tenant: &str,
    email: &str,
    client: ClientInfo,
) -> Result<(), IdentityError> {
    let resolved =
        tenants::resolve(&identity.db, tenant, &identity.settings.platform_domain).await?;
    let Some(tenant_id) = resolved else {
        let throttle = Throttle::ip_only(&identity.redis, &identity.settings, client.ip);
        throttle.check().await?;
        return throttle.failed().await;
    };
    let throttle = Throttle::new(
        &identity.redis,
        &identity.settings,
        Attempt::Link,
        tenant_id,
        email,
        client.ip,
    );
    throttle.check().await?;
    throttle.failed().await?;
    let tx = TenantTx::begin(&identity.db, &TenantContext::anonymous(tenant_id)).await?;
    let found = user::Entity::find()
        .filter(Expr::cust_with_values(
            "lower(email) = lower($1)",
            [email.trim().to_owned()],
        ))
        .one(&*tx)
        .await?;
    let Some(user) = found else {
        tx.commit().await?;
        return Ok(());
    };
    // A suspended academy sends nothing; its users cannot sign in anyway.
    let Ok(tenant_row) = tenants::require_active(&*tx, tenant_id).await else {
        tx.commit().await?;
        return Ok(());
    };
    issue(identity, &*tx, &tenant_row, &user, Purpose::ResetPassword).await?;
    audit::record(
        &*tx,
        tenant_id,
        Event::success("password.reset_request", Actor::Anonymous, client).subject(user.id),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets a new password with a reset link. Every session of the user ends, the account's
/// sign-in lock-out is lifted, and the address counts as verified (the link reached it).
pub async fn reset_password(
    identity: &Identity,
    text: &str,
    new_password: &str,
    client: ClientInfo,
) -> Result<(), IdentityError> {
    let (tx, user) = open(identity, text, Purpose::ResetPassword, &client).await?;
    let tenant_id = TenantId::from_uuid(user.tenant_id);
    validate::password(new_password, &user.email)?;
    let hash = crypto::hash_password_blocking(new_password.to_owned()).await?;
    let user_id = UserId::from_uuid(user.id);
    tenants::set_password_hash(&tx, tenant_id, user_id, hash).await?;
    let ended = sessions::revoke_user(&*tx, user_id).await?;
    mark_verified(&*tx, &user).await?;
    audit::record(
        &*tx,
        tenant_id,
        Event::success("password.reset", Actor::User(user.id), client)
            .subject(user.id)
            .detail(json!({ "sessionsEnded": ended })),
    )
    .await?;
    tx.commit().await?;
    Throttle::new(
        &identity.redis,
        &identity.settings,
        Attempt::Password,
        tenant_id,
        &user.email,
        client.ip,
    )
    .succeeded()
    .await
}

async fn mark_verified(
    conn: &impl ConnectionTrait,
    user: &user::Model,
) -> Result<(), IdentityError> {
    if user.email_verified_at.is_none() {
        user::Entity::update_many()
            .col_expr(user::Column::EmailVerifiedAt, Expr::value(Utc::now()))
            .filter(user::Column::Id.eq(user.id))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// Queues a verification link for `user`'s address inside `tx` (at sign-up).
pub(crate) async fn send_verification(
    identity: &Identity,
    tx: &TenantTx,
    tenant: &tenant::Model,
    user: &user::Model,
) -> Result<(), IdentityError> {
    issue(identity, &**tx, tenant, user, Purpose::VerifyEmail).await
}

/// Sends the signed-in user a new verification link; `false` when the address is already
/// verified (nothing is sent).
pub async fn request_verification(
    identity: &Identity,
    ctx: &TenantContext,
    client: ClientInfo,
) -> Result<bool, IdentityError> {
    let me = ctx.require_user()?;
    let tx = TenantTx::begin(&identity.db, ctx).await?;
    let user = user::Entity::find_by_id((ctx.tenant().as_uuid(), me.as_uuid()))
        .one(&*tx)
        .await?
        .ok_or(IdentityError::NotFound("user"))?;
    if user.email_verified_at.is_some() {
        return Ok(false);
    }
    let throttle = Throttle::new(
        &identity.redis,
        &identity.settings,
        Attempt::Link,
        ctx.tenant(),
        &user.email,
        client.ip,
    );
    throttle.check().await?;
    throttle.failed().await?;
    let tenant = tenants::require_active(&*tx, ctx.tenant()).await?;
    issue(identity, &*tx, &tenant, &user, Purpose::VerifyEmail).await?;
    audit::record(
        &*tx,
        ctx.tenant(),
        Event::success("email.verification_request", Actor::of(ctx), client).subject(user.id),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Marks the address a verification link was sent to as verified; returns the user.
pub async fn verify_email(
    identity: &Identity,
    text: &str,
    client: ClientInfo,
) -> Result<user::Model, IdentityError> {
    let (tx, user) = open(identity, text, Purpose::VerifyEmail, &client).await?;
    mark_verified(&*tx, &user).await?;
    let verified = user::Entity::find_by_id((user.tenant_id, user.id))
        .one(&*tx)
        .await?
        .ok_or(IdentityError::NotFound("user"))?;
    audit::record(
        &*tx,
        TenantId::from_uuid(user.tenant_id),
        Event::success("email.verify", Actor::User(user.id), client).subject(user.id),
    )
    .await?;
    tx.commit().await?;
    Ok(verified)
}
