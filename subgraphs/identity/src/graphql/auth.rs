//! Sign-up, sign-in, sessions and API clients over GraphQL. Anonymous callers may sign up, sign
//! in and refresh; everything else needs a token.

use std::sync::Arc;

use async_graphql::connection::Connection;
use async_graphql::{Context, InputObject, Object, Result, SimpleObject, Union};
use kit::ResultExt;
use kit::graphql::{caller, client, db};
use kit::relay::{self, PageArgs};

use crate::app::Identity;
use crate::graphql::{ApiClient, Tenant, User};
use crate::service::sign_in::{self, SignedIn};
use crate::service::tenants::NewTenant;
use crate::service::{clients, mfa, sessions};
use tenancy::Role;

pub(crate) fn identity<'a>(ctx: &Context<'a>) -> &'a Identity {
    ctx.data_unchecked::<Arc<Identity>>()
}

/// A signed-in session. Keep the refresh token secret: it is shown once and rotated on use.
#[derive(SimpleObject)]
pub struct Session {
    /// Bearer token for API calls.
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: u64,
    /// Exchange it with `refreshSession` for a new session; each one works once.
    refresh_token: String,
    /// Who is signed in.
    user: User,
    /// Only when this sign-in completed an MFA enrollment: single-use recovery codes, shown
    /// once. Store them somewhere safe.
    recovery_codes: Option<Vec<String>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session")
    }
}

impl From<sessions::Session> for Session {
    fn from(s: sessions::Session) -> Self {
        Self {
            access_token: s.access_token,
            token_type: "Bearer",
            expires_in: s.expires_in,
            refresh_token: s.refresh_token,
            user: User::own(s.user),
            recovery_codes: None,
        }
    }
}

/// The password was right; answer the challenge with a TOTP or recovery code. When the
/// academy requires MFA of the user and they have none yet, the challenge carries the
/// enrollment: add it to an authenticator app, then answer with its first code.
#[derive(SimpleObject)]
pub struct MfaChallenge {
    /// Present it with the code to `verifyMfa`.
    challenge: String,
    /// Seconds the challenge stays valid.
    expires_in: u64,
    /// Whether the user must enroll first (then `otpauthUri` and `qrSvg` are set).
    enrollment_required: bool,
    /// The authenticator-app URI (enrollment only).
    otpauth_uri: Option<String>,
    /// The URI as a QR code, SVG (enrollment only).
    qr_svg: Option<String>,
}

/// A new TOTP enrollment: add it to an authenticator app, then confirm with a code.
#[derive(SimpleObject)]
pub struct TotpEnrollment {
    /// `otpauth://totp/...`
    otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    qr_svg: String,
}

impl std::fmt::Debug for TotpEnrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrollment")
    }
}

impl std::fmt::Debug for MfaChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaChallenge")
    }
}

/// What `signIn` produces.
#[derive(Debug, Union)]
pub enum SignInResult {
    /// Signed in.
    Session(Session),
    /// A second factor is needed.
    MfaChallenge(MfaChallenge),
}

impl From<SignedIn> for SignInResult {
    fn from(done: SignedIn) -> Self {
        match done {
            SignedIn::Session(s) => SignInResult::Session(s.into()),
            SignedIn::MfaRequired(c) => SignInResult::MfaChallenge(MfaChallenge {
                challenge: c.token,
                expires_in: c.expires_in,
                enrollment_required: c.enrollment.is_some(),
                otpauth_uri: c.enrollment.as_ref().map(|e| e.otpauth_uri.clone()),
                qr_svg: c.enrollment.map(|e| e.qr_svg),
            }),
        }
    }
}

/// Input of `signUp`: a new academy and its owner.
#[derive(InputObject)]
pub struct SignUpInput {
    /// The academy's name.
    pub tenant_name: String,
    /// Its URL-safe short name (the subdomain).
    pub slug: String,
    /// The owner's name.
    pub owner_name: String,
    /// The owner's email address.
    pub email: String,
    /// At least 10 characters, not a common password.
    pub password: String,
}

impl std::fmt::Debug for SignUpInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignUpInput")
            .field("slug", &self.slug)
            .finish_non_exhaustive()
    }
}

/// Input of `signIn`.
#[derive(InputObject)]
pub struct SignInInput {
    /// The academy: its slug or host name.
    pub tenant: String,
    /// Email address.
    pub email: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for SignInInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInInput")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

/// A new API client with its secret, shown only in this response.
#[derive(SimpleObject)]
pub struct CreatedApiClient {
    /// The client.
    client: ApiClient,
    /// `aula_sk_…`: store it now; it cannot be shown again.
    client_secret: String,
}

impl std::fmt::Debug for CreatedApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CreatedApiClient")
    }
}

