//! Who is calling and for which tenant: built only from verified access-token claims.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::ids::{TenantId, UserId};

/// A role a principal holds within its tenant. Unknown role names in a token grant nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Aula's own staff, members of the reserved platform tenant.
    PlatformStaff,
    /// Owns the tenant: billing, ownership transfer, everything an admin can do.
    Owner,
    /// Runs the tenant: users, settings, all domain data.
    Admin,
    /// Teaches: courses they are assigned to, their students' progress.
    Instructor,
    /// Sells: contacts, deals, activities.
    Sales,
    /// Learns and buys: their own enrollments, progress, payments.
    Student,
    /// A partner integration authenticated with an API client; limited by its scopes.
    Partner,
}

impl Role {
    /// The role's stable name, as it appears in tokens and in the database.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::PlatformStaff => "platform_staff",
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Instructor => "instructor",
            Role::Sales => "sales",
            Role::Student => "student",
            Role::Partner => "partner",
        }
    }

    /// Parses a role name; `None` for names this build does not know.
    pub fn parse(name: &str) -> Option<Role> {
        Some(match name {
            "platform_staff" => Role::PlatformStaff,
            "owner" => Role::Owner,
            "admin" => Role::Admin,
            "instructor" => Role::Instructor,
            "sales" => Role::Sales,
            "student" => Role::Student,
            "partner" => Role::Partner,
            _ => return None,
        })
    }
}

/// The claims of an Aula access token (a JWT issued by the identity subgraph).
///
/// Signature, issuer, audience and expiry are verified before a `Claims` value exists; this
/// type only carries what was verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: the identity service's URL.
    pub iss: String,
    /// Subject: the user id, or the API client id for partners.
    pub sub: String,
    /// Audience.
    pub aud: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Unique token id.
    pub jti: String,
    /// The tenant the token is for.
    pub tid: String,
    /// Role names.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Space-separated OAuth scopes (partners).
    #[serde(default)]
    pub scope: String,
    /// Authentication methods (`pwd`, `otp`, `sso`, `client_credentials`).
    #[serde(default)]
    pub amr: Vec<String>,
    /// The user's display name when the token was issued (OpenID Connect's `name`), for what
    /// keeps a name without asking identity (a certificate's holder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Claims that verified but do not describe a usable principal.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ContextError {
    /// `tid` is not a tenant id.
    #[error("the token's tenant is not a valid id")]
    BadTenant,
    /// `sub` is not a user id for a token whose roles need one.
    #[error("the token's subject is not a valid user id")]
    BadSubject,
    /// Platform staff must belong to the platform tenant and vice versa.
    #[error("the token mixes platform and tenant roles")]
    PlatformMismatch,
}

/// The caller of a request, bound to exactly one tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantContext {
    tenant: TenantId,
    user: Option<UserId>,
    client: Option<String>,
    roles: BTreeSet<Role>,
    scopes: BTreeSet<String>,
    name: Option<String>,
}

impl TenantContext {
    /// Builds the context from verified claims.
    pub fn from_claims(claims: &Claims) -> Result<Self, ContextError> {
        let tenant: TenantId = claims.tid.parse().map_err(|_| ContextError::BadTenant)?;
        let roles: BTreeSet<Role> = claims.roles.iter().filter_map(|r| Role::parse(r)).collect();
        let scopes = claims.scope.split_whitespace().map(str::to_owned).collect();
        let is_partner = roles.contains(&Role::Partner);
        let (user, client) = if is_partner {
            (None, Some(claims.sub.clone()))
        } else {
            let user: UserId = claims.sub.parse().map_err(|_| ContextError::BadSubject)?;
            (Some(user), None)
        };
        if roles.contains(&Role::PlatformStaff) != tenant.is_platform() && !roles.is_empty() {
            return Err(ContextError::PlatformMismatch);
        }
        Ok(Self {
            tenant,
            user,
            client,
            roles,
            scopes,
            name: claims.name.clone().filter(|_| user.is_some()),
        })
    }

