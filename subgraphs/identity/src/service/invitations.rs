//! Invitations: owners and admins invite people by email with roles; the emailed token works
//! once, until it expires or is revoked, and accepting it creates the user (address verified,
//! password under the policy) and signs them in, through MFA when their roles require it.

use chrono::{DateTime, Utc};
use kit::ClientInfo;
use kit::relay::{self, Page, Window};
use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QuerySelect, Select, Set,
};
use serde_json::json;
use tenancy::{Role, TenantContext, TenantId, TenantTx, UserId};
use uuid::Uuid;

use crate::IdentityError;
use crate::app::Identity;
use crate::crypto::{self, Kind, Opaque};
use crate::entity::{invitation, tenant, user};
use crate::error::BAD_TOKEN;
use crate::service::audit::{self, Actor, Event};
use crate::service::outbox::{self, Email};
use crate::service::sign_in::SignedIn;
use crate::service::throttle::Throttle;
use crate::service::users::{self, MANAGE_ROLES};
use crate::service::{mfa, sessions, tenants, validate};

/// Where an invitation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Sent, not yet accepted, still valid.
    Pending,
    /// Accepted: the user exists.
    Accepted,
    /// Withdrawn by staff.
    Revoked,
    /// Not accepted in time.
    Expired,
}

/// Where `invitation` stands now.
pub fn status(invitation: &invitation::Model) -> Status {
    if invitation.accepted_at.is_some() {
        Status::Accepted
    } else if invitation.revoked_at.is_some() {
        Status::Revoked
    } else if invitation.expires_at <= Utc::now() {
        Status::Expired
    } else {
        Status::Pending
    }
}

/// What the acceptance page shows before the invitee chooses a password.
#[derive(Clone, Debug)]
pub struct Preview {
    /// The academy's name.
    pub tenant_name: String,
    /// The academy's slug.
    pub tenant_slug: String,
    /// The invited address (the account's email).
    pub email: String,
    /// The roles the invitee gets.
    pub roles: Vec<String>,
    /// The invitation is unusable after.
    pub expires_at: DateTime<Utc>,
}

/// What `accept` needs besides the token.
#[derive(Clone)]
pub struct Acceptance {
    /// The new user's display name.
    pub display_name: String,
    /// The new user's password (checked against the policy).
    pub password: String,
}

impl std::fmt::Debug for Acceptance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptance")
            .field("display_name", &self.display_name)
            .finish_non_exhaustive()
    }
}

/// Only an owner may invite (or re-send, or revoke an invitation of) a future owner.
fn may_handle(ctx: &TenantContext, roles: &[String]) -> Result<(), IdentityError> {
    if roles.iter().any(|r| r == Role::Owner.as_str()) && !ctx.has_role(Role::Owner) {
        return Err(tenancy::AccessError::Forbidden.into());
    }
    Ok(())
}

/// An invitation about to be (re-)sent.
#[derive(Debug)]
struct Draft {
    id: Uuid,
    email: String,
    roles: Vec<String>,
    /// Whether the row exists (re-send, or an expired one replaced) or is new.
    existing: bool,
}

