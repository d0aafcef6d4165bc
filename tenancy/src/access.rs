//! The permission check every subgraph uses: which roles (or partner scopes) may do a thing.

use crate::context::{Role, TenantContext};

/// Why a caller may not do something.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccessError {
    /// Nobody is signed in.
    #[error("sign in to do this")]
    Unauthenticated,
    /// Signed in, but without a role or scope that allows this.
    #[error("you do not have permission to do this")]
    Forbidden,
}

/// A rule: any of `roles`, or a partner holding `scope`.
///
/// Declared as constants next to the service that enforces them:
/// `const MANAGE_USERS: Access = Access::roles(&[Role::Owner, Role::Admin]).or_scope("identity:users:write");`
#[derive(Clone, Copy, Debug)]
pub struct Access {
    roles: &'static [Role],
    scope: Option<&'static str>,
}

impl Access {
    /// Allowed to callers holding any of `roles`.
    pub const fn roles(roles: &'static [Role]) -> Self {
        Self { roles, scope: None }
    }

    /// Also allowed to partner clients granted `scope`.
    pub const fn or_scope(self, scope: &'static str) -> Self {
        Self {
            roles: self.roles,
            scope: Some(scope),
        }
    }

    /// Checks the rule against a caller.
    pub fn check(&self, ctx: &TenantContext) -> Result<(), AccessError> {
        if ctx.is_anonymous() {
            return Err(AccessError::Unauthenticated);
        }
        let by_role = self.roles.iter().any(|r| ctx.has_role(*r));
        let by_scope = self
            .scope
            .is_some_and(|s| ctx.has_role(Role::Partner) && ctx.has_scope(s));
        if by_role || by_scope {
            Ok(())
        } else {
            Err(AccessError::Forbidden)
        }
    }
}

impl TenantContext {
    /// Checks `access` for this caller: `ctx.require(MANAGE_USERS)?`.
    pub fn require(&self, access: Access) -> Result<(), AccessError> {
        access.check(self)
    }

    /// The signed-in user, or `Unauthenticated`.
    pub fn require_user(&self) -> Result<crate::UserId, AccessError> {
        self.user_id().ok_or(AccessError::Unauthenticated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Claims, TenantId, UserId};

    const STAFF: Access = Access::roles(&[Role::Owner, Role::Admin]).or_scope("users:read");

    fn partner(scope: &str) -> TenantContext {
        TenantContext::from_claims(&Claims {
            iss: String::new(),
            sub: "cli_1".into(),
            aud: String::new(),
            exp: 0,
            iat: 0,
            jti: String::new(),
            tid: TenantId::generate().to_string(),
            roles: vec!["partner".into()],
            scope: scope.into(),
            amr: vec![],
            name: None,
        })
        .expect("valid claims")
    }

    #[test]
    fn roles_and_scopes_grant_access() {
        let t = TenantId::generate();
        let admin = TenantContext::user(t, UserId::generate(), [Role::Admin]);
        let student = TenantContext::user(t, UserId::generate(), [Role::Student]);
        assert_eq!(admin.require(STAFF), Ok(()));
        assert_eq!(student.require(STAFF), Err(AccessError::Forbidden));
        assert_eq!(partner("users:read").require(STAFF), Ok(()));
        assert_eq!(
            partner("users:write").require(STAFF),
            Err(AccessError::Forbidden)
        );
        assert_eq!(
            TenantContext::anonymous(t).require(STAFF),
            Err(AccessError::Unauthenticated)
        );
    }

    #[test]
    fn a_scope_without_the_partner_role_grants_nothing() {
        const ONLY_SCOPE: Access = Access::roles(&[]).or_scope("x");
        let student =
            TenantContext::user(TenantId::generate(), UserId::generate(), [Role::Student]);
        assert_eq!(student.require(ONLY_SCOPE), Err(AccessError::Forbidden));
    }
}
