//! The identity subgraph over real HTTP on a real database: the viewer, the directory with Relay
//! pagination and permissions, profile edits with validation, and cross-tenant attacks on every
//! query, entity lookup and mutation.

mod common;

use common::{Env, code};
use harness::{TestDb, TestServer, gql};
use identity::service::tenants::{self, NewTenant};
use serde_json::{Value, json};
use tenancy::{Role, TenantId, UserId};

struct World {
    env: Env,
    a: TenantId,
    a_owner: UserId,
    a_student: UserId,
    b: TenantId,
    b_owner: UserId,
}

async fn world() -> World {
    let env = Env::start().await;
    let a = env.tenant("alpha").await;
    let b = env.tenant("beta").await;
    let a_student = env.user(&a, "student@alpha.test", &[Role::Student]).await;
    for i in 0..4 {
        env.user(&a, &format!("user{i}@alpha.test"), &[Role::Instructor])
            .await;
    }
    World {
        a: a.id,
        a_owner: a.owner,
        a_student,
        b: b.id,
        b_owner: b.owner,
        env,
    }
}

impl World {
    fn server(&self) -> &TestServer {
        &self.env.server
    }
    fn token(&self, tenant: TenantId, user: UserId, roles: &[Role]) -> String {
        self.env.token(tenant, user, roles)
    }
    fn a_owner(&self) -> String {
        self.token(self.a, self.a_owner, &[Role::Owner])
    }
    fn b_owner(&self) -> String {
        self.token(self.b, self.b_owner, &[Role::Owner])
    }
    fn a_student(&self) -> String {
        self.token(self.a, self.a_student, &[Role::Student])
    }
}

const USERS: &str = "query($first: Int, $after: String, $last: Int, $before: String) {
  users(first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { id displayName email } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

#[tokio::test]
async fn the_viewer_sees_themself_and_their_tenant() {
    let w = world().await;
    let body = gql(
        w.server(),
        Some(&w.a_owner()),
        "{ viewer { id displayName email roles } tenant { id name slug } }",
        json!({}),
    )
    .await;
    assert_eq!(
        body["data"]["viewer"]["id"],
        w.a_owner.to_string(),
        "{body}"
    );
    assert_eq!(body["data"]["viewer"]["email"], "owner@alpha.test");
    assert_eq!(body["data"]["viewer"]["roles"], json!(["OWNER"]));
    assert_eq!(
        body["data"]["tenant"],
        json!({ "id": w.a.to_string(), "name": "alpha academy", "slug": "alpha" })
    );

    let body = gql(w.server(), None, "{ viewer { id } }", json!({})).await;
    assert_eq!(code(&body), "UNAUTHENTICATED");
}

#[tokio::test]
async fn the_directory_paginates_forwards_and_backwards() {
    let w = world().await;
    let token = w.a_owner();
    let page = |vars: Value| {
        let server = w.server();
        let token = token.clone();
        async move { gql(server, Some(&token), USERS, vars).await }
    };
    let first = page(json!({ "first": 4 })).await;
    let conn = &first["data"]["users"];
    assert_eq!(conn["edges"].as_array().map(Vec::len), Some(4), "{first}");
    assert_eq!(
        conn["edges"][0]["node"]["displayName"], "alpha owner",
        "oldest first"
    );
    assert_eq!(conn["pageInfo"]["hasNextPage"], true);
    assert_eq!(conn["pageInfo"]["hasPreviousPage"], false);

    let rest = page(json!({ "first": 4, "after": conn["pageInfo"]["endCursor"] })).await;
    let rest_conn = &rest["data"]["users"];
    assert_eq!(
        rest_conn["edges"].as_array().map(Vec::len),
        Some(2),
        "6 users in tenant A: {rest}"
    );
    assert_eq!(rest_conn["pageInfo"]["hasNextPage"], false);
    assert_eq!(rest_conn["pageInfo"]["hasPreviousPage"], true);

    let back = page(json!({ "last": 2, "before": rest_conn["pageInfo"]["startCursor"] })).await;
    let back_edges = back["data"]["users"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(back_edges.len(), 2);
    assert_eq!(
        back_edges[1]["cursor"], conn["pageInfo"]["endCursor"],
        "the page just before, in order"
    );
    assert_eq!(back["data"]["users"]["pageInfo"]["hasPreviousPage"], true);

    let all: Vec<Value> = [
        first["data"]["users"]["edges"].clone(),
        rest["data"]["users"]["edges"].clone(),
    ]
    .iter()
    .flat_map(|e| e.as_array().cloned().unwrap_or_default())
    .collect();
    let mut ids: Vec<&str> = all
        .iter()
        .filter_map(|e| e["node"]["id"].as_str())
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 6, "no duplicates and no gaps");

    for (vars, field) in [
        (json!({ "first": 2, "last": 2 }), "last"),
        (json!({ "first": 1000 }), "first"),
        (json!({ "after": "garbage" }), "after"),
    ] {
        let body = page(vars).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field);
    }
}

