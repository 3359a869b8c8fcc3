//! Upstream MCP server definitions: `[mcp_servers.<name>]` in `.agent/mcp.toml` and
//! the `RALPH_UPSTREAM_MCP_CONFIG` JSON list, validated and merged (the file wins).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// Env var holding Ralph's serialised upstream list.
pub const UPSTREAM_CONFIG_ENV: &str = "RALPH_UPSTREAM_MCP_CONFIG";
/// Default per-call timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time allowed to start and hand-shake.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A header value: inline, or read from an env var so secrets stay out of files.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum HeaderSource {
    /// The value itself.
    Literal(String),
    /// `{ env = "VAR", prefix = "Bearer " }`.
    Env {
        /// The env var holding the value.
        env: String,
        /// Text put before the value.
        #[serde(default)]
        prefix: String,
    },
}

/// How to reach an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A child process speaking MCP on stdin/stdout.
    Stdio {
        /// Program.
        command: String,
        /// Arguments.
        args: Vec<String>,
        /// Extra environment.
        env: BTreeMap<String, String>,
    },
    /// A Streamable HTTP endpoint (`http://` or `https://`).
    Http {
        /// The endpoint URL.
        url: String,
        /// Headers sent with every request.
        headers: BTreeMap<String, HeaderSource>,
        /// Extra CA certificates (PEM files) trusted for this upstream.
        ca_files: Vec<std::path::PathBuf>,
    },
}

/// One validated upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSpec {
    /// Its name (tools appear as `<origin prefix><name>__<tool>`).
    pub name: String,
    /// Where it was configured, which decides its tools' prefix.
    pub origin: Origin,
    /// How to reach it.
    pub transport: Transport,
    /// Per-call timeout.
    pub timeout: Duration,
    /// Start-up plus handshake timeout.
    pub startup_timeout: Duration,
    /// Only these tools, when given.
    pub tools: Option<Vec<String>>,
    /// Never these tools.
    pub exclude_tools: Vec<String>,
}

/// Where an upstream was configured (Ralph's `origin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The workspace's `mcp.toml` (or `"origin": "custom"`): `ralph_custom__…`.
    Custom,
    /// The agent's own MCP servers, which Ralph proxies (`"origin":
    /// "agent_upstream"`, its default in `RALPH_UPSTREAM_MCP_CONFIG`): `ralph_upstream__…`.
    AgentUpstream,
}

impl Origin {
    /// The prefix of its tools' names.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Custom => ralph_mcp_session::names::CUSTOM_UPSTREAM_PREFIX,
            Self::AgentUpstream => ralph_mcp_session::names::AGENT_UPSTREAM_PREFIX,
        }
    }

    /// Ralph's reading of an `origin` value: anything but `custom` is an agent upstream.
    fn from_ralph(value: Option<&serde_json::Value>) -> Self {
        match value.and_then(serde_json::Value::as_str) {
            Some("custom") => Self::Custom,
            _ => Self::AgentUpstream,
        }
    }
}

impl UpstreamSpec {
    /// The name its tool `tool` is served under.
    pub fn proxied_name(&self, tool: &str) -> String {
        format!("{}{}__{tool}", self.origin.prefix(), self.name)
    }

    /// The upstream's own name behind a proxied name of this upstream.
    pub fn unprefixed<'a>(&self, proxied: &'a str) -> Option<&'a str> {
        proxied
            .strip_prefix(self.origin.prefix())?
            .strip_prefix(self.name.as_str())?
            .strip_prefix("__")
    }

    /// Whether the upstream's tool `name` is exposed.
    pub fn exposes(&self, name: &str) -> bool {
        self.tools
            .as_ref()
            .is_none_or(|allow| allow.iter().any(|t| t == name))
            && !self.exclude_tools.iter().any(|t| t == name)
    }
}

fn yes() -> bool {
    true
}

/// A server entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    transport: Option<String>,
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, HeaderSource>,
    ca_file: Option<std::path::PathBuf>,
    #[serde(default = "yes")]
    enabled: bool,
    timeout_ms: Option<u64>,
    startup_timeout_ms: Option<u64>,
    tools: Option<Vec<String>>,
    #[serde(default)]
    exclude_tools: Vec<String>,
}

/// Checks an upstream name: `^[a-z][a-z0-9_-]*$`, not `ralph`, no `__`.
pub fn validate_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !first_ok || !rest_ok {
        return Err(format!(
            "upstream name `{name}` must match ^[a-z][a-z0-9_-]*$ (lower-case letter first, then lower-case letters, digits, `_` or `-`)"
        ));
    }
    if name == "ralph" {
        return Err("upstream name `ralph` is reserved for ralph-mcp itself".into());
    }
    if name.contains("__") || name.ends_with('_') {
        return Err(format!(
            "upstream name `{name}` must not contain `__` or end in `_`: `__` separates the parts of ralph_custom__<server>__<tool>"
        ));
    }
    Ok(())
}

