//! Quizzes end to end: staff build a question bank, students never see the answers, attempts
//! are graded on the server within the limit, a pass completes the quiz lesson (and the course),
//! a quiz that requires a pass cannot be completed otherwise, and nobody outside the course or
//! the tenant touches it.

mod common;

use common::*;
use serde_json::{Value, json};
use tenancy::{Role, TenantId};

const QUESTION: &str = "mutation($l: ID!, $i: QuizQuestionInput!) { addQuizQuestion(lessonId: $l, input: $i) { id answers } }";
const QUESTIONS: &str = "query($id: ID!) { course(id: $id) { modules { lessons { kind questions { id kind prompt choices { id text } answers } } } } }";
const SUBMIT: &str =
    "mutation($l: ID!, $a: [QuizAnswerInput!]!) { submitQuiz(lessonId: $l, answers: $a) {
  attempt { score maxScore passed } attemptsLeft enrollment { status } } }";
const COMPLETE: &str =
    "mutation($l: ID!) { completeLesson(lessonId: $l) { enrollment { status } } }";

fn quiz_questions(body: &Value) -> Vec<Value> {
    body["data"]["course"]["modules"][0]["lessons"]
        .as_array()
        .and_then(|ls| ls.iter().find(|l| l["kind"] == "QUIZ"))
        .and_then(|l| l["questions"].as_array().cloned())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_student_passes_a_server_graded_quiz_that_never_shows_its_answers() {
    let env = Env::start().await;
    let tenant = TenantId::generate();
    let admin = env.keys.user(tenant, &[Role::Admin]);
    let student = env.keys.user(tenant, &[Role::Student]);
    let outsider = env.keys.user(tenant, &[Role::Student]);
    let course = create(&env, &admin, "Quizzed").await;
    let module = add_module(&env, &admin, &course, "Only").await;
    let intro = add_lesson(&env, &admin, &module, "Intro", false).await;
    let body = env
        .gql(
            Some(&admin),
            ADD_LESSON,
            json!({ "m": module, "i": { "title": "Check", "kind": "QUIZ" } }),
        )
        .await;
    let quiz = body["data"]["addLesson"]["id"]
        .as_str()
        .expect("quiz")
        .to_owned();
    let body = env
        .gql(Some(&admin), "mutation($id: ID!) { updateLesson(id: $id, input: { maxAttempts: 2 }) { maxAttempts passMarkPercent } }", json!({ "id": quiz }))
        .await;
    assert_eq!(
        body["data"]["updateLesson"],
        json!({ "maxAttempts": 2, "passMarkPercent": 70 }),
        "{body}"
    );

    let questions = [
        json!({ "kind": "SINGLE_CHOICE", "prompt": "Who frees memory?", "choices": ["GC", "Drop", "You"], "correctChoices": [1] }),
        json!({ "kind": "MULTIPLE_CHOICE", "prompt": "Which are traits?", "choices": ["Clone", "struct", "Debug"], "correctChoices": [0, 2] }),
        json!({ "kind": "SHORT_TEXT", "prompt": "What checks borrows?", "acceptedAnswers": ["borrow checker"] }),
    ];
    let mut ids = Vec::new();
    for q in questions {
        let body = env
            .gql(Some(&admin), QUESTION, json!({ "l": quiz, "i": q }))
            .await;
        ids.push(
            body["data"]["addQuizQuestion"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{body}"))
                .to_owned(),
        );
    }
    // Bad questions are refused with the field at fault; questions only go on quiz lessons.
    let body = env
        .gql(Some(&admin), QUESTION, json!({ "l": quiz, "i": { "kind": "SINGLE_CHOICE", "prompt": "?", "choices": ["a", "b"], "correctChoices": [0, 1] } }))
        .await;
    assert_eq!(
        (code(&body), field(&body)),
        ("BAD_USER_INPUT", "correct"),
        "{body}"
    );
    let body = env
        .gql(Some(&admin), QUESTION, json!({ "l": intro, "i": { "kind": "SHORT_TEXT", "prompt": "?", "acceptedAnswers": ["x"] } }))
        .await;
    assert_eq!(
        (code(&body), field(&body)),
        ("BAD_USER_INPUT", "lessonId"),
        "{body}"
    );
    let body = env
        .gql(Some(&student), QUESTION, json!({ "l": quiz, "i": { "kind": "SHORT_TEXT", "prompt": "?", "acceptedAnswers": ["x"] } }))
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");

    env.gql(
        Some(&admin),
        PRICE,
        json!({ "id": course, "p": { "amountCents": 0, "currency": "EUR" } }),
    )
    .await;
    let body = env
        .gql(Some(&admin), PUBLISH, json!({ "id": course }))
        .await;
    assert!(body["errors"].is_null(), "{body}");

    // Not enrolled: no questions. Enrolled: questions, never answers. Staff: answers.
    let body = env
        .gql(Some(&student), QUESTIONS, json!({ "id": course }))
        .await;
    assert_eq!(quiz_questions(&body), Vec::<Value>::new(), "{body}");
    env.gql(
        Some(&student),
        "mutation($c: ID!) { enroll(courseId: $c) { id } }",
        json!({ "c": course }),
    )
    .await;
    let body = env
        .gql(Some(&student), QUESTIONS, json!({ "id": course }))
        .await;
    let seen = quiz_questions(&body);
    assert_eq!(seen.len(), 3, "{body}");
    assert!(seen.iter().all(|q| q["answers"].is_null()), "{body}");
    assert!(!body.to_string().contains("borrow checker"), "{body}");
    let body = env
        .gql(Some(&admin), QUESTIONS, json!({ "id": course }))
        .await;
    assert_eq!(
        quiz_questions(&body)[1]["answers"],
        json!(["c1", "c3"]),
        "{body}"
    );

    // A quiz that requires a pass is not completed by clicking.
    let body = env
        .gql(Some(&student), COMPLETE, json!({ "l": quiz }))
        .await;
    assert_eq!(
        (code(&body), field(&body)),
        ("BAD_USER_INPUT", "lessonId"),
        "{body}"
    );

    let wrong = json!([
        { "questionId": ids[0], "choiceIds": ["c1"] },
        { "questionId": ids[1], "choiceIds": ["c1"] },
        { "questionId": ids[2], "text": "the compiler" },
    ]);
    let body = env
        .gql(Some(&student), SUBMIT, json!({ "l": quiz, "a": wrong }))
        .await;
    assert_eq!(
        body["data"]["submitQuiz"],
        json!({ "attempt": { "score": 0, "maxScore": 3, "passed": false }, "attemptsLeft": 1, "enrollment": { "status": "ACTIVE" } }),
        "{body}"
    );
    let body = env
        .gql(Some(&student), COMPLETE, json!({ "l": intro }))
        .await;
    assert_eq!(
        body["data"]["completeLesson"]["enrollment"]["status"], "ACTIVE",
        "{body}"
    );

    let right = json!([
        { "questionId": ids[0], "choiceIds": ["c2"] },
        { "questionId": ids[1], "choiceIds": ["c3", "c1"] },
        { "questionId": ids[2], "text": "  Borrow Checker " },
    ]);
    let body = env
        .gql(Some(&student), SUBMIT, json!({ "l": quiz, "a": right }))
        .await;
    assert_eq!(
        body["data"]["submitQuiz"],
        json!({ "attempt": { "score": 3, "maxScore": 3, "passed": true }, "attemptsLeft": 0, "enrollment": { "status": "COMPLETED" } }),
        "the pass completes the quiz and with it the course: {body}"
    );
    let body = env
        .gql(Some(&student), SUBMIT, json!({ "l": quiz, "a": right }))
        .await;
    assert_eq!(
        (code(&body), field(&body)),
        ("BAD_USER_INPUT", "attempts"),
        "{body}"
    );

    // Someone not enrolled cannot submit.
    let body = env
        .gql(Some(&outsider), SUBMIT, json!({ "l": quiz, "a": right }))
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");

    // Tenant B reaches nothing.
    let b = TenantId::generate();
    let admin_b = env.keys.user(b, &[Role::Admin]);
    let student_b = env.keys.user(b, &[Role::Student]);
    let body = env
        .gql(Some(&student_b), SUBMIT, json!({ "l": quiz, "a": right }))
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    let body = env
        .gql(Some(&admin_b), QUESTION, json!({ "l": quiz, "i": { "kind": "SHORT_TEXT", "prompt": "?", "acceptedAnswers": ["x"] } }))
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    let body = env
        .gql(
            Some(&admin_b),
            "mutation($id: ID!) { deleteQuizQuestion(id: $id) }",
            json!({ "id": ids[0] }),
        )
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    let body = env
        .gql(Some(&admin), QUESTIONS, json!({ "id": course }))
        .await;
    assert_eq!(quiz_questions(&body).len(), 3, "untouched: {body}");
}
