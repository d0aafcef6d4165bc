//! TOTP multi-factor authentication: enrollment (an otpauth URI and its QR code, confirmed by a
//! first code), single-use recovery codes, the second step of a sign-in, and the per-tenant
//! rule that some roles must use it. Seeds are sealed at rest; codes are never accepted twice.

use chrono::Utc;
use kit::ClientInfo;
use qrcode::QrCode;
use qrcode::render::svg;
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
};
use serde_json::json;
use subtle::ConstantTimeEq;
use tenancy::{Access, Role, TenantContext, TenantId, TenantTx, UserId};
use totp_rs::{Algorithm, TOTP};
use uuid::Uuid;

use crate::IdentityError;
use crate::app::Identity;
use crate::crypto::{self, CryptoError, Kind, Opaque};
use crate::entity::{recovery_code, single_use_token, tenant, totp, user};
use crate::error::BAD_TOKEN;
use crate::service::audit::{self, Actor, Event};
use crate::service::sessions::{self, Session};
use crate::service::tenants;
use crate::service::throttle::{Attempt, Throttle};

/// How long the second step of a sign-in may take.
pub const CHALLENGE_SECS: i64 = 300;
/// Wrong codes allowed per challenge.
pub const CHALLENGE_ATTEMPTS: i32 = 5;
/// Recovery codes handed out at enrollment.
pub const RECOVERY_CODES: usize = 10;
/// Who sets which roles must use MFA.
pub const MANAGE_POLICY: Access = Access::roles(&[Role::Owner, Role::Admin]);

const MFA_CODE: &str = "the code is incorrect or has expired";

/// What an authenticator app needs, shown once at enrollment.
#[derive(Clone)]
pub struct Enrollment {
    /// `otpauth://totp/...` (contains the seed: display it, never store or log it).
    pub otpauth_uri: String,
    /// The same URI as a QR code, an SVG document.
    pub qr_svg: String,
}

impl std::fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrollment([redacted])")
    }
}

fn aad(tenant: TenantId, user: Uuid) -> String {
    format!("totp:{tenant}:{user}")
}

fn totp_for(seed: Vec<u8>, issuer: &str, account: &str) -> Result<TOTP, IdentityError> {
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        30,
        seed,
        Some(issuer.replace(':', " ")),
        account.replace(':', "_"),
    )
    .map_err(|e| CryptoError(e.to_string()).into())
}

/// The time step `code` is valid for (one step of clock skew either way), if any.
fn matching_step(totp: &TOTP, code: &str, now: u64) -> Option<i64> {
    let code = code.trim();
    let current = now / 30;
    [current.saturating_sub(1), current, current + 1]
        .into_iter()
        .find(|step| bool::from(totp.generate(step * 30).as_bytes().ct_eq(code.as_bytes())))
        .map(|s| s as i64)
}

fn now_secs() -> u64 {
    Utc::now().timestamp().max(0) as u64
}

/// Starts (or restarts) enrollment for `user`: a fresh sealed seed, unconfirmed.
async fn begin(
    identity: &Identity,
    conn: &impl ConnectionTrait,
    tenant: &tenant::Model,
    user: &user::Model,
) -> Result<Enrollment, IdentityError> {
    let tenant_id = TenantId::from_uuid(tenant.tenant_id);
    let seed = crypto::random_bytes::<20>().to_vec();
    let sealed = identity.sealer.seal(&seed, &aad(tenant_id, user.id))?;
    let issuer = format!("Aula ({})", tenant.slug);
    let totp = totp_for(seed, &issuer, &user.email)?;
    totp::Entity::delete_many()
        .filter(totp::Column::UserId.eq(user.id))
        .exec(conn)
        .await?;
    totp::ActiveModel {
        tenant_id: Set(tenant.tenant_id),
        user_id: Set(user.id),
        secret_sealed: Set(sealed),
        confirmed_at: Set(None),
        last_step: Set(0),
        created_at: Set(Utc::now().into()),
    }
    .insert(conn)
    .await?;
    let otpauth_uri = totp.get_url();
    let qr_svg = QrCode::new(otpauth_uri.as_bytes())
        .map_err(|e| CryptoError(e.to_string()))?
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    Ok(Enrollment {
        otpauth_uri,
        qr_svg,
    })
}

