//! Design verdicts (Ralph 0.9.30, `markdown/specs/design_verdict.py` and
//! `design_verdict.py`): capture provenance fields, findings that cite only
//! captured cells, a verdict consistent with its findings, and a design intent
//! that does not turn the visual review into a code-reading task.

use std::sync::LazyLock;

use regex::Regex;

use crate::diagnostic::Diagnostic;
use crate::document::{Document, Section};

const BLOCKING: [&str; 2] = ["blocker", "major"];
const STATUSES: [&str; 3] = ["pass", "fail", "blocked"];

/// Words and phrases that name a code artifact. `source` followed by ` of` (the
/// "root cause" idiom) is exempt; that exemption is applied after matching.
static SMUGGLE: LazyLock<Regex> = LazyLock::new(|| {
    let terms = [
        "doms?",
        "css",
        "stylesheets?",
        "diff(?:s|ing|ed)?",
        "classnames?",
    ];
    let compounds = [
        "class names?",
        "class attributes?",
        "inline styles?",
        "style attributes?",
        "style rules?",
        "computed styles?",
    ];
    let directives = [
        "(?:read|reads|reading|inspect|inspects|examine|examines|review|reviews|check|checks|open|opens|grep|greps|walk|walks|trace|traces|look at|looks at) (?:the |its |their |this |our )?sources?",
    ];
    let source = ["sources?"];
    let body = terms
        .iter()
        .chain(&compounds)
        .chain(&directives)
        .chain(&source)
        .map(|p| p.replace(' ', r"[\s-]+"))
        .collect::<Vec<_>>()
        .join("|");
    Regex::new(&format!(r"(?i)\b(?:{body})\b")).expect("static pattern")
});
static OF_FOLLOWS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s+of\b").expect("static pattern"));
static MEDIA_URI: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^ralph://media/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
        .expect("static pattern")
});

/// The value of a `field: value` body line of the provenance section:
/// `None` when absent, `Some("")` for `field:` alone.
pub fn provenance_field<'a>(section: &'a Section, field: &str) -> Option<&'a str> {
    let prefix = format!("{field}:");
    for line in &section.lines {
        if line.text == prefix {
            return Some("");
        }
        if let Some(rest) = line.text.strip_prefix(&prefix)
            && let Some(value) = rest.strip_prefix(' ')
        {
            return Some(value);
        }
    }
    None
}

/// A comma-separated list, entries stripped, empties dropped.
pub fn list(value: &str) -> Vec<&str> {
    value
        .split(',')
        .map(crate::pytext::strip)
        .filter(|s| !s.is_empty())
        .collect()
}

/// Python's `int()` on a region coordinate: surrounding whitespace, a sign, and
/// `_` between digits allowed.
fn py_int(s: &str) -> Option<i128> {
    let s = crate::pytext::strip(s);
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let mut value: i128 = 0;
    for c in digits.chars().filter(|&c| c != '_') {
        value = value
            .checked_mul(10)?
            .checked_add(i128::from(c.to_digit(10)? as u8))?;
    }
    Some(if neg { -value } else { value })
}

fn region_ok(region: &str) -> bool {
    let parts: Vec<&str> = region.split(',').collect();
    parts.len() == 4 && parts.iter().all(|p| py_int(p).is_some_and(|v| v >= 0))
}

/// Findings, verdict and intent rules.
pub fn validate_document(doc: &Document) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let cells: Vec<&str> = doc
        .section("Capture Provenance")
        .and_then(|s| provenance_field(s, "cell_ids"))
        .map(list)
        .unwrap_or_default();
    let mut severities = Vec::new();
    if let Some(findings) = doc.section("Findings") {
        for item in &findings.items {
            let at = |rule, message: String, fix: &str| {
                Diagnostic::error(item.line, Some("Findings"), rule, message, fix)
            };
            let parts: Vec<&str> = item.text.splitn(5, " | ").collect();
            if parts.len() != 5 {
                out.push(at(
                    "DV003",
                    "finding must use 'capture_id | x,y,w,h | dimension | severity | narrative'".into(),
                    "write the finding as '- [F-n] cap-id | x,y,w,h | dimension | severity | narrative'",
                ));
                continue;
            }
            let capture = crate::pytext::strip(parts[0]);
            let severity = crate::pytext::strip(parts[3]);
            if capture.is_empty() {
                out.push(at(
                    "DV003",
                    "finding capture_id is empty".into(),
                    "cite a capture id from cell_ids",
                ));
            } else if !cells.is_empty() && !cells.contains(&capture) {
                out.push(at(
                    "DV003",
                    format!("finding references unknown capture_id '{capture}'; every capture_id must appear in '## Capture Provenance' cell_ids"),
                    &format!("cite one of: {}", cells.join(", ")),
                ));
            }
            if !region_ok(crate::pytext::strip(parts[1])) {
                out.push(at(
                    "DV004",
                    "finding region must use non-negative 'x,y,w,h' integer shape".into(),
                    "write the region as four non-negative integers, e.g. 0,0,320,40",
                ));
            }
            if severity.is_empty() {
                out.push(at(
                    "DV005",
                    "finding severity is empty; use one of blocker/major/minor/info".into(),
                    "set the severity",
                ));
            } else {
                severities.push(severity);
            }
        }
    }
    if let Some(verdict) = doc.section("Verdict")
        && verdict.items.len() == 1
    {
        let item = &verdict.items[0];
        let status = crate::pytext::strip(item.text.split(" | ").next().unwrap_or(""));
        let blocking = severities.iter().any(|s| BLOCKING.contains(s));
        if status == "pass" && blocking {
            out.push(Diagnostic::error(
                item.line,
                Some("Verdict"),
                "DV006",
                "verdict 'pass' but findings include blocker/major severity",
                "set the verdict to fail, or correct the severities",
            ));
        }
        if status == "fail" && !severities.is_empty() && !blocking {
            out.push(Diagnostic::error(
                item.line,
                Some("Verdict"),
                "DV007",
                "verdict 'fail' but findings contain no blocker/major severity",
                "set the verdict to pass, or mark the blocking finding",
            ));
        }
    }
    if let Some(intent) = doc.section("Design Intent")
        && let Some(item) = intent.items.first()
    {
        let mut seen: Vec<String> = Vec::new();
        for m in SMUGGLE.find_iter(&item.text) {
            let phrase = crate::pytext::words(&m.as_str().to_lowercase())
                .collect::<Vec<_>>()
                .join(" ");
            if (phrase == "source" || phrase == "sources")
                && OF_FOLLOWS.is_match(&item.text[m.end()..])
            {
                continue;
            }
            if !seen.contains(&phrase) {
                seen.push(phrase);
            }
        }
        for phrase in seen {
            out.push(Diagnostic::error(
                item.line,
                Some("Design Intent"),
                "DV008",
                format!("intent smuggles forbidden phrase '{phrase}'; a design verdict is a visual check and the intent must not turn into a source/diff/DOM/CSS/class/style reading task"),
                "describe what should be seen, not the code behind it",
            ));
        }
    }
    out
}