/// Sessions and API-client mutations.
#[derive(Debug, Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Creates an academy and its owner, and signs the owner in.
    async fn sign_up(&self, ctx: &Context<'_>, input: SignUpInput) -> Result<Session> {
        let new = NewTenant {
            id: None,
            owner_id: None,
            name: input.tenant_name,
            slug: input.slug,
            owner_email: input.email,
            owner_name: input.owner_name,
            owner_password: Some(input.password),
        };
        sign_in::sign_up(identity(ctx), new, client(ctx))
            .await
            .gql()
            .map(Session::from)
    }

    /// Signs in with email and password. Wrong email and wrong password fail alike.
    async fn sign_in(&self, ctx: &Context<'_>, input: SignInInput) -> Result<SignInResult> {
        let done = sign_in::password(
            identity(ctx),
            &input.tenant,
            &input.email,
            &input.password,
            client(ctx),
        )
        .await
        .gql()?;
        Ok(done.into())
    }

    /// The second step of a sign-in: a code from the authenticator app, or a recovery code.
    async fn verify_mfa(
        &self,
        ctx: &Context<'_>,
        challenge: String,
        code: String,
    ) -> Result<Session> {
        let (session, codes) = mfa::verify(identity(ctx), &challenge, &code, client(ctx))
            .await
            .gql()?;
        let mut session = Session::from(session);
        session.recovery_codes = codes;
        Ok(session)
    }

    /// Starts TOTP enrollment for the signed-in user.
    async fn enroll_totp(&self, ctx: &Context<'_>) -> Result<TotpEnrollment> {
        let caller = caller(ctx)?;
        let e = mfa::enroll(identity(ctx), caller).await.gql()?;
        Ok(TotpEnrollment {
            otpauth_uri: e.otpauth_uri,
            qr_svg: e.qr_svg,
        })
    }

    /// Confirms TOTP enrollment with the app's first code; returns single-use recovery codes,
    /// shown once.
    async fn confirm_totp(&self, ctx: &Context<'_>, code: String) -> Result<Vec<String>> {
        let caller = caller(ctx)?;
        mfa::confirm(identity(ctx), caller, &code, client(ctx))
            .await
            .gql()
    }

    /// Turns MFA off, proven with a current code or a recovery code (not allowed when the
    /// academy requires MFA of one of the user's roles).
    async fn disable_mfa(&self, ctx: &Context<'_>, code: String) -> Result<bool> {
        let caller = caller(ctx)?;
        mfa::disable(identity(ctx), caller, &code, client(ctx))
            .await
            .gql()?;
        Ok(true)
    }

    /// Sets which roles of the academy must use MFA (owners and admins).
    async fn set_mfa_required_roles(&self, ctx: &Context<'_>, roles: Vec<Role>) -> Result<Tenant> {
        let caller = caller(ctx)?;
        mfa::set_required_roles(identity(ctx), caller, &roles, client(ctx))
            .await
            .gql()
            .map(Tenant)
    }

    /// Exchanges a refresh token for a new session. Each refresh token works once; presenting
    /// a spent one signs out every session descended from the same sign-in.
    async fn refresh_session(&self, ctx: &Context<'_>, refresh_token: String) -> Result<Session> {
        sessions::refresh(identity(ctx), &refresh_token, client(ctx))
            .await
            .gql()
            .map(Session::from)
    }

    /// Ends the session the refresh token belongs to. Always succeeds.
    async fn sign_out(&self, ctx: &Context<'_>, refresh_token: String) -> Result<bool> {
        sessions::sign_out(identity(ctx), &refresh_token, client(ctx))
            .await
            .gql()?;
        Ok(true)
    }

    /// Ends every session of the signed-in user; returns how many were ended.
    async fn sign_out_everywhere(&self, ctx: &Context<'_>) -> Result<u64> {
        let caller = caller(ctx)?;
        sessions::sign_out_everywhere(identity(ctx), caller, client(ctx))
            .await
            .gql()
    }

    /// Creates a partner API client (owners and admins). The secret is in this response only.
    async fn create_api_client(
        &self,
        ctx: &Context<'_>,
        name: String,
        scopes: Vec<String>,
    ) -> Result<CreatedApiClient> {
        let caller = caller(ctx)?;
        let created = clients::create(db(ctx), caller, &name, &scopes, client(ctx))
            .await
            .gql()?;
        Ok(CreatedApiClient {
            client: ApiClient(created.client),
            client_secret: created.secret,
        })
    }

    /// Revokes an API client: its secret stops working at once.
    async fn revoke_api_client(&self, ctx: &Context<'_>, client_id: String) -> Result<ApiClient> {
        let caller = caller(ctx)?;
        clients::revoke(db(ctx), caller, &client_id, client(ctx))
            .await
            .gql()
            .map(ApiClient)
    }
}

/// The tenant's API clients (owners and admins).
pub(crate) async fn api_clients(
    ctx: &Context<'_>,
    page: PageArgs,
) -> Result<Connection<String, ApiClient>> {
    let caller = caller(ctx)?;
    let window = page.window().gql()?;
    let page = clients::list(db(ctx), caller, window).await.gql()?;
    Ok(relay::connection(page, |m| m.id, ApiClient))
}
