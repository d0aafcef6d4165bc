//! Relay cursor connections: validated page arguments, opaque cursors and keyset pagination over
//! time-ordered (UUIDv7) ids with sea-orm.

use async_graphql::OutputType;
use async_graphql::connection::{Connection, Edge};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::sea_query::IntoValueTuple;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, FromQueryResult, IntoIdentity, Select};
use uuid::Uuid;

use crate::error::{Code, DomainError};

/// The largest page a client may ask for.
pub const MAX_PAGE: i32 = 100;
/// The page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE: i32 = 20;

/// Invalid page arguments.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PageError {
    /// `first` and `last` together.
    #[error("use either first or last, not both")]
    FirstAndLast,
    /// A size out of range.
    #[error("{field} must be between 0 and {MAX_PAGE}")]
    OutOfRange {
        /// `first` or `last`.
        field: &'static str,
    },
    /// A cursor this API did not issue.
    #[error("{field} is not a valid cursor")]
    BadCursor {
        /// `after` or `before`.
        field: &'static str,
    },
}

impl DomainError for PageError {
    fn code(&self) -> Code {
        Code::BadUserInput
    }

    fn field(&self) -> Option<&str> {
        match self {
            PageError::FirstAndLast => Some("last"),
            PageError::OutOfRange { field } | PageError::BadCursor { field } => Some(field),
        }
    }
}

/// The four Relay arguments, as a resolver receives them.
#[derive(Clone, Debug, Default)]
pub struct PageArgs {
    /// Page size, forwards.
    pub first: Option<i32>,
    /// Start after this cursor.
    pub after: Option<String>,
    /// Page size, backwards.
    pub last: Option<i32>,
    /// End before this cursor.
    pub before: Option<String>,
}

/// Which rows to fetch, after validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    limit: u64,
    after: Option<Uuid>,
    before: Option<Uuid>,
    backwards: bool,
}

impl PageArgs {
    /// Validates the arguments.
    pub fn window(&self) -> Result<Window, PageError> {
        let size = |v: Option<i32>, field| match v {
            Some(n) if !(0..=MAX_PAGE).contains(&n) => Err(PageError::OutOfRange { field }),
            other => Ok(other),
        };
        let first = size(self.first, "first")?;
        let last = size(self.last, "last")?;
        if first.is_some() && last.is_some() {
            return Err(PageError::FirstAndLast);
        }
        let after = self
            .after
            .as_deref()
            .map(|c| decode_cursor(c, "after"))
            .transpose()?;
        let before = self
            .before
            .as_deref()
            .map(|c| decode_cursor(c, "before"))
            .transpose()?;
        let backwards = last.is_some();
        let limit = last.or(first).unwrap_or(DEFAULT_PAGE) as u64;
        Ok(Window {
            limit,
            after,
            before,
            backwards,
        })
    }
}

const CURSOR_PREFIX: &str = "c1:";

/// An opaque cursor for the row with `id`.
pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{id}"))
}

fn decode_cursor(cursor: &str, field: &'static str) -> Result<Uuid, PageError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| PageError::BadCursor { field })?;
    let text = String::from_utf8(bytes).map_err(|_| PageError::BadCursor { field })?;
    text.strip_prefix(CURSOR_PREFIX)
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or(PageError::BadCursor { field })
}

/// One page of rows in ascending id order.
#[derive(Debug)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Rows exist before the first one.
    pub has_previous: bool,
    /// Rows exist after the last one.
    pub has_next: bool,
}

/// [`fetch`] inside a tenant transaction of `ctx`: one page of the caller's own rows.
pub async fn fetch_in_tenant<E, Col>(
    db: &sea_orm::DatabaseConnection,
    ctx: &tenancy::TenantContext,
    select: Select<E>,
    id_column: Col,
    window: Window,
) -> Result<Page<E::Model>, DbErr>
where
    E: EntityTrait,
    E::Model: FromQueryResult + Sized + Send + Sync,
    Col: IntoIdentity,
{
    let tx = tenancy::TenantTx::begin(db, ctx).await?;
    let page = fetch(&*tx, select, id_column, window).await?;
    tx.commit().await?;
    Ok(page)
}

/// Runs `select` as keyset pagination on the UUIDv7 `id_column` within `window`.
pub async fn fetch<E, C, Col>(
    db: &C,
    select: Select<E>,
    id_column: Col,
    window: Window,
) -> Result<Page<E::Model>, DbErr>
where
    E: EntityTrait,
    E::Model: FromQueryResult + Sized + Send + Sync,
    C: ConnectionTrait,
    Col: IntoIdentity,
{
    let mut cursor = select.cursor_by(id_column);
    if let Some(after) = window.after {
        cursor.after(after.into_value_tuple());
    }
    if let Some(before) = window.before {
        cursor.before(before.into_value_tuple());
    }
    if window.backwards {
        cursor.last(window.limit + 1);
    } else {
        cursor.first(window.limit + 1);
    }
    let mut items = cursor.all(db).await?;
    let more = items.len() as u64 > window.limit;
    if more {
        if window.backwards {
            items.remove(0);
        } else {
            items.pop();
        }
    }
    let (has_previous, has_next) = if window.backwards {
        (more, window.before.is_some())
    } else {
        (window.after.is_some(), more)
    };
    Ok(Page {
        items,
        has_previous,
        has_next,
    })
}

/// Turns a page into a Relay connection, cursors from `id_of`, nodes from `node`.
pub fn connection<T, N>(
    page: Page<T>,
    id_of: impl Fn(&T) -> Uuid,
    node: impl Fn(T) -> N,
) -> Connection<String, N>
where
    N: OutputType,
{
    let mut conn = Connection::new(page.has_previous, page.has_next);
    conn.edges.extend(page.items.into_iter().map(|item| {
        let cursor = encode_cursor(id_of(&item));
        Edge::new(cursor, node(item))
    }));
    conn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id), "after"), Ok(id));
        assert_eq!(
            decode_cursor("bm9wZQ", "after"),
            Err(PageError::BadCursor { field: "after" })
        );
        assert_eq!(
            decode_cursor("***", "before"),
            Err(PageError::BadCursor { field: "before" })
        );
    }

    #[test]
    fn validates_page_arguments() {
        let args = |first, last| PageArgs {
            first,
            last,
            ..Default::default()
        };
        assert_eq!(
            args(Some(5), Some(5)).window(),
            Err(PageError::FirstAndLast)
        );
        assert_eq!(
            args(Some(101), None).window(),
            Err(PageError::OutOfRange { field: "first" })
        );
        assert_eq!(
            args(None, Some(-1)).window(),
            Err(PageError::OutOfRange { field: "last" })
        );
        let w = args(None, None).window().expect("defaults");
        assert_eq!(w.limit, DEFAULT_PAGE as u64);
        assert!(!w.backwards);
        assert!(args(None, Some(3)).window().expect("valid").backwards);
        let e = PageError::BadCursor { field: "after" };
        assert_eq!((e.code(), e.field()), (Code::BadUserInput, Some("after")));
    }
}
