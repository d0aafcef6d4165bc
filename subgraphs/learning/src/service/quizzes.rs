//! Quizzes: staff keep a quiz lesson's question bank (single choice, multiple choice, short
//! answers); enrolled students submit attempts, graded here — the correct answers never leave
//! the service before or after — within the lesson's attempt limit. A passed attempt completes
//! the lesson, and a lesson that requires a pass cannot be completed otherwise.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::json;
use tenancy::{TenantContext, TenantTx};
use uuid::Uuid;

use super::{AUTHOR, courses, enrollments, validate};
use crate::LearningError;
use crate::entity::{enrollment, lesson, quiz_attempt, quiz_question};

/// A question to add.
#[derive(Clone, Debug, Default)]
pub struct NewQuestion {
    /// `single`, `multiple` or `short`.
    pub kind: String,
    /// The question.
    pub prompt: String,
    /// Choice texts (choice questions).
    pub choices: Vec<String>,
    /// Indexes of the correct choices (choice questions).
    pub correct: Vec<usize>,
    /// Accepted answers (short questions), compared without case or extra spaces.
    pub accepted: Vec<String>,
    /// Points (default 1).
    pub points: Option<i32>,
}

/// One answer of an attempt.
#[derive(Clone, Debug, Default)]
pub struct Answer {
    /// The question.
    pub question_id: Uuid,
    /// Chosen choice ids (choice questions).
    pub choice_ids: Vec<String>,
    /// The text (short questions).
    pub text: Option<String>,
}

/// A graded attempt and the enrollment after it.
#[derive(Clone, Debug)]
pub struct Graded {
    /// The attempt.
    pub attempt: quiz_attempt::Model,
    /// Attempts still allowed.
    pub attempts_left: i32,
    /// The enrollment (completed when this pass finished the course).
    pub enrollment: enrollment::Model,
}

fn choice_id(index: usize) -> String {
    format!("c{}", index + 1)
}

