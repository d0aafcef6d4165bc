//! Tenants: the caller's own tenant, and creating a tenant together with its owner.

use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use tenancy::{Role, TenantContext, TenantId, TenantTx, UserId};
use uuid::Uuid;

use crate::IdentityError;
use crate::entity::{tenant, user};
use crate::error::is_unique_violation;
use crate::service::validate;

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
        slug: Set(slug),
        name: Set(name),
        status: Set("active".into()),
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
    let owner = insert_user(&tx, tenant_id, owner_id, email, owner_name, &[Role::Owner]).await?;
    tx.commit().await?;
    tracing::info!(tenant = %tenant_id, "tenant created");
    Ok((tenant, owner))
}

/// Adds a user with `roles` to `tenant`, unchecked: for seeding and tests until invitations exist.
pub async fn seed_user(
    db: &DatabaseConnection,
    tenant: TenantId,
    email: &str,
    display_name: &str,
    roles: &[Role],
) -> Result<user::Model, IdentityError> {
    let email = validate::email(email)?;
    let display_name = validate::display_name("displayName", display_name)?;
    let id = UserId::generate();
    let tx = TenantTx::begin(db, &TenantContext::user(tenant, id, [])).await?;
    let user = insert_user(&tx, tenant, id, email, display_name, roles).await?;
    tx.commit().await?;
    Ok(user)
}

/// Inserts a validated user; a duplicate email (any case) is a `CONFLICT` on `email`.
async fn insert_user(
    tx: &TenantTx,
    tenant: TenantId,
    id: UserId,
    email: String,
    display_name: String,
    roles: &[Role],
) -> Result<user::Model, IdentityError> {
    let now = chrono::Utc::now();
    user::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        id: Set(id.as_uuid()),
        email: Set(email),
        display_name: Set(display_name),
        roles: Set(roles.iter().map(|r| r.as_str().to_owned()).collect()),
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