async fn load(
    tx: &TenantTx,
    ctx: &TenantContext,
) -> Result<(tenant::Model, user::Model), IdentityError> {
    let id = ctx.require_user()?;
    let user = user::Entity::find_by_id((ctx.tenant().as_uuid(), id.as_uuid()))
        .one(&**tx)
        .await?
        .ok_or(IdentityError::NotFound("user"))?;
    let tenant = tenant::Entity::find_by_id(ctx.tenant().as_uuid())
        .one(&**tx)
        .await?
        .ok_or(IdentityError::NotFound("tenant"))?;
    Ok((tenant, user))
}

/// Starts TOTP enrollment for the signed-in user. Refused while MFA is already on (disable it
/// first, with a code).
pub async fn enroll(identity: &Identity, ctx: &TenantContext) -> Result<Enrollment, IdentityError> {
    let tx = TenantTx::begin(&identity.db, ctx).await?;
    let (tenant, user) = load(&tx, ctx).await?;
    if confirmed(&*tx, user.id).await?.is_some() {
        return Err(IdentityError::Conflict {
            field: "mfa",
            message: "multi-factor authentication is already on".into(),
        });
    }
    let enrollment = begin(identity, &*tx, &tenant, &user).await?;
    tx.commit().await?;
    Ok(enrollment)
}

async fn confirmed(
    conn: &impl ConnectionTrait,
    user: Uuid,
) -> Result<Option<totp::Model>, IdentityError> {
    Ok(totp::Entity::find()
        .filter(totp::Column::UserId.eq(user))
        .filter(totp::Column::ConfirmedAt.is_not_null())
        .one(conn)
        .await?)
}

/// Checks `code` against `row`'s seed and, when right, records its step so it cannot be
/// replayed. Returns whether it was right.
async fn accept_code(
    identity: &Identity,
    conn: &impl ConnectionTrait,
    row: totp::Model,
    email: &str,
    code: &str,
) -> Result<bool, IdentityError> {
    let tenant = TenantId::from_uuid(row.tenant_id);
    let seed = identity
        .sealer
        .open(&row.secret_sealed, &aad(tenant, row.user_id))?;
    let totp = totp_for(seed, "Aula", email)?;
    let Some(step) = matching_step(&totp, code, now_secs()).filter(|s| *s > row.last_step) else {
        return Ok(false);
    };
    let mut active: totp::ActiveModel = row.into();
    active.last_step = Set(step);
    if active.confirmed_at.as_ref().is_none() {
        active.confirmed_at = Set(Some(Utc::now().into()));
    }
    active.update(conn).await?;
    Ok(true)
}

/// Replaces `user`'s recovery codes with fresh ones, returned once.
async fn new_recovery_codes(
    conn: &impl ConnectionTrait,
    tenant: TenantId,
    user: Uuid,
) -> Result<Vec<String>, IdentityError> {
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user))
        .exec(conn)
        .await?;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let raw = crypto::random_bytes::<12>();
        let chars: String = raw
            .iter()
            .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
            .collect();
        let code = format!("{}-{}-{}", &chars[..4], &chars[4..8], &chars[8..]);
        recovery_code::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            id: Set(Uuid::now_v7()),
            user_id: Set(user),
            digest: Set(crypto::digest(code.as_bytes())),
            used_at: Set(None),
        }
        .insert(conn)
        .await?;
        codes.push(code);
    }
    Ok(codes)
}

/// Confirms enrollment with the first code from the app; returns the recovery codes (once).
pub async fn confirm(
    identity: &Identity,
    ctx: &TenantContext,
    code: &str,
    client: ClientInfo,
) -> Result<Vec<String>, IdentityError> {
    let tx = TenantTx::begin(&identity.db, ctx).await?;
    let (_, user) = load(&tx, ctx).await?;
    let pending = totp::Entity::find_by_id((ctx.tenant().as_uuid(), user.id))
        .lock(LockType::Update)
        .one(&*tx)
        .await?
        .filter(|t| t.confirmed_at.is_none())
        .ok_or(IdentityError::NotFound("pending MFA enrollment"))?;
    if !accept_code(identity, &*tx, pending, &user.email, code).await? {
        return Err(IdentityError::invalid("code", MFA_CODE));
    }
    let codes = new_recovery_codes(&*tx, ctx.tenant(), user.id).await?;
    audit::record(
        &*tx,
        ctx.tenant(),
        Event::success("mfa.enroll", Actor::of(ctx), client).subject(user.id),
    )
    .await?;
    tx.commit().await?;
    Ok(codes)
}

