//! Enrollments and progress end to end: a student enrolls in a free course, reads its lessons
//! only once enrolled, completes it exactly once even when completions race, and staff reset,
//! revoke and re-enroll; paid courses wait for payment. Students see only their own
//! enrollments and progress, and tenant B reaches none of tenant A's.

mod common;

use common::*;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use tenancy::{Role, TenantId};

const ENROLL: &str = "mutation($c: ID!) { enroll(courseId: $c) { id status source } }";
const STEP: &str = "mutation($l: ID!) { completeLesson(lessonId: $l) { progress { completedAt } enrollment { status completedAt } } }";
const MINE: &str = "{ myEnrollments(first: 10) { edges { node { id status course { title } progress { lessonId completedAt videoPositionSecs } } } } }";
const BODIES: &str = "query($id: ID!) { course(id: $id) { modules { lessons { title body } } } }";

fn bodies(body: &Value) -> Vec<bool> {
    body["data"]["course"]["modules"][0]["lessons"]
        .as_array()
        .map(|ls| ls.iter().map(|l| !l["body"].is_null()).collect())
        .unwrap_or_default()
}

/// How many `topic` events the outbox holds for `enrollment`, read as the database admin.
async fn events(env: &Env, topic: &str, enrollment: &str) -> usize {
    let admin = env.db.admin().await;
    let row = admin
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM learning.outbox WHERE topic = $1 AND payload->>'enrollmentId' = $2",
            [topic.into(), enrollment.into()],
        ))
        .await
        .expect("outbox")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("count") as usize
}

