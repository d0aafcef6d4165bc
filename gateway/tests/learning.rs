//! Issue 5's acceptance, end to end through the built gateway: identity and learning as real
//! services on one PostgreSQL database, an S3-compatible server checking signatures, and every
//! request made the way the web console, the public app and students make them (tokens from
//! identity's sign-in, academies by host name).

mod common;

use std::path::Path;

use common::*;
use harness::TestS3;
use local::compose::Subgraph;
use serde_json::{Value, json};
use tenancy::Role;

/// Identity, learning, object storage and a gateway in front.
struct Platform {
    identity: Identity,
    _learning: harness::TestServer,
    s3: TestS3,
    gateway: Gateway,
    _dir: Scratch,
}

impl Platform {
    async fn start() -> Platform {
        let identity = Identity::start().await;
        let s3 = TestS3::start().await;
        let mut config = kit::Config {
            redis_url: Some(kit::Secret::new(harness::redis_url())),
            storage: Some(s3.config()),
            ..kit::Config::default()
        };
        config
            .auth
            .issuer
            .clone_from(&identity.identity.auth.issuer);
        config
            .auth
            .audience
            .clone_from(&identity.identity.auth.audience);
        config.auth.jwks_url = Some(identity.server.at("/.well-known/jwks.json"));
        config.database.url = kit::Secret::new(identity.db.service_url("learning"));
        let learning = harness::spawn_built("learning", &config, learning::build).await;
        let dir = Scratch::new();
        std::fs::write(dir.0.join("router.yaml"), router_yaml()).expect("write config");
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("trusted-documents.json");
        std::fs::copy(manifest, dir.0.join("trusted-documents.json")).expect("copy manifest");
        let learning_url = learning.at("/graphql");
        write_composed(
            &dir.0,
            &[
                identity_subgraph(&identity),
                Subgraph {
                    name: "learning".into(),
                    url: learning_url.clone(),
                    sdl: kit::graphql::sdl(learning::schema()),
                },
            ],
        );
        let gateway =
            Gateway::start_with_env(&dir.0, &identity, &[("AULA_LEARNING_URL", &learning_url)])
                .await;
        Platform {
            identity,
            _learning: learning,
            s3,
            gateway,
            _dir: dir,
        }
    }

    /// A user's access token from identity's own sign-in (it carries the display name).
    async fn sign_in(&self, tenant: &Tenant, email: &str, roles: &[Role]) -> String {
        self.identity.user(tenant, email, roles).await;
        let body = self.identity.sign_in(&tenant.slug, email, PASSWORD).await;
        body["data"]["signIn"]["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("sign-in: {body}"))
            .to_owned()
    }

    /// `query` with `vars` as `token` on `tenant`'s host; the reply's body.
    async fn call(&self, tenant: &Tenant, token: Option<&str>, query: &str, vars: Value) -> Value {
        let mut request = self
            .gateway
            .request(query)
            .vars(vars)
            .host(&Stack::host(tenant));
        if let Some(token) = token {
            request = request.token(token);
        }
        request.send().await.body
    }
}

fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

fn id_of(body: &Value, path: &[&str]) -> String {
    let mut v = &body["data"];
    for p in path {
        v = &v[*p];
    }
    v.as_str()
        .unwrap_or_else(|| panic!("no {path:?} in {body}"))
        .to_owned()
}

/// Uploads `bytes` through a presigned URL and confirms it; returns the media id and the
/// upload URL.
async fn upload(
    p: &Platform,
    tenant: &Tenant,
    token: &str,
    input: Value,
    bytes: Vec<u8>,
) -> (String, String) {
    let body = p
        .call(
            tenant,
            Some(token),
            "mutation($i: RequestUploadInput!) { requestUpload(input: $i) {
               media { id } upload { url headers { name value } } } }",
            json!({ "i": input }),
        )
        .await;
    let ticket = &body["data"]["requestUpload"];
    let url = ticket["upload"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("ticket: {body}"))
        .to_owned();
    let mut put = kit::server::http_client().put(&url);
    for h in ticket["upload"]["headers"].as_array().expect("headers") {
        put = put.header(
            h["name"].as_str().expect("name"),
            h["value"].as_str().expect("value"),
        );
    }
    let status = put.body(bytes).send().await.expect("storage").status();
    assert_eq!(status.as_u16(), 200, "upload to {url}");
    let media = ticket["media"]["id"].as_str().expect("media id").to_owned();
    let body = p
        .call(
            tenant,
            Some(token),
            "mutation($m: ID!) { confirmUpload(mediaId: $m) { status } }",
            json!({ "m": media }),
        )
        .await;
    assert_eq!(body["data"]["confirmUpload"]["status"], "READY", "{body}");
    (media, url)
}