/// Turns MFA off for the signed-in user, proven with a current code or a recovery code.
/// Refused when the tenant requires MFA for one of the user's roles.
pub async fn disable(
    identity: &Identity,
    ctx: &TenantContext,
    code: &str,
    client: ClientInfo,
) -> Result<(), IdentityError> {
    let tx = TenantTx::begin(&identity.db, ctx).await?;
    let (tenant, user) = load(&tx, ctx).await?;
    if required_for(&tenant, &user) {
        return Err(IdentityError::Access(tenancy::AccessError::Forbidden));
    }
    let row = confirmed(&*tx, user.id)
        .await?
        .ok_or(IdentityError::NotFound("MFA enrollment"))?;
    let ok = accept_code(identity, &*tx, row, &user.email, code).await?
        || use_recovery_code(&*tx, user.id, code).await?;
    if !ok {
        return Err(IdentityError::invalid("code", MFA_CODE));
    }
    totp::Entity::delete_many()
        .filter(totp::Column::UserId.eq(user.id))
        .exec(&*tx)
        .await?;
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user.id))
        .exec(&*tx)
        .await?;
    audit::record(
        &*tx,
        ctx.tenant(),
        Event::success("mfa.disable", Actor::of(ctx), client).subject(user.id),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn use_recovery_code(
    conn: &impl ConnectionTrait,
    user: Uuid,
    code: &str,
) -> Result<bool, IdentityError> {
    let digest = crypto::digest(code.trim().to_lowercase().as_bytes());
    let found = recovery_code::Entity::find()
        .filter(recovery_code::Column::UserId.eq(user))
        .filter(recovery_code::Column::Digest.eq(digest))
        .filter(recovery_code::Column::UsedAt.is_null())
        .lock(LockType::Update)
        .one(conn)
        .await?;
    let Some(found) = found else {
        return Ok(false);
    };
    let mut active: recovery_code::ActiveModel = found.into();
    active.used_at = Set(Some(Utc::now().into()));
    active.update(conn).await?;
    Ok(true)
}

/// Whether `tenant` requires MFA of one of `user`'s roles.
pub fn required_for(tenant: &tenant::Model, user: &user::Model) -> bool {
    user.roles
        .iter()
        .any(|r| tenant.mfa_required_roles.contains(r))
}

/// What the second step of a sign-in needs.
#[derive(Debug)]
pub struct Challenge {
    /// The opaque challenge.
    pub token: String,
    /// Seconds it stays valid.
    pub expires_in: u64,
    /// Present when the user must enroll now (their role requires MFA and they have none).
    pub enrollment: Option<Enrollment>,
}

/// After a right password: the challenge for the second step, if the user needs one.
pub(crate) async fn challenge_if_needed(
    identity: &Identity,
    tx: &TenantTx,
    tenant: &tenant::Model,
    user: &user::Model,
) -> Result<Option<Challenge>, IdentityError> {
    let enrolled = confirmed(&**tx, user.id).await?.is_some();
    let enrollment = if enrolled {
        None
    } else if required_for(tenant, user) {
        Some(begin(identity, &**tx, tenant, user).await?)
    } else {
        return Ok(None);
    };
    let tenant_id = TenantId::from_uuid(tenant.tenant_id);
    let id = Uuid::now_v7();
    let token = Opaque::generate(tenant_id, id);
    let now = Utc::now();
    single_use_token::ActiveModel {
        tenant_id: Set(tenant.tenant_id),
        id: Set(id),
        user_id: Set(user.id),
        purpose: Set("mfa".into()),
        digest: Set(token.digest()),
        detail: Set(json!({ "enroll": enrollment.is_some() })),
        attempts: Set(0),
        created_at: Set(now.into()),
        expires_at: Set((now + chrono::Duration::seconds(CHALLENGE_SECS)).into()),
        used_at: Set(None),
    }
    .insert(&**tx)
    .await?;
    Ok(Some(Challenge {
        token: token.encode(Kind::MfaChallenge),
        expires_in: CHALLENGE_SECS as u64,
        enrollment,
    }))
}

/// The second step: a TOTP code (or, once enrolled, a recovery code) for the challenge.
/// Returns the session and, when this step completed an enrollment, the new recovery codes.
pub async fn verify(
    identity: &Identity,
    challenge: &str,
    code: &str,
    client: ClientInfo,
) -> Result<(Session, Option<Vec<String>>), IdentityError> {
    let bad = || IdentityError::Credentials(BAD_TOKEN);
    let token = Opaque::parse(Kind::MfaChallenge, challenge).ok_or_else(bad)?;
    let tenant = token.tenant;
    let tx = TenantTx::begin(&identity.db, &TenantContext::anonymous(tenant)).await?;
    let row = single_use_token::Entity::find_by_id((tenant.as_uuid(), token.id))
        .lock(LockType::Update)
        .one(&*tx)
        .await?
        .filter(|r| r.purpose == "mfa" && token.matches(&r.digest))
        .filter(|r| r.used_at.is_none() && r.expires_at > Utc::now())
        .filter(|r| r.attempts < CHALLENGE_ATTEMPTS)
        .ok_or_else(bad)?;
    let throttle = Throttle::new(
        &identity.redis,
        &identity.settings,
        Attempt::Mfa,
        tenant,
        &row.user_id.to_string(),
        client.ip,
    );
    throttle.check().await?;
    let user = user::Entity::find_by_id((tenant.as_uuid(), row.user_id))
        .one(&*tx)
        .await?
        .ok_or_else(bad)?;
    tenants::require_active(&*tx, tenant).await?;
    let enrolling = row.detail["enroll"].as_bool().unwrap_or(false);
    let seed = totp::Entity::find_by_id((tenant.as_uuid(), user.id))
        .lock(LockType::Update)
        .one(&*tx)
        .await?
        .filter(|t| t.confirmed_at.is_some() != enrolling)
        .ok_or_else(bad)?;
    let mut method = "otp";
    let mut ok = accept_code(identity, &*tx, seed, &user.email, code).await?;
    if !ok && !enrolling && use_recovery_code(&*tx, user.id, code).await? {
        ok = true;
        method = "recovery_code";
    }
    let mut spent: single_use_token::ActiveModel = row.clone().into();
    if !ok {
        spent.attempts = Set(row.attempts + 1);
        spent.update(&*tx).await?;
        audit::record(
            &*tx,
            tenant,
            Event::failure("sign_in.mfa", Actor::User(user.id), client)
                .subject(user.id)
                .detail(json!({ "attempt": row.attempts + 1 })),
        )
        .await?;
        tx.commit().await?;
        throttle.failed().await?;
        return Err(IdentityError::Credentials(MFA_CODE));
    }
    spent.used_at = Set(Some(Utc::now().into()));
    spent.update(&*tx).await?;
    let recovery = if enrolling {
        audit::record(
            &*tx,
            tenant,
            Event::success("mfa.enroll", Actor::User(user.id), client).subject(user.id),
        )
        .await?;
        Some(new_recovery_codes(&*tx, tenant, user.id).await?)
    } else {
        None
    };
    audit::record(
        &*tx,
        tenant,
        Event::success("sign_in.mfa", Actor::User(user.id), client)
            .subject(user.id)
            .detail(json!({ "method": method })),
    )
    .await?;
    throttle.succeeded().await?;
    let amr: &[&str] = if method == "otp" {
        &["pwd", "otp", "mfa"]
    } else {
        &["pwd", "mfa"]
    };
    let session = sessions::start(identity, &tx, user, amr).await?;
    tx.commit().await?;
    Ok((session, recovery))
}

/// Sets which roles of the caller's tenant must use MFA (owners and admins).
pub async fn set_required_roles(
    identity: &Identity,
    ctx: &TenantContext,
    roles: &[Role],
    client: ClientInfo,
) -> Result<tenant::Model, IdentityError> {
    ctx.require(MANAGE_POLICY)?;
    if roles
        .iter()
        .any(|r| matches!(r, Role::PlatformStaff | Role::Partner))
    {
        return Err(IdentityError::invalid(
            "roles",
            "only tenant roles can require MFA",
        ));
    }
    let tx = TenantTx::begin(&identity.db, ctx).await?;
    let found = tenant::Entity::find_by_id(ctx.tenant().as_uuid())
        .one(&*tx)
        .await?
        .ok_or(IdentityError::NotFound("tenant"))?;
    let mut names: Vec<String> = roles.iter().map(|r| r.as_str().to_owned()).collect();
    names.sort();
    names.dedup();
    let mut active: tenant::ActiveModel = found.into();
    active.mfa_required_roles = Set(names.clone());
    active.updated_at = Set(Utc::now().into());
    let updated = active.update(&*tx).await?;
    audit::record(
        &*tx,
        ctx.tenant(),
        Event::success("mfa.policy", Actor::of(ctx), client).detail(json!({ "roles": names })),
    )
    .await?;
    tx.commit().await?;
    Ok(updated)
}

/// Whether the user has MFA on (for the viewer's security settings).
pub async fn is_enabled(
    identity: &Identity,
    ctx: &TenantContext,
    user: UserId,
) -> Result<bool, IdentityError> {
    let tx = TenantTx::begin(&identity.db, ctx).await?;
    let on = confirmed(&*tx, user.as_uuid()).await?.is_some();
    tx.commit().await?;
    Ok(on)
}