#[tokio::test]
async fn only_staff_and_scoped_partners_list_users_and_see_emails() {
    let w = world().await;
    let body = gql(w.server(), Some(&w.a_student()), USERS, json!({})).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = gql(w.server(), None, USERS, json!({})).await;
    assert_eq!(code(&body), "UNAUTHENTICATED");

    let partner = w.env.partner(w.a, "cli_sync", "identity:users:read");
    let body = gql(w.server(), Some(&partner), USERS, json!({ "first": 1 })).await;
    assert!(body["errors"].is_null(), "{body}");
    let unscoped = w.env.partner(w.a, "cli_other", "crm:read");
    assert_eq!(
        code(&gql(w.server(), Some(&unscoped), USERS, json!({})).await),
        "FORBIDDEN"
    );

    // A student can see a colleague's name but not their email or roles.
    let q = "query($id: ID!) { user(id: $id) { displayName email roles } }";
    let body = gql(
        w.server(),
        Some(&w.a_student()),
        q,
        json!({ "id": w.a_owner.to_string() }),
    )
    .await;
    assert_eq!(
        body["data"]["user"],
        json!({ "displayName": "alpha owner", "email": null, "roles": [] })
    );
    let body = gql(
        w.server(),
        Some(&w.a_owner()),
        q,
        json!({ "id": w.a_student.to_string() }),
    )
    .await;
    assert_eq!(body["data"]["user"]["email"], "student@alpha.test");
}

#[tokio::test]
async fn profile_edits_are_validated_and_bad_input_changes_nothing() {
    let w = world().await;
    let m =
        "mutation($name: String!) { updateProfile(input: { displayName: $name }) { displayName } }";
    let body = gql(
        w.server(),
        Some(&w.a_student()),
        m,
        json!({ "name": "  Sam Student  " }),
    )
    .await;
    assert_eq!(
        body["data"]["updateProfile"]["displayName"], "Sam Student",
        "{body}"
    );

    for bad in ["", "   ", &"x".repeat(101), "bell\u{7}"] {
        let body = gql(w.server(), Some(&w.a_student()), m, json!({ "name": bad })).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{bad:?}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "displayName");
    }
    let body = gql(
        w.server(),
        Some(&w.a_student()),
        "{ viewer { displayName } }",
        json!({}),
    )
    .await;
    assert_eq!(
        body["data"]["viewer"]["displayName"], "Sam Student",
        "nothing half-written"
    );

    let body = gql(w.server(), None, m, json!({ "name": "Anon" })).await;
    assert_eq!(code(&body), "UNAUTHENTICATED");
}

