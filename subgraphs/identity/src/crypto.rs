//! Identity's cryptography in one place: argon2id password hashes, opaque credentials that carry
//! their tenant (refresh tokens, invitation and reset tokens, API client secrets) stored as
//! SHA-256 digests, and sealing of secrets at rest (TOTP seeds, SSO client secrets, signing keys).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tenancy::TenantId;
use uuid::Uuid;

/// A cryptographic operation that failed for reasons the caller cannot fix (bad key material,
/// corrupt stored data). Logged, never shown.
#[derive(Debug, thiserror::Error)]
#[error("crypto: {0}")]
pub struct CryptoError(pub(crate) String);

fn argon2() -> Argon2<'static> {
    // OWASP's argon2id baseline: 19 MiB, two passes, one lane.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes `password` with argon2id and a random salt (PHC string format).
pub fn hash_password(password: &str) -> Result<String, CryptoError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CryptoError(e.to_string()))
}

/// Whether `password` matches the stored `hash`. With no hash (unknown account) it still spends
/// the time of one verification, so both cases look alike from outside.
pub fn verify_password(password: &str, hash: Option<&str>) -> bool {
    static DUMMY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        hash_password("not a real password; evens out the timing").unwrap_or_default()
    });
    let (stored, real) = match hash {
        Some(h) => (h, true),
        None => (DUMMY.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let ok = argon2()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && real
}

/// [`hash_password`] off the async workers (argon2 takes tens of milliseconds on purpose).
pub async fn hash_password_blocking(password: String) -> Result<String, CryptoError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| CryptoError(e.to_string()))?
}

/// [`verify_password`] off the async workers.
pub async fn verify_password_blocking(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || verify_password(&password, hash.as_deref()))
        .await
        .unwrap_or(false)
}

/// SHA-256 of a credential's secret part, as stored.
pub fn digest(secret: &[u8]) -> Vec<u8> {
    Sha256::digest(secret).to_vec()
}

/// Whether `secret` hashes to `stored`, in constant time.
pub fn digest_matches(secret: &[u8], stored: &[u8]) -> bool {
    digest(secret).ct_eq(stored).into()
}

/// `n` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    OsRng.fill_bytes(&mut out);
    out
}

/// The kinds of opaque credential, each with a recognisable prefix so a leaked one can be spotted
/// (and scanned for) at a glance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Refresh token.
    Refresh,
    /// Invitation.
    Invitation,
    /// Password reset.
    PasswordReset,
    /// Email verification.
    EmailVerification,
    /// Second step of a sign-in that needs MFA.
    MfaChallenge,
    /// An API client's secret.
    ClientSecret,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Refresh => "aula_rt_",
            Kind::Invitation => "aula_inv_",
            Kind::PasswordReset => "aula_pwr_",
            Kind::EmailVerification => "aula_emv_",
            Kind::MfaChallenge => "aula_mfa_",
            Kind::ClientSecret => "aula_sk_",
        }
    }
}

/// An opaque credential: `<prefix><base64url(tenant ‖ id ‖ secret)>`. The tenant and row id let
/// the service look the credential up inside that tenant's row-level-security scope; only the
/// secret's digest is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Opaque {
    /// The tenant the credential belongs to.
    pub tenant: TenantId,
    /// The row it names.
    pub id: Uuid,
    secret: [u8; 32],
}

