//! Input validation shared by identity's services.

use crate::IdentityError;

/// Slugs that name platform hosts and can never belong to a tenant.
const RESERVED_SLUGS: &[&str] = &[
    "www", "api", "app", "admin", "console", "platform", "auth", "id", "static", "status",
];

/// A trimmed display name of 1 to 100 characters without control characters.
pub(crate) fn display_name(field: &'static str, raw: &str) -> Result<String, IdentityError> {
    let name = raw.trim();
    let len = name.chars().count();
    if len == 0 || len > 100 {
        return Err(IdentityError::invalid(
            field,
            "must be between 1 and 100 characters",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(IdentityError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

/// A trimmed tenant name of 1 to 200 characters without control characters.
pub(crate) fn tenant_name(raw: &str) -> Result<String, IdentityError> {
    printable("name", raw, 200)
}

/// A trimmed value of 1 to `max` characters without control characters.
pub(crate) fn printable(
    field: &'static str,
    raw: &str,
    max: usize,
) -> Result<String, IdentityError> {
    let value = raw.trim();
    let len = value.chars().count();
    if len == 0 || len > max || value.chars().any(char::is_control) {
        return Err(IdentityError::invalid(
            field,
            format!("must be 1 to {max} printable characters"),
        ));
    }
    Ok(value.to_owned())
}

/// A lowercase slug: letters, digits and inner hyphens, 1 to 40 characters, not reserved.
pub(crate) fn slug(raw: &str) -> Result<String, IdentityError> {
    let slug = raw.trim();
    let chars_ok = slug
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if slug.is_empty()
        || slug.len() > 40
        || !chars_ok
        || slug.starts_with('-')
        || slug.ends_with('-')
    {
        return Err(IdentityError::invalid(
            "slug",
            "must be 1 to 40 lowercase letters, digits or inner hyphens",
        ));
    }
    if RESERVED_SLUGS.contains(&slug) {
        return Err(IdentityError::invalid("slug", "is reserved"));
    }
    Ok(slug.to_owned())
}

/// A plausible email address (the real check is the verification email).
pub(crate) fn email(raw: &str) -> Result<String, IdentityError> {
    let email = raw.trim();
    let valid = email.len() <= 320
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(email.to_owned())
    } else {
        Err(IdentityError::invalid(
            "email",
            "is not a valid email address",
        ))
    }
}

/// Passwords so common that attackers try them first.
const COMMON_PASSWORDS: &[&str] = &[
    "password",
    "password1",
    "password123",
    "123456789",
    "1234567890",
    "12345678910",
    "qwertyuiop",
    "iloveyou1",
    "letmein123",
    "welcome123",
    "administrator",
    "changeme123",
    "trustno1234",
    "football123",
    "baseball123",
    "passw0rd123",
    "qwerty12345",
    "abc1234567",
];

/// The password policy: 10 to 128 characters, not mostly one character, not a common password,
/// not the email address. Length beats composition rules (NIST SP 800-63B).
pub(crate) fn password(raw: &str, email: &str) -> Result<(), IdentityError> {
    let len = raw.chars().count();
    if len < 10 {
        return Err(IdentityError::invalid(
            "password",
            "must be at least 10 characters",
        ));
    }
    if len > 128 {
        return Err(IdentityError::invalid(
            "password",
            "must be at most 128 characters",
        ));
    }
    let lower = raw.to_lowercase();
    let distinct = lower
        .chars()
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    if distinct < 4 {
        return Err(IdentityError::invalid("password", "is too repetitive"));
    }
    if COMMON_PASSWORDS.contains(&lower.as_str()) {
        return Err(IdentityError::invalid("password", "is too common"));
    }
    let email = email.trim().to_lowercase();
    let local = email.split('@').next().unwrap_or_default();
    if lower == email || (local.len() >= 4 && lower.contains(local)) {
        return Err(IdentityError::invalid(
            "password",
            "must not contain your email address",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_names_slugs_and_emails() {
        assert_eq!(
            display_name("displayName", "  Ada Lovelace ")
                .ok()
                .as_deref(),
            Some("Ada Lovelace")
        );
        assert!(display_name("displayName", "   ").is_err());
        assert!(display_name("displayName", &"x".repeat(101)).is_err());
        assert!(display_name("displayName", "bell\u{7}").is_err());
        assert_eq!(slug("acme-academy").ok().as_deref(), Some("acme-academy"));
        for bad in [
            "",
            "-acme",
            "acme-",
            "Acme",
            "acme_academy",
            "www",
            &"a".repeat(41),
        ] {
            assert!(slug(bad).is_err(), "{bad:?}");
        }
        assert!(email("ada@example.org").is_ok());
        for bad in [
            "ada",
            "ada@",
            "@example.org",
            "ada@example",
            "a b@example.org",
            "a@b@c.org",
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
        assert!(password("correct horse battery", "ada@example.org").is_ok());
        for bad in [
            "short",
            "aaaaaaaaaaaaaa",
            "Password123",
            "ada.lovelace99",
            &"x1y2".repeat(40),
        ] {
            assert!(
                password(bad, "ada.lovelace@example.org").is_err(),
                "{bad:?}"
            );
        }
        assert!(tenant_name("Acme Academy").is_ok());
        assert!(tenant_name("").is_err());
    }
}
