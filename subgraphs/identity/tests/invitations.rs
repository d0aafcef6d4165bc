//! Invitations: the emailed token is the only way in, works once, dies when re-sent, revoked or
//! expired; the owner rules hold; and nothing about an invitation crosses tenants.

mod common;

use common::{Env, PASSWORD, code, retarget};
use serde_json::{Value, json};
use tenancy::{Role, TenantId};

const INVITE: &str = "mutation($i: InviteUserInput!) {
  inviteUser(input: $i) { id email roles status invitedBy sentAt expiresAt acceptedAt revokedAt }
}";
const RESEND: &str = "mutation($id: ID!) { resendInvitation(id: $id) { id status expiresAt } }";
const REVOKE: &str = "mutation($id: ID!) { revokeInvitation(id: $id) { id status revokedAt } }";
const PREVIEW: &str =
    "query($t: String!) { invitation(token: $t) { tenantName tenantSlug email roles expiresAt } }";
const ACCEPT: &str = "mutation($i: AcceptInvitationInput!) {
  acceptInvitation(input: $i) {
    __typename
    ... on Session { accessToken refreshToken user { id email roles emailVerified displayName } }
    ... on MfaChallenge { challenge enrollmentRequired otpauthUri }
  }
}";
const LIST: &str = "query($s: InvitationStatus) {
  invitations(status: $s, first: 50) { edges { node { id email status acceptedUserId } } }
}";

async fn invite(env: &Env, token: &str, email: &str, roles: Value) -> Value {
    env.gql(
        Some(token),
        INVITE,
        json!({ "i": { "email": email, "roles": roles } }),
    )
    .await
}

async fn accept(env: &Env, token: &str, password: &str) -> Value {
    env.gql(
        None,
        ACCEPT,
        json!({ "i": { "token": token, "displayName": "New Person", "password": password } }),
    )
    .await
}

