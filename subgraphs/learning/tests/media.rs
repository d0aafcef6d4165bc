//! Media end to end against a real S3-compatible server that checks signatures: authors upload
//! covers and lesson videos straight to storage through presigned `PUT`s, confirmation checks
//! the stored object, and downloads are presigned `GET`s only for those who may read the lesson.
//! Keys never leave the tenant's prefix, and tenant B reaches none of tenant A's media.

mod common;

use common::*;
use serde_json::{Value, json};
use tenancy::{Role, TenantId};

const REQUEST: &str = "mutation($i: RequestUploadInput!) { requestUpload(input: $i) {
  media { id status fileName sizeBytes download { url } }
  upload { method url expiresAt headers { name value } } } }";
const CONFIRM: &str =
    "mutation($m: ID!) { confirmUpload(mediaId: $m) { id status sizeBytes contentType } }";
const REMOVE: &str = "mutation($m: ID!) { removeMedia(mediaId: $m) }";
const COVER: &str =
    "query($id: ID!) { course(id: $id) { cover { id fileName download { url expiresAt } } } }";
const LESSON_MEDIA: &str = "query($id: ID!) { course(id: $id) { modules { lessons { title
  media { fileName contentType sizeBytes download { url } } } } } }";
const USAGE: &str = "{ storageUsage { bytes files pending } }";
const PUBLISH: &str = "mutation($id: ID!) { publishCourse(id: $id) { status } }";

/// `n` bytes that differ per call site.
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

async fn lesson(
    env: &Env,
    user: &TestUser,
    module: &str,
    title: &str,
    kind: &str,
    preview: bool,
) -> String {
    let input = json!({ "title": title, "kind": kind, "freePreview": preview });
    let body = env
        .gql(Some(user), ADD_LESSON, json!({ "m": module, "i": input }))
        .await;
    body["data"]["addLesson"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("lesson: {body}"))
        .to_owned()
}

/// Asks for an upload; returns the whole response.
async fn request(env: &Env, user: &TestUser, input: Value) -> Value {
    env.gql(Some(user), REQUEST, json!({ "i": input })).await
}

/// Performs a presigned request from a ticket with `body`; returns the HTTP status.
async fn put(ticket: &Value, body: Vec<u8>) -> u16 {
    let upload = &ticket["upload"];
    assert_eq!(upload["method"], "PUT");
    let mut req = kit::server::http_client().put(upload["url"].as_str().expect("url"));
    for h in upload["headers"].as_array().expect("headers") {
        req = req.header(
            h["name"].as_str().expect("name"),
            h["value"].as_str().expect("value"),
        );
    }
    req.body(body)
        .send()
        .await
        .expect("storage reachable")
        .status()
        .as_u16()
}

async fn get(url: &str) -> (u16, Vec<u8>) {
    let resp = kit::server::http_client()
        .get(url)
        .send()
        .await
        .expect("storage reachable");
    let status = resp.status().as_u16();
    (status, resp.bytes().await.expect("body").to_vec())
}

/// Uploads `data` as `content_type` for `course` (and `lesson`) and confirms it; returns the
/// media id.
async fn upload(
    env: &Env,
    user: &TestUser,
    course: &str,
    lesson: Option<&str>,
    name: &str,
    content_type: &str,
    data: Vec<u8>,
) -> String {
    let body = request(
        env,
        user,
        json!({ "courseId": course, "lessonId": lesson, "fileName": name,
                "contentType": content_type, "sizeBytes": data.len() }),
    )
    .await;
    let ticket = &body["data"]["requestUpload"];
    assert_eq!(ticket["media"]["status"], "PENDING", "{body}");
    assert!(ticket["media"]["download"].is_null(), "{body}");
    assert_eq!(
        put(ticket, data).await,
        200,
        "upload through the presigned URL"
    );
    let id = ticket["media"]["id"].as_str().expect("id").to_owned();
    let body = env.gql(Some(user), CONFIRM, json!({ "m": id })).await;
    assert_eq!(body["data"]["confirmUpload"]["status"], "READY", "{body}");
    id
}

