//! `grep_files`: ripgrep's walker, matcher and searcher, in parallel, with
//! sorted and bounded results.

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder, Sink, SinkContext, SinkMatch};
use rustix::fs::{FileType, Mode, OFlags};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::fsio::io_error;
use super::walk::{MAX_DEPTH, overrides};
use super::{ToolContext, ToolError, ToolResult, text_result};
use crate::confine::beneath::open_beneath;
use crate::confine::walk::{Flow, WalkOptions, walk};

fn default_dot() -> String {
    ".".into()
}
fn yes() -> bool {
    true
}
fn default_limit() -> usize {
    1000
}
fn default_max_file_bytes() -> u64 {
    5_000_000
}

/// Longest line text returned per match; longer lines are cut with `…`.
const MAX_LINE_CHARS: usize = 1000;
/// Hard bound on matches held in memory before sorting.
const MAX_HELD: usize = 200_000;
/// Largest context asked for.
const MAX_CONTEXT: usize = 20;

/// Arguments of `grep_files`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrepArgs {
    /// Regular expression (Rust regex syntax) or, with `regex: false`, a literal.
    pub pattern: String,
    /// File or directory to search (default ".").
    #[serde(default = "default_dot")]
    pub path: String,
    /// Treat `pattern` as a regular expression (default true).
    #[serde(default = "yes")]
    #[schemars(default = "yes")]
    pub regex: bool,
    /// Match case exactly (default true).
    #[serde(default = "yes")]
    #[schemars(default = "yes")]
    pub case_sensitive: bool,
    /// Match whole words only.
    #[serde(default)]
    pub whole_word: bool,
    /// Only search files matching these globs (ripgrep `-g` syntax).
    #[serde(default)]
    pub include: Vec<String>,
    /// Skip files matching these globs.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Lines of context before each match (max 20).
    #[serde(default)]
    pub context_before: usize,
    /// Lines of context after each match (max 20).
    #[serde(default)]
    pub context_after: usize,
    /// Maximum matches to return (default 1000).
    #[serde(default = "default_limit")]
    #[schemars(default = "default_limit")]
    pub limit: usize,
    /// Skip files larger than this many bytes (default 5000000).
    #[serde(default = "default_max_file_bytes")]
    #[schemars(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
    /// Also search files that .gitignore excludes (`.git` is always skipped).
    #[serde(default)]
    pub include_ignored: bool,
}

/// One matching line of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrepMatch {
    /// 1-based line number.
    pub line: u64,
    /// The line, without its terminator.
    pub text: String,
    /// Context lines before, oldest first.
    pub before: Vec<String>,
    /// Context lines after.
    pub after: Vec<String>,
}

/// The matches of one file, in line order (as the searcher reports them).
#[derive(Debug)]
struct FileMatches {
    path: String,
    matches: Vec<GrepMatch>,
}

/// One match as it is reported: `{path, line, text, before?, after?}`.
#[derive(Serialize)]
struct MatchOut<'a> {
    path: &'a str,
    line: u64,
    text: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    before: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    after: &'a [String],
}

fn line_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    let text = String::from_utf8_lossy(bytes);
    // Bytes bound chars from above, so most lines skip the count.
    if text.len() > MAX_LINE_CHARS && text.chars().count() > MAX_LINE_CHARS {
        let cut: String = text.chars().take(MAX_LINE_CHARS).collect();
        format!("{cut}…")
    } else {
        text.into_owned()
    }
}

/// Collects the matches of one file.
struct FileSink {
    matches: Vec<GrepMatch>,
    pending_before: Vec<String>,
    cap: usize,
}

impl Sink for FileSink {
    type Error = std::io::Error;

    fn matched(&mut self, _s: &Searcher, m: &SinkMatch<'_>) -> Result<bool, Self::Error> {
        let first = m.line_number().unwrap_or(0);
        // A multi-line match reports several lines at once; record each.
        for (i, line) in m.lines().enumerate() {
            self.matches.push(GrepMatch {
                line: first + i as u64,
                text: line_text(line),
                before: std::mem::take(&mut self.pending_before),
                after: Vec::new(),
            });
        }
        Ok(self.matches.len() < self.cap)
    }

    fn context(&mut self, _s: &Searcher, c: &SinkContext<'_>) -> Result<bool, Self::Error> {
        match c.kind() {
            grep_searcher::SinkContextKind::Before => {
                self.pending_before.push(line_text(c.bytes()));
            }
            grep_searcher::SinkContextKind::After => {
                if let Some(last) = self.matches.last_mut() {
                    last.after.push(line_text(c.bytes()));
                }
            }
            grep_searcher::SinkContextKind::Other => {}
        }
        Ok(true)
    }
}

fn build_matcher(args: &GrepArgs) -> Result<RegexMatcher, ToolError> {
    RegexMatcherBuilder::new()
        .case_insensitive(!args.case_sensitive)
        .word(args.whole_word)
        .fixed_strings(!args.regex)
        .line_terminator(Some(b'\n'))
        .build(&args.pattern)
        .map_err(|e| ToolError::InvalidArgs {
            tool: "grep_files".into(),
            message: format!(
                "field `pattern`: not a valid regular expression: {e}; pass `regex: false` to search for the literal text"
            ),
        })
}

fn build_searcher(args: &GrepArgs) -> Searcher {
    SearcherBuilder::new()
        .line_number(true)
        .binary_detection(BinaryDetection::quit(b'\x00'))
        .before_context(args.context_before.min(MAX_CONTEXT))
        .after_context(args.context_after.min(MAX_CONTEXT))
        .build()
}

