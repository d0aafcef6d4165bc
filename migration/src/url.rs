//! Deriving connection URLs from one base URL (`postgres://admin@host:port/db`): per role, or
//! per database.

/// The parts of a PostgreSQL URL that are kept: scheme, `user[:password]@host[:port]`, query.
fn split(base: &str) -> Result<(&str, &str, Option<&str>), String> {
    let (scheme, rest) = base
        .split_once("://")
        .ok_or_else(|| "a PostgreSQL URL starts with postgres://".to_owned())?;
    let (before_query, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or_default();
    Ok((scheme, authority, query))
}

fn join(scheme: &str, authority: &str, database: &str, query: Option<&str>) -> String {
    match query {
        Some(q) => format!("{scheme}://{authority}/{database}?{q}"),
        None => format!("{scheme}://{authority}/{database}"),
    }
}

/// `base` with its user, password and database replaced by `user` (no password) and `database`.
/// Query parameters are kept. Used locally, where loopback connections need no password; in
/// production each service is given its own full URL.
pub fn for_role(base: &str, user: &str, database: &str) -> Result<String, String> {
    let (scheme, authority, query) = split(base)?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() {
        return Err("the PostgreSQL URL has no host".to_owned());
    }
    Ok(join(scheme, &format!("{user}@{host}"), database, query))
}

/// `base` pointing at `database` instead, with its user, password and query kept.
pub fn with_database(base: &str, database: &str) -> Result<String, String> {
    let (scheme, authority, query) = split(base)?;
    Ok(join(scheme, authority, database, query))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_user_password_and_database() {
        assert_eq!(
            for_role(
                "postgres://postgres:secret@127.0.0.1:5432/postgres?sslmode=disable",
                "aula_identity",
                "aula"
            ),
            Ok("postgres://aula_identity@127.0.0.1:5432/aula?sslmode=disable".to_owned())
        );
        assert_eq!(
            for_role("postgresql://localhost", "u", "d"),
            Ok("postgresql://u@localhost/d".to_owned())
        );
        assert!(for_role("localhost:5432", "u", "d").is_err());
        assert_eq!(
            with_database("postgres://admin:pw@h:1/postgres?sslmode=disable", "t1"),
            Ok("postgres://admin:pw@h:1/t1?sslmode=disable".to_owned())
        );
    }
}