/// Stores `draft` with a fresh token and lifetime and queues its email.
async fn send(
    identity: &Identity,
    tx: &TenantTx,
    ctx: &TenantContext,
    draft: Draft,
) -> Result<invitation::Model, IdentityError> {
    let tenant_id = ctx.tenant();
    let inviter = ctx.require_user()?;
    let tenant = tenant::Entity::find_by_id(tenant_id.as_uuid())
        .one(&**tx)
        .await?
        .ok_or(IdentityError::NotFound("tenant"))?;
    let inviter_name = user::Entity::find_by_id((tenant_id.as_uuid(), inviter.as_uuid()))
        .one(&**tx)
        .await?
        .map(|u| u.display_name)
        .unwrap_or_default();
    let token = Opaque::generate(tenant_id, draft.id);
    let now = Utc::now();
    let expires_at =
        now + chrono::Duration::hours(i64::from(identity.settings.invitation_ttl_hours));
    let row = invitation::ActiveModel {
        tenant_id: Set(tenant_id.as_uuid()),
        id: Set(draft.id),
        email: Set(draft.email.clone()),
        roles: Set(draft.roles.clone()),
        digest: Set(token.digest()),
        invited_by: Set(inviter.as_uuid()),
        created_at: Set(now.into()),
        expires_at: Set(expires_at.into()),
        accepted_at: Set(None),
        accepted_user: Set(None),
        revoked_at: Set(None),
    };
    let saved = if draft.existing {
        row.update(&**tx).await?
    } else {
        row.insert(&**tx).await?
    };
    outbox::email(
        &identity.sealer,
        &**tx,
        tenant_id,
        Email {
            to: &draft.email,
            template: "invitation",
            vars: json!({
                "tenantName": tenant.name,
                "tenantSlug": tenant.slug,
                "inviterName": inviter_name,
                "roles": draft.roles,
                "expiresAt": expires_at.to_rfc3339(),
            }),
            link: outbox::link(
                &identity.settings.web_url,
                "invitations/accept",
                &token.encode(Kind::Invitation),
            ),
        },
    )
    .await?;
    Ok(saved)
}

/// Invites `email` to the caller's tenant with `roles` (owners and admins; only owners invite
/// owners). The email goes to the outbox; the token is never shown to the inviter. An expired
/// invitation to the same address is replaced; a pending one is a `CONFLICT` (re-send it).
pub async fn invite(
    identity: &Identity,
    ctx: &TenantContext,
    email: &str,
    roles: &[Role],
    client: ClientInfo,
) -> Result<invitation::Model, IdentityError> {
    ctx.require(MANAGE_ROLES)?;
    let email = validate::email(email)?;
    let roles = users::grantable(roles)?;
    if roles.is_empty() {
        return Err(IdentityError::invalid("roles", "give at least one role"));
    }
    may_handle(ctx, &roles)?;
    let tx = TenantTx::begin(&identity.db, ctx).await?;
    let same_email = || Expr::cust_with_values("lower(email) = lower($1)", [email.clone()]);
    let member = user::Entity::find().filter(same_email()).one(&*tx).await?;
    if member.is_some() {
        return Err(IdentityError::Conflict {
            field: "email",
            message: "a user with this email is already a member".into(),
        });
    }
    let open = invitation::Entity::find()
        .filter(same_email())
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .lock(LockType::Update)
        .one(&*tx)
        .await?;
    let (id, existing) = match open {
        Some(open) if status(&open) == Status::Pending => {
            return Err(IdentityError::Conflict {
                field: "email",
                message: "this address already has a pending invitation; re-send it instead".into(),
            });
        }
        // Only expired invitations are left open; the unique index allows one per address.
        Some(expired) => (expired.id, true),
        None => (Uuid::now_v7(), false),
    };
    let draft = Draft {
        id,
        email: email.clone(),
        roles: roles.clone(),
        existing,
    };
    let saved = send(identity, &tx, ctx, draft).await?;
    audit::record(
        &*tx,
        ctx.tenant(),
        Event::success("invitation.create", Actor::of(ctx), client)
            .subject(id)
            .detail(json!({ "email": email, "roles": roles })),
    )
    .await?;
    tx.commit().await?;
    Ok(saved)
}

async fn lock_own(tx: &TenantTx, id: Uuid) -> Result<invitation::Model, IdentityError> {
    invitation::Entity::find()
        .filter(invitation::Column::Id.eq(id))
        .lock(LockType::Update)
        .one(&**tx)
        .await?
        .ok_or(IdentityError::NotFound("invitation"))
}

fn closed(row: &invitation::Model) -> Option<IdentityError> {
    let message = match status(row) {
        Status::Accepted => "this invitation was already accepted",
        Status::Revoked => "this invitation was revoked",
        Status::Pending | Status::Expired => return None,
    };
    Some(IdentityError::Conflict {
        field: "id",
        message: message.into(),
    })
}

