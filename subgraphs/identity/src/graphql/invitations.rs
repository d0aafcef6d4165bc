//! Invitations over GraphQL: staff invite, re-send, revoke and list; the invitee previews and
//! accepts with the emailed token.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use kit::ResultExt;
use kit::graphql::{caller, client, db};
use kit::relay::{self, PageArgs};
use tenancy::Role;

use crate::entity::invitation;
use crate::graphql::auth::identity;
use crate::graphql::{SignInResult, parse_id};
use crate::service::invitations::{self, Acceptance};

/// Where an invitation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum InvitationStatus {
    /// Sent, not yet accepted, still valid.
    Pending,
    /// Accepted: the user exists.
    Accepted,
    /// Withdrawn by staff.
    Revoked,
    /// Not accepted in time (re-send it).
    Expired,
}

impl From<invitations::Status> for InvitationStatus {
    fn from(s: invitations::Status) -> Self {
        match s {
            invitations::Status::Pending => Self::Pending,
            invitations::Status::Accepted => Self::Accepted,
            invitations::Status::Revoked => Self::Revoked,
            invitations::Status::Expired => Self::Expired,
        }
    }
}

impl From<InvitationStatus> for invitations::Status {
    fn from(s: InvitationStatus) -> Self {
        match s {
            InvitationStatus::Pending => Self::Pending,
            InvitationStatus::Accepted => Self::Accepted,
            InvitationStatus::Revoked => Self::Revoked,
            InvitationStatus::Expired => Self::Expired,
        }
    }
}

fn roles(names: &[String]) -> Vec<Role> {
    names.iter().filter_map(|r| Role::parse(r)).collect()
}

/// An invitation to join the academy (never its token: that goes only to the invitee).
#[derive(Debug)]
pub struct Invitation(invitation::Model);

#[Object]
impl Invitation {
    /// The invitation's id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The invited address.
    async fn email(&self) -> &str {
        &self.0.email
    }

    /// The roles the invitee gets.
    async fn roles(&self) -> Vec<Role> {
        roles(&self.0.roles)
    }

    /// Where it stands now.
    async fn status(&self) -> InvitationStatus {
        invitations::status(&self.0).into()
    }

    /// The staff member who sent it last.
    async fn invited_by(&self) -> ID {
        ID(self.0.invited_by.to_string())
    }

    /// When it was sent last.
    async fn sent_at(&self) -> DateTime<Utc> {
        self.0.created_at.into()
    }

    /// When it stops working.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at.into()
    }

    /// When it was accepted.
    async fn accepted_at(&self) -> Option<DateTime<Utc>> {
        self.0.accepted_at.map(Into::into)
    }

    /// The user its acceptance created.
    async fn accepted_user_id(&self) -> Option<ID> {
        self.0.accepted_user.map(|u| ID(u.to_string()))
    }

    /// When it was revoked.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at.map(Into::into)
    }
}

/// What an invitation offers, shown to its holder before accepting.
#[derive(Debug, SimpleObject)]
pub struct InvitationPreview {
    /// The academy's name.
    tenant_name: String,
    /// The academy's slug.
    tenant_slug: String,
    /// The invited address: the new account's email.
    email: String,
    /// The roles the account gets.
    roles: Vec<Role>,
    /// When the invitation stops working.
    expires_at: DateTime<Utc>,
}

/// Input of `inviteUser`.
#[derive(Debug, InputObject)]
pub struct InviteUserInput {
    /// Who to invite.
    pub email: String,
    /// The roles they get (tenant roles; only owners invite owners).
    pub roles: Vec<Role>,
}

/// Input of `acceptInvitation`.
#[derive(InputObject)]
pub struct AcceptInvitationInput {
    /// The token from the invitation email.
    pub token: String,
    /// The new user's name (1 to 100 characters).
    pub display_name: String,
    /// At least 10 characters, not a common password.
    pub password: String,
}

/// The tenant's invitations, oldest first (owners and admins).
pub(crate) async fn list(
    ctx: &Context<'_>,
    status: Option<InvitationStatus>,
    page: PageArgs,
) -> Result<Connection<String, Invitation>> {
    let caller = caller(ctx)?;
    let window = page.window().gql()?;
    let page = invitations::list(db(ctx), caller, status.map(Into::into), window)
        .await
        .gql()?;
    Ok(relay::connection(page, |m| m.id, Invitation))
}

/// What an invitation token offers (anyone holding it).
pub(crate) async fn preview(ctx: &Context<'_>, token: &str) -> Result<InvitationPreview> {
    let p = invitations::preview(identity(ctx), token, client(ctx))
        .await
        .gql()?;
    Ok(InvitationPreview {
        tenant_name: p.tenant_name,
        tenant_slug: p.tenant_slug,
        email: p.email,
        roles: roles(&p.roles),
        expires_at: p.expires_at,
    })
}

/// Invitation mutations.
#[derive(Debug, Default)]
pub struct InvitationMutation;

#[Object]
impl InvitationMutation {
    /// Invites someone by email (owners and admins; only owners invite owners). The email
    /// with the acceptance link is queued for delivery; the token is never shown here.
    async fn invite_user(&self, ctx: &Context<'_>, input: InviteUserInput) -> Result<Invitation> {
        let caller = caller(ctx)?;
        invitations::invite(
            identity(ctx),
            caller,
            &input.email,
            &input.roles,
            client(ctx),
        )
        .await
        .gql()
        .map(Invitation)
    }

    /// Sends a pending or expired invitation again with a new link; the old link stops
    /// working.
    async fn resend_invitation(&self, ctx: &Context<'_>, id: ID) -> Result<Invitation> {
        let caller = caller(ctx)?;
        let id = parse_id("id", &id)?;
        invitations::resend(identity(ctx), caller, id, client(ctx))
            .await
            .gql()
            .map(Invitation)
    }

    /// Withdraws an invitation that was not accepted.
    async fn revoke_invitation(&self, ctx: &Context<'_>, id: ID) -> Result<Invitation> {
        let caller = caller(ctx)?;
        let id = parse_id("id", &id)?;
        invitations::revoke(db(ctx), caller, id, client(ctx))
            .await
            .gql()
            .map(Invitation)
    }

    /// Accepts an invitation: creates the account and signs it in (through MFA when the
    /// academy requires it of the invited roles). The token works once.
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        input: AcceptInvitationInput,
    ) -> Result<SignInResult> {
        let acceptance = Acceptance {
            display_name: input.display_name,
            password: input.password,
        };
        invitations::accept(identity(ctx), &input.token, acceptance, client(ctx))
            .await
            .gql()
            .map(SignInResult::from)
    }
}
