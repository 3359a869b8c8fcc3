//! Ralph's upstream tool catalog: what the upstreams listed, kept by Ralph
//! across respawns so a new server lists the upstream tools at once, before
//! it has reached any upstream (Ralph's preflight fails when they are missing).
//!
//! Read from `ralph-workflow` 0.9.30: `ralph/mcp/upstream/tool_catalog_cache.py`
//! and `config.py` (`serialize_upstream_tool_catalog`). The server writes
//! `.agent/mcp/parent_catalog.json` (0600) whenever an upstream's list changes;
//! Ralph reads it and hands it to the next server as
//! `RALPH_UPSTREAM_MCP_TOOL_CATALOG`: `{server: [{name, description, input_schema}]}`.

use std::collections::BTreeMap;
use std::sync::Arc;

use rmcp::model::Tool;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The variable Ralph hands the catalog in.
pub const CATALOG_ENV: &str = "RALPH_UPSTREAM_MCP_TOOL_CATALOG";
/// Where, under `.agent/`, the server publishes it.
pub const CATALOG_DIR: &str = "mcp";
/// Its file name.
pub const CATALOG_FILE: &str = "parent_catalog.json";

/// One tool as Ralph records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CatalogTool {
    /// The upstream's own name for it.
    pub name: String,
    /// Its description.
    #[serde(default)]
    pub description: String,
    /// Its input schema.
    #[serde(default)]
    pub input_schema: serde_json::Map<String, Value>,
}

/// Server name → tools.
pub type Catalog = BTreeMap<String, Vec<CatalogTool>>;

/// Reads the catalog Ralph handed over; `Err` names what is wrong (Ralph's own
/// server fails closed on a malformed catalog, and so does this one).
pub fn from_env(raw: Option<&str>) -> Result<Catalog, String> {
    match raw.map(str::trim) {
        None | Some("") => Ok(Catalog::new()),
        Some(text) => serde_json::from_str(text).map_err(|e| {
            format!("{CATALOG_ENV} is not a JSON object of server name -> [{{name, description, input_schema}}]: {e}")
        }),
    }
}

/// The tools of one catalog entry, as rmcp tools.
pub fn tools_of(entry: &[CatalogTool]) -> Vec<Tool> {
    entry
        .iter()
        .map(|t| {
            Tool::new(
                t.name.clone(),
                t.description.clone(),
                Arc::new(t.input_schema.clone()),
            )
        })
        .collect()
}

/// One upstream's tools, as Ralph records them.
pub fn entry_of(tools: &[Tool]) -> Vec<CatalogTool> {
    tools
        .iter()
        .map(|t| CatalogTool {
            name: t.name.to_string(),
            description: t.description.as_deref().unwrap_or("").to_owned(),
            input_schema: (*t.input_schema).clone(),
        })
        .collect()
}

/// The file's bytes: Ralph's serialisation (sorted keys, no spaces).
pub fn to_json(catalog: &Catalog) -> String {
    // serde_json's maps are sorted (no preserve_order), like Python's sort_keys.
    serde_json::to_value(catalog).map_or_else(|_| "{}".into(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_ralphs_format() {
        // As Ralph's serialize_upstream_tool_catalog writes it.
        let raw = r#"{"fx":[{"description":"Echo the text back.","input_schema":{"properties":{"text":{"type":"string"}},"type":"object"},"name":"echo"}]}"#;
        let cat = from_env(Some(raw)).unwrap();
        assert_eq!(cat["fx"][0].name, "echo");
        assert_eq!(to_json(&cat), raw);
        let tools = tools_of(&cat["fx"]);
        assert_eq!(entry_of(&tools), cat["fx"]);
        assert!(from_env(Some("[1]")).is_err());
        assert!(from_env(None).unwrap().is_empty());
    }
}