#[tokio::test]
async fn a_student_enrolls_learns_and_completes_a_free_course_exactly_once() {
    let env = Env::start().await;
    let tenant = TenantId::generate();
    let admin = env.keys.user(tenant, &[Role::Admin]);
    let student = env.keys.user(tenant, &[Role::Student]);
    let (course, lessons) = published(
        &env,
        &admin,
        "Free course",
        0,
        &[("One", true), ("Two", true), ("Extra", false)],
    )
    .await;

    // Before enrolling only the free preview is readable.
    let body = env
        .gql(Some(&student), BODIES, json!({ "id": course }))
        .await;
    assert_eq!(bodies(&body), vec![true, false, false], "{body}");
    // Progress needs an enrollment.
    let body = env
        .gql(Some(&student), STEP, json!({ "l": lessons[0] }))
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");

    let body = env
        .gql(Some(&student), ENROLL, json!({ "c": course }))
        .await;
    assert_eq!(body["data"]["enroll"]["status"], "ACTIVE", "{body}");
    assert_eq!(body["data"]["enroll"]["source"], "FREE");
    let enrollment = body["data"]["enroll"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let again = env
        .gql(Some(&student), ENROLL, json!({ "c": course }))
        .await;
    assert_eq!(
        again["data"]["enroll"]["id"],
        enrollment.as_str(),
        "idempotent: {again}"
    );
    assert_eq!(events(&env, "enrollment.activated", &enrollment).await, 1);

    let body = env
        .gql(Some(&student), BODIES, json!({ "id": course }))
        .await;
    assert_eq!(bodies(&body), vec![true, true, true], "{body}");

    let body = env
        .gql(
            Some(&student),
            "mutation($l: ID!) { recordVideoPosition(lessonId: $l, seconds: 42) { progress { videoPositionSecs completedAt } } }",
            json!({ "l": lessons[0] }),
        )
        .await;
    assert_eq!(
        body["data"]["recordVideoPosition"]["progress"]["videoPositionSecs"], 42,
        "{body}"
    );
    let body = env
        .gql(
            Some(&student),
            "mutation($l: ID!) { recordVideoPosition(lessonId: $l, seconds: -1) { progress { videoPositionSecs } } }",
            json!({ "l": lessons[0] }),
        )
        .await;
    assert_eq!(
        (code(&body), field(&body)),
        ("BAD_USER_INPUT", "seconds"),
        "{body}"
    );

    for lesson in [&lessons[0], &lessons[2]] {
        let body = env.gql(Some(&student), STEP, json!({ "l": lesson })).await;
        assert_eq!(
            body["data"]["completeLesson"]["enrollment"]["status"], "ACTIVE",
            "{body}"
        );
    }
    // The last required lesson, completed twice at once: one completion, one event.
    let (a, b) = tokio::join!(
        env.gql(Some(&student), STEP, json!({ "l": lessons[1] })),
        env.gql(Some(&student), STEP, json!({ "l": lessons[1] })),
    );
    for body in [&a, &b] {
        assert_eq!(
            body["data"]["completeLesson"]["enrollment"]["status"], "COMPLETED",
            "{body}"
        );
    }
    assert_eq!(
        a["data"]["completeLesson"]["enrollment"]["completedAt"],
        b["data"]["completeLesson"]["enrollment"]["completedAt"]
    );
    assert_eq!(events(&env, "enrollment.completed", &enrollment).await, 1);

    let body = env.gql(Some(&student), MINE, json!({})).await;
    let node = &body["data"]["myEnrollments"]["edges"][0]["node"];
    assert_eq!(node["status"], "COMPLETED", "{body}");
    assert_eq!(node["course"]["title"], "Free course");
    assert_eq!(node["progress"].as_array().map(Vec::len), Some(3));

    // Staff reset the progress (recorded with who did it): active again, nothing done.
    let body = env
        .gql(
            Some(&admin),
            "mutation($e: ID!) { resetProgress(enrollmentId: $e) { status progress { lessonId } } }",
            json!({ "e": enrollment }),
        )
        .await;
    assert_eq!(body["data"]["resetProgress"]["status"], "ACTIVE", "{body}");
    assert_eq!(body["data"]["resetProgress"]["progress"], json!([]));
    assert_eq!(
        events(&env, "enrollment.progress_reset", &enrollment).await,
        1
    );
    // A student cannot reset or revoke.
    let body = env
        .gql(
            Some(&student),
            "mutation($e: ID!) { resetProgress(enrollmentId: $e) { id } }",
            json!({ "e": enrollment }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");

    // Revoked: no more lessons, no self-service way back; staff can enroll again.
    let body = env
        .gql(
            Some(&admin),
            "mutation($e: ID!) { revokeEnrollment(id: $e) { status } }",
            json!({ "e": enrollment }),
        )
        .await;
    assert_eq!(
        body["data"]["revokeEnrollment"]["status"], "REVOKED",
        "{body}"
    );
    let body = env
        .gql(Some(&student), STEP, json!({ "l": lessons[0] }))
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    let body = env
        .gql(Some(&student), ENROLL, json!({ "c": course }))
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = env
        .gql(Some(&student), BODIES, json!({ "id": course }))
        .await;
    assert_eq!(bodies(&body), vec![true, false, false], "{body}");
    let body = env
        .gql(
            Some(&admin),
            "mutation($c: ID!, $s: ID!) { enrollStudent(courseId: $c, studentId: $s) { id status source } }",
            json!({ "c": course, "s": student.id.to_string() }),
        )
        .await;
    assert_eq!(
        body["data"]["enrollStudent"]["id"],
        enrollment.as_str(),
        "{body}"
    );
    assert_eq!(body["data"]["enrollStudent"]["status"], "ACTIVE");
    assert_eq!(body["data"]["enrollStudent"]["source"], "ADMIN");
}

#[tokio::test]
async fn paid_courses_wait_for_payment_and_drafts_take_no_enrollments() {
    let env = Env::start().await;
    let tenant = TenantId::generate();
    let admin = env.keys.user(tenant, &[Role::Admin]);
    let student = env.keys.user(tenant, &[Role::Student]);
    let (paid, lessons) = published(
        &env,
        &admin,
        "Paid course",
        4900,
        &[("One", true), ("Two", true)],
    )
    .await;

    let body = env.gql(Some(&student), ENROLL, json!({ "c": paid })).await;
    assert_eq!(
        body["data"]["enroll"]["status"], "PENDING_PAYMENT",
        "{body}"
    );
    assert_eq!(body["data"]["enroll"]["source"], "PURCHASE");
    let body = env
        .gql(Some(&student), STEP, json!({ "l": lessons[1] }))
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    let body = env.gql(Some(&student), BODIES, json!({ "id": paid })).await;
    assert_eq!(bodies(&body), vec![true, false], "{body}");

    let draft = create(&env, &admin, "Draft").await;
    let body = env.gql(Some(&student), ENROLL, json!({ "c": draft })).await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    let body = env
        .gql(
            Some(&admin),
            "mutation($c: ID!, $s: ID!) { enrollStudent(courseId: $c, studentId: $s) { id } }",
            json!({ "c": draft, "s": student.id.to_string() }),
        )
        .await;
    assert_eq!(
        (code(&body), field(&body)),
        ("BAD_USER_INPUT", "courseId"),
        "{body}"
    );
}

#[tokio::test]
async fn students_see_only_their_own_enrollments_and_progress() {
    let env = Env::start().await;
    let tenant = TenantId::generate();
    let admin = env.keys.user(tenant, &[Role::Admin]);
    let alice = env.keys.user(tenant, &[Role::Student]);
    let bob = env.keys.user(tenant, &[Role::Student]);
    let (course, _) = published(&env, &admin, "Shared", 0, &[("One", true)]).await;
    let body = env.gql(Some(&alice), ENROLL, json!({ "c": course })).await;
    let alices = body["data"]["enroll"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    env.gql(Some(&bob), ENROLL, json!({ "c": course })).await;

    let body = env
        .gql(
            Some(&bob),
            "query($id: ID!) { enrollment(id: $id) { id } }",
            json!({ "id": alices }),
        )
        .await;
    assert!(body["data"]["enrollment"].is_null(), "{body}");
    let body = env
        .gql(
            Some(&bob),
            "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { enrollments(first: 5) { edges { node { id } } } } } }",
            json!({ "r": [{ "__typename": "User", "id": alice.id.to_string() }] }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = env
        .gql(Some(&bob), "query($c: ID!) { courseEnrollments(courseId: $c, first: 5) { edges { node { id } } } }", json!({ "c": course }))
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = env.gql(Some(&bob), MINE, json!({})).await;
    assert_eq!(
        body["data"]["myEnrollments"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{body}"
    );

    // Staff see both, and Alice's through her User entity too.
    let body = env
        .gql(Some(&admin), "query($c: ID!) { courseEnrollments(courseId: $c, first: 5) { edges { node { student { id } } } } }", json!({ "c": course }))
        .await;
    assert_eq!(
        body["data"]["courseEnrollments"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{body}"
    );
    let body = env
        .gql(
            Some(&admin),
            "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { enrollments(first: 5) { edges { node { id } } } } } }",
            json!({ "r": [{ "__typename": "User", "id": alice.id.to_string() }] }),
        )
        .await;
    assert_eq!(
        body["data"]["_entities"][0]["enrollments"]["edges"][0]["node"]["id"],
        alices.as_str(),
        "{body}"
    );
}

#[tokio::test]
async fn tenant_b_reaches_none_of_tenant_a_enrollments() {
    let env = Env::start().await;
    let a = TenantId::generate();
    let b = TenantId::generate();
    let admin_a = env.keys.user(a, &[Role::Admin]);
    let student_a = env.keys.user(a, &[Role::Student]);
    let admin_b = env.keys.user(b, &[Role::Admin]);
    let student_b = env.keys.user(b, &[Role::Student]);
    let (course, lessons) = published(&env, &admin_a, "A only", 0, &[("One", true)]).await;
    let body = env
        .gql(Some(&student_a), ENROLL, json!({ "c": course }))
        .await;
    let enrollment = body["data"]["enroll"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let body = env
        .gql(
            Some(&admin_b),
            "query($id: ID!) { enrollment(id: $id) { id } }",
            json!({ "id": enrollment }),
        )
        .await;
    assert!(body["data"]["enrollment"].is_null(), "{body}");
    let body = env
        .gql(Some(&admin_b), "query($c: ID!) { courseEnrollments(courseId: $c, first: 5) { edges { node { id } } } }", json!({ "c": course }))
        .await;
    assert_eq!(
        body["data"]["courseEnrollments"]["edges"],
        json!([]),
        "{body}"
    );
    let body = env
        .gql(
            Some(&admin_b),
            "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { enrollments(first: 5) { edges { node { id } } } } } }",
            json!({ "r": [{ "__typename": "User", "id": student_a.id.to_string() }] }),
        )
        .await;
    assert_eq!(
        body["data"]["_entities"][0]["enrollments"]["edges"],
        json!([]),
        "{body}"
    );
    for (who, mutation, vars) in [
        (
            &admin_b,
            "mutation($e: ID!) { revokeEnrollment(id: $e) { id } }",
            json!({ "e": enrollment }),
        ),
        (
            &admin_b,
            "mutation($e: ID!) { resetProgress(enrollmentId: $e) { id } }",
            json!({ "e": enrollment }),
        ),
        (
            &admin_b,
            "mutation($c: ID!, $s: ID!) { enrollStudent(courseId: $c, studentId: $s) { id } }",
            json!({ "c": course, "s": student_b.id.to_string() }),
        ),
        (&student_b, ENROLL, json!({ "c": course })),
        (&student_b, STEP, json!({ "l": lessons[0] })),
    ] {
        let body = env.gql(Some(who), mutation, vars).await;
        assert_eq!(code(&body), "NOT_FOUND", "{mutation}: {body}");
    }
    // Tenant A's enrollment is untouched.
    let body = env.gql(Some(&student_a), MINE, json!({})).await;
    assert_eq!(
        body["data"]["myEnrollments"]["edges"][0]["node"]["status"], "ACTIVE",
        "{body}"
    );
}

#[tokio::test]
async fn completing_a_course_issues_exactly_one_certificate_that_verifies_publicly() {
    let env = Env::start().await;
    let tenant = TenantId::generate();
    let admin = env.keys.user(tenant, &[Role::Admin]);
    // A student whose token carries their display name, as identity's do.
    let id = tenancy::UserId::generate();
    let mut claims = env
        .keys
        .claims(tenant, &id.to_string(), &[Role::Student], "");
    claims.name = Some("Ada Lovelace".into());
    let ada = TestUser {
        tenant,
        id,
        token: env.keys.sign(&claims),
    };
    let (course, lessons) =
        published(&env, &admin, "Analytical Engines", 0, &[("Only", true)]).await;
    let body = env.gql(Some(&ada), ENROLL, json!({ "c": course })).await;
    let enrollment = body["data"]["enroll"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let (a, b) = tokio::join!(
        env.gql(Some(&ada), STEP, json!({ "l": lessons[0] })),
        env.gql(Some(&ada), STEP, json!({ "l": lessons[0] })),
    );
    assert!(a["errors"].is_null() && b["errors"].is_null(), "{a} {b}");
    assert_eq!(events(&env, "certificate.issued", &enrollment).await, 1);
    let admin_db = env.db.admin().await;
    let row = admin_db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM learning.certificates WHERE enrollment_id = $1::uuid",
            [enrollment.clone().into()],
        ))
        .await
        .expect("query")
        .expect("row");
    assert_eq!(
        row.try_get::<i64>("", "n").expect("n"),
        1,
        "exactly one certificate"
    );

    let body = env
        .gql(Some(&ada), "query($id: ID!) { enrollment(id: $id) { certificate { code holderName courseTitle } } }", json!({ "id": enrollment }))
        .await;
    let certificate = &body["data"]["enrollment"]["certificate"];
    assert_eq!(certificate["holderName"], "Ada Lovelace", "{body}");
    assert_eq!(certificate["courseTitle"], "Analytical Engines");
    let code = certificate["code"].as_str().expect("code").to_owned();

    // Anyone on the academy's address verifies it; it shows nothing more.
    const VERIFY: &str =
        "query($c: String!) { verifyCertificate(code: $c) { holderName courseTitle issuedAt } }";
    let body = env
        .visit(tenant, VERIFY, json!({ "c": code.to_lowercase() }))
        .await;
    let verified = &body["data"]["verifyCertificate"];
    assert_eq!(verified["holderName"], "Ada Lovelace", "{body}");
    assert_eq!(verified["courseTitle"], "Analytical Engines");
    assert!(verified["issuedAt"].is_string());
    let body = env
        .visit(tenant, VERIFY, json!({ "c": "0000-0000-0000-0000" }))
        .await;
    assert!(body["data"]["verifyCertificate"].is_null(), "{body}");
    // Another academy's address does not know the code.
    let body = env
        .visit(TenantId::generate(), VERIFY, json!({ "c": code }))
        .await;
    assert!(body["data"]["verifyCertificate"].is_null(), "{body}");
    // Another student does not see Ada's certificate through her enrollment.
    let other = env.keys.user(tenant, &[Role::Student]);
    let body = env
        .gql(
            Some(&other),
            "query($id: ID!) { enrollment(id: $id) { certificate { code } } }",
            json!({ "id": enrollment }),
        )
        .await;
    assert!(body["data"]["enrollment"].is_null(), "{body}");
}

#[tokio::test]
async fn catalog_pages_show_each_courses_enrollment_count_and_only_their_academys() {
    let env = Env::start().await;
    let (a, b) = (TenantId::generate(), TenantId::generate());
    let admin = env.keys.user(a, &[Role::Admin]);
    let (one, _) = published(&env, &admin, "One", 0, &[("L", true)]).await;
    let (two, _) = published(&env, &admin, "Two", 0, &[("L", true)]).await;
    published(&env, &admin, "Three", 0, &[("L", true)]).await;
    let admin_b = env.keys.user(b, &[Role::Admin]);
    let (theirs, _) = published(&env, &admin_b, "Theirs", 0, &[("L", true)]).await;
    for (tenant, course, n) in [(a, &one, 2), (a, &two, 1), (b, &theirs, 3)] {
        for _ in 0..n {
            let student = env.keys.user(tenant, &[Role::Student]);
            let body = env
                .gql(Some(&student), ENROLL, json!({ "c": course }))
                .await;
            assert_eq!(body["data"]["enroll"]["status"], "ACTIVE", "{body}");
        }
    }
    let page = "{ courses(first: 10) { edges { node { title enrollmentCount } } } }";
    let body = env.visit(a, page, json!({})).await;
    let counts: Vec<(String, i64)> = body["data"]["courses"]["edges"]
        .as_array()
        .map(|es| {
            es.iter()
                .map(|e| {
                    let node = &e["node"];
                    let title = node["title"].as_str().unwrap_or_default().to_owned();
                    (title, node["enrollmentCount"].as_i64().unwrap_or(-1))
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        counts,
        [("One".into(), 2), ("Two".into(), 1), ("Three".into(), 0)],
        "{body}"
    );
    // `nodes` read the counts with the page as `edges` do.
    let body = env
        .visit(
            a,
            "{ courses(first: 10) { nodes { enrollmentCount } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["data"]["courses"]["nodes"],
        json!([{ "enrollmentCount": 2 }, { "enrollmentCount": 1 }, { "enrollmentCount": 0 }]),
        "{body}"
    );
    // A single course counts through the batched loader, to the same figure.
    let body = env
        .visit(
            a,
            "query($id: ID!) { course(id: $id) { enrollmentCount } }",
            json!({ "id": one }),
        )
        .await;
    assert_eq!(body["data"]["course"]["enrollmentCount"], 2, "{body}");
    // Another academy's guessed course id counts nothing here.
    let body = env
        .visit(
            a,
            "query($id: ID!) { course(id: $id) { enrollmentCount } }",
            json!({ "id": theirs }),
        )
        .await;
    assert!(body["data"]["course"].is_null(), "{body}");
}
