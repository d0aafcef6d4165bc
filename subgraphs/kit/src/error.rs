//! Stable GraphQL error codes, the mapping from domain errors to them, and the extension that
//! guarantees no error leaves a subgraph without a code or with an internal message.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextRequest,
    NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    ErrorExtensionValues, Response, ServerError, ServerResult, ValidationResult, Value, Variables,
};

/// A stable error code, sent to clients as `extensions.code`. Never renamed once published.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// The input is invalid; `extensions.field` names the offending field when known.
    BadUserInput,
    /// No valid credentials.
    Unauthenticated,
    /// Valid credentials without permission.
    Forbidden,
    /// The thing does not exist (or is not visible to the caller: the two are indistinguishable).
    NotFound,
    /// The change conflicts with the current state (duplicate, stale version, wrong status).
    Conflict,
    /// Over a rate or cost budget.
    RateLimited,
    /// A dependency is down; retrying later may succeed.
    Unavailable,
    /// The request could not be understood (unknown operation, malformed body).
    BadRequest,
    /// The document is not valid GraphQL.
    ParseFailed,
    /// The document does not validate against the schema or exceeds depth/complexity limits.
    ValidationFailed,
    /// A bug or an unexpected failure. Details are in the logs under `extensions.errorId`.
    Internal,
}

impl Code {
    /// Every code.
    pub const ALL: [Code; 11] = [
        Code::BadUserInput,
        Code::Unauthenticated,
        Code::Forbidden,
        Code::NotFound,
        Code::Conflict,
        Code::RateLimited,
        Code::Unavailable,
        Code::BadRequest,
        Code::ParseFailed,
        Code::ValidationFailed,
        Code::Internal,
    ];

    /// The code with wire name `name`.
    pub fn parse(name: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The code's wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Code::BadUserInput => "BAD_USER_INPUT",
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::Forbidden => "FORBIDDEN",
            Code::NotFound => "NOT_FOUND",
            Code::Conflict => "CONFLICT",
            Code::RateLimited => "RATE_LIMITED",
            Code::Unavailable => "UNAVAILABLE",
            Code::BadRequest => "BAD_REQUEST",
            Code::ParseFailed => "GRAPHQL_PARSE_FAILED",
            Code::ValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Code::Internal => "INTERNAL",
        }
    }

    /// Whether the error's message may be shown to the client. Internal and unavailable errors
    /// get a generic message; their cause is logged.
    pub fn is_public(&self) -> bool {
        !matches!(self, Code::Internal | Code::Unavailable)
    }
}

/// Whether a database error is a unique-constraint violation on `constraint` (a domain maps it
/// to its own `CONFLICT`).
pub fn is_unique_violation(err: &sea_orm::DbErr, constraint: &str) -> bool {
    matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(msg)) if msg.contains(constraint))
}

/// A domain error (`thiserror` enum) that knows its code. Its `Display` text is the client
/// message for public codes, and is logged (never sent) for internal ones.
pub trait DomainError: std::error::Error + Send + Sync + 'static {
    /// The stable code.
    fn code(&self) -> Code;

    /// The input field at fault, for `BAD_USER_INPUT`.
    fn field(&self) -> Option<&str> {
        None
    }

    /// Seconds after which retrying may succeed, for `RATE_LIMITED` (`extensions.retryAfter`).
    fn retry_after(&self) -> Option<u64> {
        None
    }
}

impl DomainError for tenancy::AccessError {
    fn code(&self) -> Code {
        match self {
            tenancy::AccessError::Unauthenticated => Code::Unauthenticated,
            tenancy::AccessError::Forbidden => Code::Forbidden,
        }
    }
}