fn normalize(answer: &str) -> String {
    answer
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Checks `new` and returns its stored `(choices, correct)`.
fn shape(new: &NewQuestion) -> Result<(serde_json::Value, serde_json::Value), LearningError> {
    match new.kind.as_str() {
        "single" | "multiple" => {
            if !(2..=10).contains(&new.choices.len()) {
                return Err(LearningError::invalid("choices", "give 2 to 10 choices"));
            }
            let mut correct = new.correct.clone();
            correct.sort_unstable();
            correct.dedup();
            let wanted = if new.kind == "single" {
                1..=1
            } else {
                1..=new.choices.len()
            };
            if !wanted.contains(&correct.len()) || correct.iter().any(|i| *i >= new.choices.len()) {
                return Err(LearningError::invalid(
                    "correct",
                    "name the correct choices by index: exactly one for a single-choice question",
                ));
            }
            let choices = new
                .choices
                .iter()
                .enumerate()
                .map(|(i, text)| {
                    validate::title("choices", text)
                        .map(|t| json!({ "id": choice_id(i), "text": t }))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let correct: Vec<String> = correct.into_iter().map(choice_id).collect();
            Ok((json!(choices), json!(correct)))
        }
        "short" => {
            let accepted: Vec<String> = new
                .accepted
                .iter()
                .map(|a| normalize(a))
                .filter(|a| !a.is_empty())
                .collect();
            if accepted.is_empty() || accepted.len() > 20 {
                return Err(LearningError::invalid(
                    "accepted",
                    "give 1 to 20 accepted answers",
                ));
            }
            Ok((json!([]), json!(accepted)))
        }
        _ => Err(LearningError::invalid("kind", "unknown question kind")),
    }
}

/// Adds a question at the end of a quiz lesson (its course's authors).
pub async fn add_question(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    lesson_id: Uuid,
    new: NewQuestion,
) -> Result<quiz_question::Model, LearningError> {
    ctx.require(AUTHOR)?;
    let prompt = validate::long_text("prompt", new.prompt.trim(), 2000)?;
    if prompt.is_empty() {
        return Err(LearningError::invalid("prompt", "prompt must not be empty"));
    }
    let points = new.points.unwrap_or(1);
    if !(1..=100).contains(&points) {
        return Err(LearningError::invalid(
            "points",
            "points must be between 1 and 100",
        ));
    }
    let (choices, correct) = shape(&new)?;
    let tx = TenantTx::begin(db, ctx).await?;
    let lesson = quiz_for_change(&tx, ctx, lesson_id).await?;
    let count = quiz_question::Entity::find()
        .filter(quiz_question::Column::LessonId.eq(lesson.id))
        .count(&*tx)
        .await?;
    if count >= 100 {
        return Err(LearningError::invalid(
            "lessonId",
            "a quiz holds at most 100 questions",
        ));
    }
    let created = quiz_question::ActiveModel {
        tenant_id: Set(ctx.tenant().as_uuid()),
        id: Set(Uuid::now_v7()),
        lesson_id: Set(lesson.id),
        position: Set(count as i32),
        kind: Set(new.kind),
        prompt: Set(prompt),
        choices: Set(choices),
        correct: Set(correct),
        points: Set(points),
        created_at: Set(chrono::Utc::now().into()),
    }
    .insert(&*tx)
    .await?;
    tx.commit().await?;
    Ok(created)
}

/// The quiz lesson `id` inside `tx`, its course locked and editable by `ctx`.
async fn quiz_for_change(
    tx: &TenantTx,
    ctx: &TenantContext,
    id: Uuid,
) -> Result<lesson::Model, LearningError> {
    let lesson = lesson::Entity::find_by_id((ctx.tenant().as_uuid(), id))
        .one(&**tx)
        .await?
        .ok_or(LearningError::NotFound("lesson"))?;
    courses::for_change(tx, ctx, lesson.course_id).await?;
    if lesson.kind != "quiz" {
        return Err(LearningError::invalid(
            "lessonId",
            "questions belong to quiz lessons",
        ));
    }
    Ok(lesson)
}

/// Deletes a question (its course's authors).
pub async fn delete_question(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    id: Uuid,
) -> Result<(), LearningError> {
    ctx.require(AUTHOR)?;
    let tx = TenantTx::begin(db, ctx).await?;
    let question = quiz_question::Entity::find_by_id((ctx.tenant().as_uuid(), id))
        .one(&*tx)
        .await?
        .ok_or(LearningError::NotFound("question"))?;
    quiz_for_change(&tx, ctx, question.lesson_id).await?;
    quiz_question::Entity::delete_by_id((question.tenant_id, question.id))
        .exec(&*tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A quiz's questions, for those who may read the lesson (`readable`).
pub async fn questions(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    lesson_id: Uuid,
) -> Result<Vec<quiz_question::Model>, LearningError> {
    let tx = TenantTx::begin(db, ctx).await?;
    let rows = quiz_question::Entity::find()
        .filter(quiz_question::Column::LessonId.eq(lesson_id))
        .order_by_asc(quiz_question::Column::Position)
        .all(&*tx)
        .await?;
    tx.commit().await?;
    Ok(rows)
}

/// Whether `answer` earns `question`'s points.
fn correct(question: &quiz_question::Model, answer: Option<&Answer>) -> bool {
    let Some(answer) = answer else {
        return false;
    };
    let expected: Vec<String> =
        serde_json::from_value(question.correct.clone()).unwrap_or_default();
    match question.kind.as_str() {
        "short" => answer
            .text
            .as_deref()
            .is_some_and(|t| expected.contains(&normalize(t))),
        _ => {
            let mut chosen = answer.choice_ids.clone();
            chosen.sort();
            chosen.dedup();
            let mut expected = expected;
            expected.sort();
            chosen == expected
        }
    }
}

/// Whether the enrollment has a passed attempt at `lesson_id`.
pub(crate) async fn passed<C: ConnectionTrait>(
    conn: &C,
    enrollment_id: Uuid,
    lesson_id: Uuid,
) -> Result<bool, LearningError> {
    let found = quiz_attempt::Entity::find()
        .filter(quiz_attempt::Column::EnrollmentId.eq(enrollment_id))
        .filter(quiz_attempt::Column::LessonId.eq(lesson_id))
        .filter(quiz_attempt::Column::Passed.eq(true))
        .count(conn)
        .await?;
    Ok(found > 0)
}

/// The signed-in student submits `answers` to a quiz lesson of a course they are enrolled in;
/// graded here. A pass completes the lesson (and the course when it was the last one).
pub async fn submit(
    db: &DatabaseConnection,
    ctx: &TenantContext,
    lesson_id: Uuid,
    answers: Vec<Answer>,
) -> Result<Graded, LearningError> {
    let me = ctx.require_user()?;
    if answers.len() > 100 {
        return Err(LearningError::invalid("answers", "at most 100 answers"));
    }
    let tx = TenantTx::begin(db, ctx).await?;
    let lesson = lesson::Entity::find_by_id((ctx.tenant().as_uuid(), lesson_id))
        .one(&*tx)
        .await?
        .filter(|l| l.kind == "quiz")
        .ok_or(LearningError::NotFound("lesson"))?;
    let enrollment = enrollments::learning_enrollment(&tx, me.as_uuid(), lesson.course_id)
        .await?
        .ok_or(LearningError::NotFound("lesson"))?;
    let used = quiz_attempt::Entity::find()
        .filter(quiz_attempt::Column::EnrollmentId.eq(enrollment.id))
        .filter(quiz_attempt::Column::LessonId.eq(lesson.id))
        .count(&*tx)
        .await? as i32;
    if used >= lesson.max_attempts {
        return Err(LearningError::invalid(
            "attempts",
            "no attempts left for this quiz",
        ));
    }
    let questions = quiz_question::Entity::find()
        .filter(quiz_question::Column::LessonId.eq(lesson.id))
        .all(&*tx)
        .await?;
    if questions.is_empty() {
        return Err(LearningError::invalid(
            "lessonId",
            "this quiz has no questions yet",
        ));
    }
    let max_score: i32 = questions.iter().map(|q| q.points).sum();
    let score: i32 = questions
        .iter()
        .filter(|q| correct(q, answers.iter().find(|a| a.question_id == q.id)))
        .map(|q| q.points)
        .sum();
    let passed = score * 100 >= lesson.pass_mark_percent * max_score;
    let stored: Vec<serde_json::Value> = answers
        .iter()
        .map(|a| json!({ "questionId": a.question_id, "choiceIds": a.choice_ids, "text": a.text }))
        .collect();
    let attempt = quiz_attempt::ActiveModel {
        tenant_id: Set(ctx.tenant().as_uuid()),
        id: Set(Uuid::now_v7()),
        enrollment_id: Set(enrollment.id),
        lesson_id: Set(lesson.id),
        answers: Set(json!(stored)),
        score: Set(score),
        max_score: Set(max_score),
        passed: Set(passed),
        submitted_at: Set(chrono::Utc::now().into()),
    }
    .insert(&*tx)
    .await?;
    let enrollment = if passed {
        enrollments::complete_lesson_in(&tx, ctx, enrollment, lesson.id).await?
    } else {
        enrollment
    };
    tx.commit().await?;
    Ok(Graded {
        attempt,
        attempts_left: lesson.max_attempts - used - 1,
        enrollment,
    })
}

/// Whether `ctx` may see a quiz's correct answers: its course's staff.
pub fn sees_answers(ctx: &TenantContext) -> bool {
    super::is_staff(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(kind: &str, correct: serde_json::Value) -> quiz_question::Model {
        quiz_question::Model {
            tenant_id: Uuid::nil(),
            id: Uuid::nil(),
            lesson_id: Uuid::nil(),
            position: 0,
            kind: kind.into(),
            prompt: "?".into(),
            choices: json!([]),
            correct,
            points: 1,
            created_at: chrono::Utc::now().into(),
        }
    }

    fn answer(choices: &[&str], text: Option<&str>) -> Answer {
        Answer {
            question_id: Uuid::nil(),
            choice_ids: choices.iter().map(|c| (*c).to_owned()).collect(),
            text: text.map(str::to_owned),
        }
    }

    #[test]
    fn answers_are_graded_exactly() {
        let single = question("single", json!(["c2"]));
        assert!(correct(&single, Some(&answer(&["c2"], None))));
        assert!(!correct(&single, Some(&answer(&["c1", "c2"], None))));
        assert!(!correct(&single, None));
        let multiple = question("multiple", json!(["c1", "c3"]));
        assert!(correct(&multiple, Some(&answer(&["c3", "c1", "c1"], None))));
        assert!(!correct(&multiple, Some(&answer(&["c1"], None))));
        let short = question("short", json!(["borrow checker"]));
        assert!(correct(
            &short,
            Some(&answer(&[], Some("  Borrow   CHECKER ")))
        ));
        assert!(!correct(&short, Some(&answer(&[], Some("borrow")))));
    }

    #[test]
    fn questions_are_checked_before_they_are_stored() {
        let single = NewQuestion {
            kind: "single".into(),
            prompt: "?".into(),
            choices: vec!["a".into(), "b".into()],
            correct: vec![0, 1],
            ..Default::default()
        };
        assert!(
            shape(&single).is_err(),
            "two answers to a single-choice question"
        );
        let out_of_range = NewQuestion {
            correct: vec![5],
            kind: "multiple".into(),
            ..single.clone()
        };
        assert!(shape(&out_of_range).is_err());
        let fine = NewQuestion {
            correct: vec![1],
            ..single
        };
        let (choices, correct) = shape(&fine).expect("valid");
        assert_eq!(choices[1], json!({ "id": "c2", "text": "b" }));
        assert_eq!(correct, json!(["c2"]));
    }
}
