//! Emailed links: email verification and password reset. Tokens travel only in the outbox's
//! sealed link, work once, expire, are retired by newer ones, reveal nobody, and never act in
//! another tenant or for another purpose.

mod common;

use common::{Env, PASSWORD, REFRESH, code, retarget};
use serde_json::{Value, json};
use tenancy::Role;

const REQUEST_RESET: &str = "mutation($t: String!, $e: String!) {
  requestPasswordReset(tenant: $t, email: $e)
}";
const RESET: &str =
    "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }";
const VERIFY: &str = "mutation($t: String!) { verifyEmail(token: $t) { id email emailVerified } }";
const REQUEST_VERIFY: &str = "mutation { requestEmailVerification }";
const NEW_PASSWORD: &str = "a brand new passphrase";

async fn request_reset(env: &Env, tenant: &str, email: &str) -> Value {
    env.gql(None, REQUEST_RESET, json!({ "t": tenant, "e": email }))
        .await
}

async fn reset(env: &Env, token: &str, password: &str) -> Value {
    env.gql(None, RESET, json!({ "t": token, "p": password }))
        .await
}

async fn verified(env: &Env, token: &str) -> Value {
    let body = env
        .gql(Some(token), "{ viewer { emailVerified } }", json!({}))
        .await;
    body["data"]["viewer"]["emailVerified"].clone()
}

async fn expire_links(env: &Env) {
    use sea_orm::ConnectionTrait;
    env.db
        .admin()
        .await
        .execute_unprepared(
            "UPDATE identity.single_use_tokens SET expires_at = now() - interval '1 second'",
        )
        .await
        .expect("expire");
}

fn session(body: &Value) -> &Value {
    &body["data"]["signIn"]
}

#[tokio::test]
async fn sign_up_sends_a_verification_link_that_works_once() {
    let env = Env::start().await;
    let body = env
        .gql(
            None,
            "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken user { id emailVerified } } }",
            json!({ "i": {
                "tenantName": "Gamma School", "slug": "gamma", "ownerName": "Gia",
                "email": "gia@gamma.test", "password": PASSWORD,
            } }),
        )
        .await;
    let signed_up = &body["data"]["signUp"];
    assert_eq!(signed_up["user"]["emailVerified"], false, "{body}");
    let access = signed_up["accessToken"].as_str().expect("token").to_owned();
    let tenant = identity::service::tenants::resolve(&env.identity.db, "gamma", "aula.localhost")
        .await
        .expect("resolve")
        .expect("tenant");
    let mails = env.emails(tenant, "verify_email").await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, "gia@gamma.test");
    assert_eq!(mails[0].vars["tenantName"], "Gamma School");
    assert!(mails[0].link.contains("/verify-email?token=aula_emv_"));
    assert!(!mails[0].payload.to_string().contains(&mails[0].token));

    let body = env.gql(None, VERIFY, json!({ "t": mails[0].token })).await;
    assert_eq!(body["data"]["verifyEmail"]["emailVerified"], true, "{body}");
    assert_eq!(body["data"]["verifyEmail"]["email"], "gia@gamma.test");
    assert_eq!(verified(&env, &access).await, true);
    let again = env.gql(None, VERIFY, json!({ "t": mails[0].token })).await;
    assert_eq!(code(&again), "UNAUTHENTICATED", "{again}");
    // Nothing more to verify: nothing is sent.
    let body = env.gql(Some(&access), REQUEST_VERIFY, json!({})).await;
    assert_eq!(body["data"]["requestEmailVerification"], false, "{body}");
    assert_eq!(env.emails(tenant, "verify_email").await.len(), 1);
}

