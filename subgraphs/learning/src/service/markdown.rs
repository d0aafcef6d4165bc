//! Course and lesson text is stored as Markdown source and served also as HTML that is safe to
//! insert into a page: raw HTML in the source is shown as text, and links and images keep only
//! `http`, `https`, `mailto` and relative addresses.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};

/// `source` rendered to sanitized HTML.
pub fn to_safe_html(source: &str) -> String {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(source, options).map(|event| match event {
        // Raw HTML becomes visible text, never markup.
        Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        other => other,
    });
    let mut html = String::with_capacity(source.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

/// `url` if its scheme is allowed (or it has none), otherwise `#`.
fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    // Browsers ignore control characters and whitespace inside a scheme ("java\tscript:").
    let cleaned: String = url
        .chars()
        .filter(|c| !c.is_control() && !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    let scheme = cleaned
        .split_once(':')
        .map(|(s, _)| s)
        .filter(|s| !s.contains(['/', '?', '#']));
    match scheme {
        None | Some("http" | "https" | "mailto") => url,
        Some(_) => CowStr::Borrowed("#"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders_and_raw_html_is_shown_as_text() {
        let html = to_safe_html(
            "# Title\n\n**bold** <script>alert(1)</script>\n\n<img src=x onerror=alert(1)>",
        );
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(html.contains("<strong>bold</strong>"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn only_safe_link_schemes_survive() {
        for bad in [
            "[x](javascript:alert(1))",
            "[x](JavaScript:alert(1))",
            "[x](java%09script:alert(1))",
            "[x](<java\tscript:alert(1)>)",
            "[x](data:text/html,<b>)",
            "![x](vbscript:msgbox)",
        ] {
            let html = to_safe_html(bad);
            assert!(
                !html.to_ascii_lowercase().contains("script:") && !html.contains("data:"),
                "{bad} -> {html}"
            );
        }
        for good in [
            (
                "[x](https://aula.app/a?b=c)",
                "href=\"https://aula.app/a?b=c\"",
            ),
            ("[x](mailto:hi@aula.app)", "href=\"mailto:hi@aula.app\""),
            ("[x](/courses/rust)", "href=\"/courses/rust\""),
            ("[x](notes.pdf#p2)", "href=\"notes.pdf#p2\""),
        ] {
            let html = to_safe_html(good.0);
            assert!(html.contains(good.1), "{} -> {html}", good.0);
        }
    }
}