/// `grep_files`.
pub fn grep_files(ctx: &ToolContext, args: GrepArgs) -> ToolResult {
    if args.pattern.is_empty() {
        return Err(ToolError::InvalidArgs {
            tool: "grep_files".into(),
            message: "field `pattern` is empty; pass the text or regex to search for".into(),
        });
    }
    let matcher = build_matcher(&args)?;
    let limit = args.limit.max(1);
    let held = Mutex::new(Vec::<FileMatches>::new());
    let held_count = AtomicUsize::new(0);
    let overflow = AtomicBool::new(false);
    let files_searched = AtomicUsize::new(0);

    let search_one = |searcher: &mut Searcher, file: std::fs::File, shown: String| {
        if let Ok(meta) = file.metadata()
            && meta.len() > args.max_file_bytes
        {
            return;
        }
        files_searched.fetch_add(1, Ordering::Relaxed);
        let mut sink = FileSink {
            matches: Vec::new(),
            pending_before: Vec::new(),
            // No file can contribute more than `limit` lines to the first `limit`.
            cap: limit + 1,
        };
        if searcher.search_file(&matcher, &file, &mut sink).is_err() || sink.matches.is_empty() {
            return;
        }
        let n = sink.matches.len();
        if held_count.fetch_add(n, Ordering::Relaxed) + n > MAX_HELD {
            overflow.store(true, Ordering::Relaxed);
            return;
        }
        if let Ok(mut all) = held.lock() {
            all.push(FileMatches {
                path: shown,
                matches: sink.matches,
            });
        }
    };

    let located = ctx.roots.locate(&args.path)?;
    let start_fd = located
        .open(
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY,
            Mode::empty(),
        )
        .map_err(|e| ToolError::Path(ctx.roots.open_error(&args.path, &located, e)))?;
    let start_abs = located.abs();
    let kind = FileType::from_raw_mode(
        rustix::fs::fstat(&start_fd)
            .map_err(|e| io_error(&args.path, e.into()))?
            .st_mode,
    );
    match kind {
        FileType::RegularFile => {
            let shown = ctx.roots.display(&start_abs);
            search_one(&mut build_searcher(&args), start_fd.into(), shown);
        }
        FileType::Directory => {
            let overrides = overrides(&start_abs, &args.include, &args.exclude)?;
            let opts = WalkOptions {
                include_ignored: args.include_ignored,
                max_depth: MAX_DEPTH,
                overrides: overrides.as_ref(),
                sorted: false,
            };
            let mut files: Vec<PathBuf> = Vec::new();
            walk(&located, start_fd.as_fd(), opts, &mut |e| {
                if e.kind == FileType::RegularFile {
                    files.push(e.rel.to_path_buf());
                }
                Flow::Continue
            });
            let next = AtomicUsize::new(0);
            let workers = std::thread::available_parallelism()
                .map_or(2, std::num::NonZero::get)
                .min(files.len().max(1));
            std::thread::scope(|scope| {
                for _ in 0..workers {
                    scope.spawn(|| {
                        let mut searcher = build_searcher(&args);
                        loop {
                            if overflow.load(Ordering::Relaxed) {
                                return;
                            }
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(rel) = files.get(i) else { return };
                            // Opened beneath the start again, never following a final
                            // link and never blocking: a file swapped since the walk
                            // is skipped or still inside.
                            let Ok(fd) = open_beneath(
                                start_fd.as_fd(),
                                &start_abs,
                                rel,
                                OFlags::RDONLY
                                    | OFlags::NONBLOCK
                                    | OFlags::NOFOLLOW
                                    | OFlags::NOCTTY,
                                Mode::empty(),
                            ) else {
                                continue;
                            };
                            if rustix::fs::fstat(&fd).is_ok_and(|st| {
                                FileType::from_raw_mode(st.st_mode) == FileType::RegularFile
                            }) {
                                let shown = ctx.roots.display(&start_abs.join(rel));
                                search_one(&mut searcher, fd.into(), shown);
                            }
                        }
                    });
                }
            });
        }
        other => return Err(super::fsio::not_regular(&args.path, other)),
    }
    // Sorted by (path, line): files by path; each file's matches are already in line order.
    let mut files = held.into_inner().unwrap_or_default();
    files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    let total: usize = files.iter().map(|f| f.matches.len()).sum();
    let truncated = total > limit || overflow.load(Ordering::Relaxed);
    let matches: Vec<MatchOut<'_>> = files
        .iter()
        .flat_map(|f| {
            f.matches.iter().map(|m| MatchOut {
                path: &f.path,
                line: m.line,
                text: &m.text,
                before: &m.before,
                after: &m.after,
            })
        })
        .take(limit)
        .collect();
    // Serialised straight from the structs: no intermediate JSON tree for what can be
    // tens of thousands of matches.
    let out = GrepOutput {
        pattern: &args.pattern,
        path: &args.path,
        count: matches.len(),
        matches: &matches,
        files_searched: files_searched.load(Ordering::Relaxed),
        truncated,
    };
    let text = serde_json::to_string(&out)
        .map_err(|e| ToolError::failed(format!("cannot encode the matches: {e}")))?;
    Ok(text_result(text))
}

/// The `grep_files` result.
#[derive(Serialize)]
struct GrepOutput<'a> {
    pattern: &'a str,
    path: &'a str,
    matches: &'a [MatchOut<'a>],
    count: usize,
    files_searched: usize,
    truncated: bool,
}
