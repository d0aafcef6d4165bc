//! Account recovery and address checks over GraphQL: password reset and email verification by
//! emailed single-use links.

use async_graphql::{Context, Object, Result};
use kit::ResultExt;
use kit::graphql::{caller, client};

use crate::graphql::User;
use crate::graphql::auth::identity;
use crate::service::links;

/// Password-reset and email-verification mutations.
#[derive(Debug, Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Emails a password-reset link if the academy (slug or host name) has a user with this
    /// address. Always answers `true`, so it reveals nobody.
    async fn request_password_reset(
        &self,
        ctx: &Context<'_>,
        tenant: String,
        email: String,
    ) -> Result<bool> {
        links::request_password_reset(identity(ctx), &tenant, &email, client(ctx))
            .await
            .gql()?;
        Ok(true)
    }

    /// Sets a new password with the token from a reset email. Ends every session of the user;
    /// sign in again with the new password.
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        token: String,
        new_password: String,
    ) -> Result<bool> {
        links::reset_password(identity(ctx), &token, &new_password, client(ctx))
            .await
            .gql()?;
        Ok(true)
    }

    /// Emails the signed-in user a new verification link; `false` when the address is
    /// already verified.
    async fn request_email_verification(&self, ctx: &Context<'_>) -> Result<bool> {
        let caller = caller(ctx)?;
        links::request_verification(identity(ctx), caller, client(ctx))
            .await
            .gql()
    }

    /// Verifies an email address with the token from a verification email.
    async fn verify_email(&self, ctx: &Context<'_>, token: String) -> Result<User> {
        links::verify_email(identity(ctx), &token, client(ctx))
            .await
            .gql()
            .map(User::own)
    }
}
