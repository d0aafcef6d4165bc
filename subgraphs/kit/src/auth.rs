//! Access tokens: verifying them against the identity service's JWKS (cached, refreshed when an
//! unknown `kid` appears) and signing them with Ed25519 keys (identity, the launcher, tests).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use tenancy::{Claims, Role, TenantContext, TenantId};
use tokio::sync::RwLock;

use crate::config::AuthConfig;
use crate::error::{Code, DomainError};

/// Why a bearer token was refused. Clients only ever see "invalid or expired access token".
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Not a JWT, or a header without `kid`/`alg` we accept.
    #[error("malformed access token")]
    Malformed,
    /// Signed with a key the JWKS does not publish.
    #[error("access token signed with an unknown key")]
    UnknownKey,
    /// Bad signature, expired, wrong issuer or audience.
    #[error("invalid access token: {0}")]
    Invalid(jsonwebtoken::errors::Error),
    /// Verified claims that describe no usable principal.
    #[error("invalid access token claims: {0}")]
    Claims(#[from] tenancy::ContextError),
    /// The JWKS could not be fetched.
    #[error("signing keys unavailable: {0}")]
    KeysUnavailable(String),
}

impl DomainError for AuthError {
    fn code(&self) -> Code {
        match self {
            AuthError::KeysUnavailable(_) => Code::Unavailable,
            _ => Code::Unauthenticated,
        }
    }
}

/// The message clients get for any refused token.
pub const REFUSED: &str = "invalid or expired access token";

/// Produces the current JWKS document in-process (the identity service verifying its own keys).
pub type LocalJwks = Box<dyn Fn() -> String + Send + Sync>;

enum KeySource {
    Unconfigured,
    Static,
    Url(String),
    Local(LocalJwks),
}

struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    fetched: Option<Instant>,
}

/// Verifies access tokens and turns them into a [`TenantContext`].
pub struct Verifier {
    source: KeySource,
    cache: RwLock<KeyCache>,
    validation: Validation,
    http: reqwest::Client,
    verified: std::sync::Mutex<HashMap<String, (TenantContext, Instant)>>,
}

/// How long a verified token is taken as verified without checking it again (never past its
/// `exp`). The gateway and every subgraph see the same token on each of a user's requests; the
/// signature check and claim parsing were a measurable share of a request's CPU in the catalog
/// benchmark. A signing key withdrawn from the JWKS stops working within this time.
pub const VERIFIED_FOR: Duration = Duration::from_secs(30);

/// Tokens remembered at most; the memory is emptied when it is full.
const VERIFIED_MAX: usize = 4096;

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

/// Unknown `kid`s trigger at most one JWKS refetch per this interval: short, because identity
/// signs with a new key as soon as it rotates, and long enough that tokens with made-up `kid`s
/// cannot turn each verifier into a flood of requests to identity.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(2);

impl Verifier {
    /// A verifier for `config`: an inline JWKS, or one fetched from `jwks_url`. With neither, it
    /// refuses every token (the identity service replaces it with [`Verifier::local`]).
    pub fn new(config: &AuthConfig) -> Result<Self, AuthError> {
        let (source, keys) = match (&config.jwks, &config.jwks_url) {
            (Some(inline), _) => (KeySource::Static, parse_jwks(inline)?),
            (None, Some(url)) => (KeySource::Url(url.clone()), HashMap::new()),
            (None, None) => (KeySource::Unconfigured, HashMap::new()),
        };
        Ok(Self::with_source(config, source, keys))
    }

    /// Whether keys are configured at all (an unconfigured verifier refuses every token).
    pub fn is_configured(&self) -> bool {
        !matches!(self.source, KeySource::Unconfigured)
    }

    /// A verifier whose keys come from `jwks`, asked again whenever an unknown `kid` appears.
    pub fn local(config: &AuthConfig, jwks: LocalJwks) -> Result<Self, AuthError> {
        let keys = parse_jwks(&jwks())?;
        Ok(Self::with_source(config, KeySource::Local(jwks), keys))
    }