#[tokio::test]
async fn tenant_b_cannot_reach_tenant_a_by_any_route() {
    let w = world().await;
    let b = w.b_owner();
    let a_user = w.a_student.to_string();

    // Guessing an id.
    let body = gql(
        w.server(),
        Some(&b),
        "query($id: ID!) { user(id: $id) { id } }",
        json!({ "id": a_user }),
    )
    .await;
    assert_eq!(body["data"]["user"], Value::Null, "{body}");

    // Listing.
    let body = gql(w.server(), Some(&b), USERS, json!({ "first": 100 })).await;
    let edges = body["data"]["users"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(edges.len(), 1, "only B's owner: {body}");
    assert_eq!(edges[0]["node"]["id"], w.b_owner.to_string());

    // Federation entity lookups of A's user and A's tenant.
    let entities = "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id } ... on Tenant { id name } } }";
    let reps = json!([{ "__typename": "User", "id": a_user }, { "__typename": "Tenant", "id": w.a.to_string() }]);
    let body = gql(w.server(), Some(&b), entities, json!({ "r": reps })).await;
    assert_eq!(body["data"]["_entities"], json!([null, null]), "{body}");
    // Many references load in one batch: B's own user resolves, A's stays unseen.
    let batch = json!([{ "__typename": "User", "id": w.b_owner.to_string() }, { "__typename": "User", "id": a_user }]);
    let body = gql(w.server(), Some(&b), entities, json!({ "r": batch })).await;
    assert_eq!(
        body["data"]["_entities"],
        json!([{ "id": w.b_owner.to_string() }, null]),
        "{body}"
    );
    let body = gql(
        w.server(),
        Some(&w.a_owner()),
        entities,
        json!({ "r": reps }),
    )
    .await;
    assert_eq!(
        body["data"]["_entities"][0]["id"], a_user,
        "A itself resolves them: {body}"
    );

    // A token for tenant B naming a user id of tenant A acts on nothing in A.
    let spoofed = w.token(w.b, w.a_student, &[Role::Student]);
    let m = "mutation { updateProfile(input: { displayName: \"Hijacked\" }) { displayName } }";
    let body = gql(w.server(), Some(&spoofed), m, json!({})).await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    let body = gql(
        w.server(),
        Some(&w.a_student()),
        "{ viewer { displayName } }",
        json!({}),
    )
    .await;
    assert_eq!(
        body["data"]["viewer"]["displayName"], "student",
        "A's user untouched"
    );
    let body = gql(w.server(), Some(&spoofed), "{ viewer { id } }", json!({})).await;
    assert_eq!(code(&body), "NOT_FOUND");
}

#[tokio::test]
async fn tenant_creation_validates_and_reports_conflicts() {
    let db = TestDb::new().await;
    let conn = db.service("identity").await;
    let new = |slug: &str, email: &str| NewTenant {
        id: None,
        owner_id: None,
        name: "Acme".into(),
        slug: slug.into(),
        owner_email: email.into(),
        owner_name: "Owner".into(),
        owner_password: None,
    };
    tenants::create_with_owner(&conn, new("acme", "o@acme.test"))
        .await
        .expect("created");
    let err = tenants::create_with_owner(&conn, new("acme", "p@acme.test"))
        .await
        .expect_err("slug taken");
    assert!(
        matches!(err, identity::IdentityError::Conflict { field: "slug", .. }),
        "{err:?}"
    );
    let err = tenants::create_with_owner(&conn, new("www", "o@acme.test"))
        .await
        .expect_err("reserved");
    assert!(
        matches!(err, identity::IdentityError::Invalid { field: "slug", .. }),
        "{err:?}"
    );
    let err = tenants::create_with_owner(&conn, new("fine", "not-an-email"))
        .await
        .expect_err("email");
    assert!(
        matches!(err, identity::IdentityError::Invalid { field: "email", .. }),
        "{err:?}"
    );
    let err = tenants::create_with_owner(
        &conn,
        NewTenant {
            id: Some(TenantId::PLATFORM),
            ..new("plat", "o@p.test")
        },
    )
    .await
    .expect_err("reserved id");
    assert!(
        matches!(err, identity::IdentityError::Invalid { field: "id", .. }),
        "{err:?}"
    );

    let (tenant, _) = tenants::create_with_owner(&conn, new("other", "x@other.test"))
        .await
        .expect("created");
    let t = TenantId::from_uuid(tenant.tenant_id);
    tenants::seed_user(&conn, t, "Dup@Other.test", "Dup", &[Role::Student], None)
        .await
        .expect("user");
    let err = tenants::seed_user(&conn, t, "dup@other.TEST", "Dup 2", &[Role::Student], None)
        .await
        .expect_err("dup");
    assert!(
        matches!(
            err,
            identity::IdentityError::Conflict { field: "email", .. }
        ),
        "case-insensitive: {err:?}"
    );
    // The same address in another tenant is a different person.
    tenants::seed_user(
        &conn,
        TenantId::from_uuid(tenant.tenant_id),
        "y@other.test",
        "Y",
        &[],
        None,
    )
    .await
    .expect("ok");
}

#[test]
fn the_sdl_is_federation_v2_with_entities() {
    let sdl = kit::graphql::sdl(identity::schema());
    assert!(sdl.contains("extend schema @link("), "{sdl}");
    assert!(
        sdl.contains("url: \"https://specs.apollo.dev/federation/v2"),
        "{sdl}"
    );
    assert!(sdl.contains("type User @key(fields: \"id\")"), "{sdl}");
    assert!(sdl.contains("type Tenant @key(fields: \"id\")"), "{sdl}");
}