    /// A signed-in user of `tenant` with `roles`.
    pub fn user(tenant: TenantId, user: UserId, roles: impl IntoIterator<Item = Role>) -> Self {
        Self {
            tenant,
            user: Some(user),
            client: None,
            roles: roles.into_iter().collect(),
            scopes: BTreeSet::new(),
            name: None,
        }
    }

    /// An anonymous visitor bound to `tenant` (for example by the host name of the public app).
    pub fn anonymous(tenant: TenantId) -> Self {
        Self {
            tenant,
            user: None,
            client: None,
            roles: BTreeSet::new(),
            scopes: BTreeSet::new(),
            name: None,
        }
    }

    /// The tenant every query of this request is confined to.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The signed-in user, if any.
    pub fn user_id(&self) -> Option<UserId> {
        self.user
    }

    /// The user's display name as their token carried it.
    pub fn display_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The partner API client, if the caller is one.
    pub fn client_id(&self) -> Option<&str> {
        self.client.as_deref()
    }

    /// Whether the caller holds `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The caller's roles.
    pub fn roles(&self) -> impl Iterator<Item = Role> + '_ {
        self.roles.iter().copied()
    }

    /// Whether the caller was granted `scope` (partners).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// Whether nobody is signed in.
    pub fn is_anonymous(&self) -> bool {
        self.user.is_none() && self.client.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(tid: &str, sub: &str, roles: &[&str], scope: &str) -> Claims {
        Claims {
            iss: "https://id.example".into(),
            sub: sub.into(),
            aud: "aula".into(),
            exp: 0,
            iat: 0,
            jti: "j".into(),
            tid: tid.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            scope: scope.into(),
            amr: vec![],
            name: None,
        }
    }

    #[test]
    fn builds_a_user_context_and_ignores_unknown_roles() {
        let t = TenantId::generate();
        let u = UserId::generate();
        let ctx = TenantContext::from_claims(&claims(
            &t.to_string(),
            &u.to_string(),
            &["admin", "wizard"],
            "",
        ))
        .expect("valid claims");
        assert_eq!(ctx.tenant(), t);
        assert_eq!(ctx.user_id(), Some(u));
        assert!(ctx.has_role(Role::Admin));
        assert_eq!(ctx.roles().count(), 1, "the unknown role grants nothing");
    }

    #[test]
    fn partners_are_clients_with_scopes() {
        let t = TenantId::generate();
        let ctx = TenantContext::from_claims(&claims(
            &t.to_string(),
            "cli_123",
            &["partner"],
            "crm:read crm:write",
        ))
        .expect("valid claims");
        assert_eq!(ctx.client_id(), Some("cli_123"));
        assert_eq!(ctx.user_id(), None);
        assert!(ctx.has_scope("crm:write"));
        assert!(!ctx.has_scope("crm"));
    }

    #[test]
    fn rejects_malformed_tenants_subjects_and_platform_mixups() {
        let t = TenantId::generate().to_string();
        let u = UserId::generate().to_string();
        assert_eq!(
            TenantContext::from_claims(&claims("acme", &u, &["admin"], "")),
            Err(ContextError::BadTenant)
        );
        assert_eq!(
            TenantContext::from_claims(&claims(&t, "bob", &["admin"], "")),
            Err(ContextError::BadSubject)
        );
        assert_eq!(
            TenantContext::from_claims(&claims(&t, &u, &["platform_staff"], "")),
            Err(ContextError::PlatformMismatch),
            "staff of an ordinary tenant are refused"
        );
        assert_eq!(
            TenantContext::from_claims(&claims(
                &TenantId::PLATFORM.to_string(),
                &u,
                &["admin"],
                ""
            )),
            Err(ContextError::PlatformMismatch),
            "non-staff roles in the platform tenant are refused"
        );
    }
}