async fn download(url: &str) -> Vec<u8> {
    let resp = kit::server::http_client()
        .get(url)
        .send()
        .await
        .expect("storage");
    assert_eq!(resp.status().as_u16(), 200, "download {url}");
    resp.bytes().await.expect("bytes").to_vec()
}

const LESSON: &str =
    "mutation($m: ID!, $i: AddLessonInput!) { addLesson(moduleId: $m, input: $i) { id } }";
const OUTLINE: &str = "query($id: ID!) { course(id: $id) { title status
  cover { download { url } }
  modules { lessons { id title position body media { download { url } } } } } }";
const QUIZ: &str =
    "query($id: ID!) { lesson(id: $id) { questions { id choices { id } answers } } }";
const SEARCH: &str =
    "query($q: String!) { searchCourses(query: $q, first: 10) { edges { node { id title } } } }";
const COMPLETE: &str =
    "mutation($l: ID!) { completeLesson(lessonId: $l) { enrollment { status } } }";

#[tokio::test]
async fn an_academy_builds_publishes_and_certifies_a_course_and_another_reaches_none_of_it() {
    let p = Platform::start().await;
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let a = p.identity.tenant(&format!("alpha-{}", &suffix[..8])).await;
    let b = p.identity.tenant(&format!("beta-{}", &suffix[..8])).await;
    let admin = p
        .sign_in(&a, &format!("admin@{}.test", a.slug), &[Role::Admin])
        .await;
    let student = p
        .sign_in(&a, &format!("ada@{}.test", a.slug), &[Role::Student])
        .await;
    let other_student = p
        .sign_in(&a, &format!("bob@{}.test", a.slug), &[Role::Student])
        .await;
    let admin_b = p
        .sign_in(&b, &format!("admin@{}.test", b.slug), &[Role::Admin])
        .await;

    // The admin builds a course: one module, a text lesson (free preview), a video lesson and a
    // quiz. Publishing it empty is refused with a code.
    let body = p
        .call(&a, Some(&admin), "mutation { createCourse(input: { title: \"Bayesian Beekeeping\", summary: \"Hives and priors\" }) { id } }", json!({}))
        .await;
    let course = id_of(&body, &["createCourse", "id"]);
    let body = p
        .call(
            &a,
            Some(&admin),
            "mutation($id: ID!) { publishCourse(id: $id) { status } }",
            json!({ "id": course }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "empty course: {body}");
    let body = p
        .call(
            &a,
            Some(&admin),
            "mutation($c: ID!) { addModule(courseId: $c, title: \"Basics\") { id } }",
            json!({ "c": course }),
        )
        .await;
    let module = id_of(&body, &["addModule", "id"]);
    let mut lessons = Vec::new();
    for input in [
        json!({ "title": "Welcome", "kind": "TEXT", "body": "Hello bees", "freePreview": true }),
        json!({ "title": "Watch the hive", "kind": "VIDEO" }),
        json!({ "title": "Check", "kind": "QUIZ" }),
    ] {
        let body = p
            .call(&a, Some(&admin), LESSON, json!({ "m": module, "i": input }))
            .await;
        lessons.push(id_of(&body, &["addLesson", "id"]));
    }
    let (welcome, video, quiz) = (&lessons[0], &lessons[1], &lessons[2]);
    let body = p
        .call(&a, Some(&admin), "mutation($l: ID!) { addQuizQuestion(lessonId: $l, input: { kind: SINGLE_CHOICE, prompt: \"Bees make?\", choices: [\"honey\", \"steel\"], correctChoices: [0] }) { id } }", json!({ "l": quiz }))
        .await;
    let question = id_of(&body, &["addQuizQuestion", "id"]);

    // Cover and video: the bytes go to storage through presigned URLs under A's prefix.
    let cover_bytes: Vec<u8> = (0..2048u32).map(|i| (i % 251) as u8).collect();
    let video_bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let (_, cover_url) = upload(
        &p,
        &a,
        &admin,
        json!({ "courseId": course, "fileName": "hive.png", "contentType": "image/png", "sizeBytes": cover_bytes.len() }),
        cover_bytes.clone(),
    )
    .await;
    let (video_media, video_url) = upload(
        &p,
        &a,
        &admin,
        json!({ "courseId": course, "lessonId": video, "fileName": "hive.mp4", "contentType": "video/mp4", "sizeBytes": video_bytes.len() }),
        video_bytes.clone(),
    )
    .await;
    for url in [&cover_url, &video_url] {
        assert!(
            url.contains(&format!("/tenants/{}/courses/{course}/", a.id)),
            "{url}"
        );
    }

    // Reorder: the quiz first, then the video, then the welcome text.
    let body = p
        .call(&a, Some(&admin), "mutation($m: ID!, $l: [ID!]!) { reorderLessons(moduleId: $m, lessonIds: $l) { modules { lessons { title position } } } }", json!({ "m": module, "l": [quiz, video, welcome] }))
        .await;
    assert_eq!(
        body["data"]["reorderLessons"]["modules"][0]["lessons"],
        json!([{ "title": "Check", "position": 0 }, { "title": "Watch the hive", "position": 1 }, { "title": "Welcome", "position": 2 }]),
        "{body}"
    );
    let body = p
        .call(&a, Some(&admin), "mutation($id: ID!) { updateCourse(id: $id, input: { price: { amountCents: 0, currency: \"EUR\" } }) { free } }", json!({ "id": course }))
        .await;
    assert_eq!(body["data"]["updateCourse"]["free"], true, "{body}");
    let body = p
        .call(
            &a,
            Some(&admin),
            "mutation($id: ID!) { publishCourse(id: $id) { status } }",
            json!({ "id": course }),
        )
        .await;
    assert_eq!(
        body["data"]["publishCourse"]["status"], "PUBLISHED",
        "{body}"
    );

    // An anonymous visitor of A's host finds it (and downloads its cover); on B's host, not.
    let found = p.call(&a, None, SEARCH, json!({ "q": "bayes bee" })).await;
    assert_eq!(
        found["data"]["searchCourses"]["edges"][0]["node"]["id"],
        course.as_str(),
        "{found}"
    );
    let elsewhere = p.call(&b, None, SEARCH, json!({ "q": "bayes bee" })).await;
    assert_eq!(
        elsewhere["data"]["searchCourses"]["edges"],
        json!([]),
        "{elsewhere}"
    );
    let visitor = p.call(&a, None, OUTLINE, json!({ "id": course })).await;
    let cover = visitor["data"]["course"]["cover"]["download"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("cover: {visitor}"));
    assert_eq!(download(cover).await, cover_bytes);
    let visible = &visitor["data"]["course"]["modules"][0]["lessons"];
    assert!(
        visible[1]["media"]["download"].is_null(),
        "video hidden: {visitor}"
    );
    assert_eq!(visible[2]["body"], "Hello bees", "free preview: {visitor}");

    // A student not yet enrolled gets no video address and no quiz answers.
    let before = p
        .call(&a, Some(&student), OUTLINE, json!({ "id": course }))
        .await;
    let seen = &before["data"]["course"]["modules"][0]["lessons"];
    assert!(seen[1]["media"]["download"].is_null(), "{before}");
    assert!(seen[1]["body"].is_null(), "{before}");
    let questions = p
        .call(&a, Some(&student), QUIZ, json!({ "id": quiz }))
        .await;
    assert_eq!(
        questions["data"]["lesson"]["questions"],
        json!([]),
        "{questions}"
    );

    // Enrolled, the student watches the video, passes the quiz (answers never shown), and
    // completes the last lesson twice at once: one certificate.
    let body = p
        .call(
            &a,
            Some(&student),
            "mutation($c: ID!) { enroll(courseId: $c) { id status } }",
            json!({ "c": course }),
        )
        .await;
    assert_eq!(body["data"]["enroll"]["status"], "ACTIVE", "{body}");
    let enrollment = id_of(&body, &["enroll", "id"]);
    let enrolled = p
        .call(&a, Some(&student), OUTLINE, json!({ "id": course }))
        .await;
    let seen = &enrolled["data"]["course"]["modules"][0]["lessons"];
    let url = seen[1]["media"]["download"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("video url: {enrolled}"));
    assert_eq!(download(url).await, video_bytes);
    let questions = p
        .call(&a, Some(&student), QUIZ, json!({ "id": quiz }))
        .await;
    let asked = &questions["data"]["lesson"]["questions"][0];
    assert!(
        asked["answers"].is_null(),
        "answers never shown: {questions}"
    );
    let choice = asked["choices"][0]["id"].clone();
    let body = p
        .call(&a, Some(&student), "mutation($l: ID!, $a: [QuizAnswerInput!]!) { submitQuiz(lessonId: $l, answers: $a) { attempt { passed } } }", json!({ "l": quiz, "a": [{ "questionId": question, "choiceIds": [choice] }] }))
        .await;
    assert_eq!(
        body["data"]["submitQuiz"]["attempt"]["passed"], true,
        "{body}"
    );
    let body = p
        .call(&a, Some(&student), COMPLETE, json!({ "l": video }))
        .await;
    assert_eq!(
        body["data"]["completeLesson"]["enrollment"]["status"], "ACTIVE",
        "{body}"
    );
    let (one, two) = tokio::join!(
        p.call(&a, Some(&student), COMPLETE, json!({ "l": welcome })),
        p.call(&a, Some(&student), COMPLETE, json!({ "l": welcome })),
    );
    for body in [&one, &two] {
        assert_eq!(
            body["data"]["completeLesson"]["enrollment"]["status"], "COMPLETED",
            "{body}"
        );
    }
    let body = p
        .call(&a, Some(&student), "query($id: ID!) { enrollment(id: $id) { certificate { code holderName courseTitle } } }", json!({ "id": enrollment }))
        .await;
    let certificate = &body["data"]["enrollment"]["certificate"];
    assert_eq!(certificate["courseTitle"], "Bayesian Beekeeping", "{body}");
    assert_eq!(
        certificate["holderName"], "ada",
        "the display name from sign-in: {body}"
    );
    let code = certificate["code"].as_str().expect("code").to_owned();
    let admin_db = p.identity.db.admin().await;
    let issued = sea_orm::ConnectionTrait::query_one_raw(
        &admin_db,
        sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) AS n FROM learning.certificates WHERE enrollment_id = $1::uuid",
            [enrollment.clone().into()],
        ),
    )
    .await
    .expect("count")
    .expect("row")
    .try_get::<i64>("", "n")
    .expect("n");
    assert_eq!(issued, 1, "exactly one certificate");
    let verify =
        "query($c: String!) { verifyCertificate(code: $c) { holderName courseTitle issuedAt } }";
    let body = p.call(&a, None, verify, json!({ "c": code })).await;
    assert_eq!(
        body["data"]["verifyCertificate"]["holderName"], "ada",
        "{body}"
    );
    assert!(
        body["data"]["verifyCertificate"]["issuedAt"].is_string(),
        "{body}"
    );
    let body = p.call(&b, None, verify, json!({ "c": code })).await;
    assert!(
        body["data"]["verifyCertificate"].is_null(),
        "B's host: {body}"
    );

    // Another student of A reads neither Ada's enrollment nor her progress, and gets no video.
    let body = p
        .call(
            &a,
            Some(&other_student),
            "query($id: ID!) { enrollment(id: $id) { id progress { lessonId } } }",
            json!({ "id": enrollment }),
        )
        .await;
    assert!(body["data"]["enrollment"].is_null(), "{body}");
    let body = p
        .call(&a, Some(&other_student), OUTLINE, json!({ "id": course }))
        .await;
    assert!(
        body["data"]["course"]["modules"][0]["lessons"][1]["media"]["download"].is_null(),
        "{body}"
    );

    // Tenant B: its token on A's host is refused by the gateway; on its own host it reads,
    // changes and deletes nothing of A's, by guessed ids included.
    let reply = p
        .gateway
        .request("query($id: ID!) { course(id: $id) { title } }")
        .vars(json!({ "id": course }))
        .host(&Stack::host(&a))
        .token(&admin_b)
        .send()
        .await;
    assert_eq!(reply.status, 403, "{:?}", reply.body);
    assert_eq!(reply.code(), "TENANT_MISMATCH", "{:?}", reply.body);
    let probes = [
        (
            "query($id: ID!) { course(id: $id) { title } }",
            json!({ "id": course }),
            None,
        ),
        (
            "query($id: ID!) { lesson(id: $id) { title } }",
            json!({ "id": video }),
            None,
        ),
        (
            "query($id: ID!) { enrollment(id: $id) { id } }",
            json!({ "id": enrollment }),
            None,
        ),
        (
            "mutation($id: ID!) { updateCourse(id: $id, input: { title: \"Mine\" }) { id } }",
            json!({ "id": course }),
            Some("NOT_FOUND"),
        ),
        (
            "mutation($id: ID!) { deleteCourse(id: $id) }",
            json!({ "id": course }),
            Some("NOT_FOUND"),
        ),
        (
            "mutation($id: ID!) { deleteLesson(id: $id) { id } }",
            json!({ "id": video }),
            Some("NOT_FOUND"),
        ),
        (
            "mutation($id: ID!) { revokeEnrollment(id: $id) { id } }",
            json!({ "id": enrollment }),
            Some("NOT_FOUND"),
        ),
        (
            "mutation($m: ID!) { confirmUpload(mediaId: $m) { id } }",
            json!({ "m": video_media }),
            Some("NOT_FOUND"),
        ),
        (
            "mutation($m: ID!) { removeMedia(mediaId: $m) }",
            json!({ "m": video_media }),
            Some("NOT_FOUND"),
        ),
        (
            "mutation($i: RequestUploadInput!) { requestUpload(input: $i) { media { id } } }",
            json!({ "i": { "courseId": course, "fileName": "x.png", "contentType": "image/png", "sizeBytes": 5 } }),
            Some("NOT_FOUND"),
        ),
    ];
    for (query, vars, expected) in probes {
        let body = p.call(&b, Some(&admin_b), query, vars).await;
        match expected {
            None => assert!(
                body["data"]
                    .as_object()
                    .is_some_and(|d| d.values().all(Value::is_null)),
                "{query}: {body}"
            ),
            Some(code) => assert_eq!(error_code(&body), code, "{query}: {body}"),
        }
    }
    // A's course and files are intact; every stored key is under A's prefix.
    let body = p
        .call(&a, Some(&admin), OUTLINE, json!({ "id": course }))
        .await;
    assert_eq!(
        body["data"]["course"]["title"], "Bayesian Beekeeping",
        "{body}"
    );
    let url = body["data"]["course"]["modules"][0]["lessons"][1]["media"]["download"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(download(url).await, video_bytes);
    let keys = p.s3.keys();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys.iter()
            .all(|k| k.starts_with(&format!("tenants/{}/", a.id))),
        "{keys:?}"
    );
}
