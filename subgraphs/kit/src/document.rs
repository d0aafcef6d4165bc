//! Running a GraphQL request on a subgraph's schema: documents parsed once and kept by their
//! text (a subgraph behind the gateway sees the same few planned operations again and again),
//! the operation chosen, and every error of the response coded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument};
use async_graphql::{ObjectType, Request, Response, Schema, ServerError, SubscriptionType};

use crate::error::{Code, code_errors, refused};

/// How many parsed documents a process keeps.
const CAPACITY: usize = 1024;

/// Documents longer than this are parsed every time (they are rare, and keeping them would
/// let a few clients fill the memory).
const LONGEST_KEPT: usize = 16 * 1024;

/// Parsed documents by their text. Full, it forgets an arbitrary entry for each new one
/// (`HashMap`'s order is randomly seeded), so memory stays bounded and a flood of one-off
/// documents cannot pin out the ones in steady use for long.
#[derive(Debug, Default)]
pub struct Documents {
    parsed: Mutex<HashMap<Box<str>, Arc<ExecutableDocument>>>,
}

impl Documents {
    /// `query` parsed: a copy of the kept document, or parsed now (and kept).
    pub fn parse(&self, query: &str) -> Result<ExecutableDocument, ServerError> {
        // The lock is released before the copy is made.
        let kept = self.kept().get(query).cloned();
        if let Some(doc) = kept {
            return Ok(ExecutableDocument::clone(&doc));
        }
        let doc = async_graphql::parser::parse_query(query)?;
        if query.len() <= LONGEST_KEPT {
            let mut kept = self.kept();
            if kept.len() >= CAPACITY
                && let Some(victim) = kept.keys().next().cloned()
            {
                kept.remove(&victim);
            }
            kept.insert(query.into(), Arc::new(doc.clone()));
        }
        Ok(doc)
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Arc<ExecutableDocument>>> {
        // A panic while holding the lock cannot leave the map inconsistent for our use.
        self.parsed.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Executes `request` on `schema`: the document comes from `documents` (a parse error is
/// `GRAPHQL_PARSE_FAILED`), an operation name that names none of the document's operations (or
/// none given for a document of several) is `BAD_REQUEST`, and every error of the response gets
/// its code ([`code_errors`]).
pub async fn execute<Q, M, S>(
    schema: &Schema<Q, M, S>,
    documents: &Documents,
    mut request: Request,
) -> Response
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let doc = match documents.parse(&request.query) {
        Ok(doc) => doc,
        Err(err) => return refused(err, Code::ParseFailed),
    };
    if let Err(err) = choose(&doc, request.operation_name.as_deref()) {
        return refused(err, Code::BadRequest);
    }
    request.set_parsed_query(doc);
    let mut resp = schema.execute(request).await;
    code_errors(&mut resp);
    resp
}

/// Checks that `name` picks one operation of `doc`, as async-graphql will pick it.
fn choose(doc: &ExecutableDocument, name: Option<&str>) -> Result<(), ServerError> {
    match (&doc.operations, name) {
        (DocumentOperations::Multiple(ops), Some(name)) if ops.contains_key(name) => Ok(()),
        (_, Some(name)) => Err(ServerError::new(
            format!("unknown operation named \"{name}\""),
            None,
        )),
        (DocumentOperations::Single(_), None) => Ok(()),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => Ok(()),
        (DocumentOperations::Multiple(_), None) => Err(ServerError::new(
            "the document has several operations: name one in operationName",
            None,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_parsed_once_and_copies_are_served() {
        let documents = Documents::default();
        let first = documents.parse("{ a b }").expect("parses");
        let again = documents.parse("{ a b }").expect("parses");
        assert_eq!(documents.kept().len(), 1);
        assert_eq!(format!("{first:?}"), format!("{again:?}"));
        assert!(documents.parse("{ a(").is_err());
        assert_eq!(documents.kept().len(), 1, "a failed parse is not kept");
    }

    #[test]
    fn the_cache_stays_bounded() {
        let documents = Documents::default();
        for i in 0..CAPACITY + 50 {
            documents.parse(&format!("{{ f{i} }}")).expect("parses");
        }
        assert_eq!(documents.kept().len(), CAPACITY);
        let long = format!("{{ {} }}", "f ".repeat(LONGEST_KEPT));
        documents.parse(&long).expect("parses");
        assert!(!documents.kept().contains_key(long.as_str()));
    }

    #[test]
    fn the_operation_is_chosen_as_async_graphql_chooses_it() {
        let documents = Documents::default();
        let single = documents.parse("{ a }").expect("parses");
        assert!(choose(&single, None).is_ok());
        assert!(choose(&single, Some("A")).is_err());
        let named = documents.parse("query A { a }").expect("parses");
        assert!(choose(&named, None).is_ok());
        assert!(choose(&named, Some("A")).is_ok());
        assert!(choose(&named, Some("B")).is_err());
        let two = documents
            .parse("query A { a } query B { b }")
            .expect("parses");
        assert!(choose(&two, None).is_err());
        assert!(choose(&two, Some("B")).is_ok());
    }
}