/// Sends a pending or expired invitation again with a fresh token and lifetime; the earlier
/// token stops working.
pub async fn resend(
    identity: &Identity,
    ctx: &TenantContext,
    id: Uuid,
    client: ClientInfo,
) -> Result<invitation::Model, IdentityError> {
    ctx.require(MANAGE_ROLES)?;
    let tx = TenantTx::begin(&identity.db, ctx).await?;
    let row = lock_own(&tx, id).await?;
    may_handle(ctx, &row.roles)?;
    if let Some(err) = closed(&row) {
        return Err(err);
    }
    let email = row.email.clone();
    let draft = Draft {
        id,
        email: row.email,
        roles: row.roles,
        existing: true,
    };
    let saved = send(identity, &tx, ctx, draft).await?;
    audit::record(
        &*tx,
        ctx.tenant(),
        Event::success("invitation.resend", Actor::of(ctx), client)
            .subject(id)
            .detail(json!({ "email": email })),
    )
    .await?;
    tx.commit().await?;
    Ok(saved)
}

/// Withdraws an invitation that was not accepted; revoking twice is harmless.
pub async fn revoke(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    id: Uuid,
    client: ClientInfo,
) -> Result<invitation::Model, IdentityError> {
    ctx.require(MANAGE_ROLES)?;
    let tx = TenantTx::begin(db, ctx).await?;
    let row = lock_own(&tx, id).await?;
    may_handle(ctx, &row.roles)?;
    match status(&row) {
        Status::Revoked => {
            tx.commit().await?;
            return Ok(row);
        }
        Status::Accepted => {
            return Err(IdentityError::Conflict {
                field: "id",
                message: "this invitation was already accepted".into(),
            });
        }
        Status::Pending | Status::Expired => {}
    }
    let email = row.email.clone();
    let mut active: invitation::ActiveModel = row.into();
    active.revoked_at = Set(Some(Utc::now().into()));
    let saved = active.update(&*tx).await?;
    audit::record(
        &*tx,
        ctx.tenant(),
        Event::success("invitation.revoke", Actor::of(ctx), client)
            .subject(id)
            .detail(json!({ "email": email })),
    )
    .await?;
    tx.commit().await?;
    Ok(saved)
}

fn with_status(
    select: Select<invitation::Entity>,
    status: Option<Status>,
) -> Select<invitation::Entity> {
    use invitation::Column as C;
    let now = Utc::now();
    let open = Condition::all()
        .add(C::AcceptedAt.is_null())
        .add(C::RevokedAt.is_null());
    match status {
        None => select,
        Some(Status::Pending) => select.filter(open.add(C::ExpiresAt.gt(now))),
        Some(Status::Expired) => select.filter(open.add(C::ExpiresAt.lte(now))),
        Some(Status::Accepted) => select.filter(C::AcceptedAt.is_not_null()),
        Some(Status::Revoked) => select.filter(C::RevokedAt.is_not_null()),
    }
}

/// A page of the caller's tenant's invitations, oldest first, optionally of one status
/// (owners and admins).
pub async fn list(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    status: Option<Status>,
    window: Window,
) -> Result<Page<invitation::Model>, IdentityError> {
    ctx.require(MANAGE_ROLES)?;
    let select = with_status(invitation::Entity::find(), status);
    Ok(relay::fetch_in_tenant(db, ctx, select, invitation::Column::Id, window).await?)
}

/// The pending invitation `token` names, locked for the rest of `tx`.
async fn redeemable(
    conn: &impl ConnectionTrait,
    token: &Opaque,
) -> Result<invitation::Model, IdentityError> {
    invitation::Entity::find_by_id((token.tenant.as_uuid(), token.id))
        .lock(LockType::Update)
        .one(conn)
        .await?
        .filter(|row| token.matches(&row.digest) && status(row) == Status::Pending)
        .ok_or(IdentityError::Credentials(BAD_TOKEN))
}

