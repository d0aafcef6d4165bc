//! Tenants: the caller's own tenant, routing public names to tenants, and creating a tenant
//! together with its owner.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use tenancy::{Role, TenantContext, TenantId, TenantTx, UserId};
use uuid::Uuid;

use crate::IdentityError;
use crate::crypto;
use crate::entity::{directory, password, tenant, user};
use crate::service::validate;
use kit::error::is_unique_violation;

/// The caller's tenant.
pub async fn current(
    db: &DatabaseConnection,
    ctx: &TenantContext,
) -> Result<tenant::Model, IdentityError> {
    get(db, ctx, ctx.tenant().as_uuid())
        .await?
        .ok_or(IdentityError::NotFound("tenant"))
}

/// A tenant by id, visible only when it is the caller's own.
pub async fn get(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    id: Uuid,
) -> Result<Option<tenant::Model>, IdentityError> {
    let tx = TenantTx::begin(db, ctx).await?;
    let found = tenant::Entity::find()
        .filter(tenant::Column::TenantId.eq(id))
        .one(&*tx)
        .await?;
    tx.commit().await?;
    Ok(found)
}

/// `tenant`'s row when it is active; `Suspended` when it is not (nobody signs in, refreshes or
/// gets a token). Call it inside a transaction of that tenant.
pub(crate) async fn require_active(
    conn: &impl ConnectionTrait,
    tenant: TenantId,
) -> Result<tenant::Model, IdentityError> {
    match tenant::Entity::find_by_id(tenant.as_uuid())
        .one(conn)
        .await?
    {
        Some(t) if t.status == "active" => Ok(t),
        Some(_) => Err(IdentityError::Suspended),
        None => Err(IdentityError::NotFound("tenant")),
    }
}

/// A new tenant and its first owner.
#[derive(Clone, Debug)]
pub struct NewTenant {
    /// Fixed id (seeding) or `None` for a fresh one.
    pub id: Option<TenantId>,
    /// Fixed owner id (seeding) or `None` for a fresh one.
    pub owner_id: Option<UserId>,
    /// Display name.
    pub name: String,
    /// Unique slug.
    pub slug: String,
    /// The owner's email.
    pub owner_email: String,
    /// The owner's display name.
    pub owner_name: String,
    /// The owner's password (checked against the policy), or `None` for SSO-only owners.
    pub owner_password: Option<String>,
}

/// The tenant a public name routes to: a slug, `<slug>.<platform domain>`, or a custom domain.
pub async fn resolve(
    db: &impl ConnectionTrait,
    name: &str,
    platform_domain: &str,
) -> Result<Option<TenantId>, IdentityError> {
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let name = name.split(':').next().unwrap_or_default();
    let suffix = format!(".{}", platform_domain.to_ascii_lowercase());
    let key = name.strip_suffix(&suffix).unwrap_or(name);
    if key.is_empty() || key.len() > 253 {
        return Ok(None);
    }
    Ok(directory::Entity::find_by_id(key.to_owned())
        .one(db)
        .await?
        .map(|d| TenantId::from_uuid(d.tenant_id)))
}

/// A tenant's public routing facts, as the gateway needs them to bind anonymous requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The tenant.
    pub id: TenantId,
    /// Its slug.
    pub slug: String,
    /// Whether it is active (a suspended tenant is refused).
    pub active: bool,
}

/// The tenant a public name (slug, platform subdomain or custom domain) routes to, with its
/// status; `None` for names that route nowhere.
pub async fn route(
    db: &DatabaseConnection,
    name: &str,
    platform_domain: &str,
) -> Result<Option<Route>, IdentityError> {
    let Some(id) = resolve(db, name, platform_domain).await? else {
        return Ok(None);
    };
    let tx = TenantTx::begin(db, &TenantContext::anonymous(id)).await?;
    let found = tenant::Entity::find_by_id(id.as_uuid()).one(&*tx).await?;
    tx.commit().await?;
    Ok(found.map(|t| Route {
        id,
        active: t.status == "active",
        slug: t.slug,
    }))
}

