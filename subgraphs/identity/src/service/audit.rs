//! The tenant's append-only audit log: recording security events inside the transaction that
//! caused them, and reading them back (Relay pages with filters, JSON-lines export).

use chrono::{DateTime, Utc};
use kit::ClientInfo;
use kit::relay::{self, Page, Window};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::Value;
use tenancy::{Access, Role, TenantContext, TenantId, TenantTx};
use uuid::Uuid;

use crate::IdentityError;
use crate::entity::audit_entry;

/// Who may read and export the audit log.
pub const READ_AUDIT: Access =
    Access::roles(&[Role::Owner, Role::Admin]).or_scope("identity:audit:read");

/// Who did it.
#[derive(Clone, Debug)]
pub enum Actor {
    /// A signed-in user.
    User(Uuid),
    /// A partner's API client.
    ApiClient(String),
    /// A member of platform staff (user id in the platform tenant).
    Platform(Uuid),
    /// Nobody signed in (a failed sign-in, a sign-up).
    Anonymous,
}

impl Actor {
    /// The actor behind a caller's context.
    pub fn of(ctx: &TenantContext) -> Self {
        match (ctx.user_id(), ctx.client_id()) {
            (Some(user), _) if ctx.has_role(Role::PlatformStaff) => Actor::Platform(user.as_uuid()),
            (Some(user), _) => Actor::User(user.as_uuid()),
            (None, Some(client)) => Actor::ApiClient(client.to_owned()),
            (None, None) => Actor::Anonymous,
        }
    }

    fn parts(&self) -> (&'static str, Option<String>) {
        match self {
            Actor::User(id) => ("user", Some(id.to_string())),
            Actor::ApiClient(id) => ("api_client", Some(id.clone())),
            Actor::Platform(id) => ("platform", Some(id.to_string())),
            Actor::Anonymous => ("anonymous", None),
        }
    }
}

/// One event to record.
#[derive(Clone, Debug)]
pub struct Event {
    /// `area.verb`, e.g. `sign_in.password`.
    pub action: &'static str,
    /// Whether it succeeded.
    pub success: bool,
    /// Who.
    pub actor: Actor,
    /// What it was done to (a user id, client id, provider id).
    pub subject: Option<String>,
    /// From where.
    pub client: ClientInfo,
    /// Facts worth keeping (never secrets).
    pub detail: Value,
}

impl Event {
    /// A successful `action` by `actor`.
    pub fn success(action: &'static str, actor: Actor, client: ClientInfo) -> Self {
        Self {
            action,
            success: true,
            actor,
            subject: None,
            client,
            detail: Value::Object(Default::default()),
        }
    }

    /// A failed `action` by `actor`.
    pub fn failure(action: &'static str, actor: Actor, client: ClientInfo) -> Self {
        Self {
            success: false,
            ..Self::success(action, actor, client)
        }
    }

    /// Names what the event acted on.
    pub fn subject(mut self, subject: impl ToString) -> Self {
        self.subject = Some(subject.to_string());
        self
    }

    /// Adds facts.
    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

/// Appends `event` to `tenant`'s log on `conn` (the transaction of the change it records).
pub async fn record(
    conn: &impl ConnectionTrait,
    tenant: TenantId,
    event: Event,
) -> Result<(), IdentityError> {
    let (kind, actor_id) = event.actor.parts();
    tracing::info!(
        tenant = %tenant,
        action = event.action,
        success = event.success,
        actor_kind = kind,
        actor_id = actor_id.as_deref().unwrap_or(""),
        subject = event.subject.as_deref().unwrap_or(""),
        "audit"
    );
    audit_entry::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        id: Set(Uuid::now_v7()),
        at: Set(Utc::now().into()),
        action: Set(event.action.to_owned()),
        outcome: Set(if event.success { "success" } else { "failure" }.to_owned()),
        actor_kind: Set(kind.to_owned()),
        actor_id: Set(actor_id),
        subject: Set(event.subject),
        ip: Set(event.client.ip.map(|ip| ip.to_string())),
        detail: Set(event.detail),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Records `event` in its own transaction (for failures whose other work is rolled back).
pub async fn record_alone(
    db: &DatabaseConnection,
    tenant: TenantId,
    event: Event,
) -> Result<(), IdentityError> {
    let tx = TenantTx::begin(db, &TenantContext::anonymous(tenant)).await?;
    record(&*tx, tenant, event).await?;
    tx.commit().await?;
    Ok(())
}

/// Which entries to read.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only this action (`sign_in.password`) or area (`sign_in`).
    pub action: Option<String>,
    /// Only successes (`true`) or failures (`false`).
    pub success: Option<bool>,
    /// Only this actor id.
    pub actor_id: Option<String>,
    /// Only entries at or after.
    pub since: Option<DateTime<Utc>>,
    /// Only entries before.
    pub until: Option<DateTime<Utc>>,
}

fn filtered(filter: &Filter) -> sea_orm::Select<audit_entry::Entity> {
    let mut q = audit_entry::Entity::find();
    if let Some(action) = &filter.action {
        q = if action.contains('.') {
            q.filter(audit_entry::Column::Action.eq(action.as_str()))
        } else {
            q.filter(audit_entry::Column::Action.starts_with(format!("{action}.")))
        };
    }
    if let Some(success) = filter.success {
        q = q.filter(audit_entry::Column::Outcome.eq(if success { "success" } else { "failure" }));
    }
    if let Some(actor) = &filter.actor_id {
        q = q.filter(audit_entry::Column::ActorId.eq(actor.as_str()));
    }
    if let Some(since) = filter.since {
        q = q.filter(audit_entry::Column::At.gte(since));
    }
    if let Some(until) = filter.until {
        q = q.filter(audit_entry::Column::At.lt(until));
    }
    q
}

/// A page of the caller's tenant's log, oldest first (`last` reads the newest).
pub async fn list(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    filter: &Filter,
    window: Window,
) -> Result<Page<audit_entry::Model>, IdentityError> {
    ctx.require(READ_AUDIT)?;
    Ok(relay::fetch_in_tenant(db, ctx, filtered(filter), audit_entry::Column::Id, window).await?)
}

/// The most entries one export returns; narrow the filter (`since`/`until`) for more.
pub const EXPORT_LIMIT: u64 = 50_000;

/// The caller's tenant's log as JSON lines, oldest first.
pub async fn export(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    filter: &Filter,
) -> Result<String, IdentityError> {
    ctx.require(READ_AUDIT)?;
    let tx = TenantTx::begin(db, ctx).await?;
    let rows = filtered(filter)
        .order_by_asc(audit_entry::Column::Id)
        .limit(EXPORT_LIMIT)
        .all(&*tx)
        .await?;
    tx.commit().await?;
    let mut out = String::new();
    for row in rows {
        let line = serde_json::json!({
            "id": row.id,
            "at": row.at.to_rfc3339(),
            "action": row.action,
            "outcome": row.outcome,
            "actorKind": row.actor_kind,
            "actorId": row.actor_id,
            "subject": row.subject,
            "ip": row.ip,
            "detail": row.detail,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    Ok(out)
}
