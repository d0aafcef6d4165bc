//! Signing keys and access tokens for tests, verified by the services exactly as in production.

use kit::auth::Signer;
use kit::config::AuthConfig;
use tenancy::{Claims, Role, TenantId, UserId};

/// A signing key plus the issuer and audience the services are configured with.
#[derive(Debug)]
pub struct Keys {
    signer: Signer,
}

/// A user of a test tenant, with a token.
#[derive(Clone, Debug)]
pub struct TestUser {
    /// Tenant.
    pub tenant: TenantId,
    /// User id.
    pub id: UserId,
    /// A valid bearer token.
    pub token: String,
}

impl Default for Keys {
    fn default() -> Self {
        Self::new()
    }
}

impl Keys {
    /// A fresh key.
    pub fn new() -> Self {
        Self {
            signer: Signer::generate(format!("test-{}", uuid::Uuid::new_v4().simple())),
        }
    }

    /// The auth section of a service's config that trusts these keys.
    pub fn auth_config(&self) -> AuthConfig {
        AuthConfig {
            issuer: kit::config::DEFAULT_ISSUER.into(),
            audience: kit::config::DEFAULT_AUDIENCE.into(),
            jwks_url: None,
            jwks: Some(Signer::jwks(&[&self.signer])),
        }
    }

    /// The JWKS document.
    pub fn jwks(&self) -> String {
        Signer::jwks(&[&self.signer])
    }

    /// Signs arbitrary claims (for tests of refused tokens).
    pub fn sign(&self, claims: &Claims) -> String {
        self.signer.sign(claims).expect("sign test token")
    }

    /// Claims for `sub` in `tenant` with `roles`, valid for ten minutes.
    pub fn claims(&self, tenant: TenantId, sub: &str, roles: &[Role], scope: &str) -> Claims {
        let mut claims = kit::auth::claims(
            &self.auth_config(),
            tenant,
            sub,
            roles,
            std::time::Duration::from_secs(600),
        );
        claims.scope = scope.into();
        claims.amr = vec!["pwd".into()];
        claims
    }

    /// A token for an existing user.
    pub fn token(&self, tenant: TenantId, user: UserId, roles: &[Role]) -> String {
        self.sign(&self.claims(tenant, &user.to_string(), roles, ""))
    }

    /// A new user id in `tenant` with a token for `roles`.
    pub fn user(&self, tenant: TenantId, roles: &[Role]) -> TestUser {
        let id = UserId::generate();
        TestUser {
            tenant,
            id,
            token: self.token(tenant, id, roles),
        }
    }

    /// A partner client token for `tenant` with `scopes`.
    pub fn partner(&self, tenant: TenantId, client: &str, scopes: &str) -> String {
        self.sign(&self.claims(tenant, client, &[Role::Partner], scopes))
    }
}