    fn with_source(
        config: &AuthConfig,
        source: KeySource,
        keys: HashMap<String, DecodingKey>,
    ) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        Self {
            source,
            cache: RwLock::new(KeyCache {
                keys,
                fetched: None,
            }),
            validation,
            http: crate::server::http_client(),
            verified: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// `token`'s context if it was verified lately and has not expired since.
    fn recent(&self, token: &str) -> Option<TenantContext> {
        let verified = self.verified.lock().ok()?;
        let (ctx, until) = verified.get(token)?;
        (Instant::now() < *until).then(|| ctx.clone())
    }

    /// Remembers a verified token until `exp` (Unix seconds) or for [`VERIFIED_FOR`].
    fn remember(&self, token: &str, ctx: &TenantContext, exp: i64) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let left = u64::try_from(exp - now).unwrap_or(0);
        if left == 0 {
            return;
        }
        let until = Instant::now() + VERIFIED_FOR.min(Duration::from_secs(left));
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= VERIFIED_MAX {
                verified.clear();
            }
            verified.insert(token.to_owned(), (ctx.clone(), until));
        }
    }

    /// Verifies `token` and builds the caller's context.
    pub async fn verify(&self, token: &str) -> Result<TenantContext, AuthError> {
        if let Some(ctx) = self.recent(token) {
            return Ok(ctx);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(AuthError::Malformed);
        }
        let kid = header.kid.ok_or(AuthError::Malformed)?;
        let key = match self.key(&kid).await {
            Some(k) => k,
            None => {
                self.refresh().await?;
                self.key(&kid).await.ok_or(AuthError::UnknownKey)?
            }
        };
        let data = jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map_err(AuthError::Invalid)?;
        let ctx = TenantContext::from_claims(&data.claims)?;
        self.remember(token, &ctx, data.claims.exp);
        Ok(ctx)
    }

    async fn key(&self, kid: &str) -> Option<DecodingKey> {
        self.cache.read().await.keys.get(kid).cloned()
    }

    async fn refresh(&self) -> Result<(), AuthError> {
        let url = match &self.source {
            KeySource::Unconfigured => {
                return Err(AuthError::KeysUnavailable("no JWKS configured".into()));
            }
            KeySource::Static => return Ok(()),
            KeySource::Local(jwks) => {
                self.cache.write().await.keys = parse_jwks(&jwks())?;
                return Ok(());
            }
            KeySource::Url(url) => url,
        };
        let mut cache = self.cache.write().await;
        if cache
            .fetched
            .is_some_and(|t| t.elapsed() < REFRESH_INTERVAL)
        {
            return Ok(());
        }
        let body = self
            .http
            .get(url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| AuthError::KeysUnavailable(e.to_string()))?
            .text()
            .await
            .map_err(|e| AuthError::KeysUnavailable(e.to_string()))?;
        cache.keys = parse_jwks(&body)?;
        cache.fetched = Some(Instant::now());
        tracing::info!(keys = cache.keys.len(), "JWKS refreshed");
        Ok(())
    }
}

fn parse_jwks(json: &str) -> Result<HashMap<String, DecodingKey>, AuthError> {
    let set: JwkSet = serde_json::from_str(json)
        .map_err(|e| AuthError::KeysUnavailable(format!("bad JWKS: {e}")))?;
    let mut keys = HashMap::new();
    for jwk in set.keys {
        let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(&jwk)) else {
            continue;
        };
        keys.insert(kid, key);
    }
    Ok(keys)
}

/// Claims for a new access token: `sub` in `tenant` with `roles`, issued now by `auth.issuer` for
/// `auth.audience`, valid for `ttl`, with a fresh `jti`. Set `scope` and `amr` on the result.
pub fn claims(
    auth: &AuthConfig,
    tenant: TenantId,
    sub: &str,
    roles: &[Role],
    ttl: Duration,
) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        iss: auth.issuer.clone(),
        sub: sub.to_owned(),
        aud: auth.audience.clone(),
        exp: now + ttl.as_secs() as i64,
        iat: now,
        jti: uuid::Uuid::new_v4().to_string(),
        tid: tenant.to_string(),
        roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
        scope: String::new(),
        amr: Vec::new(),
        name: None,
    }
}

/// An Ed25519 signing key with its key id.
pub struct Signer {
    kid: String,
    key: SigningKey,
    encoding: EncodingKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A key that could not be created or loaded.
#[derive(Debug, thiserror::Error)]
#[error("signing key error: {0}")]
pub struct KeyError(String);

impl Signer {
    /// A fresh random key.
    pub fn generate(kid: impl Into<String>) -> Self {
        Self::from_key(kid.into(), SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// Loads a PKCS#8 PEM private key.
    pub fn from_pem(kid: impl Into<String>, pem: &str) -> Result<Self, KeyError> {
        let key = SigningKey::from_pkcs8_pem(pem).map_err(|e| KeyError(e.to_string()))?;
        Ok(Self::from_key(kid.into(), key))
    }

    fn from_key(kid: String, key: SigningKey) -> Self {
        let der = key
            .to_pkcs8_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default();
        Self {
            kid,
            encoding: EncodingKey::from_ed_der(&der),
            key,
        }
    }

    /// The private key as PKCS#8 PEM, to store it.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        self.key
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map(|p| p.to_string())
            .map_err(|e| KeyError(e.to_string()))
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK (for a JWKS document).
    pub fn public_jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "alg": "EdDSA",
            "use": "sig",
            "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(self.key.verifying_key().to_bytes()),
        })
    }

