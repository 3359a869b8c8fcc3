//! What each built-in tool does to the world, for clients that decide from it
//! whether to ask the user first: a human title and MCP's behaviour hints.
//! One row per catalog tool; a test keeps the two tables in step.

use rmcp::model::ToolAnnotations;

/// How a tool behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Reads only (files, git, the environment).
    Read,
    /// Adds without destroying (new directories, appended text, progress events).
    Additive { idempotent: bool },
    /// May overwrite or remove what exists.
    Destructive { idempotent: bool },
    /// Runs commands: anything the sandbox lets them do.
    Command { open_world: bool },
    /// Reads from the open web.
    WebRead,
    /// Writes what it reads from the open web into the workspace.
    WebWrite,
}

/// The title and kind of a built-in tool; `None` for a name not in the catalog.
fn row(name: &str) -> Option<(&'static str, Kind)> {
    use Kind::*;
    Some(match name {
        "read_file" => ("Read file", Read),
        "read_multiple_files" => ("Read several files", Read),
        "stat_path" => ("Describe a path", Read),
        "list_allowed_roots" => ("List allowed roots", Read),
        "list_directory" => ("List directory", Read),
        "list_directory_recursive" => ("List directory tree", Read),
        "directory_tree" => ("Directory tree as JSON", Read),
        "search_files" => ("Find files by glob", Read),
        "grep_files" => ("Search file contents", Read),
        "write_file" => ("Write file", Destructive { idempotent: true }),
        "edit_file" => ("Edit file", Destructive { idempotent: false }),
        "append_file" => ("Append to file", Additive { idempotent: false }),
        "create_directory" => ("Create directory", Additive { idempotent: true }),
        "move_file" => ("Move or rename", Destructive { idempotent: false }),
        "copy_file" => ("Copy file", Destructive { idempotent: true }),
        "delete_path" => ("Delete path", Destructive { idempotent: true }),
        "git_status" => ("Git status", Read),
        "git_diff" => ("Git diff", Read),
        "git_log" => ("Git log", Read),
        "git_show" => ("Git show", Read),
        "exec" => ("Run a command (checked)", Command { open_world: false }),
        "exec_wait" => ("Wait for a command", Read),
        "exec_cancel" => ("Cancel a command", Destructive { idempotent: true }),
        "unsafe_exec" => ("Run a shell script", Command { open_world: true }),
        "raw_exec" => ("Run a shell script", Command { open_world: true }),
        "report_progress" => ("Report progress", Additive { idempotent: false }),
        "declare_complete" => ("Declare the task complete", Additive { idempotent: true }),
        "ralph_submit_md_artifact" => (
            "Submit a markdown artifact",
            Destructive { idempotent: true },
        ),
        "ralph_verify_md_artifact" => ("Check a markdown artifact", Read),
        "ralph_stage_md_artifact" => ("Stage an artifact draft", Destructive { idempotent: false }),
        "ralph_edit_md_artifact" => (
            "Edit and submit an artifact draft",
            Destructive { idempotent: false },
        ),
        "ralph_get_md_draft" => ("Read an artifact draft", Read),
        "ralph_discard_md_draft" => (
            "Discard an artifact draft",
            Destructive { idempotent: true },
        ),
        "ralph_finalize_md_artifact" => (
            "Submit the artifact draft",
            Destructive { idempotent: true },
        ),
        "web_search" => ("Search the web", WebRead),
        "visit_url" => ("Read a web page", WebRead),
        "download_url" => ("Download a URL into the workspace", WebWrite),
        "coordinate" => ("Coordinate work units", Additive { idempotent: false }),
        "read_env" => ("Read an environment variable", Read),
        "ralph_index_status" => ("Explore index status", Read),
        // Writes only the server's own index under .agent/, never the workspace.
        "ralph_reindex" => ("Reindex the code graph", Additive { idempotent: true }),
        "ralph_graph" => ("Query the code graph", Read),
        "read_media" => ("Read media", Read),
        "read_image" => ("Read image", Read),
        _ => return None,
    })
}

/// The title and annotations of built-in tool `name`.
pub fn of(name: &str) -> Option<(&'static str, ToolAnnotations)> {
    let (title, kind) = row(name)?;
    let a = ToolAnnotations::with_title(title);
    let a = match kind {
        Kind::Read => a
            .read_only(true)
            .destructive(false)
            .idempotent(true)
            .open_world(false),
        Kind::Additive { idempotent } => a
            .read_only(false)
            .destructive(false)
            .idempotent(idempotent)
            .open_world(false),
        Kind::Destructive { idempotent } => a
            .read_only(false)
            .destructive(true)
            .idempotent(idempotent)
            .open_world(false),
        Kind::Command { open_world } => a
            .read_only(false)
            .destructive(true)
            .idempotent(false)
            .open_world(open_world),
        Kind::WebRead => a
            .read_only(true)
            .destructive(false)
            .idempotent(true)
            .open_world(true),
        Kind::WebWrite => a
            .read_only(false)
            .destructive(true)
            .idempotent(true)
            .open_world(true),
    };
    Some((title, a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_tool_has_hints_and_no_more() {
        let tools = super::super::catalog::builtin_tools();
        for t in &tools {
            assert!(of(t.name).is_some(), "no hints for `{}`", t.name);
        }
        assert_eq!(of("no_such_tool").map(|(t, _)| t), None);
        let (_, read) = of("read_file").unwrap();
        assert_eq!(read.read_only_hint, Some(true));
        let (_, del) = of("delete_path").unwrap();
        assert_eq!(
            (del.read_only_hint, del.destructive_hint),
            (Some(false), Some(true))
        );
    }
}
