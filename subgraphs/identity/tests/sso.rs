//! Per-tenant OpenID Connect single sign-on against a real OpenID provider process: register a
//! provider, sign in through its login form, hand-off codes, single-use state, tenant isolation,
//! allowed domains and verified emails, who may manage providers, and the secret staying secret.
//!
//! Identity's public URL is a name no server answers to; the provider redirects the "browser"
//! there, and the test delivers that callback to the real server by swapping the origin (as a
//! reverse proxy in front of identity would).

mod common;

use std::time::Duration;

use common::{Env, PASSWORD, Tenant, code};
use harness::oidc::{Account, Client, OidcProvider, ProviderSpec};
use identity::entity::sso_provider;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use reqwest::redirect::Policy;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use tenancy::{Role, TenantContext, TenantTx};

/// Identity's public base URL in these tests.
const PUBLIC: &str = "http://identity.aula.test";
/// The web app's base URL in these tests.
const WEB: &str = "http://web.aula.test/app";
/// Our client secret at the provider: must never come back out.
const SECRET: &str = "idp-secret-9f2c7d1e-never-shown";
/// The client id at the provider.
const CLIENT_ID: &str = "aula-academy";
/// What every provider account types as its password.
const IDP_PASSWORD: &str = "idp password 42";

const REGISTER: &str = "mutation($input: RegisterSsoProviderInput!) {
  registerSsoProvider(input: $input) {
    id name issuer clientId allowedDomains defaultRole enabled redirectUri createdAt
  }
}";
const LIST: &str = "{ ssoProviders(first: 10) { edges { node { id name issuer clientId allowedDomains defaultRole enabled } } } }";
const COMPLETE: &str = "mutation($c: String!) {
  completeSsoSignIn(ssoCode: $c) { accessToken refreshToken tokenType user { id email roles } }
}";
const WHO: &str = "{ viewer { id email roles } tenant { slug } }";

async fn env() -> Env {
    Env::start_with(|config| {
        config.set_service("public_url", PUBLIC);
        config.set_service("web_url", WEB);
    })
    .await
}

fn account(login: &str, email: &str, verified: bool) -> Account {
    Account {
        login: login.into(),
        password: IDP_PASSWORD.into(),
        sub: format!("sub-{login}"),
        email: email.into(),
        email_verified: verified,
        name: format!("{login} from the provider"),
    }
}

async fn idp(accounts: Vec<Account>) -> OidcProvider {
    OidcProvider::start(ProviderSpec {
        accounts,
        clients: vec![Client {
            client_id: CLIENT_ID.into(),
            client_secret: SECRET.into(),
            redirect_uris: vec![format!("{PUBLIC}/sso/callback")],
        }],
    })
    .await
}

fn owner(env: &Env, tenant: &Tenant) -> String {
    env.token(tenant.id, tenant.owner, &[Role::Owner])
}

/// Registers `idp` for the token's tenant; returns the whole response.
async fn register_raw(
    env: &Env,
    token: Option<&str>,
    issuer: &str,
    domains: &[&str],
    role: &str,
) -> Value {
    env.gql(
        token,
        REGISTER,
        json!({ "input": {
            "name": "Corporate login",
            "issuer": issuer,
            "clientId": CLIENT_ID,
            "clientSecret": SECRET,
            "allowedDomains": domains,
            "defaultRole": role,
        }}),
    )
    .await
}

/// Registers `idp`; returns the provider's id.
async fn register(
    env: &Env,
    token: &str,
    idp: &OidcProvider,
    domains: &[&str],
    role: &str,
) -> String {
    let body = register_raw(env, Some(token), idp.issuer(), domains, role).await;
    assert!(!body.to_string().contains(SECRET), "secret in {body}");
    body["data"]["registerSsoProvider"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("register: {body}"))
        .to_owned()
}