    /// A JWKS document publishing `signers`' public keys.
    pub fn jwks(signers: &[&Signer]) -> String {
        serde_json::json!({ "keys": signers.iter().map(|s| s.public_jwk()).collect::<Vec<_>>() })
            .to_string()
    }

    /// Signs `claims` into a compact JWT.
    pub fn sign(&self, claims: &Claims) -> Result<String, KeyError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| KeyError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenancy::{Role, TenantId, UserId};

    fn config(jwks: String) -> AuthConfig {
        AuthConfig {
            issuer: "iss".into(),
            audience: "aula".into(),
            jwks_url: None,
            jwks: Some(jwks),
        }
    }

    fn claims(exp_offset: i64, aud: &str) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            iss: "iss".into(),
            sub: UserId::generate().to_string(),
            aud: aud.into(),
            exp: now + exp_offset,
            iat: now,
            jti: "t".into(),
            tid: TenantId::generate().to_string(),
            roles: vec!["admin".into()],
            scope: String::new(),
            amr: vec!["pwd".into()],
            name: None,
        }
    }

    #[tokio::test]
    async fn verifies_good_tokens_and_refuses_bad_ones() {
        let signer = Signer::generate("k1");
        let other = Signer::generate("k1");
        let verifier = Verifier::new(&config(Signer::jwks(&[&signer]))).expect("verifier");

        let good = signer.sign(&claims(300, "aula")).expect("signs");
        let ctx = verifier.verify(&good).await.expect("valid token");
        assert!(ctx.has_role(Role::Admin));

        let forged = other.sign(&claims(300, "aula")).expect("signs");
        assert!(
            matches!(verifier.verify(&forged).await, Err(AuthError::Invalid(_))),
            "same kid, other key"
        );
        let expired = signer.sign(&claims(-3600, "aula")).expect("signs");
        assert!(matches!(
            verifier.verify(&expired).await,
            Err(AuthError::Invalid(_))
        ));
        let wrong_aud = signer.sign(&claims(300, "someone-else")).expect("signs");
        assert!(matches!(
            verifier.verify(&wrong_aud).await,
            Err(AuthError::Invalid(_))
        ));
        let unknown = Signer::generate("k2")
            .sign(&claims(300, "aula"))
            .expect("signs");
        assert!(matches!(
            verifier.verify(&unknown).await,
            Err(AuthError::UnknownKey)
        ));
        assert!(matches!(
            verifier.verify("not.a.jwt").await,
            Err(AuthError::Malformed)
        ));
    }

    /// A verified token is remembered: it keeps working for a while after its key left the
    /// JWKS, while a new token signed with that key is refused at once; a tampered copy of a
    /// remembered token is checked afresh.
    #[tokio::test]
    async fn verified_tokens_are_remembered_briefly_and_only_byte_for_byte() {
        let signer = std::sync::Arc::new(Signer::generate("k1"));
        let published = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let jwks: LocalJwks = {
            let (signer, published) = (signer.clone(), published.clone());
            Box::new(move || {
                if published.load(std::sync::atomic::Ordering::SeqCst) {
                    Signer::jwks(&[&signer])
                } else {
                    Signer::jwks(&[])
                }
            })
        };
        let verifier = Verifier::local(&config(String::new()), jwks).expect("verifier");
        let token = signer.sign(&claims(300, "aula")).expect("signs");
        verifier.verify(&token).await.expect("valid token");

        published.store(false, std::sync::atomic::Ordering::SeqCst);
        verifier.refresh().await.expect("reloads the ring");
        verifier.verify(&token).await.expect("remembered");
        let mut other = claims(300, "aula");
        other.jti = "another token".into();
        let fresh = signer.sign(&other).expect("signs");
        assert!(matches!(
            verifier.verify(&fresh).await,
            Err(AuthError::UnknownKey)
        ));
        let mut tampered = token.clone();
        tampered.pop();
        assert!(verifier.verify(&tampered).await.is_err());
    }

    #[test]
    fn keys_round_trip_through_pem() {
        let signer = Signer::generate("k");
        let again = Signer::from_pem("k", &signer.to_pem().expect("pem")).expect("loads");
        assert_eq!(signer.public_jwk(), again.public_jwk());
    }
}