async fn listed(env: &Env, token: &str, status: Value) -> Vec<Value> {
    let body = env.gql(Some(token), LIST, json!({ "s": status })).await;
    body["data"]["invitations"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

async fn user_count(env: &Env, tenant: TenantId) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let admin = env.db.admin().await;
    let row = admin
        .query_one_raw(Statement::from_sql_and_values(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT count(*) AS n FROM identity.users WHERE tenant_id = $1",
            [tenant.as_uuid().into()],
        ))
        .await
        .expect("count")
        .expect("row");
    row.try_get("", "n").expect("n")
}

async fn expire(env: &Env, id: &str) {
    use sea_orm::{ConnectionTrait, Statement};
    let admin = env.db.admin().await;
    admin
        .execute_raw(Statement::from_sql_and_values(
            sea_orm::DatabaseBackend::Postgres,
            "UPDATE identity.invitations SET expires_at = now() - interval '1 second' WHERE id = $1",
            [uuid::Uuid::parse_str(id).expect("uuid").into()],
        ))
        .await
        .expect("expire");
}

#[tokio::test]
async fn an_emailed_invitation_is_accepted_once_and_signs_the_invitee_in() {
    let env = Env::start().await;
    let a = env.tenant("alpha").await;
    let admin_id = env.user(&a, "admin@alpha.test", &[Role::Admin]).await;
    let admin = env.token(a.id, admin_id, &[Role::Admin]);

    let body = invite(
        &env,
        &admin,
        " new.person@alpha.test ",
        json!(["INSTRUCTOR"]),
    )
    .await;
    let inv = &body["data"]["inviteUser"];
    assert_eq!(inv["status"], "PENDING", "{body}");
    assert_eq!(inv["email"], "new.person@alpha.test");
    assert_eq!(inv["roles"], json!(["INSTRUCTOR"]));
    assert_eq!(inv["invitedBy"], admin_id.to_string());
    let id = inv["id"].as_str().expect("id").to_owned();

    // The email is queued in the outbox, its link sealed: the stored row never holds the token.
    let mails = env.emails(a.id, "invitation").await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.to, "new.person@alpha.test");
    assert_eq!(mail.vars["tenantName"], "alpha academy");
    assert_eq!(mail.vars["inviterName"], "admin");
    assert!(mail.token.starts_with("aula_inv_"), "{}", mail.link);
    assert!(mail.link.contains("/invitations/accept?token="));
    assert!(!mail.payload.to_string().contains(&mail.token));
    assert!(!body.to_string().contains(&mail.token));

    let body = env.gql(None, PREVIEW, json!({ "t": mail.token })).await;
    let preview = &body["data"]["invitation"];
    assert_eq!(preview["tenantName"], "alpha academy", "{body}");
    assert_eq!(preview["tenantSlug"], "alpha");
    assert_eq!(preview["email"], "new.person@alpha.test");
    assert_eq!(preview["roles"], json!(["INSTRUCTOR"]));

    // A weak password is refused and the invitation stays usable.
    let body = accept(&env, &mail.token, "short").await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "password");
    let body = env.gql(None, PREVIEW, json!({ "t": mail.token })).await;
    assert!(body["errors"].is_null(), "{body}");

    let body = accept(&env, &mail.token, PASSWORD).await;
    let session = &body["data"]["acceptInvitation"];
    assert_eq!(session["__typename"], "Session", "{body}");
    assert_eq!(session["user"]["email"], "new.person@alpha.test");
    assert_eq!(session["user"]["roles"], json!(["INSTRUCTOR"]));
    assert_eq!(session["user"]["displayName"], "New Person");
    // The emailed link proved the address.
    assert_eq!(session["user"]["emailVerified"], true);
    let new_user = session["user"]["id"].as_str().expect("id").to_owned();
    let viewer = env
        .gql(
            session["accessToken"].as_str(),
            "{ viewer { id roles } }",
            json!({}),
        )
        .await;
    assert_eq!(viewer["data"]["viewer"]["id"], new_user, "{viewer}");

    // The token works once.
    let again = accept(&env, &mail.token, PASSWORD).await;
    assert_eq!(code(&again), "UNAUTHENTICATED", "{again}");
    let body = env.gql(None, PREVIEW, json!({ "t": mail.token })).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    assert_eq!(user_count(&env, a.id).await, 3);

    // The new password signs in.
    let signed = env
        .sign_in("alpha", "New.Person@alpha.test", PASSWORD)
        .await;
    assert_eq!(
        signed["data"]["signIn"]["__typename"], "Session",
        "{signed}"
    );

    let accepted = listed(&env, &admin, json!("ACCEPTED")).await;
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0]["id"], id);
    assert_eq!(accepted[0]["acceptedUserId"], new_user);
    assert!(listed(&env, &admin, json!("PENDING")).await.is_empty());

    let log = env
        .gql(
            Some(&admin),
            "{ auditLog(filter: { action: \"invitation\" }, first: 10) { edges { node { action subject } } } }",
            json!({}),
        )
        .await;
    let actions: Vec<&str> = log["data"]["auditLog"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{log}"))
        .iter()
        .filter_map(|e| e["node"]["action"].as_str())
        .collect();
    assert_eq!(actions, ["invitation.create", "invitation.accept"], "{log}");
}

