//! Signing in and up: self-serve sign-up (a tenant and its owner), and password sign-in with
//! brute-force throttling, uniform failures, suspension checks and audit entries.

use kit::ClientInfo;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use tenancy::{TenantContext, TenantId, TenantTx};

use crate::IdentityError;
use crate::app::Identity;
use crate::crypto;
use crate::entity::{password, user};
use crate::error::BAD_CREDENTIALS;
use crate::service::audit::{self, Actor, Event};
use crate::service::sessions::{self, Session};
use crate::service::tenants::{self, NewTenant};
use crate::service::throttle::{Attempt, Throttle};
use crate::service::{links, mfa};

/// What a sign-in produced.
#[derive(Debug)]
pub enum SignedIn {
    /// Signed in.
    Session(Session),
    /// The password was right; a second factor is needed (answer the challenge with a code,
    /// after enrolling when the challenge carries an enrollment).
    MfaRequired(mfa::Challenge),
}

/// Self-serve sign-up: a new tenant, its owner with a password, and a session for the owner.
pub async fn sign_up(
    identity: &Identity,
    new: NewTenant,
    client: ClientInfo,
) -> Result<Session, IdentityError> {
    // Sign-ups count against the client IP like failures do, which caps tenants per IP.
    let throttle = Throttle::ip_only(&identity.redis, &identity.settings, client.ip);
    throttle.check().await?;
    if new.owner_password.is_none() {
        return Err(IdentityError::invalid("password", "is required"));
    }
    let (tenant, owner) = tenants::create_with_owner(&identity.db, new).await?;
    throttle.failed().await?;
    let tenant_id = TenantId::from_uuid(tenant.tenant_id);
    let ctx = TenantContext::user(tenant_id, tenancy::UserId::from_uuid(owner.id), []);
    let tx = TenantTx::begin(&identity.db, &ctx).await?;
    audit::record(
        &*tx,
        tenant_id,
        Event::success("tenant.sign_up", Actor::User(owner.id), client)
            .subject(tenant.tenant_id)
            .detail(json!({ "slug": tenant.slug })),
    )
    .await?;
    links::send_verification(identity, &tx, &tenant, &owner).await?;
    let session = sessions::start(identity, &tx, owner, &["pwd"]).await?;
    tx.commit().await?;
    Ok(session)
}

/// Password sign-in to the tenant named by `tenant` (slug or host name).
///
/// Unknown tenant, unknown email and wrong password all fail the same way, after the same
/// argon2 work, and all count against the same throttles.
pub async fn password(
    identity: &Identity,
    tenant: &str,
    email: &str,
    password: &str,
    client: ClientInfo,
) -> Result<SignedIn, IdentityError> {
    let resolved =
        tenants::resolve(&identity.db, tenant, &identity.settings.platform_domain).await?;
    let Some(tenant_id) = resolved else {
        crypto::verify_password_blocking(password.to_owned(), None).await;
        return Err(IdentityError::Credentials(BAD_CREDENTIALS));
    };
    let throttle = Throttle::new(
        &identity.redis,
        &identity.settings,
        Attempt::Password,
        tenant_id,
        email,
        client.ip,
    );
    throttle.check().await?;

    let tx = TenantTx::begin(&identity.db, &TenantContext::anonymous(tenant_id)).await?;
    let found = user::Entity::find()
        .filter(sea_orm::sea_query::Expr::cust_with_values(
            "lower(email) = lower($1)",
            [email.trim().to_owned()],
        ))
        .one(&*tx)
        .await?;
    let hash = match &found {
        Some(u) => password::Entity::find()
            .filter(password::Column::UserId.eq(u.id))
            .one(&*tx)
            .await?
            .map(|p| p.hash),
        None => None,
    };
    let ok = crypto::verify_password_blocking(password.to_owned(), hash).await;
    let (Some(user), true) = (found.clone(), ok) else {
        throttle.failed().await?;
        let mut event = Event::failure("sign_in.password", Actor::Anonymous, client)
            .detail(json!({ "reason": "bad_credentials" }));
        if let Some(u) = &found {
            event = event.subject(u.id);
        }
        audit::record(&*tx, tenant_id, event).await?;
        tx.commit().await?;
        return Err(IdentityError::Credentials(BAD_CREDENTIALS));
    };
    let tenant_row = match tenants::require_active(&*tx, tenant_id).await {
        Err(IdentityError::Suspended) => {
            audit::record(
                &*tx,
                tenant_id,
                Event::failure("sign_in.password", Actor::User(user.id), client)
                    .subject(user.id)
                    .detail(json!({ "reason": "tenant_suspended" })),
            )
            .await?;
            tx.commit().await?;
            return Err(IdentityError::Suspended);
        }
        other => other?,
    };
    throttle.succeeded().await?;
    let challenge = mfa::challenge_if_needed(identity, &tx, &tenant_row, &user).await?;
    let next = match &challenge {
        None => "session",
        Some(c) if c.enrollment.is_some() => "mfa_enrollment",
        Some(_) => "mfa",
    };
    audit::record(
        &*tx,
        tenant_id,
        Event::success("sign_in.password", Actor::User(user.id), client)
            .subject(user.id)
            .detail(json!({ "next": next })),
    )
    .await?;
    if let Some(challenge) = challenge {
        tx.commit().await?;
        return Ok(SignedIn::MfaRequired(challenge));
    }
    let session = sessions::start(identity, &tx, user, &["pwd"]).await?;
    tx.commit().await?;
    Ok(SignedIn::Session(session))
}