impl std::fmt::Debug for Opaque {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opaque")
            .field("tenant", &self.tenant)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Opaque {
    /// A new credential for row `id` of `tenant`.
    pub fn generate(tenant: TenantId, id: Uuid) -> Self {
        Self {
            tenant,
            id,
            secret: random_bytes(),
        }
    }

    /// The digest to store.
    pub fn digest(&self) -> Vec<u8> {
        digest(&self.secret)
    }

    /// Whether this credential's secret matches `stored`.
    pub fn matches(&self, stored: &[u8]) -> bool {
        digest_matches(&self.secret, stored)
    }

    /// The string handed to the holder, once.
    pub fn encode(&self, kind: Kind) -> String {
        let mut raw = Vec::with_capacity(64);
        raw.extend_from_slice(self.tenant.as_uuid().as_bytes());
        raw.extend_from_slice(self.id.as_bytes());
        raw.extend_from_slice(&self.secret);
        format!("{}{}", kind.prefix(), URL_SAFE_NO_PAD.encode(raw))
    }

    /// Parses a credential of `kind`; `None` for anything else.
    pub fn parse(kind: Kind, text: &str) -> Option<Self> {
        let raw = URL_SAFE_NO_PAD
            .decode(text.trim().strip_prefix(kind.prefix())?)
            .ok()?;
        if raw.len() != 64 {
            return None;
        }
        let tenant = TenantId::from_uuid(Uuid::from_slice(&raw[..16]).ok()?);
        let id = Uuid::from_slice(&raw[16..32]).ok()?;
        let secret = raw[32..].try_into().ok()?;
        Some(Self { tenant, id, secret })
    }
}

/// An API client's public id: `aula_ci_<base64url(tenant ‖ id)>`.
pub fn client_id(tenant: TenantId, id: Uuid) -> String {
    let mut raw = Vec::with_capacity(32);
    raw.extend_from_slice(tenant.as_uuid().as_bytes());
    raw.extend_from_slice(id.as_bytes());
    format!("aula_ci_{}", URL_SAFE_NO_PAD.encode(raw))
}

/// Parses an API client id into its tenant and row id.
pub fn parse_client_id(text: &str) -> Option<(TenantId, Uuid)> {
    let raw = URL_SAFE_NO_PAD
        .decode(text.trim().strip_prefix("aula_ci_")?)
        .ok()?;
    if raw.len() != 32 {
        return None;
    }
    Some((
        TenantId::from_uuid(Uuid::from_slice(&raw[..16]).ok()?),
        Uuid::from_slice(&raw[16..]).ok()?,
    ))
}

/// Seals secrets at rest with ChaCha20-Poly1305 under the service's key. The associated data
/// binds each sealed value to its place (for example `totp:<tenant>:<user>`), so a sealed value
/// copied into another row or tenant does not open.
#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    /// A sealer for a base64-encoded 32-byte key.
    pub fn from_base64(key: &str) -> Result<Self, CryptoError> {
        let bytes = STANDARD
            .decode(key.trim())
            .map_err(|_| CryptoError("the encryption key is not base64".into()))?;
        if bytes.len() != 32 {
            return Err(CryptoError(
                "the encryption key must be 32 bytes (44 base64 characters)".into(),
            ));
        }
        let cipher = ChaCha20Poly1305::new_from_slice(&bytes)
            .map_err(|_| CryptoError("the encryption key must be 32 bytes".into()))?;
        Ok(Self { cipher })
    }

    /// A new random key, base64-encoded (for the launcher and tests).
    pub fn generate_key() -> String {
        STANDARD.encode(random_bytes::<32>())
    }

    /// `nonce ‖ ciphertext` of `plaintext`, bound to `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &str) -> Result<Vec<u8>, CryptoError> {
        let nonce = random_bytes::<12>();
        let mut out = nonce.to_vec();
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CryptoError("sealing failed".into()))?;
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a value sealed with `aad`.
    pub fn open(&self, sealed: &[u8], aad: &str) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < 12 {
            return Err(CryptoError("sealed value too short".into()));
        }
        let (nonce, body) = sealed.split_at(12);
        let nonce: [u8; 12] = nonce
            .try_into()
            .map_err(|_| CryptoError("sealed value too short".into()))?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: body,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CryptoError("sealed value does not open with this key".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let hash = hash_password("correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", Some(&hash)));
        assert!(!verify_password("correct horse batterx", Some(&hash)));
        assert!(!verify_password("correct horse battery", None));
        assert!(!verify_password("x", Some("not a phc string")));
    }

    #[test]
    fn opaque_credentials_round_trip_and_reject_other_kinds() {
        let tenant = TenantId::generate();
        let id = Uuid::now_v7();
        let token = Opaque::generate(tenant, id);
        let text = token.encode(Kind::Refresh);
        assert!(text.starts_with("aula_rt_"));
        let parsed = Opaque::parse(Kind::Refresh, &text).expect("parses");
        assert_eq!(parsed, token);
        assert!(parsed.matches(&token.digest()));
        assert!(!Opaque::generate(tenant, id).matches(&token.digest()));
        assert!(Opaque::parse(Kind::Invitation, &text).is_none());
        assert!(Opaque::parse(Kind::Refresh, "aula_rt_short").is_none());
        let (t, i) = parse_client_id(&client_id(tenant, id)).expect("client id");
        assert_eq!((t, i), (tenant, id));
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_place() {
        let sealer = Sealer::from_base64(&Sealer::generate_key()).expect("key");
        let sealed = sealer.seal(b"seed", "totp:a").expect("seal");
        assert_eq!(sealer.open(&sealed, "totp:a").expect("open"), b"seed");
        assert!(sealer.open(&sealed, "totp:b").is_err());
        let other = Sealer::from_base64(&Sealer::generate_key()).expect("key");
        assert!(other.open(&sealed, "totp:a").is_err());
        assert!(Sealer::from_base64("c2hvcnQ=").is_err());
    }
}
