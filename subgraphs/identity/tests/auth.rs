//! Sign-up, password sign-in, sessions and partner credentials over real HTTP, with the attacks
//! that must fail: forged, unsigned, expired and misdirected tokens, brute force, refresh-token
//! reuse, revoked clients and credentials from another tenant.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Env, PASSWORD, REFRESH, SIGN_IN, code};
use serde_json::{Value, json};
use tenancy::Role;

const VIEWER: &str = "{ viewer { id email } tenant { slug } }";

fn session(body: &Value) -> &Value {
    &body["data"]["signIn"]
}

async fn audit_actions(env: &Env, token: &str, filter: Value) -> Vec<(String, bool)> {
    let body = env
        .gql(
            Some(token),
            "query($f: AuditFilter) { auditLog(filter: $f, last: 100) { edges { node { action success } } } }",
            json!({ "f": filter }),
        )
        .await;
    body["data"]["auditLog"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("audit log: {body}"))
        .iter()
        .map(|e| {
            (
                e["node"]["action"].as_str().unwrap_or_default().to_owned(),
                e["node"]["success"].as_bool().unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn sign_up_creates_a_tenant_and_signs_its_owner_in() {
    let env = Env::start().await;
    let body = env
        .gql(
            None,
            "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken tokenType expiresIn refreshToken user { email roles } } }",
            json!({ "i": { "tenantName": "Acme Academy", "slug": "acme", "ownerName": "Ada",
                           "email": "ada@acme.test", "password": PASSWORD } }),
        )
        .await;
    let s = &body["data"]["signUp"];
    assert_eq!(
        s["user"],
        json!({ "email": "ada@acme.test", "roles": ["OWNER"] }),
        "{body}"
    );
    assert_eq!(s["tokenType"], "Bearer");
    assert!(s["expiresIn"].as_u64().is_some_and(|t| t <= 900));
    assert!(
        s["refreshToken"]
            .as_str()
            .is_some_and(|t| t.starts_with("aula_rt_"))
    );
    let token = s["accessToken"].as_str().expect("token");
    let me = env.gql(Some(token), VIEWER, json!({})).await;
    assert_eq!(me["data"]["tenant"]["slug"], "acme", "{me}");

    // The password policy, and the slug, are enforced; nothing is half-created.
    for (input, field) in [
        (json!({ "slug": "weak", "password": "short" }), "password"),
        (json!({ "slug": "acme", "password": PASSWORD }), "slug"),
    ] {
        let mut i = json!({ "tenantName": "X", "ownerName": "X", "email": "x@x.test" });
        i["slug"] = input["slug"].clone();
        i["password"] = input["password"].clone();
        let body = env
            .gql(
                None,
                "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }",
                json!({ "i": i }),
            )
            .await;
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    let weak = env.sign_in("weak", "x@x.test", "short").await;
    assert_eq!(
        code(&weak),
        "UNAUTHENTICATED",
        "no tenant was created: {weak}"
    );

    // The claims carry the tenant, roles and how the user authenticated.
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).expect("payload"))
            .expect("base64"),
    )
    .expect("json");
    assert_eq!(claims["roles"], json!(["owner"]));
    assert_eq!(claims["amr"], json!(["pwd"]));
    for claim in ["iss", "sub", "aud", "exp", "iat", "jti", "tid"] {
        assert!(!claims[claim].is_null(), "{claim} in {claims}");
    }
}

#[tokio::test]
async fn password_sign_in_refreshes_rotate_and_reuse_revokes_the_family() {
    let env = Env::start().await;
    let t = env.tenant("alpha").await;
    let first = env.sign_in("alpha", "OWNER@alpha.test", PASSWORD).await;
    assert_eq!(session(&first)["__typename"], "Session", "{first}");
    let rt1 = session(&first)["refreshToken"]
        .as_str()
        .expect("rt")
        .to_owned();
    // Tenant B's owner rewrites their own refresh token to name tenant A: it finds nothing there.
    let b = env.tenant("beta").await;
    let b_session = env.sign_in("beta", &b.owner_email, PASSWORD).await;
    let b_rt = session(&b_session)["refreshToken"].as_str().expect("rt");
    let forged = env
        .gql(None, REFRESH, json!({ "t": common::retarget(b_rt, t.id) }))
        .await;
    assert_eq!(code(&forged), "UNAUTHENTICATED", "{forged}");
    // A second, independent session (another device).
    let other = env
        .sign_in("alpha.aula.localhost", &t.owner_email, PASSWORD)
        .await;
    let other_rt = session(&other)["refreshToken"]
        .as_str()
        .expect("rt")
        .to_owned();

    let second = env.gql(None, REFRESH, json!({ "t": rt1 })).await;
    let rt2 = second["data"]["refreshSession"]["refreshToken"]
        .as_str()
        .expect("rotated")
        .to_owned();
    assert_ne!(rt1, rt2);
    let access = second["data"]["refreshSession"]["accessToken"]
        .as_str()
        .expect("access");
    assert_eq!(
        env.gql(Some(access), VIEWER, json!({})).await["data"]["viewer"]["email"],
        t.owner_email
    );

    // Presenting rt1 again is reuse: refused, and the whole family is revoked (rt2 too).
    let reused = env.gql(None, REFRESH, json!({ "t": rt1 })).await;
    assert_eq!(code(&reused), "UNAUTHENTICATED", "{reused}");
    let after = env.gql(None, REFRESH, json!({ "t": rt2 })).await;
    assert_eq!(code(&after), "UNAUTHENTICATED", "family revoked: {after}");
    // The other device's session is a different family and survives.
    let survives = env.gql(None, REFRESH, json!({ "t": other_rt })).await;
    assert!(survives["errors"].is_null(), "{survives}");

    // Garbage and tokens of another kind are refused the same way.
    for bogus in [
        "",
        "aula_rt_AAAA",
        "aula_inv_whatever",
        &rt2.replace("aula_rt_", "aula_sk_"),
    ] {
        let body = env.gql(None, REFRESH, json!({ "t": bogus })).await;
        assert_eq!(code(&body), "UNAUTHENTICATED", "{bogus}: {body}");
    }

    let owner = env.token(t.id, t.owner, &[Role::Owner]);
    let actions = audit_actions(&env, &owner, json!(null)).await;
    assert!(
        actions.contains(&("sign_in.password".into(), true)),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("session.refresh_reuse".into(), false)),
        "{actions:?}"
    );
}

#[tokio::test]
async fn sign_out_ends_one_session_and_sign_out_everywhere_ends_all() {
    let env = Env::start().await;
    let t = env.tenant("alpha").await;
    let mut rts = Vec::new();
    for _ in 0..3 {
        let s = env.sign_in("alpha", &t.owner_email, PASSWORD).await;
        rts.push(session(&s)["refreshToken"].as_str().expect("rt").to_owned());
    }
    let out = env
        .gql(
            None,
            "mutation($t: String!) { signOut(refreshToken: $t) }",
            json!({ "t": rts[0] }),
        )
        .await;
    assert_eq!(out["data"]["signOut"], true);
    assert_eq!(
        code(&env.gql(None, REFRESH, json!({ "t": rts[0] })).await),
        "UNAUTHENTICATED"
    );
    // Signing out twice, or with garbage, is harmless.
    let again = env
        .gql(
            None,
            "mutation($t: String!) { signOut(refreshToken: $t) }",
            json!({ "t": "nonsense" }),
        )
        .await;
    assert_eq!(again["data"]["signOut"], true);

    let refreshed = env.gql(None, REFRESH, json!({ "t": rts[1] })).await;
    let access = refreshed["data"]["refreshSession"]["accessToken"]
        .as_str()
        .expect("access");
    let live = refreshed["data"]["refreshSession"]["refreshToken"]
        .as_str()
        .expect("rt");
    let everywhere = env
        .gql(Some(access), "mutation { signOutEverywhere }", json!({}))
        .await;
    assert_eq!(
        everywhere["data"]["signOutEverywhere"], 2,
        "two live sessions: {everywhere}"
    );
    for rt in [live, rts[2].as_str()] {
        assert_eq!(
            code(&env.gql(None, REFRESH, json!({ "t": rt })).await),
            "UNAUTHENTICATED"
        );
    }
    let anonymous = env
        .gql(None, "mutation { signOutEverywhere }", json!({}))
        .await;
    assert_eq!(code(&anonymous), "UNAUTHENTICATED");
}

#[tokio::test]
async fn unknown_email_and_wrong_password_fail_alike_and_back_off() {
    let env = Env::start().await;
    let t = env.tenant("alpha").await;
    let wrong = env
        .sign_in("alpha", &t.owner_email, "wrong password!")
        .await;
    let unknown = env
        .sign_in("alpha", "nobody@alpha.test", "wrong password!")
        .await;
    let no_tenant = env
        .sign_in("no-such-academy", &t.owner_email, PASSWORD)
        .await;
    for body in [&wrong, &unknown, &no_tenant] {
        assert_eq!(code(body), "UNAUTHENTICATED", "{body}");
        assert_eq!(body["errors"][0]["message"], wrong["errors"][0]["message"]);
        assert!(body["data"].is_null() || body["data"]["signIn"].is_null());
    }
    // Four more failures use up the allowance of five; the next attempt is locked out, even
    // with the right password.
    for _ in 0..4 {
        let body = env
            .sign_in("alpha", &t.owner_email, "wrong password!")
            .await;
        assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    }
    let locked = env.sign_in("alpha", &t.owner_email, PASSWORD).await;
    assert_eq!(code(&locked), "RATE_LIMITED", "{locked}");
    assert!(
        locked["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .is_some_and(|s| s >= 1)
    );
    // Unknown accounts are locked out the same way, so a lock-out reveals nothing.
    for _ in 0..5 {
        env.sign_in("alpha", "nobody@alpha.test", "x").await;
    }
    assert_eq!(
        code(&env.sign_in("alpha", "nobody@alpha.test", "x").await),
        "RATE_LIMITED"
    );
    // Other accounts are unaffected.
    let other = env.user(&t, "ines@alpha.test", &[Role::Instructor]).await;
    let fine = env.sign_in("alpha", "ines@alpha.test", PASSWORD).await;
    assert_eq!(session(&fine)["user"]["id"], other.to_string(), "{fine}");

    let owner = env.token(t.id, t.owner, &[Role::Owner]);
    let failures = audit_actions(
        &env,
        &owner,
        json!({ "action": "sign_in", "success": false }),
    )
    .await;
    assert!(
        failures.len() >= 6,
        "every failed attempt is audited: {failures:?}"
    );
}

#[tokio::test]
async fn one_client_ip_is_throttled_across_accounts_only_behind_a_trusted_proxy() {
    let env = Env::start_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1".parse().expect("ip")];
        c.set_service("ip_failures_allowed", 3);
    })
    .await;
    let t = env.tenant("alpha").await;
    // IP throttles are global (one address attacking many tenants), and Redis outlives test
    // runs: each run takes fresh addresses from the IPv6 documentation range.
    let attacker = fresh_ip();
    let sign_in = |email: String, ip: String| {
        let url = env.server.at("/graphql");
        async move {
            kit::server::http_client()
                .post(url)
                .header("x-forwarded-for", ip)
                .json(&json!({ "query": SIGN_IN, "variables": { "input": {
                    "tenant": "alpha", "email": email, "password": "wrong password!" } } }))
                .send()
                .await
                .expect("reaches")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    for i in 0..3 {
        let body = sign_in(format!("user{i}@alpha.test"), attacker.clone()).await;
        assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    }
    let body = sign_in(t.owner_email.clone(), attacker).await;
    assert_eq!(
        code(&body),
        "RATE_LIMITED",
        "locked per IP, whatever the account: {body}"
    );
    let body = sign_in("fresh@alpha.test".into(), fresh_ip()).await;
    assert_eq!(
        code(&body),
        "UNAUTHENTICATED",
        "another IP is not locked: {body}"
    );
}

/// An address of 2001:db8::/32 no other test or earlier run has used.
fn fresh_ip() -> String {
    let r = uuid::Uuid::new_v4().as_u128();
    format!(
        "2001:db8:{:x}:{:x}::{:x}",
        (r >> 16) as u16,
        (r >> 32) as u16,
        r as u16
    )
}

#[tokio::test]
async fn forged_unsigned_expired_and_misdirected_tokens_are_refused() {
    let env = Env::start().await;
    let t = env.tenant("alpha").await;
    let good = env.token(t.id, t.owner, &[Role::Owner]);
    assert!(env.gql(Some(&good), VIEWER, json!({})).await["errors"].is_null());

    let foreign = env.foreign_keys.token(t.id, t.owner, &[Role::Owner]);
    let mut claims = env
        .foreign_keys
        .claims(t.id, &t.owner.to_string(), &[Role::Owner], "");
    // `alg: none` with the real key id and otherwise valid claims.
    let kid = env.identity.keys.current_kid();
    let header =
        URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "typ": "JWT", "kid": kid }).to_string());
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims"));
    let unsigned = format!("{header}.{payload}.");
    // The real key's signature with the payload swapped afterwards.
    let (h, _, s) = {
        let mut parts = good.split('.');
        (
            parts.next().unwrap_or_default(),
            parts.next(),
            parts.next().unwrap_or_default(),
        )
    };
    claims.roles = vec!["owner".into(), "admin".into()];
    let tampered = format!(
        "{h}.{}.{s}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims"))
    );
    let signer = env.identity.keys.signer();
    let mut expired = kit::auth::claims(
        &env.identity.auth,
        t.id,
        &t.owner.to_string(),
        &[Role::Owner],
        std::time::Duration::from_secs(60),
    );
    expired.exp -= 3600;
    expired.iat -= 3600;
    let expired = signer.sign(&expired).expect("sign");
    let mut wrong_aud = kit::auth::claims(
        &env.identity.auth,
        t.id,
        &t.owner.to_string(),
        &[Role::Owner],
        std::time::Duration::from_secs(60),
    );
    wrong_aud.aud = "another-service".into();
    let wrong_aud = signer.sign(&wrong_aud).expect("sign");

    for (name, token) in [
        ("another key", foreign),
        ("alg none", unsigned),
        ("tampered", tampered),
        ("expired", expired),
        ("wrong audience", wrong_aud),
        ("garbage", "a.b.c".into()),
    ] {
        let (status, body) = harness::gql_with(&env.server, Some(&token), VIEWER, json!({})).await;
        assert_eq!(status, 401, "{name}: {body}");
        assert_eq!(code(&body), "UNAUTHENTICATED", "{name}");
        assert_eq!(body["errors"][0]["message"], kit::auth::REFUSED, "{name}");
    }
}

