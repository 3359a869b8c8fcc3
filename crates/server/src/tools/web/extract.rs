//! Readable text from HTML: the main content found by a Readability port
//! (`dom_smoothie`), rendered as Markdown with absolute links; the whole
//! body's text when no main content stands out; and the page's outbound links.

use reqwest::Url;

/// Most links returned.
pub const MAX_LINKS: usize = 100;

/// A page made readable.
#[derive(Debug)]
pub struct Page {
    /// Its title.
    pub title: Option<String>,
    /// Its readable text.
    pub text: String,
    /// Absolute http(s) links, first occurrence order.
    pub links: Vec<String>,
}

fn collapse(text: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for line in text.lines().map(str::trim_end) {
        if !line.trim().is_empty() || out.last().is_some_and(|l| !l.trim().is_empty()) {
            out.push(line);
        }
    }
    out.join("\n").trim().to_owned()
}

/// The text of a body in the charset its `Content-Type` names (UTF-8 when it
/// names none or one `encoding_rs` does not know); bad bytes become U+FFFD.
pub fn decode(body: &[u8], content_type: Option<&str>) -> String {
    let label = content_type.and_then(|ct| {
        ct.split(';')
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
            .map(|(_, v)| v.trim().trim_matches('"').to_owned())
    });
    let encoding = label
        .and_then(|l| encoding_rs::Encoding::for_label(l.as_bytes()))
        .unwrap_or(encoding_rs::UTF_8);
    encoding.decode(body).0.into_owned()
}

/// Extracts `html` fetched from `base`.
pub fn extract(html: &str, base: &str, content_type: Option<&str>, with_links: bool) -> Page {
    if super::fetch::base_type(content_type).as_deref() == Some("text/plain") {
        return Page {
            title: None,
            text: collapse(html),
            links: Vec::new(),
        };
    }
    let config = dom_smoothie::Config {
        text_mode: dom_smoothie::TextMode::Markdown,
        ..Default::default()
    };
    let doc = dom_query::Document::from(html);
    let page_title = doc.select("title").text().trim().to_owned();
    let article = dom_smoothie::Readability::new(html, Some(base), Some(config))
        .ok()
        .and_then(|mut r| r.parse().ok());
    let (title, text) = match article {
        Some(a) if !a.text_content.trim().is_empty() => (
            Some(a.title.clone()).filter(|t| !t.is_empty()),
            a.text_content.to_string(),
        ),
        _ => {
            doc.select("script, style, noscript, template").remove();
            (None, doc.select("body").text().to_string())
        }
    };
    let links = if with_links {
        links(&doc, base)
    } else {
        Vec::new()
    };
    Page {
        title: title.or(Some(page_title).filter(|t| !t.is_empty())),
        text: collapse(&text),
        links,
    }
}

fn links(doc: &dom_query::Document, base: &str) -> Vec<String> {
    let base = Url::parse(base).ok();
    let mut out: Vec<String> = Vec::new();
    for a in &doc.select("a[href]") {
        let href = a
            .attr("href")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        if href.is_empty()
            || href.starts_with('#')
            || href.starts_with("javascript:")
            || href.starts_with("mailto:")
            || href.starts_with("tel:")
        {
            continue;
        }
        let absolute = match &base {
            Some(b) => b.join(&href).ok(),
            None => Url::parse(&href).ok(),
        };
        let Some(url) = absolute.filter(|u| matches!(u.scheme(), "http" | "https")) else {
            continue;
        };
        let url = url.to_string();
        if !out.contains(&url) {
            out.push(url);
        }
        if out.len() >= MAX_LINKS {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_content_becomes_markdown_and_links_are_absolute() {
        let html = r#"<html><head><title>Docs</title><script>evil()</script></head><body><nav>menu</nav><main><h1>Install</h1><p>Run <code>cargo add foo</code> to install the crate. This paragraph is long enough to count as content, with commas, and more words to read.</p><p>See <a href="/guide">the guide</a>.</p></main><footer><a href="mailto:x@y">mail</a></footer></body></html>"#;
        let page = extract(
            html,
            "http://example.com/docs/",
            Some("text/html; charset=utf-8"),
            true,
        );
        assert_eq!(page.title.as_deref(), Some("Docs"));
        assert!(page.text.contains("`cargo add foo`"), "{}", page.text);
        assert!(!page.text.contains("evil"), "{}", page.text);
        assert_eq!(page.links, ["http://example.com/guide"]);
    }

    #[test]
    fn bodies_are_read_in_their_declared_charset() {
        assert_eq!(
            decode(b"caf\xe9", Some("text/html; charset=ISO-8859-1")),
            "café"
        );
        assert_eq!(decode("café".as_bytes(), Some("text/plain")), "café");
        assert_eq!(
            decode(b"caf\xe9", Some("text/plain; charset=\"bogus\"")),
            "caf\u{fffd}"
        );
    }

    #[test]
    fn a_page_without_main_content_still_reads() {
        let page = extract(
            "<html><body><p>Hi</p><script>x()</script></body></html>",
            "http://e.com/",
            Some("text/html"),
            false,
        );
        assert!(
            page.text.contains("Hi") && !page.text.contains("x()"),
            "{}",
            page.text
        );
    }
}