#[tokio::test]
async fn authors_upload_through_presigned_urls_and_only_readers_download() {
    let env = Env::start().await;
    let tenant = TenantId::generate();
    let admin = env.keys.user(tenant, &[Role::Admin]);
    let student = env.keys.user(tenant, &[Role::Student]);
    let course = create(&env, &admin, "Filmed course").await;
    let module = add_module(&env, &admin, &course, "Module").await;
    let video = lesson(&env, &admin, &module, "Video", "VIDEO", false).await;
    let handout = lesson(&env, &admin, &module, "Handout", "FILE", true).await;

    // The cover: the ticket's URL points into the tenant's prefix, the bytes go straight to
    // storage, and confirming records their size.
    let cover_bytes = bytes(3000, 1);
    let body = request(
        &env,
        &admin,
        json!({ "courseId": course, "fileName": "cover.png", "contentType": "image/png",
                "sizeBytes": cover_bytes.len() }),
    )
    .await;
    let ticket = &body["data"]["requestUpload"];
    let url = ticket["upload"]["url"].as_str().expect("url");
    let prefix = format!(
        "/{}/tenants/{tenant}/courses/{course}/media/",
        harness::BUCKET
    );
    assert!(
        url.starts_with(&format!("{}{prefix}", env.s3.endpoint())),
        "{url}"
    );
    assert!(ticket["upload"]["expiresAt"].is_string());
    let cover = ticket["media"]["id"].as_str().expect("id").to_owned();
    // Not uploaded yet: confirming is refused and nothing is attached.
    let early = env.gql(Some(&admin), CONFIRM, json!({ "m": cover })).await;
    assert_eq!(code(&early), "BAD_USER_INPUT", "{early}");
    assert_eq!(field(&early), "mediaId");
    assert_eq!(put(ticket, cover_bytes.clone()).await, 200);
    let body = env.gql(Some(&admin), CONFIRM, json!({ "m": cover })).await;
    assert_eq!(body["data"]["confirmUpload"]["sizeBytes"], 3000.0, "{body}");
    assert_eq!(body["data"]["confirmUpload"]["contentType"], "image/png");
    // Confirming again is harmless.
    let again = env.gql(Some(&admin), CONFIRM, json!({ "m": cover })).await;
    assert_eq!(again["data"]["confirmUpload"]["status"], "READY", "{again}");

    let body = env.gql(Some(&admin), COVER, json!({ "id": course })).await;
    let url = body["data"]["course"]["cover"]["download"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("cover url: {body}"));
    assert_eq!(get(url).await, (200, cover_bytes));

    let video_bytes = bytes(64 * 1024, 2);
    upload(
        &env,
        &admin,
        &course,
        Some(&video),
        "intro.mp4",
        "video/mp4",
        video_bytes.clone(),
    )
    .await;
    let handout_bytes = bytes(500, 3);
    upload(
        &env,
        &admin,
        &course,
        Some(&handout),
        "notes.pdf",
        "application/pdf",
        handout_bytes.clone(),
    )
    .await;

    let usage = env.gql(Some(&admin), USAGE, json!({})).await;
    assert_eq!(
        usage["data"]["storageUsage"],
        json!({ "bytes": (3000 + 64 * 1024 + 500) as f64, "files": 3, "pending": 0 }),
        "{usage}"
    );
    let forbidden = env.gql(Some(&student), USAGE, json!({})).await;
    assert_eq!(code(&forbidden), "FORBIDDEN", "{forbidden}");

    // Publish; a student who is not enrolled sees what the lesson holds but gets no address
    // for the video, only for the free-preview handout; so does an anonymous visitor.
    let price = env
        .gql(
            Some(&admin),
            PRICE,
            json!({ "id": course, "p": { "amountCents": 0, "currency": "EUR" } }),
        )
        .await;
    assert!(price["errors"].is_null(), "{price}");
    let body = env
        .gql(Some(&admin), PUBLISH, json!({ "id": course }))
        .await;
    assert_eq!(
        body["data"]["publishCourse"]["status"], "PUBLISHED",
        "{body}"
    );
    for body in [
        env.gql(Some(&student), LESSON_MEDIA, json!({ "id": course }))
            .await,
        env.visit(tenant, LESSON_MEDIA, json!({ "id": course }))
            .await,
    ] {
        let lessons = &body["data"]["course"]["modules"][0]["lessons"];
        assert_eq!(lessons[0]["media"]["fileName"], "intro.mp4", "{body}");
        assert!(lessons[0]["media"]["download"].is_null(), "{body}");
        let url = lessons[1]["media"]["download"]["url"]
            .as_str()
            .expect("preview url");
        assert_eq!(get(url).await, (200, handout_bytes.clone()));
    }
    let cover = env.visit(tenant, COVER, json!({ "id": course })).await;
    assert!(
        cover["data"]["course"]["cover"]["download"]["url"].is_string(),
        "{cover}"
    );

    // Enrolled, the student downloads the video.
    let enrolled = env
        .gql(
            Some(&student),
            "mutation($c: ID!) { enroll(courseId: $c) { status } }",
            json!({ "c": course }),
        )
        .await;
    assert_eq!(enrolled["data"]["enroll"]["status"], "ACTIVE", "{enrolled}");
    let body = env
        .gql(Some(&student), LESSON_MEDIA, json!({ "id": course }))
        .await;
    let url = body["data"]["course"]["modules"][0]["lessons"][0]["media"]["download"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("video url: {body}"));
    assert_eq!(get(url).await, (200, video_bytes));
    // A signed address is for one key: pointing it at another is refused by storage.
    let tampered = url.replacen("/media/", "/media/x", 1);
    assert_eq!(get(&tampered).await.0, 403);
    // Students upload nothing.
    let body = request(
        &env,
        &student,
        json!({ "courseId": course, "fileName": "x.png", "contentType": "image/png", "sizeBytes": 10 }),
    )
    .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
}

