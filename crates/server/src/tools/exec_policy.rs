//! The command policy of `exec`: a deny-list applied to every pipeline segment
//! (and to the scripts of nested `sh -c`, `eval`, `find -exec` and wrapped
//! commands) before anything runs. It stops the mistakes an agent makes with a
//! clear message; it is not the barrier: the kernel sandbox ([`crate::sandbox`]) is.

/// Which rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyLevel {
    /// `exec`: every rule.
    Bounded,
    /// `unsafe_exec` / `raw_exec`: only the VCS-write rule.
    VcsOnly,
}

/// Shell operators that make a command string a shell script.
const SHELL_OPERATORS: &[&str] = &["|", "&", ";", "<", ">", "`", "$(", "\n", "*", "?", "~", "$"];

/// True when `command` needs a shell to mean what it says.
pub fn needs_shell(command: &str) -> bool {
    SHELL_OPERATORS.iter().any(|op| command.contains(op))
}

/// Splits a shell line into pipeline segments on `|`, `||`, `&&`, `;`, `&` and
/// newlines, outside quotes. Subshell parentheses and `$(…)` bodies are split too.
pub fn segments(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = script.chars().peekable();
    let (mut single, mut double) = (false, false);
    while let Some(c) = chars.next() {
        match c {
            '\'' if !double => {
                single = !single;
                cur.push(c);
            }
            '"' if !single => {
                double = !double;
                cur.push(c);
            }
            '\\' if !single => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '|' | '&' | ';' | '\n' | '(' | ')' | '`' if !single && !double => {
                out.push(std::mem::take(&mut cur));
            }
            '$' if !single && chars.peek() == Some(&'(') => {
                out.push(std::mem::take(&mut cur));
            }
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Words of one segment, with leading `VAR=value` assignments and redirections removed.
fn words(segment: &str) -> Vec<String> {
    let words = shlex::split(segment)
        .unwrap_or_else(|| segment.split_whitespace().map(str::to_owned).collect());
    words
        .into_iter()
        .skip_while(|w| is_assignment(w))
        .filter(|w| !w.starts_with('>') && !w.starts_with('<') && !w.starts_with("2>"))
        .collect()
}

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

fn basename(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// Wrappers that run their argument as a command, with the options of each that
/// take a value (so `nice -n 1 git push` is seen as `git push`).
const WRAPPERS: &[(&str, &[&str])] = &[
    (
        "env",
        &[
            "-u",
            "--unset",
            "-C",
            "--chdir",
            "-S",
            "--split-string",
            "-a",
            "--argv0",
        ],
    ),
    ("nice", &["-n", "--adjustment"]),
    ("nohup", &[]),
    ("timeout", &["-s", "--signal", "-k", "--kill-after"]),
    ("time", &["-f", "--format", "-o", "--output"]),
    ("command", &[]),
    ("builtin", &[]),
    ("exec", &["-a"]),
    (
        "stdbuf",
        &["-i", "--input", "-o", "--output", "-e", "--error"],
    ),
    (
        "ionice",
        &[
            "-c",
            "--class",
            "-n",
            "--classdata",
            "-p",
            "--pid",
            "-P",
            "-u",
        ],
    ),
    (
        "xargs",
        &[
            "-a",
            "--arg-file",
            "-d",
            "--delimiter",
            "-E",
            "-e",
            "-I",
            "-i",
            "-L",
            "-l",
            "-n",
            "--max-args",
            "-P",
            "--max-procs",
            "-s",
            "--max-chars",
            "--process-slot-var",
        ],
    ),
    ("setsid", &[]),
    ("chronic", &[]),
    ("chrt", &[]),
    ("taskset", &[]),
    ("unbuffer", &[]),
    ("flock", &["-w", "--timeout", "-E", "--conflict-exit-code"]),
    ("watch", &["-n", "--interval", "-d"]),
    ("strace", &["-o", "-e", "-p", "-s", "-u"]),
    ("ltrace", &["-o", "-e", "-p", "-s", "-u"]),
    ("faketime", &[]),
    ("proot", &[]),
    ("firejail", &[]),
];

/// Shell keywords that may stand before a command in a segment.
const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "[[", "]]",
    "case", "esac", "function", "coproc", "select",
];

/// What stripping wrappers found: the command, and whether its arguments are
/// completed at run time (`xargs`).
struct Unwrapped<'a> {
    words: &'a [String],
    args_from_stdin: bool,
}

/// Skips shell keywords, wrappers and their options to the command they run.
fn strip_wrappers(mut w: &[String]) -> Unwrapped<'_> {
    let mut args_from_stdin = false;
    loop {
        while w.first().is_some_and(|k| KEYWORDS.contains(&k.as_str())) {
            w = &w[1..];
        }
        let Some(first) = w.first() else {
            return Unwrapped {
                words: w,
                args_from_stdin,
            };
        };
        let name = basename(first);
        let Some((_, valued)) = WRAPPERS.iter().find(|(n, _)| *n == name) else {
            return Unwrapped {
                words: w,
                args_from_stdin,
            };
        };
        if name == "xargs" {
            args_from_stdin = true;
        }
        w = &w[1..];
        while let Some(next) = w.first() {
            let opt = next.split('=').next().unwrap_or(next);
            if next == "--" {
                w = &w[1..];
                break;
            }
            if next.starts_with('-') && next.len() > 1 {
                // An option that takes a separate value swallows it.
                let takes_value = valued.contains(&opt) && !next.contains('=');
                w = &w[if takes_value { 2 } else { 1 }.min(w.len())..];
            } else if is_assignment(next)
                || (name == "timeout" && next.chars().next().is_some_and(|c| c.is_ascii_digit()))
                || (matches!(name, "chrt" | "taskset" | "nice")
                    && next
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() || "x,-".contains(c)))
            {
                w = &w[1..];
            } else {
                break;
            }
        }
    }
}