#[tokio::test]
async fn invitations_follow_the_rules_for_duplicates_resending_revoking_and_expiry() {
    let env = Env::start().await;
    let a = env.tenant("alpha").await;
    let admin_id = env.user(&a, "admin@alpha.test", &[Role::Admin]).await;
    let teacher = env
        .user(&a, "teacher@alpha.test", &[Role::Instructor])
        .await;
    let admin = env.token(a.id, admin_id, &[Role::Admin]);
    let owner = env.token(a.id, a.owner, &[Role::Owner]);

    // Who may invite whom, and what.
    let body = invite(
        &env,
        &env.token(a.id, teacher, &[Role::Instructor]),
        "x@alpha.test",
        json!(["STUDENT"]),
    )
    .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = env
        .gql(
            None,
            INVITE,
            json!({ "i": { "email": "x@alpha.test", "roles": ["STUDENT"] } }),
        )
        .await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    let body = invite(&env, &admin, "x@alpha.test", json!(["OWNER"])).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = invite(&env, &admin, "x@alpha.test", json!(["PLATFORM_STAFF"])).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let body = invite(&env, &admin, "x@alpha.test", json!([])).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let body = invite(&env, &admin, "not an address", json!(["STUDENT"])).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "email");
    let body = invite(&env, &admin, "TEACHER@alpha.test", json!(["STUDENT"])).await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    assert!(env.emails(a.id, "invitation").await.is_empty());

    let body = invite(&env, &owner, "co-owner@alpha.test", json!(["OWNER"])).await;
    let co_owner = body["data"]["inviteUser"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // Only an owner re-sends or revokes an owner's invitation.
    let body = env
        .gql(Some(&admin), RESEND, json!({ "id": co_owner }))
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = env
        .gql(Some(&admin), REVOKE, json!({ "id": co_owner }))
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");

    // A second invitation to a pending address is a conflict; re-sending replaces the token.
    let body = invite(&env, &admin, "x@alpha.test", json!(["STUDENT"])).await;
    let x = body["data"]["inviteUser"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let body = invite(&env, &admin, "X@Alpha.test", json!(["STUDENT"])).await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    let first = env.token_mailed(a.id, "invitation", "x@alpha.test").await;
    let body = env.gql(Some(&admin), RESEND, json!({ "id": x })).await;
    assert_eq!(
        body["data"]["resendInvitation"]["status"], "PENDING",
        "{body}"
    );
    let second = env.token_mailed(a.id, "invitation", "x@alpha.test").await;
    assert_ne!(first, second);
    let body = env.gql(None, PREVIEW, json!({ "t": first })).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    let body = env.gql(None, PREVIEW, json!({ "t": second })).await;
    assert_eq!(
        body["data"]["invitation"]["email"], "x@alpha.test",
        "{body}"
    );

    // Revoked: the token dies; revoking again is harmless; re-sending is a conflict.
    let body = env.gql(Some(&admin), REVOKE, json!({ "id": x })).await;
    assert_eq!(
        body["data"]["revokeInvitation"]["status"], "REVOKED",
        "{body}"
    );
    let body = accept(&env, &second, PASSWORD).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    let body = env.gql(Some(&admin), REVOKE, json!({ "id": x })).await;
    assert_eq!(
        body["data"]["revokeInvitation"]["status"], "REVOKED",
        "{body}"
    );
    let body = env.gql(Some(&admin), RESEND, json!({ "id": x })).await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    // A revoked address can be invited afresh.
    let body = invite(&env, &admin, "x@alpha.test", json!(["SALES"])).await;
    assert_eq!(body["data"]["inviteUser"]["status"], "PENDING", "{body}");
    assert_ne!(body["data"]["inviteUser"]["id"], x);

    // Expired: unusable, listed as such, and a new invitation to the address replaces it.
    let body = invite(&env, &admin, "late@alpha.test", json!(["STUDENT"])).await;
    let late = body["data"]["inviteUser"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let late_token = env
        .token_mailed(a.id, "invitation", "late@alpha.test")
        .await;
    expire(&env, &late).await;
    let body = accept(&env, &late_token, PASSWORD).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    let expired = listed(&env, &admin, json!("EXPIRED")).await;
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["id"], late);
    let body = invite(&env, &admin, "late@alpha.test", json!(["INSTRUCTOR"])).await;
    assert_eq!(body["data"]["inviteUser"]["id"], late, "{body}");
    assert_eq!(body["data"]["inviteUser"]["status"], "PENDING");
    let fresh = env
        .token_mailed(a.id, "invitation", "late@alpha.test")
        .await;
    let body = accept(&env, &fresh, PASSWORD).await;
    assert_eq!(
        body["data"]["acceptInvitation"]["user"]["roles"],
        json!(["INSTRUCTOR"]),
        "{body}"
    );
    // Accepted invitations cannot be revoked.
    let body = env.gql(Some(&admin), REVOKE, json!({ "id": late })).await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    // Garbage ids and tokens are typed errors.
    let body = env.gql(Some(&admin), REVOKE, json!({ "id": "nope" })).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let body = env
        .gql(None, PREVIEW, json!({ "t": "aula_inv_garbage" }))
        .await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
}

#[tokio::test]
async fn invitations_never_cross_tenants() {
    let env = Env::start().await;
    let a = env.tenant("alpha").await;
    let b = env.tenant("beta").await;
    let a_owner = env.token(a.id, a.owner, &[Role::Owner]);
    let b_owner = env.token(b.id, b.owner, &[Role::Owner]);

    let body = invite(&env, &a_owner, "target@x.test", json!(["ADMIN"])).await;
    let a_inv = body["data"]["inviteUser"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let a_token = env.token_mailed(a.id, "invitation", "target@x.test").await;
    let body = invite(&env, &b_owner, "target@x.test", json!(["STUDENT"])).await;
    assert_eq!(body["data"]["inviteUser"]["status"], "PENDING", "{body}");
    let b_token = env.token_mailed(b.id, "invitation", "target@x.test").await;

    // B's owner neither sees nor touches A's invitation.
    let b_list = listed(&env, &b_owner, Value::Null).await;
    assert_eq!(b_list.len(), 1);
    assert_ne!(b_list[0]["id"], a_inv);
    for op in [RESEND, REVOKE] {
        let body = env.gql(Some(&b_owner), op, json!({ "id": a_inv })).await;
        assert_eq!(code(&body), "NOT_FOUND", "{body}");
    }
    assert!(env.emails(b.id, "invitation").await.len() == 1);

    // B's token rewritten to name tenant A finds nothing there, and A's to name B likewise.
    for forged in [retarget(&b_token, a.id), retarget(&a_token, b.id)] {
        let body = env.gql(None, PREVIEW, json!({ "t": forged })).await;
        assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
        let body = accept(&env, &forged, PASSWORD).await;
        assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    }
    assert_eq!(user_count(&env, a.id).await, 1);
    assert_eq!(user_count(&env, b.id).await, 1);

    // Accepting A's real token creates the user in A only, with A's roles.
    let body = accept(&env, &a_token, PASSWORD).await;
    let user = &body["data"]["acceptInvitation"]["user"];
    assert_eq!(user["roles"], json!(["ADMIN"]), "{body}");
    let id = user["id"].as_str().expect("id");
    let seen = env
        .gql(
            Some(&b_owner),
            "query($id: ID!) { user(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert!(seen["data"]["user"].is_null(), "{seen}");
    assert_eq!(user_count(&env, a.id).await, 2);
    assert_eq!(user_count(&env, b.id).await, 1);
    // B's invitation is still pending and still only B's.
    let body = env.gql(None, PREVIEW, json!({ "t": b_token })).await;
    assert_eq!(body["data"]["invitation"]["tenantSlug"], "beta", "{body}");
}

#[tokio::test]
async fn an_invitee_whose_role_requires_mfa_enrolls_before_getting_a_session() {
    let env = Env::start().await;
    let a = env.tenant("alpha").await;
    let owner = env.token(a.id, a.owner, &[Role::Owner]);
    let set = "mutation($r: [Role!]!) { setMfaRequiredRoles(roles: $r) { mfaRequiredRoles } }";
    let body = env.gql(Some(&owner), set, json!({ "r": ["ADMIN"] })).await;
    assert!(body["errors"].is_null(), "{body}");
    invite(&env, &owner, "boss@alpha.test", json!(["ADMIN"])).await;
    let token = env
        .token_mailed(a.id, "invitation", "boss@alpha.test")
        .await;
    let body = accept(&env, &token, PASSWORD).await;
    let result = &body["data"]["acceptInvitation"];
    assert_eq!(result["__typename"], "MfaChallenge", "{body}");
    assert_eq!(result["enrollmentRequired"], true);
    assert!(
        result["otpauthUri"]
            .as_str()
            .is_some_and(|u| u.starts_with("otpauth://totp/"))
    );
    // The account exists; the invitation is spent.
    assert_eq!(user_count(&env, a.id).await, 2);
    let body = accept(&env, &token, PASSWORD).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
}
