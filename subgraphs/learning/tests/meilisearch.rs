//! The Meilisearch search engine, against a wire-level Meilisearch double (no Meilisearch server
//! can run on this machine): learning configures the index at start, the outbox relay keeps
//! documents in step with courses, and every search goes out with a tenant token whose rules
//! filter on the caller's academy (and on `published` for non-staff), which nothing the caller
//! types can widen.

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::*;
use harness::meili::{MeiliDouble, Recorded};
use serde_json::{Value, json};
use tenancy::{Role, TenantId};

const MASTER: &str = "master-key-for-tests";
const SEARCH_KEY: &str = "search-key-for-tests";
const SEARCH_KEY_UID: &str = "6062abda-a5aa-4414-ac91-ecd7944c0f8d";
const SEARCH: &str =
    "query($q: String!) { searchCourses(query: $q, first: 10) { edges { node { title } } } }";

fn titles(body: &Value) -> Vec<String> {
    let mut t: Vec<String> = body["data"]["searchCourses"]["edges"]
        .as_array()
        .map(|es| {
            es.iter()
                .map(|e| e["node"]["title"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default();
    t.sort();
    t
}

async fn start(meili: &MeiliDouble) -> Env {
    let url = meili.url();
    Env::start_with(move |config| {
        let search = figment::value::Value::serialize(json!({
            "engine": "meilisearch",
            "meilisearch_url": url,
            "meilisearch_admin_key": MASTER,
            "meilisearch_search_key": SEARCH_KEY,
            "meilisearch_search_key_uid": SEARCH_KEY_UID,
        }))
        .expect("settings");
        config.set_service("search", search);
    })
    .await
}

/// The searches the double received, with their tenant tokens' claims.
fn searches(meili: &MeiliDouble) -> Vec<(Recorded, Value)> {
    meili
        .requests()
        .into_iter()
        .filter(|r| r.path == "/indexes/courses/search")
        .map(|r| {
            let token = r
                .authorization
                .as_deref()
                .and_then(|a| a.strip_prefix("Bearer "))
                .expect("a bearer token")
                .to_owned();
            let claims = token
                .split('.')
                .nth(1)
                .and_then(|p| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(p)
                        .ok()
                })
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null);
            (r, claims)
        })
        .collect()
}

/// Waits (at most 10 s) until the double's index holds `n` documents.
async fn indexed(meili: &MeiliDouble, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let docs = meili.documents("courses");
        if docs.len() == n {
            return docs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("expected {n} documents: {:?}", meili.documents("courses"));
}

async fn published(env: &Env, admin: &TestUser, title: &str) -> String {
    common::published(env, admin, title, 0, &[("Lesson", true)])
        .await
        .0
}

#[tokio::test]
async fn the_index_follows_courses_and_searches_carry_tenant_tokens() {
    let meili = MeiliDouble::start(MASTER, SEARCH_KEY, SEARCH_KEY_UID).await;
    let env = start(&meili).await;

    // At start: the index with `id` as its key, filterable by tenant and status, with the
    // admin key.
    let requests = meili.requests();
    let created = requests
        .iter()
        .find(|r| r.method == "POST" && r.path == "/indexes")
        .expect("index created");
    assert_eq!(
        created.body,
        json!({ "uid": "courses", "primaryKey": "id" })
    );
    assert_eq!(
        created.authorization.as_deref(),
        Some("Bearer master-key-for-tests")
    );
    let settings = meili.settings("courses");
    assert_eq!(
        settings["filterableAttributes"],
        json!(["tenant_id", "status"]),
        "{settings}"
    );
    assert_eq!(
        settings["searchableAttributes"],
        json!(["title", "tags", "summary", "description"])
    );

    let a = TenantId::generate();
    let b = TenantId::generate();
    let admin_a = env.keys.user(a, &[Role::Admin]);
    let admin_b = env.keys.user(b, &[Role::Admin]);
    let student_a = env.keys.user(a, &[Role::Student]);
    published(&env, &admin_a, "Rust for teachers").await;
    let draft = create(&env, &admin_a, "Rust drafts").await;
    published(&env, &admin_b, "Rust in another academy").await;

    // The relay indexed all three with their tenant and status.
    let docs = indexed(&meili, 3).await;
    let of_a: Vec<&Value> = docs
        .iter()
        .filter(|d| d["tenant_id"] == a.to_string())
        .collect();
    assert_eq!(of_a.len(), 2, "{docs:?}");
    assert!(
        of_a.iter()
            .any(|d| d["title"] == "Rust drafts" && d["status"] == "draft")
    );

    // A's visitors and students find A's published course only; A's staff also the draft; B's
    // visitors B's course only.
    let visitor = env.visit(a, SEARCH, json!({ "q": "rust" })).await;
    assert_eq!(titles(&visitor), ["Rust for teachers"], "{visitor}");
    let student = env
        .gql(Some(&student_a), SEARCH, json!({ "q": "rust" }))
        .await;
    assert_eq!(titles(&student), ["Rust for teachers"], "{student}");
    let staff = env
        .gql(Some(&admin_a), SEARCH, json!({ "q": "rust" }))
        .await;
    assert_eq!(
        titles(&staff),
        ["Rust drafts", "Rust for teachers"],
        "{staff}"
    );
    let other = env.visit(b, SEARCH, json!({ "q": "rust" })).await;
    assert_eq!(titles(&other), ["Rust in another academy"], "{other}");

    // Each search went out with a short-lived tenant token (never the admin or search key)
    // whose rules name the caller's academy.
    let sent = searches(&meili);
    assert_eq!(sent.len(), 4);
    let rules: Vec<String> = sent
        .iter()
        .map(|(_, c)| {
            c["searchRules"]["courses"]["filter"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(
        rules,
        [
            format!("tenant_id = '{a}' AND status = 'published'"),
            format!("tenant_id = '{a}' AND status = 'published'"),
            format!("tenant_id = '{a}'"),
            format!("tenant_id = '{b}' AND status = 'published'"),
        ]
    );
    for (request, claims) in &sent {
        assert_eq!(claims["apiKeyUid"], SEARCH_KEY_UID, "{claims}");
        assert!(claims["exp"].as_i64().is_some_and(|e| e > 0), "{claims}");
        assert_eq!(request.body["q"], "rust");
        assert!(
            request.body.get("filter").is_none_or(Value::is_null),
            "{:?}",
            request.body
        );
    }

    // What a visitor types is only the query text: the token's rules are unchanged.
    let sneaky = env
        .visit(a, SEARCH, json!({ "q": "rust' OR tenant_id != 'x" }))
        .await;
    assert!(
        titles(&sneaky).iter().all(|t| t == "Rust for teachers"),
        "{sneaky}"
    );
    let (last, claims) = searches(&meili).pop().expect("a search");
    assert_eq!(last.body["q"], "rust' OR tenant_id != 'x");
    assert_eq!(
        claims["searchRules"]["courses"]["filter"],
        format!("tenant_id = '{a}' AND status = 'published'")
    );

    // Deleting the draft removes its document.
    let body = env
        .gql(
            Some(&admin_a),
            "mutation($id: ID!) { deleteCourse(id: $id) }",
            json!({ "id": draft }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let docs = indexed(&meili, 2).await;
    assert!(docs.iter().all(|d| d["title"] != "Rust drafts"), "{docs:?}");

    // Meilisearch unreachable: a clear, retryable error, nothing internal.
    meili.stop().await;
    let body = env.visit(a, SEARCH, json!({ "q": "rust" })).await;
    assert_eq!(code(&body), "UNAVAILABLE", "{body}");
    assert!(!body.to_string().contains("127.0.0.1"), "{body}");
}