const ESCALATION: &[&str] = &["sudo", "su", "doas", "pkexec", "run0"];
const CONTAINERS: &[&str] = &[
    "docker",
    "podman",
    "kubectl",
    "nerdctl",
    "buildah",
    "crictl",
    "ctr",
    "lxc",
    "lxd",
    "docker-compose",
    "helm",
    "minikube",
    "kind",
];
const NETWORK: &[&str] = &[
    "curl", "wget", "nc", "ncat", "netcat", "ssh", "scp", "sftp", "rsync", "telnet", "ftp", "socat",
];
const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh"];
/// Git subcommands that only read.
const GIT_READ: &[&str] = &[
    "status",
    "diff",
    "log",
    "show",
    "blame",
    "rev-parse",
    "ls-files",
    "ls-tree",
    "cat-file",
    "describe",
    "shortlog",
    "grep",
    "rev-list",
    "merge-base",
    "name-rev",
    "version",
    "help",
    "whatchanged",
    "diff-tree",
    "diff-files",
    "diff-index",
    "for-each-ref",
    "show-ref",
    "count-objects",
    "var",
    "check-ignore",
    "check-attr",
    "reflog",
];

/// Why a command was refused.
pub type Refusal = String;

/// True when some command in `script` starts with `$` or a backquote: its name
/// is computed at run time.
fn computed_command_name(script: &str) -> bool {
    let (mut single, mut double) = (false, false);
    let mut at_start = true;
    let mut prev = ' ';
    for c in script.chars() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            _ => {}
        }
        if !single && !double {
            if at_start && !c.is_whitespace() {
                if c == '$' || c == '`' {
                    return true;
                }
                at_start = false;
            }
            if matches!(c, ';' | '&' | '|' | '\n' | '(' | '{') && prev != '$' {
                at_start = true;
            }
        }
        prev = c;
    }
    false
}

/// Checks a whole command (a shell script or an argv) against the policy.
pub fn check_script(script: &str, level: PolicyLevel) -> Result<(), Refusal> {
    if level == PolicyLevel::Bounded && computed_command_name(script) {
        return Err(
            "a command name here comes from a variable or substitution, which exec cannot check; write the command literally"
                .into(),
        );
    }
    for seg in segments(script) {
        check_words(&words(&seg), level, 0)?;
    }
    Ok(())
}

/// Checks one argv against the policy.
pub fn check_argv(argv: &[String], level: PolicyLevel) -> Result<(), Refusal> {
    check_words(argv, level, 0)
}

