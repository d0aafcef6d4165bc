//! No secret leaves identity after it is issued: every security flow runs with all logs captured
//! (debug level, every crate), then the logs and later API responses are searched for each
//! password, hash, refresh token, client secret, TOTP seed, recovery code, invitation token and
//! emailed link token; the outbox holds those links only sealed.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{Env, PASSWORD};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;
use tenancy::Role;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut out) = self.0.lock() {
            out.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_never_reach_logs_or_responses() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .init();

    let env = Env::start().await;
    let signup_password = "a very private passphrase 9";
    let body = env
        .gql(
            None,
            "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken refreshToken } }",
            json!({ "i": { "tenantName": "Acme", "slug": "acme", "ownerName": "Ada",
                           "email": "ada@acme.test", "password": signup_password } }),
        )
        .await;
    let access = body["data"]["signUp"]["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let refresh = body["data"]["signUp"]["refreshToken"]
        .as_str()
        .expect("rt")
        .to_owned();
    let rotated = env
        .gql(None, common::REFRESH, json!({ "t": refresh }))
        .await;
    let refresh2 = rotated["data"]["refreshSession"]["refreshToken"]
        .as_str()
        .expect("rt")
        .to_owned();
    env.sign_in("acme", "ada@acme.test", "a wrong passphrase")
        .await;

    let client = env
        .gql(
            Some(&access),
            "mutation { createApiClient(name: \"sync\", scopes: [\"crm:read\"]) { clientSecret client { clientId } } }",
            json!({}),
        )
        .await;
    let secret = client["data"]["createApiClient"]["clientSecret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let client_id = client["data"]["createApiClient"]["client"]["clientId"]
        .as_str()
        .expect("id")
        .to_owned();
    let grant = kit::server::http_client()
        .post(env.server.at("/oauth/token"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(grant.status().as_u16(), 200);

    let enroll = env
        .gql(
            Some(&access),
            "mutation { enrollTotp { otpauthUri } }",
            json!({}),
        )
        .await;
    let uri = enroll["data"]["enrollTotp"]["otpauthUri"]
        .as_str()
        .expect("uri")
        .to_owned();
    let totp = totp_rs::TOTP::from_url(&uri).expect("uri");
    let seed = totp.get_secret_base32();
    let codes = env
        .gql(
            Some(&access),
            "mutation($c: String!) { confirmTotp(code: $c) }",
            json!({ "c": totp.generate_current().expect("code") }),
        )
        .await;
    let recovery = codes["data"]["confirmTotp"][0]
        .as_str()
        .expect("code")
        .to_owned();

    // Emailed tokens: an invitation (accepted with a password), the sign-up verification link
    // and a password reset.
    let acme = identity::service::tenants::resolve(&env.identity.db, "acme", "aula.localhost")
        .await
        .expect("resolve")
        .expect("acme");
    let invited = env
        .gql(
            Some(&access),
            "mutation { inviteUser(input: { email: \"ina@acme.test\", roles: [SALES] }) { id } }",
            json!({}),
        )
        .await;
    assert!(invited["errors"].is_null(), "{invited}");
    let invitation = env.token_mailed(acme, "invitation", "ina@acme.test").await;
    let invitee_password = "an invitee passphrase 7";
    let accepted = env
        .gql(
            None,
            "mutation($i: AcceptInvitationInput!) { acceptInvitation(input: $i) { __typename } }",
            json!({ "i": { "token": invitation, "displayName": "Ina", "password": invitee_password } }),
        )
        .await;
    assert_eq!(
        accepted["data"]["acceptInvitation"]["__typename"], "Session",
        "{accepted}"
    );
    let verification = env
        .token_mailed(acme, "verify_email", "ada@acme.test")
        .await;
    env.gql(
        None,
        "mutation { requestPasswordReset(tenant: \"acme\", email: \"ina@acme.test\") }",
        json!({}),
    )
    .await;
    let reset = env
        .token_mailed(acme, "reset_password", "ina@acme.test")
        .await;
    let reset_password = "a reset passphrase 8";
    let done = env
        .gql(
            None,
            "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }",
            json!({ "t": reset, "p": reset_password }),
        )
        .await;
    assert_eq!(done["data"]["resetPassword"], true, "{done}");

    // What is stored: the password hash, digests and sealed values.
    let tenant = env.tenant("probe").await;
    let admin = env.db.admin().await;
    let hash = admin
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT hash FROM identity.passwords p JOIN identity.users u
               ON u.tenant_id = p.tenant_id AND u.id = p.user_id WHERE u.email = 'ada@acme.test'",
        ))
        .await
        .expect("query")
        .expect("row")
        .try_get::<String>("", "hash")
        .expect("hash");
    assert!(hash.starts_with("$argon2id$"));
    let stored = admin
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT (SELECT count(*) FROM identity.refresh_tokens) AS rt,
                    (SELECT bool_and(position(convert_to('aula_', 'UTF8') in digest) = 0) FROM identity.refresh_tokens) AS digests_only",
        ))
        .await
        .expect("query")
        .expect("row");
    assert!(stored.try_get::<i64>("", "rt").expect("rt") >= 2);
    assert!(stored.try_get::<bool>("", "digests_only").expect("bool"));
    let outbox = admin
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n, string_agg(payload::text, ' ') AS all FROM identity.outbox",
        ))
        .await
        .expect("query")
        .expect("row");
    assert!(outbox.try_get::<i64>("", "n").expect("n") >= 3);
    let outbox = outbox.try_get::<String>("", "all").expect("payloads");

    // Later reads of everything a client can see.
    let owner = env.token(tenant.id, tenant.owner, &[Role::Owner]);
    let mut seen = String::new();
    for (token, query) in [
        (
            &access,
            "{ viewer { id email roles displayName } tenant { id name slug branding status mfaRequiredRoles } }",
        ),
        (
            &access,
            "{ apiClients { edges { node { clientId name scopes lastUsedAt } } } }",
        ),
        (
            &access,
            "{ auditLog(last: 100) { edges { node { action actorId subject ip detail } } } }",
        ),
        (&owner, "{ users { edges { node { id email } } } }"),
        (
            &access,
            "{ invitations { edges { node { id email status invitedBy } } } }",
        ),
    ] {
        seen.push_str(&env.gql(Some(token), query, json!({})).await.to_string());
    }
    let export = kit::server::http_client()
        .get(env.server.at("/audit/export"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("text");
    seen.push_str(&export);

    let logs = String::from_utf8(captured.0.lock().expect("logs").clone()).expect("utf-8");
    assert!(
        logs.contains("sign_in.password"),
        "logs were captured: {} bytes",
        logs.len()
    );
    for (what, value) in [
        ("sign-up password", signup_password),
        ("seeded password", PASSWORD),
        ("wrong password", "a wrong passphrase"),
        ("password hash", hash.as_str()),
        ("refresh token", refresh.as_str()),
        ("rotated refresh token", refresh2.as_str()),
        ("client secret", secret.as_str()),
        ("TOTP seed", seed.as_str()),
        ("recovery code", recovery.as_str()),
        ("invitation token", invitation.as_str()),
        ("invitee password", invitee_password),
        ("verification token", verification.as_str()),
        ("reset token", reset.as_str()),
        ("reset password", reset_password),
    ] {
        assert!(!logs.contains(value), "the {what} is in the logs");
        assert!(!seen.contains(value), "the {what} is in an API response");
        assert!(
            !outbox.contains(value),
            "the {what} is in the outbox in clear"
        );
    }
}
