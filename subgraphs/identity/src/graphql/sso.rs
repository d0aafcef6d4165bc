//! Single sign-on over GraphQL: tenant admins manage their OpenID providers; anyone may start a
//! sign-in (for clients that cannot follow `/sso/{tenant}/{provider}/start`) and exchange the
//! hand-off code the callback produced for a session.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use kit::ResultExt;
use kit::graphql::{caller, client, db};
use kit::relay::{self, PageArgs};
use tenancy::Role;

use crate::entity::sso_provider;
use crate::graphql::auth::identity;
use crate::graphql::{Session, parse_id};
use crate::service::sso::{self, NewProvider};

/// A tenant's OpenID Connect provider. Its client secret is write-only.
#[derive(Debug)]
pub struct SsoProvider(pub(crate) sso_provider::Model);

#[Object]
impl SsoProvider {
    /// The provider's id (part of its sign-in URL).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// What users see on the sign-in button.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The issuer URL.
    async fn issuer(&self) -> &str {
        &self.0.issuer
    }

    /// Our client id at the provider.
    async fn client_id(&self) -> &str {
        &self.0.client_id
    }

    /// Email domains allowed to sign in; empty allows any.
    async fn allowed_domains(&self) -> &[String] {
        &self.0.allowed_domains
    }

    /// The role of users created on their first sign-in.
    async fn default_role(&self) -> Option<Role> {
        Role::parse(&self.0.default_role)
    }

    /// Whether sign-in through it is allowed.
    async fn enabled(&self) -> bool {
        self.0.enabled
    }

    /// The redirect URI to register at the provider.
    async fn redirect_uri(&self, ctx: &Context<'_>) -> String {
        sso::redirect_uri(&identity(ctx).settings)
    }

    /// Created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at.into()
    }

    /// Last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at.into()
    }
}

/// Input of `registerSsoProvider`.
#[derive(InputObject)]
pub struct RegisterSsoProviderInput {
    /// What users see on the sign-in button (1 to 100 characters).
    pub name: String,
    /// The issuer URL (http or https); discovery must answer at
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// Our client id at the provider.
    pub client_id: String,
    /// Our client secret at the provider. Stored sealed; never shown again.
    pub client_secret: String,
    /// Email domains allowed to sign in; empty or absent allows any.
    #[graphql(default)]
    pub allowed_domains: Vec<String>,
    /// The role of users created on their first sign-in: INSTRUCTOR, SALES or STUDENT.
    pub default_role: Role,
}

impl std::fmt::Debug for RegisterSsoProviderInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterSsoProviderInput")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// Single sign-on mutations.
#[derive(Debug, Default)]
pub struct SsoMutation;

#[Object]
impl SsoMutation {
    /// Registers an OpenID Connect provider for the tenant (owners and admins).
    async fn register_sso_provider(
        &self,
        ctx: &Context<'_>,
        input: RegisterSsoProviderInput,
    ) -> Result<SsoProvider> {
        let caller = caller(ctx)?;
        let new = NewProvider {
            name: input.name,
            issuer: input.issuer,
            client_id: input.client_id,
            client_secret: input.client_secret,
            allowed_domains: input.allowed_domains,
            default_role: input.default_role,
        };
        sso::register(identity(ctx), caller, new, client(ctx))
            .await
            .gql()
            .map(SsoProvider)
    }

    /// Removes a provider; users it created stay, their links to it go.
    async fn remove_sso_provider(&self, ctx: &Context<'_>, id: ID) -> Result<SsoProvider> {
        let caller = caller(ctx)?;
        let id = parse_id("id", &id)?;
        sso::remove(db(ctx), caller, id, client(ctx))
            .await
            .gql()
            .map(SsoProvider)
    }

    /// Enables or disables sign-in through a provider.
    async fn set_sso_provider_enabled(
        &self,
        ctx: &Context<'_>,
        id: ID,
        enabled: bool,
    ) -> Result<SsoProvider> {
        let caller = caller(ctx)?;
        let id = parse_id("id", &id)?;
        sso::set_enabled(db(ctx), caller, id, enabled, client(ctx))
            .await
            .gql()
            .map(SsoProvider)
    }

    /// Starts a sign-in through a tenant's provider; returns the URL to send the browser to.
    /// `returnTo` (a page of the web app) receives `?sso_code=`; without it the callback
    /// answers with JSON.
    async fn start_sso_sign_in(
        &self,
        ctx: &Context<'_>,
        tenant: String,
        provider_id: ID,
        return_to: Option<String>,
    ) -> Result<String> {
        sso::start(identity(ctx), &tenant, &provider_id, return_to.as_deref())
            .await
            .gql()
    }

    /// Exchanges the one-time code of a finished single sign-on for a session.
    async fn complete_sso_sign_in(&self, ctx: &Context<'_>, sso_code: String) -> Result<Session> {
        sso::complete(identity(ctx), &sso_code, client(ctx))
            .await
            .gql()
            .map(Session::from)
    }
}

/// The tenant's SSO providers (owners and admins).
pub(crate) async fn sso_providers(
    ctx: &Context<'_>,
    page: PageArgs,
) -> Result<Connection<String, SsoProvider>> {
    let caller = caller(ctx)?;
    let window = page.window().gql()?;
    let page = sso::list(db(ctx), caller, window).await.gql()?;
    Ok(relay::connection(page, |m| m.id, SsoProvider))
}