/// Interpreters whose one-liners can start processes.
const INTERPRETERS: &[(&str, &[&str])] = &[
    ("python", &["-c"]),
    ("python3", &["-c"]),
    ("python2", &["-c"]),
    ("perl", &["-e", "-E"]),
    ("ruby", &["-e"]),
    ("node", &["-e", "--eval", "-p", "--print"]),
    ("deno", &["eval"]),
    ("bun", &["-e", "--eval"]),
    ("php", &["-r"]),
    ("lua", &["-e"]),
    ("awk", &[]),
    ("gawk", &[]),
];

/// Calls that start another process, in the languages above.
const SPAWNING_CALLS: &[&str] = &[
    "os.system",
    "subprocess",
    "os.exec",
    "os.spawn",
    "os.popen",
    "pty.spawn",
    "child_process",
    "system(",
    "exec(",
    "execsync",
    "spawn(",
    "popen",
    "`",
    "proc_open",
    "shell_exec",
    "passthru",
    "io.popen",
    "os.execute",
    "Deno.run",
    "Deno.Command",
    "Bun.spawn",
    "| getline",
];

fn check_words(words: &[String], level: PolicyLevel, depth: usize) -> Result<(), Refusal> {
    if depth > 8 {
        return Err("command nests shells too deeply to check".into());
    }
    let Unwrapped {
        words,
        args_from_stdin,
    } = strip_wrappers(words);
    let Some(first) = words.first() else {
        return Ok(());
    };
    if level == PolicyLevel::Bounded && (first.contains('$') || first.contains('`')) {
        return Err(format!(
            "the command name `{first}` comes from a variable or substitution, which exec cannot check; write the command literally"
        ));
    }
    let name = basename(first);
    let rest = &words[1..];
    if name == "eval" {
        return check_script(&rest.join(" "), level);
    }
    if name == "find" {
        let mut i = 0;
        while i < rest.len() {
            if matches!(rest[i].as_str(), "-exec" | "-execdir" | "-ok" | "-okdir") {
                let end = rest[i + 1..]
                    .iter()
                    .position(|w| w == ";" || w == "+" || w == "\\;")
                    .map_or(rest.len(), |p| i + 1 + p);
                check_words(&rest[i + 1..end], level, depth + 1)?;
                i = end;
            }
            i += 1;
        }
    }
    if SHELLS.contains(&name) {
        let script_pos = rest.iter().position(|w| {
            w == "-c" || (w.starts_with('-') && w.ends_with('c') && !w.starts_with("--"))
        });
        match script_pos.and_then(|pos| rest.get(pos + 1)) {
            Some(script) => {
                for seg in segments(script) {
                    check_words(&self::words(&seg), level, depth + 1)?;
                }
            }
            None if level == PolicyLevel::Bounded && !rest.iter().any(|w| !w.starts_with('-')) => {
                return Err(format!(
                    "`{name}` here reads its commands from standard input, which exec cannot check; run the commands directly or with `{name} -c '…'`"
                ));
            }
            None => {}
        }
    }
    if level == PolicyLevel::Bounded
        && let Some((_, flags)) = INTERPRETERS.iter().find(|(n, _)| *n == name)
    {
        let code: Vec<&String> = if flags.is_empty() {
            rest.iter()
                .filter(|w| !w.starts_with('-'))
                .take(1)
                .collect()
        } else {
            rest.iter()
                .enumerate()
                .filter(|(i, _)| *i > 0 && flags.contains(&rest[i - 1].as_str()))
                .map(|(_, w)| w)
                .collect()
        };
        if let Some(call) = code
            .iter()
            .find_map(|c| SPAWNING_CALLS.iter().find(|s| c.contains(**s)))
        {
            return Err(format!(
                "this `{name}` one-liner starts other processes (`{call}`), which exec cannot check; run those commands directly"
            ));
        }
    }
    if args_from_stdin && matches!(name, "git" | "hg" | "svn" | "jj" | "rm" | "chmod" | "chown") {
        return Err(format!(
            "`xargs {name}` takes its arguments from standard input, which exec cannot check; run `{name}` with its arguments written out"
        ));
    }
    if level == PolicyLevel::Bounded {
        if ESCALATION.contains(&name) {
            return Err(format!(
                "`{name}` escalates privileges, which exec does not allow"
            ));
        }
        if CONTAINERS.contains(&name) {
            return Err(format!(
                "`{name}` drives containers, which exec does not allow"
            ));
        }
        if NETWORK.contains(&name) && !all_targets_loopback(rest) {
            return Err(format!(
                "`{name}` reaches a host that is not loopback; only 127.0.0.1/localhost targets are allowed"
            ));
        }
        if let Some(why) = destructive(name, rest) {
            return Err(why);
        }
    }
    if let Some(why) = vcs_write(name, rest) {
        return Err(why);
    }
    Ok(())
}

