//! Identity's transactional outbox: emails (invitations, password resets, address checks)
//! written in the transaction of the change that needs them, for the notifications relay to
//! deliver. The link inside an email carries a live credential, so it is sealed with the
//! service key; the rest of the message is plain JSON.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde_json::{Value, json};
use tenancy::TenantId;
use uuid::Uuid;

use crate::IdentityError;
use crate::crypto::{CryptoError, Sealer};
use crate::entity::outbox;

/// An email to send.
#[derive(Debug)]
pub(crate) struct Email<'a> {
    /// The recipient's address.
    pub to: &'a str,
    /// Template name; the topic is `email.<template>`.
    pub template: &'static str,
    /// What the template shows (never secrets).
    pub vars: Value,
    /// The one link the recipient follows (holds a credential: sealed).
    pub link: String,
}

fn aad(tenant: Uuid, id: Uuid) -> String {
    format!("outbox:{tenant}:{id}")
}

/// Queues `email` for `tenant` on `conn` (the transaction of the change that needs it).
pub(crate) async fn email(
    sealer: &Sealer,
    conn: &impl ConnectionTrait,
    tenant: TenantId,
    email: Email<'_>,
) -> Result<(), IdentityError> {
    let id = Uuid::now_v7();
    let sealed = sealer.seal(email.link.as_bytes(), &aad(tenant.as_uuid(), id))?;
    outbox::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        id: Set(id),
        topic: Set(format!("email.{}", email.template)),
        payload: Set(json!({
            "to": email.to,
            "template": email.template,
            "vars": email.vars,
            "linkSealed": STANDARD.encode(sealed),
        })),
        created_at: Set(Utc::now().into()),
        published_at: Set(None),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// The link of a queued email, for the relay that delivers it.
pub fn open_link(sealer: &Sealer, message: &outbox::Model) -> Result<String, CryptoError> {
    let sealed = message.payload["linkSealed"]
        .as_str()
        .and_then(|s| STANDARD.decode(s).ok())
        .ok_or_else(|| CryptoError("the message has no sealed link".into()))?;
    let link = sealer.open(&sealed, &aad(message.tenant_id, message.id))?;
    String::from_utf8(link).map_err(|_| CryptoError("the sealed link is not text".into()))
}

/// `path` under the web app's base URL with `token` as its query.
pub(crate) fn link(web_url: &str, path: &str, token: &str) -> String {
    format!("{}/{path}?token={token}", web_url.trim_end_matches('/'))
}