#[tokio::test]
async fn a_newer_verification_link_retires_the_older_and_links_expire() {
    let env = Env::start().await;
    let a = env.tenant("alpha").await;
    let id = env.user(&a, "stu@alpha.test", &[Role::Student]).await;
    let me = env.token(a.id, id, &[Role::Student]);
    assert_eq!(verified(&env, &me).await, false);
    let body = env.gql(None, REQUEST_VERIFY, json!({})).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");

    for _ in 0..2 {
        let body = env.gql(Some(&me), REQUEST_VERIFY, json!({})).await;
        assert_eq!(body["data"]["requestEmailVerification"], true, "{body}");
    }
    let mails = env.emails(a.id, "verify_email").await;
    let mails: Vec<_> = mails.iter().filter(|m| m.to == "stu@alpha.test").collect();
    assert_eq!(mails.len(), 2);
    let body = env.gql(None, VERIFY, json!({ "t": mails[0].token })).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    assert_eq!(verified(&env, &me).await, false);

    expire_links(&env).await;
    let body = env.gql(None, VERIFY, json!({ "t": mails[1].token })).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    assert_eq!(verified(&env, &me).await, false);

    env.gql(Some(&me), REQUEST_VERIFY, json!({})).await;
    let token = env
        .token_mailed(a.id, "verify_email", "stu@alpha.test")
        .await;
    let body = env.gql(None, VERIFY, json!({ "t": token })).await;
    assert_eq!(body["data"]["verifyEmail"]["emailVerified"], true, "{body}");
    assert_eq!(verified(&env, &me).await, true);
}

