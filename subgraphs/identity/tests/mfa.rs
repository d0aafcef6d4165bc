//! TOTP multi-factor authentication over real HTTP: enrollment, the second sign-in step,
//! replayed codes, single-use recovery codes and challenges, and the per-tenant rule that some
//! roles must enroll before they can sign in.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Env, PASSWORD, code};
use serde_json::{Value, json};
use tenancy::Role;
use totp_rs::TOTP;

const VERIFY: &str = "mutation($c: String!, $code: String!) {
  verifyMfa(challenge: $c, code: $code) { accessToken refreshToken recoveryCodes user { email } }
}";

fn now() -> u64 {
    chrono::Utc::now().timestamp() as u64
}

fn app(uri: &str) -> TOTP {
    TOTP::from_url(uri).expect("an otpauth URI an authenticator app accepts")
}

fn amr(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json");
    claims["amr"].clone()
}

async fn challenge(env: &Env, email: &str) -> Value {
    let body = env.sign_in("alpha", email, PASSWORD).await;
    let c = body["data"]["signIn"].clone();
    assert_eq!(c["__typename"], "MfaChallenge", "{body}");
    c
}

#[tokio::test]
async fn enrolled_users_need_a_code_or_a_recovery_code_and_nothing_is_accepted_twice() {
    let env = Env::start().await;
    let t = env.tenant("alpha").await;
    let owner = env.token(t.id, t.owner, &[Role::Owner]);

    let body = env
        .gql(
            Some(&owner),
            "mutation { enrollTotp { otpauthUri qrSvg } }",
            json!({}),
        )
        .await;
    let uri = body["data"]["enrollTotp"]["otpauthUri"]
        .as_str()
        .expect("uri")
        .to_owned();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(
        body["data"]["enrollTotp"]["qrSvg"]
            .as_str()
            .is_some_and(|s| s.contains("<svg"))
    );
    let totp = app(&uri);

    // Until confirmed, sign-in needs no second factor.
    let plain = env.sign_in("alpha", &t.owner_email, PASSWORD).await;
    assert_eq!(plain["data"]["signIn"]["__typename"], "Session", "{plain}");

    let confirm = "mutation($code: String!) { confirmTotp(code: $code) }";
    let wrong = env
        .gql(Some(&owner), confirm, json!({ "code": "000000" }))
        .await;
    assert_eq!(code(&wrong), "BAD_USER_INPUT", "{wrong}");
    let confirmed = env
        .gql(
            Some(&owner),
            confirm,
            json!({ "code": totp.generate(now()) }),
        )
        .await;
    let recovery: Vec<String> = confirmed["data"]["confirmTotp"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    assert_eq!(recovery.len(), 10, "{confirmed}");
    let again = env
        .gql(
            Some(&owner),
            "mutation { enrollTotp { otpauthUri } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&again), "CONFLICT");

    // Password alone now yields a challenge, never a session.
    let c = challenge(&env, &t.owner_email).await;
    assert_eq!(c["enrollmentRequired"], false);
    assert!(c["otpauthUri"].is_null(), "the seed is never shown again");
    let ch = c["challenge"].as_str().expect("challenge").to_owned();
    // The challenge rewritten to name another tenant is worthless there.
    let other = env.tenant("beta").await;
    let forged = common::retarget(&ch, other.id);
    let body = env
        .gql(
            None,
            VERIFY,
            json!({ "c": forged, "code": totp.generate(now() + 30) }),
        )
        .await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    let body = env
        .gql(None, VERIFY, json!({ "c": ch, "code": "123456" }))
        .await;
    assert_eq!(code(&body), "UNAUTHENTICATED");
    let next = totp.generate(now() + 30);
    let body = env
        .gql(None, VERIFY, json!({ "c": ch, "code": next }))
        .await;
    let session = &body["data"]["verifyMfa"];
    assert_eq!(session["user"]["email"], t.owner_email.as_str(), "{body}");
    assert!(session["recoveryCodes"].is_null());
    assert_eq!(
        amr(session["accessToken"].as_str().expect("token")),
        json!(["pwd", "otp", "mfa"])
    );
    // The challenge is spent.
    let body = env
        .gql(None, VERIFY, json!({ "c": ch, "code": next }))
        .await;
    assert_eq!(code(&body), "UNAUTHENTICATED");

    // The same code cannot be replayed on a fresh challenge.
    let ch2 = challenge(&env, &t.owner_email).await["challenge"]
        .as_str()
        .expect("c")
        .to_owned();
    let body = env
        .gql(None, VERIFY, json!({ "c": ch2, "code": next }))
        .await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "replayed code: {body}");
    // A recovery code works once.
    let body = env
        .gql(None, VERIFY, json!({ "c": ch2, "code": recovery[0] }))
        .await;
    let token = body["data"]["verifyMfa"]["accessToken"]
        .as_str()
        .expect("session")
        .to_owned();
    assert_eq!(amr(&token), json!(["pwd", "mfa"]));
    let ch3 = challenge(&env, &t.owner_email).await["challenge"]
        .as_str()
        .expect("c")
        .to_owned();
    let body = env
        .gql(None, VERIFY, json!({ "c": ch3, "code": recovery[0] }))
        .await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "spent recovery code");

    // Five wrong codes burn a challenge.
    for _ in 0..5 {
        env.gql(None, VERIFY, json!({ "c": ch3, "code": "999999" }))
            .await;
    }
    let body = env
        .gql(None, VERIFY, json!({ "c": ch3, "code": recovery[1] }))
        .await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "burnt challenge");

    let audit = env
        .gql(
            Some(&owner),
            "{ auditLog(filter: { action: \"mfa.enroll\" }) { edges { node { action } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        audit["data"]["auditLog"]["edges"].as_array().map(Vec::len),
        Some(1)
    );
    let failures = env
        .gql(
            Some(&owner),
            "{ auditLog(filter: { action: \"sign_in.mfa\", success: false }, first: 50) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert!(
        failures["data"]["auditLog"]["edges"]
            .as_array()
            .is_some_and(|e| e.len() >= 3),
        "{failures}"
    );

    // Turning MFA off needs a valid code.
    let disable = "mutation($code: String!) { disableMfa(code: $code) }";
    let body = env
        .gql(Some(&owner), disable, json!({ "code": "111111" }))
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
    let body = env
        .gql(Some(&owner), disable, json!({ "code": recovery[2] }))
        .await;
    assert_eq!(body["data"]["disableMfa"], true, "{body}");
    let plain = env.sign_in("alpha", &t.owner_email, PASSWORD).await;
    assert_eq!(plain["data"]["signIn"]["__typename"], "Session");
}

