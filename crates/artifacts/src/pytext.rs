//! Python's `str` semantics where Ralph's validator depends on them: line
//! splitting (`str.splitlines`), whitespace (`str.isspace`, `str.strip`,
//! `str.split()`), printability (`str.isprintable`) and length in code points.
//! Line numbers and limits only agree with Ralph's when these agree exactly.

use unicode_general_category::{GeneralCategory, get_general_category};

/// `str.isspace()` for one character: Unicode `White_Space`, plus the four
/// information separators U+001C..U+001F that Python also counts.
pub fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `str.strip()`.
pub fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// `str.split()` with no separator: runs of whitespace separate words.
pub fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_space).filter(|w| !w.is_empty())
}

/// `len(s)`: the number of code points.
pub fn len(s: &str) -> usize {
    s.chars().count()
}

/// True for the characters `str.splitlines()` breaks on.
fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r'
            | '\u{0b}'
            | '\u{0c}'
            | '\u{1c}'
            | '\u{1d}'
            | '\u{1e}'
            | '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// `str.splitlines()`: the lines without their breaks; `\r\n` is one break
/// and a final break does not start an empty line.
pub fn splitlines(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if is_line_break(c) {
            out.push(&s[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r'
                && let Some(&(j, '\n')) = iter.peek()
            {
                iter.next();
                end = j + 1;
            }
            start = end;
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// `str.isprintable()` for one character: not a control, format, surrogate,
/// private-use or unassigned character, and not a separator other than the
/// ASCII space.
pub fn is_printable(c: char) -> bool {
    c == ' '
        || !(is_other(c)
            || matches!(
                get_general_category(c),
                GeneralCategory::LineSeparator
                    | GeneralCategory::ParagraphSeparator
                    | GeneralCategory::SpaceSeparator
            ))
}

/// True when the general category of `c` is one of the `C*` categories.
pub fn is_other(c: char) -> bool {
    matches!(
        get_general_category(c),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::Surrogate
            | GeneralCategory::PrivateUse
            | GeneralCategory::Unassigned
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splitlines_matches_python() {
        assert_eq!(splitlines("a\nb\r\nc\rd"), ["a", "b", "c", "d"]);
        assert_eq!(splitlines("a\n"), ["a"]);
        assert_eq!(splitlines("a\n\n"), ["a", ""]);
        assert_eq!(splitlines(""), Vec::<&str>::new());
        assert_eq!(splitlines("\u{2028}x\u{85}"), ["", "x"]);
    }

    #[test]
    fn whitespace_matches_python() {
        assert!(is_space('\u{1f}'));
        assert!(is_space('\u{a0}'));
        assert!(!is_space('\u{200b}'));
        assert_eq!(strip("\u{3000} a b \t"), "a b");
        assert_eq!(words(" a  b\tc ").collect::<Vec<_>>(), ["a", "b", "c"]);
    }

    #[test]
    fn printability_matches_python() {
        assert!(is_printable('a'));
        assert!(is_printable(' '));
        assert!(!is_printable('\t'));
        assert!(!is_printable('\u{a0}'));
        assert!(!is_printable('\u{200b}'));
    }

    proptest! {
        #[test]
        fn splitlines_loses_only_breaks(s in "\\PC{0,40}[\\n\\r]{0,3}\\PC{0,10}") {
            let joined: usize = splitlines(&s).iter().map(|l| l.len()).sum();
            let breaks: usize = s.chars().filter(|c| is_line_break(*c)).map(char::len_utf8).sum();
            prop_assert_eq!(joined + breaks, s.len());
        }
    }
}