#[tokio::test]
async fn uploads_are_checked_before_anything_is_attached() {
    let env = Env::start().await;
    let tenant = TenantId::generate();
    let admin = env.keys.user(tenant, &[Role::Admin]);
    let course = create(&env, &admin, "Checked course").await;
    let module = add_module(&env, &admin, &course, "Module").await;
    let text = lesson(&env, &admin, &module, "Text", "TEXT", false).await;
    let video = lesson(&env, &admin, &module, "Video", "VIDEO", false).await;

    for (input, field_name) in [
        (
            json!({ "courseId": course, "fileName": "a.exe", "contentType": "application/x-msdownload", "sizeBytes": 10 }),
            "contentType",
        ),
        (
            json!({ "courseId": course, "fileName": "a.png", "contentType": "image/png", "sizeBytes": 11 * 1024 * 1024 }),
            "sizeBytes",
        ),
        (
            json!({ "courseId": course, "fileName": "a.png", "contentType": "image/png", "sizeBytes": 0 }),
            "sizeBytes",
        ),
        (
            json!({ "courseId": course, "fileName": "a.png", "contentType": "image/png", "sizeBytes": 1.5 }),
            "sizeBytes",
        ),
        (
            json!({ "courseId": course, "fileName": "../../etc/passwd", "contentType": "image/png", "sizeBytes": 10 }),
            "fileName",
        ),
        (
            json!({ "courseId": course, "lessonId": text, "fileName": "a.mp4", "contentType": "video/mp4", "sizeBytes": 10 }),
            "lessonId",
        ),
        (
            json!({ "courseId": course, "lessonId": video, "fileName": "a.png", "contentType": "image/png", "sizeBytes": 10 }),
            "contentType",
        ),
        (
            json!({ "courseId": "nope", "fileName": "a.png", "contentType": "image/png", "sizeBytes": 10 }),
            "courseId",
        ),
    ] {
        let body = request(&env, &admin, input.clone()).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{input}: {body}");
        assert_eq!(field(&body), field_name, "{input}: {body}");
    }

    // The signature covers the announced type and size: other bytes are refused by storage.
    let body = request(
        &env,
        &admin,
        json!({ "courseId": course, "lessonId": video, "fileName": "v.mp4", "contentType": "video/mp4", "sizeBytes": 100 }),
    )
    .await;
    let ticket = &body["data"]["requestUpload"];
    let signed = |name: &str, value: Option<&str>| {
        let mut changed = ticket.clone();
        let headers = changed["upload"]["headers"]
            .as_array_mut()
            .expect("headers");
        headers.retain(|h| h["name"] != name);
        if let Some(value) = value {
            headers.push(json!({ "name": name, "value": value }));
        }
        changed
    };
    // (The client states the real length of what it sends.)
    let bigger = signed("content-length", None);
    assert_eq!(
        put(&bigger, bytes(101, 4)).await,
        403,
        "a bigger body than signed for"
    );
    let other_type = signed("content-type", Some("text/html"));
    assert_eq!(
        put(&other_type, bytes(100, 4)).await,
        403,
        "another type than signed for"
    );
    let id = ticket["media"]["id"].as_str().expect("id");
    let body = env.gql(Some(&admin), CONFIRM, json!({ "m": id })).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "nothing stored yet: {body}");
    let lessons = env
        .gql(Some(&admin), LESSON_MEDIA, json!({ "id": course }))
        .await;
    assert!(
        lessons["data"]["course"]["modules"][0]["lessons"][1]["media"].is_null(),
        "{lessons}"
    );

    // A replaced cover's row goes, and its object's deletion is queued with it.
    let first = upload(
        &env,
        &admin,
        &course,
        None,
        "one.png",
        "image/png",
        bytes(10, 5),
    )
    .await;
    let second = upload(
        &env,
        &admin,
        &course,
        None,
        "two.jpg",
        "image/jpeg",
        bytes(20, 6),
    )
    .await;
    let body = env.gql(Some(&admin), COVER, json!({ "id": course })).await;
    assert_eq!(
        body["data"]["course"]["cover"]["id"],
        second.as_str(),
        "{body}"
    );
    let queued = queued_deletions(&env).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert!(
        queued[0].contains(&format!("tenants/{tenant}/")),
        "{queued:?}"
    );
    // The outbox relay deletes the replaced object from storage.
    gone(&env, &queued[0]).await;
    let usage = env.gql(Some(&admin), USAGE, json!({})).await;
    assert_eq!(usage["data"]["storageUsage"]["files"], 1, "{usage}");
    assert_ne!(first, second);

    // Removing the cover detaches it.
    let body = env.gql(Some(&admin), REMOVE, json!({ "m": second })).await;
    assert_eq!(body["data"]["removeMedia"], true, "{body}");
    let body = env.gql(Some(&admin), COVER, json!({ "id": course })).await;
    assert!(body["data"]["course"]["cover"].is_null(), "{body}");
    let queued = queued_deletions(&env).await;
    assert_eq!(queued.len(), 2, "{queued:?}");
    gone(&env, &queued[1]).await;
}

