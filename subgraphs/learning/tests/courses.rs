//! Courses end to end over HTTP against real PostgreSQL: an admin builds a course (modules and
//! lessons, reordered without gaps), publishing checks what it needs, the catalog shows
//! visitors and students only published courses, instructors edit only what they teach, and
//! tenant B can neither read nor change tenant A's courses, modules or lessons — not by guessing
//! ids, not through `_entities`.

mod common;

use common::*;
use serde_json::{Value, json};
use tenancy::{Role, TenantId};

fn titles(module: &Value) -> Vec<String> {
    module["lessons"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .map(|l| l["title"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn an_admin_builds_reorders_and_publishes_a_course_that_visitors_then_find() {
    let env = Env::start().await;
    let tenant = TenantId::generate();
    let admin = env.keys.user(tenant, &[Role::Admin]);

    let body = env
        .gql(
            Some(&admin),
            CREATE,
            json!({ "i": { "title": "Rust for Educators!", "tags": ["Rust", "rust"] } }),
        )
        .await;
    assert_eq!(
        body["data"]["createCourse"]["slug"], "rust-for-educators",
        "{body}"
    );
    assert_eq!(body["data"]["createCourse"]["status"], "DRAFT");
    let course = body["data"]["createCourse"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    // Publishing an empty course, or one without a price decision, is refused with a code.
    let body = env
        .gql(Some(&admin), PUBLISH, json!({ "id": course }))
        .await;
    assert_eq!(
        (code(&body), field(&body)),
        ("BAD_USER_INPUT", "lessons"),
        "{body}"
    );

    let basics = add_module(&env, &admin, &course, "Basics").await;
    let advanced = add_module(&env, &admin, &course, "Advanced").await;
    let a = add_lesson(&env, &admin, &basics, "Ownership", true).await;
    let b = add_lesson(&env, &admin, &basics, "Borrowing", false).await;
    let c = add_lesson(&env, &admin, &basics, "Lifetimes", false).await;
    add_lesson(&env, &admin, &advanced, "Async", false).await;

    let body = env
        .gql(Some(&admin), PUBLISH, json!({ "id": course }))
        .await;
    assert_eq!(
        (code(&body), field(&body)),
        ("BAD_USER_INPUT", "price"),
        "{body}"
    );

    // Reorder: lessons and modules, positions stay 0..n-1.
    let body = env
        .gql(
            Some(&admin),
            "mutation($m: ID!, $ids: [ID!]!) { reorderLessons(moduleId: $m, lessonIds: $ids) { id } }",
            json!({ "m": basics, "ids": [c, a, b] }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let body = env
        .gql(
            Some(&admin),
            "mutation($c: ID!, $ids: [ID!]!) { reorderModules(courseId: $c, moduleIds: $ids) { id } }",
            json!({ "c": course, "ids": [advanced, basics] }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    // A reorder must name exactly the current children.
    for ids in [json!([c, a]), json!([c, a, b, b]), json!([c, a, advanced])] {
        let body = env
            .gql(
                Some(&admin),
                "mutation($m: ID!, $ids: [ID!]!) { reorderLessons(moduleId: $m, lessonIds: $ids) { id } }",
                json!({ "m": basics, "ids": ids }),
            )
            .await;
        assert_eq!(
            (code(&body), field(&body)),
            ("BAD_USER_INPUT", "lessonIds"),
            "{body}"
        );
    }
    // Deleting a lesson closes the gap.
    let body = env
        .gql(
            Some(&admin),
            "mutation($id: ID!) { deleteLesson(id: $id) { id } }",
            json!({ "id": a }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");

    let body = env
        .gql(Some(&admin), OUTLINE, json!({ "id": course }))
        .await;
    let modules = &body["data"]["course"]["modules"];
    assert_eq!(modules[0]["title"], "Advanced", "{body}");
    assert_eq!(modules[1]["title"], "Basics");
    assert_eq!(modules[1]["position"], 1);
    assert_eq!(titles(&modules[1]), vec!["Lifetimes", "Borrowing"]);
    let positions: Vec<i64> = modules[1]["lessons"]
        .as_array()
        .expect("lessons")
        .iter()
        .map(|l| l["position"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(positions, vec![0, 1]);
    assert_eq!(body["data"]["course"]["lessonCount"], 3);
    assert_eq!(body["data"]["course"]["durationMinutes"], 30);

    // Free, then published; publishing again changes nothing.
    let body = env
        .gql(
            Some(&admin),
            PRICE,
            json!({ "id": course, "p": { "amountCents": 0, "currency": "EUR" } }),
        )
        .await;
    assert_eq!(body["data"]["updateCourse"]["free"], true, "{body}");
    let body = env
        .gql(Some(&admin), PUBLISH, json!({ "id": course }))
        .await;
    assert_eq!(
        body["data"]["publishCourse"]["status"], "PUBLISHED",
        "{body}"
    );
    let first = body["data"]["publishCourse"]["publishedAt"].clone();
    let body = env
        .gql(Some(&admin), PUBLISH, json!({ "id": course }))
        .await;
    assert_eq!(body["data"]["publishCourse"]["publishedAt"], first);

    // A draft next to it stays invisible to visitors and students.
    create(&env, &admin, "Unfinished").await;
    let body = env.visit(tenant, CATALOG, json!({})).await;
    assert_eq!(
        body["data"]["courses"]["edges"],
        json!([{ "node": { "slug": "rust-for-educators", "status": "PUBLISHED" } }]),
        "{body}"
    );
    let student = env.keys.user(tenant, &[Role::Student]);
    let body = env.gql(Some(&student), CATALOG, json!({})).await;
    assert_eq!(
        body["data"]["courses"]["edges"].as_array().map(Vec::len),
        Some(1)
    );
    let body = env.gql(Some(&admin), CATALOG, json!({})).await;
    assert_eq!(
        body["data"]["courses"]["edges"].as_array().map(Vec::len),
        Some(2)
    );
    let body = env
        .gql(
            Some(&student),
            "{ courses(status: DRAFT, first: 5) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");

    // Visitors read the outline, but only free-preview content.
    let body = env.visit(tenant, OUTLINE, json!({ "id": course })).await;
    let lessons: Vec<Value> = body["data"]["course"]["modules"]
        .as_array()
        .expect("modules")
        .iter()
        .flat_map(|m| m["lessons"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(lessons.len(), 3, "{body}");
    assert!(
        lessons.iter().all(|l| l["body"].is_null()),
        "no preview left after the delete: {body}"
    );
    // Without any binding nobody reads the catalog.
    let body = gql(&env.server, None, CATALOG, json!({})).await;
    assert_eq!(code(&body), "UNAUTHENTICATED");

    // A visitor of another academy sees none of it.
    let body = env.visit(TenantId::generate(), CATALOG, json!({})).await;
    assert_eq!(body["data"]["courses"]["edges"], json!([]), "{body}");

    // Published courses keep their price; only drafts are deleted.
    let body = env
        .gql(
            Some(&admin),
            "mutation($id: ID!) { updateCourse(id: $id, input: { clearPrice: true }) { id } }",
            json!({ "id": course }),
        )
        .await;
    assert_eq!(
        (code(&body), field(&body)),
        ("BAD_USER_INPUT", "price"),
        "{body}"
    );
    let body = env
        .gql(
            Some(&admin),
            "mutation($id: ID!) { deleteCourse(id: $id) }",
            json!({ "id": course }),
        )
        .await;
    assert_eq!(
        (code(&body), field(&body)),
        ("BAD_USER_INPUT", "status"),
        "{body}"
    );
}

#[tokio::test]
async fn input_is_validated_and_slugs_are_unique_per_tenant() {
    let env = Env::start().await;
    let tenant = TenantId::generate();
    let admin = env.keys.user(tenant, &[Role::Admin]);
    create(&env, &admin, "Algebra").await;
    let body = env
        .gql(Some(&admin), CREATE, json!({ "i": { "title": "Algebra" } }))
        .await;
    assert_eq!((code(&body), field(&body)), ("CONFLICT", "slug"), "{body}");
    // Another tenant may use the same slug.
    let other = env.keys.user(TenantId::generate(), &[Role::Admin]);
    create(&env, &other, "Algebra").await;

    for (input, bad) in [
        (json!({ "title": "  " }), "title"),
        (json!({ "title": "x", "slug": "Not A Slug" }), "slug"),
        (json!({ "title": "x", "language": "english" }), "language"),
        (json!({ "title": "x".repeat(201) }), "title"),
    ] {
        let body = env.gql(Some(&admin), CREATE, json!({ "i": input })).await;
        assert_eq!(
            (code(&body), field(&body)),
            ("BAD_USER_INPUT", bad),
            "{body}"
        );
    }
    // Descriptions are Markdown; their HTML form carries no markup from the source.
    let body = env
        .gql(
            Some(&admin),
            "mutation($i: CreateCourseInput!) { createCourse(input: $i) { description descriptionHtml } }",
            json!({ "i": { "title": "Topology", "description": "**Loops** <script>x()</script> [go](javascript:x())" } }),
        )
        .await;
    let course = &body["data"]["createCourse"];
    assert_eq!(
        course["description"], "**Loops** <script>x()</script> [go](javascript:x())",
        "{body}"
    );
    let html = course["descriptionHtml"].as_str().unwrap_or_default();
    assert!(html.contains("<strong>Loops</strong>"), "{html}");
    assert!(
        !html.contains("<script") && !html.contains("javascript:"),
        "{html}"
    );
    let course = create(&env, &admin, "Geometry").await;
    let body = env
        .gql(
            Some(&admin),
            PRICE,
            json!({ "id": course, "p": { "amountCents": -5, "currency": "EUR" } }),
        )
        .await;
    assert_eq!(
        (code(&body), field(&body)),
        ("BAD_USER_INPUT", "price"),
        "{body}"
    );
    let body = env
        .gql(Some(&admin), OUTLINE, json!({ "id": "not-a-uuid" }))
        .await;
    assert_eq!(
        (code(&body), field(&body)),
        ("BAD_USER_INPUT", "id"),
        "{body}"
    );
}

#[tokio::test]
async fn instructors_edit_only_what_they_teach_and_students_edit_nothing() {
    let env = Env::start().await;
    let tenant = TenantId::generate();
    let teacher = env.keys.user(tenant, &[Role::Instructor]);
    let colleague = env.keys.user(tenant, &[Role::Instructor]);
    let student = env.keys.user(tenant, &[Role::Student]);

    let mine = create(&env, &teacher, "Mine").await;
    let body = env
        .gql(
            Some(&teacher),
            "query($id: ID!) { course(id: $id) { instructors { id } } }",
            json!({ "id": mine }),
        )
        .await;
    assert_eq!(
        body["data"]["course"]["instructors"],
        json!([{ "id": teacher.id.to_string() }]),
        "{body}"
    );
    add_module(&env, &teacher, &mine, "One").await;

    let body = env
        .gql(
            Some(&colleague),
            ADD_MODULE,
            json!({ "c": mine, "t": "Two" }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = env
        .gql(Some(&student), ADD_MODULE, json!({ "c": mine, "t": "Two" }))
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = env
        .gql(
            Some(&student),
            CREATE,
            json!({ "i": { "title": "Mine too" } }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    // Instructors do not publish; admins do.
    let body = env
        .gql(Some(&teacher), PUBLISH, json!({ "id": mine }))
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    // Students do not see drafts, even by id.
    let body = env
        .gql(Some(&student), OUTLINE, json!({ "id": mine }))
        .await;
    assert!(body["data"]["course"].is_null(), "{body}");
}

#[tokio::test]
async fn tenant_b_can_neither_read_nor_change_tenant_a_courses_modules_or_lessons() {
    let env = Env::start().await;
    let a = TenantId::generate();
    let b = TenantId::generate();
    let admin_a = env.keys.user(a, &[Role::Admin]);
    let admin_b = env.keys.user(b, &[Role::Admin]);
    let partner_b = TestUser {
        tenant: b,
        id: tenancy::UserId::generate(),
        token: env.keys.partner(b, "aula_ci_b", "learning:courses:write"),
    };

    let course = create(&env, &admin_a, "Secret plans").await;
    let module = add_module(&env, &admin_a, &course, "Part one").await;
    let lesson = add_lesson(&env, &admin_a, &module, "Chapter", false).await;
    env.gql(
        Some(&admin_a),
        PRICE,
        json!({ "id": course, "p": { "amountCents": 1000, "currency": "EUR" } }),
    )
    .await;
    let body = env
        .gql(Some(&admin_a), PUBLISH, json!({ "id": course }))
        .await;
    assert!(body["errors"].is_null(), "{body}");

    // Reads by id, by slug, through the catalog, as a visitor and through `_entities`.
    let body = env
        .gql(Some(&admin_b), OUTLINE, json!({ "id": course }))
        .await;
    assert!(body["data"]["course"].is_null(), "{body}");
    let body = env
        .gql(
            Some(&admin_b),
            "{ courseBySlug(slug: \"secret-plans\") { id } }",
            json!({}),
        )
        .await;
    assert!(body["data"]["courseBySlug"].is_null(), "{body}");
    let body = env.gql(Some(&admin_b), CATALOG, json!({})).await;
    assert_eq!(body["data"]["courses"]["edges"], json!([]), "{body}");
    let body = env.visit(b, OUTLINE, json!({ "id": course })).await;
    assert!(body["data"]["course"].is_null(), "{body}");
    let body = env
        .gql(
            Some(&admin_b),
            "query($r: [_Any!]!) { _entities(representations: $r) { ... on Course { id title } } }",
            json!({ "r": [{ "__typename": "Course", "id": course }] }),
        )
        .await;
    assert_eq!(body["data"]["_entities"], json!([null]), "{body}");
    // A tenant-A token presented with tenant B's binding is refused outright.
    let resp = kit::server::http_client()
        .post(env.server.at("/graphql"))
        .bearer_auth(&admin_a.token)
        .header("x-aula-tenant", b.to_string())
        .json(&json!({ "query": CATALOG }))
        .send()
        .await
        .expect("reachable");
    assert_eq!(resp.status().as_u16(), 403);

    // Changes, by staff and by a writing partner of B.
    for who in [&admin_b, &partner_b] {
        let attempts = [
            (
                PRICE,
                json!({ "id": course, "p": { "amountCents": 0, "currency": "EUR" } }),
            ),
            (
                "mutation($id: ID!) { archiveCourse(id: $id) { id } }",
                json!({ "id": course }),
            ),
            (
                "mutation($id: ID!) { deleteCourse(id: $id) }",
                json!({ "id": course }),
            ),
            (ADD_MODULE, json!({ "c": course, "t": "Injected" })),
            (
                "mutation($id: ID!) { renameModule(id: $id, title: \"Pwned\") { id } }",
                json!({ "id": module }),
            ),
            (
                "mutation($id: ID!) { deleteModule(id: $id) { id } }",
                json!({ "id": module }),
            ),
            (
                ADD_LESSON,
                json!({ "m": module, "i": { "title": "Injected", "kind": "TEXT" } }),
            ),
            (
                "mutation($id: ID!) { updateLesson(id: $id, input: { title: \"Pwned\" }) { id } }",
                json!({ "id": lesson }),
            ),
            (
                "mutation($id: ID!) { deleteLesson(id: $id) { id } }",
                json!({ "id": lesson }),
            ),
            (
                "mutation($m: ID!, $ids: [ID!]!) { reorderLessons(moduleId: $m, lessonIds: $ids) { id } }",
                json!({ "m": module, "ids": [lesson] }),
            ),
            (
                "mutation($c: ID!, $ids: [ID!]!) { reorderModules(courseId: $c, moduleIds: $ids) { id } }",
                json!({ "c": course, "ids": [module] }),
            ),
        ];
        for (mutation, vars) in attempts {
            let body = env.gql(Some(who), mutation, vars).await;
            assert_eq!(code(&body), "NOT_FOUND", "{mutation}: {body}");
        }
    }

    // Tenant A's course is exactly as it was.
    let body = env
        .gql(Some(&admin_a), OUTLINE, json!({ "id": course }))
        .await;
    assert_eq!(body["data"]["course"]["status"], "PUBLISHED", "{body}");
    assert_eq!(body["data"]["course"]["modules"][0]["title"], "Part one");
    assert_eq!(
        titles(&body["data"]["course"]["modules"][0]),
        vec!["Chapter"]
    );
}

#[tokio::test]
async fn catalog_pages_are_stable_while_courses_are_being_added() {
    let env = Env::start().await;
    let tenant = TenantId::generate();
    let admin = env.keys.user(tenant, &[Role::Admin]);
    let mut originals = Vec::new();
    for i in 0..5 {
        originals.push(create(&env, &admin, &format!("Original {i}")).await);
    }
    const PAGE: &str = "query($after: String) { courses(first: 2, after: $after) {
        edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }";
    let mut seen: Vec<String> = Vec::new();
    let mut added: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    let mut round = 0;
    loop {
        let body = env.gql(Some(&admin), PAGE, json!({ "after": after })).await;
        let page = &body["data"]["courses"];
        for edge in page["edges"].as_array().cloned().unwrap_or_default() {
            seen.push(edge["node"]["id"].as_str().unwrap_or_default().to_owned());
        }
        // Between pages, others add courses concurrently.
        if round == 0 {
            let (a, b, c) = tokio::join!(
                create(&env, &admin, "Added 0"),
                create(&env, &admin, "Added 1"),
                create(&env, &admin, "Added 2"),
            );
            added = vec![a, b, c];
        }
        round += 1;
        assert!(round < 10, "pagination ends: {body}");
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    // Every course exactly once, the originals first and in creation order.
    assert_eq!(seen.len(), 8, "{seen:?}");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 8, "no duplicates: {seen:?}");
    assert_eq!(seen[..5], originals[..], "no skips, stable order");
    let mut tail = seen[5..].to_vec();
    tail.sort();
    added.sort();
    assert_eq!(tail, added, "the courses added meanwhile come after");
}

#[tokio::test]
async fn a_database_out_of_connections_answers_unavailable_without_details_and_recovers() {
    use sea_orm::ConnectionTrait;

    let env = Env::start_with(|c| c.database.acquire_timeout_secs = 1).await;
    let student = env.keys.user(TenantId::generate(), &[Role::Student]);
    let catalog = "{ courses(first: 5) { edges { node { id } } } }";
    let body = env.gql(Some(&student), catalog, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");

    // The database refuses new connections and drops the pool's open ones.
    let admin = env.db.admin().await;
    let limit = |n: i32| {
        format!(
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I CONNECTION LIMIT {n}', \
             current_database()); END $$"
        )
    };
    admin.execute_unprepared(&limit(0)).await.expect("limit");
    admin
        .execute_unprepared(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .await
        .expect("terminate");
    let body = env.gql(Some(&student), catalog, json!({})).await;
    assert_eq!(code(&body), "UNAVAILABLE", "{body}");
    assert_eq!(
        body["errors"][0]["message"],
        "the service is temporarily unavailable; try again shortly"
    );
    let text = body.to_string();
    for detail in ["pool", "connections", "timed out", "aula_learning"] {
        assert!(!text.contains(detail), "{detail} leaked: {text}");
    }

    admin.execute_unprepared(&limit(-1)).await.expect("unlimit");
    let body = env.gql(Some(&student), catalog, json!({})).await;
    assert!(body["errors"].is_null(), "served again: {body}");
}
