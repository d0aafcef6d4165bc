//! Deriving per-role connection URLs from one base URL (`postgres://admin@host:port/db`).

/// `base` with its user, password and database replaced by `user` (no password) and `database`.
/// Query parameters are kept. Used locally, where loopback connections need no password; in
/// production each service is given its own full URL.
pub fn for_role(base: &str, user: &str, database: &str) -> Result<String, String> {
    let (scheme, rest) = base
        .split_once("://")
        .ok_or_else(|| "a PostgreSQL URL starts with postgres://".to_owned())?;
    let (authority_and_path, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let authority = authority_and_path.split('/').next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() {
        return Err("the PostgreSQL URL has no host".to_owned());
    }
    let mut url = format!("{scheme}://{user}@{host}/{database}");
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    Ok(url)
}

/// The database name in a URL, if any.
pub fn database(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let path = rest.split_once('/')?.1;
    let db = path.split('?').next()?;
    (!db.is_empty()).then_some(db)
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
        assert_eq!(database("postgres://a@h:1/aula?x=1"), Some("aula"));
        assert_eq!(database("postgres://a@h:1"), None);
    }
}
