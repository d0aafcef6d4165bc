//! Users: the signed-in user, profiles, and the staff directory.

use kit::relay::{self, Page, Window};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use tenancy::{Access, Role, TenantContext, TenantTx};
use uuid::Uuid;

use crate::IdentityError;
use crate::entity::user;
use crate::service::validate;

/// Who may list the tenant's users.
pub const LIST_USERS: Access =
    Access::roles(&[Role::Owner, Role::Admin]).or_scope("identity:users:read");

/// Roles whose holders may see other users' email addresses.
pub const SEES_EMAILS: &[Role] = &[Role::Owner, Role::Admin, Role::Instructor, Role::Sales];

/// The signed-in user.
pub async fn viewer(
    db: &DatabaseConnection,
    ctx: &TenantContext,
) -> Result<user::Model, IdentityError> {
    let id = ctx.require_user()?;
    get(db, ctx, id.as_uuid())
        .await?
        .ok_or(IdentityError::NotFound("user"))
}

/// A user of the caller's tenant by id (`None` when there is none, including in other tenants).
pub async fn get(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    id: Uuid,
) -> Result<Option<user::Model>, IdentityError> {
    if ctx.is_anonymous() {
        return Err(tenancy::AccessError::Unauthenticated.into());
    }
    let tx = TenantTx::begin(db, ctx).await?;
    let found = user::Entity::find()
        .filter(user::Column::Id.eq(id))
        .one(&*tx)
        .await?;
    tx.commit().await?;
    Ok(found)
}

/// A page of the tenant's users, oldest first.
pub async fn list(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    window: Window,
) -> Result<Page<user::Model>, IdentityError> {
    ctx.require(LIST_USERS)?;
    let tx = TenantTx::begin(db, ctx).await?;
    let page = relay::fetch(&*tx, user::Entity::find(), user::Column::Id, window).await?;
    tx.commit().await?;
    Ok(page)
}

/// Changes the signed-in user's display name.
pub async fn update_profile(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    display_name: &str,
) -> Result<user::Model, IdentityError> {
    let id = ctx.require_user()?;
    let display_name = validate::display_name("displayName", display_name)?;
    let tx = TenantTx::begin(db, ctx).await?;
    let updated = user::ActiveModel {
        tenant_id: sea_orm::Unchanged(ctx.tenant().as_uuid()),
        id: sea_orm::Unchanged(id.as_uuid()),
        display_name: Set(display_name),
        updated_at: Set(chrono::Utc::now().into()),
        ..Default::default()
    }
    .update(&*tx)
    .await
    .map_err(|e| match e {
        sea_orm::DbErr::RecordNotUpdated => IdentityError::NotFound("user"),
        other => other.into(),
    })?;
    tx.commit().await?;
    Ok(updated)
}

/// Whether `ctx` may see `user`'s email address and roles.
pub fn may_see_private(ctx: &TenantContext, user: &user::Model) -> bool {
    ctx.user_id().is_some_and(|me| me.as_uuid() == user.id)
        || SEES_EMAILS.iter().any(|r| ctx.has_role(*r))
}
