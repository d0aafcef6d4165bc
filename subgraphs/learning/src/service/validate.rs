//! Input rules for courses, modules and lessons, checked before anything is stored (the
//! database's constraints repeat the essentials).

use crate::LearningError;

fn text(field: &'static str, value: &str, min: usize, max: usize) -> Result<String, LearningError> {
    let value = value.trim();
    let len = value.chars().count();
    if len < min {
        return Err(LearningError::invalid(
            field,
            format!("{field} must not be empty"),
        ));
    }
    if len > max {
        return Err(LearningError::invalid(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// A course, module or lesson title: 1 to 200 characters.
pub fn title(field: &'static str, value: &str) -> Result<String, LearningError> {
    text(field, value, 1, 200)
}

/// A course summary: at most 500 characters.
pub fn summary(value: &str) -> Result<String, LearningError> {
    text("summary", value, 0, 500)
}

/// A long text (Markdown source) of at most `max` characters.
pub fn long_text(field: &'static str, value: &str, max: usize) -> Result<String, LearningError> {
    if value.chars().count() > max {
        return Err(LearningError::invalid(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// A slug: lowercase letters, digits and inner hyphens, 1 to 80 characters.
pub fn slug(value: &str) -> Result<String, LearningError> {
    let ok = (1..=80).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(LearningError::invalid(
            "slug",
            "slug must be 1 to 80 lowercase letters, digits or inner hyphens",
        ))
    }
}

/// A slug made from `title`: `"Rust for Educators!"` becomes `rust-for-educators`.
pub fn slug_from(title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug: String = slug.chars().take(80).collect();
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        "course".into()
    } else {
        slug.into()
    }
}

/// A language tag: `en`, `pt-BR`.
pub fn language(value: &str) -> Result<String, LearningError> {
    let bytes = value.as_bytes();
    let ok = match bytes.len() {
        2 => bytes.iter().all(u8::is_ascii_lowercase),
        5 => {
            bytes[..2].iter().all(u8::is_ascii_lowercase)
                && bytes[2] == b'-'
                && bytes[3..].iter().all(u8::is_ascii_uppercase)
        }
        _ => false,
    };
    if ok {
        Ok(value.to_owned())
    } else {
        Err(LearningError::invalid(
            "language",
            "language must be a tag such as en or pt-BR",
        ))
    }
}

/// Tags: at most 20, each 1 to 40 characters, lowercased, duplicates dropped.
pub fn tags(values: &[String]) -> Result<Vec<String>, LearningError> {
    let mut out: Vec<String> = Vec::new();
    for value in values {
        let tag = text("tags", &value.to_lowercase(), 1, 40)?;
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    if out.len() > 20 {
        return Err(LearningError::invalid("tags", "at most 20 tags"));
    }
    Ok(out)
}

/// A price: 0 (free) up to 100,000,000 minor units, in an ISO 4217 currency code.
pub fn price(amount_cents: i64, currency: &str) -> Result<(i64, String), LearningError> {
    if !(0..=100_000_000).contains(&amount_cents) {
        return Err(LearningError::invalid(
            "price",
            "price must be between 0 and 100000000 minor units",
        ));
    }
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(LearningError::invalid(
            "currency",
            "currency must be an ISO 4217 code such as EUR",
        ));
    }
    Ok((amount_cents, currency.to_owned()))
}

/// A lesson's estimated duration: 0 to 10,000 minutes.
pub fn duration(minutes: i32) -> Result<i32, LearningError> {
    if (0..=10_000).contains(&minutes) {
        Ok(minutes)
    } else {
        Err(LearningError::invalid(
            "durationMinutes",
            "durationMinutes must be between 0 and 10000",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_made_from_titles_and_checked() {
        assert_eq!(slug_from("Rust for Educators!"), "rust-for-educators");
        assert_eq!(slug_from("  --  "), "course");
        assert_eq!(slug_from("Ça va — très bien"), "a-va-tr-s-bien");
        assert!(slug("rust-101").is_ok());
        for bad in ["", "-rust", "rust-", "Rust", "rust_101", &"a".repeat(81)] {
            assert!(slug(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn languages_prices_and_tags_follow_their_rules() {
        assert!(language("en").is_ok() && language("pt-BR").is_ok());
        assert!(language("english").is_err() && language("pt-br").is_err());
        assert!(price(0, "EUR").is_ok());
        assert!(price(-1, "EUR").is_err() && price(100, "eur").is_err());
        assert_eq!(
            tags(&["Rust".into(), "rust".into(), "web".into()]).ok(),
            Some(vec!["rust".to_owned(), "web".to_owned()])
        );
        assert!(tags(&[" ".into()]).is_err());
    }
}