/// Waits (at most 10 s) until storage no longer holds `key`.
async fn gone(env: &Env, key: &str) {
    for _ in 0..100 {
        if !env.s3.keys().iter().any(|k| k == key) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{key} is still stored: {:?}", env.s3.keys());
}

/// Object keys whose deletion the outbox holds, read as the database admin.
async fn queued_deletions(env: &Env) -> Vec<String> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let admin = env.db.admin().await;
    admin
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT payload->>'key' AS key FROM learning.outbox WHERE topic = 'media.deleted' ORDER BY created_at",
        ))
        .await
        .expect("outbox")
        .iter()
        .map(|r| r.try_get::<String>("", "key").expect("key"))
        .collect()
}

#[tokio::test]
async fn tenant_b_reaches_none_of_tenant_a_media() {
    let env = Env::start().await;
    let a = TenantId::generate();
    let b = TenantId::generate();
    let admin_a = env.keys.user(a, &[Role::Admin]);
    let admin_b = env.keys.user(b, &[Role::Admin]);
    let course = create(&env, &admin_a, "A's course").await;
    let cover = upload(
        &env,
        &admin_a,
        &course,
        None,
        "a.png",
        "image/png",
        bytes(50, 7),
    )
    .await;
    let body = request(
        &env,
        &admin_a,
        json!({ "courseId": course, "fileName": "p.png", "contentType": "image/png", "sizeBytes": 5 }),
    )
    .await;
    let pending = body["data"]["requestUpload"]["media"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    // By guessed ids: confirm, remove, upload into A's course.
    for id in [&cover, &pending] {
        let body = env.gql(Some(&admin_b), CONFIRM, json!({ "m": id })).await;
        assert_eq!(code(&body), "NOT_FOUND", "{body}");
        let body = env.gql(Some(&admin_b), REMOVE, json!({ "m": id })).await;
        assert_eq!(code(&body), "NOT_FOUND", "{body}");
    }
    let body = request(
        &env,
        &admin_b,
        json!({ "courseId": course, "fileName": "b.png", "contentType": "image/png", "sizeBytes": 5 }),
    )
    .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    // Through the course and `_entities`.
    let body = env
        .gql(Some(&admin_b), COVER, json!({ "id": course }))
        .await;
    assert!(body["data"]["course"].is_null(), "{body}");
    let entities = env
        .gql(
            Some(&admin_b),
            "query($r: [_Any!]!) { _entities(representations: $r) { ... on Course { cover { download { url } } } } }",
            json!({ "r": [{ "__typename": "Course", "id": course }] }),
        )
        .await;
    assert!(entities["data"]["_entities"][0].is_null(), "{entities}");
    // B's usage counts none of A's files, and B's own keys live under B's prefix.
    let usage = env.gql(Some(&admin_b), USAGE, json!({})).await;
    assert_eq!(
        usage["data"]["storageUsage"],
        json!({ "bytes": 0.0, "files": 0, "pending": 0 }),
        "{usage}"
    );
    let own = create(&env, &admin_b, "B's course").await;
    upload(
        &env,
        &admin_b,
        &own,
        None,
        "b.png",
        "image/png",
        bytes(9, 8),
    )
    .await;
    let keys = env.s3.keys();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(
        keys.iter()
            .filter(|k| k.starts_with(&format!("tenants/{a}/courses/{course}/")))
            .count(),
        1,
        "{keys:?}"
    );
    assert_eq!(
        keys.iter()
            .filter(|k| k.starts_with(&format!("tenants/{b}/courses/{own}/")))
            .count(),
        1,
        "{keys:?}"
    );
    // A's cover is still there for A.
    let body = env
        .gql(Some(&admin_a), COVER, json!({ "id": course }))
        .await;
    assert_eq!(
        body["data"]["course"]["cover"]["id"],
        cover.as_str(),
        "{body}"
    );
}
