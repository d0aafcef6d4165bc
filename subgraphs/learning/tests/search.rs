//! Catalog search over PostgreSQL full-text search: anonymous visitors of an academy find its
//! published courses (by prefix, by stem, in summary and tags), staff also drafts, no academy
//! finds another's, and pages are stable.

mod common;

use common::*;
use serde_json::{Value, json};
use tenancy::{Role, TenantId};

const SEARCH: &str = "query($q: String!, $first: Int, $after: String) {
  searchCourses(query: $q, first: $first, after: $after) {
    edges { cursor node { title } } pageInfo { hasNextPage } } }";

fn titles(body: &Value) -> Vec<String> {
    body["data"]["searchCourses"]["edges"]
        .as_array()
        .map(|es| {
            es.iter()
                .map(|e| e["node"]["title"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn course(env: &Env, admin: &TestUser, input: Value, publish: bool) -> String {
    let body = env.gql(Some(admin), CREATE, json!({ "i": input })).await;
    let id = body["data"]["createCourse"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("created: {body}"))
        .to_owned();
    if publish {
        let module = add_module(env, admin, &id, "Only module").await;
        add_lesson(env, admin, &module, "Only lesson", false).await;
        let body = env
            .gql(
                Some(admin),
                PRICE,
                json!({ "id": id, "p": { "amountCents": 0, "currency": "EUR" } }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
        let body = env.gql(Some(admin), PUBLISH, json!({ "id": id })).await;
        assert!(body["errors"].is_null(), "{body}");
    }
    id
}

#[tokio::test]
async fn visitors_find_their_academys_published_courses_and_nothing_else() {
    let env = Env::start().await;
    let a = TenantId::generate();
    let b = TenantId::generate();
    let admin_a = env.keys.user(a, &[Role::Admin]);
    let admin_b = env.keys.user(b, &[Role::Admin]);
    course(
        &env,
        &admin_a,
        json!({ "title": "Rust for Educators", "tags": ["systems"],
        "summary": "Ownership and borrowing, explained for teachers." }),
        true,
    )
    .await;
    course(
        &env,
        &admin_a,
        json!({ "title": "Running workshops" }),
        true,
    )
    .await;
    course(&env, &admin_a, json!({ "title": "Rust secrets" }), false).await;
    course(
        &env,
        &admin_b,
        json!({ "title": "Rust in production" }),
        true,
    )
    .await;

    let search = |tenant: TenantId, q: &str| {
        let env = &env;
        let q = q.to_owned();
        async move { env.visit(tenant, SEARCH, json!({ "q": q })).await }
    };
    assert_eq!(titles(&search(a, "rust").await), vec!["Rust for Educators"]);
    assert_eq!(
        titles(&search(a, "RUST educ").await),
        vec!["Rust for Educators"]
    );
    assert_eq!(
        titles(&search(a, "borrowing").await),
        vec!["Rust for Educators"]
    );
    assert_eq!(
        titles(&search(a, "systems").await),
        vec!["Rust for Educators"]
    );
    // English stemming: "runs" finds "Running", which a prefix alone would not.
    assert_eq!(titles(&search(a, "runs").await), vec!["Running workshops"]);
    assert_eq!(titles(&search(a, "python").await), Vec::<String>::new());
    // Another academy's address finds only its own.
    assert_eq!(titles(&search(b, "rust").await), vec!["Rust in production"]);
    // Staff find drafts too; the title match ranks first.
    let body = env
        .gql(Some(&admin_a), SEARCH, json!({ "q": "rust" }))
        .await;
    let mut found = titles(&body);
    found.sort();
    assert_eq!(found, vec!["Rust for Educators", "Rust secrets"], "{body}");

    let body = search(a, " -- ").await;
    assert_eq!(
        (code(&body), field(&body)),
        ("BAD_USER_INPUT", "query"),
        "{body}"
    );
    let body = env
        .visit(a, SEARCH, json!({ "q": "rust", "after": "garbage" }))
        .await;
    assert_eq!(
        (code(&body), field(&body)),
        ("BAD_USER_INPUT", "after"),
        "{body}"
    );
    let body = env
        .visit(a, SEARCH, json!({ "q": "rust", "first": 500 }))
        .await;
    assert_eq!(
        (code(&body), field(&body)),
        ("BAD_USER_INPUT", "first"),
        "{body}"
    );
}

#[tokio::test]
async fn search_pages_are_stable_and_complete() {
    let env = Env::start().await;
    let tenant = TenantId::generate();
    let admin = env.keys.user(tenant, &[Role::Admin]);
    for i in 0..5 {
        course(
            &env,
            &admin,
            json!({ "title": format!("Algebra {i}") }),
            false,
        )
        .await;
    }
    let mut seen: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    for page in 0..3 {
        let body = env
            .gql(
                Some(&admin),
                SEARCH,
                json!({ "q": "algebra", "first": 2, "after": after }),
            )
            .await;
        let edges = body["data"]["searchCourses"]["edges"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(edges.len(), if page < 2 { 2 } else { 1 }, "{body}");
        assert_eq!(
            body["data"]["searchCourses"]["pageInfo"]["hasNextPage"],
            page < 2
        );
        seen.extend(titles(&body));
        after = edges
            .last()
            .and_then(|e| e["cursor"].as_str())
            .map(str::to_owned);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5, "{seen:?}");
}