#[tokio::test]
async fn the_jwks_publishes_old_and_new_keys_across_a_rotation() {
    let env = Env::start().await;
    let t = env.tenant("alpha").await;
    let http = kit::server::http_client();
    let discovery: Value = http
        .get(env.server.at("/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(discovery["issuer"], env.identity.auth.issuer);
    assert!(
        discovery["jwks_uri"]
            .as_str()
            .is_some_and(|u| u.ends_with("/.well-known/jwks.json"))
    );
    assert!(
        discovery["grant_types_supported"]
            .to_string()
            .contains("client_credentials")
    );

    let jwks = || async {
        http.get(env.server.at("/.well-known/jwks.json"))
            .send()
            .await
            .expect("jwks")
            .json::<Value>()
            .await
            .expect("json")
    };
    let kids = |doc: &Value| -> Vec<String> {
        doc["keys"]
            .as_array()
            .map(|k| {
                k.iter()
                    .filter_map(|k| k["kid"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let before = jwks().await;
    assert!(
        before["keys"][0].get("d").is_none(),
        "never the private part: {before}"
    );
    let old_kid = env.identity.keys.current_kid();
    assert_eq!(kids(&before), vec![old_kid.clone()]);
    let old_token = env.token(t.id, t.owner, &[Role::Owner]);

    let new_kid = env
        .identity
        .keys
        .rotate(&env.identity.db)
        .await
        .expect("rotate");
    assert_ne!(new_kid, old_kid);
    let after = jwks().await;
    assert!(
        kids(&after).contains(&old_kid) && kids(&after).contains(&new_kid),
        "{after}"
    );
    let new_token = env.token(t.id, t.owner, &[Role::Owner]);
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(new_token.split('.').next().expect("header"))
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(header["kid"], new_kid.as_str());
    assert_eq!(header["alg"], "EdDSA");
    for token in [old_token, new_token] {
        let body = env.gql(Some(&token), VIEWER, json!({})).await;
        assert!(body["errors"].is_null(), "both keys verify: {body}");
    }
}

const CREATE_CLIENT: &str = "mutation($n: String!, $s: [String!]!) {
  createApiClient(name: $n, scopes: $s) { clientSecret client { clientId name scopes revokedAt } }
}";

async fn token_request(env: &Env, id: &str, secret: &str, scope: Option<&str>) -> (u16, Value) {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    let resp = kit::server::http_client()
        .post(env.server.at("/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&form)
        .send()
        .await
        .expect("token endpoint");
    (resp.status().as_u16(), resp.json().await.expect("json"))
}

#[tokio::test]
async fn partners_get_scoped_tokens_with_client_credentials_until_revoked() {
    let env = Env::start().await;
    let a = env.tenant("alpha").await;
    let b = env.tenant("beta").await;
    let admin = env.user(&a, "admin@alpha.test", &[Role::Admin]).await;
    let admin = env.token(a.id, admin, &[Role::Admin]);

    let created = env
        .gql(
            Some(&admin),
            CREATE_CLIENT,
            json!({ "n": "CRM sync", "s": ["identity:users:read", "crm:read"] }),
        )
        .await;
    let c = &created["data"]["createApiClient"];
    let secret = c["clientSecret"]
        .as_str()
        .expect("secret shown once")
        .to_owned();
    let id = c["client"]["clientId"].as_str().expect("id").to_owned();
    assert!(
        secret.starts_with("aula_sk_") && id.starts_with("aula_ci_"),
        "{created}"
    );

    // The list never shows the secret.
    let listed = env
        .gql(
            Some(&admin),
            "{ apiClients { edges { node { clientId name scopes lastUsedAt } } } }",
            json!({}),
        )
        .await;
    assert!(!listed.to_string().contains(&secret[8..]), "{listed}");
    assert_eq!(
        listed["data"]["apiClients"]["edges"][0]["node"]["clientId"],
        id.as_str()
    );

    let (status, grant) = token_request(&env, &id, &secret, Some("identity:users:read")).await;
    assert_eq!(status, 200, "{grant}");
    assert_eq!(grant["token_type"], "Bearer");
    assert_eq!(grant["scope"], "identity:users:read");
    let access = grant["access_token"].as_str().expect("token");
    let users = env
        .gql(
            Some(access),
            "{ users(first: 5) { edges { node { email } } } }",
            json!({}),
        )
        .await;
    assert!(users["errors"].is_null(), "{users}");
    let own_tenant_only = users.to_string();
    assert!(own_tenant_only.contains("alpha.test") && !own_tenant_only.contains("beta.test"));
    // A scope the client was not granted; a token without the users scope.
    let (status, err) = token_request(&env, &id, &secret, Some("payments:read")).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let (_, crm_only) = token_request(&env, &id, &secret, Some("crm:read")).await;
    let crm_token = crm_only["access_token"].as_str().expect("token");
    let denied = env
        .gql(
            Some(crm_token),
            "{ users { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&denied), "FORBIDDEN");

    // Wrong secret; a tenant-B client id with tenant A's secret; garbage.
    let b_admin = env.token(b.id, b.owner, &[Role::Owner]);
    let b_created = env
        .gql(
            Some(&b_admin),
            CREATE_CLIENT,
            json!({ "n": "B", "s": ["crm:read"] }),
        )
        .await;
    let b_id = b_created["data"]["createApiClient"]["client"]["clientId"]
        .as_str()
        .expect("id")
        .to_owned();
    let b_secret = b_created["data"]["createApiClient"]["clientSecret"]
        .as_str()
        .expect("s")
        .to_owned();
    for (cid, sec) in [
        (id.as_str(), b_secret.as_str()),
        (b_id.as_str(), secret.as_str()),
        (id.as_str(), "aula_sk_nope"),
        ("aula_ci_nope", secret.as_str()),
    ] {
        let (status, err) = token_request(&env, cid, sec, None).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (401, Some("invalid_client")),
            "{cid}"
        );
    }

    // Tenant B cannot revoke or see A's client; A's admin revokes it and the secret dies.
    let revoke = "mutation($id: String!) { revokeApiClient(clientId: $id) { revokedAt } }";
    let body = env.gql(Some(&b_admin), revoke, json!({ "id": id })).await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    let b_list = env
        .gql(
            Some(&b_admin),
            "{ apiClients { edges { node { clientId } } } }",
            json!({}),
        )
        .await;
    assert!(!b_list.to_string().contains(&id));
    let body = env.gql(Some(&admin), revoke, json!({ "id": id })).await;
    assert!(
        body["data"]["revokeApiClient"]["revokedAt"].is_string(),
        "{body}"
    );
    let (status, err) = token_request(&env, &id, &secret, None).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (401, Some("invalid_client")),
        "revoked"
    );

    // Only owners and admins manage clients.
    let student = env.user(&a, "stu@alpha.test", &[Role::Student]).await;
    let student = env.token(a.id, student, &[Role::Student]);
    let body = env
        .gql(Some(&student), CREATE_CLIENT, json!({ "n": "x", "s": [] }))
        .await;
    assert_eq!(code(&body), "FORBIDDEN");
    let body = env
        .gql(
            Some(&admin),
            CREATE_CLIENT,
            json!({ "n": "x", "s": ["everything"] }),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT");

    let owner = env.token(a.id, a.owner, &[Role::Owner]);
    let actions = audit_actions(&env, &owner, json!({ "action": "api_client" })).await;
    for expected in [
        ("api_client.create", true),
        ("api_client.revoke", true),
        ("api_client.token", false),
    ] {
        assert!(
            actions.contains(&(expected.0.into(), expected.1)),
            "{expected:?} in {actions:?}"
        );
    }
}

#[tokio::test]
async fn the_audit_log_is_for_admins_of_its_own_tenant_and_exports_as_json_lines() {
    let env = Env::start().await;
    let a = env.tenant("alpha").await;
    let b = env.tenant("beta").await;
    env.sign_in("alpha", &a.owner_email, PASSWORD).await;
    env.sign_in("alpha", &a.owner_email, "wrong password!")
        .await;
    env.sign_in("beta", &b.owner_email, PASSWORD).await;

    let a_owner = env.token(a.id, a.owner, &[Role::Owner]);
    let all = audit_actions(&env, &a_owner, json!(null)).await;
    assert_eq!(
        all,
        vec![
            ("sign_in.password".into(), true),
            ("sign_in.password".into(), false)
        ],
        "tenant A's entries only, oldest first"
    );
    let student = env.user(&a, "stu@alpha.test", &[Role::Student]).await;
    let student = env.token(a.id, student, &[Role::Student]);
    let denied = env
        .gql(
            Some(&student),
            "{ auditLog { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&denied), "FORBIDDEN");

    let http = kit::server::http_client();
    let export = http
        .get(env.server.at("/audit/export?success=false"))
        .bearer_auth(&a_owner)
        .send()
        .await
        .expect("export");
    assert_eq!(export.status().as_u16(), 200);
    assert_eq!(
        export.headers()["content-type"].to_str().ok(),
        Some("application/x-ndjson")
    );
    let text = export.text().await.expect("body");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0]["action"], "sign_in.password");
    assert_eq!(lines[0]["outcome"], "failure");
    let refused = http
        .get(env.server.at("/audit/export"))
        .bearer_auth(&student)
        .send()
        .await
        .expect("export");
    assert_eq!(refused.status().as_u16(), 403);
    let anonymous = http
        .get(env.server.at("/audit/export"))
        .send()
        .await
        .expect("export");
    assert_eq!(anonymous.status().as_u16(), 401);

    // The service's own role cannot rewrite history.
    use sea_orm::ConnectionTrait;
    let conn = env.db.service("identity").await;
    for sql in [
        "UPDATE identity.audit_log SET outcome = 'success'",
        "DELETE FROM identity.audit_log",
    ] {
        let tx = tenancy::TenantTx::begin(&conn, &tenancy::TenantContext::anonymous(a.id))
            .await
            .expect("tx");
        let err = tx.execute_unprepared(sql).await.expect_err(sql);
        assert!(
            err.to_string().contains("permission denied"),
            "{sql}: {err}"
        );
    }
}

#[tokio::test]
async fn user_tokens_carry_the_display_name_and_nothing_secret() {
    let env = Env::start().await;
    let t = env.tenant("alpha").await;
    let body = env.sign_in("alpha", &t.owner_email, PASSWORD).await;
    let token = body["data"]["signIn"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"));
    let payload = token.split('.').nth(1).expect("payload");
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json");
    assert_eq!(claims["name"], "alpha owner", "{claims}");
    assert!(claims.get("email").is_none(), "{claims}");
}
