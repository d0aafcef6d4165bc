//! The identity service as its integration tests run it: built exactly as `aula identity` builds
//! it (its own key ring, Redis, a fresh database), served on loopback, plus helpers to seed
//! tenants and to talk to it over HTTP.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

use std::sync::Arc;

use harness::{Keys, TestDb, TestServer, gql, spawn, subgraph_config};
use identity::Identity;
use identity::crypto::Sealer;
use identity::service::sessions;
use identity::service::tenants::{self, NewTenant};
use kit::Config;
use kit::server::Deps;
use serde_json::{Value, json};
use tenancy::{Role, TenantId, UserId};

/// A password every seeded user has.
pub const PASSWORD: &str = "correct horse battery";

/// A running identity service on its own database.
pub struct Env {
    /// The database (dropped with the environment).
    pub db: TestDb,
    /// The server.
    pub server: TestServer,
    /// The service's state (its key ring signs test tokens).
    pub identity: Arc<Identity>,
    /// A key identity does not trust.
    pub foreign_keys: Keys,
}

/// A seeded tenant with an owner.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: String,
    pub owner: UserId,
    pub owner_email: String,
}

impl Env {
    /// Starts identity with default settings.
    pub async fn start() -> Env {
        Self::start_with(|_| {}).await
    }

    /// Starts identity after `adjust` has changed its configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Env {
        let db = TestDb::new().await;
        let foreign_keys = Keys::new();
        let mut config = subgraph_config("identity", &db, &foreign_keys);
        // Identity verifies tokens against its own key ring, never a configured JWKS.
        config.auth.jwks = None;
        config.set_service("encryption_key", Sealer::generate_key());
        // Tests share 127.0.0.1: per-IP limits are tested with X-Forwarded-For instead.
        config.set_service("ip_failures_allowed", 100_000);
        adjust(&mut config);
        let mut deps = Deps::connect(&config).await.expect("dependencies");
        let identity = identity::app::start(&mut deps, &config)
            .await
            .expect("identity starts");
        let parts = identity::app::parts(identity.clone());
        let server = spawn(kit::server::app(identity::NAME, parts, deps, &config)).await;
        Env {
            db,
            server,
            identity,
            foreign_keys,
        }
    }

    /// Creates a tenant whose owner has [`PASSWORD`].
    pub async fn tenant(&self, slug: &str) -> Tenant {
        let owner_email = format!("owner@{slug}.test");
        let (tenant, owner) = tenants::create_with_owner(
            &self.identity.db,
            NewTenant {
                id: None,
                owner_id: None,
                name: format!("{slug} academy"),
                slug: slug.into(),
                owner_email: owner_email.clone(),
                owner_name: format!("{slug} owner"),
                owner_password: Some(PASSWORD.into()),
            },
        )
        .await
        .expect("tenant");
        Tenant {
            id: TenantId::from_uuid(tenant.tenant_id),
            slug: slug.into(),
            owner: UserId::from_uuid(owner.id),
            owner_email,
        }
    }

    /// Adds a user with `roles` and [`PASSWORD`] to `tenant`.
    pub async fn user(&self, tenant: &Tenant, email: &str, roles: &[Role]) -> UserId {
        let user = tenants::seed_user(
            &self.identity.db,
            tenant.id,
            email,
            email.split('@').next().unwrap_or("user"),
            roles,
            Some(PASSWORD),
        )
        .await
        .expect("user");
        UserId::from_uuid(user.id)
    }

    /// An access token signed by identity's current key.
    pub fn token(&self, tenant: TenantId, user: UserId, roles: &[Role]) -> String {
        sessions::access_token(
            &self.identity,
            tenant,
            &user.to_string(),
            roles,
            "",
            &["pwd".into()],
        )
        .expect("token")
        .0
    }

    /// A partner token for `tenant` with `scope`, signed by identity's current key.
    pub fn partner(&self, tenant: TenantId, client: &str, scope: &str) -> String {
        sessions::access_token(
            &self.identity,
            tenant,
            client,
            &[Role::Partner],
            scope,
            &["client_credentials".into()],
        )
        .expect("token")
        .0
    }

    /// The emails queued in `tenant`'s outbox with `template`, oldest first, read the way the
    /// notifications relay will: as the database admin, opening each sealed link with the
    /// service key.
    pub async fn emails(&self, tenant: TenantId, template: &str) -> Vec<Mail> {
        use identity::entity::outbox;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        let admin = self.db.admin().await;
        let rows = outbox::Entity::find()
            .filter(outbox::Column::TenantId.eq(tenant.as_uuid()))
            .filter(outbox::Column::Topic.eq(format!("email.{template}")))
            .order_by_asc(outbox::Column::Id)
            .all(&admin)
            .await
            .expect("outbox");
        rows.into_iter()
            .map(|row| {
                let link = identity::service::outbox::open_link(&self.identity.sealer, &row)
                    .expect("the link opens with the service key");
                let token = link
                    .split_once("token=")
                    .map(|(_, t)| t.to_owned())
                    .expect("the link carries a token");
                Mail {
                    to: row.payload["to"].as_str().unwrap_or_default().to_owned(),
                    vars: row.payload["vars"].clone(),
                    payload: row.payload,
                    link,
                    token,
                }
            })
            .collect()
    }

    /// The token of the newest `template` email to `to` in `tenant`.
    pub async fn token_mailed(&self, tenant: TenantId, template: &str, to: &str) -> String {
        self.emails(tenant, template)
            .await
            .into_iter()
            .rev()
            .find(|m| m.to == to)
            .unwrap_or_else(|| panic!("no {template} email to {to}"))
            .token
    }

    /// A GraphQL request.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        gql(&self.server, token, query, variables).await
    }

    /// Signs in with a password; returns the whole response body.
    pub async fn sign_in(&self, tenant: &str, email: &str, password: &str) -> Value {
        self.gql(
            None,
            SIGN_IN,
            json!({ "input": { "tenant": tenant, "email": email, "password": password } }),
        )
        .await
    }
}

/// A queued email.
#[derive(Clone, Debug)]
pub struct Mail {
    /// Recipient.
    pub to: String,
    /// Template variables.
    pub vars: Value,
    /// The whole stored payload (the link sealed).
    pub payload: Value,
    /// The opened link.
    pub link: String,
    /// The credential in the link.
    pub token: String,
}

/// The `signIn` mutation with every field a client reads.
pub const SIGN_IN: &str = "mutation($input: SignInInput!) {
  signIn(input: $input) {
    __typename
    ... on Session { accessToken tokenType expiresIn refreshToken user { id email roles } }
    ... on MfaChallenge { challenge expiresIn enrollmentRequired otpauthUri qrSvg }
  }
}";

/// The `refreshSession` mutation.
pub const REFRESH: &str = "mutation($t: String!) {
  refreshSession(refreshToken: $t) { accessToken refreshToken user { id } }
}";

/// `extensions.code` of the first error.
pub fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

/// `token` (an opaque `aula_…_` credential) rewritten to name `tenant` instead of its own: the
/// forgery a tenant-B attacker would try with a credential of theirs.
pub fn retarget(token: &str, tenant: TenantId) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    // The prefix is `aula_<kind>_`; the base64url body may itself contain `_`.
    let split = token
        .match_indices('_')
        .nth(1)
        .expect("prefixed credential")
        .0
        + 1;
    let mut raw = URL_SAFE_NO_PAD.decode(&token[split..]).expect("base64");
    raw[..16].copy_from_slice(tenant.as_uuid().as_bytes());
    format!("{}{}", &token[..split], URL_SAFE_NO_PAD.encode(raw))
}
