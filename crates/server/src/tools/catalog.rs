//! The table of built-in tools: name, description, capability, input schema and
//! handler, in one place. `tools/list` and `tools/call` both read from it.

use std::sync::Arc;

use ralph_mcp_session::{Capability, Requirement};
use rmcp::model::JsonObject;
use serde_json::Value;

use super::{
    ToolContext, ToolResult, artifact, coord, exec, explore, git, grep, list, media, parse_args,
    read, web, write,
};

/// A boxed tool future.
pub type ToolFuture = std::pin::Pin<Box<dyn Future<Output = ToolResult> + Send>>;

/// How a tool runs. Blocking handlers run on tokio's blocking pool so a slow
/// file system never stalls the protocol; async handlers wait on child processes.
/// A call whose arguments promise a bounded, cheap piece of work (one stat, or
/// a read of at most [`INLINE_READ_CAP`] bytes of one regular file) runs inline
/// on the async worker instead: handing it to the pool would cost more (two
/// thread wake-ups) than the work itself.
#[derive(Clone, Copy)]
pub enum Runner {
    /// A synchronous handler; it runs inline when `inline_if` says the
    /// arguments ask for a cheap, bounded piece of work.
    Blocking {
        /// The handler.
        run: fn(&ToolContext, Value) -> ToolResult,
        /// True when these arguments make the call cheap enough to run inline.
        inline_if: fn(&Value) -> bool,
    },
    /// An asynchronous handler.
    Async(fn(Arc<ToolContext>, Value) -> ToolFuture),
}

/// Largest read that runs inline on an async worker: the default `max_bytes`
/// (a read of that much from the page cache takes about a millisecond).
pub const INLINE_READ_CAP: u64 = read::DEFAULT_MAX_BYTES;

/// Never inline.
fn never(_: &Value) -> bool {
    false
}

/// Always inline (one stat, no file content).
fn always(_: &Value) -> bool {
    true
}

/// A `read_file` that reads at most [`INLINE_READ_CAP`] bytes and nothing
/// else: a whole or byte-range read, no line scan, no hash of the whole file.
fn small_read(args: &Value) -> bool {
    let absent = |k: &str| args.get(k).is_none_or(Value::is_null);
    let within = |k: &str| {
        absent(k)
            || args
                .get(k)
                .and_then(Value::as_u64)
                .is_some_and(|n| n <= INLINE_READ_CAP)
    };
    let no_scan = [
        "line_start",
        "line_end",
        "head",
        "tail",
        "expected_content_hash",
    ]
    .iter()
    .all(|k| absent(k));
    let no_metadata = args.get("return_metadata") != Some(&Value::Bool(true));
    no_scan && no_metadata && within("max_bytes") && within("limit")
}

/// One built-in tool.
#[derive(Clone)]
pub struct ToolDef {
    /// Ralph's tool name.
    pub name: &'static str,
    /// What the tool does, for the model.
    pub description: &'static str,
    /// What a session needs to see and call it.
    pub requirement: Requirement,
    /// Derives the JSON Schema of its arguments from the argument type. Not
    /// called when serving: `tools/list` reads the stored entries of
    /// [`super::listing`], which a test keeps equal to what this derives.
    pub schema: fn() -> Arc<JsonObject>,
    /// Its handler.
    pub runner: Runner,
}

impl ToolDef {
    /// The JSON Schema of its arguments (derived on each call).
    pub fn input_schema(&self) -> Arc<JsonObject> {
        (self.schema)()
    }
}

/// Derives a tool's input schema from its argument type.
pub fn schema_of<A: schemars::JsonSchema>() -> Arc<JsonObject> {
    let schema = schemars::SchemaGenerator::new(schemars::generate::SchemaSettings::draft07())
        .into_root_schema_for::<A>();
    let mut obj = match schema.to_value() {
        Value::Object(o) => o,
        _ => JsonObject::new(),
    };
    obj.remove("$schema");
    obj.remove("title");
    obj.entry("type")
        .or_insert_with(|| Value::String("object".into()));
    obj.entry("properties")
        .or_insert_with(|| Value::Object(Default::default()));
    Arc::new(obj)
}