/// A client that shows redirects instead of following them, as a test of a browser's view.
fn browser() -> reqwest::Client {
    kit::server::install_crypto();
    reqwest::Client::builder()
        .redirect(Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client")
}

/// `GET /sso/{tenant}/{provider}/start`.
async fn start(
    env: &Env,
    tenant: &str,
    provider: &str,
    return_to: Option<&str>,
) -> reqwest::Response {
    let mut url = reqwest::Url::parse(&env.server.at(&format!("/sso/{tenant}/{provider}/start")))
        .expect("start URL");
    if let Some(r) = return_to {
        url.query_pairs_mut().append_pair("return_to", r);
    }
    browser().get(url).send().await.expect("start answers")
}

/// The provider's authorization URL that `start` redirects to.
async fn authorize(env: &Env, tenant: &str, provider: &str, return_to: Option<&str>) -> String {
    let response = start(env, tenant, provider, return_to).await;
    assert_eq!(response.status(), StatusCode::FOUND, "start: {response:?}");
    location(&response)
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("a Location header")
        .to_owned()
}

/// Signs `login` in at the provider; returns the callback URL it sends the browser to.
async fn at_provider(idp: &OidcProvider, authorize_url: &str, login: &str) -> String {
    idp.sign_in(authorize_url, login, IDP_PASSWORD)
        .await
        .unwrap_or_else(|e| panic!("provider sign-in of {login}: {e}"))
}

/// Delivers the provider's redirect (to the public URL) to the real server.
async fn deliver(env: &Env, callback_url: &str) -> reqwest::Response {
    assert!(
        callback_url.starts_with(&format!("{PUBLIC}/sso/callback?")),
        "the provider sent the browser to {callback_url}"
    );
    let local = callback_url.replacen(PUBLIC, &env.server.url, 1);
    browser().get(local).send().await.expect("callback answers")
}

/// The status and JSON body of a callback without `return_to`.
async fn deliver_json(env: &Env, callback_url: &str) -> (StatusCode, Value) {
    let response = deliver(env, callback_url).await;
    let status = response.status();
    (status, response.json().await.expect("JSON"))
}

/// The whole flow without `return_to`: start, provider login, callback; the hand-off code.
async fn sso_code(
    env: &Env,
    idp: &OidcProvider,
    tenant: &str,
    provider: &str,
    login: &str,
) -> String {
    let url = authorize(env, tenant, provider, None).await;
    assert!(url.starts_with(idp.issuer()), "{url}");
    let callback = at_provider(idp, &url, login).await;
    let (status, body) = deliver_json(env, &callback).await;
    assert_eq!(status, StatusCode::OK, "callback: {body}");
    body["ssoCode"]
        .as_str()
        .unwrap_or_else(|| panic!("no ssoCode: {body}"))
        .to_owned()
}

/// Exchanges a hand-off code; returns the whole response.
async fn complete(env: &Env, sso_code: &str) -> Value {
    env.gql(None, COMPLETE, json!({ "c": sso_code })).await
}

async fn access_token(env: &Env, sso_code: &str) -> String {
    let body = complete(env, sso_code).await;
    body["data"]["completeSsoSignIn"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("complete: {body}"))
        .to_owned()
}

/// `(action, success, detail.reason)` of the tenant's audit entries under `area`.
async fn audit(env: &Env, token: &str, area: &str) -> Vec<(String, bool, String)> {
    let body = env
        .gql(
            Some(token),
            "query($f: AuditFilter) { auditLog(filter: $f, last: 100) { edges { node { action success detail } } } }",
            json!({ "f": { "action": area } }),
        )
        .await;
    body["data"]["auditLog"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("audit log: {body}"))
        .iter()
        .map(|e| {
            let node = &e["node"];
            (
                node["action"].as_str().unwrap_or_default().to_owned(),
                node["success"].as_bool().unwrap_or_default(),
                node["detail"]["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

fn error_code(body: &Value) -> &str {
    code(body)
}

#[tokio::test]
async fn a_new_user_is_created_just_in_time_and_signed_in_again_later() {
    let env = env().await;
    let alpha = env.tenant("alpha").await;
    let owner = owner(&env, &alpha);
    let idp = idp(vec![account("ada", "Ada@Alpha-Corp.test", true)]).await;

    let registered = register_raw(
        &env,
        Some(&owner),
        idp.issuer(),
        &["ALPHA-corp.test"],
        "STUDENT",
    )
    .await;
    let provider = &registered["data"]["registerSsoProvider"];
    assert_eq!(provider["issuer"], idp.issuer(), "{registered}");
    assert_eq!(provider["clientId"], CLIENT_ID);
    assert_eq!(provider["allowedDomains"], json!(["alpha-corp.test"]));
    assert_eq!(provider["defaultRole"], "STUDENT");
    assert_eq!(provider["enabled"], true);
    assert_eq!(provider["redirectUri"], format!("{PUBLIC}/sso/callback"));
    let id = provider["id"].as_str().expect("id").to_owned();

    // First sign-in: the user does not exist yet.
    let first = sso_code(&env, &idp, "alpha", &id, "ada").await;
    assert!(first.starts_with("aula_sso_"), "{first}");
    let session = complete(&env, &first).await;
    let user = &session["data"]["completeSsoSignIn"]["user"];
    assert_eq!(user["email"], "Ada@Alpha-Corp.test", "{session}");
    assert_eq!(user["roles"], json!(["STUDENT"]));
    assert_eq!(session["data"]["completeSsoSignIn"]["tokenType"], "Bearer");
    let user_id = user["id"].as_str().expect("user id").to_owned();
    let token = session["data"]["completeSsoSignIn"]["accessToken"]
        .as_str()
        .expect("access token")
        .to_owned();
    let who = env.gql(Some(&token), WHO, json!({})).await;
    assert_eq!(
        who["data"]["viewer"]["email"], "Ada@Alpha-Corp.test",
        "{who}"
    );
    assert_eq!(who["data"]["viewer"]["roles"], json!(["STUDENT"]));
    assert_eq!(who["data"]["tenant"]["slug"], "alpha");

    // A hand-off code works once.
    let again = complete(&env, &first).await;
    assert_eq!(error_code(&again), "UNAUTHENTICATED", "{again}");
    assert_eq!(
        error_code(&complete(&env, "aula_sso_made-up").await),
        "UNAUTHENTICATED"
    );

    // Second sign-in, from a page of the web app: back there with a code, same user.
    let return_to = format!("{WEB}/welcome?tab=courses");
    let url = authorize(&env, "alpha", &id, Some(&return_to)).await;
    let callback = at_provider(&idp, &url, "ada").await;
    let response = deliver(&env, &callback).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        response
            .headers()
            .get("referrer-policy")
            .and_then(|v| v.to_str().ok()),
        Some("no-referrer")
    );
    let back = reqwest::Url::parse(&location(&response)).expect("a URL");
    assert!(
        back.as_str().starts_with(&format!("{WEB}/welcome?")),
        "{back}"
    );
    let pairs: Vec<(String, String)> = back.query_pairs().into_owned().collect();
    assert!(pairs.contains(&("tab".into(), "courses".into())), "{back}");
    let second = pairs
        .iter()
        .find(|(k, _)| k == "sso_code")
        .map(|(_, v)| v.clone())
        .expect("sso_code");
    let session = complete(&env, &second).await;
    assert_eq!(
        session["data"]["completeSsoSignIn"]["user"]["id"], user_id,
        "{session}"
    );

    // The tenant has the owner and exactly one SSO user.
    let users = env
        .gql(
            Some(&owner),
            "{ users(first: 10) { edges { node { email } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        users["data"]["users"]["edges"].as_array().map(Vec::len),
        Some(2),
        "{users}"
    );

    let signed_in = audit(&env, &owner, "sign_in.sso").await;
    assert_eq!(
        signed_in
            .iter()
            .filter(|(a, ok, _)| a == "sign_in.sso" && *ok)
            .count(),
        2,
        "{signed_in:?}"
    );
    let registered = audit(&env, &owner, "sso.provider_register").await;
    assert_eq!(registered.len(), 1, "{registered:?}");
    assert!(registered[0].1);
}

#[tokio::test]
async fn the_callback_state_is_single_use_and_bound_to_its_own_flow() {
    let env = env().await;
    let alpha = env.tenant("alpha").await;
    let owner = owner(&env, &alpha);
    let idp = idp(vec![
        account("ada", "ada@alpha.test", true),
        account("boss", &alpha.owner_email.to_uppercase(), true),
    ])
    .await;
    let id = register(&env, &owner, &idp, &[], "INSTRUCTOR").await;

    // The same callback twice: the second finds its state spent.
    let url = authorize(&env, "alpha", &id, None).await;
    let callback = at_provider(&idp, &url, "ada").await;
    let (status, body) = deliver_json(&env, &callback).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = deliver_json(&env, &callback).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(error_code(&body), "UNAUTHENTICATED");

    // A forged state, and none at all.
    let url = authorize(&env, "alpha", &id, None).await;
    let callback = at_provider(&idp, &url, "ada").await;
    let mut forged = reqwest::Url::parse(&callback).expect("URL");
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "state" {
                (k, "forgedforgedforgedforged".into())
            } else {
                (k, v)
            }
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(&pairs);
    let (status, body) = deliver_json(&env, forged.as_str()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let stateless: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "state")
        .cloned()
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(&stateless);
    let (status, body) = deliver_json(&env, forged.as_str()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // The untouched callback of that flow still works: its state was never consumed.
    let (status, body) = deliver_json(&env, &callback).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Flow A's code with flow B's state (B's PKCE verifier and nonce) is refused, and spends B.
    let url_a = authorize(&env, "alpha", &id, None).await;
    let callback_a = at_provider(&idp, &url_a, "ada").await;
    let url_b = authorize(&env, "alpha", &id, None).await;
    let callback_b = at_provider(&idp, &url_b, "ada").await;
    let param = |url: &str, name: &str| {
        reqwest::Url::parse(url)
            .expect("URL")
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("{name} in {url}"))
    };
    let mut mixed = reqwest::Url::parse(&format!("{PUBLIC}/sso/callback")).expect("URL");
    mixed
        .query_pairs_mut()
        .append_pair("code", &param(&callback_a, "code"))
        .append_pair("state", &param(&callback_b, "state"))
        .append_pair("iss", &param(&callback_a, "iss"));
    let (status, body) = deliver_json(&env, mixed.as_str()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = deliver_json(&env, &callback_b).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "B's state is spent: {body}"
    );
    // A's own state and code are intact: the provider checked PKCE before spending the code.
    let (status, body) = deliver_json(&env, &callback_a).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // An issuer other than the provider's (RFC 9207 mix-up defence) is refused.
    let url = authorize(&env, "alpha", &id, None).await;
    let callback = at_provider(&idp, &url, "ada").await;
    let mut wrong_iss = reqwest::Url::parse(&callback).expect("URL");
    let pairs: Vec<(String, String)> = wrong_iss
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "iss" {
                (k, "http://evil.test".into())
            } else {
                (k, v)
            }
        })
        .collect();
    wrong_iss.query_pairs_mut().clear().extend_pairs(&pairs);
    let (status, body) = deliver_json(&env, wrong_iss.as_str()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // return_to must be a page of the web app.
    for bad in [
        "http://evil.test/app/x",
        "http://web.aula.test.evil.test/app",
        "http://web.aula.test/other",
    ] {
        let response = start(&env, "alpha", &id, Some(bad)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{bad}: {body}");
    }

    // A provider vouching for the owner's address does not get the owner's account.
    let url = authorize(&env, "alpha", &id, None).await;
    let callback = at_provider(&idp, &url, "boss").await;
    let (status, body) = deliver_json(&env, &callback).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    let failures: Vec<String> = audit(&env, &owner, "sign_in.sso")
        .await
        .into_iter()
        .filter(|(_, ok, _)| !ok)
        .map(|(_, _, reason)| reason)
        .collect();
    assert!(
        failures.contains(&"code_exchange_failed".to_owned()),
        "{failures:?}"
    );
    assert!(
        failures.contains(&"issuer_mismatch".to_owned()),
        "{failures:?}"
    );
    assert!(
        failures.contains(&"owner_not_linked".to_owned()),
        "{failures:?}"
    );
}

#[tokio::test]
async fn a_tenants_provider_never_signs_anyone_into_another_tenant() {
    let env = env().await;
    let alpha = env.tenant("alpha").await;
    let beta = env.tenant("beta").await;
    let shared = "grace@shared.test";
    let alpha_user = env.user(&alpha, shared, &[Role::Instructor]).await;
    let idp = idp(vec![account("grace", shared, true)]).await;
    let beta_provider = register(&env, &owner(&env, &beta), &idp, &[], "SALES").await;

    // Beta's provider does not exist for alpha, over HTTP or GraphQL.
    let response = start(&env, "alpha", &beta_provider, None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
    let body = env
        .gql(
            None,
            "mutation($t: String!, $p: ID!) { startSsoSignIn(tenant: $t, providerId: $p) }",
            json!({ "t": "alpha", "p": beta_provider }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
    let response = start(&env, "no-such-tenant", &beta_provider, None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // Through beta, the same email becomes a new beta user; alpha's user is untouched.
    let token = access_token(
        &env,
        &sso_code(&env, &idp, "beta", &beta_provider, "grace").await,
    )
    .await;
    let who = env.gql(Some(&token), WHO, json!({})).await;
    assert_eq!(who["data"]["tenant"]["slug"], "beta", "{who}");
    assert_eq!(who["data"]["viewer"]["email"], shared);
    assert_eq!(who["data"]["viewer"]["roles"], json!(["SALES"]));
    assert_ne!(who["data"]["viewer"]["id"], alpha_user.to_string());

    let alpha_session = env.sign_in("alpha", shared, PASSWORD).await;
    let alpha_token = alpha_session["data"]["signIn"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("alpha password sign-in: {alpha_session}"));
    let alpha_who = env.gql(Some(alpha_token), WHO, json!({})).await;
    assert_eq!(alpha_who["data"]["viewer"]["id"], alpha_user.to_string());
    assert_eq!(alpha_who["data"]["viewer"]["roles"], json!(["INSTRUCTOR"]));
    assert_eq!(alpha_who["data"]["tenant"]["slug"], "alpha");

    // Alpha sees no provider and no SSO sign-in of its own.
    let alpha_owner = owner(&env, &alpha);
    let listed = env.gql(Some(&alpha_owner), LIST, json!({})).await;
    assert_eq!(
        listed["data"]["ssoProviders"]["edges"],
        json!([]),
        "{listed}"
    );
    assert!(audit(&env, &alpha_owner, "sign_in.sso").await.is_empty());
    let beta_audit = audit(&env, &owner(&env, &beta), "sign_in.sso").await;
    assert_eq!(beta_audit.len(), 1, "{beta_audit:?}");
}

#[tokio::test]
async fn allowed_domains_verified_emails_and_passwords_are_enforced() {
    let env = env().await;
    let alpha = env.tenant("alpha").await;
    let owner = owner(&env, &alpha);
    let idp = idp(vec![
        account("ada", "ada@alpha-corp.test", true),
        account("mallory", "mallory@elsewhere.test", true),
        account("eve", "eve@alpha-corp.test", false),
    ])
    .await;
    let id = register(&env, &owner, &idp, &["alpha-corp.test"], "STUDENT").await;

    let url = authorize(&env, "alpha", &id, None).await;
    let callback = at_provider(&idp, &url, "mallory").await;
    let (status, body) = deliver_json(&env, &callback).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    assert!(body.to_string().contains("may not sign in"), "{body}");

    let url = authorize(&env, "alpha", &id, None).await;
    let callback = at_provider(&idp, &url, "eve").await;
    let (status, body) = deliver_json(&env, &callback).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.to_string().contains("not verified"), "{body}");

    let url = authorize(&env, "alpha", &id, None).await;
    let refused = idp.sign_in(&url, "ada", "not the password").await;
    assert!(
        refused.is_err(),
        "a wrong password yields no code: {refused:?}"
    );

    // Nobody was created; ada, with her right password, still gets in.
    let users = env
        .gql(
            Some(&owner),
            "{ users(first: 10) { edges { node { email } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        users["data"]["users"]["edges"].as_array().map(Vec::len),
        Some(1),
        "{users}"
    );
    access_token(&env, &sso_code(&env, &idp, "alpha", &id, "ada").await).await;

    let reasons: Vec<String> = audit(&env, &owner, "sign_in.sso")
        .await
        .into_iter()
        .filter(|(_, ok, _)| !ok)
        .map(|(_, _, reason)| reason)
        .collect();
    assert_eq!(reasons, ["domain_not_allowed", "email_unverified"]);
}

#[tokio::test]
async fn only_owners_and_admins_manage_their_own_tenants_providers() {
    let env = env().await;
    let alpha = env.tenant("alpha").await;
    let beta = env.tenant("beta").await;
    let idp = idp(vec![account("ada", "ada@alpha.test", true)]).await;

    for role in [Role::Student, Role::Instructor, Role::Sales] {
        let user = env
            .user(&alpha, &format!("{}@alpha.test", role.as_str()), &[role])
            .await;
        let token = env.token(alpha.id, user, &[role]);
        let body = register_raw(&env, Some(&token), idp.issuer(), &[], "STUDENT").await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{role:?}: {body}");
        let body = env.gql(Some(&token), LIST, json!({})).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{role:?}: {body}");
    }
    let anonymous = register_raw(&env, None, idp.issuer(), &[], "STUDENT").await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED", "{anonymous}");
    let body = env.gql(None, LIST, json!({})).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");

    let admin = env.user(&alpha, "admin@alpha.test", &[Role::Admin]).await;
    let admin = env.token(alpha.id, admin, &[Role::Admin]);
    for (issuer, role, field) in [
        ("ftp://idp.test", "STUDENT", "issuer"),
        (idp.issuer(), "OWNER", "defaultRole"),
    ] {
        let body = register_raw(&env, Some(&admin), issuer, &[], role).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    let body = register_raw(
        &env,
        Some(&admin),
        idp.issuer(),
        &["not a domain"],
        "STUDENT",
    )
    .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    let id = register(&env, &admin, &idp, &[], "STUDENT").await;

    // Beta's admin can neither see nor touch alpha's provider.
    let beta_admin = env.user(&beta, "admin@beta.test", &[Role::Admin]).await;
    let beta_admin = env.token(beta.id, beta_admin, &[Role::Admin]);
    let listed = env.gql(Some(&beta_admin), LIST, json!({})).await;
    assert_eq!(
        listed["data"]["ssoProviders"]["edges"],
        json!([]),
        "{listed}"
    );
    let remove = "mutation($id: ID!) { removeSsoProvider(id: $id) { id } }";
    let disable = "mutation($id: ID!, $on: Boolean!) { setSsoProviderEnabled(id: $id, enabled: $on) { id enabled } }";
    let body = env
        .gql(Some(&beta_admin), remove, json!({ "id": id }))
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
    let body = env
        .gql(Some(&beta_admin), disable, json!({ "id": id, "on": false }))
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
    let listed = env.gql(Some(&admin), LIST, json!({})).await;
    assert_eq!(
        listed["data"]["ssoProviders"]["edges"][0]["node"]["id"], id,
        "{listed}"
    );
    assert_eq!(
        listed["data"]["ssoProviders"]["edges"][0]["node"]["enabled"],
        true
    );

    // Alpha's admin disables (sign-in stops), enables, then removes it.
    let body = env
        .gql(Some(&admin), disable, json!({ "id": id, "on": false }))
        .await;
    assert_eq!(
        body["data"]["setSsoProviderEnabled"]["enabled"], false,
        "{body}"
    );
    assert_eq!(
        start(&env, "alpha", &id, None).await.status(),
        StatusCode::NOT_FOUND
    );
    let body = env
        .gql(Some(&admin), disable, json!({ "id": id, "on": true }))
        .await;
    assert_eq!(
        body["data"]["setSsoProviderEnabled"]["enabled"], true,
        "{body}"
    );
    assert_eq!(
        start(&env, "alpha", &id, None).await.status(),
        StatusCode::FOUND
    );
    let body = env.gql(Some(&admin), remove, json!({ "id": id })).await;
    assert_eq!(body["data"]["removeSsoProvider"]["id"], id, "{body}");
    assert_eq!(
        start(&env, "alpha", &id, None).await.status(),
        StatusCode::NOT_FOUND
    );

    let actions: Vec<String> = audit(&env, &admin, "sso")
        .await
        .into_iter()
        .map(|(action, _, _)| action)
        .collect();
    assert_eq!(
        actions,
        [
            "sso.provider_register",
            "sso.provider_disable",
            "sso.provider_enable",
            "sso.provider_remove"
        ]
    );
}

#[tokio::test]
async fn the_client_secret_never_leaves_identity() {
    let env = env().await;
    let alpha = env.tenant("alpha").await;
    let owner = owner(&env, &alpha);
    let idp = idp(vec![account("ada", "ada@alpha.test", true)]).await;

    let mut seen = Vec::new();
    let registered = register_raw(&env, Some(&owner), idp.issuer(), &[], "STUDENT").await;
    let id = registered["data"]["registerSsoProvider"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    seen.push(registered);
    seen.push(env.gql(Some(&owner), LIST, json!({})).await);
    let token = access_token(&env, &sso_code(&env, &idp, "alpha", &id, "ada").await).await;
    seen.push(env.gql(Some(&token), WHO, json!({})).await);
    seen.push(
        env.gql(
            Some(&owner),
            "{ auditLog(last: 100) { edges { node { action subject detail } } } }",
            json!({}),
        )
        .await,
    );
    seen.push(
        env.gql(
            Some(&owner),
            "mutation($id: ID!) { removeSsoProvider(id: $id) { id name issuer clientId } }",
            json!({ "id": id }),
        )
        .await,
    );
    for body in &seen {
        let text = body.to_string();
        assert!(body["errors"].is_null(), "{text}");
        assert!(!text.contains(SECRET), "the secret leaked: {text}");
    }
    // The schema has no field that could carry it.
    let schema = env
        .gql(
            None,
            "{ __type(name: \"SsoProvider\") { fields { name } } }",
            json!({}),
        )
        .await;
    assert!(
        !schema.to_string().to_lowercase().contains("secret"),
        "{schema}"
    );

    // At rest it is sealed, not plain.
    let idp2 = register(&env, &owner, &idp, &[], "STUDENT").await;
    let tx = TenantTx::begin(&env.identity.db, &TenantContext::anonymous(alpha.id))
        .await
        .expect("tx");
    let rows = sso_provider::Entity::find().all(&*tx).await.expect("rows");
    tx.commit().await.expect("commit");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id.to_string(), idp2);
    assert!(
        !rows[0]
            .client_secret_sealed
            .windows(SECRET.len())
            .any(|w| w == SECRET.as_bytes())
    );
    assert!(!format!("{:?}", rows[0]).contains(SECRET));
}
