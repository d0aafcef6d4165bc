//! Platform staff suspending and resuming tenants through the audited platform path: the
//! suspended tenant's unexpired tokens stop working at once, its users cannot sign in or
//! refresh, and only staff, with a reason, can do it.

mod common;

use common::{Env, PASSWORD, REFRESH, code};
use identity::service::tenants;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;
use tenancy::{Role, TenantId, UserId};

const VIEWER: &str = "{ viewer { id } tenant { slug status } }";
const SUSPEND: &str =
    "mutation($id: ID!, $r: String!) { suspendTenant(id: $id, reason: $r) { slug status } }";
const RESUME: &str =
    "mutation($id: ID!, $r: String!) { resumeTenant(id: $id, reason: $r) { slug status } }";

async fn staff(env: &Env) -> String {
    let user = tenants::seed_user(
        &env.identity.db,
        TenantId::PLATFORM,
        "staff@aula.test",
        "Sam Staff",
        &[Role::PlatformStaff],
        Some(PASSWORD),
    )
    .await
    .expect("staff user");
    env.token(
        TenantId::PLATFORM,
        UserId::from_uuid(user.id),
        &[Role::PlatformStaff],
    )
}

#[tokio::test]
async fn a_suspended_tenant_is_locked_out_at_once_and_comes_back_on_resume() {
    let env = Env::start().await;
    let a = env.tenant("alpha").await;
    let b = env.tenant("beta").await;
    let staff = staff(&env).await;

    // Staff sign in to the platform tenant like anyone else.
    let signed = env.sign_in("platform", "staff@aula.test", PASSWORD).await;
    assert_eq!(
        signed["data"]["signIn"]["user"]["roles"],
        json!(["PLATFORM_STAFF"]),
        "{signed}"
    );

    let session = env.sign_in("alpha", &a.owner_email, PASSWORD).await;
    let a_token = session["data"]["signIn"]["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let a_refresh = session["data"]["signIn"]["refreshToken"]
        .as_str()
        .expect("rt")
        .to_owned();
    let b_token = env.token(b.id, b.owner, &[Role::Owner]);
    assert!(env.gql(Some(&a_token), VIEWER, json!({})).await["errors"].is_null());

    // Nobody but staff suspends, and staff must say why.
    let body = env
        .gql(
            Some(&a_token),
            SUSPEND,
            json!({ "id": b.id.to_string(), "r": "spite" }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = env
        .gql(
            Some(&staff),
            SUSPEND,
            json!({ "id": a.id.to_string(), "r": "  " }),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let body = env
        .gql(
            Some(&staff),
            SUSPEND,
            json!({ "id": TenantId::PLATFORM.to_string(), "r": "oops" }),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");

    let body = env
        .gql(
            Some(&staff),
            SUSPEND,
            json!({ "id": a.id.to_string(), "r": "chargeback fraud, ticket 42" }),
        )
        .await;
    assert_eq!(
        body["data"]["suspendTenant"],
        json!({ "slug": "alpha", "status": "SUSPENDED" }),
        "{body}"
    );

    // The still-unexpired token is refused at once; so are refresh and sign-in.
    let (status, body) = harness::gql_with(&env.server, Some(&a_token), VIEWER, json!({})).await;
    assert_eq!((status, code(&body)), (401, "UNAUTHENTICATED"), "{body}");
    let body = env.gql(None, REFRESH, json!({ "t": a_refresh })).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = env.sign_in("alpha", &a.owner_email, PASSWORD).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    // Tenant B is unaffected.
    assert!(env.gql(Some(&b_token), VIEWER, json!({})).await["errors"].is_null());

    // Redis losing the flag is repaired from the database at start-up.
    kit::revocation::set_suspended(&env.identity.redis, a.id, false, &env.identity.suspensions)
        .await
        .expect("clear");
    let synced = identity::service::platform::sync_suspensions(&env.identity)
        .await
        .expect("sync");
    assert_eq!(synced, 1);
    let (status, _) = harness::gql_with(&env.server, Some(&a_token), VIEWER, json!({})).await;
    assert_eq!(status, 401, "the flag is back");

    let body = env
        .gql(
            Some(&staff),
            RESUME,
            json!({ "id": a.id.to_string(), "r": "refund settled" }),
        )
        .await;
    assert_eq!(body["data"]["resumeTenant"]["status"], "ACTIVE", "{body}");
    let me = env.gql(Some(&a_token), VIEWER, json!({})).await;
    assert_eq!(me["data"]["tenant"]["status"], "ACTIVE", "{me}");
    assert_eq!(
        env.sign_in("alpha", &a.owner_email, PASSWORD).await["data"]["signIn"]["__typename"],
        "Session"
    );

    // The tenant sees what staff did and why; the platform log has who crossed tenants.
    let audit = env
        .gql(
            Some(&a_token),
            "{ auditLog(filter: { action: \"platform\" }) { edges { node { action actorKind detail } } } }",
            json!({}),
        )
        .await;
    let edges = audit["data"]["auditLog"]["edges"]
        .as_array()
        .expect("edges");
    assert_eq!(edges.len(), 2, "{audit}");
    assert_eq!(edges[0]["node"]["action"], "platform.tenant_suspend");
    assert_eq!(edges[0]["node"]["actorKind"], "platform");
    assert_eq!(
        edges[0]["node"]["detail"]["reason"],
        "chargeback fraud, ticket 42"
    );
    let admin = env.db.admin().await;
    let logged = admin
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM platform.access_log WHERE reason = 'chargeback fraud, ticket 42'",
        ))
        .await
        .expect("query")
        .expect("row");
    assert_eq!(logged.try_get::<i64>("", "n").expect("n"), 1);
}

#[tokio::test]
async fn only_staff_list_every_tenant() {
    let env = Env::start().await;
    let a = env.tenant("alpha").await;
    env.tenant("beta").await;
    let staff = staff(&env).await;
    let q = "query($r: String!) { platformTenants(reason: $r, first: 10) { edges { node { slug status } } } }";
    let body = env
        .gql(Some(&staff), q, json!({ "r": "weekly review" }))
        .await;
    let slugs: Vec<&str> = body["data"]["platformTenants"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter_map(|e| e["node"]["slug"].as_str())
        .collect();
    assert!(
        slugs.contains(&"alpha") && slugs.contains(&"beta") && slugs.contains(&"platform"),
        "{body}"
    );
    let owner = env.token(a.id, a.owner, &[Role::Owner]);
    let body = env.gql(Some(&owner), q, json!({ "r": "curious" })).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    // A tenant user claiming the staff role in their own tenant is refused outright.
    let forged = env.token(a.id, a.owner, &[Role::PlatformStaff]);
    let (status, _) = harness::gql_with(&env.server, Some(&forged), q, json!({ "r": "x" })).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn tenant_routes_resolve_public_names_and_report_suspension() {
    let env = Env::start().await;
    let a = env.tenant("alpha").await;
    env.tenant("beta").await;
    let staff = staff(&env).await;
    let route = |name: &str| {
        let url = env.server.at("/tenants/route");
        let name = name.to_owned();
        async move {
            let url = reqwest::Url::parse_with_params(&url, [("name", name)]).expect("url");
            let resp = kit::server::http_client()
                .get(url)
                .send()
                .await
                .expect("route");
            let status = resp.status().as_u16();
            (
                status,
                resp.json::<serde_json::Value>().await.expect("json"),
            )
        }
    };
    for name in ["alpha", "ALPHA.aula.localhost", "alpha.aula.localhost:8080"] {
        let (status, body) = route(name).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(
            body,
            json!({ "id": a.id.to_string(), "slug": "alpha", "status": "active" }),
            "{name}"
        );
    }
    for name in ["gamma", "gamma.aula.localhost", "alpha.evil.test", ""] {
        let (status, body) = route(name).await;
        assert_eq!(status, 404, "{name}: {body}");
    }
    let missing = kit::server::http_client()
        .get(env.server.at("/tenants/route"))
        .send()
        .await
        .expect("route");
    assert_eq!(missing.status().as_u16(), 400);

    let body = env
        .gql(
            Some(&staff),
            SUSPEND,
            json!({ "id": a.id.to_string(), "r": "route test" }),
        )
        .await;
    assert_eq!(
        body["data"]["suspendTenant"]["status"], "SUSPENDED",
        "{body}"
    );
    let (status, body) = route("alpha").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "suspended", "{body}");
    let (_, body) = route("beta").await;
    assert_eq!(body["status"], "active", "{body}");
}
