//! The learning service as its integration tests run it: built as `aula learning` builds it, on
//! a fresh database and its own S3-compatible server, with tokens signed by test keys, plus
//! helpers that create courses, modules and lessons over HTTP.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

pub use harness::{Keys, TestDb, TestS3, TestServer, TestUser, gql, spawn_built, subgraph_config};
use serde_json::{Value, json};
use tenancy::TenantId;

pub struct Env {
    pub db: TestDb,
    pub server: TestServer,
    pub keys: Keys,
    pub s3: TestS3,
}

impl Env {
    pub async fn start() -> Env {
        Self::start_with(|_| {}).await
    }

    /// Starts learning after `adjust` has changed its configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut kit::Config)) -> Env {
        let db = TestDb::new().await;
        let keys = Keys::new();
        let s3 = TestS3::start().await;
        let mut config = subgraph_config("learning", &db, &keys);
        config.storage = Some(s3.config());
        adjust(&mut config);
        let server = spawn_built("learning", &config, learning::build).await;
        Env {
            db,
            server,
            keys,
            s3,
        }
    }

    pub async fn gql(&self, user: Option<&TestUser>, query: &str, vars: Value) -> Value {
        gql(&self.server, user.map(|u| u.token.as_str()), query, vars).await
    }

    /// An anonymous visitor of `tenant`'s address (the gateway's binding).
    pub async fn visit(&self, tenant: TenantId, query: &str, vars: Value) -> Value {
        kit::server::http_client()
            .post(self.server.at("/graphql"))
            .header("x-aula-tenant", tenant.to_string())
            .json(&json!({ "query": query, "variables": vars }))
            .send()
            .await
            .expect("reachable")
            .json()
            .await
            .expect("json")
    }
}

pub fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

pub fn field(body: &Value) -> &str {
    body["errors"][0]["extensions"]["field"]
        .as_str()
        .unwrap_or("<none>")
}

pub const CREATE: &str =
    "mutation($i: CreateCourseInput!) { createCourse(input: $i) { id slug status } }";
pub const ADD_MODULE: &str =
    "mutation($c: ID!, $t: String!) { addModule(courseId: $c, title: $t) { id position } }";
pub const ADD_LESSON: &str =
    "mutation($m: ID!, $i: AddLessonInput!) { addLesson(moduleId: $m, input: $i) { id position } }";
pub const OUTLINE: &str =
    "query($id: ID!) { course(id: $id) { title status lessonCount durationMinutes
  modules { title position lessons { title position freePreview body } } } }";
pub const PUBLISH: &str = "mutation($id: ID!) { publishCourse(id: $id) { status publishedAt } }";
pub const PRICE: &str = "mutation($id: ID!, $p: PriceInput!) { updateCourse(id: $id, input: { price: $p }) { free price { amountCents currency } } }";
pub const CATALOG: &str = "{ courses(first: 20) { edges { node { slug status } } } }";

pub async fn create(env: &Env, user: &TestUser, title: &str) -> String {
    let body = env
        .gql(Some(user), CREATE, json!({ "i": { "title": title } }))
        .await;
    body["data"]["createCourse"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("created: {body}"))
        .to_owned()
}

pub async fn add_module(env: &Env, user: &TestUser, course: &str, title: &str) -> String {
    let body = env
        .gql(Some(user), ADD_MODULE, json!({ "c": course, "t": title }))
        .await;
    body["data"]["addModule"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("module: {body}"))
        .to_owned()
}

pub async fn add_lesson(
    env: &Env,
    user: &TestUser,
    module: &str,
    title: &str,
    preview: bool,
) -> String {
    let input = json!({ "title": title, "kind": "TEXT", "body": format!("{title} body"),
                        "freePreview": preview, "durationMinutes": 10 });
    let body = env
        .gql(Some(user), ADD_LESSON, json!({ "m": module, "i": input }))
        .await;
    body["data"]["addLesson"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("lesson: {body}"))
        .to_owned()
}

/// A published course built by `admin`: one module with `lessons` (title, required), the
/// first a free preview; priced `price_cents` EUR. Returns the course id and lesson ids.
pub async fn published(
    env: &Env,
    admin: &TestUser,
    title: &str,
    price_cents: i64,
    lessons: &[(&str, bool)],
) -> (String, Vec<String>) {
    let course = create(env, admin, title).await;
    let module = add_module(env, admin, &course, "Module").await;
    let mut ids = Vec::new();
    for (i, (lesson, required)) in lessons.iter().enumerate() {
        let input = json!({ "title": lesson, "kind": "TEXT", "body": format!("{lesson} body"),
                            "freePreview": i == 0, "required": required });
        let body = env
            .gql(Some(admin), ADD_LESSON, json!({ "m": module, "i": input }))
            .await;
        ids.push(
            body["data"]["addLesson"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("lesson: {body}"))
                .to_owned(),
        );
    }
    let body = env
        .gql(
            Some(admin),
            PRICE,
            json!({ "id": course, "p": { "amountCents": price_cents, "currency": "EUR" } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let body = env.gql(Some(admin), PUBLISH, json!({ "id": course })).await;
    assert!(body["errors"].is_null(), "{body}");
    (course, ids)
}