/// One catalog row: `tool!(sync | async, name, requirement, Args, handler, description)`.
/// `sync` handlers run on the blocking pool, `async` ones as tasks; both decode
/// their arguments from the same type the schema is derived from.
macro_rules! tool {
    (@run sync, $name:literal, $args:ty, $handler:path) => {
        tool!(@run sync(never), $name, $args, $handler)
    };
    (@run sync($inline:path), $name:literal, $args:ty, $handler:path) => {
        Runner::Blocking {
            run: |ctx, value| {
                let args: $args = parse_args($name, value)?;
                $handler(ctx, args)
            },
            inline_if: $inline,
        }
    };
    (@run async, $name:literal, $args:ty, $handler:path) => {
        Runner::Async(|ctx, value| {
            Box::pin(async move {
                let args: $args = parse_args($name, value)?;
                $handler(ctx, args).await
            })
        })
    };
    ($kind:tt $(($inline:path))?, $name:literal, $req:expr, $args:ty, $handler:path, $desc:literal) => {
        ToolDef {
            name: $name,
            description: $desc,
            requirement: $req,
            schema: schema_of::<$args>,
            runner: tool!(@run $kind $(($inline))?, $name, $args, $handler),
        }
    };
}

use Capability::*;
use Requirement::{AnyWrite, One};

