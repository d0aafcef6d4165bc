//! Quizzes over GraphQL: questions as students see them (never the answers), the staff's
//! question bank, and graded submissions.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use kit::ResultExt;
use kit::graphql::{caller, db};

use super::{Enrollment, parse_id};
use crate::entity::{quiz_attempt, quiz_question};
use crate::service::quizzes::{self, Answer, NewQuestion};

/// How a question is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum QuestionKind {
    /// One choice.
    SingleChoice,
    /// One or more choices.
    MultipleChoice,
    /// A short text.
    ShortText,
}

impl QuestionKind {
    fn stored(self) -> &'static str {
        match self {
            Self::SingleChoice => "single",
            Self::MultipleChoice => "multiple",
            Self::ShortText => "short",
        }
    }
}

/// A choice of a choice question.
#[derive(Clone, Debug, SimpleObject)]
pub struct Choice {
    /// The choice's id, sent back in answers.
    pub id: String,
    /// Its text.
    pub text: String,
}

/// A quiz question.
#[derive(Clone, Debug)]
pub struct QuizQuestion {
    question: quiz_question::Model,
    staff: bool,
}

impl QuizQuestion {
    /// `question`, with its answers when `staff` reads it.
    pub fn new(question: quiz_question::Model, staff: bool) -> Self {
        Self { question, staff }
    }
}

#[Object]
impl QuizQuestion {
    /// The question's id.
    async fn id(&self) -> ID {
        ID(self.question.id.to_string())
    }

    /// How it is answered.
    async fn kind(&self) -> QuestionKind {
        match self.question.kind.as_str() {
            "multiple" => QuestionKind::MultipleChoice,
            "short" => QuestionKind::ShortText,
            _ => QuestionKind::SingleChoice,
        }
    }

    /// The question.
    async fn prompt(&self) -> &str {
        &self.question.prompt
    }

    /// The choices (choice questions).
    async fn choices(&self) -> Vec<Choice> {
        serde_json::from_value::<Vec<serde_json::Value>>(self.question.choices.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|c| Choice {
                id: c["id"].as_str().unwrap_or_default().to_owned(),
                text: c["text"].as_str().unwrap_or_default().to_owned(),
            })
            .collect()
    }

    /// Points for a correct answer.
    async fn points(&self) -> i32 {
        self.question.points
    }

    /// The correct choice ids or accepted answers: staff only, null for everyone else.
    async fn answers(&self) -> Option<Vec<String>> {
        self.staff
            .then(|| serde_json::from_value(self.question.correct.clone()).unwrap_or_default())
    }
}

/// A graded attempt.
#[derive(Clone, Debug)]
pub struct QuizAttempt(quiz_attempt::Model);

#[Object]
impl QuizAttempt {
    /// The attempt's id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Points scored.
    async fn score(&self) -> i32 {
        self.0.score
    }

    /// Points possible.
    async fn max_score(&self) -> i32 {
        self.0.max_score
    }

    /// Reached the pass mark.
    async fn passed(&self) -> bool {
        self.0.passed
    }

    /// Submitted.
    async fn submitted_at(&self) -> DateTime<Utc> {
        self.0.submitted_at.into()
    }
}

/// A submission's outcome.
#[derive(Clone, Debug, SimpleObject)]
pub struct QuizResult {
    /// The graded attempt.
    pub attempt: QuizAttempt,
    /// Attempts still allowed.
    pub attempts_left: i32,
    /// The enrollment (completed when this pass finished the course).
    pub enrollment: Enrollment,
}

/// Input of `addQuizQuestion`.
#[derive(Debug, InputObject)]
pub struct QuizQuestionInput {
    /// How it is answered.
    pub kind: QuestionKind,
    /// The question.
    pub prompt: String,
    /// Choice texts (choice questions, 2 to 10).
    #[graphql(default)]
    pub choices: Vec<String>,
    /// Indexes of the correct choices (choice questions).
    #[graphql(default)]
    pub correct_choices: Vec<i32>,
    /// Accepted answers (short questions), compared without case or extra spaces.
    #[graphql(default)]
    pub accepted_answers: Vec<String>,
    /// Points (default 1).
    pub points: Option<i32>,
}

/// One answer of a submission.
#[derive(Debug, InputObject)]
pub struct QuizAnswerInput {
    /// The question.
    pub question_id: ID,
    /// Chosen choice ids (choice questions).
    #[graphql(default)]
    pub choice_ids: Vec<String>,
    /// The text (short questions).
    pub text: Option<String>,
}

/// Quiz mutations.
#[derive(Debug, Default)]
pub struct QuizMutation;

#[Object]
impl QuizMutation {
    /// Adds a question to a quiz lesson (its course's authors).
    async fn add_quiz_question(
        &self,
        ctx: &Context<'_>,
        lesson_id: ID,
        input: QuizQuestionInput,
    ) -> Result<QuizQuestion> {
        let caller = caller(ctx)?;
        let lesson_id = parse_id("lessonId", &lesson_id)?;
        let new = NewQuestion {
            kind: input.kind.stored().to_owned(),
            prompt: input.prompt,
            choices: input.choices,
            correct: input
                .correct_choices
                .into_iter()
                .map(|i| usize::try_from(i).unwrap_or(usize::MAX))
                .collect(),
            accepted: input.accepted_answers,
            points: input.points,
        };
        let question = quizzes::add_question(db(ctx), caller, lesson_id, new)
            .await
            .gql()?;
        Ok(QuizQuestion::new(question, true))
    }

    /// Deletes a quiz question. Returns its id.
    async fn delete_quiz_question(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let caller = caller(ctx)?;
        let uuid = parse_id("id", &id)?;
        quizzes::delete_question(db(ctx), caller, uuid)
            .await
            .gql()?;
        Ok(id)
    }

    /// The signed-in student's answers to a quiz, graded on the server; a pass completes the
    /// lesson.
    async fn submit_quiz(
        &self,
        ctx: &Context<'_>,
        lesson_id: ID,
        answers: Vec<QuizAnswerInput>,
    ) -> Result<QuizResult> {
        let caller = caller(ctx)?;
        let lesson_id = parse_id("lessonId", &lesson_id)?;
        let answers = answers
            .into_iter()
            .map(|a| {
                Ok(Answer {
                    question_id: parse_id("questionId", &a.question_id)?,
                    choice_ids: a.choice_ids,
                    text: a.text,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let graded = quizzes::submit(db(ctx), caller, lesson_id, answers)
            .await
            .gql()?;
        Ok(QuizResult {
            attempt: QuizAttempt(graded.attempt),
            attempts_left: graded.attempts_left,
            enrollment: Enrollment(graded.enrollment),
        })
    }
}