/// Creates the tenant and its owner in one transaction. The transaction is bound to the new
/// tenant, so row-level security admits exactly these rows.
pub async fn create_with_owner(
    db: &DatabaseConnection,
    new: NewTenant,
) -> Result<(tenant::Model, user::Model), IdentityError> {
    let name = validate::tenant_name(&new.name)?;
    let slug = validate::slug(&new.slug)?;
    let email = validate::email(&new.owner_email)?;
    let owner_name = validate::display_name("ownerName", &new.owner_name)?;
    let hash = match &new.owner_password {
        Some(pw) => {
            validate::password(pw, &email)?;
            Some(crypto::hash_password_blocking(pw.clone()).await?)
        }
        None => None,
    };
    let tenant_id = new.id.unwrap_or_else(TenantId::generate);
    if tenant_id.is_platform() {
        return Err(IdentityError::invalid("id", "is reserved"));
    }
    let owner_id = new.owner_id.unwrap_or_else(UserId::generate);
    let ctx = TenantContext::user(tenant_id, owner_id, [Role::Owner]);
    let tx = TenantTx::begin(db, &ctx).await?;
    let now = chrono::Utc::now();
    let tenant = tenant::ActiveModel {
        tenant_id: Set(tenant_id.as_uuid()),
        slug: Set(slug.clone()),
        name: Set(name),
        status: Set("active".into()),
        branding: Set(serde_json::json!({})),
        mfa_required_roles: Set(Vec::new()),
        suspended_at: Set(None),
        created_at: Set(now.into()),
        updated_at: Set(now.into()),
    }
    .insert(&*tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e, "tenants_slug_key") {
            IdentityError::Conflict {
                field: "slug",
                message: "this slug is taken".into(),
            }
        } else if is_unique_violation(&e, "tenants_pkey") {
            IdentityError::Conflict {
                field: "id",
                message: "this tenant already exists".into(),
            }
        } else {
            e.into()
        }
    })?;
    directory::ActiveModel {
        name: Set(slug),
        kind: Set("slug".into()),
        tenant_id: Set(tenant_id.as_uuid()),
        created_at: Set(now.into()),
    }
    .insert(&*tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e, "tenant_directory_pkey") {
            IdentityError::Conflict {
                field: "slug",
                message: "this slug is taken".into(),
            }
        } else {
            e.into()
        }
    })?;
    let owner = insert_user(
        &tx,
        tenant_id,
        owner_id,
        email,
        owner_name,
        &[Role::Owner],
        false,
    )
    .await?;
    if let Some(hash) = hash {
        set_password_hash(&tx, tenant_id, owner_id, hash).await?;
    }
    tx.commit().await?;
    tracing::info!(tenant = %tenant_id, "tenant created");
    Ok((tenant, owner))
}

/// Adds a user with `roles` (and optionally a password) to `tenant`, without an invitation:
/// for seeding the demo tenant and for tests.
pub async fn seed_user(
    db: &DatabaseConnection,
    tenant: TenantId,
    email: &str,
    display_name: &str,
    roles: &[Role],
    password: Option<&str>,
) -> Result<user::Model, IdentityError> {
    let email = validate::email(email)?;
    let display_name = validate::display_name("displayName", display_name)?;
    let hash = match password {
        Some(pw) => {
            validate::password(pw, &email)?;
            Some(crypto::hash_password_blocking(pw.to_owned()).await?)
        }
        None => None,
    };
    let id = UserId::generate();
    let tx = TenantTx::begin(db, &TenantContext::user(tenant, id, [])).await?;
    let user = insert_user(&tx, tenant, id, email, display_name, roles, false).await?;
    if let Some(hash) = hash {
        set_password_hash(&tx, tenant, id, hash).await?;
    }
    tx.commit().await?;
    Ok(user)
}

/// Stores (or replaces) a user's password hash.
pub(crate) async fn set_password_hash(
    tx: &TenantTx,
    tenant: TenantId,
    user: UserId,
    hash: String,
) -> Result<(), IdentityError> {
    let row = password::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        user_id: Set(user.as_uuid()),
        hash: Set(hash),
        changed_at: Set(chrono::Utc::now().into()),
    };
    password::Entity::insert(row)
        .on_conflict(
            sea_orm::sea_query::OnConflict::columns([
                password::Column::TenantId,
                password::Column::UserId,
            ])
            .update_columns([password::Column::Hash, password::Column::ChangedAt])
            .to_owned(),
        )
        .exec(&**tx)
        .await?;
    Ok(())
}

/// Inserts a validated user; a duplicate email (any case) is a `CONFLICT` on `email`.
/// `verified` says the address is already proven (an emailed invitation, an SSO provider).
pub(crate) async fn insert_user(
    tx: &TenantTx,
    tenant: TenantId,
    id: UserId,
    email: String,
    display_name: String,
    roles: &[Role],
    verified: bool,
) -> Result<user::Model, IdentityError> {
    let now = chrono::Utc::now();
    user::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        id: Set(id.as_uuid()),
        email: Set(email),
        display_name: Set(display_name),
        roles: Set(roles.iter().map(|r| r.as_str().to_owned()).collect()),
        email_verified_at: Set(verified.then(|| now.into())),
        created_at: Set(now.into()),
        updated_at: Set(now.into()),
    }
    .insert(&**tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e, "users_email_key") {
            IdentityError::Conflict {
                field: "email",
                message: "a user with this email already exists".into(),
            }
        } else {
            e.into()
        }
    })
}
