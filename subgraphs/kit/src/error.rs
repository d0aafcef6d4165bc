//! Stable GraphQL error codes, the mapping from domain errors to them, and the pass that
//! guarantees no error leaves a subgraph without a code or with an internal message.

use async_graphql::{ErrorExtensionValues, Response, ServerError, Value};

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

/// The code of a database failure: a database that cannot be reached, a connection lost
/// ([`tenancy::connection_lost`]), or a pool with no connection free within its acquire
/// timeout, is `UNAVAILABLE` (retrying later may succeed); any other failure is `INTERNAL`.
pub fn db_code(err: &sea_orm::DbErr) -> Code {
    use sea_orm::sqlx::Error as Sqlx;
    use sea_orm::{DbErr, RuntimeErr};
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Code::Unavailable,
        DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e))
            if tenancy::connection_lost(e)
                || matches!(
                    e.as_ref(),
                    Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed
                ) =>
        {
            Code::Unavailable
        }
        _ => Code::Internal,
    }
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

/// Gives every error of a response a code and keeps internal text away from clients, applied
/// to each response a subgraph sends (see [`crate::document::execute`], which codes parse errors
/// and operation choice itself before execution):
///
/// - an error with a `path` came from a resolver: one not produced through [`to_graphql`] (a
///   stray `?` on a database error) is logged and replaced by a generic `INTERNAL` error;
/// - an error without one was raised before execution, by validation or a limit (depth,
///   complexity, recursion, directives): `GRAPHQL_VALIDATION_FAILED`.
///
/// This is a pass over the finished response rather than an async-graphql extension on purpose:
/// with any extension installed, async-graphql routes every field of every object through the
/// extension chain (a boxed future and two registry lookups per field).
pub fn code_errors(resp: &mut Response) {
    for err in resp.errors.iter_mut().filter(|e| !has_code(e)) {
        if err.path.is_empty() {
            set_code(err, Code::ValidationFailed);
            continue;
        }
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
    for err in &resp.errors {
        let code = match err.extensions.as_ref().and_then(|e| e.get("code")) {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        metrics::counter!("graphql_errors_total", "code" => code).increment(1);
    }
}

/// A response of one error with `code`, raised before execution (a parse error, a bad choice of
/// operation).
pub fn refused(mut err: ServerError, code: Code) -> Response {
    set_code(&mut err, code);
    let mut resp = Response::from_errors(vec![err]);
    code_errors(&mut resp);
    resp
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

    #[test]
    fn an_unreachable_or_exhausted_database_is_unavailable_other_failures_internal() {
        use std::sync::Arc;

        use sea_orm::sqlx::Error as Sqlx;
        use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr};

        let driver = |e: Sqlx| RuntimeErr::SqlxError(Arc::new(e));
        let refused = || Sqlx::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        for unavailable in [
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
            DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
            DbErr::Conn(driver(refused())),
            DbErr::Query(driver(Sqlx::PoolTimedOut)),
            DbErr::Exec(driver(Sqlx::PoolClosed)),
            DbErr::Query(driver(refused())),
        ] {
            assert_eq!(db_code(&unavailable), Code::Unavailable, "{unavailable:?}");
        }
        for internal in [
            DbErr::Query(driver(Sqlx::RowNotFound)),
            DbErr::Exec(driver(Sqlx::Protocol("unexpected message".into()))),
            DbErr::RecordNotFound("course".into()),
            DbErr::Custom("bug".into()),
        ] {
            assert_eq!(db_code(&internal), Code::Internal, "{internal:?}");
        }
    }
}