fn to_spec(name: &str, raw: RawEntry, origin: Origin) -> Result<Option<UpstreamSpec>, String> {
    validate_name(name)?;
    let at = |key: &str| format!("mcp_servers.{name}.{key}");
    if !raw.enabled {
        return Ok(None);
    }
    let kind = match (&raw.transport, &raw.command, &raw.url) {
        (Some(t), _, _) => t.clone(),
        (None, Some(_), None) => "stdio".into(),
        (None, None, Some(_)) => "http".into(),
        (None, Some(_), Some(_)) => {
            return Err(format!(
                "{}: give `transport` (\"stdio\" or \"http\") when both `command` and `url` are set",
                at("transport")
            ));
        }
        (None, None, None) => {
            return Err(format!(
                "mcp_servers.{name}: needs `command` (stdio) or `url` (http)"
            ));
        }
    };
    let transport = match kind.as_str() {
        "stdio" => {
            let command = raw
                .command
                .filter(|c| !c.trim().is_empty())
                .ok_or_else(|| format!("{}: a stdio upstream needs a command", at("command")))?;
            Transport::Stdio {
                command,
                args: raw.args,
                env: raw.env,
            }
        }
        "http" => {
            let url = raw
                .url
                .ok_or_else(|| format!("{}: an http upstream needs a url", at("url")))?;
            if !url.starts_with("http://") && !url.starts_with("https://") {
                return Err(format!(
                    "{}: `{url}` must be an http:// or https:// URL",
                    at("url")
                ));
            }
            let mut ca_files = Vec::new();
            if let Some(file) = raw.ca_file {
                if !file.is_absolute() {
                    return Err(format!(
                        "{}: `{}` is not absolute; give the CA file's absolute path",
                        at("ca_file"),
                        file.display()
                    ));
                }
                crate::tls::read_certificates(&file)
                    .map_err(|e| format!("{}: {e}", at("ca_file")))?;
                ca_files.push(file);
            }
            if let Ok(file) = std::env::var(crate::tls::UPSTREAM_CA_ENV)
                && !file.is_empty()
            {
                let file = std::path::PathBuf::from(file);
                crate::tls::read_certificates(&file)
                    .map_err(|e| format!("{}: {e}", crate::tls::UPSTREAM_CA_ENV))?;
                ca_files.push(file);
            }
            Transport::Http {
                url,
                headers: raw.headers,
                ca_files,
            }
        }
        other => {
            return Err(format!(
                "{}: `{other}` is not a transport; use \"stdio\" or \"http\"",
                at("transport")
            ));
        }
    };
    let ms = |v: Option<u64>, key: &str, default: Duration| -> Result<Duration, String> {
        match v {
            None => Ok(default),
            Some(0) => Err(format!("{}: must be greater than 0", at(key))),
            Some(n) => Ok(Duration::from_millis(n)),
        }
    };
    Ok(Some(UpstreamSpec {
        name: name.to_owned(),
        origin,
        transport,
        timeout: ms(raw.timeout_ms, "timeout_ms", DEFAULT_TIMEOUT)?,
        startup_timeout: ms(
            raw.startup_timeout_ms,
            "startup_timeout_ms",
            DEFAULT_STARTUP_TIMEOUT,
        )?,
        tools: raw.tools,
        exclude_tools: raw.exclude_tools,
    }))
}

/// Validates the `[mcp_servers]` table of `mcp.toml`.
pub fn from_toml(table: &toml::Table) -> Result<Vec<UpstreamSpec>, String> {
    let mut out = Vec::new();
    for (name, value) in table {
        let raw: RawEntry = value
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| format!("mcp_servers.{name}: {}", e.message()))?;
        out.extend(to_spec(name, raw, Origin::Custom)?);
    }
    Ok(out)
}

/// Validates `RALPH_UPSTREAM_MCP_CONFIG`: Ralph's list of `{name, transport, url,
/// command, args, env, origin}` objects (other entry keys as in the file).
pub fn from_json(text: &str) -> Result<Vec<UpstreamSpec>, String> {
    let items: Vec<serde_json::Map<String, serde_json::Value>> = serde_json::from_str(text)
        .map_err(|e| format!("{UPSTREAM_CONFIG_ENV} is not a JSON list of objects: {e}"))?;
    let mut out = Vec::new();
    for mut item in items {
        let name = match item.remove("name") {
            Some(serde_json::Value::String(n)) => n,
            _ => {
                return Err(format!(
                    "{UPSTREAM_CONFIG_ENV}: every entry needs a string `name`"
                ));
            }
        };
        let origin = Origin::from_ralph(item.remove("origin").as_ref());
        item.retain(|_, v| !v.is_null());
        let raw: RawEntry = serde_json::from_value(serde_json::Value::Object(item))
            .map_err(|e| format!("{UPSTREAM_CONFIG_ENV} entry `{name}`: {e}"))?;
        out.extend(to_spec(&name, raw, origin)?);
    }
    Ok(out)
}