/// Every built-in tool, in listing order.
pub fn builtin_tools() -> Vec<ToolDef> {
    vec![
        tool!(
            sync(small_read),
            "read_file",
            One(WorkspaceRead),
            read::ReadFileArgs,
            read::read_file,
            "Read a file as text. Required: path. Optional partial reads (mutually exclusive groups): line_start/line_end (1-based, inclusive), offset/limit (bytes), head/tail (N lines). Partial reads return JSON with total_lines/returned_lines or total_bytes/returned_bytes and truncated; a whole read up to max_bytes returns plain text. expected_content_hash fails closed when the file changed."
        ),
        tool!(
            sync,
            "read_multiple_files",
            One(WorkspaceRead),
            read::ReadMultipleArgs,
            read::read_multiple_files,
            "Read several text files in one call. Pass paths (list of strings) or items ({path, line_start, line_end}). Returns JSON with per-file ok/content or ok/error; one failure never fails the batch."
        ),
        tool!(
            sync(always),
            "stat_path",
            One(WorkspaceMetadataRead),
            read::StatArgs,
            read::stat_path,
            "Describe a path: type ('file'|'dir'|'missing'), size_bytes, created_unix, modified_unix and mode, as JSON."
        ),
        tool!(
            sync(always),
            "list_allowed_roots",
            One(WorkspaceRead),
            read::NoArgs,
            read::list_allowed_roots,
            "List the workspace root and the allowed roots every path must stay inside. No parameters."
        ),
        tool!(
            sync,
            "list_directory",
            One(WorkspaceRead),
            list::ListDirectoryArgs,
            list::list_directory,
            "List the entries of a directory, sorted, as '[DIR] path' / '[FILE] path' lines. recursive=true lists the subtree. Respects .gitignore (include_ignored opts out) and always skips .git."
        ),
        tool!(
            sync,
            "list_directory_recursive",
            One(WorkspaceRead),
            list::RecursiveArgs,
            list::list_directory_recursive,
            "List a directory's whole subtree, indented and sorted, bounded to 10000 entries and 50 levels. Respects .gitignore (include_ignored opts out) and always skips .git."
        ),
        tool!(
            sync,
            "directory_tree",
            One(WorkspaceRead),
            list::TreeArgs,
            list::directory_tree,
            "Return a directory's subtree as JSON: [{name, type: 'file'|'directory', children}]. max_depth limits depth; exclude_patterns leaves globs out. Respects .gitignore and always skips .git."
        ),
        tool!(
            sync,
            "search_files",
            One(WorkspaceRead),
            list::SearchFilesArgs,
            list::search_files,
            "Find files by glob under path. A pattern without '/' matches file names at any depth ('*.rs'); with '/' it matches the relative path ('src/**/*.rs'). Sorted, bounded by limit, with truncated set when cut."
        ),
        tool!(
            sync,
            "grep_files",
            One(WorkspaceRead),
            grep::GrepArgs,
            grep::grep_files,
            "Search file contents with ripgrep's engine. pattern is a regex (regex=false for a literal); case_sensitive, whole_word, include/exclude globs, context_before/context_after, limit and max_file_bytes. Respects .gitignore (include_ignored opts out). Returns JSON matches [{path, line, text}] sorted by path and line, with truncated set when cut."
        ),
        tool!(
            sync,
            "write_file",
            AnyWrite,
            write::WriteFileArgs,
            write::write_file,
            "Write UTF-8 text to a file, creating parent directories as needed and replacing the file atomically. Required: path, content. Overwriting a git-tracked file needs workspace.write_tracked; a new or untracked file needs workspace.write_ephemeral."
        ),
        tool!(
            sync,
            "edit_file",
            One(WorkspaceEdit),
            write::EditFileArgs,
            write::edit_file,
            "Apply ordered exact-text edits [{oldText, newText}] to a file, each replacing the first occurrence, all or nothing. dry_run previews; expected_content_hash (SHA-256) fails closed when the file changed. Keeps CRLF line endings and the file mode. Returns JSON with a unified diff."
        ),
        tool!(
            sync,
            "append_file",
            One(WorkspaceEdit),
            write::AppendFileArgs,
            write::append_file,
            "Append text to a file (created when missing), atomically. Required: path, content."
        ),
        tool!(
            sync,
            "create_directory",
            One(WorkspaceEdit),
            write::CreateDirArgs,
            write::create_directory,
            "Create a directory and any missing parents. Required: path."
        ),
        tool!(
            sync,
            "move_file",
            One(WorkspaceEdit),
            write::SrcDestArgs,
            write::move_file,
            "Move or rename a file or directory. Required: src, dest. Refuses to replace an existing destination unless overwrite is true."
        ),
        tool!(
            sync,
            "copy_file",
            One(WorkspaceEdit),
            write::SrcDestArgs,
            write::copy_file,
            "Copy a file atomically, keeping its mode. Required: src, dest. Refuses to replace an existing destination unless overwrite is true."
        ),
        tool!(
            sync,
            "delete_path",
            One(WorkspaceDelete),
            write::DeleteArgs,
            write::delete_path,
            "Delete a file, symlink (the link, not its target) or empty directory; recursive=true deletes a directory with its contents."
        ),
        tool!(
            async,
            "git_status",
            One(GitStatusRead),
            git::StatusArgs,
            git::git_status,
            "Show the working tree status. format: 'raw' (git status) or 'compact' (porcelain with branch). Optional cwd inside the workspace."
        ),
        tool!(
            async,
            "git_diff",
            One(GitDiffRead),
            git::DiffArgs,
            git::git_diff,
            "Show changes (git diff). args are extra arguments such as ['--cached'] or ['HEAD~1', '--', 'src']; output-writing and external-helper flags are refused. format: 'raw' or 'summary' (--stat). Output bounded by max_bytes (default 50000)."
        ),
        tool!(
            async,
            "git_log",
            One(GitStatusRead),
            git::LogArgs,
            git::git_log,
            "Show recent commits. count (default 10); format 'raw' or 'compact' (one line each). Optional cwd."
        ),
        tool!(
            async,
            "git_show",
            One(GitStatusRead),
            git::ShowArgs,
            git::git_show,
            "Show a commit, tag or rev:path. Required: ref. format 'raw' (with patch) or 'summary' (--stat). Optional cwd."
        ),
        tool!(
            async,
            "exec",
            One(ProcessExecBounded),
            exec::ExecArgs,
            exec::exec,
            "Run a command in the workspace root, bounded: command (string or array), argv, args, timeout_ms (default 90000, max 300000), format ('raw' or 'summary'). A string with shell operators runs through sh -c; otherwise it is split like a shell line. Privilege escalation, destructive commands at / or $HOME, non-loopback network clients, containers and VCS writes are refused. The process tree is killed at the timeout. Large output is spilled to .agent/tmp/ralph-exec-*.txt (head, tail and path returned). A command still running after 45 s returns a job_id for exec_wait. isError when the exit code is non-zero."
        ),
        tool!(
            async,
            "exec_wait",
            One(ProcessExecBounded),
            exec::WaitArgs,
            exec::exec_wait,
            "Wait for a detached exec job (job_id) up to wait_ms (default 45000) and return its result, or status 'running'."
        ),
        tool!(
            async,
            "exec_cancel",
            One(ProcessExecBounded),
            exec::CancelArgs,
            exec::exec_cancel,
            "Cancel a detached exec job (job_id): its whole process tree is killed."
        ),
        tool!(
            async,
            "unsafe_exec",
            One(ProcessExecUnbounded),
            exec::RawExecArgs,
            exec::raw_exec,
            "Run a shell script with sh -c in the workspace root. Only VCS writes are refused; timeout_ms (default 90000, max 300000) and the output cap still apply."
        ),
        tool!(
            async,
            "raw_exec",
            One(ProcessExecUnbounded),
            exec::RawExecArgs,
            exec::raw_exec,
            "Alias of unsafe_exec: run a shell script with sh -c; only VCS writes are refused."
        ),
        tool!(
            sync,
            "report_progress",
            One(RunReportProgress),
            coord::ProgressArgs,
            coord::report_progress,
            "Report progress to the orchestrator. Required: status; optional note."
        ),
        tool!(
            sync,
            "declare_complete",
            One(ArtifactSubmit),
            coord::CompleteArgs,
            coord::declare_complete,
            "Declare the task complete (or partial, with partial_reason). The record is written durably under .agent/completion/ and as Ralph's sentinel (.agent/state.db and .agent/completion_seen_<run id>.json); if the files cannot be written the call fails."
        ),
        tool!(
            sync,
            "ralph_submit_md_artifact",
            One(ArtifactSubmit),
            artifact::DocumentArgs,
            artifact::submit,
            "Validate and submit one complete markdown artifact document (artifact_type: plan, development_result, fix_result, issues, commit_message, commit_cleanup, design_verdict, *_analysis_decision, smoke_test_result, run_time_report, product_spec, or a type the workspace declares in .agent/artifact-types/). Valid: written to .agent/artifacts/<type>.md with its hand-off copy and run receipt. Invalid: isError with diagnostics naming line, rule_id, message and fix; the text stays staged as the draft for ralph_edit_md_artifact."
        ),
        tool!(
            sync,
            "ralph_verify_md_artifact",
            One(ArtifactPlanRead),
            artifact::DocumentArgs,
            artifact::verify,
            "Check a markdown artifact without persisting it; the diagnostics are exactly those submission would give."
        ),
        tool!(
            sync,
            "ralph_stage_md_artifact",
            One(ArtifactSubmit),
            artifact::StageArgs,
            artifact::stage,
            "Stage a large markdown artifact incrementally: append to (mode 'append', default) or replace ('replace_all') a persisted draft; returns the section outline and non-gating diagnostics."
        ),
        tool!(
            sync,
            "ralph_edit_md_artifact",
            One(ArtifactSubmit),
            artifact::EditArgs,
            artifact::edit,
            "Submit an artifact by editing the staged draft in place: oldText/newText replacements with the same semantics as edit_file (first occurrence, in order, all or nothing). Whenever the edited draft validates it is submitted exactly like ralph_submit_md_artifact; otherwise it stays a draft and the result (isError) lists what to fix. dry_run previews the diff; expected_content_hash fails closed when the draft changed. Prefer this over resending a whole document."
        ),
        tool!(
            sync,
            "ralph_get_md_draft",
            One(ArtifactPlanRead),
            artifact::TypeArgs,
            artifact::get_draft,
            "Return the staged markdown draft (content, content_hash) and its current diagnostics, to resume after an interruption."
        ),
        tool!(
            sync,
            "ralph_discard_md_draft",
            One(ArtifactSubmit),
            artifact::TypeArgs,
            artifact::discard,
            "Discard the staged draft of one artifact type. This throws the whole document away; to fix validation errors use ralph_edit_md_artifact instead."
        ),
        tool!(
            sync,
            "ralph_finalize_md_artifact",
            One(ArtifactSubmit),
            artifact::TypeArgs,
            artifact::finalize,
            "Validate the staged draft with the submission gate and submit it; on failure the draft is kept for repair."
        ),
        tool!(
            async,
            "web_search",
            One(WebSearch),
            web::SearchArgs,
            web::web_search,
            "Search the web through the configured backends in order ([web_search]: DuckDuckGo by default; SearXNG, Brave, Tavily, Exa). Required: query. Optional: limit (1-25, default 10), format ('raw' Title/URL/Snippet blocks, default; 'summary' a compact JSON envelope)."
        ),
        tool!(
            async,
            "visit_url",
            One(WebVisit),
            web::VisitArgs,
            web::visit_url,
            "Fetch one http(s) URL and return its readable text (the main content as Markdown) as JSON with title, effective_url and content_type. Optional: with_links (up to 100 absolute links), format 'metadata' (a bounded preview instead of the text). Private and loopback addresses are refused unless [web_visit] allows them; failures are isError with a status (timeout, unreachable, http_error, unsupported_content, too_large, blocked_by_policy, invalid_url)."
        ),
        tool!(
            async,
            "download_url",
            One(WebDownload),
            web::DownloadArgs,
            web::download_url,
            "Download one http(s) URL into the workspace file output_path (any content type, bytes as received, up to [web_visit] download_max_bytes); the write needs the same capability as write_file. format 'summary' adds a sha256 and a preview. Private and loopback addresses are refused unless [web_visit] allows them."
        ),
        tool!(
            sync,
            "coordinate",
            One(ArtifactPlanWrite),
            coord::CoordinateArgs,
            coord::coordinate,
            "Coordinate parallel work units (Ralph's planning-drain event; deprecated in Ralph, kept for its prompts). Required: action. Optional: work_unit_id, payload (object). Acknowledged with a coordination line; nothing is written."
        ),
        tool!(
            sync,
            "ralph_index_status",
            One(WorkspaceMetadataRead),
            explore::StatusArgs,
            explore::index_status,
            "Report the explore index's health and freshness: enabled, index_exists, generation, indexed_at, files_indexed, files_stale (and up to 25 stale_paths), last_job, languages, nodes, edges, cold_index_required, last_refresh_kind, is_stale, index_storage_bytes, managed_ignore_rule_present, health (healthy|building|stale|degraded|unhealthy) and fallback_reason. Side-effect free. No parameters."
        ),
        tool!(
            sync,
            "ralph_reindex",
            One(WorkspaceRead),
            explore::ReindexArgs,
            explore::reindex,
            "Run a bounded reindex of the workspace's Python, Rust and Markdown files (ignore rules apply; .agent/ is skipped). Required: mode ('changed' parses files whose size or mtime changed, 'full' parses all). Optional: timeout_ms (1-60000, default 5000), path_scope (relative paths), cancel (stop the running job). Returns job_status (succeeded|deadline_exceeded|cancelled|busy|failed), generation, changed_files, failed_files (syntax errors), parse_count, elapsed_seconds, error_summary, cancelled. A job that runs out of time commits nothing but keeps what it parsed, so the next call continues; the committed generation stays whole."
        ),
        tool!(
            sync,
            "ralph_graph",
            One(WorkspaceRead),
            explore::GraphArgs,
            explore::graph,
            "Bounded query over the code graph of the workspace's Python, Rust and Markdown files: files and symbols (class, function, method, variable, heading; struct, enum, trait, module, constant, type, macro) joined by defines, imports, calls_syntax, tests, mentions, inherits_syntax and contains edges, each with confidence (1.0 extracted, 0.6 inferred by name, 0.3 ambiguous) and evidence (relation:path:line). Required: query_type ('neighbors'|'path'|'impact'|'hubs'|'tests'); target for all but hubs (a path, Class.method or Type.method, pkg.mod.func, path:Class.method, a node id, or a bare name); target_b for path. Optional: relations, limit (1-100, default 25), freshness (required|prefer_fresh|allow_stale; the index is refreshed first unless allow_stale), direction, depth, max_paths, change_kind, scope_path, role, timeout_ms (1-30000, default 5000), cancel. Returns nodes, edges, paths, impacted_files, suggested_tests, confidence, provenance, evidence_ids, missing_data, index_generation, is_stale, truncated, cancelled, deadline_exceeded. Example: {\"query_type\": \"impact\", \"target\": \"Store.get\"}."
        ),
        tool!(
            sync,
            "read_env",
            One(EnvRead),
            coord::ReadEnvArgs,
            coord::read_env,
            "Read an environment variable of the server. Secrets (names containing TOKEN, SECRET, KEY, PASSWORD, and the bearer token) are redacted."
        ),
        tool!(
            sync,
            "read_media",
            One(MediaRead),
            media::MediaArgs,
            media::read_media,
            "Read an image, PDF, document, audio or video file (path, or a ralph://media/<uuid> handle to replay). format 'inline' (default) delivers it the way this session's model can take it: an inline image, a typed block, or a ralph://media/ reference readable with resources/read; format 'metadata' returns size_bytes, sha256, mime_type and image width/height. The type is detected from the content."
        ),
        tool!(
            sync,
            "read_image",
            One(MediaRead),
            media::MediaArgs,
            media::read_image,
            "Read an image file (path, or a ralph://media/<uuid> handle). format 'inline' (default) or 'metadata'. Images over max_inline_bytes or for models that cannot take inline images come back as a ralph://media/ reference readable with resources/read."
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_is_an_object_with_properties() {
        for tool in builtin_tools() {
            let schema = tool.input_schema();
            assert_eq!(
                schema.get("type"),
                Some(&Value::String("object".into())),
                "{}",
                tool.name
            );
            assert!(
                schema.get("properties").is_some_and(Value::is_object),
                "{}",
                tool.name
            );
        }
    }

    #[test]
    fn read_file_schema_keeps_ralph_argument_names_and_defaults() {
        let tools = builtin_tools();
        let read = tools.iter().find(|t| t.name == "read_file").unwrap();
        let schema = read.input_schema();
        let props = schema["properties"].as_object().unwrap();
        for name in [
            "path",
            "line_start",
            "line_end",
            "offset",
            "limit",
            "head",
            "tail",
            "max_bytes",
            "expected_content_hash",
        ] {
            assert!(props.contains_key(name), "{name}");
        }
        assert_eq!(props["max_bytes"]["default"], 5_000_000);
        assert_eq!(schema["required"], serde_json::json!(["path"]));
    }

    #[test]
    fn names_are_unique() {
        let tools = builtin_tools();
        let mut names: Vec<_> = tools.iter().map(|t| t.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), tools.len());
    }
}

#[cfg(test)]
mod inline_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_bounded_reads_run_inline() {
        for inline in [
            json!({"path": "a"}),
            json!({"path": "a", "max_bytes": 1000}),
            json!({"path": "a", "offset": 10, "limit": 4096}),
            json!({"path": "a", "return_metadata": false}),
        ] {
            assert!(small_read(&inline), "{inline}");
        }
        for pooled in [
            json!({"path": "a", "line_start": 1}),
            json!({"path": "a", "tail": 5}),
            json!({"path": "a", "head": 5}),
            json!({"path": "a", "max_bytes": 1u64 << 40}),
            json!({"path": "a", "limit": 1u64 << 40}),
            json!({"path": "a", "expected_content_hash": "00"}),
            json!({"path": "a", "return_metadata": true}),
        ] {
            assert!(!small_read(&pooled), "{pooled}");
        }
    }
}