/// Converts a domain error into a GraphQL error with `extensions.code`, logging internal causes
/// with an `errorId` the client can quote.
pub fn to_graphql<E: DomainError>(err: &E) -> async_graphql::Error {
    let code = err.code();
    if code.is_public() {
        let mut e = async_graphql::Error::new(err.to_string());
        let ext = e
            .extensions
            .get_or_insert_with(ErrorExtensionValues::default);
        ext.set("code", code.as_str());
        if let Some(field) = err.field() {
            ext.set("field", field);
        }
        if let Some(secs) = err.retry_after() {
            ext.set("retryAfter", secs);
        }
        e
    } else {
        let error_id = uuid::Uuid::now_v7().to_string();
        tracing::error!(error_id, code = code.as_str(), error = %err, cause = ?source_chain(err), "request failed");
        coded(public_message(code), code, Some(&error_id))
    }
}

fn source_chain(err: &dyn std::error::Error) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push(e.to_string());
        cur = e.source();
    }
    out
}

fn public_message(code: Code) -> &'static str {
    match code {
        Code::Unavailable => "the service is temporarily unavailable; try again shortly",
        _ => "internal error",
    }
}

fn coded(message: &str, code: Code, error_id: Option<&str>) -> async_graphql::Error {
    let mut e = async_graphql::Error::new(message);
    let ext = e
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    ext.set("code", code.as_str());
    if let Some(id) = error_id {
        ext.set("errorId", id);
    }
    e
}

/// `service_call().await.gql()?` in resolvers: maps the domain error to a coded GraphQL error.
pub trait ResultExt<T> {
    /// Maps the error with [`to_graphql`].
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T, E: DomainError> ResultExt<T> for Result<T, E> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| to_graphql(&e))
    }
}

fn has_code(err: &ServerError) -> bool {
    err.extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some())
}

fn set_code(err: &mut ServerError, code: Code) {
    err.extensions
        .get_or_insert_with(ErrorExtensionValues::default)
        .set("code", code.as_str());
}

/// Makes every error carry a code and keeps internal text away from clients:
/// parse errors get `GRAPHQL_PARSE_FAILED`, validation and limit errors
/// `GRAPHQL_VALIDATION_FAILED`, request errors `BAD_REQUEST`, and any execution error that was
/// not produced through [`to_graphql`] (a stray `?` on a database error) is logged and replaced
/// by a generic `INTERNAL` error.
#[derive(Debug, Default, Clone, Copy)]
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExt {
            executed: AtomicBool::new(false),
        })
    }
}

struct ErrorCodesExt {
    executed: AtomicBool,
}

#[async_trait::async_trait]
impl Extension for ErrorCodesExt {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut resp = next.run(ctx).await;
        if !self.executed.load(Ordering::Relaxed) {
            for err in resp.errors.iter_mut().filter(|e| !has_code(e)) {
                set_code(err, Code::BadRequest);
            }
        }
        for err in &resp.errors {
            let code = err
                .extensions
                .as_ref()
                .and_then(|e| e.get("code"))
                .and_then(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            metrics::counter!("graphql_errors_total", "code" => code).increment(1);
        }
        resp
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables).await.map_err(|mut e| {
            if !has_code(&e) {
                set_code(&mut e, Code::ParseFailed);
            }
            e
        })
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|mut errs| {
            for e in errs.iter_mut().filter(|e| !has_code(e)) {
                set_code(e, Code::ValidationFailed);
            }
            errs
        })
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        self.executed.store(true, Ordering::Relaxed);
        let mut resp = next.run(ctx, operation_name).await;
        for err in resp.errors.iter_mut().filter(|e| !has_code(e)) {
            let error_id = uuid::Uuid::now_v7().to_string();
            tracing::error!(error_id, error = %err.message, path = ?err.path, "uncoded error replaced by INTERNAL");
            let path = std::mem::take(&mut err.path);
            let locations = std::mem::take(&mut err.locations);
            *err = coded(
                public_message(Code::Internal),
                Code::Internal,
                Some(&error_id),
            )
            .into_server_error(async_graphql::Pos::default());
            err.path = path;
            err.locations = locations;
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_parses_back_from_its_wire_name() {
        for code in Code::ALL {
            assert_eq!(Code::parse(code.as_str()), Some(code));
        }
        assert_eq!(Code::parse("internal"), None);
        assert_eq!(Code::parse(""), None);
    }
}