#[tokio::test]
async fn a_password_reset_link_sets_a_new_password_once_and_ends_every_session() {
    let env = Env::start().await;
    let a = env.tenant("alpha").await;
    let id = env.user(&a, "stu@alpha.test", &[Role::Student]).await;
    let first = env.sign_in("alpha", "stu@alpha.test", PASSWORD).await;
    let refresh = session(&first)["refreshToken"]
        .as_str()
        .expect("refresh")
        .to_owned();

    // The answer is the same for a known address, an unknown one and an unknown academy.
    for (tenant, email) in [
        ("alpha", "STU@alpha.test"),
        ("alpha", "nobody@alpha.test"),
        ("no-such-academy", "stu@alpha.test"),
    ] {
        let body = request_reset(&env, tenant, email).await;
        assert_eq!(body, json!({ "data": { "requestPasswordReset": true } }));
    }
    let mails = env.emails(a.id, "reset_password").await;
    assert_eq!(mails.len(), 1, "only the real user gets an email");
    assert_eq!(mails[0].to, "stu@alpha.test");
    assert!(mails[0].link.contains("/reset-password?token=aula_pwr_"));
    let token = mails[0].token.clone();

    // A password the policy refuses does not spend the link.
    let body = reset(&env, &token, "password123").await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let body = reset(&env, &token, NEW_PASSWORD).await;
    assert_eq!(body["data"]["resetPassword"], true, "{body}");
    let body = reset(&env, &token, "yet another passphrase").await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");

    // The old password and the old session are dead; the new password works.
    let old = env.sign_in("alpha", "stu@alpha.test", PASSWORD).await;
    assert_eq!(code(&old), "UNAUTHENTICATED", "{old}");
    let body = env.gql(None, REFRESH, json!({ "t": refresh })).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    let new = env.sign_in("alpha", "stu@alpha.test", NEW_PASSWORD).await;
    assert_eq!(session(&new)["__typename"], "Session", "{new}");
    // The link reached the mailbox, so the address is verified.
    assert_eq!(
        verified(&env, &env.token(a.id, id, &[Role::Student])).await,
        true
    );

    let owner = env.token(a.id, a.owner, &[Role::Owner]);
    let log = env
        .gql(
            Some(&owner),
            "{ auditLog(filter: { action: \"password\" }, first: 10) { edges { node { action subject detail } } } }",
            json!({}),
        )
        .await;
    let edges = log["data"]["auditLog"]["edges"].as_array().expect("edges");
    let actions: Vec<&str> = edges
        .iter()
        .filter_map(|e| e["node"]["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        ["password.reset_request", "password.reset"],
        "{log}"
    );
    assert_eq!(edges[1]["node"]["detail"]["sessionsEnded"], 1);

    // An expired link is refused.
    request_reset(&env, "alpha", "stu@alpha.test").await;
    let late = env
        .token_mailed(a.id, "reset_password", "stu@alpha.test")
        .await;
    expire_links(&env).await;
    let body = reset(&env, &late, "a later passphrase").await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
}

#[tokio::test]
async fn a_reset_lifts_the_lock_out_and_requests_are_capped_per_address() {
    let env = Env::start().await;
    let a = env.tenant("alpha").await;
    env.user(&a, "stu@alpha.test", &[Role::Student]).await;
    for _ in 0..5 {
        env.sign_in("alpha", "stu@alpha.test", "wrong password!!")
            .await;
    }
    let locked = env.sign_in("alpha", "stu@alpha.test", PASSWORD).await;
    assert_eq!(code(&locked), "RATE_LIMITED", "{locked}");

    request_reset(&env, "alpha", "stu@alpha.test").await;
    let token = env
        .token_mailed(a.id, "reset_password", "stu@alpha.test")
        .await;
    let body = reset(&env, &token, NEW_PASSWORD).await;
    assert_eq!(body["data"]["resetPassword"], true, "{body}");
    let new = env.sign_in("alpha", "stu@alpha.test", NEW_PASSWORD).await;
    assert_eq!(session(&new)["__typename"], "Session", "{new}");

    // Reset requests count per address: the sixth within the window waits.
    let mut last = Value::Null;
    for _ in 0..5 {
        last = request_reset(&env, "alpha", "stu@alpha.test").await;
    }
    assert_eq!(code(&last), "RATE_LIMITED", "{last}");
    assert!(
        last["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .is_some_and(|s| s > 0)
    );
    let mails = env.emails(a.id, "reset_password").await;
    assert_eq!(mails.len(), 5, "requests past the cap send nothing");
}

#[tokio::test]
async fn links_never_act_in_another_tenant_or_for_another_purpose() {
    let env = Env::start().await;
    let a = env.tenant("alpha").await;
    let b = env.tenant("beta").await;
    let a_user = env.user(&a, "same@x.test", &[Role::Student]).await;
    let b_user = env.user(&b, "same@x.test", &[Role::Student]).await;

    // A reset requested in B mails B's user only.
    request_reset(&env, "beta", "same@x.test").await;
    assert!(env.emails(a.id, "reset_password").await.is_empty());
    let b_reset = env
        .token_mailed(b.id, "reset_password", "same@x.test")
        .await;

    // B's reset token rewritten to name A changes nothing in A.
    let body = reset(&env, &retarget(&b_reset, a.id), NEW_PASSWORD).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    let a_signed = env.sign_in("alpha", "same@x.test", PASSWORD).await;
    assert_eq!(session(&a_signed)["__typename"], "Session", "{a_signed}");

    // A reset token presented as a verification token (or the reverse) is refused.
    let as_verify = b_reset.replacen("aula_pwr_", "aula_emv_", 1);
    let body = env.gql(None, VERIFY, json!({ "t": as_verify })).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    let b_me = env.token(b.id, b_user, &[Role::Student]);
    env.gql(Some(&b_me), REQUEST_VERIFY, json!({})).await;
    let b_verify = env.token_mailed(b.id, "verify_email", "same@x.test").await;
    let as_reset = b_verify.replacen("aula_emv_", "aula_pwr_", 1);
    let body = reset(&env, &as_reset, NEW_PASSWORD).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");

    // B's verification token rewritten to name A verifies nobody in A.
    let body = env
        .gql(None, VERIFY, json!({ "t": retarget(&b_verify, a.id) }))
        .await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    let a_me = env.token(a.id, a_user, &[Role::Student]);
    assert_eq!(verified(&env, &a_me).await, false);

    // B's own tokens still work in B, and only there.
    let body = env.gql(None, VERIFY, json!({ "t": b_verify })).await;
    assert_eq!(
        body["data"]["verifyEmail"]["id"],
        b_user.to_string(),
        "{body}"
    );
    assert_eq!(verified(&env, &a_me).await, false);
    let body = reset(&env, &b_reset, NEW_PASSWORD).await;
    assert_eq!(body["data"]["resetPassword"], true, "{body}");
    let a_signed = env.sign_in("alpha", "same@x.test", PASSWORD).await;
    assert_eq!(session(&a_signed)["__typename"], "Session", "{a_signed}");
    let b_signed = env.sign_in("beta", "same@x.test", NEW_PASSWORD).await;
    assert_eq!(session(&b_signed)["__typename"], "Session", "{b_signed}");
}
