//! Cohorts end to end: staff group enrolled students and schedule live sessions; a student sees
//! their own cohort's sessions and nobody else's; bad dates, addresses and foreign enrollments
//! are refused; tenant B reaches none of it.

mod common;

use common::*;
use serde_json::json;
use tenancy::{Role, TenantId};

const COHORT: &str = "mutation($c: ID!, $n: String!, $s: NaiveDate!, $e: NaiveDate!) { createCohort(courseId: $c, name: $n, startsOn: $s, endsOn: $e) { id name } }";
const MEMBER: &str =
    "mutation($c: ID!, $e: ID!) { addCohortMember(cohortId: $c, enrollmentId: $e) { id } }";
const SESSION: &str = "mutation($c: ID!, $i: ScheduleSessionInput!) { scheduleSession(cohortId: $c, input: $i) { id title meetingUrl } }";
const MY_SESSIONS: &str = "{ mySessions { title meetingUrl startsAt } }";
const ENROLL: &str = "mutation($c: ID!) { enroll(courseId: $c) { id } }";

#[tokio::test]
async fn students_see_their_cohorts_sessions_and_no_one_elses() {
    let env = Env::start().await;
    let tenant = TenantId::generate();
    let admin = env.keys.user(tenant, &[Role::Admin]);
    let ada = env.keys.user(tenant, &[Role::Student]);
    let bo = env.keys.user(tenant, &[Role::Student]);
    let (course, _) = published(&env, &admin, "Live course", 0, &[("One", true)]).await;
    let (other, _) = published(&env, &admin, "Other course", 0, &[("One", true)]).await;
    let body = env.gql(Some(&ada), ENROLL, json!({ "c": course })).await;
    let ada_enrollment = body["data"]["enroll"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    env.gql(Some(&bo), ENROLL, json!({ "c": course })).await;
    let body = env.gql(Some(&ada), ENROLL, json!({ "c": other })).await;
    let ada_other = body["data"]["enroll"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let body = env
        .gql(
            Some(&admin),
            COHORT,
            json!({ "c": course, "n": "Spring", "s": "2027-03-01", "e": "2027-02-01" }),
        )
        .await;
    assert_eq!(
        (code(&body), field(&body)),
        ("BAD_USER_INPUT", "endsOn"),
        "{body}"
    );
    let body = env
        .gql(
            Some(&admin),
            COHORT,
            json!({ "c": course, "n": "Spring", "s": "2027-03-01", "e": "2027-05-31" }),
        )
        .await;
    let cohort = body["data"]["createCohort"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    let body = env
        .gql(
            Some(&ada),
            COHORT,
            json!({ "c": course, "n": "Mine", "s": "2027-03-01", "e": "2027-05-31" }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");

    let body = env
        .gql(
            Some(&admin),
            MEMBER,
            json!({ "c": cohort, "e": ada_enrollment }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let body = env
        .gql(Some(&admin), MEMBER, json!({ "c": cohort, "e": ada_other }))
        .await;
    assert_eq!(
        (code(&body), field(&body)),
        ("BAD_USER_INPUT", "enrollmentId"),
        "{body}"
    );

    let session = json!({ "title": "Kick-off", "startsAt": "2027-03-01T17:00:00Z", "durationMinutes": 60,
                          "meetingUrl": "https://meet.example.com/kick-off" });
    let body = env
        .gql(Some(&admin), SESSION, json!({ "c": cohort, "i": session }))
        .await;
    assert_eq!(
        body["data"]["scheduleSession"]["title"], "Kick-off",
        "{body}"
    );
    let mut insecure = session.clone();
    insecure["meetingUrl"] = json!("http://meet.example.com/x");
    let body = env
        .gql(Some(&admin), SESSION, json!({ "c": cohort, "i": insecure }))
        .await;
    assert_eq!(
        (code(&body), field(&body)),
        ("BAD_USER_INPUT", "meetingUrl"),
        "{body}"
    );

    let body = env.gql(Some(&ada), MY_SESSIONS, json!({})).await;
    assert_eq!(
        body["data"]["mySessions"][0]["meetingUrl"], "https://meet.example.com/kick-off",
        "{body}"
    );
    // Bo is enrolled but in no cohort: no sessions, no cohorts.
    let body = env.gql(Some(&bo), MY_SESSIONS, json!({})).await;
    assert_eq!(body["data"]["mySessions"], json!([]), "{body}");
    let cohorts = "query($c: ID!) { courseCohorts(courseId: $c) { name sessions { title } } }";
    let body = env.gql(Some(&bo), cohorts, json!({ "c": course })).await;
    assert_eq!(body["data"]["courseCohorts"], json!([]), "{body}");
    let body = env.gql(Some(&ada), cohorts, json!({ "c": course })).await;
    assert_eq!(
        body["data"]["courseCohorts"],
        json!([{ "name": "Spring", "sessions": [{ "title": "Kick-off" }] }]),
        "{body}"
    );
    let body = env
        .gql(
            Some(&ada),
            "query($c: ID!) { courseCohorts(courseId: $c) { memberEnrollmentIds } }",
            json!({ "c": course }),
        )
        .await;
    assert_eq!(
        code(&body),
        "FORBIDDEN",
        "students do not list members: {body}"
    );

    // Tenant B reaches nothing.
    let admin_b = env.keys.user(TenantId::generate(), &[Role::Admin]);
    let body = env
        .gql(
            Some(&admin_b),
            MEMBER,
            json!({ "c": cohort, "e": ada_enrollment }),
        )
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    let body = env
        .gql(
            Some(&admin_b),
            SESSION,
            json!({ "c": cohort, "i": session }),
        )
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    let body = env
        .gql(Some(&admin_b), cohorts, json!({ "c": course }))
        .await;
    assert_eq!(body["data"]["courseCohorts"], json!([]), "{body}");
    let body = env
        .gql(
            Some(&admin_b),
            COHORT,
            json!({ "c": course, "n": "Hijack", "s": "2027-03-01", "e": "2027-05-31" }),
        )
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
}