/// The mapper's and schema's checks, in Ralph's order.
pub fn normalize(doc: &Document) -> Result<(), String> {
    let provenance = doc
        .section("Capture Provenance")
        .ok_or("missing required section 'Capture Provenance'")?;
    let required = |field: &str| -> Result<String, String> {
        match provenance_field(provenance, field) {
            None => Err(format!(
                "## Capture Provenance must declare '{field}:' field"
            )),
            Some("") => Err(format!(
                "## Capture Provenance '{field}:' value is required"
            )),
            Some(v) => Ok(v.to_owned()),
        }
    };
    for field in ["run_id", "target", "before_id", "after_id"] {
        required(field)?;
    }
    if list(&required("cell_ids")?).is_empty() {
        return Err("## Capture Provenance 'cell_ids:' must list at least one capture id".into());
    }
    let handles: Vec<String> = ["before_handles", "after_handles"]
        .iter()
        .flat_map(|f| {
            list(provenance_field(provenance, f).unwrap_or(""))
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    let one = |name: &str| -> Result<String, String> {
        let s = doc
            .section(name)
            .ok_or(format!("missing required section '{name}'"))?;
        if s.items.len() != 1 {
            return Err(format!("{name} must contain exactly one item"));
        }
        Ok(s.items[0].text.clone())
    };
    one("Design Intent")?;
    let verdict = one("Verdict")?;
    let Some((status, _)) = verdict.split_once(" | ") else {
        return Err("## Verdict must use 'status | summary' shape".into());
    };
    let status = crate::pytext::strip(status);
    if !STATUSES.contains(&status) {
        return Err(
            "<root>: Value error, status must be one of ['pass', 'fail', 'blocked']".into(),
        );
    }
    if let Some(bad) = handles.iter().find(|h| !MEDIA_URI.is_match(h)) {
        return Err(format!(
            "<root>: Value error, capture handle '{bad}' must be a ralph://media/{{artifact_id}} URI"
        ));
    }
    Ok(())
}

/// Run-scoped checks at submission (`DV009`–`DV012`): run id, judgement tier,
/// verdict id and capture handles present.
pub fn submission_checks(doc: &Document) -> Vec<Diagnostic> {
    let provenance = doc.section("Capture Provenance");
    let field = |f: &str| {
        provenance
            .and_then(|s| provenance_field(s, f))
            .unwrap_or("")
    };
    let at = |rule, message: &str, fix: &str| {
        vec![Diagnostic::error(
            1,
            Some("Capture Provenance"),
            rule,
            message,
            fix,
        )]
    };
    if field("run_id").is_empty() {
        return at(
            "DV009",
            "design verdict must declare a non-empty run_id for active-run provenance",
            "add 'run_id: <run id>'",
        );
    }
    if !matches!(
        doc.field("judgement_tier"),
        Some("deterministic" | "on-demand")
    ) {
        return at(
            "DV010",
            "design verdict must declare judgement_tier as deterministic or on-demand",
            "add 'judgement_tier: deterministic' (or on-demand) to the frontmatter",
        );
    }
    if field("verdict_id").is_empty() {
        return at(
            "DV011",
            "design verdict must declare a non-empty verdict_id",
            "add 'verdict_id: <id>'",
        );
    }
    if list(field("before_handles")).is_empty() || list(field("after_handles")).is_empty() {
        return at(
            "DV012",
            "design verdict requires non-empty before_handles and after_handles",
            "list the ralph://media/ handles of the before and after captures",
        );
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smuggle_vocabulary_is_whole_word() {
        let doc = |intent: &str| {
            crate::parse::parse(&format!("## Design Intent\n- [I-1] {intent}\n"), false).0
        };
        let codes = |intent: &str| validate_document(&doc(intent)).len();
        assert_eq!(codes("check the DOM and the css"), 2);
        assert_eq!(codes("a different kingdom of resources"), 0);
        assert_eq!(codes("the source of the crowding"), 0);
        assert_eq!(codes("read the source of the header"), 1);
        assert_eq!(codes("the source-code"), 1);
    }

    #[test]
    fn regions_follow_python_int() {
        assert!(region_ok("0,0,320,40"));
        assert!(region_ok(" 1, +2,3_0,4"));
        assert!(!region_ok("0,0,-1,4"));
        assert!(!region_ok("0,0,1"));
        assert!(!region_ok("a,0,1,2"));
    }
}
