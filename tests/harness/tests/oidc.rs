//! The harness's OpenID provider: a user signs in through its login form, the code is exchanged
//! at the token endpoint, and the ID token carries the account's claims and the nonce; a wrong
//! password yields no code; dropping the provider stops it.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use harness::oidc::{Account, Client, OidcProvider, ProviderSpec};
use reqwest::Url;
use serde_json::Value;

/// The PKCE pair of RFC 7636, appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// Nothing listens here: the driver stops before following the redirect.
const REDIRECT_URI: &str = "http://127.0.0.1:9/sso/callback";

/// A client of this test's own runtime (a shared one would outlive the runtime of its pool).
fn http() -> reqwest::Client {
    kit::server::install_crypto();
    reqwest::Client::new()
}

fn spec() -> ProviderSpec {
    ProviderSpec {
        accounts: vec![Account {
            login: "ada".into(),
            password: "correct horse".into(),
            sub: "ada-0001".into(),
            email: "ada@acme.test".into(),
            email_verified: true,
            name: "Ada Lovelace".into(),
        }],
        clients: vec![Client {
            client_id: "aula-acme".into(),
            client_secret: "acme-secret".into(),
            redirect_uris: vec![REDIRECT_URI.into()],
        }],
    }
}

async fn discovery(provider: &OidcProvider) -> Value {
    http()
        .get(format!(
            "{}/.well-known/openid-configuration",
            provider.issuer()
        ))
        .send()
        .await
        .expect("discovery answers")
        .json()
        .await
        .expect("discovery is JSON")
}

fn authorize_url(discovery: &Value, state: &str, nonce: &str) -> String {
    let endpoint = discovery["authorization_endpoint"]
        .as_str()
        .expect("authorization_endpoint");
    Url::parse_with_params(
        endpoint,
        [
            ("response_type", "code"),
            ("client_id", "aula-acme"),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid email profile"),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    )
    .expect("authorization URL")
    .into()
}

fn query(url: &str, name: &str) -> Option<String> {
    Url::parse(url)
        .expect("callback URL")
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn id_token_claims(token_response: &Value) -> Value {
    let id_token = token_response["id_token"].as_str().expect("an id_token");
    let payload = id_token.split('.').nth(1).expect("a JWT payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url payload"))
        .expect("JSON claims")
}

#[tokio::test]
async fn a_user_signs_in_through_the_login_form_and_the_code_yields_an_id_token() {
    let provider = OidcProvider::start(spec()).await;
    assert!(provider.issuer().starts_with("http://127.0.0.1:"));
    let discovery = discovery(&provider).await;
    assert_eq!(discovery["issuer"], provider.issuer());
    let token_endpoint = discovery["token_endpoint"]
        .as_str()
        .expect("token_endpoint");
    let http = http();

    // client_secret_basic
    let callback = provider
        .sign_in(
            &authorize_url(&discovery, "state-1", "nonce-1"),
            "ada",
            "correct horse",
        )
        .await
        .expect("signed in");
    assert!(callback.starts_with(REDIRECT_URI), "{callback}");
    assert_eq!(query(&callback, "state").as_deref(), Some("state-1"));
    let code = query(&callback, "code").expect("a code");
    let tokens: Value = http
        .post(token_endpoint)
        .basic_auth("aula-acme", Some("acme-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .expect("token endpoint answers")
        .json()
        .await
        .expect("token response is JSON");
    let claims = id_token_claims(&tokens);
    assert_eq!(claims["iss"], provider.issuer(), "{claims}");
    assert_eq!(claims["aud"], "aula-acme");
    assert_eq!(claims["sub"], "ada-0001");
    assert_eq!(claims["email"], "ada@acme.test");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["name"], "Ada Lovelace");
    assert_eq!(claims["nonce"], "nonce-1");

    // client_secret_post, in a fresh browser session
    let callback = provider
        .sign_in(
            &authorize_url(&discovery, "state-2", "nonce-2"),
            "ada",
            "correct horse",
        )
        .await
        .expect("signed in again");
    let code = query(&callback, "code").expect("a code");
    let tokens: Value = http
        .post(token_endpoint)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
            ("client_id", "aula-acme"),
            ("client_secret", "acme-secret"),
        ])
        .send()
        .await
        .expect("token endpoint answers")
        .json()
        .await
        .expect("token response is JSON");
    assert_eq!(id_token_claims(&tokens)["nonce"], "nonce-2", "{tokens}");
}

#[tokio::test]
async fn a_wrong_password_yields_no_code() {
    let provider = OidcProvider::start(spec()).await;
    let discovery = discovery(&provider).await;
    let url = authorize_url(&discovery, "state", "nonce");
    let err = provider
        .sign_in(&url, "ada", "wrong")
        .await
        .expect_err("no sign-in with a wrong password");
    assert!(err.contains("login form again"), "{err}");
    let err = provider
        .sign_in(&url, "nobody", "correct horse")
        .await
        .expect_err("no sign-in for an unknown login");
    assert!(err.contains("login form again"), "{err}");
}

#[tokio::test]
async fn dropping_the_provider_stops_it() {
    let provider = OidcProvider::start(spec()).await;
    let discovery_url = format!("{}/.well-known/openid-configuration", provider.issuer());
    let http = http();
    assert!(http.get(&discovery_url).send().await.is_ok());
    drop(provider);
    for _ in 0..50 {
        if http.get(&discovery_url).send().await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the provider still answers after being dropped");
}
