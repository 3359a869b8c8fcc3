//! The built-in tools' `tools/list` entries, stored as JSON.
//!
//! Each entry (name, title, description, input schema, output schema,
//! annotations) is derived from the catalog: the schema from the argument type
//! with schemars, the rest from [`super::hints`] and [`super::output`]. Deriving
//! them costs about a millisecond of every start, so the derived entries are
//! stored in `builtin_tools.jsonl`, one compact JSON object per line in catalog
//! order, and served as they are. A test derives them again and fails when the
//! file differs; `RALPH_MCP_BLESS=1 cargo test -p ralph-mcp-server listing`
//! rewrites it.

use std::borrow::Cow;

use rmcp::model::Tool;

use super::catalog::ToolDef;

/// The stored entries, one line per built-in tool in catalog order.
const STORED: &str = include_str!("builtin_tools.jsonl");

/// The `tools/list` entry of `tool` as rmcp's [`Tool`], derived now.
pub fn derive(tool: &ToolDef) -> Tool {
    let mut t = Tool::new(tool.name, tool.description, tool.input_schema());
    if let Some((title, hints)) = super::hints::of(tool.name) {
        t = t.with_title(title).with_annotations(hints);
    }
    if let Some(schema) = super::output::schema_of(tool.name) {
        t = t.with_raw_output_schema(schema);
    }
    t
}

/// The derived entry of `tool` as compact JSON.
pub fn derive_json(tool: &ToolDef) -> String {
    serde_json::to_string(&derive(tool))
        .unwrap_or_else(|_| format!(r#"{{"name":"{}"}}"#, tool.name))
}

/// The entries of `tools`, which must be the whole catalog in order: the stored
/// line where it names the same tool, otherwise derived now (a stale file in a
/// development build still lists the right names; the test catches the rest).
pub fn entries(tools: &[ToolDef]) -> Vec<Cow<'static, str>> {
    let mut stored = STORED.lines();
    tools
        .iter()
        .map(|tool| match stored.next() {
            Some(line) if names(line, tool.name) => Cow::Borrowed(line),
            _ => Cow::Owned(derive_json(tool)),
        })
        .collect()
}

/// True when the JSON object `entry` begins with `"name"` set to `name`.
fn names(entry: &str, name: &str) -> bool {
    entry
        .strip_prefix(r#"{"name":""#)
        .and_then(|rest| rest.strip_prefix(name))
        .is_some_and(|rest| rest.starts_with("\","))
}

/// Appends `entry` (a stored or derived entry of the tool `name`) to `out`,
/// listed under `alias`.
pub fn write_renamed(out: &mut String, entry: &str, name: &str, alias: &str) {
    out.push_str(r#"{"name":""#);
    out.push_str(alias);
    out.push_str(&entry[r#"{"name":""#.len() + name.len()..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::catalog::builtin_tools;

    #[test]
    fn stored_entries_are_what_the_catalog_derives() {
        let derived: String = builtin_tools()
            .iter()
            .map(|t| derive_json(t) + "\n")
            .collect();
        if derived != STORED && std::env::var_os("RALPH_MCP_BLESS").is_some() {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("src/tools/builtin_tools.jsonl");
            std::fs::write(&path, &derived).unwrap();
            return;
        }
        for (i, (want, have)) in derived.lines().zip(STORED.lines()).enumerate() {
            assert_eq!(
                have,
                want,
                "line {} of builtin_tools.jsonl is stale; regenerate it with RALPH_MCP_BLESS=1 cargo test -p ralph-mcp-server listing",
                i + 1
            );
        }
        assert_eq!(
            derived.lines().count(),
            STORED.lines().count(),
            "builtin_tools.jsonl has the wrong number of tools; regenerate it with RALPH_MCP_BLESS=1 cargo test -p ralph-mcp-server listing"
        );
    }

    #[test]
    fn every_entry_begins_with_its_name_and_parses_as_a_tool() {
        let tools = builtin_tools();
        for (tool, entry) in tools.iter().zip(entries(&tools)) {
            assert!(names(&entry, tool.name), "{entry}");
            let parsed: Tool = serde_json::from_str(&entry).unwrap();
            assert_eq!(parsed, derive(tool));
        }
    }

    #[test]
    fn an_alias_keeps_everything_but_the_name() {
        let tools = builtin_tools();
        let read = &tools[0];
        let entry = derive_json(read);
        let mut alias = String::new();
        write_renamed(&mut alias, &entry, read.name, "mcp__ralph__read_file");
        let parsed: Tool = serde_json::from_str(&alias).unwrap();
        let mut want = derive(read);
        want.name = "mcp__ralph__read_file".into();
        assert_eq!(parsed, want);
    }

    #[test]
    fn a_line_for_another_tool_is_not_taken() {
        assert!(names(r#"{"name":"read_file","x":1}"#, "read_file"));
        assert!(!names(r#"{"name":"read_file_x","x":1}"#, "read_file"));
        assert!(!names(r#"{"name":"read","x":1}"#, "read_file"));
    }
}