fn is_loopback_target(arg: &str) -> bool {
    let host = arg
        .split_once("://")
        .map_or(arg, |(_, rest)| rest)
        .rsplit_once('@')
        .map_or_else(|| arg.split_once("://").map_or(arg, |(_, r)| r), |(_, h)| h);
    let host = host.split(['/', '?', '#']).next().unwrap_or(host);
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// True when every non-option argument that could name a host is loopback.
fn all_targets_loopback(args: &[String]) -> bool {
    let targets: Vec<&String> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .filter(|a| {
            a.contains("://")
                || a.contains('.')
                || a.contains(':')
                || a.contains('@')
                || a.as_str() == "localhost"
        })
        .collect();
    !targets.is_empty() && targets.iter().all(|t| is_loopback_target(t))
}

fn destructive(name: &str, args: &[String]) -> Option<String> {
    let protected = |a: &str| {
        let a = a.trim_end_matches('/');
        a.is_empty()
            || a == "/*"
            || a == "~"
            || a == "$HOME"
            || a == "${HOME}"
            || a == "/root"
            || a == "/home"
            || a == "/usr"
            || a == "/etc"
            || std::env::var("HOME").is_ok_and(|h| a == h.trim_end_matches('/'))
    };
    let targets: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    match name {
        "rm" | "chmod" | "chown" | "chgrp" | "shred" | "find" => {
            if let Some(t) = targets.iter().find(|t| protected(t)) {
                return Some(format!(
                    "`{name}` aimed at `{t}` would damage the system or home directory; exec does not allow it"
                ));
            }
            None
        }
        "mkfs" | "fdisk" | "parted" | "wipefs" | "shutdown" | "reboot" | "halt" | "poweroff" => {
            Some(format!(
                "`{name}` is destructive to the machine; exec does not allow it"
            ))
        }
        n if n.starts_with("mkfs.") => Some(format!(
            "`{n}` formats file systems; exec does not allow it"
        )),
        "dd" if args.iter().any(|a| a.starts_with("of=/dev/")) => {
            Some("`dd` writing to a device is not allowed".into())
        }
        _ => None,
    }
}

/// `git -c` keys that only change how output looks.
fn safe_git_config(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.starts_with("color.")
        || key == "core.quotepath"
        || (key.starts_with("log.") && !key.contains("program"))
        || key == "diff.noprefix"
        || key == "diff.renames"
        || key == "core.abbrev"
        || key == "advice.detachedhead"
}

fn vcs_write(name: &str, args: &[String]) -> Option<String> {
    match name {
        "git" => {
            // Skip git's global options to the subcommand, refusing the ones that
            // make git run other programs or read another repository.
            let mut i = 0;
            while i < args.len() {
                let a = args[i].as_str();
                if a == "-c" || a.starts_with("--config-env") {
                    let key = args
                        .get(i + 1)
                        .map_or("", |kv| kv.split('=').next().unwrap_or(""));
                    if a.starts_with("--config-env") || !safe_git_config(key) {
                        return Some(format!(
                            "`git {a} {}` can make git run other programs; exec only accepts display settings (color.*, core.quotePath, log.*) there",
                            args.get(i + 1).map_or("", String::as_str)
                        ));
                    }
                    i += 2;
                } else if a.starts_with("--exec-path") {
                    return Some("`git --exec-path` runs git helpers from another place; exec does not allow it".into());
                } else if a == "-C" || a == "--git-dir" || a == "--work-tree" || a == "--namespace"
                {
                    i += 2;
                } else if a.starts_with('-') {
                    i += 1;
                } else {
                    break;
                }
            }
            let sub = args.get(i)?;
            let sub_args = &args[i + 1..];
            if let Some(bad) = sub_args.iter().find(|a| {
                a.starts_with("--output")
                    || a.starts_with("--ext-diff")
                    || a.starts_with("--textconv")
                    || a.starts_with("--open-files-in-pager")
                    || (sub == "grep" && a.starts_with("-O"))
            }) {
                return Some(format!(
                    "`git {sub} {bad}` writes a file or runs another program; exec does not allow it"
                ));
            }
            let read_only = (GIT_READ.contains(&sub.as_str())
                && !(sub == "reflog"
                    && sub_args
                        .first()
                        .is_some_and(|a| a != "show" && !a.starts_with('-'))))
                || (sub == "branch"
                    && sub_args.iter().all(|a| {
                        matches!(
                            a.as_str(),
                            "-a" | "-r"
                                | "-v"
                                | "-vv"
                                | "--list"
                                | "--all"
                                | "--show-current"
                                | "--no-color"
                                | "--contains"
                                | "--merged"
                        )
                    }))
                || (sub == "tag"
                    && sub_args
                        .iter()
                        .all(|a| matches!(a.as_str(), "-l" | "--list" | "-n")))
                || (sub == "remote"
                    && sub_args
                        .iter()
                        .all(|a| a == "-v" || a == "show" || a == "get-url"))
                || (sub == "config"
                    && sub_args
                        .iter()
                        .any(|a| a == "--get" || a == "--list" || a == "-l" || a == "--get-all"))
                || (sub == "stash" && sub_args.first().is_some_and(|a| a == "list" || a == "show"))
                || (sub == "worktree" && sub_args.first().is_some_and(|a| a == "list"));
            if read_only {
                None
            } else {
                Some(format!(
                    "`git {sub}` writes to the repository; exec only runs read-only git (status, diff, log, show, …). The orchestrator makes commits"
                ))
            }
        }
        "hg" | "svn" | "jj" => {
            let sub = args
                .iter()
                .find(|a| !a.starts_with('-'))
                .map(String::as_str);
            match sub {
                Some(
                    "status" | "st" | "diff" | "log" | "cat" | "info" | "annotate" | "blame"
                    | "show",
                )
                | None => None,
                Some(s) => Some(format!(
                    "`{name} {s}` may write to the repository; exec does not allow VCS writes"
                )),
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn refused(s: &str) -> bool {
        check_script(s, PolicyLevel::Bounded).is_err()
    }

    #[test]
    fn escalation_containers_and_vcs_writes_are_refused() {
        for s in [
            "sudo true",
            "echo hi | sudo tee /etc/x",
            "env FOO=1 sudo ls",
            "timeout 5 doas ls",
            "docker run x",
            "git push",
            "git -C sub commit -m x",
            "cargo test && git push origin main",
            "sh -c 'git push'",
            "bash -lc \"sudo id\"",
            "echo $(git commit -am x)",
            "git branch -D main",
            "git tag v1",
        ] {
            assert!(refused(s), "{s}");
        }
    }

    #[test]
    fn bypass_shapes_are_refused() {
        for s in [
            "nice -n 1 git push",
            "nice -n1 sudo id",
            "timeout -s KILL 5 git commit -m x",
            "timeout --signal=KILL 5 sudo id",
            "ionice -c 3 git push",
            "stdbuf -o L git push",
            "env -u HOME git push",
            "nohup git push",
            "setsid git push",
            "command git push",
            "exec git push",
            "time -f %e git push",
            "chrt -f 10 git push",
            "taskset 0x1 git push",
            "taskset -c 0 git push",
            "echo push | xargs git",
            "echo x | xargs -n 1 git",
            "eval 'git push'",
            "eval git push",
            "{ git push; }",
            "if true; then git push; fi",
            "while true; do git push; done",
            "! git push",
            "echo 'git push' | sh",
            "echo 'git push' | bash -s",
            "c=curl; $c https://example.com",
            "$(echo git) push",
            "`echo git` push",
            "python3 -c 'import os; os.system(\"git push\")'",
            "python3 -c 'import subprocess; subprocess.run([\"git\", \"push\"])'",
            "perl -e 'system(\"git push\")'",
            "node -e \"require('child_process').execSync('git push')\"",
            "git -c core.fsmonitor='touch /tmp/x' status",
            "git -c core.pager=evil log",
            "git -c diff.external=evil diff",
            "git --config-env=core.pager=X log",
            "git --exec-path=/tmp status",
            "git reflog expire --all",
            "git reflog delete HEAD@{0}",
            "git diff --output=/tmp/x",
            "git grep -O foo",
            "find . -exec git push \\;",
            "find . -name x -execdir sudo rm {} +",
        ] {
            assert!(refused(s), "{s}");
        }
    }

    #[test]
    fn refusals_say_why() {
        let why = check_script("c=git; $c push", PolicyLevel::Bounded).unwrap_err();
        assert!(why.contains("variable"), "{why}");
        let why = check_script("echo x | sh", PolicyLevel::Bounded).unwrap_err();
        assert!(why.contains("standard input"), "{why}");
        let why =
            check_script("python3 -c 'import os; os.system(1)'", PolicyLevel::Bounded).unwrap_err();
        assert!(why.contains("starts other processes"), "{why}");
        let why = check_script("nice -n 1 git push", PolicyLevel::Bounded).unwrap_err();
        assert!(why.contains("git push"), "{why}");
    }

    #[test]
    fn ordinary_wrapped_and_scripted_commands_still_pass() {
        for s in [
            "nice -n 10 cargo build",
            "timeout 60 cargo test",
            "env RUST_LOG=debug cargo run",
            "find . -name '*.rs' -exec grep -l foo {} +",
            "if [ -f x ]; then cat x; fi",
            "for f in a b; do echo $f; done",
            "python3 -c 'print(42)'",
            "sh scripts/build.sh",
            "git reflog",
            "git reflog show",
            "git -c color.ui=always log",
            "xargs -n 1 echo",
        ] {
            assert!(!refused(s), "{s}");
        }
    }

    #[test]
    fn network_only_to_loopback() {
        assert!(refused("curl https://example.com"));
        assert!(refused("wget http://10.0.0.1/x"));
        assert!(refused("ssh user@host.example"));
        assert!(!refused("curl -s http://127.0.0.1:8080/health"));
        assert!(!refused("curl http://localhost/x"));
        assert!(
            refused("curl"),
            "no target named: refused rather than guessed"
        );
    }

    #[test]
    fn destructive_commands_at_root_or_home_are_refused() {
        for s in [
            "rm -rf /",
            "rm -rf ~",
            "rm -rf $HOME",
            "rm -rf /*",
            "chmod -R 777 /",
            "mkfs.ext4 /dev/sda",
            "dd if=/dev/zero of=/dev/sda",
        ] {
            assert!(refused(s), "{s}");
        }
        assert!(!refused("rm -rf target"));
    }

    #[test]
    fn ordinary_commands_pass() {
        for s in [
            "cargo test",
            "git status",
            "git diff HEAD~1",
            "git log --oneline -5",
            "ls -la | grep x",
            "echo 'sudo is just text'",
            "python3 -c 'print(1)'",
            "git branch",
            "git -c color.ui=never log",
        ] {
            assert!(!refused(s), "{s}");
        }
    }

    #[test]
    fn raw_exec_only_checks_vcs_writes() {
        assert!(check_script("sudo true", PolicyLevel::VcsOnly).is_ok());
        assert!(check_script("git push", PolicyLevel::VcsOnly).is_err());
    }

    #[test]
    fn shell_detection() {
        assert!(needs_shell("a | b"));
        assert!(needs_shell("echo $HOME"));
        assert!(!needs_shell("cargo test --workspace"));
    }

    proptest! {
        #[test]
        fn the_policy_never_panics(s in ".{0,80}") {
            let _ = check_script(&s, PolicyLevel::Bounded);
            let _ = segments(&s);
        }

        #[test]
        fn a_refused_command_stays_refused_after_a_harmless_prefix(prefix in "[a-z]{1,8}( [a-z]{1,8}){0,2}") {
            let script = format!("{prefix} && git push");
            prop_assert!(refused(&script));
            let script = format!("{prefix}; sudo true");
            prop_assert!(refused(&script));
        }
    }
}
