//! Role changes: owners and admins manage roles, an admin can never demote an owner or mint a
//! new one, the last owner keeps ownership, and another tenant cannot touch the users.

mod common;

use common::{Env, code};
use serde_json::json;
use tenancy::Role;

const CHANGE: &str =
    "mutation($id: ID!, $r: [Role!]!) { changeUserRoles(id: $id, roles: $r) { id roles } }";

#[tokio::test]
async fn roles_change_within_the_owner_rules() {
    let env = Env::start().await;
    let a = env.tenant("alpha").await;
    let b = env.tenant("beta").await;
    let admin_id = env.user(&a, "admin@alpha.test", &[Role::Admin]).await;
    let student = env.user(&a, "stu@alpha.test", &[Role::Student]).await;
    let owner = env.token(a.id, a.owner, &[Role::Owner]);
    let admin = env.token(a.id, admin_id, &[Role::Admin]);
    let change = |token: String, id: String, roles: serde_json::Value| {
        let env = &env;
        async move {
            env.gql(Some(&token), CHANGE, json!({ "id": id, "r": roles }))
                .await
        }
    };

    let body = change(
        admin.clone(),
        student.to_string(),
        json!(["INSTRUCTOR", "STUDENT"]),
    )
    .await;
    assert_eq!(
        body["data"]["changeUserRoles"]["roles"],
        json!(["INSTRUCTOR", "STUDENT"]),
        "{body}"
    );

    // An admin demoting the owner, or minting an owner, is refused.
    let body = change(admin.clone(), a.owner.to_string(), json!(["STUDENT"])).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = change(admin.clone(), student.to_string(), json!(["OWNER"])).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = change(
        admin.clone(),
        admin_id.to_string(),
        json!(["PLATFORM_STAFF"]),
    )
    .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let body = change(
        env.token(a.id, student, &[Role::Student]),
        student.to_string(),
        json!(["ADMIN"]),
    )
    .await;
    assert_eq!(
        code(&body),
        "FORBIDDEN",
        "students cannot promote themselves"
    );

    // The last owner cannot leave ownership; with a second owner they can.
    let body = change(owner.clone(), a.owner.to_string(), json!(["ADMIN"])).await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    let body = change(owner.clone(), admin_id.to_string(), json!(["OWNER"])).await;
    assert_eq!(
        body["data"]["changeUserRoles"]["roles"],
        json!(["OWNER"]),
        "{body}"
    );
    let body = change(owner.clone(), a.owner.to_string(), json!(["ADMIN"])).await;
    assert_eq!(
        body["data"]["changeUserRoles"]["roles"],
        json!(["ADMIN"]),
        "{body}"
    );

    // Tenant B's owner cannot reach tenant A's users.
    let b_owner = env.token(b.id, b.owner, &[Role::Owner]);
    let body = change(b_owner, student.to_string(), json!(["ADMIN"])).await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");

    let new_owner = env.token(a.id, admin_id, &[Role::Owner]);
    let audit = env
        .gql(
            Some(&new_owner),
            "{ auditLog(filter: { action: \"user.roles_change\" }) { edges { node { subject detail } } } }",
            json!({}),
        )
        .await;
    let edges = audit["data"]["auditLog"]["edges"]
        .as_array()
        .expect("edges");
    assert_eq!(edges.len(), 3, "only the changes that happened: {audit}");
    assert_eq!(edges[0]["node"]["detail"]["from"], json!(["student"]));
    assert_eq!(
        edges[0]["node"]["detail"]["to"],
        json!(["instructor", "student"])
    );
}
