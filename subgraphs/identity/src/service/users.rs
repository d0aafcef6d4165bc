//! Users: the signed-in user, profiles, the staff directory and role changes.

use kit::relay::{self, Page, Window};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, Set,
};
use tenancy::{Access, Role, TenantContext, TenantId, TenantTx};
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

/// The users of `tenant` with `ids`, in one query (federation resolves many references at
/// once); the caller has already been checked.
pub async fn by_ids(
    db: &DatabaseConnection,
    tenant: TenantId,
    ids: &[Uuid],
) -> Result<Vec<user::Model>, IdentityError> {
    let tx = TenantTx::begin(db, &TenantContext::anonymous(tenant)).await?;
    let found = user::Entity::find()
        .filter(user::Column::Id.is_in(ids.iter().copied()))
        .all(&*tx)
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
    Ok(relay::fetch_in_tenant(db, ctx, user::Entity::find(), user::Column::Id, window).await?)
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

/// Whether `ctx` may see `user`'s email address and roles: the user, tenant staff, and partners
/// allowed to read users.
pub fn may_see_private(ctx: &TenantContext, user: &user::Model) -> bool {
    ctx.user_id().is_some_and(|me| me.as_uuid() == user.id)
        || SEES_EMAILS.iter().any(|r| ctx.has_role(*r))
        || ctx.has_scope("identity:users:read")
}

/// Who may change roles and invite people.
pub const MANAGE_ROLES: Access = Access::roles(&[Role::Owner, Role::Admin]);

/// `roles` as stored (sorted, without duplicates), refusing roles no tenant may grant.
pub(crate) fn grantable(roles: &[Role]) -> Result<Vec<String>, IdentityError> {
    if roles
        .iter()
        .any(|r| matches!(r, Role::PlatformStaff | Role::Partner))
    {
        return Err(IdentityError::invalid(
            "roles",
            "only tenant roles can be granted",
        ));
    }
    let mut names: Vec<String> = roles.iter().map(|r| r.as_str().to_owned()).collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// Replaces `target`'s roles. Owners and admins may; only an owner may grant or take away
/// ownership, and the tenant's last owner keeps it. Sessions pick the new roles up at their
/// next refresh (access tokens live at most 15 minutes).
pub async fn change_roles(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    target: Uuid,
    roles: &[Role],
    client: kit::ClientInfo,
) -> Result<user::Model, IdentityError> {
    ctx.require(MANAGE_ROLES)?;
    let names = grantable(roles)?;
    let tx = TenantTx::begin(db, ctx).await?;
    // Lock every owner row first, so two demotions cannot both see "another owner remains".
    let owners = user::Entity::find()
        .filter(sea_orm::sea_query::Expr::cust("'owner' = ANY(roles)"))
        .lock(sea_orm::sea_query::LockType::Update)
        .all(&*tx)
        .await?;
    let found = user::Entity::find()
        .filter(user::Column::Id.eq(target))
        .lock(sea_orm::sea_query::LockType::Update)
        .one(&*tx)
        .await?
        .ok_or(IdentityError::NotFound("user"))?;
    let owner = Role::Owner.as_str();
    let was_owner = found.roles.iter().any(|r| r == owner);
    let will_be_owner = names.iter().any(|r| r == owner);
    // An admin can neither change an owner's roles nor make anyone an owner.
    if (was_owner || will_be_owner) && !ctx.has_role(Role::Owner) {
        return Err(tenancy::AccessError::Forbidden.into());
    }
    if was_owner && !will_be_owner && owners.len() <= 1 {
        return Err(IdentityError::Conflict {
            field: "roles",
            message: "the last owner cannot give up ownership; make someone else an owner first"
                .into(),
        });
    }
    let before = found.roles.clone();
    let mut active: user::ActiveModel = found.into();
    active.roles = Set(names.clone());
    active.updated_at = Set(chrono::Utc::now().into());
    let updated = active.update(&*tx).await?;
    crate::service::audit::record(
        &*tx,
        ctx.tenant(),
        crate::service::audit::Event::success(
            "user.roles_change",
            crate::service::audit::Actor::of(ctx),
            client,
        )
        .subject(target)
        .detail(serde_json::json!({ "from": before, "to": names })),
    )
    .await?;
    tx.commit().await?;
    Ok(updated)
}