/// Parses `text`, counting a malformed or unknown token against the client IP.
async fn parse(throttle: &Throttle<'_>, text: &str) -> Result<Opaque, IdentityError> {
    throttle.check().await?;
    match Opaque::parse(Kind::Invitation, text) {
        Some(token) => Ok(token),
        None => {
            throttle.failed().await?;
            Err(IdentityError::Credentials(BAD_TOKEN))
        }
    }
}

/// What a pending invitation offers, for the acceptance page (anyone holding the token).
pub async fn preview(
    identity: &Identity,
    text: &str,
    client: ClientInfo,
) -> Result<Preview, IdentityError> {
    let throttle = Throttle::ip_only(&identity.redis, &identity.settings, client.ip);
    let token = parse(&throttle, text).await?;
    let tx = TenantTx::begin(&identity.db, &TenantContext::anonymous(token.tenant)).await?;
    let row = match redeemable(&*tx, &token).await {
        Err(e @ IdentityError::Credentials(_)) => {
            throttle.failed().await?;
            return Err(e);
        }
        other => other?,
    };
    let tenant = tenants::require_active(&*tx, token.tenant).await?;
    tx.commit().await?;
    Ok(Preview {
        tenant_name: tenant.name,
        tenant_slug: tenant.slug,
        email: row.email,
        roles: row.roles,
        expires_at: row.expires_at.with_timezone(&Utc),
    })
}

/// Accepts an invitation: creates the user with the invited roles, a verified address and
/// the chosen password, then signs them in (through MFA when the academy requires it of
/// their roles). The token works once.
pub async fn accept(
    identity: &Identity,
    text: &str,
    acceptance: Acceptance,
    client: ClientInfo,
) -> Result<SignedIn, IdentityError> {
    let throttle = Throttle::ip_only(&identity.redis, &identity.settings, client.ip);
    let token = parse(&throttle, text).await?;
    let tenant_id: TenantId = token.tenant;
    let display_name = validate::display_name("displayName", &acceptance.display_name)?;
    let tx = TenantTx::begin(&identity.db, &TenantContext::anonymous(tenant_id)).await?;
    let row = match redeemable(&*tx, &token).await {
        Err(e @ IdentityError::Credentials(_)) => {
            throttle.failed().await?;
            return Err(e);
        }
        other => other?,
    };
    let tenant_row = tenants::require_active(&*tx, tenant_id).await?;
    validate::password(&acceptance.password, &row.email)?;
    let hash = crypto::hash_password_blocking(acceptance.password).await?;
    let roles: Vec<Role> = row.roles.iter().filter_map(|r| Role::parse(r)).collect();
    let id = UserId::generate();
    let user = tenants::insert_user(
        &tx,
        tenant_id,
        id,
        row.email.clone(),
        display_name,
        &roles,
        true,
    )
    .await?;
    tenants::set_password_hash(&tx, tenant_id, id, hash).await?;
    let invitation_id = row.id;
    let mut accepted: invitation::ActiveModel = row.into();
    accepted.accepted_at = Set(Some(Utc::now().into()));
    accepted.accepted_user = Set(Some(user.id));
    accepted.update(&*tx).await?;
    audit::record(
        &*tx,
        tenant_id,
        Event::success("invitation.accept", Actor::User(user.id), client)
            .subject(invitation_id)
            .detail(json!({ "user": user.id, "roles": user.roles })),
    )
    .await?;
    if let Some(challenge) = mfa::challenge_if_needed(identity, &tx, &tenant_row, &user).await? {
        tx.commit().await?;
        return Ok(SignedIn::MfaRequired(challenge));
    }
    let session = sessions::start(identity, &tx, user, &["pwd"]).await?;
    tx.commit().await?;
    Ok(SignedIn::Session(session))
}
