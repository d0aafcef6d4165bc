//! The token signing keys: stored sealed in `identity.signing_keys`, shared by every identity
//! replica. The newest active key signs; the JWKS publishes active keys and retired keys whose
//! tokens may still be unexpired, so rotation never breaks a valid token.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kit::auth::Signer;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, FromQueryResult, Statement};

use crate::IdentityError;
use crate::crypto::{CryptoError, Sealer};

/// How often each replica rereads the keys (so it publishes a key another replica rotated in).
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(15);

#[derive(Debug, FromQueryResult)]
struct KeyRow {
    kid: String,
    private_key_sealed: Vec<u8>,
    retired_at: Option<DateTime<Utc>>,
}

struct Ring {
    current: Arc<Signer>,
    published: Vec<Arc<Signer>>,
}

/// The loaded keys.
pub struct KeyRing {
    ring: RwLock<Ring>,
    sealer: Sealer,
    /// Retired keys stay published this long: the longest token lifetime plus clock leeway.
    publish_for: Duration,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current_kid())
            .finish_non_exhaustive()
    }
}

fn aad(kid: &str) -> String {
    format!("signing-key:{kid}")
}

fn new_kid() -> String {
    format!(
        "{}-{}",
        Utc::now().format("%Y%m%d"),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

impl KeyRing {
    /// Loads the keys, creating the first one if there is none.
    pub async fn load(
        db: &DatabaseConnection,
        sealer: Sealer,
        token_ttl: Duration,
    ) -> Result<Self, IdentityError> {
        let publish_for = token_ttl + Duration::from_secs(120);
        let mut ring = read(db, &sealer, publish_for).await?;
        if ring.is_none() {
            insert_key(db, &sealer).await?;
            ring = read(db, &sealer, publish_for).await?;
        }
        let ring = ring.ok_or_else(|| CryptoError("no signing key after creating one".into()))?;
        Ok(Self {
            ring: RwLock::new(ring),
            sealer,
            publish_for,
        })
    }

    /// Rereads the keys (another replica may have rotated).
    pub async fn reload(&self, db: &DatabaseConnection) -> Result<(), IdentityError> {
        if let Some(ring) = read(db, &self.sealer, self.publish_for).await?
            && let Ok(mut guard) = self.ring.write()
        {
            *guard = ring;
        }
        Ok(())
    }

    /// Retires the signing key and starts signing with a new one. Tokens signed with the old
    /// key keep verifying: it stays in the JWKS until they have expired.
    pub async fn rotate(&self, db: &DatabaseConnection) -> Result<String, IdentityError> {
        let kid = insert_key(db, &self.sealer).await?;
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE identity.signing_keys SET retired_at = now() WHERE retired_at IS NULL AND kid <> $1",
            [kid.clone().into()],
        ))
        .await?;
        self.reload(db).await?;
        tracing::info!(kid, "signing key rotated");
        Ok(kid)
    }

    /// The key that signs new tokens.
    pub fn signer(&self) -> Arc<Signer> {
        match self.ring.read() {
            Ok(r) => r.current.clone(),
            Err(poisoned) => poisoned.into_inner().current.clone(),
        }
    }

    /// The current key's id.
    pub fn current_kid(&self) -> String {
        self.signer().kid().to_owned()
    }

    /// The JWKS document.
    pub fn jwks(&self) -> String {
        let ring = match self.ring.read() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        let signers: Vec<&Signer> = ring.published.iter().map(|s| s.as_ref()).collect();
        Signer::jwks(&signers)
    }
}

async fn insert_key(db: &DatabaseConnection, sealer: &Sealer) -> Result<String, IdentityError> {
    let kid = new_kid();
    let signer = Signer::generate(kid.clone());
    let pem = signer.to_pem().map_err(|e| CryptoError(e.to_string()))?;
    let sealed = sealer.seal(pem.as_bytes(), &aad(&kid))?;
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO identity.signing_keys (kid, private_key_sealed) VALUES ($1, $2)",
        [kid.clone().into(), sealed.into()],
    ))
    .await?;
    Ok(kid)
}

async fn read(
    db: &DatabaseConnection,
    sealer: &Sealer,
    publish_for: Duration,
) -> Result<Option<Ring>, IdentityError> {
    let rows = KeyRow::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT kid, private_key_sealed, retired_at FROM identity.signing_keys
         WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => $1)
         ORDER BY created_at DESC, kid DESC",
        [(publish_for.as_secs() as f64).into()],
    ))
    .all(db)
    .await?;
    // Newest first: the first unretired key is the one that signs.
    let mut current = None;
    let mut published = Vec::new();
    for row in rows {
        let pem = sealer.open(&row.private_key_sealed, &aad(&row.kid))?;
        let pem = String::from_utf8(pem).map_err(|e| CryptoError(e.to_string()))?;
        let signer = Arc::new(
            Signer::from_pem(row.kid.clone(), &pem).map_err(|e| CryptoError(e.to_string()))?,
        );
        if current.is_none() && row.retired_at.is_none() {
            current = Some(signer.clone());
        }
        published.push(signer);
    }
    Ok(current.map(|current| Ring { current, published }))
}