#[tokio::test]
async fn roles_that_require_mfa_enroll_during_sign_in() {
    let env = Env::start().await;
    let t = env.tenant("alpha").await;
    let owner = env.token(t.id, t.owner, &[Role::Owner]);
    let teacher = env.user(&t, "ines@alpha.test", &[Role::Instructor]).await;
    let student = env.user(&t, "stu@alpha.test", &[Role::Student]).await;

    let set = "mutation($r: [Role!]!) { setMfaRequiredRoles(roles: $r) { mfaRequiredRoles } }";
    let body = env
        .gql(
            Some(&env.token(t.id, student, &[Role::Student])),
            set,
            json!({ "r": ["STUDENT"] }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN");
    let body = env
        .gql(Some(&owner), set, json!({ "r": ["INSTRUCTOR"] }))
        .await;
    assert_eq!(
        body["data"]["setMfaRequiredRoles"]["mfaRequiredRoles"],
        json!(["INSTRUCTOR"])
    );

    // The student is not affected; the instructor must enroll before getting a session.
    let s = env.sign_in("alpha", "stu@alpha.test", PASSWORD).await;
    assert_eq!(s["data"]["signIn"]["__typename"], "Session");
    let c = challenge(&env, "ines@alpha.test").await;
    assert_eq!(c["enrollmentRequired"], true);
    let totp = app(c["otpauthUri"].as_str().expect("enrollment uri"));
    assert!(c["qrSvg"].as_str().is_some_and(|s| s.contains("<svg")));
    let ch = c["challenge"].as_str().expect("c");
    let body = env
        .gql(
            None,
            VERIFY,
            json!({ "c": ch, "code": totp.generate(now()) }),
        )
        .await;
    let session = &body["data"]["verifyMfa"];
    assert_eq!(
        session["recoveryCodes"].as_array().map(Vec::len),
        Some(10),
        "{body}"
    );
    let token = session["accessToken"].as_str().expect("token");
    // Required MFA cannot be switched off by its holder.
    let body = env
        .gql(
            Some(token),
            "mutation($code: String!) { disableMfa(code: $code) }",
            json!({ "code": totp.generate(now() + 30) }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    // From now on the instructor is challenged without enrollment.
    let c = challenge(&env, "ines@alpha.test").await;
    assert_eq!(c["enrollmentRequired"], false);
    let _ = teacher;
}