/// Merges file and env entries; the file wins a name clash (with a warning).
pub fn merge(file: Vec<UpstreamSpec>, env: Vec<UpstreamSpec>) -> Vec<UpstreamSpec> {
    let mut out = file;
    for spec in env {
        if out.iter().any(|s| s.name == spec.name) {
            tracing::warn!(
                upstream = %spec.name,
                "upstream `{}` is defined in both .agent/mcp.toml and {UPSTREAM_CONFIG_ENV}; using the file's definition",
                spec.name
            );
        } else {
            out.push(spec);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn table(text: &str) -> toml::Table {
        let t: toml::Table = toml::from_str(text).unwrap();
        t["mcp_servers"].as_table().unwrap().clone()
    }

    #[test]
    fn stdio_and_http_entries_parse() {
        let specs = from_toml(&table(
            r#"
            [mcp_servers.files]
            command = "npx"
            args = ["-y", "server"]
            env = { A = "1" }
            tools = ["read"]
            timeout_ms = 1500
            [mcp_servers.web]
            transport = "http"
            url = "http://127.0.0.1:9/mcp"
            headers = { Authorization = { env = "WEB_TOKEN", prefix = "Bearer " }, X-Plain = "v" }
            exclude_tools = ["danger"]
            [mcp_servers.off]
            command = "x"
            enabled = false
            "#,
        ))
        .unwrap();
        assert_eq!(specs.len(), 2);
        assert!(matches!(specs[0].transport, Transport::Stdio { .. }));
        assert_eq!(specs[0].timeout, Duration::from_millis(1500));
        assert!(specs[0].exposes("read") && !specs[0].exposes("write"));
        let Transport::Http { headers, .. } = &specs[1].transport else {
            panic!("http")
        };
        assert_eq!(
            headers["Authorization"],
            HeaderSource::Env {
                env: "WEB_TOKEN".into(),
                prefix: "Bearer ".into()
            }
        );
        assert!(!specs[1].exposes("danger"));
    }

    #[test]
    fn errors_name_the_key() {
        let err =
            from_toml(&table("[mcp_servers.a]\ncommand = \"x\"\ncomand = \"y\"\n")).unwrap_err();
        assert!(
            err.contains("mcp_servers.a") && err.contains("comand"),
            "{err}"
        );
        let err =
            from_toml(&table("[mcp_servers.a]\ntransport = \"ws\"\nurl = \"x\"\n")).unwrap_err();
        assert!(err.contains("mcp_servers.a.transport"), "{err}");
        let err = from_toml(&table("[mcp_servers.a]\nurl = \"ftp://x\"\n")).unwrap_err();
        assert!(err.contains("mcp_servers.a.url"), "{err}");
        let err =
            from_toml(&table("[mcp_servers.a]\ncommand = \"x\"\ntimeout_ms = 0\n")).unwrap_err();
        assert!(err.contains("timeout_ms"), "{err}");
        for bad in ["ralph", "Web", "a__b", "1a", "a.b"] {
            let text = format!("[mcp_servers.\"{bad}\"]\ncommand = \"x\"\n");
            assert!(from_toml(&table(&text)).is_err(), "{bad}");
        }
    }

    #[test]
    fn ralph_env_list_parses_and_the_file_wins() {
        let env = from_json(
            r#"[{"name":"files","transport":"stdio","url":null,"command":"env-cmd","args":[],"env":{},"origin":"agent_upstream"},
                {"name":"extra","transport":"http","url":"http://127.0.0.1:1/mcp","command":null,"args":[],"env":{},"origin":"agent_upstream"}]"#,
        )
        .unwrap();
        let file = from_toml(&table("[mcp_servers.files]\ncommand = \"file-cmd\"\n")).unwrap();
        let merged = merge(file, env);
        assert_eq!(merged.len(), 2);
        assert!(
            matches!(&merged[0].transport, Transport::Stdio { command, .. } if command == "file-cmd")
        );
        assert_eq!(merged[1].name, "extra");
        assert!(from_json("{}").is_err());
        assert!(from_json(r#"[{"transport":"stdio"}]"#).is_err());
    }

    proptest! {
        #[test]
        fn valid_names_never_break_the_tool_name_scheme(name in "[a-z][a-z0-9_-]{0,12}") {
            if validate_name(&name).is_ok() {
                prop_assert!(!name.contains("__") && name != "ralph");
                let tool = format!("ralph_custom__{name}__t");
                let rest = tool.strip_prefix("ralph_custom__").unwrap();
                prop_assert_eq!(rest.split_once("__").map(|(s, _)| s), Some(name.as_str()));
            }
        }
    }
}
